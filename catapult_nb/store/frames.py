"""Events as pandas: the one column/dtype table every events frame is built from, and the builders.

The store (:mod:`catapult_nb.store.store`) hands over fixed-width records (times in ns, string ids) and its
string table as one Arrow array; a frame is built column by column from them, without a Python object
per cell except the lazily loaded :class:`Payload` of each row. A campaign builds its frames from plain
columns through :func:`events_frame`, typed by the same :data:`EVENT_DTYPES`.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "CATEGORICAL",
    "DERIVED_TEXT_FIELDS",
    "EVENT_COLUMNS",
    "EVENT_DTYPES",
    "META_TEXT_FIELDS",
    "NAT",
    "TEXT_FIELDS",
    "Payload",
    "events_frame",
    "ns_to_timestamp",
    "record_rows",
    "records_frame",
]

#: Known text fields of an event, by wire name; each gets its own typed column.
TEXT_FIELDS: tuple[str, ...] = (
    "eventType",
    "callId",
    "gatherId",
    "reason",
    "state",
    "digits",
    "tag",
    "dtmfDigit",
    "status",
    "cause",
    "callState",
    "from",
    "to",
    # Voice API v2 webhooks' own fields (v2's digits, tag, cause, from and to share v1's columns)
    "terminatingDigit",
    "digit",
    "errorMessage",
    "direction",
)
#: Text columns read from the payload rather than copied: ``dialect`` (``"v1"``/``"v2"``, see
#: :func:`catapult_nb.store.keys.dialect_of`).
DERIVED_TEXT_FIELDS = ("dialect",)
#: Text columns the store adds: where an event came from and the session that received it.
META_TEXT_FIELDS = ("source", "session")
_UTC = "datetime64[ns, UTC]"
_CATEGORIES = ("eventType", "dialect", "reason", "state")
#: Where each column stands in a frame (the records keep their own order).
_ORDER = (
    "eventType", "time", "dialect", "callId", "gatherId", "reason", "state", "digits", "terminatingDigit",
    "tag", "dtmfDigit", "digit", "status", "cause", "errorMessage", "callState", "direction", "from", "to",
)

#: Every events frame's columns and their pandas dtypes, in order (the index is the store id, named
#: ``id``). The store's frames, a campaign's, the columnar copy and the exports are built from this one
#: table. ``time`` is the event's time: v1's ``time``, v2's ``eventTime``.
EVENT_DTYPES: dict[str, str] = {
    **{name: _UTC if name == "time" else "category" if name in _CATEGORIES else "string" for name in _ORDER},
    "received": _UTC,
    **{name: "string" for name in META_TEXT_FIELDS},
    "payload": "object",
}
assert set(EVENT_DTYPES) == {*TEXT_FIELDS, *DERIVED_TEXT_FIELDS, *META_TEXT_FIELDS, "time", "received",
                            "payload"}
#: The DataFrame's columns, in order.
EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_DTYPES)
CATEGORICAL = tuple(name for name, dtype in EVENT_DTYPES.items() if dtype == "category")

NAT = np.iinfo(np.int64).min  # "no time" in a record; pandas reads it as NaT
#: pandas keeps "string" columns in Arrow here, so text columns are Arrow takes without a conversion.
_ARROW_STRINGS = pd.StringDtype().storage == "pyarrow"


def ns_to_timestamp(ns: int | None) -> pd.Timestamp | None:
    """UTC nanoseconds (None or ``NAT`` for none) as a ``pandas.Timestamp``."""
    return None if ns is None or ns == NAT else pd.Timestamp(ns, unit="ns", tz="UTC")


# --------------------------------------------------------------------------------------------------


class _PayloadTexts(Protocol):
    """Where a :class:`Payload` gets its JSON text: a frame's batch of store rows, or a campaign's columns."""

    def text(self, event_id: int) -> str: ...


class Payload(Mapping[str, Any]):
    """The raw JSON payload of one stored event, read from the store the first time it is looked at.

    It behaves as a read-only dict (``p["digits"]``, ``p.get("tag")``, ``dict(p)``, ``p == {...}``).
    Loading is per frame: touching one payload reads the JSON text of every row of that frame in one
    query, and each payload is parsed on its own first use. Use :meth:`to_dict` for a plain ``dict``
    (for ``json.dumps``).
    """

    __slots__ = ("_batch", "_data", "_event_id")

    _data: dict[str, Any]  # set on first use: a million rows make a million of these, so __init__ is lean

    def __init__(self, batch: _PayloadTexts, event_id: int) -> None:
        self._batch = batch
        self._event_id = event_id

    def _load(self) -> dict[str, Any]:
        try:
            return self._data
        except AttributeError:
            self._data = json.loads(self._batch.text(self._event_id))
            return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Payload):
            return self._load() == other._load()
        if isinstance(other, Mapping):
            return self._load() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking mapping, like dict

    def to_dict(self) -> dict[str, Any]:
        """A plain copy of the payload."""
        return dict(self._load())

    def __repr__(self) -> str:
        return repr(self._load())

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (df.to_pickle, deepcopy) as the plain dict: the store link does not travel
        return (dict, (self.to_dict(),))


class _PayloadSource(Protocol):
    """Where a frame's payload texts are read: the event store."""

    def payload_texts(self, ids: np.ndarray) -> dict[int, str]: ...


class _PayloadBatch:
    """The payload texts of one frame, read in one query on first use."""

    def __init__(self, store: _PayloadSource, ids: np.ndarray) -> None:
        self._store = store
        self._ids = ids
        self._texts: dict[int, str] | None = None
        self._lock = threading.Lock()

    def text(self, event_id: int) -> str:
        with self._lock:
            if self._texts is None:
                self._texts = self._store.payload_texts(self._ids)
        try:
            return self._texts[event_id]
        except KeyError:
            raise LookupError(
                f"the payload of event {event_id} is no longer in the store (was it cleared?); "
                "call to_dataframe() again"
            ) from None


# --------------------------------------------------------------------------------------------------
# Building frames column-wise from records.


def _dense(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Re-number the string ids in ``codes`` (ids below ``size``) 0..k-1, -1 for absent (id 0): returns
    (the new codes, the string ids they stand for, ascending)."""
    if len(codes) * 8 < size:  # a few rows of a big store: sort the rows, not the string table
        used, dense = np.unique(codes, return_inverse=True)
        dense = dense.reshape(-1).astype(np.int32)
        if len(used) and used[0] == 0:  # id 0 is "absent"
            return dense - 1, used[1:]
        return dense, used
    present = np.zeros(size, dtype=bool)
    present[codes] = True
    present[0] = False
    used = np.flatnonzero(present)
    remap = np.full(size, -1, dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    return remap[codes], used


def _text_column(codes: np.ndarray, strings: pa.LargeStringArray, categorical: bool) -> Any:
    """One text column: categorical (categories in string id order) or pandas' ``string``."""
    if categorical:
        dense, used = _dense(codes, len(strings))
        categories = pd.Index(strings.take(used).to_pylist(), dtype=object)
        return pd.Categorical.from_codes(dense, categories=categories)
    taken = strings.take(codes)  # one Arrow take: no per-cell Python objects; id 0 takes a null
    if _ARROW_STRINGS:
        return pd.array(taken, dtype="string")
    return pd.array(taken.to_numpy(zero_copy_only=False), dtype="string")


def events_frame(columns: Mapping[str, Any], index: pd.Index) -> pd.DataFrame:
    """An events frame built from plain columns, typed by :data:`EVENT_DTYPES`.

    :param columns: values by column name; a column left out is all missing. A ``pd.Categorical`` is
        kept as given (with its categories).
    :param index: the frame's index (named ``id`` like the store's).
    :returns: a frame with exactly the columns of :data:`EVENT_COLUMNS`, in order.
    """
    n = len(index)
    missing: dict[str, Any] = {}  # one all-missing column per dtype, shared by every absent column
    data: dict[str, Any] = {}
    for name, dtype in EVENT_DTYPES.items():
        value = columns.get(name)
        if value is None:
            if dtype not in missing:
                missing[dtype] = pd.Series([None] * n, dtype=dtype).array if dtype != "object" else [None] * n
            data[name] = missing[dtype]
        elif dtype == "category":
            data[name] = value if isinstance(value, pd.Categorical) else pd.Categorical(value)
        elif dtype == _UTC:
            data[name] = pd.DatetimeIndex(value).tz_convert("UTC").as_unit("ns")
        elif dtype == "string":
            data[name] = pd.array(value, dtype="string")
        else:
            data[name] = value
    return pd.DataFrame(data, index=index)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a million new objects are made.

    Each object is tracked, and the collector would walk the whole (growing) heap again and again while
    they are made — two thirds of the payload column's time. They hold no cycles; the next collection
    after the pause sees them once.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _times(ns: np.ndarray) -> Any:
    """Nanosecond counts (``_NAT`` for none) as a UTC datetime array, without a copy per step."""
    return pd.DatetimeIndex(ns.astype(np.int64).view("M8[ns]"), copy=False).tz_localize("UTC").array


def records_frame(records: np.ndarray, strings: pa.LargeStringArray, store: _PayloadSource) -> pd.DataFrame:
    """The events frame of store records (oldest first) whose string ids ``strings`` covers."""
    ids = records["id"].astype(np.int64)
    data: dict[str, Any] = {}
    for name in EVENT_COLUMNS:
        if name in ("time", "received"):
            data[name] = _times(records[name])
        elif name == "payload":
            batch = _PayloadBatch(store, ids)
            # frompyfunc fills the object array without numpy asking each Payload for its len()
            # (which would load and parse every payload)
            make = np.frompyfunc(functools.partial(Payload, batch), 1, 1)
            # Python ints in, not NumPy scalars: each call is cheaper, and so is each lookup later
            with _collector_paused():
                data[name] = make(ids.astype(object)) if len(ids) else np.empty(0, dtype=object)
        else:
            data[name] = _text_column(records[name].astype(np.intp), strings, name in CATEGORICAL)
    return pd.DataFrame(data, index=pd.Index(ids, name="id"), copy=False)


def record_rows(
    records: np.ndarray, strings: pa.LargeStringArray, store: _PayloadSource
) -> list[dict[str, Any]]:
    """The rows of ``records_frame(records, …)`` as dicts (``id`` first, then the columns), built
    without pandas."""
    if not len(records):
        return []
    ids = records["id"].astype(np.int64)
    batch = _PayloadBatch(store, ids)
    columns: dict[str, list[Any]] = {}
    for name in EVENT_COLUMNS:
        if name in ("time", "received"):
            columns[name] = [ns_to_timestamp(ns) for ns in records[name].tolist()]
        elif name == "payload":
            columns[name] = [Payload(batch, event_id) for event_id in ids.tolist()]
        else:
            columns[name] = strings.take(records[name].astype(np.intp)).to_pylist()
    return [
        {"id": event_id, **{name: column[index] for name, column in columns.items()}}
        for index, event_id in enumerate(ids.tolist())
    ]
