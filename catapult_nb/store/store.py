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
import html
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from catapult_nb.options import GatherOptions
from catapult_nb.redact import redact
from catapult_nb.store.bulk import WRITE_GATHER, BulkWriter, Pending, gather_row, new_row
from catapult_nb.store.bxml import gather_key, gathers_in
from catapult_nb.store.columnar import ColumnCache, empty_strings
from catapult_nb.store.frames import (
    EVENT_COLUMNS,
    EVENT_DTYPES,
    NAT,
    TEXT_FIELDS,
    Payload,
    events_frame,
)
from catapult_nb.store.keys import (
    canonical_json,
    dialect_of,
    digest_of,
    encode_payload,
    event_time,
    field_text,
    parse_time_ns,
    payload_digest,
    to_ns,
)
from catapult_nb.store.reading import (
    RECORD,
    RECORD_DTYPE,
    SID_FIELDS,
    StoreBusyError,
    StoreClosedError,
    StoreReader,
    WaitCancelled,
)
from catapult_nb.store.schema import upgrade

if TYPE_CHECKING:
    from catapult_nb.store.importers import ImportReport

__all__ = [
    "DEFAULT_PATH",
    "EVENT_COLUMNS",
    "EVENT_DTYPES",
    "BulkWriter",
    "EventStore",
    "Payload",
    "StoreBusyError",
    "StoreClosedError",
    "WaitCancelled",
    "canonical_json",
    "events_frame",
    "parse_time_ns",
    "payload_digest",
]

log = logging.getLogger(__name__)

#: Where a store lives when no path is given: beside the notebook (the kernel's working directory).
#: The default store: a hidden folder beside the notebook, so the file browser shows no SQLite files.
DEFAULT_PATH = os.path.join(".catapult", "events.sqlite3")

#: SQLite's page cache while a bulk write is open, in KiB (the default is 2 MiB).
_BULK_CACHE_KIB = 128 * 1024

#: A rejected body is kept up to this many bytes: enough to see what went wrong, not a disk filler.
REJECTED_BODY_LIMIT = 2048

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
_KEEP_ID_FLOOR = (
    "INSERT OR REPLACE INTO meta (key, value) "
    f"SELECT 'id_floor', CAST(max(coalesce(max(id), 0), {_ID_FLOOR}) AS TEXT) FROM events"
)


def _iso(moment: Any) -> str:
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class EventStore(StoreReader):
    """Callback events, rejected deliveries and gather options in one SQLite file.

    Thread-safe: the receiver writes from its own thread while the notebook reads. Every write is
    committed before the call returns.

    What identifies one delivery: v1 events have no id, and a sender that retries (no answer in time, a 5xx, a
    fallback URL) repeats the event exactly. Every v1 event carries the API's ``time`` of what happened, to
    the millisecond, beside its call, type and details (``dtmfDigit``, ``gatherId`` …), so an event is
    identified by all of these: the whole payload *including its time*. A second delivery of the same payload
    is a retry and is stored once; a payload that differs in any field, the time included, is another event
    and is always stored. Voice API v2 webhooks follow the same rule with their ``eventTime``. A payload
    without a time (not something the API sends) cannot be told from its retry, so each delivery of it is
    stored rather than risk merging two real events. Senders must therefore give each event its own time: the
    simulator does (two keys pressed with no gap are a millisecond apart).

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
        upgrade(self._wconn)  # a file an earlier version wrote: its records get this version's columns
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
        self._columns = None if self._memory else ColumnCache(self.path + "-columns", RECORD_DTYPE)
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
        """Wake every ``wait_for()`` in progress, so each checks its ``cancel`` event at once."""
        with self._changed:
            self._changed.notify_all()

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

    def add_many(
        self, items: Iterable[tuple[Mapping[str, Any], str, str | None, Any]], *, wait: float | None = None
    ) -> list[bool]:
        """Store several ``(payload, source, session, received_at)`` events in one transaction.

        The receiver's writer uses this to commit concurrent deliveries together. Returns one bool per
        item (False for a duplicate, also of an earlier item in the same batch).

        :param wait: seconds to wait, at most, while another write of this process holds the store (an
            import in :meth:`bulk`); None waits as long as it takes.
        :raises StoreBusyError: the store was still held after ``wait`` seconds; nothing was written.
        """
        pending = [self._pending(*item) for item in items]
        if not pending:
            return []
        if not self._write_lock.acquire(timeout=-1 if wait is None else max(wait, 0.0)):
            raise StoreBusyError(f"the store is held by a long write (an import) for over {wait:g} s")
        try:
            self._check_open()
            with_rows = bool(self._listeners)  # the row dicts are only built for listeners
            stored, rows, last_id = self._insert(pending, with_rows)
            if rows:
                self._notify(rows)
        finally:
            self._write_lock.release()
        if last_id:
            with self._changed:
                self._last_id = max(self._last_id, last_id)
                self._changed.notify_all()
        return stored

    @staticmethod
    def _pending(payload: Any, source: str, session: str | None, received_at: Any) -> Pending:
        if not isinstance(payload, Mapping):
            raise TypeError(f"an event payload must be a JSON object (dict), got {type(payload).__name__}")
        received_ns = time.time_ns() if received_at is None else to_ns(received_at)
        return EventStore._pending_ns(payload, source, session, received_ns)

    @staticmethod
    def _pending_ns(
        payload: Mapping[str, Any], source: str, session: str | None, received_ns: int,
        time_ns: int | None = None,
    ) -> Pending:
        payload = dict(payload)
        try:  # before the transaction: a bad payload fails alone, with a message that says why
            text, canonical = encode_payload(payload)
            digest = digest_of(payload, canonical)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"an event payload must be JSON: string keys, and values that are str, number (not NaN), "
                f"bool, None, list or dict ({exc})"
            ) from None
        session = None if session is None else str(session)
        return Pending(payload, str(source), session, received_ns, text, digest, time_ns)

    def _insert(
        self, pending: list[Pending], with_rows: bool
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
        self, conn: sqlite3.Connection, pending: list[Pending], with_rows: bool
    ) -> tuple[list[bool], list[dict[str, Any]], int]:
        """Insert inside the open transaction: the one dedupe path of live deliveries and imports.

        Batched: one query finds the digests already stored, new strings are interned together, and the
        new events and payloads go in with one ``executemany`` each.
        """
        if not pending:
            return [], [], 0
        known = self._stored_digests(conn, [item.digest for item in pending])
        fresh: list[Pending] = []
        stored: list[bool] = []
        for item in pending:
            new = item.digest not in known
            stored.append(new)
            if new:
                known.add(item.digest)  # a repeat later in the same batch is a duplicate too
                fresh.append(item)
        texts = [
            [v if v.__class__ is str else field_text(v) for v in map(item.payload.get, TEXT_FIELDS)]
            + [dialect_of(item.payload), item.source, item.session]
            for item in fresh
        ]
        # in order of appearance, so string ids (and category order) are the same as one event at a time
        sid_of = self._intern_all(conn, dict.fromkeys(v for row in texts for v in row if v is not None))
        sid_of[None] = 0  # type: ignore[index]
        next_id = conn.execute(_NEXT_ID).fetchone()[0]
        events, payloads, rows = [], [], []
        for event_id, item, row_texts in zip(range(next_id, next_id + len(fresh)), fresh, texts, strict=True):
            sids = [sid_of[value] for value in row_texts]  # type: ignore[index]
            time_ns = item.time_ns if item.time_ns is not None else parse_time_ns(event_time(item.payload))
            rec = RECORD.pack(event_id, NAT if time_ns is None else time_ns, item.received_ns, *sids)
            events.append((event_id, item.digest, sids[1], sids[2], rec))
            payloads.append((event_id, item.text))
            if with_rows:
                rows.append(new_row(event_id, item, dict(zip(SID_FIELDS, row_texts, strict=True)), time_ns))
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
        is locked for writing until the block ends (a receiver on the store answers its deliveries
        meanwhile and stores them after the block: see :mod:`catapult_nb.receiver.writer`), and listeners
        are not called for these events.

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
        :param method: the request's method.
        :param path: the request's path; the secret in ``/callbacks/<token>`` is masked.
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
            row = gather_row(gather_id, call_id, options, created_time, session)
            self._wconn.execute(WRITE_GATHER, row)

    def record_bxml(
        self, call_id: str, document: str | bytes, served_time: Any, session: str | None = None
    ) -> list[str]:
        """Remember the options of each v2 ``<Gather>`` in a BXML document the app answered with, so the
        analysis tables give v2 gathers their options (a v2 gather has no create request).

        :param call_id: the call the document was served for.
        :param document: the BXML (a ``<Response>``, or a lone ``<Gather>``).
        :param served_time: when it was served (the ``eventTime`` of the webhook it answered): ISO 8601
            text, a datetime or a ``pandas.Timestamp``.
        :returns: the names the gathers are recorded under (:func:`~catapult_nb.store.bxml.gather_key`);
            empty when the document has no ``<Gather>``.
        :raises BxmlError: the document cannot be read (the message says why).
        :raises ValueError: ``served_time`` is not a time.
        """
        served = served_time if isinstance(served_time, str) else _iso(served_time)
        if parse_time_ns(served) is None:
            raise ValueError(f"served_time {served_time!r} is not an ISO 8601 time")
        keys = []
        for index, options in enumerate(gathers_in(document)):
            keys.append(gather_key(call_id, served, index))
            self.record_gather(keys[-1], call_id, options, served, session)
        return keys

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

    def to_csv(self, path: str | os.PathLike[str], **filters: Any) -> None:
        """Write the events to a CSV file (payload as JSON text). Read it back with
        ``pd.read_csv(path, index_col="id", dtype=str)`` to keep digits like ``"007"``."""
        self.export_frame(**filters).to_csv(path)

    def to_parquet(
        self, path: str | os.PathLike[str], *, partition_by: str | None = None, **filters: Any
    ) -> None:
        """Write the events to Parquet with pyarrow (payload as JSON text); dtypes survive.

        :param path: a file, or with ``partition_by`` a folder.
        :param partition_by: ``"date"`` writes (or adds to) a
            :class:`~catapult_nb.store.parquet.ParquetEvents` folder: the events split by the day (UTC)
            of their ``time`` under ``events/date=…/``, with the recorded gathers, which DuckDB
            (``read_parquet('path/events/*/*.parquet', hive_partitioning=true)``), Spark and pyarrow read
            directly. An event the folder holds already is not written again (the dedupe identity of
            imports).
        """
        from catapult_nb.store.exporters import write_parquet

        if partition_by == "date":
            from catapult_nb.store.parquet import write_store

            write_store(self, path, **filters)
            return
        write_parquet(self.export_frame(**filters), path, partition_by=partition_by)

    def to_jsonl(self, path: str | os.PathLike[str] | None = None, **filters: Any) -> Path | bytes:
        """Write the recorded gathers and the events as JSON lines that :meth:`import_events` reads back.

        One ``{"gather": {…}}`` line per recorded gather, then one ``{"payload": …, "received": …,
        "source": …, "session": …}`` line per event, oldest first.

        :param path: the file to write; None returns the lines as UTF-8 ``bytes``.
        :param filters: as for ``to_dataframe()`` (they also select the gathers by call or gather id).
        :returns: ``path`` as a :class:`pathlib.Path`, or the bytes.
        """
        from catapult_nb.store.exporters import write_jsonl

        return write_jsonl(self, path, **filters)

    def to_har(self, path: str | os.PathLike[str] | None = None, **filters: Any) -> Path | bytes:
        """Write the events as a HAR 1.2 file: one POST of each payload to a callback URL, as received.

        :param path: the file to write; None returns the HAR document as UTF-8 ``bytes``.
        :param filters: as for ``to_dataframe()``.
        :returns: ``path`` as a :class:`pathlib.Path`, or the bytes.
        """
        from catapult_nb.store.exporters import write_har

        return write_har(self, path, **filters)

    # -- import ------------------------------------------------------------------------------------

    def import_events(self, source: Any, format: str | None = None, **options: Any) -> ImportReport:
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

