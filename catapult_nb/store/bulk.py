"""Writing many events in one transaction: the rows on their way in, the gathers table's rows, and the
:class:`BulkWriter` that :meth:`EventStore.bulk <catapult_nb.store.EventStore.bulk>` hands out.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from catapult_nb.options import GatherOptions
from catapult_nb.store.frames import EVENT_COLUMNS, ns_to_timestamp
from catapult_nb.store.keys import parse_time_ns

if TYPE_CHECKING:
    from catapult_nb.store.store import EventStore

__all__ = ["WRITE_GATHER", "BulkWriter", "Pending", "gather_row", "new_row"]


@dataclass
class Pending:
    """One event on its way into the store."""

    payload: dict[str, Any]
    source: str
    session: str | None
    received_ns: int
    text: str  # the payload as stored (key order kept)
    digest: bytes  # the dedupe key
    time_ns: int | None = None  # the payload's time when the caller parsed it already


WRITE_GATHER = (
    "INSERT OR REPLACE INTO gathers "
    "(gather_id, call_id, options, created_ns, session, recorded_ns) VALUES (?, ?, ?, ?, ?, ?)"
)
_OPTIONS_TEXT: dict[bytes, str] = {}  # a log repeats a few option sets: each is written as text once


def _options_text(options: dict[str, Any]) -> str:
    """``json.dumps(options)``, remembered by the options' orjson bytes (null also stands for NaN there,
    so options holding a null are not remembered)."""
    try:
        key = orjson.dumps(options)
    except orjson.JSONEncodeError:
        return json.dumps(options)
    text = _OPTIONS_TEXT.get(key)
    if text is None:
        text = json.dumps(options)
        if b"null" not in key:
            if len(_OPTIONS_TEXT) >= 256:
                _OPTIONS_TEXT.clear()
            _OPTIONS_TEXT[key] = text
    return text


def gather_row(
    gather_id: str,
    call_id: str | None,
    options: Mapping[str, Any] | GatherOptions | None,
    created_time: str | None,
    session: str | None,
) -> tuple[Any, ...]:
    if isinstance(options, GatherOptions):
        options = options.to_wire()
    created_ns = parse_time_ns(created_time) if created_time else None
    return gather_id, call_id, _options_text(dict(options or {})), created_ns, session, time.time_ns()


def new_row(
    event_id: int, item: Pending, texts: dict[str, str | None], time_ns: int | None
) -> dict[str, Any]:
    """The row dict a listener gets for a new event (as :meth:`EventStore.event_rows` gives it)."""
    row: dict[str, Any] = {"id": event_id}
    for name in EVENT_COLUMNS:
        row[name] = texts.get(name)
    row["time"] = ns_to_timestamp(time_ns)
    row["received"] = ns_to_timestamp(item.received_ns)
    row["payload"] = item.payload
    return row


class BulkWriter:
    """Writes inside one :meth:`EventStore.bulk` transaction (see there)."""

    def __init__(self, store: EventStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn
        self.last_id = 0  # the newest id written so far (0: none)
        self._gathers: list[tuple[Any, ...]] = []  # written together (in order) at the latest on close

    def add_many(self, items: Iterable[tuple[Any, ...]]) -> list[bool]:
        """As :meth:`EventStore.add_many`, inside the open transaction; ``received`` is UTC nanoseconds.

        An item may carry a fifth element: the payload's ``time`` in UTC nanoseconds, when the caller has
        parsed it already (it must be what :func:`parse_time_ns` gives for that time).

        :raises TypeError: a payload is not a JSON object (nothing of this call is written then).
        """
        pending = [self._store._pending_ns(*item) for item in items]
        stored, _, last_id = self._store._insert_rows(self._conn, pending, False)
        self.last_id = max(self.last_id, last_id)
        return stored

    def record_gather(
        self,
        gather_id: str,
        call_id: str | None,
        options: Mapping[str, Any] | GatherOptions | None,
        created_time: str | None = None,
        session: str | None = None,
    ) -> None:
        """As :meth:`EventStore.record_gather`, inside the open transaction."""
        self._gathers.append(gather_row(gather_id, call_id, options, created_time, session))
        if len(self._gathers) >= 2000:
            self.flush()

    def flush(self) -> None:
        """Write the gathers recorded so far (the block's end does it too)."""
        self._conn.executemany(WRITE_GATHER, self._gathers)
        self._gathers.clear()
