"""The durable event store: every callback event in SQLite, one call away from a pandas DataFrame.

An :class:`EventStore` keeps the events the API (real or simulated) posts back, the deliveries that were
rejected, and the options each gather was created with. It lives in one SQLite file in WAL mode (by
default ``.catapult/events.sqlite3``, in a hidden folder beside the notebook), so it survives a kernel
restart and a reader (the notebook) never blocks the writer (the receiver's thread).

Layout, chosen so a million events become a DataFrame in about a second:

* every text value of a known field (``eventType``, ``callId``, ``digits`` …) is interned once in the
  ``strings`` table and referred to by a small integer id;
* each event has a fixed-width binary record (``rec``: id, times in ns, string ids) that NumPy reads in
  one go — no per-cell Python objects while the frame is built;
* the raw JSON payload sits in its own table and is read only when a row's ``payload`` is looked at
  (:class:`Payload` loads and parses it lazily);
* a big unfiltered read also keeps a columnar copy of the records and strings beside the file
  (``events.sqlite3-columns``, see :mod:`catapult_nb.store.columnar`), checked against SQLite on every
  read, so a fresh process reads a million records from one file instead of a million rows. SQLite
  stays the truth: a copy that does not match is rebuilt from it.

A retried delivery is stored once, and two real events are never merged: see :class:`EventStore` for
what identifies one delivery.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import os
import secrets
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from catapult_nb.options import OPTION_FIELDS, GatherOptions, OptionError, flat_wire
from catapult_nb.redact import redact
from catapult_nb.store.columnar import ColumnCache, empty_strings
from catapult_nb.store.frames import (
    EVENT_COLUMNS,
    EVENT_DTYPES,
    META_TEXT_FIELDS,
    NAT,
    TEXT_FIELDS,
    Payload,
    events_frame,
    ns_to_timestamp,
    record_rows,
    records_frame,
)

__all__ = [
    "DEFAULT_PATH",
    "EVENT_COLUMNS",
    "EVENT_DTYPES",
    "BulkWriter",
    "EventStore",
    "Payload",
    "StoreClosedError",
    "WaitCancelled",
    "events_frame",
]

log = logging.getLogger(__name__)

_SID_FIELDS = TEXT_FIELDS + META_TEXT_FIELDS

#: Where a store lives when no path is given: beside the notebook (the kernel's working directory).
#: The default store: a hidden folder beside the notebook, so the file browser shows no SQLite files.
DEFAULT_PATH = os.path.join(".catapult", "events.sqlite3")

REJECTED_COLUMNS: tuple[str, ...] = ("received", "reason", "detail", "method", "path", "body", "source")

#: The gathers table's option columns: flattened wire name -> pandas dtype, from the option table.
GATHER_OPTION_COLUMNS: dict[str, str] = {f.wire: f.dtype for f in OPTION_FIELDS}

#: SQLite's page cache while a bulk write is open, in KiB (the default is 2 MiB).
_BULK_CACHE_KIB = 128 * 1024

#: A rejected body is kept up to this many bytes: enough to see what went wrong, not a disk filler.
REJECTED_BODY_LIMIT = 2048

_RECORD = struct.Struct("<qqq" + "i" * len(_SID_FIELDS))
#: An unfiltered read of at least this many events uses the columnar copy beside the file
#: (:mod:`catapult_nb.store.columnar`); smaller reads scan SQLite alone.
COLUMNS_MIN_EVENTS = 20_000
#: The copy is written again once this share of the events came after it (they are read from SQLite).
COLUMNS_REWRITE_SHARE = 0.1
_RECORD_DTYPE = np.dtype(
    [("id", "<i8"), ("time", "<i8"), ("received", "<i8")] + [(name, "<i4") for name in _SID_FIELDS]
)
assert _RECORD.size == _RECORD_DTYPE.itemsize

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS strings (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,   -- hash of the canonical JSON: a retried delivery is stored once
    call_sid INTEGER NOT NULL,
    gather_sid INTEGER NOT NULL,
    rec BLOB NOT NULL              -- fixed-width record read straight into NumPy
);
CREATE INDEX IF NOT EXISTS events_call ON events (call_sid);
CREATE INDEX IF NOT EXISTS events_gather ON events (gather_sid);
CREATE TABLE IF NOT EXISTS payloads (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY, received_ns INTEGER NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    method TEXT NOT NULL, path TEXT NOT NULL, body TEXT NOT NULL, source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gathers (
    gather_id TEXT PRIMARY KEY, call_id TEXT, options TEXT NOT NULL, created_ns INTEGER,
    session TEXT, recorded_ns INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0');
INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
"""
# The highest id ever given out survives clear() as `id_floor`, so new events get new ids.
_ID_FLOOR = "(SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM meta WHERE key = 'id_floor')"
_NEXT_ID = f"SELECT max(coalesce(max(id), 0), {_ID_FLOOR}) + 1 FROM events"
_READ_META = "SELECT key, value FROM meta WHERE key IN ('generation', 'store_id')"
_KEEP_ID_FLOOR = (
    "INSERT OR REPLACE INTO meta (key, value) "
    f"SELECT 'id_floor', CAST(max(coalesce(max(id), 0), {_ID_FLOOR}) AS TEXT) FROM events"
)


class StoreClosedError(RuntimeError):
    """The store was closed; open a new ``EventStore`` on the same path to go on."""


class WaitCancelled(RuntimeError):
    """A :meth:`EventStore.wait_for` was ended early through its ``cancel`` event."""


# --------------------------------------------------------------------------------------------------
# Values at the edge: wire payloads to typed Python values.


# Built once: json.dumps with options builds a new encoder per call, which a bulk import feels.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_STORED = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The payload as JSON with sorted keys and no spaces: equal payloads give equal text."""
    return _CANONICAL(payload)


def payload_digest(payload: Mapping[str, Any]) -> bytes:
    """The dedupe key of a delivery: 16 bytes of BLAKE2b over its canonical JSON when the event carries
    its ``time``; random (never a duplicate) when it does not, as nothing then tells a retry from a
    second event. See :class:`EventStore`."""
    return _digest_of(payload, canonical_json(payload).encode("utf-8"))  # also checks it is JSON


def _digest_of(payload: Mapping[str, Any], canonical: bytes) -> bytes:
    if payload.get("time") in (None, ""):
        return secrets.token_bytes(16)
    return hashlib.blake2b(canonical, digest_size=16).digest()


# Values orjson writes exactly as the json encoders above do (checked against them in the tests): floats
# (whose spelling differs, e.g. 1e+16), containers (which may hold floats) and subclasses are left to json.
_ORJSON_SAFE = frozenset({str, int, bool, type(None)})
_SORTED = orjson.OPT_SORT_KEYS


def _encode(payload: dict[str, Any]) -> tuple[str, bytes]:
    """The stored text and the canonical UTF-8 bytes of a payload, each encoded once.

    :raises TypeError: or ValueError: it is not storable JSON.
    """
    if _ORJSON_SAFE.issuperset(map(type, payload.values())):
        try:
            return orjson.dumps(payload).decode("utf-8"), orjson.dumps(payload, option=_SORTED)
        except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate, a non-str key
            pass
    return _STORED(payload), _CANONICAL(payload).encode("utf-8")


def _text(value: Any) -> str | None:
    """A known field's value as text; non-strings (``"digits": 7``) are kept as their JSON spelling."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_time_ns(value: Any) -> int | None:
    """An ISO-8601 event time (``2014-07-31T01:01:27Z``) as UTC nanoseconds; None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # the API always sends UTC; a bare time is read as UTC too
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _to_ns(moment: Any) -> int:
    """A receive time given as datetime / Timestamp / epoch seconds as UTC nanoseconds."""
    if isinstance(moment, (int, float)) and not isinstance(moment, bool):
        return int(moment * 1_000_000_000)
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value)


# --------------------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """One event on its way into the store."""

    payload: dict[str, Any]
    source: str
    session: str | None
    received_ns: int
    text: str  # the payload as stored (key order kept)
    digest: bytes  # the dedupe key
    time_ns: int | None = None  # the payload's time when the caller parsed it already


_WRITE_GATHER = (
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


def _gather_row(
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


def _new_row(
    event_id: int, item: _Pending, texts: dict[str, str | None], time_ns: int | None
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
        self._gathers.append(_gather_row(gather_id, call_id, options, created_time, session))
        if len(self._gathers) >= 2000:
            self.flush()

    def flush(self) -> None:
        """Write the gathers recorded so far (the block's end does it too)."""
        self._conn.executemany(_WRITE_GATHER, self._gathers)
        self._gathers.clear()


class EventStore:
    """Callback events, rejected deliveries and gather options in one SQLite file.

    Thread-safe: the receiver writes from its own thread while the notebook reads. Every write is
    committed before the call returns.

    What identifies one delivery: v1 events have no id, and a sender that retries (no answer in time, a
    5xx, a fallback URL) repeats the event exactly. Every v1 event carries the API's ``time`` of what
    happened, to the millisecond, beside its call, type and details (``dtmfDigit``, ``gatherId`` …), so
    an event is identified by all of these: the whole payload *including its time*. A second delivery
    of the same payload is a retry and is stored once; a payload that differs in any field, the time
    included, is another event and is always stored. A payload without a ``time`` (not something the
    API sends) cannot be told from its retry, so each delivery of it is stored rather than risk merging
    two real events. Senders must therefore give each event its own time: the simulator does (two
    keys pressed with no gap are a millisecond apart).

    :param path: the SQLite file; default ``.catapult/events.sqlite3`` in the current directory (a hidden
        folder beside the notebook, made when needed). ``":memory:"`` keeps everything in memory
        (for tests; gone with the object).
    :param synchronous: SQLite's ``synchronous`` setting. ``"FULL"`` (default) flushes every commit to
        disk, so an answered callback survives a power cut; ``"NORMAL"`` survives a crash of the
        kernel only and writes faster.

    :raises sqlite3.DatabaseError: the file exists but is not a SQLite database.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, synchronous: str = "FULL") -> None:
        if path is None:
            os.makedirs(os.path.dirname(DEFAULT_PATH), exist_ok=True)
        self.path = os.fspath(path) if path is not None else DEFAULT_PATH
        self._memory = self.path == ":memory:"
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        self._write_lock = threading.RLock()
        self._wconn = self._connect()
        self._wconn.execute("PRAGMA journal_mode=WAL")
        self._wconn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._wconn.executescript(_SCHEMA)
        if self._memory:  # one in-memory database per connection: share the writer's
            self._rconn, self._read_lock = self._wconn, self._write_lock
        else:
            self._rconn, self._read_lock = self._connect(), threading.RLock()
        self._closed = False
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        # string id caches; reset when the generation changes (clear() from any process)
        self._write_generation = -1  # the writer's and the reader's caches are checked separately
        self._read_generation = -1
        self._sid_of: dict[str, int] = {}  # writer side: value -> id
        self._strings = empty_strings()  # reader side: id -> value, id 0 = absent
        self._columns = None if self._memory else ColumnCache(self.path + "-columns", _RECORD_DTYPE)
        self._changed = threading.Condition()  # notified after each commit of new events
        self._last_id = 0

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; idempotent. Frames already made keep working while the file exists."""
        with self._write_lock, self._read_lock:
            if self._closed:
                return
            self._closed = True
            if self._rconn is not self._wconn:
                self._rconn.close()
            self._wconn.close()
        with self._changed:
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wake_waiters(self) -> None:
        """Wake every :meth:`wait_for` in progress, so each checks its ``cancel`` event at once."""
        with self._changed:
            self._changed.notify_all()

    def _check_open(self) -> None:
        if self._closed and self._memory:
            raise StoreClosedError(
                "this in-memory EventStore is closed and its events are gone; use a file path"
            )
        if self._closed:
            raise StoreClosedError(
                f"this EventStore ({self.display_path}) is closed; open a new EventStore on the same path"
            )

    @property
    def display_path(self) -> str:
        """The file's name without its folders (or ``:memory:``), for reprs and messages."""
        return self.path if self._memory else os.path.basename(self.path)

    # -- listeners ---------------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn(row)`` after each new event is committed (``row`` as from :meth:`event_rows`).

        ``fn`` runs on the writer's thread (the receiver's), so it must be thread-safe and quick: hand
        work to your own thread or queue. An exception in ``fn`` is logged and never stops storage.
        """
        with self._write_lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Stop calling ``fn``; no error if it was not registered."""
        with self._write_lock, contextlib.suppress(ValueError):
            self._listeners.remove(fn)

    def _notify(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            for fn in list(self._listeners):
                try:
                    fn(row)
                except Exception:
                    log.exception("event listener %r failed (the event is stored)", fn)

    # -- writing -----------------------------------------------------------------------------------

    def add(
        self,
        payload: Mapping[str, Any],
        *,
        source: str = "receiver",
        session: str | None = None,
        received_at: Any = None,
    ) -> bool:
        """Store one event; returns False when an identical delivery was already stored.

        :param payload: the callback's JSON object, wire names as sent.
        :param source: where it came from (``"receiver"``, ``"campaign"`` …).
        :param session: a label for the session that received it.
        :param received_at: when it arrived (datetime, Timestamp or epoch seconds); default now.

        :raises TypeError: ``payload`` is not a mapping.
        :raises StoreClosedError: the store was closed.
        """
        return self.add_many([(payload, source, session, received_at)])[0]

    def add_many(self, items: Iterable[tuple[Mapping[str, Any], str, str | None, Any]]) -> list[bool]:
        """Store several ``(payload, source, session, received_at)`` events in one transaction.

        The receiver's writer uses this to commit concurrent deliveries together. Returns one bool per
        item (False for a duplicate, also of an earlier item in the same batch).
        """
        pending = [self._pending(*item) for item in items]
        if not pending:
            return []
        with self._write_lock:
            self._check_open()
            with_rows = bool(self._listeners)  # the row dicts are only built for listeners
            stored, rows, last_id = self._insert(pending, with_rows)
            if rows:
                self._notify(rows)
        if last_id:
            with self._changed:
                self._last_id = max(self._last_id, last_id)
                self._changed.notify_all()
        return stored

    @staticmethod
    def _pending(payload: Any, source: str, session: str | None, received_at: Any) -> _Pending:
        if not isinstance(payload, Mapping):
            raise TypeError(f"an event payload must be a JSON object (dict), got {type(payload).__name__}")
        received_ns = time.time_ns() if received_at is None else _to_ns(received_at)
        return EventStore._pending_ns(payload, source, session, received_ns)

    @staticmethod
    def _pending_ns(
        payload: Mapping[str, Any], source: str, session: str | None, received_ns: int,
        time_ns: int | None = None,
    ) -> _Pending:
        payload = dict(payload)
        try:  # before the transaction: a bad payload fails alone, with a message that says why
            text, canonical = _encode(payload)
            digest = _digest_of(payload, canonical)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"an event payload must be JSON: string keys, and values that are str, number (not NaN), "
                f"bool, None, list or dict ({exc})"
            ) from None
        session = None if session is None else str(session)
        return _Pending(payload, str(source), session, received_ns, text, digest, time_ns)

    def _insert(
        self, pending: list[_Pending], with_rows: bool
    ) -> tuple[list[bool], list[dict[str, Any]], int]:
        """Insert in one transaction; returns (stored flags, new rows if asked for, last new id or 0)."""
        conn = self._wconn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._sync_generation(conn)
            stored, rows, last_id = self._insert_rows(conn, pending, with_rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._sid_of.clear()  # ids handed out in the rolled-back transaction are gone
            raise
        return stored, rows, last_id

    def _insert_rows(
        self, conn: sqlite3.Connection, pending: list[_Pending], with_rows: bool
    ) -> tuple[list[bool], list[dict[str, Any]], int]:
        """Insert inside the open transaction: the one dedupe path of live deliveries and imports.

        Batched: one query finds the digests already stored, new strings are interned together, and the
        new events and payloads go in with one ``executemany`` each.
        """
        if not pending:
            return [], [], 0
        known = self._stored_digests(conn, [item.digest for item in pending])
        fresh: list[_Pending] = []
        stored: list[bool] = []
        for item in pending:
            new = item.digest not in known
            stored.append(new)
            if new:
                known.add(item.digest)  # a repeat later in the same batch is a duplicate too
                fresh.append(item)
        texts = [
            [v if v.__class__ is str else _text(v) for v in map(item.payload.get, TEXT_FIELDS)]
            + [item.source, item.session]
            for item in fresh
        ]
        # in order of appearance, so string ids (and category order) are the same as one event at a time
        sid_of = self._intern_all(conn, dict.fromkeys(v for row in texts for v in row if v is not None))
        sid_of[None] = 0  # type: ignore[index]
        next_id = conn.execute(_NEXT_ID).fetchone()[0]
        events, payloads, rows = [], [], []
        for event_id, item, row_texts in zip(range(next_id, next_id + len(fresh)), fresh, texts, strict=True):
            sids = [sid_of[value] for value in row_texts]  # type: ignore[index]
            time_ns = item.time_ns if item.time_ns is not None else parse_time_ns(item.payload.get("time"))
            rec = _RECORD.pack(event_id, NAT if time_ns is None else time_ns, item.received_ns, *sids)
            events.append((event_id, item.digest, sids[1], sids[2], rec))
            payloads.append((event_id, item.text))
            if with_rows:
                rows.append(_new_row(event_id, item, dict(zip(_SID_FIELDS, row_texts, strict=True)), time_ns))
        conn.executemany(
            "INSERT INTO events (id, digest, call_sid, gather_sid, rec) VALUES (?, ?, ?, ?, ?)", events
        )
        conn.executemany("INSERT INTO payloads (id, json) VALUES (?, ?)", payloads)
        return stored, rows, (events[-1][0] if events else 0)

    @staticmethod
    def _stored_digests(conn: sqlite3.Connection, digests: list[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(digests), 500):
            chunk = digests[start : start + 500]
            sql = f"SELECT digest FROM events WHERE digest IN ({','.join('?' * len(chunk))})"
            found.update(digest for (digest,) in conn.execute(sql, chunk))
        return found

    def _intern_all(self, conn: sqlite3.Connection, values: dict[str, None]) -> dict[str, int]:
        """String ids for ``values``, adding the new ones to the ``strings`` table."""
        if len(self._sid_of) > 200_000:  # bound the cache; the table is the truth
            self._sid_of.clear()
        cache = self._sid_of
        missing = [value for value in values if value not in cache]
        if missing:
            conn.executemany("INSERT OR IGNORE INTO strings (value) VALUES (?)", [(v,) for v in missing])
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                sql = f"SELECT id, value FROM strings WHERE value IN ({','.join('?' * len(chunk))})"
                cache.update((value, sid) for sid, value in conn.execute(sql, chunk))
        return {value: cache[value] for value in values}

    @contextlib.contextmanager
    def bulk(self) -> Iterator[BulkWriter]:
        """One transaction for many writes: everything written inside commits together, or nothing does.

        Importers use it so that a file is imported whole or not at all. Writes go through the same
        path as live deliveries (:meth:`add_many`), so duplicates are recognised the same way. The store
        is locked for writing until the block ends (the receiver's deliveries wait), and listeners are
        not called for these events.

        :returns: a :class:`BulkWriter` with ``add_many`` and ``record_gather``.
        :raises StoreClosedError: the store was closed.
        """
        with self._write_lock:
            self._check_open()
            conn = self._wconn
            cache = conn.execute("PRAGMA cache_size").fetchone()[0]
            # the digest index takes inserts all over the file: a bigger page cache keeps them in memory
            conn.execute(f"PRAGMA cache_size={min(cache, -_BULK_CACHE_KIB)}")
            conn.execute("BEGIN IMMEDIATE")
            writer = BulkWriter(self, conn)
            try:
                self._sync_generation(conn)
                yield writer
                writer.flush()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._sid_of.clear()
                raise
            finally:
                conn.execute(f"PRAGMA cache_size={cache}")
        if writer.last_id:
            with self._changed:
                self._last_id = max(self._last_id, writer.last_id)
                self._changed.notify_all()

    def _sync_generation(self, conn: sqlite3.Connection) -> None:
        """Drop the string caches when any process cleared the store since we last looked."""
        generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        if generation != self._write_generation:
            self._write_generation = generation
            self._sid_of.clear()

    def add_rejected(
        self,
        reason: str,
        *,
        detail: str = "",
        body: bytes | str = b"",
        method: str = "",
        path: str = "",
        source: str = "receiver",
    ) -> None:
        """Record a delivery that was refused.

        :param reason: a short code (``not-json``, ``too-large``, ``wrong-method`` …).
        :param detail: a sentence for people.
        :param body: what was sent; kept up to 2 KiB, decoded as UTF-8 with bad bytes replaced.
        :param method, path: the request line; the secret in ``/callbacks/<token>`` is masked.
        """
        raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
        text = raw[:REJECTED_BODY_LIMIT].decode("utf-8", "replace")
        if len(raw) > REJECTED_BODY_LIMIT:
            text += f"… [{len(raw) - REJECTED_BODY_LIMIT} more bytes]"
        with self._write_lock:
            self._check_open()
            self._wconn.execute(
                "INSERT INTO rejected (received_ns, reason, detail, method, path, body, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time_ns(),
                    reason,
                    redact(detail),
                    method,
                    redact(path),
                    text,
                    source,
                ),
            )

    def record_gather(
        self,
        gather_id: str,
        call_id: str | None,
        options: Mapping[str, Any] | GatherOptions | None,
        created_time: str | None = None,
        session: str | None = None,
    ) -> None:
        """Remember the options a gather was created with (wire dict), for joins with its events.

        Recording the same ``gather_id`` again replaces the earlier entry.
        """
        with self._write_lock:
            self._check_open()
            row = _gather_row(gather_id, call_id, options, created_time, session)
            self._wconn.execute(_WRITE_GATHER, row)

    def clear(self) -> None:
        """Delete every event, rejected delivery and gather record (the file stays).

        Event ids go on from where they were (they are never reused), so a ``since=`` mark taken
        earlier and frames made earlier stay correct: their payloads are gone, not replaced.
        """
        with self._write_lock:
            self._check_open()
            conn = self._wconn
            conn.execute("BEGIN IMMEDIATE")
            try:
                # ids are never handed out twice: a wait's `since` mark and a frame made before the clear
                # must not meet a new event under an old id
                conn.execute(_KEEP_ID_FLOOR)
                for table in ("events", "payloads", "strings", "rejected", "gathers"):
                    conn.execute(f"DELETE FROM {table}")
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._sync_generation(conn)
        if self._columns is not None:
            self._columns.remove()  # other processes see the new generation

    # -- reading -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._read_one("SELECT count(*) FROM events")

    @property
    def last_id(self) -> int:
        """The id of the newest stored event (0 when empty): pass it as ``since=`` to wait for newer ones."""
        return self._read_one("SELECT coalesce(max(id), 0) FROM events")

    def _read_one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._read_lock:
            self._check_open()
            return self._rconn.execute(sql, args).fetchone()[0]

    def _sid(self, value: str) -> int | None:
        with self._read_lock:
            self._check_open()
            row = self._rconn.execute("SELECT id FROM strings WHERE value = ?", (value,)).fetchone()
        return None if row is None else row[0]

    def _records(
        self, where: str = "", args: tuple[Any, ...] = (), *, since: int | None = None
    ) -> tuple[np.ndarray, pa.LargeStringArray]:
        """The matching events' records, oldest first, and the id -> string table covering them.

        :param where: SQL conditions on ``events`` (an index's column); without them every event is read,
            from the columnar copy when there are many.
        :param since: only events with a greater id.
        """
        save = None
        with self._read_lock:
            self._check_open()
            conn = self._rconn
            conn.execute("BEGIN")  # one snapshot for records, strings and the check of the copy
            try:
                meta = dict(conn.execute(_READ_META))
                generation = int(meta["generation"])
                if generation != self._read_generation:
                    self._read_generation, self._strings = generation, empty_strings()
                clauses, params = ([where], list(args)) if where else ([], [])
                if since is not None:
                    clauses.append("id > ?")
                    params.append(int(since))
                if where or self._columns is None:
                    records = self._scan(conn, " AND ".join(clauses), tuple(params))
                else:
                    store_id = bytes.fromhex(meta["store_id"])
                    records, save = self._all_records(conn, store_id, generation, since)
                if len(records):
                    top = max(int(records[name].max()) for name in _SID_FIELDS)
                    if top >= len(self._strings):
                        self._strings = _extend_strings(conn, self._strings)
                strings = self._strings
            finally:
                conn.execute("COMMIT")
            if save is not None and self._columns is not None:
                self._columns.save(*save, strings)
        return records, strings

    @staticmethod
    def _scan(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> np.ndarray:
        sql = f"SELECT rec FROM events {'WHERE ' + where if where else ''} ORDER BY id"
        return np.frombuffer(b"".join([rec for (rec,) in conn.execute(sql, args)]), dtype=_RECORD_DTYPE)

    def _all_records(
        self, conn: sqlite3.Connection, store_id: bytes, generation: int, since: int | None
    ) -> tuple[np.ndarray, tuple[bytes, int, np.ndarray] | None]:
        """Every record after ``since``: from the columnar copy plus SQLite's newer events when there are
        many, else from SQLite; and what to write as a new copy (store id, generation, records), if any."""
        assert self._columns is not None
        low = since or 0
        high = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        if high - low < COLUMNS_MIN_EVENTS:
            return self._scan(conn, "id > ?", (low,)), None
        count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        copy = self._columns.load(store_id, generation)
        records, save = None, None
        if copy is not None:
            tail = self._scan(conn, "id > ?", (copy.last_id,))
            if len(copy.records) + len(tail) == count:  # else events went missing behind the store's back
                records = np.concatenate([copy.records, tail]) if len(tail) else copy.records
                if len(tail) >= COLUMNS_REWRITE_SHARE * len(records):
                    save = (store_id, generation, records)
                if len(copy.strings) > len(self._strings):
                    self._strings = copy.strings  # the same table (strings only get new ids), read already
        if records is None:
            records = self._scan(conn, "", ())
            save = (store_id, generation, records) if len(records) >= COLUMNS_MIN_EVENTS else None
        if low:
            records = records[np.searchsorted(records["id"], low, side="right") :]
        return records, save

    def payload_texts(self, ids: np.ndarray) -> dict[int, str]:
        """The JSON texts of these events: one range scan when the ids are dense, else by id lists."""
        if len(ids) == 0:
            return {}
        low, high = int(ids.min()), int(ids.max())
        if high - low + 1 <= 2 * len(ids):
            queries = [("SELECT id, json FROM payloads WHERE id BETWEEN ? AND ?", (low, high))]
        else:
            chunks = [ids[i : i + 500].tolist() for i in range(0, len(ids), 500)]
            queries = [
                (f"SELECT id, json FROM payloads WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk))
                for chunk in chunks
            ]
        if self._closed and not self._memory:
            # a frame outlived its store: read the file directly
            with contextlib.closing(sqlite3.connect(self.path)) as conn:
                return {key: text for sql, args in queries for key, text in conn.execute(sql, args)}
        with self._read_lock:
            self._check_open()
            return {key: text for sql, args in queries for key, text in self._rconn.execute(sql, args)}

    def to_dataframe(
        self,
        call_id: str | None = None,
        gather_id: str | None = None,
        event_type: str | None = None,
        session: str | None = None,
        *,
        since: int | None = None,
    ) -> pd.DataFrame:
        """One row per stored event, oldest first, filtered by any of the arguments.

        The index is the store id (``id``). Columns: ``eventType``, ``time`` (UTC), ``callId``,
        ``gatherId``, ``reason``, ``state``, ``digits``, ``tag``, ``dtmfDigit``, ``status``, ``cause``,
        ``callState``, ``from``, ``to``, ``received`` (UTC), ``source``, ``session`` and ``payload``
        (the raw event as a read-only mapping, every field kept). ``eventType``/``reason``/``state``
        are categorical; the other text columns use pandas' ``string`` dtype, so ``"007"`` stays
        ``"007"`` and a missing value is ``<NA>``.

        :param call_id, gather_id, event_type, session: keep only events with this value.
        :param since: keep only events with a store id greater than this (see :attr:`last_id`).
        """
        records, strings = self._select(call_id, gather_id, event_type, session, since)
        return records_frame(records, strings, self)

    def _select(
        self,
        call_id: str | None = None,
        gather_id: str | None = None,
        event_type: str | None = None,
        session: str | None = None,
        since: int | None = None,
    ) -> tuple[np.ndarray, pa.LargeStringArray]:
        """The records of :meth:`to_dataframe` (same filters) and the id -> string table covering them."""
        clauses, args = [], []
        for column, value in (("call_sid", call_id), ("gather_sid", gather_id)):
            if value is not None:
                sid = self._sid(value)
                if sid is None:
                    return np.empty(0, dtype=_RECORD_DTYPE), empty_strings()
                clauses.append(f"{column} = ?")
                args.append(sid)
        records, strings = self._records(" AND ".join(clauses), tuple(args), since=since)
        for name, value in (("eventType", event_type), ("session", session)):
            if value is not None and len(records):
                records = records[_has_text(records[name], strings, value)]
        return records, strings

    def event_rows(self, **filters: Any) -> list[dict[str, Any]]:
        """The events of :meth:`to_dataframe` (same filters) as dicts: column name -> value, plus ``id``.

        Missing values are None, times are ``pandas.Timestamp`` (UTC), ``payload`` a mapping.
        """
        # straight from the records: a wait for one event must not pay for building a DataFrame
        records, strings = self._select(**filters)
        return record_rows(records, strings, self)

    @property
    def events(self) -> pd.DataFrame:
        """Every stored event (``to_dataframe()``)."""
        return self.to_dataframe()

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
    ) -> dict[str, Any] | None:
        """The first stored event that matches, waiting up to ``timeout`` seconds for it to arrive.

        An event stored before the call counts (nothing that raced ahead is missed); ``since`` (a store
        id, e.g. :attr:`last_id` taken earlier) ignores older ones. Returns None on timeout — the
        receiver turns that into a ``TimeoutError`` that says what to check. The wait is woken by the
        commits of this ``EventStore`` object (the receiver's writer uses it), not by other processes.

        :param cancel: an event that ends the wait early once it is set (then :meth:`wake_waiters`).
        :raises WaitCancelled: ``cancel`` was set before a matching event arrived.
        """
        deadline = time.monotonic() + timeout
        checked = since or 0
        filters = {"gather_id": gather_id, "call_id": call_id, "event_type": event_type}
        while True:
            with self._changed:
                seen_last = self._last_id
            for row in self.event_rows(**filters, since=checked):
                if predicate is None or predicate(row):
                    return row
                checked = max(checked, row["id"])
            checked = max(checked, seen_last)
            with self._changed:
                # wake on any commit after `seen_last`; one that landed during the query is caught here
                while self._last_id <= checked and not self._closed:
                    if cancel is not None and cancel.is_set():
                        raise WaitCancelled("the wait was cancelled")
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._changed.wait(remaining)
            if cancel is not None and cancel.is_set():
                raise WaitCancelled("the wait was cancelled")
            self._check_open()

    def rejected(self) -> pd.DataFrame:
        """Refused deliveries, oldest first: ``received`` (UTC), ``reason``, ``detail``, ``method``,
        ``path`` (secret masked), ``body`` (first 2 KiB), ``source``."""
        with self._read_lock:
            self._check_open()
            rows = self._rconn.execute(
                "SELECT id, received_ns, reason, detail, method, path, body, source FROM rejected ORDER BY id"
            ).fetchall()
        ids, received, *texts = zip(*rows, strict=True) if rows else ((),) * 8
        frame = pd.DataFrame(
            {"received": pd.to_datetime(np.asarray(received, dtype=np.int64), unit="ns", utc=True)}
            | {
                name: pd.array(list(column), dtype="category" if name == "reason" else "string")
                for name, column in zip(REJECTED_COLUMNS[1:], texts, strict=True)
            },
            index=pd.Index(np.asarray(ids, dtype=np.int64), name="id"),
        )
        return frame

    def gathers(self) -> pd.DataFrame:
        """The recorded gathers: ``gatherId``, ``callId``, ``createdTime`` (UTC), ``session``,
        ``options`` (the wire dict) and one typed column per option (``maxDigits``, ``prompt.sentence`` …)."""
        with self._read_lock:
            self._check_open()
            rows = self._rconn.execute(
                "SELECT gather_id, call_id, created_ns, session, options FROM gathers ORDER BY recorded_ns"
            ).fetchall()
        parsed: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # most gathers share a few option sets
        for row in rows:
            if row[4] not in parsed:
                item = json.loads(row[4])
                parsed[row[4]] = (item, _flat_options(item))
        options = [parsed[row[4]][0] for row in rows]
        flat = [parsed[row[4]][1] for row in rows]
        created = [NAT if row[2] is None else row[2] for row in rows]
        data: dict[str, Any] = {
            "gatherId": pd.array([row[0] for row in rows], dtype="string"),
            "callId": pd.array([row[1] for row in rows], dtype="string"),
            "createdTime": pd.to_datetime(np.asarray(created, dtype=np.int64), unit="ns", utc=True),
            "session": pd.array([row[3] for row in rows], dtype="string"),
            "options": pd.Series(options, dtype=object),
        }
        for name, dtype in GATHER_OPTION_COLUMNS.items():
            data[name] = pd.array([item.get(name) for item in flat], dtype=dtype)
        return pd.DataFrame(data)

    # -- export ------------------------------------------------------------------------------------

    def export_frame(self, **filters: Any) -> pd.DataFrame:
        """:meth:`to_dataframe` with ``payload`` as JSON text: ready for CSV and Parquet files."""
        frame = self.to_dataframe(**filters)
        texts = self.payload_texts(frame.index.to_numpy())
        frame["payload"] = pd.array([texts.get(int(i)) for i in frame.index], dtype="string")
        return frame

    def to_csv(self, path: str | os.PathLike[str], **filters: Any) -> None:
        """Write the events to a CSV file (payload as JSON text). Read it back with
        ``pd.read_csv(path, index_col="id", dtype=str)`` to keep digits like ``"007"``."""
        self.export_frame(**filters).to_csv(path)

    def to_parquet(
        self, path: str | os.PathLike[str], *, partition_by: str | None = None, **filters: Any
    ) -> None:
        """Write the events to Parquet with pyarrow (payload as JSON text); dtypes survive.

        :param path: a file, or with ``partition_by`` a folder.
        :param partition_by: ``"date"`` writes a Hive-partitioned folder (``date=2026-01-01/…``) that
            DuckDB (``read_parquet('path/**/*.parquet', hive_partitioning=true)``), Spark and pyarrow read
            directly; the ``date`` (UTC, of the event's ``time``) comes back as a column.
        """
        from catapult_nb.store.exporters import write_parquet

        write_parquet(self.export_frame(**filters), path, partition_by=partition_by)

    def to_jsonl(self, path: str | os.PathLike[str] | None = None, **filters: Any) -> Any:
        """Write the recorded gathers and the events as JSON lines that :meth:`import_events` reads back.

        One ``{"gather": {…}}`` line per recorded gather, then one ``{"payload": …, "received": …,
        "source": …, "session": …}`` line per event, oldest first.

        :param path: the file to write; None returns the lines as UTF-8 ``bytes``.
        :param filters: as for :meth:`to_dataframe` (they also select the gathers by call or gather id).
        :returns: ``path`` as a :class:`pathlib.Path`, or the bytes.
        """
        from catapult_nb.store.exporters import write_jsonl

        return write_jsonl(self, path, **filters)

    def to_har(self, path: str | os.PathLike[str] | None = None, **filters: Any) -> Any:
        """Write the events as a HAR 1.2 file: one POST of each payload to a callback URL, as received.

        :param path: the file to write; None returns the HAR document as UTF-8 ``bytes``.
        :param filters: as for :meth:`to_dataframe`.
        :returns: ``path`` as a :class:`pathlib.Path`, or the bytes.
        """
        from catapult_nb.store.exporters import write_har

        return write_har(self, path, **filters)

    # -- import ------------------------------------------------------------------------------------

    def import_events(self, source: Any, format: str | None = None, **options: Any) -> Any:
        """Import callback events from a file: JSON lines, the CSV :meth:`to_csv` writes, HAR 1.2, or
        ngrok's captured requests (a file, or a running agent's URL such as ``http://127.0.0.1:4040``).

        Deduplicated like live deliveries (importing a file twice adds nothing); all or nothing per call.
        See :func:`catapult_nb.store.importers.import_events` for the details and ``options``.

        :returns: an :class:`~catapult_nb.store.importers.ImportReport`.
        """
        from catapult_nb.store.importers import import_events

        return import_events(self, source, format=format, **options)

    # -- display -----------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts at a glance: events, events by type, rejected deliveries, gathers."""
        with self._read_lock:
            self._check_open()
            conn = self._rconn
            rejected = conn.execute("SELECT count(*) FROM rejected").fetchone()[0]
            gathers = conn.execute("SELECT count(*) FROM gathers").fetchone()[0]
        records, strings = self._records()
        codes, counts = np.unique(records["eventType"], return_counts=True)
        by_type = {
            strings[int(code)].as_py(): int(count) for code, count in zip(codes, counts, strict=True) if code
        }
        return {"events": len(records), "by_type": by_type, "rejected": rejected, "gathers": gathers}

    def __repr__(self) -> str:
        if self._closed:
            return f"EventStore({self.display_path!r}, closed)"
        info = self.summary()
        return (
            f"EventStore({self.display_path!r}, events={info['events']}, "
            f"rejected={info['rejected']}, gathers={info['gathers']})"
        )

    def _repr_html_(self) -> str:
        if self._closed:
            return f"<div><b>EventStore</b> <code>{html.escape(self.display_path)}</code> (closed)</div>"
        info = self.summary()
        types = ", ".join(f"{html.escape(k)}: {v}" for k, v in info["by_type"].items()) or "—"
        return (
            f"<div><b>EventStore</b> <code>{html.escape(self.display_path)}</code>"
            f"<table><tr><td>events</td><td>{info['events']}</td></tr>"
            f"<tr><td>by type</td><td>{types}</td></tr>"
            f"<tr><td>rejected deliveries</td><td>{info['rejected']}</td></tr>"
            f"<tr><td>gathers recorded</td><td>{info['gathers']}</td></tr></table></div>"
        )


def _has_text(codes: np.ndarray, strings: pa.LargeStringArray, value: str) -> np.ndarray:
    """Which of these string ids stand for ``value`` (a mask)."""
    if len(codes) * 8 < len(strings):  # a few rows (a wait's): look at their strings, not the whole table
        found = pc.equal(strings.take(codes.astype(np.intp)), value).fill_null(False)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
    return codes == pc.index(strings, value).as_py()  # -1 (no such string) matches nothing


def _extend_strings(conn: sqlite3.Connection, strings: pa.LargeStringArray) -> pa.LargeStringArray:
    """The string table with the strings stored after its last id added (in the open transaction)."""
    known = len(strings) - 1
    rows = conn.execute("SELECT id, value FROM strings WHERE id > ? ORDER BY id", (known,)).fetchall()
    if not rows:
        return strings
    ids, texts = zip(*rows, strict=True)
    if ids[-1] - known != len(ids):  # a gap (not made by this store, but possible): nulls fill it
        spread: list[str | None] = [None] * (ids[-1] - known)
        for sid, text in zip(ids, texts, strict=True):
            spread[sid - known - 1] = text
        texts = tuple(spread)
    return pa.concat_arrays([strings, pa.array(texts, type=pa.large_string())])


def _flat_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Wire options flattened (``prompt.sentence``) with numbers and booleans as Python values."""
    try:
        wire = GatherOptions.coerce(dict(options)).to_wire(as_strings=False)
    except (OptionError, TypeError):
        wire = dict(options)  # recorded as given; typed columns show what can be read
    flat = flat_wire(wire)
    return {
        key: value
        for key, value in flat.items()
        if key in GATHER_OPTION_COLUMNS and _fits(GATHER_OPTION_COLUMNS[key], value)
    }


def _fits(dtype: str, value: Any) -> bool:
    if value is None:
        return True
    if dtype == "boolean":
        return isinstance(value, bool)
    if dtype in ("Int64", "Float64"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)
