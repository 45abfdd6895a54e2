"""Faults on purpose: make the callback receiver answer badly, to watch what a sender does about it.

::

    with session.receiver.faults(status=503, drop=0.2, count=10) as faults:
        ...                      # the next 10 callbacks: 1 in 5 dropped, the others answered 503
    faults.log                   # what was done to each of them

Each faulted request is handled in three steps:

1. it waits ``delay`` seconds (longer than the sender's ``callbackTimeout`` and the sender gives up:
   the simulator then tries ``fallbackUrl``);
2. with probability ``drop`` the connection is closed without an answer (nothing is stored);
3. otherwise it is answered ``status`` without storing the event.

With ``status=None`` a faulted request is stored at once and answered ``delay`` seconds later: an event
the sender timed out on but the store kept, so a fallback delivery of it is a duplicate that the store
keeps once.

Leaving the ``with`` block stops faulting new requests and waits for those still in progress, so what
the block did is over when it ends.

Requests to other paths than the receiver's secret one are not faulted (they are 404 anyway).
"""

from __future__ import annotations

import asyncio
import html
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from catapult_nb.receiver.receiver import CallbackReceiver

__all__ = ["Faults"]


class Faults:
    """What the receiver does wrong while the block runs; made by :meth:`CallbackReceiver.faults`.

    :param status: the HTTP status faulted requests are answered with (nothing stored); ``None`` stores
        them as usual and answers ``delay`` seconds late.
    :param delay: seconds to wait before answering (or dropping).
    :param drop: the probability (0…1) that a faulted request's connection is closed without an answer.
    :param count: how many requests to fault, then answer normally again; ``None`` faults all of them.
    :param seed: seeds the choice of which requests are dropped, for a repeatable run.

    ``log`` has one dict per faulted request: ``time``, ``method``, ``action`` (``drop``, ``answer 503``,
    ``late``), ``delay``, and for a late one the ``status`` it was answered (once stored).
    :raises ValueError: a status outside 100…599, a negative delay, a drop outside 0…1 or a negative count.
    """

    def __init__(
        self,
        receiver: CallbackReceiver,
        status: int | None = 503,
        delay: float = 0.0,
        drop: float = 0.0,
        count: int | None = None,
        seed: int | None = None,
    ) -> None:
        if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
            raise ValueError(f"status must be an HTTP status from 100 to 599, or None; got {status!r}")
        if not isinstance(delay, (int, float)) or not 0 <= delay < 3600:
            raise ValueError(f"delay must be a number of seconds from 0 to 3600, got {delay!r}")
        if not isinstance(drop, (int, float)) or not 0 <= drop <= 1:
            raise ValueError(f"drop must be a probability from 0 to 1, got {drop!r}")
        if count is not None and not (isinstance(count, int) and count >= 0):
            raise ValueError(f"count must be a whole number of requests (or None for all), got {count!r}")
        self.receiver = receiver
        self.status = status
        self.delay = float(delay)
        self.drop = float(drop)
        self.count = count
        self.log: list[dict[str, Any]] = []  # one entry per faulted request: time, method, action
        self._random = random.Random(seed)
        self._settled = threading.Condition()
        self._in_flight = 0  # faulted requests not answered yet
        self._active = False

    @property
    def remaining(self) -> int | None:
        """Requests still to be faulted (None: no limit)."""
        return None if self.count is None else max(0, self.count - len(self.log))

    def __enter__(self) -> Faults:
        self.receiver.use_faults(self)
        self._active = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop faulting new requests, and return once those in progress are answered (late ones stored)."""
        self._active = False
        self.receiver.use_faults(None)
        with self._settled:
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=self.delay + 10.0)

    async def apply(
        self, request: web.Request, handle: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """The answer to ``request``: faulted while faults remain, else ``handle(request)`` as usual."""
        with self._settled:
            if not self._active or self.remaining == 0:
                action = None
            else:
                action = "drop" if self.drop and self._random.random() < self.drop else (
                    f"answer {self.status}" if self.status is not None else "late"
                )
                entry = {"time": time.time(), "method": request.method, "action": action, "delay": self.delay}
                self.log.append(entry)
                self._in_flight += 1
        if action is None:
            return await handle(request)
        try:
            return await self._fault(request, action, handle, entry)
        finally:
            with self._settled:
                self._in_flight -= 1
                self._settled.notify_all()

    async def _fault(
        self, request: web.Request, action: str,
        handle: Callable[[web.Request], Awaitable[web.StreamResponse]], entry: dict[str, Any],
    ) -> web.StreamResponse:
        if action == "late":
            # Stored at once (the sender may close the connection while it waits, and the unread body
            # with it), answered late: the work is done, only the answer misses the sender's timeout.
            response = await handle(request)
            entry["status"] = response.status
            await asyncio.sleep(self.delay)
            return response
        if self.delay:
            await asyncio.sleep(self.delay)
        if action == "drop":
            if request.transport is not None:
                request.transport.abort()  # the sender sees its connection reset, with no answer
            return web.Response(status=500)  # never reaches the closed socket
        return web.json_response(
            {"error": "fault", "message": f"answered {self.status} on purpose (receiver.faults)"},
            status=self.status or 500,
        )

    def __repr__(self) -> str:
        count = "all" if self.count is None else str(self.count)
        return (
            f"Faults(status={self.status}, delay={self.delay:g}, drop={self.drop:g}, count={count}, "
            f"faulted={len(self.log)}, {'on' if self._active else 'off'})"
        )

    def _repr_html_(self) -> str:
        actions: dict[str, int] = {}
        for entry in self.log:
            actions[entry["action"]] = actions.get(entry["action"], 0) + 1
        done = ", ".join(f"{n}× {a}" for a, n in actions.items()) or "nothing yet"
        return f"<div><b>Receiver faults</b> {html.escape(repr(self))}: {html.escape(done)}</div>"
