"""Event handlers: Python functions called for each callback a session receives.

    >>> @session.on("gather")                                 # doctest: +SKIP
    ... def read_back(call, event):
    ...     call.speak(f"You typed {' '.join(event['digits'])}")

The receiver stores every callback before anything else happens; the store then hands each new event to
a :class:`Dispatcher`, which runs the handlers on its own worker threads — never on the receiver's event
loop, so a slow handler cannot hold up deliveries. The events of one call reach the handlers one at a
time and in the order they were stored; different calls are handled side by side. A handler that raises
is recorded (:attr:`Dispatcher.errors`, shown as ``session.handler_errors``) and logged; the next event
is still handled.
"""

from __future__ import annotations

import collections
import logging
import threading
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pandas as pd

__all__ = ["ANY_EVENT", "HANDLER_ERROR_COLUMNS", "Dispatcher"]

log = logging.getLogger(__name__)

#: Pass as the event type to be called for every event.
ANY_EVENT = "*"

#: The columns of :attr:`Dispatcher.errors`.
HANDLER_ERROR_COLUMNS = ("time", "eventType", "callId", "handler", "error", "traceback")

_STOP = object()

Handler = Callable[[Any, dict[str, Any]], Any]


def _name(handler: Handler) -> str:
    """``greet`` or ``Menu.on_gather``: the handler's name without the enclosing function's."""
    qualname = getattr(handler, "__qualname__", None)
    return qualname.rsplit("<locals>.", 1)[-1] if qualname else repr(handler)


class Dispatcher:
    """Runs handlers for stored events on worker threads, one event at a time per call.

    :param call_for: turns an event's ``callId`` and payload into the ``call`` argument handlers get.
    :param workers: how many calls can be handled at the same time (handlers usually wait on HTTP).
    """

    def __init__(self, call_for: Callable[[str, dict[str, Any]], Any], workers: int = 8) -> None:
        self._call_for = call_for
        self._workers = workers
        self._handlers: list[tuple[str, Handler]] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending: dict[str, collections.deque[dict[str, Any]]] = {}  # queued events by call id
        self._ready: collections.deque[Any] = collections.deque()  # call ids with events, in turn
        self._wake = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._errors: list[dict[str, Any]] = []
        self._closed = False

    # -- registration ----------------------------------------------------------------------------------

    def add(self, event_type: str, handler: Handler) -> None:
        """Call ``handler(call, event)`` for each event of ``event_type`` (``"*"``: every event).

        :raises TypeError: ``handler`` is not callable or ``event_type`` is not a string.
        """
        if not callable(handler):
            raise TypeError(f"a handler must be callable as handler(call, event), got {handler!r}")
        if not isinstance(event_type, str) or not event_type:
            raise TypeError(f"event_type must be an event name such as 'gather' or '*', got {event_type!r}")
        with self._lock:
            self._handlers.append((event_type, handler))
            self._start_workers()

    def remove(self, handler: Handler, event_type: str | None = None) -> None:
        """Stop calling ``handler`` (for ``event_type`` only, when given); no error if it was not added."""
        with self._lock:
            self._handlers = [
                (kind, fn) for kind, fn in self._handlers
                if not (fn == handler and event_type in (None, kind))
            ]

    @property
    def handlers(self) -> list[tuple[str, Handler]]:
        with self._lock:
            return list(self._handlers)

    # -- events ----------------------------------------------------------------------------------------

    def submit(self, event: dict[str, Any]) -> None:
        """Queue one stored event (the callback's payload). Quick and thread-safe: it never runs a handler."""
        with self._lock:
            if self._closed or not self._handlers:
                return
            key = str(event.get("callId") or "")
            queued = self._pending.get(key)
            if queued is None:
                self._pending[key] = collections.deque([event])
                self._ready.append(key)
                self._wake.notify()
            else:  # that call's worker takes it after the ones before it
                queued.append(event)

    def run_now(self, event: dict[str, Any], convert: Callable[[Any], Any] | None = None) -> list[Any]:
        """Run the handlers for ``event`` on the calling thread and return what each returned, through
        ``convert`` (a v2 webhook's BXML answer comes from them); an exception, also one ``convert``
        raises for a handler's answer, is recorded as for queued events and gives no answer."""
        with self._lock:
            handlers = [fn for kind, fn in self._handlers if kind in (ANY_EVENT, event.get("eventType"))]
        return self._handle(str(event.get("callId") or ""), event, handlers, convert)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event has been handled; False if that took longer than ``timeout``."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending and not self._busy, timeout)

    @property
    def errors(self) -> pd.DataFrame:
        """One row per handler exception: when, for which event and call, which handler, the error."""
        with self._lock:
            rows = list(self._errors)
        frame = pd.DataFrame(rows, columns=list(HANDLER_ERROR_COLUMNS))
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return frame

    @property
    def error_count(self) -> int:
        with self._lock:
            return len(self._errors)

    def close(self, timeout: float = 10.0) -> None:
        """Handle what is queued, then stop the workers (idempotent)."""
        self.wait_idle(timeout)
        with self._lock:
            self._closed = True
            self._pending.clear()
            self._ready.clear()
            self._ready.extend([_STOP] * len(self._threads))
            self._wake.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    # -- workers ---------------------------------------------------------------------------------------

    def _start_workers(self) -> None:
        while not self._closed and len(self._threads) < self._workers:
            thread = threading.Thread(
                target=self._work, name=f"catapult-handlers-{len(self._threads) + 1}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._wake.wait_for(lambda: bool(self._ready))
                key = self._ready.popleft()
                if key is _STOP:
                    return
                event = self._pending[key][0]  # stays queued, so new events of this call wait behind it
                handlers = [fn for kind, fn in self._handlers if kind in (ANY_EVENT, event.get("eventType"))]
                self._busy += 1
            self._handle(key, event, handlers)
            with self._lock:
                self._busy -= 1
                queued = self._pending.get(key)
                if queued is not None:
                    queued.popleft()
                    if queued:
                        self._ready.append(key)  # behind the other calls' turns
                        self._wake.notify()
                    else:
                        del self._pending[key]
                if not self._pending and not self._busy:
                    self._idle.notify_all()

    def _handle(self, call_id: str, event: dict[str, Any], handlers: list[Handler],
                convert: Callable[[Any], Any] | None = None) -> list[Any]:
        if not handlers:
            return []
        try:
            call = self._call_for(call_id, event)
        except Exception as exc:  # recorded like a handler's failure: the event is not lost from view
            self._record(event, "(session)", exc)
            return []
        answers = []
        for handler in handlers:
            try:
                answer = handler(call, event)
                answers.append(convert(answer) if convert is not None else answer)
            except Exception as exc:
                self._record(event, _name(handler), exc)
        return answers

    def _record(self, event: dict[str, Any], handler: str, exc: Exception) -> None:
        row = {
            "time": datetime.now(timezone.utc),
            "eventType": event.get("eventType"),
            "callId": event.get("callId"),
            "handler": handler,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        }
        with self._lock:
            self._errors.append(row)
        log.error(
            "handler %s raised %s for the %s event of call %s (the receiver goes on; see "
            "session.handler_errors)", handler, row["error"], row["eventType"], row["callId"],
        )
