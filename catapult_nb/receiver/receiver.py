"""The callback receiver: an HTTP server inside the kernel that stores every event the API posts back.

It runs aiohttp on its own thread and event loop, so callbacks keep arriving while a notebook cell
runs. It listens on ``/callbacks/<token>`` (an unguessable token) on 127.0.0.1, optionally behind HTTP
Basic auth, and answers 200 only once the event is committed to the :class:`~catapult_nb.store.EventStore`.

::

    with CallbackReceiver(EventStore("events.sqlite3")) as receiver:
        ...  # give the API receiver.url (or a tunnel's URL) as the call's callbackUrl
        event = receiver.wait_for(gather_id="gtr-…", event_type="gather", timeout=10)

This module is the receiver's HTTP handling. Writes go through one writer thread
(:mod:`catapult_nb.receiver.writer`) that commits whatever deliveries are waiting in one transaction (group
commit): concurrent senders never block the event loop and share the cost of each commit. What a request
must be to be stored is checked in :mod:`catapult_nb.receiver.checks`.

Limits for a public URL (behind a tunnel the receiver meets the whole internet):

- a body over :data:`MAX_BODY` bytes, or JSON nested deeper than :data:`MAX_DEPTH` levels, or anything
  that could never be stored (bytes that are not UTF-8, a lone surrogate, a number too large for a
  float) is a 4xx recorded in ``rejected()``, never a 5xx the sender would retry for ever;
- a connection that sits idle, or takes longer to send a request's headers, is closed after
  :data:`IDLE_TIMEOUT` seconds, and a body that takes longer than :data:`BODY_TIMEOUT` seconds is a 408
  (the v1 API gives up on a callback after at most 10 s, so no real delivery is that slow);
- a request to any other path than the secret one is answered 404 and only counted in memory (the last
  :data:`KEEP_UNKNOWN` are kept, see :meth:`CallbackReceiver.unknown_requests`): junk traffic never
  writes to disk nor waits for the writer thread. Requests with the right token but bad content are
  recorded durably.

Re-running a cell: starting a receiver on a fixed port that an earlier receiver *of this process* still
holds **stops the earlier one first** (its events are already stored) and takes the port over, so a
re-run cell never fails with "address already in use". A port held by another program is an error.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import hmac
import html
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from aiohttp import web

from catapult_nb.background import BackgroundServer
from catapult_nb.receiver.checks import (
    BODY_TIMEOUT,
    MAX_BODY,
    MAX_DEPTH,
    Rejected,
    check_basic_auth,
    check_event,
    read_payload,
)
from catapult_nb.receiver.exchanges import ExchangeLog
from catapult_nb.receiver.faults import Faults
from catapult_nb.receiver.writer import StoreWriter
from catapult_nb.redact import MASK, Secret, redact
from catapult_nb.serving import IDLE_TIMEOUT, close_when_asked
from catapult_nb.store.store import EventStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BODY_TIMEOUT", "IDLE_TIMEOUT", "KEEP_UNKNOWN", "MAX_BODY", "MAX_DEPTH", "CallbackReceiver"]

log = logging.getLogger(__name__)

#: How many requests to unknown paths are kept in memory (all of them are counted).
KEEP_UNKNOWN = 200

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,}$")
_STORED = b'{"stored": true, "duplicate": false}'
_DUPLICATE = b'{"stored": false, "duplicate": true}'

# Receivers of this process by port, so a re-run cell can take over its own port.
_RUNNING: dict[int, CallbackReceiver] = {}
_RUNNING_LOCK = threading.Lock()

#: ``answerer(payload, query)``: the BXML to answer a stored webhook with, or None for the usual JSON.
Answerer = Callable[[dict[str, Any], dict[str, str]], "bytes | None"]

#: Where a request keeps what it carried (the event, or a refused body) for the exchange log.
# (a typed key where aiohttp has them, which it asks for; a string before aiohttp 3.12)
_SENT: Any = web.RequestKey("catapult_nb.sent", object) if hasattr(web, "RequestKey") else "catapult_nb.sent"


class _UnknownPaths:
    """Requests to paths other than the secret one: counted, and the last few kept, in memory only."""

    def __init__(self, keep: int) -> None:
        self.count = 0
        self.recent: collections.deque[tuple[float, str, str]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, method: str, path: str) -> None:
        with self._lock:
            self.count += 1
            self.recent.append((time.time(), method[:16], redact(path[:200])))

    def snapshot(self) -> list[tuple[float, str, str]]:
        with self._lock:
            return list(self.recent)


class CallbackReceiver(BackgroundServer):
    """An HTTP server on a background thread that stores each callback event in an :class:`EventStore`.

    :param store: where events go; default a new ``EventStore()`` (``.catapult/events.sqlite3`` beside the
        notebook).
    :param host: the address to listen on; 127.0.0.1 keeps it private to this machine (a tunnel reaches it).
    :param port: the port; 0 picks a free one. A port held by an earlier receiver of this process is taken
        over (that receiver is stopped).
    :param token: the secret path segment (``/callbacks/<token>``); default a fresh ``secrets.token_urlsafe``.
        Pass the same token to a new receiver to keep a callback URL valid across restarts.
    :param basic_auth: ``(user, password)`` that callbacks must send as HTTP Basic auth, or None.
    :param session: a label stored with every event.
    :param idle_timeout: seconds a connection may sit idle or take to send a request's headers before it
        is closed (default :data:`IDLE_TIMEOUT`).
    :param body_timeout: seconds a request's body may take to arrive (default :data:`BODY_TIMEOUT`);
        a slower one is answered 408 and recorded.
    :param keep_unknown: how many requests to unknown paths :meth:`unknown_requests` keeps (default
        :data:`KEEP_UNKNOWN`); they are never written to the store.

    :raises ValueError: a token shorter than 16 characters or with characters other than ``A-Z a-z 0-9 _ -``;
        a ``basic_auth`` that is not two non-empty strings; a port outside 0…65535.
    """

    def __init__(
        self,
        store: EventStore | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        session: str | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        keep_unknown: int = KEEP_UNKNOWN,
    ) -> None:
        if token is not None and not (isinstance(token, str) and _TOKEN.match(token)):
            raise ValueError(
                "token must be at least 16 characters of A-Z a-z 0-9 _ - (leave it out to get a random one)"
            )
        if basic_auth is not None and not (
            isinstance(basic_auth, tuple)
            and len(basic_auth) == 2
            and all(isinstance(part, str) and part for part in basic_auth)
            and ":" not in basic_auth[0]
        ):
            raise ValueError(
                "basic_auth must be a (user, password) pair of non-empty strings, user without ':'"
            )
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(
                f"port must be a whole number from 0 to 65535 (0 picks a free one), got {port!r}"
            )
        for name, value in (("idle_timeout", idle_timeout), ("body_timeout", body_timeout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 3600:
                raise ValueError(f"{name} must be a number of seconds from 0 to 3600, got {value!r}")
        self.store = store if store is not None else EventStore()
        self.idle_timeout = float(idle_timeout)
        self.body_timeout = float(body_timeout)
        self._unknown = _UnknownPaths(keep_unknown)
        self._faults: Faults | None = None  # set while a ``with receiver.faults(...)`` block runs
        self._token = Secret(token or secrets.token_urlsafe(24))
        # (user, password), the password kept wrapped
        self._basic_auth = (basic_auth[0], Secret(basic_auth[1])) if basic_auth is not None else None
        self.session = session
        self._lock = threading.RLock()
        self._writer: StoreWriter | None = None
        self._files: dict[str, Path] = {}  # audio files served under <path>/audio/<name>
        #: Each request to the callback path and the answer it got, latest last (the inspector's list).
        self.exchanges = ExchangeLog()
        self._answerer: Answerer | None = None  # set by answer_with(): v2 webhooks answered with BXML
        super().__init__(host, port, "catapult-receiver")

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """``/callbacks/<token>``: the secret path (give it to a tunnel; do not print it)."""
        return f"/callbacks/{self._token.reveal()}"

    @property
    def url(self) -> str:
        """The full local callback URL, ``http://127.0.0.1:PORT/callbacks/<token>`` (secret: do not print)."""
        return f"http://{self._url_host()}:{self.port}{self.path}"

    @property
    def masked_url(self) -> str:
        """:attr:`url` with the token masked, safe to show."""
        return f"http://{self._url_host()}:{self.port}/callbacks/{MASK}"

    def _url_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "localhost") else self.host

    # -- life --------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> CallbackReceiver:
        """Start listening; returns self. A no-op when already running.

        :raises OSError: the port is held by another program (not a receiver of this process).
        :raises RuntimeError: the server did not come up within ``timeout`` seconds.
        """
        with self._lock:
            if self.running:
                return self
            if self.requested_port:
                self._take_over_port(self.requested_port)
            self._writer = StoreWriter(self.store, self.session)
            try:
                self.start_serving(timeout)
            except BaseException as error:
                self._writer.stop()
                self._writer = None
                raise self._explain(error) from None
            with _RUNNING_LOCK:
                _RUNNING[self.port] = self
            log.info("callback receiver listening on %s", self.masked_url)
            return self

    def _take_over_port(self, port: int) -> None:
        with _RUNNING_LOCK:
            earlier = _RUNNING.get(port)
        if earlier is not None and earlier is not self:
            log.info("stopping the earlier receiver on port %d (cell re-run)", port)
            earlier.stop()

    def _explain(self, error: BaseException) -> BaseException:
        if isinstance(error, OSError) and self.requested_port:
            return OSError(
                error.errno,
                f"port {self.requested_port} is already in use by another program (not a receiver of this "
                "kernel); choose another port, or port=0 for a free one",
            )
        return error

    async def _make_runner(self) -> web.AppRunner:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(close_when_asked)
        # a short shutdown grace: in-flight deliveries finish, a sender whose request is cut retries
        # keepalive_timeout also closes a connection that has not sent a whole request line and headers
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1.0,
            keepalive_timeout=self.idle_timeout,
        )
        return runner

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening (in-flight deliveries are finished first); idempotent. The store stays open."""
        with self._lock:
            if not self.running:
                return
            port = self.port
            self.stop_serving(timeout)
            if self._writer is not None:
                self._writer.stop()
            with _RUNNING_LOCK:
                if _RUNNING.get(port) is self:
                    del _RUNNING[port]
            self._writer = None

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP --------------------------------------------------------------------------------------

    def serve_file(self, path: str | os.PathLike[str]) -> str:
        """Serve a local file (read on each request) under the secret path; returns its path on this
        receiver, ``/callbacks/<token>/audio/<name>`` (secret: do not print it).

        :raises FileNotFoundError: when ``path`` is not a readable file.
        """
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise FileNotFoundError(f"no file at {path!s}: give the path of a WAV or MP3 file")
        name = f"{secrets.token_urlsafe(6)}-{quote(file.name, safe='')}"
        with self._lock:
            self._files[name] = file
        return f"{self.path}/audio/{name}"

    async def _serve_file(self, request: web.Request) -> web.StreamResponse | None:
        """A file given to :meth:`serve_file`, or None when the request is not for one."""
        prefix = f"{self.path}/audio/"
        if request.method not in ("GET", "HEAD") or not request.path.startswith(prefix):
            return None
        file = self._files.get(quote(unquote(request.path[len(prefix):]), safe=""))
        if file is None or not file.is_file():
            return web.Response(status=404, text="Not Found")
        try:
            check_basic_auth(request, self._basic_auth)
        except Rejected as rejected:
            return web.Response(status=rejected.status, text=rejected.detail, headers=rejected.headers)
        return web.FileResponse(file)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        served = await self._serve_file(request) if self._files else None
        if served is not None:
            return served
        if not self._on_path(request):
            self._unknown.add(request.method, request.path)
            return web.Response(status=404, text="Not Found")  # no detail: the path is the secret
        started = time.monotonic()
        faults = self._faults
        if faults is not None:
            response = await faults.apply(request, self._accept)
        else:
            response = await self._accept(request)
        answer = getattr(response, "body", None)
        self.exchanges.record(request.method, request.path, request.get(_SENT), response.status,
                              answer if isinstance(answer, bytes) else b"", started)
        return response

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        try:
            check_basic_auth(request, self._basic_auth)
            payload = await read_payload(request, self.body_timeout)
            check_event(payload)
        except Rejected as rejected:
            request[_SENT] = rejected.body
            return await self._reject(request, rejected)
        request[_SENT] = payload
        assert self._writer is not None
        try:
            stored = await self._writer.store_event(payload, time.time())
        except Exception:
            # the store failed (disk full, closed): 503 so the sender tries again
            return web.json_response({"error": "the event could not be stored; try again"}, status=503)
        answerer = self._answerer
        if answerer is not None:  # after the store: what the answer's code waits for is already there
            try:
                # on a worker thread: the answer may run the app's handlers, which may wait on HTTP
                answer = await asyncio.get_running_loop().run_in_executor(
                    None, answerer, payload, dict(request.query)
                )
            except Exception:  # the answerer records handler errors itself; this is a bug in it
                log.exception("could not work out the answer to a stored webhook")
                answer = None
            if answer is not None:
                return web.Response(body=answer, content_type="application/xml", charset="utf-8")
        return web.Response(body=_STORED if stored else _DUPLICATE, content_type="application/json")

    def answer_with(self, answerer: Answerer | None) -> None:
        """Answer each stored callback with what ``answerer(payload, query)`` returns (the BXML a v2
        webhook is answered with), or the usual JSON when it returns None; None removes it.

        The answerer runs on a worker thread once the event is stored (so a wait for it has already
        ended); ``query`` is the request's query string (the receiver's URL may carry one).
        """
        self._answerer = answerer

    def faults(
        self,
        status: int | None = 503,
        delay: float = 0.0,
        drop: float = 0.0,
        count: int | None = None,
        *,
        seed: int | None = None,
    ) -> Faults:
        """Answer badly on purpose while a ``with`` block runs, to watch retries, ``fallbackUrl`` and the
        store's dedupe: ``with receiver.faults(status=503, delay=2.0, drop=0.2, count=None): …``.

        :param status: the status faulted callbacks get, without being stored (None: stored, but late).
        :param delay: seconds to wait before answering.
        :param drop: the probability that a callback's connection is closed with no answer at all.
        :param count: how many callbacks to fault (None: every one until the block ends).
        :returns: a :class:`~catapult_nb.receiver.faults.Faults`, whose ``log`` lists what was done.
        :raises ValueError: a value out of range; the message says which.
        """
        return Faults(self, status=status, delay=delay, drop=drop, count=count, seed=seed)

    def use_faults(self, faults: Faults | None) -> None:
        """Fault the requests that arrive from now on as ``faults`` says (None: answer them normally).
        A ``with receiver.faults(...)`` block calls it on entry and exit; use that."""
        self._faults = faults

    def _on_path(self, request: web.Request) -> bool:
        return hmac.compare_digest(request.path.rstrip("/").encode("utf-8", "replace"), self.path.encode())

    async def _reject(self, request: web.Request, rejected: Rejected) -> web.StreamResponse:
        record = {
            "reason": rejected.reason,
            "detail": rejected.detail,
            "body": rejected.body,
            "method": request.method,
            "path": request.path,  # masked by the store
        }
        if self._writer is not None:
            with contextlib.suppress(Exception):  # logged by the writer; the answer stays the 4xx
                await self._writer.store_rejected(record)
        response = web.json_response(
            {"error": rejected.reason, "message": rejected.detail},
            status=rejected.status,
            headers=rejected.headers,
        )
        if rejected.reason in ("unreadable-body", "body-timeout"):
            # The rest of the body cannot be read either: answer, then drop the connection, or aiohttp
            # would try to drain it after the answer and log the same decoding failure as a server error.
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()
        return response

    # -- events ------------------------------------------------------------------------------------

    def wait_for(
        self,
        *,
        gather_id: str | None = None,
        call_id: str | None = None,
        event_type: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
        since: int | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """The first stored event that matches, waiting up to ``timeout`` seconds for it.

        An event that arrived before the call counts (a wait never misses one that raced ahead);
        ``since`` — a store id such as ``receiver.store.last_id`` taken earlier — ignores older ones.
        Returns the event as a dict of the :meth:`EventStore.to_dataframe` columns (wire names, plus
        ``id`` and ``payload``). Woken by each commit: no polling.

        ``cancel``: an event that ends the wait early when set (see :meth:`EventStore.wait_for`).

        :raises TimeoutError: nothing matched in time; the message says what to check.
        :raises WaitCancelled: ``cancel`` was set first.
        """
        try:
            return self.store.wait_for(
                gather_id=gather_id,
                call_id=call_id,
                event_type=event_type,
                predicate=predicate,
                timeout=timeout,
                since=since,
                cancel=cancel,
            )
        except TimeoutError:
            kind = f"{event_type} event" if event_type else "matching event"
            subject = gather_id or call_id
            about = f" for {subject}" if subject else ""
            raise TimeoutError(
                f"no {kind}{about} arrived within {timeout:g} s — is the tunnel open? is the call's "
                f"callbackUrl {self.masked_url}? see session.deliveries() / receiver.rejected()"
            ) from None

    @property
    def events(self) -> pd.DataFrame:
        """Every stored event as a DataFrame (``store.to_dataframe()``)."""
        return self.store.to_dataframe()

    def to_dataframe(self, **filters: Any) -> pd.DataFrame:
        """``store.to_dataframe(**filters)``: by ``call_id``, ``gather_id``, ``event_type``, ``session``."""
        return self.store.to_dataframe(**filters)

    def rejected(self) -> pd.DataFrame:
        """The refused deliveries that had the right path, as a DataFrame (``store.rejected()``).

        Requests to other paths are not there: see :meth:`unknown_requests`.
        """
        return self.store.rejected()

    @property
    def unknown_count(self) -> int:
        """How many requests came to a path other than the secret one since the receiver was made."""
        return self._unknown.count

    def unknown_requests(self) -> pd.DataFrame:
        """The last requests to unknown paths (in memory, never stored), oldest first: ``received``
        (UTC), ``method``, ``path`` (the secret masked). :attr:`unknown_count` counts them all."""
        import pandas as pd

        recent = self._unknown.snapshot()
        return pd.DataFrame(
            {
                "received": pd.to_datetime([at for at, _, _ in recent], unit="s", utc=True),
                "method": pd.array([method for _, method, _ in recent], dtype="string"),
                "path": pd.array([path for _, _, path in recent], dtype="string"),
            }
        )

    # -- display -----------------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        auth = f", basic_auth={MASK}" if self._basic_auth else ""
        return (
            f"CallbackReceiver({state}, url={self.masked_url!r}{auth}, store={self.store.display_path!r})"
        )

    def _repr_html_(self) -> str:
        state = "running" if self.running else "stopped"
        rows = [
            ("state", state),
            ("callback URL", self.masked_url + " (token hidden)"),
            ("basic auth", "on (credentials hidden)" if self._basic_auth else "off"),
            ("store", self.store.display_path),
            ("session", self.session or "—"),
        ]
        if not self.store.closed:
            rows.append(("events stored", str(len(self.store))))
        rows.append(("unknown-path requests", str(self.unknown_count)))
        body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
        return f"<div><b>CallbackReceiver</b><table>{body}</table></div>"


@atexit.register
def _stop_all() -> None:
    """Stop every receiver at interpreter exit, so the writer finishes what it holds."""
    with _RUNNING_LOCK:
        running = list(_RUNNING.values())
    for receiver in running:
        try:
            receiver.stop(timeout=2.0)
        except Exception:
            log.exception("could not stop a callback receiver at exit")
