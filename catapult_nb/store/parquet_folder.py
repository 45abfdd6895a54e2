"""The layout of a :class:`~catapult_nb.store.parquet.ParquetEvents` folder and its one writer.

Everything that writes events into a folder — ``ParquetEvents.import_events`` and
``EventStore.to_parquet(folder, partition_by="date")`` — goes through :class:`FolderWrite`, so the files,
their columns and the dedupe identity have one definition (:data:`EVENTS_SCHEMA`, :func:`digest_sql`).

A write is all or nothing: its files go to a hidden folder (``.write-<id>``) first; the commit is one
rename of a journal that lists the moves (``.commit.json``), after which the moves are done — and redone
by the next opener should the process die half way. A write that fails before that leaves the folder as
it was. One write at a time holds the folder's lock (``.lock``), across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catapult_nb.errors import Error
from catapult_nb.store.frames import TEXT_FIELDS
from catapult_nb.store.keys import V2_MARKERS

if TYPE_CHECKING:
    import duckdb

    from catapult_nb.store.parquet import ParquetEvents

__all__ = [
    "EVENTS_SCHEMA",
    "FINISH_SQL",
    "FORMAT_VERSION",
    "GATHERS_SCHEMA",
    "JSON_FIELDS",
    "MANIFEST",
    "FolderWrite",
    "ParquetFolderError",
    "block_select",
    "canonical_sql",
    "digest_sql",
    "known_sql",
]


#: The manifest's file name, at the top of the folder.
MANIFEST = "catapult_nb-events.json"
_FORMAT = "catapult_nb.ParquetEvents"
#: The layout version this code writes and reads; a folder with a higher one is refused.
FORMAT_VERSION = 1
_JOURNAL = ".commit.json"  # a committed write's moves, while they are being done
_LOCK = ".lock"
_STAGING = ".write-"  # a write's hidden folder: `.write-<id>`

_UTC_US = pa.timestamp("us", tz="UTC")
#: The columns of every events file (the partition ``date`` is in its path).
EVENTS_SCHEMA = pa.schema(
    [("id", pa.int64()), ("eventType", pa.string()), ("time", _UTC_US), ("dialect", pa.string())]
    + [(name, pa.string()) for name in TEXT_FIELDS[1:]]
    + [("received", _UTC_US), ("source", pa.string()), ("session", pa.string()),
       ("payload", pa.string()), ("digest", pa.binary())]
)
# The columns whose values repeat, written with a dictionary. The others (ids, times, payloads, digests)
# differ row by row: a dictionary tried on them costs a quarter of the write and is thrown away.
_REPEATED = [name for name in EVENTS_SCHEMA.names
             if name not in ("id", "time", "received", "callId", "gatherId", "payload", "digest")]
#: The columns of every gathers file; the latest ``recorded`` of a ``gatherId`` is its record.
GATHERS_SCHEMA = pa.schema([
    ("gatherId", pa.string()), ("callId", pa.string()), ("createdTime", _UTC_US), ("session", pa.string()),
    ("options", pa.string()), ("recorded", pa.int64()),
])

# The fields a payload is read into in one parse (as JSON values: a string keeps its quotes), sorted by
# name: the known fields of callbacks, and the keys of a JSON-lines record. A payload with other fields (or
# an explicit null) is made canonical through a map of all its fields instead: slower, the same text.
_FIELDS = tuple(sorted({*TEXT_FIELDS, "time", "callUri", "applicationId", "dtmfDuration", "payload", "gather",
                        "received", "source", "session", *V2_MARKERS}))
#: ``json_transform`` type of a payload's fields as JSON values.
JSON_FIELDS = "{" + ",".join(f'"{name}":"JSON"' for name in _FIELDS) + "}"


# as keys.dialect_of: v2 for a Voice API v2 webhook, v1 for a Catapult v1 event (it has a time)
_MARKERS = ", ".join(f"'{m}'" for m in V2_MARKERS)


def _dialect_sql(p: str) -> str:
    """SQL: the dialect of the payload ``p`` (JSON text), as keys.dialect_of reads it."""
    return (f"CASE WHEN list_has_any(json_keys({p}), [{_MARKERS}]) THEN 'v2' "
            f"WHEN list_contains(json_keys({p}), 'time') THEN 'v1' END")


def known_sql(s: str) -> str:
    """SQL: the canonical JSON of the fields of ``s`` (a :data:`JSON_FIELDS` struct) that are set: sorted
    by name, no spaces. It is the payload's canonical JSON when these are all its fields (see
    :func:`canonical_sql`)."""
    pairs = ", ".join(f"""'"{name}":' || {s}."{name}" """ for name in _FIELDS)
    return f"'{{' || concat_ws(',', {pairs}) || '}}'"


def canonical_sql(p: str, known: str, minified: str) -> str:
    """SQL: the payload's canonical JSON (fields sorted by name, no spaces), NULL when it has a field twice.

    :param p: the payload's JSON text; ``known``: :func:`known_sql` of its :data:`JSON_FIELDS` struct;
            ``minified``: ``json(p)``, its text without spaces (NULL when ``p`` is not an object).

    ``known`` holds each value as ``minified`` writes it, and a name in its plainest spelling, so it is
    as long as ``minified`` only when every field is a known one, set, once, named plainly: then it is
    the payload's canonical JSON. Otherwise (a field of another name, a null, a name spelt with an
    escape) the payload's fields are read into a map: slower, the same text.
    """
    entries = f"""list_sort(map_entries(json_transform({p}, '"MAP(VARCHAR, JSON)"')))"""
    mapped = (f"'{{' || array_to_string(list_transform({entries}, "
              "lambda e: to_json(e.key) || ':' || coalesce(e.value, 'null')), ',') || '}'")
    return (f"CASE WHEN {minified} IS NULL THEN NULL WHEN strlen({known}) = strlen({minified}) THEN {known} "
            f"ELSE {mapped} END")


def digest_sql(canonical: str, s: str) -> str:
    """SQL: what identifies one delivery: MD5 of the payload's canonical JSON, its time included (a retry
    repeats it exactly); random for a payload without a time, as nothing tells its retry from a second
    event. The store's own identity (:class:`~catapult_nb.store.store.EventStore`)."""
    return (f"""CASE WHEN coalesce({s}."eventTime", {s}."time") IS NULL """
            f"""OR coalesce({s}."eventTime", {s}."time") = '""' THEN unhex(md5(uuid()::VARCHAR)) """
            f"ELSE unhex(md5({canonical})) END")


def block_select(source: str, p: str = "p", canonical: str = "canonical", s: str = "s", *,
                 kind: str = "'event'", dialect: str = "", extra: str = "", payload: str = "") -> str:
    """SQL: the rows of a block of events from ``source``, a FROM clause with ``number``, ``time_ns``,
    ``received_ns``, ``source``, ``session``, the payload's JSON text ``p``, its fields ``s`` and its
    ``canonical`` JSON (:func:`canonical_sql`). A row has ``number``, ``kind``, ``date`` and, for an
    event, every column of its file but ``id`` (:data:`EVENTS_SCHEMA`): each payload is read here once,
    the write only copies.

    :param kind: what the row is (only ``'event'`` rows are events); ``dialect``: SQL of the event's
        dialect (by default read from ``p``); ``extra``: more columns to select; ``payload``: SQL of
        ``json(p)`` when the source has it.
    """
    event = f"{kind} = 'event'"
    # the text fields from the fields already read (small JSON values), not a second parse of the payload
    texts = ", ".join(f"""CASE WHEN {event} THEN json_transform({s}."{name}", '"VARCHAR"') END AS "{name}" """
                      for name in TEXT_FIELDS)
    return f"""
SELECT number, {kind} AS kind, {extra}
  CASE WHEN {event} THEN {payload or f"json({p})::VARCHAR"} END AS payload,
  {texts},
  CASE WHEN {event} THEN {dialect or _dialect_sql(p)} END AS dialect,
  make_timestamp(time_ns // 1000)::TIMESTAMPTZ AS "time",
  make_timestamp(received_ns // 1000)::TIMESTAMPTZ AS received, source, session,
  {digest_sql(canonical, s)} AS digest, make_timestamp(time_ns // 1000)::DATE AS date
FROM {source}"""


#: The block rows of staged payloads: ``staged`` has ``number`` (their order), ``p`` (the JSON text),
#: ``time_ns``, ``received_ns``, ``source`` and ``session``.
FINISH_SQL = block_select(
    f"(SELECT *, {canonical_sql('p', 'known', 'minified')} AS canonical "
    f"FROM (SELECT *, {known_sql('s')} AS known FROM (SELECT *, json_transform(p, '{JSON_FIELDS}') AS s, "
    "json(p)::VARCHAR AS minified FROM staged)))",
    payload="minified",
)

class ParquetFolderError(Error, ValueError):
    """The folder is not a :class:`ParquetEvents` folder, or one a newer catapult_nb wrote."""


# --------------------------------------------------------------------------------------------------
# The folder: manifest, lock, journal


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest, None for a new (missing or empty) folder; ParquetFolderError for anything else."""
    if folder.exists() and not folder.is_dir():
        raise ParquetFolderError(f"{folder} is a file, not a ParquetEvents folder")
    path = folder / MANIFEST
    if not path.exists():
        if folder.exists() and any(p.name not in (_LOCK,) for p in folder.iterdir()):
            raise ParquetFolderError(
                f"{folder} is not a ParquetEvents folder (it has no {MANIFEST}); give a new or empty folder, "
                "or write the events again with EventStore.to_parquet(folder, partition_by='date')"
            )
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParquetFolderError(f"{path} cannot be read as a ParquetEvents manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise ParquetFolderError(f"{path} is not a ParquetEvents manifest (format {_FORMAT!r} expected)")
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ParquetFolderError(
            f"{folder} was written by a newer catapult_nb (layout version {version}; this one reads up to "
            f"{FORMAT_VERSION}): upgrade catapult_nb to read it"
        )
    return manifest


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a small JSON file whole: to a temporary name, flushed, then renamed over the old one."""
    temporary = path.with_name(path.name + f".{uuid.uuid4().hex}.tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the folder's write lock (one write at a time, across processes)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / _LOCK, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _recover(folder: Path) -> None:
    """With the lock held: finish a committed write whose moves were cut short; drop unfinished writes."""
    journal = folder / _JOURNAL
    if journal.exists():
        _apply(folder, json.loads(journal.read_text(encoding="utf-8")))
    for staging in folder.glob(_STAGING + "*"):
        shutil.rmtree(staging, ignore_errors=True)


def _apply(folder: Path, plan: dict[str, Any]) -> None:
    """Do a committed write's moves (each once: a move already done is skipped), then its manifest."""
    for source, target in plan["moves"]:
        src, dst = folder / source, folder / target
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    _write_json(folder / MANIFEST, plan["manifest"])
    (folder / _JOURNAL).unlink()


# --------------------------------------------------------------------------------------------------
# The one writer


class FolderWrite:
    """One all-or-nothing write into a folder: events (deduplicated against the folder and each other,
    numbered after its last id) and gather records. Made by :meth:`ParquetEvents.write`.
    """

    def __init__(self, events: ParquetEvents, connection: duckdb.DuckDBPyConnection) -> None:
        self._events = events
        self._con = connection
        self._staging = events.folder / f"{_STAGING}{uuid.uuid4().hex}"
        self._staging.mkdir()
        self._name = uuid.uuid4().hex[:16]
        self._files = 0
        self._committed = False
        self._base = int(events._manifest["last_id"])  # an event's id: this plus its number
        self._last_id = self._base
        self._next_recorded = int(events._manifest.get("last_recorded", 0)) + 1
        self._loaded: set[str] = set()  # dates whose stored digests are in `seen`
        self._con.execute("SET enable_progress_bar = false")  # an import shows its own bar, over the file
        self._con.execute("CREATE OR REPLACE TEMP TABLE seen (digest BLOB, date DATE)")
        self._block = pa.table({"number": pa.array([], pa.int64()), "kind": pa.array([], pa.string())})
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="catapult_nb-parquet")
        self._writing: list[Future[None]] = []
        self.imported = 0
        self.duplicates = 0

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The write's DuckDB connection (the importers read lines with it)."""
        return self._con

    def add(self, staged: pa.Table) -> np.ndarray:
        """Add events: ``number`` (their order, from 1, growing over the write), ``p`` (the payload's JSON
        text), ``time_ns``, ``received_ns``, ``source`` and ``session``. A delivery already in the folder,
        or earlier in this write, is counted as a duplicate and not written again.

        :returns: the ``number`` of each event written (the others were duplicates).
        """
        if not len(staged):
            return np.empty(0, dtype=np.int64)
        self.stage(None, staged)
        return self.flush()

    def stage(self, query: str | None, staged: pa.Table | None = None) -> None:
        """Begin a block of events: the rows of ``query`` (:func:`block_select`; those of kind ``'event'``
        are events) and the staged payloads of :meth:`add`. :meth:`flush` writes them. The block is an
        Arrow table (the view ``block``): its events are written from it as they are, without a copy."""
        self.stage_table(self._finish(staged) if query is None else self._con.sql(query).to_arrow_table())
        if query is not None and staged is not None:
            self.stage_more(staged)

    def stage_table(self, block: pa.Table) -> None:
        """Begin a block of events from the rows of a :func:`block_select` query, already read (as an
        import reads the next block on another connection while this one writes)."""
        self._block = block
        self._con.register("block", self._block)

    def stage_more(self, staged: pa.Table) -> None:
        """Add staged payloads (as for :meth:`add`) to the block begun by :meth:`stage`."""
        if len(staged):
            self._block = pa.concat_tables([self._block, self._finish(staged)], promote_options="default")
            self._con.register("block", self._block)

    def _finish(self, staged: pa.Table | None) -> pa.Table:
        self._con.register("staged", staged)
        try:
            return self._con.sql(FINISH_SQL).to_arrow_table()
        finally:
            self._con.unregister("staged")

    def flush(self, *, numbers: bool = True) -> np.ndarray:
        """Write the block's new events (an event's id is the folder's last id before the write plus its
        number, so ids grow in the order the events came).

        :param numbers: give the new events' numbers (an import that does not need them saves the sort).
        :returns: their ``number``, in order (empty when not asked for); the block's other events were
            duplicates.
        """
        con = self._con
        days = [str(d) for (d,) in con.execute(
            "SELECT DISTINCT date FROM block WHERE kind = 'event' AND date IS NOT NULL").fetchall()]
        self._load_dates(days)
        # a retry has its event's time: only the digests of the block's days (and of events without a
        # day) can be its duplicates, however many the write has seen
        same_days = " OR ".join([f"date = '{d}'" for d in days] + ["date IS NULL"])
        con.execute(
            "CREATE OR REPLACE TEMP TABLE fresh AS "
            "SELECT min(number) AS number, digest, any_value(date) AS date "
            f"FROM block WHERE kind = 'event' AND digest NOT IN (SELECT digest FROM seen WHERE {same_days}) "
            "GROUP BY digest"
        )
        ((count, last),) = con.execute("SELECT count(*), max(number) FROM fresh").fetchall()
        kinds = pc.equal(self._block.column("kind"), "event")
        events = self._block if pc.all(kinds).as_py() else self._block.filter(kinds)
        self.duplicates += len(events) - count
        new = (con.execute("SELECT number FROM fresh").fetchnumpy()["number"]
               if numbers or 0 < count < len(events) else np.empty(0, dtype=np.int64))
        if count:
            self.imported += count
            self._last_id = self._base + int(last)
            if count < len(events):  # no look-up for a new log
                events = events.filter(pc.is_in(events.column("number"), pa.array(new)))
            self._write_events(events)
            con.execute("INSERT INTO seen SELECT digest, date FROM fresh")
        written = np.sort(new) if numbers else np.empty(0)
        con.execute("DROP TABLE fresh")
        return np.asarray(written, dtype=np.int64)

    def _write_events(self, events: pa.Table) -> None:
        """Write a block's new events, one file a day (``<block>/date=…/data_0.parquet`` in the staging
        folder), the days side by side. Arrow's Parquet writer, not DuckDB's COPY: for the same rows it
        takes 40 % of COPY's CPU time, and 20 % of COPY's with PARTITION_BY (the folder's many-column,
        mostly empty rows)."""
        import pyarrow.parquet as pq

        block = self._staging / "events" / f"{self._files:05d}"
        self._files += 1
        ids = pc.add(events.column("number").cast(pa.int64()), pa.scalar(self._base, pa.int64()))
        table = pa.table([ids if f.name == "id" else events.column(f.name) for f in EVENTS_SCHEMA],
                         names=EVENTS_SCHEMA.names).cast(EVENTS_SCHEMA)
        dates = events.column("date")

        def write(day: Any) -> None:
            same = pc.is_null(dates) if day is None else pc.equal(dates, pa.scalar(day, dates.type))
            rows = table.filter(same)
            part = block / f"date={'NULL' if day is None else day}"  # as DuckDB names a day without a time
            part.mkdir(parents=True)
            pq.write_table(rows, part / "data_0.parquet", compression="snappy", use_dictionary=_REPEATED)

        self._finish_writes()  # one block in flight at most: its memory, not the log's
        # Arrow's writer lets go of the GIL: the days are written two at a time, while DuckDB reads the
        # next block
        self._writing = [self._pool.submit(write, day) for day in pc.unique(dates).to_pylist()]

    def _finish_writes(self) -> None:
        """Wait for the files being written (raising what failed)."""
        writing, self._writing = self._writing, []
        for future in writing:
            future.result()

    def _load_dates(self, dates: list[str]) -> None:
        """Put the digests already stored for these days into ``seen``: a retry has its event's time, so
        it can only be a duplicate of an event of the same day."""
        for day in dates:
            if day in self._loaded:
                continue
            self._loaded.add(day)
            files = sorted((self._events.folder / "events" / f"date={day}").glob("*.parquet"))
            if files:
                self._con.execute("INSERT INTO seen SELECT digest, ?::DATE FROM read_parquet(?)",
                                  [day, [str(f) for f in files]])

    def record_gathers(self, gathers: pa.Table) -> None:
        """Add gather records: ``gatherId``, ``callId``, ``createdTime`` (UTC ns or null), ``session`` and
        ``options`` (JSON text of an object), in order; a later record of a gather replaces an earlier."""
        if not len(gathers):
            return
        import pyarrow.parquet as pq

        created = pc.cast(gathers.column("createdTime"), pa.int64())
        created = pc.divide(created, 1000).cast(pa.timestamp("us")).cast(_UTC_US)
        recorded = np.arange(self._next_recorded, self._next_recorded + len(gathers), dtype=np.int64)
        self._next_recorded += len(gathers)
        table = pa.table({
            "gatherId": gathers.column("gatherId"), "callId": gathers.column("callId"),
            "createdTime": created,
            "session": gathers.column("session"), "options": gathers.column("options"),
            "recorded": pa.array(recorded),
        }).cast(GATHERS_SCHEMA)
        (self._staging / "gathers").mkdir(exist_ok=True)
        pq.write_table(table, self._staging / "gathers" / f"part-{self._name}-{self._files:05d}.parquet")
        self._files += 1

    def commit(self) -> None:
        """Make the write visible: one rename of the journal, then the moves it lists."""
        self._finish_writes()
        self._pool.shutdown()
        folder = self._events.folder
        moves = [(str(path.relative_to(folder)), self._target(path.relative_to(self._staging)))
                 for path in sorted(self._staging.rglob("*.parquet"))]
        manifest = {**self._events._manifest, "last_id": self._last_id,
                    "last_recorded": self._next_recorded - 1}
        plan = {"moves": moves, "manifest": manifest}
        _write_json(self._staging / "journal.json", plan)
        os.replace(self._staging / "journal.json", folder / _JOURNAL)  # the commit
        self._committed = True  # from here on the moves are done, now or by the next opener
        _apply(folder, plan)
        shutil.rmtree(self._staging, ignore_errors=True)
        self._events._manifest = manifest

    def _target(self, written: Path) -> str:
        """Where a file written into the staging folder goes: ``events/<block>/date=…/data_0.parquet`` to
        ``events/date=…/part-<write>-<block>-0.parquet``; gathers files keep their name."""
        if written.parts[0] != "events":
            return str(written)
        _, block, day, name = written.parts
        part = Path(name).stem.rsplit("_", 1)[-1]
        return str(Path("events") / day / f"part-{self._name}-{block}-{part}.parquet")

    def abort(self) -> None:
        """Drop what was written, unless the write committed (then the next opener finishes it)."""
        self._pool.shutdown(cancel_futures=True)  # waits for the files being written: none is left half way
        if not self._committed:
            shutil.rmtree(self._staging, ignore_errors=True)


def _quoted(path: Path | str) -> str:
    return str(path).replace("'", "''")
