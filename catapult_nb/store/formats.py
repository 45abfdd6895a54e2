"""The formats :func:`~catapult_nb.store.importers.import_events` reads, one reader each: JSON lines, the
CSV :meth:`EventStore.to_csv <catapult_nb.store.EventStore.to_csv>` writes, HAR 1.2 and ngrok's captured
requests. A reader turns a stream into records (an event, a recorded gather, a rejected line, a skipped
one); the importer checks and stores them.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ijson
import orjson

from catapult_nb.bxml import BxmlError
from catapult_nb.errors import Error
from catapult_nb.store.bxml import gather_key, gathers_in
from catapult_nb.store.keys import MAX_DEPTH, canonical_json, dialect_of, too_deep

__all__ = [
    "MAX_RECORD", "READERS", "EventRecord", "GatherRecord", "ImportFormatError", "Record", "Rejected",
    "Skipped", "ngrok_entries",
]

#: A record (a line, a CSV row, a request body) larger than this is rejected: the receiver's limit.
MAX_RECORD = 64 * 1024

GATHER_PATH = re.compile(r"/users/[^/]+/calls/([^/]+)/gather/?$")
#: v2: a call's BXML replaced (``PUT /api/v2/accounts/{accountId}/calls/{callId}/bxml``).
V2_BXML_PATH = re.compile(r"/accounts/[^/]+/calls/([^/]+)/bxml/?$")


class ImportFormatError(Error, ValueError):
    """The file is not in a format :func:`~catapult_nb.store.importers.import_events` reads; the message
    says what it looks like."""


# --------------------------------------------------------------------------------------------------
# Records: what the readers hand to the importer


@dataclass
class EventRecord:
    number: int
    payload: Any
    received: Any = None  # as found in the record (text or number); None: the event's time
    source: str | None = None
    session: str | None = None
    raw: Any = ""


@dataclass
class GatherRecord:
    number: int
    record: dict[str, Any]


@dataclass
class Rejected:
    number: int
    reason: str
    detail: str
    raw: Any = ""


@dataclass
class Skipped:
    number: int


#: One item a format's reader yields: an event, a gather's options, a rejected or a skipped record.
Record = EventRecord | GatherRecord | Rejected | Skipped


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
    value, problem = _read_json(line)
    if problem is None and isinstance(value, (dict, list)) and too_deep(value):
        return None, ("too-deep", f"the record nests deeper than {MAX_DEPTH} levels (the receiver's limit)")
    return value, problem


def _read_json(line: bytes) -> tuple[Any, tuple[str, str] | None]:
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


def read_jsonl(stream: io.BufferedReader, _callback_path: str | None) -> Iterator[Record]:
    for number, line in _lines(stream):
        yield jsonl_record(number, line)


def jsonl_record(number: int, line: bytes | None) -> Record:
    """One JSON line (without its end; None for a line too large to read) as the store reads it."""
    if line is None:
        return Rejected(number, "too-large", f"the line is over {MAX_RECORD:,} bytes")
    if not line.strip():
        return Skipped(number)
    value, problem = _decode_json(line)
    if problem:
        return Rejected(number, *problem, line)
    if isinstance(value, dict) and "eventType" not in value and isinstance(value.get("gather"), dict):
        return GatherRecord(number, value["gather"])
    if isinstance(value, dict) and "eventType" not in value and "payload" in value:
        return EventRecord(number, value["payload"], value.get("received"), _opt_str(value.get("source")),
                           _opt_str(value.get("session")), line)
    return EventRecord(number, value, raw=line)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_csv(stream: io.BufferedReader, _callback_path: str | None) -> Iterator[Record]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    # csv's own field limit (131,072 characters) holds any payload within MAX_RECORD, its quotes doubled;
    # a larger field is that row's rejection, and the process-wide limit is left as it is
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
            yield Rejected(reader.line_num, "bad-csv", str(exc))
            continue
        number = reader.line_num
        if not any(row):
            yield Skipped(number)
            continue
        if len(row) != len(header):
            detail = f"{len(row)} fields, the header has {len(header)}"
            yield Rejected(number, "bad-csv", detail, ",".join(row))
            continue
        body = row[where["payload"]]
        raw = body.encode("utf-8", "surrogateescape")
        if len(raw) > MAX_RECORD:
            yield Rejected(number, "too-large", f"the payload is over {MAX_RECORD:,} bytes", raw)
            continue
        value, problem = _decode_json(raw)
        if problem:
            yield Rejected(number, *problem, raw)
            continue
        cells = {name: row[index] or None for name, index in where.items()}
        bad = next((name for name in ("source", "session") if not _is_utf8(cells.get(name))), None)
        if bad is not None:
            yield Rejected(number, "not-utf-8", f"the {bad} cell is not UTF-8", raw)
            continue
        yield EventRecord(
            number, value, cells.get("received"), cells.get("source"), cells.get("session"), raw
        )


def _is_utf8(cell: str | None) -> bool:
    """False for a cell read with bytes that are not UTF-8 (kept as lone surrogates by the reader)."""
    if cell is None:
        return True
    try:
        cell.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: A JSON string in a HAR or ngrok file longer than this (in bytes as written) reaches the readers as
#: MAX_STRING + 4 "x" characters: a body or a base64 text that long is over MAX_RECORD either way, and
#: an entry then costs memory in proportion to this, not to its largest string.
MAX_STRING = 4 * MAX_RECORD


class _CappedStrings(io.RawIOBase):
    """``stream`` as it is, but each JSON string longer than :data:`MAX_STRING` bytes is replaced (as it
    streams by, never held whole) by a string of ``MAX_STRING + 1`` x's."""

    _SPECIAL = re.compile(rb'[\\"]')
    _PLACEHOLDER = b"x" * (MAX_STRING + 4)

    def __init__(self, stream: io.BufferedReader) -> None:
        super().__init__()
        self._stream = stream
        self._in_string = self._escaped = self._dropping = False
        self._held = bytearray()  # the current string's content so far, until it is known to be short
        self._out = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out:
            chunk = self._stream.read(1 << 20)
            if not chunk:
                self._out += self._held  # a string cut off by the end of the file: as it was
                self._held.clear()
                break
            self._feed(chunk)
        count = min(len(buffer), len(self._out))
        buffer[:count] = self._out[:count]
        del self._out[:count]
        return count

    def _feed(self, chunk: bytes) -> None:
        at, end = 0, len(chunk)
        while at < end:
            if not self._in_string:
                quote = chunk.find(b'"', at)
                if quote < 0:
                    self._out += chunk[at:]
                    return
                self._out += chunk[at : quote + 1]
                self._in_string, at = True, quote + 1
                continue
            if self._escaped:  # the byte after a backslash is the string's, whatever it is
                self._keep(chunk[at : at + 1])
                self._escaped, at = False, at + 1
                continue
            found = self._SPECIAL.search(chunk, at)
            stop = found.start() if found else end
            self._keep(chunk[at:stop])
            if found is None:
                return
            if chunk[stop] == 0x5C:  # a backslash
                self._keep(b"\\")
                self._escaped, at = True, stop + 1
                continue
            self._out += self._PLACEHOLDER if self._dropping else self._held
            self._out += b'"'
            self._held.clear()
            self._in_string = self._dropping = False
            at = stop + 1

    def _keep(self, content: bytes) -> None:
        if self._dropping:
            return
        self._held += content
        if len(self._held) > MAX_STRING:
            self._held.clear()
            self._dropping = True


def _json_items(stream: io.BufferedReader, prefix: str, what: str) -> Iterator[Any]:
    capped = io.BufferedReader(_CappedStrings(stream), 1 << 16)
    try:
        yield from ijson.items(capped, prefix, use_float=True)
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
    answer: str | None = None  # the response's text when it may be BXML (a v2 webhook's answer)
    bxml_call: str | None = None  # the call of a ``PUT …/calls/{callId}/bxml`` (its body is the document)


def _captured(entries: Iterable[Any], what: str, read: Callable[[dict[str, Any], dict[str, Any]], _Captured],
              callback_path: str | None) -> Iterator[Record]:
    """Records from captured exchanges: a gather it created, else a callback (or a skip).

    :param entries: the exchanges, each a JSON object with a ``request`` object.
    :param what: the entry, named in a rejection (``"a HAR entry"``).
    :param read: the format's reader of ``(entry, request)``.
    """
    for number, entry in enumerate(entries, start=1):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            yield Rejected(number, "bad-entry", f"{what} without a request", entry)
            continue
        try:  # a hostile entry (fields of the wrong type, a URL like http://[::1/cb) is that entry's fault
            captured = read(entry, request)
            if captured.gather is not None:
                yield GatherRecord(number, captured.gather)
                continue
            if captured.bxml_call is not None:  # v2: the call's document replaced; not an event
                yield from _bxml_gathers(number, captured.body or b"", captured.bxml_call, captured.received)
                continue
            record = _callback(number, captured.method, captured.url, captured.content_type, captured.body,
                               captured.received, callback_path)
        except (TypeError, ValueError, AttributeError) as exc:
            yield Rejected(number, "bad-entry", f"{what} that cannot be read: {exc}"[:300], entry)
            continue
        yield record
        if isinstance(record, EventRecord) and captured.answer and dialect_of(record.payload) == "v2":
            # the app answered the webhook with BXML: its <Gather>s start when the webhook was sent
            call_id, served = record.payload.get("callId"), record.payload.get("eventTime")
            if isinstance(call_id, str) and isinstance(served, str):
                yield from _bxml_gathers(number, captured.answer, call_id, served)


def _bxml_gathers(number: int, document: str | bytes, call_id: str, served: Any) -> Iterator[Record]:
    """The gather records of a v2 BXML document served for ``call_id`` at ``served``, or its rejection."""
    try:
        found = gathers_in(document)
    except BxmlError as exc:
        yield Rejected(number, "bad-bxml", f"{exc}; the options of its gathers stay unknown", document)
        return
    for index, options in enumerate(found):
        yield GatherRecord(number, {"gatherId": gather_key(call_id, str(served), index), "callId": call_id,
                                    "createdTime": served, "options": options})


def read_har(stream: io.BufferedReader, callback_path: str | None) -> Iterator[Record]:
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
    response = entry.get("response")
    gather = _gather_create(method, url, body, response, started)
    put = V2_BXML_PATH.search(urlsplit(url).path) if method == "PUT" else None
    return _Captured(method, url, content_type, body, started, gather, _answer_text(response),
                     put.group(1) if put else None)


def _answer_text(response: Any) -> str | None:
    """A HAR response's text when it may be a BXML document (it starts with ``<``)."""
    content = response.get("content") if isinstance(response, dict) else None
    if not isinstance(content, dict) or not isinstance(content.get("text"), str):
        return None
    text: str = content["text"]
    if content.get("encoding") == "base64":
        decoded = _b64(text)
        text = decoded.decode("utf-8", "replace") if decoded is not None else ""
    return text if text.lstrip().startswith("<") else None


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return None


def _gather_create(
    method: str, url: str, body: bytes | None, response: Any, started: Any
) -> dict[str, Any] | None:
    """A gather create request answered 201: its options, as a gather record."""
    match = GATHER_PATH.search(urlsplit(url).path)
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
              callback_path: str | None) -> Record:
    """A request as a callback event, a rejection (a callback path with a bad body) or a skip."""
    parts = urlsplit(url)
    on_path = callback_path is not None and parts.path.startswith(callback_path)
    if callback_path is not None and not on_path:
        return Skipped(number)
    if method == "GET":
        payload: Any = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "eventType" not in payload:
            if not on_path:
                return Skipped(number)
            return Rejected(number, "not-a-callback", "a GET without eventType")
        return EventRecord(number, payload, received, raw=url)
    if method != "POST" or body is None:
        return Rejected(number, "not-a-callback", f"{method} without a body") if on_path else Skipped(number)
    if len(body) > MAX_RECORD:
        return Rejected(number, "too-large", f"the body is over {MAX_RECORD:,} bytes", body)
    if "form-urlencoded" in content_type:
        try:
            payload = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return Rejected(number, "not-utf-8", "the form body is not UTF-8", body)
        problem = None
    else:
        payload, problem = _decode_json(body)
    if problem:
        return Rejected(number, *problem, body) if on_path else Skipped(number)
    if not isinstance(payload, dict) or "eventType" not in payload:
        if not on_path:
            return Skipped(number)
        return Rejected(number, "not-a-callback", "the body has no eventType", body)
    return EventRecord(number, payload, received, raw=body)


def read_ngrok(stream: io.BufferedReader, callback_path: str | None) -> Iterator[Record]:
    yield from ngrok_entries(_json_items(stream, "requests.item", "ngrok"), callback_path)


def ngrok_entries(entries: Iterable[Any], callback_path: str | None) -> Iterator[Record]:
    return _captured(entries, "an ngrok entry", _ngrok_request, callback_path)


def _ngrok_request(entry: dict[str, Any], request: dict[str, Any]) -> _Captured:
    uri = str(request.get("uri", ""))
    given_headers = request.get("headers")
    headers: dict[str, Any] = given_headers if isinstance(given_headers, dict) else {}
    content_type = ";".join(str(v) for k, vs in headers.items() if k.lower() == "content-type"
                            for v in (vs if isinstance(vs, list) else [vs]))
    body = None
    raw = request.get("raw")
    if isinstance(raw, str) and len(raw) > MAX_STRING:  # cut short while read: a body over MAX_RECORD
        body = bytes(MAX_RECORD + 1)
    elif isinstance(raw, str):
        decoded = _b64(raw)
        if decoded is not None:
            body = decoded.partition(b"\r\n\r\n")[2]
    url = uri if "://" in uri else "http://agent" + uri
    return _Captured(str(request.get("method", "")).upper(), url, content_type, body, entry.get("start"))


READERS = {"jsonl": read_jsonl, "csv": read_csv, "har": read_har, "ngrok": read_ngrok}
