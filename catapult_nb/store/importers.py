"""Callback events recorded elsewhere, into an :class:`~catapult_nb.store.EventStore`.

:func:`import_events` (also ``EventStore.import_events``) reads four formats, streamed so that memory
stays bounded whatever the file's size:

========== ==========================================================================================
``jsonl``  JSON lines: a bare callback payload per line, or ``{"payload": …, "received": …}`` records
           (``source`` and ``session`` too), or ``{"gather": {…}}`` lines naming a gather's options
           (what :meth:`EventStore.to_jsonl` writes).
``csv``    the CSV that :meth:`EventStore.to_csv` writes (its ``payload`` column holds the JSON).
``har``    HAR 1.2 from a browser or a proxy: each POST (or GET) whose JSON or form body is a callback
           (it has an ``eventType``); a gather create request answered 201 records the gather's options.
``ngrok``  an ngrok agent's ``/api/requests/http`` JSON, from a file or a running agent's URL
           (``http://127.0.0.1:4040``), read through pyngrok's API client.
========== ==========================================================================================

Files may be gzip, bzip2 or xz compressed. The format is read from the content unless given.

Rules, the same for every format:

* An event keeps its own ``time``; ``received`` is the record's (JSONL records, CSV rows, HAR's
  ``startedDateTime``, ngrok's ``start``), else the event's ``time``. ``source`` is the record's own
  (as :meth:`EventStore.to_jsonl` and ``to_csv`` write it) or the file's name.
* An event without a readable ``callId`` or ``time``, a line that is not JSON, a record over 64 KiB (the
  receiver's limit) or one that is not UTF-8 is rejected: the report names its line (or HAR/ngrok entry)
  number and the reason. Nothing else stops an import.
* Events go through the store's own insert path, so duplicates are recognised exactly as for live
  deliveries: importing a file twice adds nothing.
* One import is one transaction: if it fails half way, the store is as it was.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import csv
import gzip
import html
import io
import json
import lzma
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import orjson
import pandas as pd

from catapult_nb.store.store import EventStore, canonical_json, parse_time_ns

__all__ = ["FORMATS", "MAX_RECORD", "ImportFormatError", "ImportReport", "import_events"]

#: The formats :func:`import_events` reads, by name.
FORMATS: tuple[str, ...] = ("jsonl", "csv", "har", "ngrok")
_ALIASES = {"json-lines": "jsonl", "ndjson": "jsonl", "jsonlines": "jsonl", "ngrok-agent": "ngrok"}

#: A record (a line, a CSV row, a request body) larger than this is rejected: the receiver's limit.
MAX_RECORD = 64 * 1024

#: The report lists this many rejected records in full (it counts all of them).
REJECTED_LISTED = 1000

_BATCH = 2000  # events handed to the store at once
_HEAD = 64 * 1024  # bytes looked at to recognise the format
_PROGRESS_FROM = 8 * 1024 * 1024  # files at least this large show a progress bar
_GATHER_PATH = re.compile(r"/users/[^/]+/calls/([^/]+)/gather/?$")
_ISO = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


class ImportFormatError(ValueError):
    """The file is not in a format :func:`import_events` reads; the message says what it looks like."""


# --------------------------------------------------------------------------------------------------
# The report


@dataclass
class ImportReport:
    """What one :func:`import_events` call did.

    ``read == imported + duplicates + rejected_count + gathers``; HAR and ngrok entries that are not
    callbacks (other traffic) are counted in ``skipped`` and nowhere else.
    """

    source: str  # the file's name (or the agent's URL)
    format: str  # the format read
    read: int = 0  # records read: lines, rows or callback entries
    imported: int = 0  # new events stored
    duplicates: int = 0  # events the store already had (or that came twice in the file)
    rejected_count: int = 0  # records refused; see rejected
    gathers: int = 0  # gather create requests recorded (their options)
    skipped: int = 0  # HAR / ngrok entries that are not callbacks
    notes: list[str] = field(default_factory=list)  # things worth knowing (an empty file …)
    _rejected: list[tuple[int, str, str, str]] = field(default_factory=list, repr=False)

    def reject(self, number: int, reason: str, detail: str, raw: Any = "") -> None:
        self.rejected_count += 1
        if len(self._rejected) < REJECTED_LISTED:
            self._rejected.append((number, reason, detail, _excerpt(raw)))

    @property
    def rejected(self) -> pd.DataFrame:
        """The rejected records: ``number`` (line, row or entry, from 1), ``reason``, ``detail`` and
        ``excerpt`` (the record's first 120 characters); the first :data:`REJECTED_LISTED` of them."""
        frame = pd.DataFrame(self._rejected, columns=["number", "reason", "detail", "excerpt"])
        dtypes = {"number": "int64", "reason": "category", "detail": "string", "excerpt": "string"}
        frame = frame.astype(dtypes)
        return frame.rename(columns={"number": self.unit})

    @property
    def unit(self) -> str:
        """What ``number`` counts: ``line``, ``row`` or ``entry``."""
        return {"jsonl": "line", "csv": "line"}.get(self.format, "entry")

    def counts(self) -> dict[str, int]:
        """The counts as a dict."""
        return {"read": self.read, "imported": self.imported, "duplicates": self.duplicates,
                "rejected": self.rejected_count, "gathers": self.gathers, "skipped": self.skipped}

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v:,}" for k, v in self.counts().items())
        return f"ImportReport({self.source!r}, format={self.format!r}, {counts})"

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{k}</td><td>{v:,}</td></tr>" for k, v in self.counts().items())
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        shown = self.rejected.head(20)
        table = ""
        if len(shown):
            more = self.rejected_count - len(shown)
            table = (f"<p>Rejected {self.unit}s{f' (first 20 of {self.rejected_count:,})' if more else ''}"
                     "</p>" + shown.to_html(index=False, escape=True))
        return (f"<div><b>Import</b> <code>{html.escape(self.source)}</code> ({html.escape(self.format)})"
                f"<table>{cells}</table>{f'<ul>{notes}</ul>' if notes else ''}{table}</div>")


def _excerpt(raw: Any, limit: int = 120) -> str:
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw[: limit * 4]).decode("utf-8", "replace")
    text = str(raw)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------------
# Records: what the readers hand to the importer


@dataclass
class _Event:
    number: int
    payload: Any
    received: Any = None  # as found in the record (text or number); None: the event's time
    source: str | None = None
    session: str | None = None
    raw: Any = ""


@dataclass
class _Gather:
    number: int
    record: dict[str, Any]


@dataclass
class _Reject:
    number: int
    reason: str
    detail: str
    raw: Any = ""


@dataclass
class _Skip:
    number: int


_Record = _Event | _Gather | _Reject | _Skip


# --------------------------------------------------------------------------------------------------
# The entry point


def import_events(
    store: EventStore,
    source: Any,
    format: str | None = None,
    *,
    source_name: str | None = None,
    callback_path: str | None = None,
    progress: bool | None = None,
) -> ImportReport:
    """Import callback events from ``source`` into ``store`` (see the module docstring for the rules).

    :param store: where the events go.
    :param source: a path, a binary file object, ``bytes`` holding the content, or (``ngrok``) the URL of a
        running agent's API such as ``http://127.0.0.1:4040``.
    :param format: ``"jsonl"``, ``"csv"``, ``"har"`` or ``"ngrok"``; None reads it from the content.
    :param source_name: the ``source`` label for events that do not carry one (default: the file name).
    :param callback_path: HAR and ngrok: only requests whose URL path starts with this are callbacks
        (default: every request whose body has an ``eventType``).
    :param progress: show a progress bar (``tqdm.auto``); None shows one for files over 8 MiB.
    :returns: an :class:`ImportReport`.
    :raises ImportFormatError: the content is binary, UTF-16, or in no format this reads.
    :raises ValueError: an unknown ``format`` name.
    :raises FileNotFoundError: no such file.
    """
    fmt = _format_name(format)
    if isinstance(source, str) and re.match(r"https?://", source):
        return _import_agent(store, source, fmt, source_name, callback_path)
    opened = _open(source)
    try:
        label = source_name or opened.name
        if opened.empty:
            report = ImportReport(label, fmt or "empty")
            report.notes.append("the file is empty: nothing to import")
            return report
        fmt = fmt or _detect(opened.head)
        report = ImportReport(label, fmt)
        records = _READERS[fmt](opened.stream, callback_path)
        show = progress if progress is not None else opened.size >= _PROGRESS_FROM
        _store_all(store, records, report, label, opened, show)
    finally:
        opened.close()
    if report.read == 0 and not report.notes:
        what = "callback requests" if fmt in ("har", "ngrok") else "records"
        among = f" among {report.skipped:,} entries" if report.skipped else ""
        report.notes.append(f"no {what} found{among}")
    return report


def _format_name(format: str | None) -> str | None:
    if format is None:
        return None
    name = _ALIASES.get(str(format).lower(), str(format).lower())
    if name not in FORMATS:
        raise ValueError(
            f"unknown import format {format!r}: use one of {', '.join(FORMATS)} (or None to detect)"
        )
    return name


def _store_all(store: EventStore, records: Iterator[_Record], report: ImportReport, label: str,
               opened: _Opened, show: bool) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(total=opened.size, unit="B", unit_scale=True, desc=f"importing {label}", disable=not show)
    try:
        with store.bulk() as writer:
            batch: list[tuple[_Event, dict[str, Any], int, int]] = []
            for record in records:
                if isinstance(record, _Skip):
                    report.skipped += 1
                    continue
                report.read += 1
                if isinstance(record, _Reject):
                    report.reject(record.number, record.reason, record.detail, record.raw)
                elif isinstance(record, _Gather):
                    problem = _record_gather(writer, record.record)
                    if problem:
                        report.reject(record.number, "bad-gather", problem, record.record)
                    else:
                        report.gathers += 1
                else:
                    checked = _check_event(record, report)
                    if checked is not None:
                        batch.append(checked)
                    if len(batch) >= _BATCH:
                        _flush(writer, batch, report, label)
                        bar.update(max(0, opened.position() - bar.n))
            _flush(writer, batch, report, label)
            bar.update(max(0, opened.position() - bar.n))
    finally:
        bar.close()


def _check_event(record: _Event, report: ImportReport) -> tuple[_Event, dict[str, Any], int, int] | None:
    """The event and its receive time, or None when it is rejected (the report says why)."""
    payload = record.payload
    problem, time_ns = _event_problem(payload)
    if problem is None:
        received = time_ns if record.received is None else _received_ns(record.received, payload["time"])
        if received is None:
            detail = f"received {record.received!r} is not a time (ISO 8601 or epoch seconds)"
            problem = ("bad-received", detail)
        else:
            return record, payload, received, cast(int, time_ns)  # as the batch declares it; no change
    report.reject(record.number, *problem, record.raw)
    return None


def _event_problem(payload: Any) -> tuple[tuple[str, str] | None, int | None]:
    """(reason, detail) of what is wrong with an event, or None and its time in UTC nanoseconds."""
    if not isinstance(payload, dict):
        return ("not-an-object", f"an event is a JSON object, this is {type(payload).__name__}"), None
    call_id = payload.get("callId")
    if call_id is None:
        return ("no-callId", "the event has no callId"), None
    if not isinstance(call_id, str) or not call_id.strip():
        return ("bad-callId", f"callId {call_id!r} is not a non-empty string"), None
    moment = payload.get("time")
    if moment is None:
        return ("no-time", "the event has no time"), None
    time_ns = parse_time_ns(moment)
    if time_ns is None:
        return ("bad-time", f"time {moment!r} is not an ISO 8601 time"), None
    return None, time_ns


def _flush(writer: Any, batch: list[tuple[_Event, dict[str, Any], int, int]], report: ImportReport,
           label: str) -> None:
    if not batch:
        return
    items = [(payload, event.source or label, event.session, received, time_ns)
             for event, payload, received, time_ns in batch]
    try:
        stored = writer.add_many(items)
    except TypeError:  # a value JSON cannot hold (NaN, 1e999): find it, store the rest
        stored = []
        for item, (event, *_) in zip(items, batch, strict=True):
            try:
                stored += writer.add_many([item])
            except TypeError as exc:
                stored.append(None)
                report.reject(event.number, "not-json", str(exc), event.raw)
    for flag in stored:
        if flag is True:
            report.imported += 1
        elif flag is False:
            report.duplicates += 1
    batch.clear()


def _record_gather(writer: Any, record: Any) -> str | None:
    """Record a gather line's options; a sentence saying what is wrong, or None."""
    if not isinstance(record, dict):
        return "a gather record is a JSON object"
    gather_id, options = record.get("gatherId"), record.get("options", {})
    if not isinstance(gather_id, str) or not gather_id:
        return "the gather record has no gatherId"
    if not isinstance(options, dict):
        return "the gather record's options are not a JSON object"
    created = record.get("createdTime")
    if created is not None and parse_time_ns(created) is None:
        return f"createdTime {created!r} is not an ISO 8601 time"
    call_id, session = record.get("callId"), record.get("session")
    writer.record_gather(gather_id, call_id if isinstance(call_id, str) else None, options, created,
                         session if isinstance(session, str) else None)
    return None


def iso_ns(value: str) -> int | None:
    """An ISO 8601 time with up to nanoseconds (``2026-01-01T10:00:00.123456789Z``) as UTC ns."""
    match = _ISO.match(value.strip())
    if not match:
        return None
    whole, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(whole.replace(" ", "T"))
    except ValueError:
        return None
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * (pd.Timedelta(hours=int(digits[:2]), minutes=int(digits[2:])).to_pytimedelta())
    seconds = int(moment.replace(tzinfo=timezone.utc).timestamp())
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def _received_ns(value: Any, event_time: str) -> int | None:
    if value is None:
        return parse_time_ns(event_time)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1_000_000_000) if value == value and abs(value) < 1e11 else None
    if isinstance(value, str):
        return iso_ns(value)
    return None


# --------------------------------------------------------------------------------------------------
# Opening: paths, bytes, file objects; compression; the head for detection


class _Opened:
    """A binary stream over the (decompressed) content, its first bytes, its size and a label."""

    def __init__(self, stream: io.BufferedReader, head: bytes, size: int, name: str,
                 raw: Any, owned: list[Any]) -> None:
        self.stream, self.head, self.size, self.name = stream, head, size, name
        self.empty = not head
        self._raw = raw  # the underlying file, for progress in compressed bytes
        self._owned = owned

    def position(self) -> int:
        try:
            return int(self._raw.tell())
        except (OSError, ValueError, AttributeError):
            return 0

    def close(self) -> None:
        for item in reversed(self._owned):
            item.close()


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: the format is sniffed without seeking back."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if len(self._head):
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _open(source: Any) -> _Opened:
    owned: list[Any] = []
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw: Any = io.BytesIO(bytes(source))
        name, size = "bytes", len(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder: give a file (JSON lines, CSV, HAR or ngrok JSON)")
        raw = open(path, "rb")  # noqa: SIM115 — closed by _Opened.close
        name, size = path.name, path.stat().st_size
    elif hasattr(source, "read"):
        if isinstance(source, io.TextIOBase):
            if not hasattr(source, "buffer"):
                raise TypeError("give a binary file object (open(path, 'rb')) or the path")
            source = source.buffer
        raw = source
        name = os.path.basename(str(getattr(source, "name", "stream")))
        size = _stream_size(source)
    else:
        raise TypeError(
            "source must be a path, bytes, a binary file object or an ngrok agent URL, "
            f"got {type(source).__name__}"
        )
    if raw is not source:
        owned.append(raw)
    stream = _decompressed(raw, owned)
    head = _read_head(stream)
    buffered = cast(io.BufferedReader, io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 16))
    return _Opened(buffered, head, size, name, raw, owned)


def _stream_size(stream: Any) -> int:
    try:
        here = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(here)
        return int(end - here)
    except (OSError, ValueError, AttributeError):
        return 0


def _decompressed(raw: Any, owned: list[Any]) -> Any:
    magic = _peek(raw, 6)
    opener: Any = None
    if magic.startswith(b"\x1f\x8b"):
        opener = lambda f: gzip.GzipFile(fileobj=f)  # noqa: E731
    elif magic.startswith(b"BZh"):
        opener = bz2.BZ2File
    elif magic.startswith(b"\xfd7zXZ\x00"):
        opener = lzma.LZMAFile
    if opener is None:
        return _Prefixed(magic, raw) if magic else raw
    inner = opener(_Prefixed(magic, raw))  # type: ignore[operator]
    owned.append(inner)
    return inner


def _peek(raw: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = raw.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _read_head(stream: Any) -> bytes:
    try:
        return _peek(stream, _HEAD)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ImportFormatError(f"the file looks compressed but cannot be read: {exc}") from None


def _detect(head: bytes) -> str:
    """The format, from the first bytes; ImportFormatError when none fits."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFormatError(
            "the file is UTF-16 encoded; convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8 in > out)"
        )
    sample = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if b"\x00" in head or _looks_binary(sample):
        raise ImportFormatError(
            "the file looks binary, not text: import_events reads JSON lines, the CSV to_csv writes, HAR "
            "or ngrok's /api/requests/http JSON (optionally gzip, bzip2 or xz compressed)"
        )
    if sample.startswith(b"{"):
        first = sample.split(b"\n", 1)[0]
        try:
            obj = json.loads(first)
        except ValueError:
            obj = None
        keys = obj.keys() if isinstance(obj, dict) else ()
        if "log" in keys or re.search(rb'^\s*\{\s*"log"\s*:', sample):
            return "har"
        if "requests" in keys or re.search(rb'^\s*\{\s*"(uri|requests)"\s*:', sample):
            return "ngrok"
        return "jsonl"
    if sample.startswith(b"["):
        raise ImportFormatError(
            "the file is one JSON array; write one JSON object per line (JSON lines) to import it"
        )
    header = sample.split(b"\n", 1)[0]
    if b"payload" in header and b"," in header:
        return "csv"
    raise ImportFormatError(
        f"cannot tell the format of a file starting {_excerpt(sample, 60)!r}: give format= one of "
        f"{', '.join(FORMATS)}"
    )


def _looks_binary(sample: bytes) -> bool:
    probe = sample[:4096]
    if not probe:
        return False
    controls = sum(1 for b in probe if b < 32 and b not in (9, 10, 13))
    return controls > len(probe) // 20


# --------------------------------------------------------------------------------------------------
# Readers, one per format: each yields records


def _lines(stream: io.BufferedReader) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line without its end) — or (number, None) for a line over MAX_RECORD, skipped
    without reading it whole."""
    number = 0
    while True:
        line = stream.readline(MAX_RECORD + 2)
        if not line:
            return
        number += 1
        if not line.endswith(b"\n") and len(line) > MAX_RECORD:
            while True:  # the rest of the long line, in bounded pieces
                rest = stream.readline(1 << 16)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        yield number, line.rstrip(b"\r\n")


def _decode_json(line: bytes) -> tuple[Any, tuple[str, str] | None]:
    try:  # orjson is strict: what it reads, json reads the same, but for an int past 64 bits (a float)
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        pass  # json says what is wrong, as it always has (or reads what orjson refuses, like NaN)
    else:
        if (isinstance(value, dict) and _PLAIN.issuperset(map(type, value.values()))) or (
            _LONG_NUMBER.search(line) is None
        ):
            return value, None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, ("not-utf-8", f"byte 0x{line[exc.start]:02x} at column {exc.start + 1} is not UTF-8")
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        return None, ("not-json", str(exc)[:200])
    if "\\u" in text:
        try:
            canonical_json(value).encode("utf-8")
        except UnicodeEncodeError:
            return None, ("not-json", "holds an escaped lone surrogate (\\ud800-\\udfff), which is not text")
        except (ValueError, TypeError, RecursionError) as exc:
            return None, ("not-json", str(exc)[:200])
    return value, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # built once: one per line costs
_LONG_NUMBER = re.compile(rb"[0-9]{19}")
_PLAIN = frozenset({str, int, bool, type(None)})  # no float: no int was read as one


def _read_jsonl(stream: io.BufferedReader, _callback_path: str | None) -> Iterator[_Record]:
    for number, line in _lines(stream):
        if line is None:
            yield _Reject(number, "too-large", f"the line is over {MAX_RECORD:,} bytes")
            continue
        if not line.strip():
            yield _Skip(number)
            continue
        value, problem = _decode_json(line)
        if problem:
            yield _Reject(number, *problem, line)
        elif isinstance(value, dict) and "eventType" not in value and isinstance(value.get("gather"), dict):
            yield _Gather(number, value["gather"])
        elif isinstance(value, dict) and "eventType" not in value and "payload" in value:
            yield _Event(number, value["payload"], value.get("received"), _opt_str(value.get("source")),
                         _opt_str(value.get("session")), line)
        else:
            yield _Event(number, value, raw=line)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _read_csv(stream: io.BufferedReader, _callback_path: str | None) -> Iterator[_Record]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD * 4))
    reader = csv.reader(text)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    if "payload" not in header:
        raise ImportFormatError(
            "this CSV has no payload column: only the CSV that EventStore.to_csv writes can be imported"
        )
    names = ("payload", "received", "source", "session")
    where = {name: header.index(name) for name in names if name in header}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _Reject(reader.line_num, "bad-csv", str(exc))
            continue
        number = reader.line_num
        if not any(row):
            yield _Skip(number)
            continue
        if len(row) != len(header):
            detail = f"{len(row)} fields, the header has {len(header)}"
            yield _Reject(number, "bad-csv", detail, ",".join(row))
            continue
        body = row[where["payload"]]
        raw = body.encode("utf-8", "surrogateescape")
        if len(raw) > MAX_RECORD:
            yield _Reject(number, "too-large", f"the payload is over {MAX_RECORD:,} bytes", raw)
            continue
        value, problem = _decode_json(raw)
        if problem:
            yield _Reject(number, *problem, raw)
            continue
        cells = {name: row[index] or None for name, index in where.items()}
        yield _Event(number, value, cells.get("received"), cells.get("source"), cells.get("session"), raw)


def _json_items(stream: io.BufferedReader, prefix: str, what: str) -> Iterator[Any]:
    import ijson

    try:
        yield from ijson.items(stream, prefix, use_float=True)
    except ijson.JSONError as exc:
        raise ImportFormatError(f"the {what} file is not valid JSON ({exc}); nothing was imported") from None
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"the {what} file is not UTF-8 ({exc}); nothing was imported") from None


@dataclass
class _Captured:
    """One captured HTTP request, as a HAR file or ngrok's inspector records it."""

    method: str  # upper case
    url: str  # absolute
    content_type: str
    body: bytes | None
    received: Any  # when it was captured, as recorded
    gather: dict[str, Any] | None = None  # a gather record, when the request created a gather


def _captured(entries: Iterable[Any], what: str, read: Callable[[dict[str, Any], dict[str, Any]], _Captured],
              callback_path: str | None) -> Iterator[_Record]:
    """Records from captured exchanges: a gather it created, else a callback (or a skip).

    :param entries: the exchanges, each a JSON object with a ``request`` object.
    :param what: the entry, named in a rejection (``"a HAR entry"``).
    :param read: the format's reader of ``(entry, request)``.
    """
    for number, entry in enumerate(entries, start=1):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            yield _Reject(number, "bad-entry", f"{what} without a request", entry)
            continue
        captured = read(entry, request)
        if captured.gather is not None:
            yield _Gather(number, captured.gather)
        else:
            yield _callback(number, captured.method, captured.url, captured.content_type, captured.body,
                            captured.received, callback_path)


def _read_har(stream: io.BufferedReader, callback_path: str | None) -> Iterator[_Record]:
    entries = _json_items(stream, "log.entries.item", "HAR")
    yield from _captured(entries, "a HAR entry", _har_request, callback_path)


def _har_request(entry: dict[str, Any], request: dict[str, Any]) -> _Captured:
    method = str(request.get("method", "")).upper()
    url = str(request.get("url", ""))
    headers = {str(h.get("name", "")).lower(): str(h.get("value", ""))
               for h in request.get("headers", []) if isinstance(h, dict)}
    post_data = request.get("postData")
    post: dict[str, Any] = post_data if isinstance(post_data, dict) else {}
    text = post.get("text")
    body: bytes | None = None
    if isinstance(text, str):
        body = _b64(text) if post.get("encoding") == "base64" else text.encode("utf-8", "surrogatepass")
    elif isinstance(post.get("params"), list):
        body = "&".join(f"{p.get('name', '')}={p.get('value', '')}" for p in post["params"]).encode()
    content_type = str(post.get("mimeType") or headers.get("content-type", ""))
    started = entry.get("startedDateTime")
    gather = _gather_create(method, url, body, entry.get("response"), started)
    return _Captured(method, url, content_type, body, started, gather)


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return None


def _gather_create(method: str, url: str, body: bytes | None, response: Any, started: Any) -> dict | None:
    """A gather create request answered 201: its options, as a gather record."""
    match = _GATHER_PATH.search(urlsplit(url).path)
    if method != "POST" or not match or not isinstance(response, dict) or response.get("status") != 201:
        return None
    location = next((str(h.get("value", "")) for h in response.get("headers", [])
                     if isinstance(h, dict) and str(h.get("name", "")).lower() == "location"), "")
    options, problem = _decode_json(body or b"{}")
    if problem or not location.rstrip("/").rsplit("/", 1)[-1]:
        return None
    return {"gatherId": location.rstrip("/").rsplit("/", 1)[-1], "callId": match.group(1),
            "createdTime": started, "options": options}


def _callback(number: int, method: str, url: str, content_type: str, body: bytes | None, received: Any,
              callback_path: str | None) -> _Record:
    """A request as a callback event, a rejection (a callback path with a bad body) or a skip."""
    parts = urlsplit(url)
    on_path = callback_path is not None and parts.path.startswith(callback_path)
    if callback_path is not None and not on_path:
        return _Skip(number)
    if method == "GET":
        payload: Any = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "eventType" not in payload:
            return _Reject(number, "not-a-callback", "a GET without eventType") if on_path else _Skip(number)
        return _Event(number, payload, received, raw=url)
    if method != "POST" or body is None:
        return _Reject(number, "not-a-callback", f"{method} without a body") if on_path else _Skip(number)
    if len(body) > MAX_RECORD:
        return _Reject(number, "too-large", f"the body is over {MAX_RECORD:,} bytes", body)
    if "form-urlencoded" in content_type:
        try:
            payload = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return _Reject(number, "not-utf-8", "the form body is not UTF-8", body)
        problem = None
    else:
        payload, problem = _decode_json(body)
    if problem:
        return _Reject(number, *problem, body) if on_path else _Skip(number)
    if not isinstance(payload, dict) or "eventType" not in payload:
        if not on_path:
            return _Skip(number)
        return _Reject(number, "not-a-callback", "the body has no eventType", body)
    return _Event(number, payload, received, raw=body)


def _read_ngrok(stream: io.BufferedReader, callback_path: str | None) -> Iterator[_Record]:
    yield from _ngrok_entries(_json_items(stream, "requests.item", "ngrok"), callback_path)


def _ngrok_entries(entries: Iterable[Any], callback_path: str | None) -> Iterator[_Record]:
    return _captured(entries, "an ngrok entry", _ngrok_request, callback_path)


def _ngrok_request(entry: dict[str, Any], request: dict[str, Any]) -> _Captured:
    uri = str(request.get("uri", ""))
    given_headers = request.get("headers")
    headers: dict[str, Any] = given_headers if isinstance(given_headers, dict) else {}
    content_type = ";".join(str(v) for k, vs in headers.items() if k.lower() == "content-type"
                            for v in (vs if isinstance(vs, list) else [vs]))
    body = None
    raw = request.get("raw")
    if isinstance(raw, str):
        decoded = _b64(raw)
        if decoded is not None:
            body = decoded.partition(b"\r\n\r\n")[2]
    url = uri if "://" in uri else "http://agent" + uri
    return _Captured(str(request.get("method", "")).upper(), url, content_type, body, entry.get("start"))


def _import_agent(store: EventStore, url: str, fmt: str | None, source_name: str | None,
                  callback_path: str | None) -> ImportReport:
    """The captured requests of a running ngrok agent, through pyngrok's API client."""
    from pyngrok import ngrok
    from pyngrok.exception import PyngrokError

    if fmt not in (None, "ngrok"):
        raise ValueError(f"a URL is read as a running ngrok agent; format={fmt!r} does not apply")
    base = url.rstrip("/")
    endpoint = base if base.endswith("/api/requests/http") else base + "/api/requests/http"
    try:
        data = ngrok.api_request(endpoint, method="GET", timeout=10)
    except PyngrokError as exc:
        raise ConnectionError(
            f"could not read the ngrok agent's captured requests at {endpoint}: {exc}"
        ) from None
    label = source_name or f"ngrok agent {urlsplit(base).netloc}"
    report = ImportReport(label, "ngrok")
    entries = data.get("requests") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ImportFormatError(f"{endpoint} did not answer with ngrok's {{'requests': [...]}} JSON")
    opened = _Opened(io.BufferedReader(io.BytesIO(b"")), b"{}", 0, label, None, [])
    _store_all(store, _ngrok_entries(entries, callback_path), report, label, opened, False)
    if report.read == 0:
        report.notes.append(f"no callback requests found among {report.skipped:,} captured requests")
    return report


_READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "har": _read_har, "ngrok": _read_ngrok}
