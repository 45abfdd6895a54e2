"""Callback logs into a :class:`~catapult_nb.store.parquet.ParquetEvents` folder.

The formats, rules and report are :mod:`catapult_nb.store.importers`' own. JSON lines, the format of the big
logs, are read in columns: the file is cut into blocks of whole lines, each block becomes one Arrow
array of lines without a copy, and DuckDB checks and reads every line of it at once (is it JSON, an
event, a JSON-lines record or a gather line; its ``callId``, ``time`` and ``received``). A line DuckDB
cannot vouch for — not JSON, not UTF-8, over 64 KiB, a number only Python reads the same way, an
event without a readable ``callId`` or ``time`` — goes through the importers' own per-line code, so
it is rejected (or read) with the same reason and detail as by ``EventStore.import_events``. The other
formats go through the importers' readers unchanged. Every event ends in the folder's one writer
(:class:`~catapult_nb.store.parquet_folder.FolderWrite`): one dedupe identity, all or nothing.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catapult_nb.store.formats import (
    MAX_RECORD,
    READERS,
    EventRecord,
    GatherRecord,
    Rejected,
    Skipped,
    jsonl_record,
)
from catapult_nb.store.importers import (
    ImportReport,
    Opened,
    check_event,
    record_gather,
    run_import,
    store_all,
)
from catapult_nb.store.keys import V2_MARKERS, encode_payload, parse_time_ns
from catapult_nb.store.parquet_folder import JSON_FIELDS, block_select, canonical_sql, known_sql

if TYPE_CHECKING:
    import duckdb

    from catapult_nb.store.parquet import ParquetEvents
    from catapult_nb.store.parquet_folder import FolderWrite

__all__ = ["BLOCK", "import_events"]

#: Bytes of JSON lines read in one go (whole lines: a block ends at a line's end).
BLOCK = 32 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"

_STAGED = pa.schema([("number", pa.int64()), ("p", pa.string()), ("time_ns", pa.int64()),
                     ("received_ns", pa.int64()), ("source", pa.string()), ("session", pa.string())])
_GATHERS = pa.schema([("number", pa.int64()), ("gatherId", pa.string()), ("callId", pa.string()),
                      ("createdTime", pa.int64()), ("session", pa.string()), ("options", pa.string())])

# What Python's json reads differently from DuckDB (NaN, trailing commas, escaped surrogates, exponents
# past a double's range): such a line is read by Python. A CASE, as DuckDB stops at the first true WHEN
# (its OR, in a projection, evaluates every side); literals are found with contains(), and a pattern that
# starts with a class (scanned byte by byte) only where a cheaper one it implies matched: 0.6 times the
# time of one regular expression of the same alternatives.
_ODD = """CASE
    WHEN contains(line, 'NaN') OR contains(line, 'Infinity') OR regexp_matches(line, ',\\s*[\\]}]') THEN true
    WHEN contains(line, '\\') AND regexp_matches(line, '\\\\[uU][dD][89a-fA-F]') THEN true
    WHEN regexp_matches(line, '[eE][+-]?[0-9]{3}') THEN regexp_matches(line, '[0-9][eE][+-]?[0-9]{3}')
    ELSE false END"""
_WHITE = "'[' || chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || ']*'"
# ISO times DuckDB reads exactly as parse_time_ns (and a record's received, iso_ns) does: a fixed layout,
# in UTC. Any other spelling is left to them. They are read from the JSON value's own text, quotes
# included: a string in one of these layouts has no escapes, and any other text fails the layout.
_LAYOUTS = (("____-__-__T__:__:__Z", "%Y-%m-%dT%H:%M:%SZ"),
            ("____-__-__T__:__:__.___Z", "%Y-%m-%dT%H:%M:%S.%gZ"),
            ("____-__-__T__:__:__.______Z", "%Y-%m-%dT%H:%M:%S.%fZ"))
_NANO_LAYOUT = ("____-__-__T__:__:__._________Z", "%Y-%m-%dT%H:%M:%S.%nZ")


def _string(json_value: str) -> str:
    """SQL: the text of a JSON string value, NULL for any other value."""
    return f"CASE WHEN starts_with({json_value}, '\"') THEN json_extract_string({json_value}, '$') END"


def _time_ns(json_value: str, nanos: bool = False) -> str:
    """SQL: a JSON string value holding an ISO time in one of the layouts, as UTC nanoseconds; NULL for
    any other value."""
    layouts = (*_LAYOUTS, _NANO_LAYOUT) if nanos else _LAYOUTS
    cases = " ".join(
        f"""WHEN {json_value} LIKE '"{like}"' THEN epoch_ns(try_strptime({json_value}, '"{fmt}"'))"""
        for like, fmt in layouts)
    return f"CASE WHEN substr({json_value}, 2, 2) IN ('19', '20', '21') THEN CASE {cases} END END"


def _first_code(json_value: str) -> str:
    """SQL: the code point of the first character of a JSON string value (NULL for an empty string or
    another value), read from its text unless it starts with an escape."""
    return (f"""CASE WHEN NOT starts_with({json_value}, '"') OR {json_value} = '""' THEN NULL """
            f"WHEN substr({json_value}, 2, 1) = '\\' THEN ord({_string(json_value)}) "
            f"ELSE ord(substr({json_value}, 2, 1)) END")


_GATHER = '{"gatherId":"JSON","callId":"JSON","options":"JSON","createdTime":"JSON","session":"JSON"}'
_GATHER_PRESENT = " + ".join(f"(gs.{name} IS NOT NULL)::INTEGER"
                             for name in ("gatherId", "callId", "options", "createdTime", "session"))

#: Each line of ``lines`` (``number``, ``line``) with a ``kind`` (a Voice API v2 webhook is read by
#: Python): ``skip`` (blank), ``event`` or ``gather``
#: (read here), ``python`` (for the importers' own code); and what an event or gather line holds.
CLASSIFY_SQL = f"""
WITH c AS (
  SELECT number, line,
    CASE WHEN {_ODD} THEN NULL
      WHEN starts_with(line, '{{') THEN try(json_keys(line))
      WHEN json_valid(line) AND json_type(line) = 'OBJECT' THEN json_keys(line) END AS k
  FROM lines
),
t AS (
  SELECT number, line, k, CASE WHEN k IS NOT NULL THEN json_transform(line, '{JSON_FIELDS}') END AS top,
    coalesce(NOT list_contains(k, 'eventType'), false) AS untyped
  FROM c
),
r AS (
  SELECT number, line, k, top, untyped AND coalesce(json_type(top.gather) = 'OBJECT', false) AS is_gather,
    untyped AND list_contains(k, 'payload')
      AND NOT coalesce(json_type(top.gather) = 'OBJECT', false) AS is_record
  FROM t
),
e AS (
  SELECT number, line, k, top, is_gather, is_record,
    CASE WHEN k IS NULL OR is_gather THEN NULL WHEN is_record THEN top.payload::VARCHAR ELSE line END AS p,
    CASE WHEN k IS NULL OR is_gather THEN NULL WHEN NOT is_record THEN k
         WHEN json_type(top.payload) = 'OBJECT' THEN json_keys(top.payload) END AS pk,
    CASE WHEN k IS NULL OR is_gather THEN NULL WHEN NOT is_record THEN top
         WHEN json_type(top.payload) = 'OBJECT' THEN json_transform(top.payload, '{JSON_FIELDS}') END AS s,
    CASE WHEN is_gather THEN json_keys(top.gather) END AS gk,
    CASE WHEN is_gather THEN json_transform(top.gather, '{_GATHER}') END AS gs
  FROM r
),
v AS (
  SELECT number, line, k, p, s, gs, gk, is_gather, list_contains(pk, 'time') AS timed,
    coalesce(list_has_any(pk, [{', '.join(repr(m) for m in V2_MARKERS)}]), false) AS v2,
    CASE WHEN pk IS NOT NULL THEN json(p)::VARCHAR END AS minified,
    CASE WHEN pk IS NOT NULL THEN {known_sql('s')} END AS known,
    {_first_code('s.callId')} AS call_start,
    {_time_ns('s."time"')} AS time_ns,
    is_record AND top.received IS NOT NULL AS has_received,
    CASE WHEN is_record AND top.received IS NOT NULL THEN {_time_ns('top.received', nanos=True)} END
      AS given_received,
    coalesce(CASE WHEN is_record THEN nullif({_string('top.source')}, '') END, '$label') AS source,
    CASE WHEN is_record THEN nullif({_string('top.session')}, '') END AS session,
    {_string('gs.gatherId')} AS gather_id, {_time_ns('gs.createdTime')} AS created_ns
  FROM e
),
canon AS (
  SELECT *, {canonical_sql('p', 'known', 'minified')} AS canonical FROM v
),
w AS (
  SELECT *, CASE WHEN has_received THEN given_received ELSE time_ns END AS received_ns, CASE
    WHEN canonical IS NOT NULL AND call_start BETWEEN 33 AND 126 AND time_ns IS NOT NULL AND NOT v2
         AND (NOT has_received OR given_received IS NOT NULL) THEN 'event'
    WHEN is_gather AND len(gk) = {_GATHER_PRESENT} AND gather_id <> ''
         AND (gs.options IS NULL OR json_type(gs.options) = 'OBJECT')
         AND (gs.createdTime IS NULL OR created_ns IS NOT NULL) THEN 'gather'
    WHEN k IS NULL AND regexp_full_match(line, {_WHITE}) THEN 'skip'
    ELSE 'python' END AS kind
  FROM canon
)
"""
#: The classified lines (:data:`CLASSIFY_SQL`) as a block of the folder's writer, with the gathers' columns.
BLOCK_SQL = CLASSIFY_SQL + block_select(
    "w", p="CASE WHEN kind = 'event' THEN p END", kind="kind", payload="minified",
    dialect="CASE WHEN v2 THEN 'v2' WHEN timed THEN 'v1' END",
    extra=(f"""CASE WHEN kind = 'gather' THEN gather_id END AS "gatherId_g",
    CASE WHEN kind = 'gather' THEN {_string('gs.callId')} END AS "callId_g",
    CASE WHEN kind = 'gather' THEN created_ns END AS "createdTime",
    CASE WHEN kind = 'gather' THEN {_string('gs.session')} END AS gather_session,
    CASE WHEN kind = 'gather' THEN coalesce(json(gs.options)::VARCHAR, '{{}}') END AS options,""")
)


# --------------------------------------------------------------------------------------------------


def import_events(
    events: ParquetEvents,
    source: Any,
    format: str | None = None,
    *,
    source_name: str | None = None,
    callback_path: str | None = None,
    progress: bool | None = None,
) -> ImportReport:
    """Import callback events from ``source`` into the folder (see
    :func:`catapult_nb.store.importers.import_events` for the formats, the rules and the parameters).

    :returns: an :class:`~catapult_nb.store.importers.ImportReport`.
    :raises ImportFormatError: the content is binary, UTF-16, or in no format this reads.
    """
    adapter = cast(Any, _Store(events))

    def read(fmt: str, opened: Opened, report: ImportReport, label: str, show: bool) -> None:
        if fmt == "jsonl":  # the big logs: read in columns
            _import_lines(events, opened, report, label, show)
        else:
            store_all(adapter, READERS[fmt](opened.stream, callback_path), report, label, opened, show)

    return run_import(adapter, source, format, source_name, callback_path, progress, read)


# --------------------------------------------------------------------------------------------------
# The other formats: the importers' readers, writing through the folder's writer


class _Store:
    """What :func:`catapult_nb.store.importers.store_all` writes to: ``bulk()`` of an EventStore."""

    def __init__(self, events: ParquetEvents) -> None:
        self._events = events

    def bulk(self) -> Any:
        return _bulk(self._events)


class _Writer:
    """``add_many`` and ``record_gather`` of the store's BulkWriter, over a :class:`FolderWrite`."""

    def __init__(self, write: FolderWrite) -> None:
        self._write = write
        self._number = 0
        self._gathers: list[tuple[Any, ...]] = []

    def add_many(self, items: list[tuple[Any, ...]]) -> list[bool]:
        rows = []
        for payload, source, session, received_ns, *rest in items:
            self._number += 1
            text = _payload_text(payload)  # every payload first: a bad one must leave the batch unwritten
            time_ns = rest[0] if rest else parse_time_ns(payload.get("time"))
            rows.append((self._number, text, time_ns, received_ns, source, session))
        fresh = set(self._write.add(_staged(rows)).tolist())
        return [row[0] in fresh for row in rows]

    def record_gather(self, gather_id: str, call_id: str | None, options: Any,
                      created_time: str | None = None, session: str | None = None) -> None:
        self._number += 1
        self._gathers.append(_gather_row(self._number, gather_id, call_id, options, created_time, session))

    def flush(self) -> None:
        self._write.record_gathers(_gather_table(self._gathers))
        self._gathers.clear()


def _bulk(events: ParquetEvents) -> Any:
    import contextlib

    @contextlib.contextmanager
    def block() -> Iterator[_Writer]:
        with events.write() as write:
            writer = _Writer(write)
            yield writer
            writer.flush()

    return block()


def _payload_text(payload: Any) -> str:
    """The payload's JSON text as the store writes it; TypeError (as the store raises) when it is not JSON."""
    if not isinstance(payload, Mapping):
        raise TypeError(f"an event payload must be a JSON object (dict), got {type(payload).__name__}")
    try:
        return encode_payload(dict(payload))[0]
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"an event payload must be JSON: string keys, and values that are str, number (not NaN), "
            f"bool, None, list or dict ({exc})"
        ) from None


def _gather_row(number: int, gather_id: str, call_id: str | None, options: Any, created_time: str | None,
                session: str | None) -> tuple[Any, ...]:
    created = parse_time_ns(created_time) if created_time else None
    text = json.dumps(dict(options or {}), separators=(",", ":"), ensure_ascii=False)
    return number, gather_id, call_id, created, session, text


def _staged(rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_STAGED)
    arrays = [pa.array(list(c), f.type) for c, f in zip(columns, _STAGED, strict=True)]
    return pa.table(arrays, schema=_STAGED)


def _gather_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_GATHERS)
    return pa.table([pa.array(list(c), f.type) for c, f in zip(columns, _GATHERS, strict=True)],
                    schema=_GATHERS)


# --------------------------------------------------------------------------------------------------
# JSON lines, in columns


def _import_lines(events: ParquetEvents, opened: Opened, report: ImportReport, label: str,
                  show: bool) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(total=opened.size, unit="B", unit_scale=True, desc=f"importing {label}", disable=not show)
    try:
        with events.write() as write, contextlib.closing(write.connection.cursor()) as reader:
            # three blocks at a time, each step in a thread of its own: one is read and split into lines,
            # the one before is classified (by DuckDB, on a connection of its own), and the one before
            # that deduplicated and written here
            reader.execute("SET enable_progress_bar = false")
            query = BLOCK_SQL.replace("$label", _quoted(label))
            lines = _ahead(_split(*raw) for raw in _blocks(opened.stream))
            ahead = _ahead(_classify(reader, query, block) for block in lines)
            with contextlib.closing(lines), contextlib.closing(ahead):
                for block in ahead:
                    _block(write, block, report, label)
                    bar.update(max(0, opened.position() - bar.n))
            report.imported, report.duplicates = write.imported, write.duplicates
    finally:
        bar.close()


_END = object()


def _ahead(items: Iterator[_Lines]) -> Generator[_Lines, None, None]:
    """The items of ``items``, each next one made in a thread while the caller works on the one before
    (reading, cutting lines and DuckDB's reading let go of the GIL)."""
    with ThreadPoolExecutor(1, thread_name_prefix="catapult_nb-lines") as pool:
        coming = pool.submit(next, items, _END)
        while (item := coming.result()) is not _END:
            coming = pool.submit(next, items, _END)
            yield cast("_Lines", item)


_Block = tuple[int, "bytes | memoryview", "np.ndarray | None", list[int]]


def _blocks(stream: io.BufferedReader) -> Iterator[_Block]:
    """(number of the block's first line, the block, where its lines end — None for a last line without
    a newline —, the lines before it too long to read). A line longer than a block is skipped here, read
    in bounded pieces; the block after it names it."""
    number = 0  # lines before `rest`
    rest = b""
    too_large: list[int] = []
    while True:
        block = stream.read(BLOCK)
        data = rest + block if rest else block
        if not block:
            if data:
                yield number + 1, data, None, too_large
            elif too_large:
                yield number + 1, b"", np.empty(0, dtype=np.int64), too_large
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > MAX_RECORD + 1:  # no line end in sight: too large, whatever follows
                number += 1
                too_large.append(number)
                rest = _skip_line(stream)
            else:
                rest = data
            continue
        view = memoryview(data)[:cut]  # a view: the block is not copied
        ends = np.flatnonzero(np.frombuffer(view, dtype=np.uint8) == 10)
        yield number + 1, view, ends, too_large
        too_large = []
        number += len(ends)
        rest = data[cut:]


class _Lines:
    """A block split into lines: ``table`` (``number``, ``line``) for DuckDB, the others for Python.

    Once classified (:func:`_classify`): ``rows``, the lines' rows (:data:`BLOCK_SQL`); ``counts``, how
    many of each kind; ``slow``, the lines Python reads, those too long to read before the block's first
    among them (their number and text, None for one too large to read); ``gathers``, the gather records
    DuckDB read. The block's text is gone by then.
    """

    def __init__(self, first: int, data: bytes | memoryview, offsets: np.ndarray, large: np.ndarray,
                 python: np.ndarray, table: pa.Table, too_large: list[int]) -> None:
        self.first, self.offsets, self.too_large = first, offsets, too_large
        self.data: bytes | memoryview | None = data
        self.large = large  # over MAX_RECORD: rejected without being read
        self.python = python  # read by Python: too large, or not UTF-8
        self.table: pa.Table | None = table
        self.rows = pa.table({})
        self.counts: dict[str, int] = {}
        self.slow: list[tuple[int, bytes | None]] = []
        self.gathers = pa.table({})


def _classify(reader: duckdb.DuckDBPyConnection, query: str, lines: _Lines) -> _Lines:
    """Check and read the block's lines in DuckDB (:data:`BLOCK_SQL`), on the connection ``reader``;
    keep the text of the lines Python reads, and let the block's go."""
    reader.register("lines", lines.table)
    try:
        rows = lines.rows = reader.sql(query).to_arrow_table()
    finally:
        reader.unregister("lines")
    kinds = rows.column("kind")
    lines.counts = {count["values"]: count["counts"] for count in pc.value_counts(kinds).to_pylist()}
    first, data, offsets = lines.first, cast("bytes | memoryview", lines.data), lines.offsets
    python = rows.filter(pc.equal(kinds, "python")).column("number").to_numpy()
    slow = np.concatenate([first + np.flatnonzero(lines.python), python]).astype(np.int64)
    slow.sort()
    lines.slow = [(number, None) for number in lines.too_large] + [
        (number, None if lines.large[number - first]
         else bytes(data[offsets[number - first] : offsets[number - first + 1]]))
        for number in slow.tolist()]
    lines.gathers = (rows.filter(pc.equal(kinds, "gather"))
                     .select(["number", "gatherId_g", "callId_g", "createdTime", "gather_session", "options"])
                     .rename_columns(_GATHERS.names).sort_by("number").cast(_GATHERS))
    lines.table = lines.data = None  # their memory goes: the rows and the slow lines hold what is needed
    return lines


def _split(first: int, data: bytes | memoryview, ends: np.ndarray | None, too_large: list[int]) -> _Lines:
    """Cut a block into lines, as Arrow strings without a copy."""
    complete = ends is not None
    if ends is None:
        ends = np.append(np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10), len(data))
    if first == 1 and bytes(data[: len(_BOM)]) == _BOM:
        data, ends = data[len(_BOM) :], ends - len(_BOM)
    offsets = np.concatenate([[0], np.minimum(ends + 1, len(data))]).astype(np.int64)
    count = len(ends)
    numbers = np.arange(first, first + count, dtype=np.int64)
    lengths = ends - offsets[:-1]
    large = lengths > MAX_RECORD + 1  # as the store's reader cuts lines: a last line without its end
    if not complete and count:  # counts one byte less
        large[-1] = lengths[-1] > MAX_RECORD
    python = large.copy()
    binary = pa.LargeBinaryArray.from_buffers(pa.large_binary(), count, [None, pa.py_buffer(offsets),
                                                                         pa.py_buffer(data)])
    try:
        lines = binary.cast(pa.large_string())
    except pa.ArrowInvalid:  # a line that is not UTF-8: find it (them), the others stay in columns
        python |= np.array([not _utf8(data[a:b]) for a, b in itertools.pairwise(offsets)])
        blanked = pc.if_else(pa.array(python), pa.scalar(b"", pa.large_binary()), binary)
        lines = blanked.cast(pa.large_string())
    if python.any():
        kept = ~python
        numbers, lines = numbers[kept], lines.filter(pa.array(kept))
    table = pa.table({"number": numbers, "line": lines})
    # batches: DuckDB reads them on all its threads
    table = pa.Table.from_batches(table.to_batches(max_chunksize=1 << 14), schema=table.schema)
    return _Lines(first, data, offsets, large, python, table, too_large)


def _skip_line(stream: io.BufferedReader) -> bytes:
    """Read past the end of the current line; what follows it."""
    while True:
        piece = stream.read(1 << 16)
        if not piece:
            return b""
        end = piece.find(b"\n")
        if end >= 0:
            return piece[end + 1 :]


def _block(write: FolderWrite, block: _Lines, report: ImportReport, label: str) -> None:
    """Hand one classified block's events and gathers to the writer, the lines Python reads first."""
    write.stage_table(block.rows)
    counts = block.counts
    report.skipped += counts.get("skip", 0)
    report.read += counts.get("event", 0) + counts.get("gather", 0)
    report.gathers += counts.get("gather", 0)
    rows: list[tuple[Any, ...]] = []
    gathers: list[tuple[Any, ...]] = []
    for number, line in block.slow:
        _python_line(number, line, report, label, rows, gathers)
    write.stage_more(_staged(rows))
    write.flush(numbers=False)
    quick = block.gathers
    if gathers:
        quick = pa.concat_tables([quick, _gather_table(gathers)]).sort_by("number")
    write.record_gathers(quick)


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def _utf8(line: bytes | memoryview) -> bool:
    try:
        bytes(line).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Gathers:
    """``record_gather`` for :func:`catapult_nb.store.importers.record_gather`: collects the row."""

    def __init__(self, number: int, into: list[tuple[Any, ...]]) -> None:
        self._number, self._into = number, into

    def record_gather(self, gather_id: str, call_id: str | None, options: Any, created_time: str | None,
                      session: str | None) -> None:
        self._into.append(_gather_row(self._number, gather_id, call_id, options, created_time, session))


def _python_line(number: int, line: bytes | None, report: ImportReport, label: str,
                 rows: list[tuple[Any, ...]], gathers: list[tuple[Any, ...]]) -> None:
    """One line (None: too large to read) through the importers' own code: a rejection with its reason,
    a gather or an event row."""
    record = jsonl_record(number, None if line is None else line.rstrip(b"\r\n"))
    if isinstance(record, Skipped):
        report.skipped += 1
        return
    report.read += 1
    if isinstance(record, Rejected):
        report.reject(number, record.reason, record.detail, record.raw)
    elif isinstance(record, GatherRecord):
        problem = record_gather(_Gathers(number, gathers), record.record)
        if problem:
            report.reject(number, "bad-gather", problem, record.record)
        else:
            report.gathers += 1
    elif isinstance(record, EventRecord):
        checked = check_event(record, report)
        if checked is None:
            return
        event, payload, received, time_ns = checked
        try:
            text = _payload_text(payload)
        except TypeError as exc:
            report.reject(number, "not-json", str(exc), event.raw)
            return
        rows.append((number, text, time_ns, received, event.source or label, event.session))

