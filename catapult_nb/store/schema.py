"""The event records' layout on disk, named in the store's ``meta`` table, and the upgrade of a file
whose records an earlier version wrote.

Each event's ``rec`` holds its id, times and one string id per text field
(:data:`~catapult_nb.store.reading.SID_FIELDS`). The fields in order are kept in ``meta`` as
``record_fields``. A file without that entry was written before it existed, with :data:`FIRST_FIELDS`.
Opening a file whose layout differs rewrites every record in one transaction: fields both layouts have keep
their string ids, new ones are read from the stored payloads (so Voice API v2 webhooks stored earlier get
their ``dialect``, their ``eventTime`` as the event time and their own columns), and the store's generation
moves on, so every reader's caches and the columnar copy are rebuilt."""

from __future__ import annotations

import logging
import sqlite3
import struct
import time
from typing import Any

import orjson

from catapult_nb.errors import Error
from catapult_nb.store.frames import NAT
from catapult_nb.store.keys import dialect_of, event_time, field_text, parse_time_ns
from catapult_nb.store.reading import RECORD, SID_FIELDS

__all__ = ["FIRST_FIELDS", "NewerStoreError", "upgrade"]

log = logging.getLogger(__name__)

#: The record fields of files written before ``record_fields`` was kept (v1 events only had columns).
FIRST_FIELDS: tuple[str, ...] = (
    "eventType", "callId", "gatherId", "reason", "state", "digits", "tag", "dtmfDigit", "status", "cause",
    "callState", "from", "to", "source", "session",
)
_KEY = "record_fields"
_CHUNK = 10_000
#: A file with at least this many events shows a progress bar while its records are upgraded.
PROGRESS_FROM = 100_000


class NewerStoreError(Error, RuntimeError):
    """The file's records hold fields this version does not know: a newer catapult_nb wrote it."""


def upgrade(conn: sqlite3.Connection) -> int:
    """Bring the file's records to this version's layout; returns how many records were rewritten.

    :param conn: the store's writing connection, outside a transaction.
    :raises NewerStoreError: the file was written by a newer version (upgrade catapult_nb to read it).
    """
    current = ",".join(SID_FIELDS)
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_KEY,)).fetchone()
    if row is not None and row[0] == current:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_KEY,)).fetchone()  # another process?
        stored = FIRST_FIELDS if row is None else tuple(row[0].split(","))
        started = time.perf_counter()
        rewritten = 0 if row is not None and row[0] == current else _rewrite(conn, stored)
        if rewritten:
            log.info("upgraded the records of %d events to this version's columns in %.1f s", rewritten,
                     time.perf_counter() - started)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_KEY, current))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return rewritten


def _rewrite(conn: sqlite3.Connection, stored: tuple[str, ...]) -> int:
    unknown = [name for name in stored if name not in SID_FIELDS]
    if unknown:
        raise NewerStoreError(
            f"this event store's records hold fields this version of catapult_nb does not know "
            f"({', '.join(unknown)}): a newer version wrote it; upgrade catapult_nb to open it"
        )
    old = struct.Struct("<qqq" + "i" * len(stored))
    new_fields = [(index, name) for index, name in enumerate(SID_FIELDS) if name not in stored]
    kept_at = [(index, stored.index(name)) for index, name in enumerate(SID_FIELDS) if name in stored]
    interned: dict[str, int] = {}
    rewritten, last = 0, 0
    from tqdm.auto import tqdm

    total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    with tqdm(total=total, unit=" events", desc="upgrading the event store's records",
              disable=total < PROGRESS_FROM) as bar:
        while True:
            rows = conn.execute(
                "SELECT events.id, events.rec, payloads.json FROM events "
                "JOIN payloads ON payloads.id = events.id WHERE events.id > ? ORDER BY events.id LIMIT ?",
                (last, _CHUNK),
            ).fetchall()
            if not rows:
                break
            updates = []
            for event_id, rec, text in rows:
                _, time_ns, received_ns, *sids = old.unpack(rec)
                payload = _payload(text)
                if time_ns == NAT:
                    parsed = parse_time_ns(event_time(payload))
                    time_ns = NAT if parsed is None else parsed
                new = [0] * len(SID_FIELDS)
                for index, at in kept_at:
                    new[index] = sids[at]
                for index, name in new_fields:
                    new[index] = _sid(conn, interned, _text(payload, name))
                updates.append((RECORD.pack(event_id, time_ns, received_ns, *new), event_id))
            conn.executemany("UPDATE events SET rec = ? WHERE id = ?", updates)
            rewritten += len(updates)
            last = rows[-1][0]
            bar.update(len(updates))
    if rewritten:
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    return rewritten


def _payload(text: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:  # what the json module wrote and orjson refuses (an int past 64 bits)
        import json

        payload = json.loads(text)
    return payload if isinstance(payload, dict) else {}


def _text(payload: dict[str, Any], name: str) -> str | None:
    if name == "dialect":
        return dialect_of(payload)
    return field_text(payload.get(name))


def _sid(conn: sqlite3.Connection, interned: dict[str, int], value: str | None) -> int:
    if value is None:
        return 0
    sid = interned.get(value)
    if sid is None:
        conn.execute("INSERT OR IGNORE INTO strings (value) VALUES (?)", (value,))
        sid = conn.execute("SELECT id FROM strings WHERE value = ?", (value,)).fetchone()[0]
        interned[value] = sid
    return sid
