"""Reading an :class:`~catapult_nb.store.EventStore`: the fixed-width records, the columnar copy, frames,
waits for an event, the rejected deliveries and the gathers table (the store's write side is
:mod:`catapult_nb.store.store`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from catapult_nb.errors import Error
from catapult_nb.options import OPTION_FIELDS, GatherOptions, OptionError, flat_wire
from catapult_nb.store.columnar import ColumnCache, empty_strings
from catapult_nb.store.frames import (
    DERIVED_TEXT_FIELDS,
    META_TEXT_FIELDS,
    NAT,
    TEXT_FIELDS,
    record_rows,
    records_frame,
)

__all__ = [
    "COLUMNS_MIN_EVENTS", "COLUMNS_REWRITE_SHARE", "GATHER_OPTION_COLUMNS", "RECORD", "RECORD_DTYPE",
    "REJECTED_COLUMNS", "SID_FIELDS", "StoreBusyError", "StoreClosedError", "StoreReader", "WaitCancelled",
]

#: The text fields each event record keeps as string ids, in record order.
SID_FIELDS = TEXT_FIELDS + DERIVED_TEXT_FIELDS + META_TEXT_FIELDS

RECORD = struct.Struct("<qqq" + "i" * len(SID_FIELDS))
#: An unfiltered read of at least this many events uses the columnar copy beside the file
#: (:mod:`catapult_nb.store.columnar`); smaller reads scan SQLite alone.
COLUMNS_MIN_EVENTS = 20_000
#: The copy is written again once this share of the events came after it (they are read from SQLite).
COLUMNS_REWRITE_SHARE = 0.1
RECORD_DTYPE = np.dtype(
    [("id", "<i8"), ("time", "<i8"), ("received", "<i8")] + [(name, "<i4") for name in SID_FIELDS]
)
assert RECORD.size == RECORD_DTYPE.itemsize

REJECTED_COLUMNS: tuple[str, ...] = ("received", "reason", "detail", "method", "path", "body", "source")

#: The gathers table's option columns: flattened wire name -> pandas dtype, from the option table.
GATHER_OPTION_COLUMNS: dict[str, Any] = {f.wire: f.dtype for f in OPTION_FIELDS}  # pandas dtype names

_READ_META = "SELECT key, value FROM meta WHERE key IN ('generation', 'store_id')"


class StoreBusyError(Error, RuntimeError):
    """A write that may not wait found the store held by a long one (an import's transaction)."""


class StoreClosedError(Error, RuntimeError):
    """The store was closed; open a new ``EventStore`` on the same path to go on."""


class WaitCancelled(Error, RuntimeError):
    """A :meth:`EventStore.wait_for` was ended early through its ``cancel`` event."""


class StoreReader:
    """The read side of :class:`~catapult_nb.store.EventStore`: counts, records, frames, waits, the
    rejected deliveries and the gathers table. The store's write side opens the connections and the
    locks these methods use; the two halves share one object."""

    path: str
    _memory: bool
    _closed: bool
    _rconn: sqlite3.Connection
    _read_lock: threading.RLock
    _read_generation: int
    _strings: pa.LargeStringArray
    _columns: ColumnCache | None
    _changed: threading.Condition
    _last_id: int

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

    # -- reading -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._read_one("SELECT count(*) FROM events"))

    @property
    def last_id(self) -> int:
        """The id of the newest stored event (0 when empty): pass it as ``since=`` to wait for newer ones."""
        return int(self._read_one("SELECT coalesce(max(id), 0) FROM events"))

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
                    top = max(int(records[name].max()) for name in SID_FIELDS)
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
        return np.frombuffer(b"".join([rec for (rec,) in conn.execute(sql, args)]), dtype=RECORD_DTYPE)

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
        if copy is not None and not _copy_matches(conn, copy.records, copy.strings):
            copy = None  # an older backup restored, or a twin of the store copied in: the same id
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

        The index is the store id (``id``). Columns: ``eventType``, ``time`` (UTC; v1's ``time``, v2's
        ``eventTime``), ``dialect`` (``v1``/``v2``), ``callId``, ``gatherId``, ``reason``, ``state``,
        ``digits``, ``terminatingDigit``, ``tag``, ``dtmfDigit``, ``digit``, ``status``, ``cause``,
        ``errorMessage``, ``callState``, ``direction``, ``from``, ``to``, ``received`` (UTC), ``source``,
        ``session`` and ``payload`` (the raw event as a read-only mapping, every field kept).
        ``eventType``/``dialect``/``reason``/``state`` are categorical; the other text columns use pandas'
        ``string`` dtype, so ``"007"`` stays ``"007"`` and a missing value is ``<NA>``.

        :param call_id: keep only events with this value.
        :param gather_id: keep only events with this value.
        :param event_type: keep only events with this value.
        :param session: keep only events with this value.
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
                    return np.empty(0, dtype=RECORD_DTYPE), empty_strings()
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
    ) -> dict[str, Any]:
        """The first stored event that matches, waiting up to ``timeout`` seconds for it to arrive.

        An event stored before the call counts (nothing that raced ahead is missed); ``since`` (a store
        id, e.g. :attr:`last_id` taken earlier) ignores older ones. The wait is woken by the commits of
        this ``EventStore`` object (the receiver's writer uses it), not by other processes.

        :param cancel: an event that ends the wait early once it is set (then :meth:`wake_waiters`).
        :returns: the event as a dict of the :meth:`to_dataframe` columns, plus ``id``.
        :raises TimeoutError: nothing matched in time (the receiver's and the session's waits say what to
            check); as every wait of the package.
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
                        raise TimeoutError(_no_match(filters, predicate, since, timeout))
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
                parsed[row[4]] = (item, flat_options(item))
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


def _has_text(codes: np.ndarray, strings: pa.LargeStringArray, value: str) -> np.ndarray:
    """Which of these string ids stand for ``value`` (a mask)."""
    if len(codes) * 8 < len(strings):  # a few rows (a wait's): look at their strings, not the whole table
        found = pc.equal(strings.take(codes.astype(np.intp)), value).fill_null(False)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
    # -1 (no such string) matches nothing
    return np.asarray(codes == pc.index(strings, value).as_py(), dtype=bool)


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


def flat_options(options: Mapping[str, Any]) -> dict[str, Any]:
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


def _copy_matches(conn: sqlite3.Connection, records: np.ndarray, strings: pa.LargeStringArray) -> bool:
    """Whether SQLite holds what the copy holds, at its first, middle and last event and string.

    The store id and count are the same in a restored backup or a copied twin of the store that has
    since taken other events; those events (their ids, times, strings) differ here.
    """
    if len(records):
        picks = sorted({0, len(records) // 2, len(records) - 1})
        ids = [int(records["id"][i]) for i in picks]
        marks = ",".join("?" * len(ids))
        found = dict(conn.execute(f"SELECT id, rec FROM events WHERE id IN ({marks})", ids))
        if any(found.get(i) != records[p].tobytes() for i, p in zip(ids, picks, strict=True)):
            return False
    last = len(strings) - 1
    if last > 0:
        for sid in sorted({1, (last + 1) // 2, last}):
            row = conn.execute("SELECT value FROM strings WHERE id = ?", (sid,)).fetchone()
            if row is None or row[0] != strings[sid].as_py():
                return False
    return True


def _no_match(filters: dict[str, str | None], predicate: object, since: int | None, timeout: float) -> str:
    """``no event with event_type='gather' stored within 0.5 s …``: what a wait looked for."""
    wanted = [f"{name}={value!r}" for name, value in filters.items() if value is not None]
    wanted += ["the predicate"] * (predicate is not None) + [f"an id after {since}"] * bool(since)
    return (
        f"no event with {', '.join(wanted) or 'anything'} stored within {timeout:g} s (is the receiver "
        "running, and does the event's call send its callbacks to it?)"
    )
