"""Callback delivery: each call's events go out one at a time, in order, and every attempt is recorded.

An attempt fails on a connect error, on no answer within ``callbackTimeout`` (wall-clock milliseconds:
it is a network wait, so it is not scaled by ``speed``) or on a status outside 2xx (redirects are not
followed). A failed attempt is
retried ``retries`` more times against ``callbackUrl`` (one API second apart), then the event gets one try
at ``fallbackUrl`` when the call has one. A v1 callback's answer body is ignored; a v2 webhook's answer
(its BXML) is handed back to whoever queued it with a ``reply`` future (``None`` when every try failed),
in the same per-call order as every other event.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from catapult_nb.redact import redact_url, scrub, url_password
from catapult_nb.simulator.clock import SimClock

__all__ = ["USER_AGENT", "CallbackTarget", "Deliverer"]

USER_AGENT = "BandwidthAPI/v1 (catapult_nb simulator)"
#: Deliveries kept for ``GET /_sim/deliveries`` (about 0.6 KiB each); older ones are dropped first.
MAX_RECORDS = 10_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallbackTarget:
    """Where and how one call's events are sent (the passwords stay out of the repr)."""

    url: str | None  # callbackUrl; None means the application gets no events
    method: str = "POST"  # POST (JSON body) or GET (query parameters)
    timeout_ms: int = 10_000  # callbackTimeout
    fallback_url: str | None = None
    # v2 webhooks: Basic auth for each URL, the fallback's own method, and how much answer to keep
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    fallback_method: str | None = None  # None: the same method as url
    fallback_username: str | None = None
    fallback_password: str | None = field(default=None, repr=False)
    answer_limit: int = 0  # 0: read the whole answer and keep a peek (v1); else at most this many bytes
    user_agent: str = ""  # "" keeps the session's (v1) User-Agent


_Item = tuple[CallbackTarget, dict[str, Any], "asyncio.Future[bytes | None] | None"]
#: ``listener(record, event, answer, done)``: one attempt's record, the event sent, the first bytes
#: answered, and whether the simulator is done with the event (delivered, or no try left).
DeliveryListener = Callable[[dict[str, Any], dict[str, Any], bytes, bool], None]
#: How much of an answer's body a listener sees (enough for an error page's title).
ANSWER_PEEK = 600


class Deliverer:
    """Sends callback events with one worker per call, so each call's events keep their order."""

    def __init__(self, clock: SimClock, retries: int = 0) -> None:
        self.clock = clock
        self.retries = retries
        # (when the attempt started, record), ordered by that start: a slow attempt is recorded when it
        # ends, after quicker ones that began later, and is slotted back in at its start.
        self._records: collections.deque[tuple[float, dict[str, Any]]] = collections.deque(
            maxlen=MAX_RECORDS
        )
        # The events waiting for each call that has any (the first is being sent). A call has a worker
        # only while it has events to send, so an idle call costs nothing here.
        self._queues: dict[str, collections.deque[_Item]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending = 0
        self.listeners: list[DeliveryListener] = []  # told of every attempt once it has ended

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=256, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": USER_AGENT}, raise_for_status=False
        )

    async def close(self) -> None:
        for task in list(self._workers):
            task.cancel()
        for task in list(self._workers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()

    def send(
        self, call_id: str, target: CallbackTarget, event: dict[str, Any],
        reply: asyncio.Future[bytes | None] | None = None,
    ) -> None:
        """Queue ``event`` for ``call_id``; it goes out after the call's earlier events.

        :param reply: set to the body the callback server answered (at most ``target.answer_limit``
            bytes) once the event is delivered, or to ``None`` when every try failed.
        """
        self._pending += 1
        self._idle.clear()
        queue = self._queues.get(call_id)
        if queue is not None:  # the call's worker is running and takes it in turn
            queue.append((target, event, reply))
            return
        queue = self._queues[call_id] = collections.deque([(target, event, reply)])
        task = asyncio.get_running_loop().create_task(self._work(call_id, queue))
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def wait_idle(self) -> None:
        """Return once every queued event has been delivered or given up on."""
        await self._idle.wait()

    def deliveries(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """Every attempt (of ``call_id``, or of every call), oldest first by when it started."""
        return [r for _, r in self._records if call_id is None or r["callId"] == call_id]

    # -- internals ----------------------------------------------------------------------------------

    async def _work(self, call_id: str, queue: collections.deque[_Item]) -> None:
        """Send ``queue``'s events one after the other, until it is empty (then the worker ends)."""
        try:
            while queue:
                target, event, reply = queue[0]
                answer: bytes | None = None
                try:
                    answer = await self._deliver(target, event)
                except Exception:  # a bug here must not silently stop the call's later events
                    log.exception("callback delivery for call %s failed unexpectedly", call_id)
                finally:
                    if reply is not None and not reply.done():
                        reply.set_result(answer)
                    queue.popleft()
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()
        finally:
            if self._queues.get(call_id) is queue:
                del self._queues[call_id]

    async def _deliver(self, target: CallbackTarget, event: dict[str, Any]) -> bytes | None:
        """Every try the event gets; the answer of the one that succeeded, or None."""
        attempt = 0
        if not target.url:
            self._record(None, target.method, event, 1, None, "the call has no callbackUrl", 0.0)
            return None
        main = (target.url, target.method, target.username, target.password)
        for index in range(1 + self.retries):
            if index:
                await asyncio.sleep(self.clock.to_wall(1.0))  # back off one API second before a retry
            attempt += 1
            last = index == self.retries and not target.fallback_url
            answer = await self._attempt(main, target, event, attempt, last)
            if answer is not None:
                return answer
        if target.fallback_url:
            attempt += 1
            fallback = (
                target.fallback_url, target.fallback_method or target.method, target.fallback_username,
                target.fallback_password,
            )
            return await self._attempt(fallback, target, event, attempt, True)
        return None

    async def _attempt(
        self, where: tuple[str, str, str | None, str | None], target: CallbackTarget,
        event: dict[str, Any], attempt: int, last: bool,
    ) -> bytes | None:
        assert self._session is not None
        url, method, username, password = where
        seconds = target.timeout_ms / 1000
        if target.answer_limit:  # a v2 webhook: the whole exchange within callbackTimeout
            timeout = aiohttp.ClientTimeout(total=seconds)
        else:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
        at = self.clock.iso()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        answer = b""
        try:
            headers = {"User-Agent": target.user_agent} if target.user_agent else {}
            if username:
                pair = f"{username}:{password or ''}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
            # A redirect is a non-2xx answer, hence a failure: following it would turn the POST into
            # a GET without the event, or carry the event to a host the call never named.
            if method == "GET":
                params = {k: _query_value(v) for k, v in event.items() if v is not None}
                request = self._session.get(
                    url, params=params, timeout=timeout, allow_redirects=False, headers=headers,
                )
            else:
                headers["Content-Type"] = "application/json; charset=utf-8"
                request = self._session.post(
                    url, json=event, timeout=timeout, allow_redirects=False, headers=headers,
                )
            async with request as response:
                status = response.status
                if target.answer_limit:
                    answer = await _read_up_to(response, target.answer_limit)
                else:
                    answer = (await response.read())[:ANSWER_PEEK]
            if not 200 <= status < 300:
                error = f"the callback answered HTTP {status}"
        except TimeoutError:
            error = f"no answer within callbackTimeout ({target.timeout_ms} ms)"
        except aiohttp.ClientConnectionError as exc:
            error = f"could not connect: {exc.__class__.__name__}: {exc}"
        except (aiohttp.ClientError, ValueError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        elapsed = (time.perf_counter() - started) * 1000
        if error:
            error = scrub(error, [password])
        peek = answer[:ANSWER_PEEK]
        self._record(url, method, event, attempt, status, error, elapsed, at, started, peek, last)
        return answer if error is None else None

    def _record(
        self, url: str | None, method: str, event: dict[str, Any], attempt: int, status: int | None,
        error: str | None, elapsed_ms: float, at: str | None = None, started: float | None = None,
        answer: bytes = b"", last: bool = True,
    ) -> None:
        if error:
            error = scrub(error, [url_password(url)])
        if error:
            log.info("callback %s for call %s: %s", event.get("eventType"), event.get("callId"), error)
        record = {
            "time": at or self.clock.iso(),
            "url": redact_url(url),
            "method": method,
            "eventType": event.get("eventType"),
            "callId": event.get("callId"),
            "attempt": attempt,
            "status": status,
            "error": error,
            "elapsedMs": round(elapsed_ms, 1),
        }
        started = time.perf_counter() if started is None else started
        records = self._records
        if len(records) == records.maxlen:
            records.popleft()  # deque.insert refuses a full deque
        # Only attempts still in flight when this one started can be newer; they sit at the end.
        index = len(records)
        while index and records[index - 1][0] > started:
            index -= 1
        records.insert(index, (started, record))
        for listener in self.listeners:
            try:
                listener(record, event, answer, last or error is None)
            except Exception:  # an observer's bug must not stop the deliveries
                log.exception("a delivery listener failed")


async def _read_up_to(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the answer's body (a longer body is cut there; the caller can tell)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
