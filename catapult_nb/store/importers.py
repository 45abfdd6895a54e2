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
* Voice API v2 webhooks are read beside v1 events; their time is ``eventTime``. In a HAR, the
  ``<Gather>`` verbs of the BXML an app answered a v2 webhook with (or of a ``PUT …/calls/{callId}/bxml``)
  are recorded as that call's gathers (:mod:`catapult_nb.store.bxml`); an answer that is not XML is a
  rejected entry (``bad-bxml``). v2's create-call requests are not events.
* An event without a readable ``callId`` or time (v1 ``time``, v2 ``eventTime``), a line that is not JSON, a
  record over 64 KiB (the receiver's limit) or one that is not UTF-8 is rejected: the report names its line
  (or HAR/ngrok entry) number and the reason. Nothing else stops an import.
* Events go through the store's own insert path, so duplicates are recognised exactly as for live
  deliveries: importing a file twice adds nothing.
* One import is one transaction: if it fails half way, the store is as it was.
"""

from __future__ import annotations

import bz2
import gzip
import html
import io
import json
import lzma
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import pandas as pd

from catapult_nb.store.formats import (
    MAX_RECORD,
    READERS,
    EventRecord,
    GatherRecord,
    ImportFormatError,
    Record,
    Rejected,
    Skipped,
    ngrok_entries,
)
from catapult_nb.store.keys import TIME_RANGE, event_time, in_time_range, parse_time_ns, time_field

if TYPE_CHECKING:
    from catapult_nb.store.store import EventStore

__all__ = ["FORMATS", "MAX_RECORD", "ImportFormatError", "ImportReport", "import_events"]

#: The formats :func:`import_events` reads, by name.
FORMATS: tuple[str, ...] = ("jsonl", "csv", "har", "ngrok")
_ALIASES = {"json-lines": "jsonl", "ndjson": "jsonl", "jsonlines": "jsonl", "ngrok-agent": "ngrok"}

#: The report lists this many rejected records in full (it counts all of them).
REJECTED_LISTED = 1000

_BATCH = 2000  # events handed to the store at once
_HEAD = 64 * 1024  # bytes looked at to recognise the format
PROGRESS_FROM = 8 * 1024 * 1024  # files at least this large show a progress bar
_ISO = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


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
    return run_import(store, source, format, source_name, callback_path, progress)


#: How an import reads an opened source in a known format into its store: ``(format, opened, report,
#: label, show the bar)``. The default is :func:`store_all` over the format's reader.
ReadInto = Callable[[str, "Opened", ImportReport, str, bool], None]


def run_import(store: Any, source: Any, format: str | None, source_name: str | None,
               callback_path: str | None, progress: bool | None, read: ReadInto | None = None
               ) -> ImportReport:
    """What every import does around the reading: an ngrok agent's URL, opening the source, an empty or
    blank file, detecting the format, the progress bar's threshold and the closing notes — for
    :func:`import_events` and for the Parquet folder's import, which reads JSON lines its own way
    (``read``)."""
    fmt = format_name(format)
    if isinstance(source, str) and re.match(r"https?://", source):
        return import_agent(store, source, fmt, source_name, callback_path)
    opened = open_source(source)
    try:
        label = source_name or opened.name
        if opened.blank:
            report = ImportReport(label, fmt or "empty")
            report.notes.append("the file is empty: nothing to import" if opened.empty else
                                "the file holds only blank lines: nothing to import")
            return report
        fmt = fmt or detect_format(opened.head)
        report = ImportReport(label, fmt)
        show = progress if progress is not None else opened.size >= PROGRESS_FROM
        if read is None:
            store_all(store, READERS[fmt](opened.stream, callback_path), report, label, opened, show)
        else:
            read(fmt, opened, report, label, show)
    finally:
        opened.close()
    if report.read == 0 and not report.notes:
        what = "callback requests" if fmt in ("har", "ngrok") else "records"
        among = f" among {report.skipped:,} entries" if report.skipped else ""
        report.notes.append(f"no {what} found{among}")
    return report


def format_name(format: str | None) -> str | None:
    if format is None:
        return None
    name = _ALIASES.get(str(format).lower(), str(format).lower())
    if name not in FORMATS:
        raise ValueError(
            f"unknown import format {format!r}: use one of {', '.join(FORMATS)} (or None to detect)"
        )
    return name


def store_all(store: EventStore, records: Iterator[Record], report: ImportReport, label: str,
               opened: Opened, show: bool) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(total=opened.size, unit="B", unit_scale=True, desc=f"importing {label}", disable=not show)
    try:
        with store.bulk() as writer:
            batch: list[tuple[EventRecord, dict[str, Any], int, int]] = []
            for record in records:
                if isinstance(record, Skipped):
                    report.skipped += 1
                    continue
                report.read += 1
                if isinstance(record, Rejected):
                    report.reject(record.number, record.reason, record.detail, record.raw)
                elif isinstance(record, GatherRecord):
                    problem = record_gather(writer, record.record)
                    if problem:
                        report.reject(record.number, "bad-gather", problem, record.record)
                    else:
                        report.gathers += 1
                else:
                    checked = check_event(record, report)
                    if checked is not None:
                        batch.append(checked)
                    if len(batch) >= _BATCH:
                        _flush(writer, batch, report, label)
                        bar.update(max(0, opened.position() - bar.n))
            _flush(writer, batch, report, label)
            bar.update(max(0, opened.position() - bar.n))
    finally:
        bar.close()


def check_event(
    record: EventRecord, report: ImportReport
) -> tuple[EventRecord, dict[str, Any], int, int] | None:
    """The event and its receive time, or None when it is rejected (the report says why)."""
    payload = record.payload
    problem, time_ns = _event_problem(payload)
    if problem is None:
        received = time_ns if record.received is None else _received_ns(record.received, event_time(payload))
        if received is None:
            detail = f"received {record.received!r} is not an ISO 8601 time or epoch seconds in {TIME_RANGE}"
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
    name = time_field(payload)  # v1's time, v2's eventTime
    moment = payload.get(name)
    if moment is None:
        return ("no-time", f"the event has no {name}"), None
    time_ns = parse_time_ns(moment)
    if time_ns is None:
        return ("bad-time", f"{name} {moment!r} is not an ISO 8601 time from {TIME_RANGE}"), None
    return None, time_ns


def _flush(writer: Any, batch: list[tuple[EventRecord, dict[str, Any], int, int]], report: ImportReport,
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


def record_gather(writer: Any, record: Any) -> str | None:
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
    return in_time_range(seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0")))


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


class Opened:
    """A binary stream over the (decompressed) content, its first bytes, its size and a label."""

    def __init__(self, stream: io.BufferedReader, head: bytes, size: int, name: str,
                 raw: Any, owned: list[Any]) -> None:
        self.stream, self.head, self.size, self.name = stream, head, size, name
        # nothing but blank lines (and a BOM) in the whole file, when the head is all of it
        self.blank = not head.lstrip(b"\xef\xbb\xbf").strip() and len(head) < _HEAD
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
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:  # straight into the reader's buffer: no copy of a large read
            return int(readinto(buffer) or 0)
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_source(source: Any) -> Opened:
    owned: list[Any] = []
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw: Any = io.BytesIO(bytes(source))
        name, size = "bytes", len(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder: give a file (JSON lines, CSV, HAR or ngrok JSON)")
        raw = open(path, "rb")  # noqa: SIM115 — closed by Opened.close
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
    return Opened(buffered, head, size, name, raw, owned)


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
    inner = opener(_Prefixed(magic, raw))
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


def detect_format(head: bytes) -> str:
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


def import_agent(store: EventStore, url: str, fmt: str | None, source_name: str | None,
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
    opened = Opened(io.BufferedReader(io.BytesIO(b"")), b"{}", 0, label, None, [])
    store_all(store, ngrok_entries(entries, callback_path), report, label, opened, False)
    if report.read == 0:
        report.notes.append(f"no callback requests found among {report.skipped:,} captured requests")
    return report


