"""What the receiver was sent and what it answered, request by request, as an inspector lists them.

ngrok's inspector and webhook.site show each request a webhook received beside the answer it got; the
:class:`ExchangeLog` keeps the same for the receiver's callback path: the method, the path (its secret
token masked), the event as sent (a JSON body or a GET's query), the status and body of the answer, and
how long answering took. It keeps the latest :data:`KEEP` exchanges in memory; the events themselves are
in the store for good. Headers are not kept: ``Authorization`` carries the callback's password.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from catapult_nb.redact import redact_path

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KEEP", "Exchange", "ExchangeLog"]

#: How many exchanges the log keeps (the oldest go first).
KEEP = 500
#: How much of a body the log keeps, in characters.
BODY_PEEK = 4000


@dataclass(frozen=True)
class Exchange:
    """One request to the callback path and the receiver's answer."""

    number: int  # 1 for the receiver's first request, and so on
    time: float  # when the request came (Unix seconds)
    method: str
    path: str  # the secret token masked
    request: Any = field(repr=False)  # the event as sent: a dict (JSON or query), or the body's text
    status: int = 0
    answer: str = field(default="", repr=False)  # the answer's body, as text
    elapsed_ms: float = 0.0

    @property
    def event_type(self) -> str:
        return str(self.request.get("eventType", "")) if isinstance(self.request, dict) else ""

    @property
    def call_id(self) -> str:
        return str(self.request.get("callId", "")) if isinstance(self.request, dict) else ""


class ExchangeLog:
    """The receiver's latest exchanges, oldest first; thread-safe; listeners hear of each new one."""

    def __init__(self, keep: int = KEEP) -> None:
        self._items: collections.deque[Exchange] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._count = 0
        self._listeners: list[Callable[[Exchange], None]] = []

    def record(
        self, method: str, path: str, request: Any, status: int, answer: bytes, started: float
    ) -> None:
        """Keep one exchange (the receiver calls this once it has answered)."""
        if isinstance(request, (bytes, bytearray)):
            request = bytes(request[:BODY_PEEK]).decode("utf-8", "replace")
        with self._lock:
            self._count += 1
            item = Exchange(self._count, time.time(), method, redact_path(path), request, status,
                            answer[:BODY_PEEK].decode("utf-8", "replace"),
                            round((time.monotonic() - started) * 1000, 1))
            self._items.append(item)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(item)

    def items(self) -> list[Exchange]:
        """The exchanges kept, oldest first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def add_listener(self, fn: Callable[[Exchange], None]) -> None:
        """Call ``fn(exchange)`` after each new exchange, on the receiver's thread (be quick)."""
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[Exchange], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def to_dataframe(self) -> pd.DataFrame:
        """The exchanges as a DataFrame: number, time, method, path, eventType, callId, status, ms."""
        import pandas as pd

        rows = [{"number": e.number, "time": pd.Timestamp(e.time, unit="s", tz="UTC"), "method": e.method,
                 "path": e.path, "eventType": e.event_type, "callId": e.call_id, "status": e.status,
                 "ms": e.elapsed_ms} for e in self.items()]
        return pd.DataFrame(rows, columns=["number", "time", "method", "path", "eventType", "callId",
                                           "status", "ms"])

    def __repr__(self) -> str:
        return f"ExchangeLog({len(self)} exchanges)"
