"""Events out of an :class:`~catapult_nb.store.EventStore`: JSON lines, HAR 1.2 and partitioned Parquet.

What these write, :mod:`catapult_nb.store.importers` reads back: ``import_events(store.to_jsonl())`` into an
empty store gives the same frame, and each payload's stored JSON text is written as it is, so
JSONL → store → JSONL and HAR → store → HAR keep every payload byte for byte.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from catapult_nb.redact import MASK
from catapult_nb.store.bxml import bxml_document, is_v2_gather

if TYPE_CHECKING:
    from catapult_nb.store.store import EventStore

__all__ = ["HAR_CALLBACK_URL", "PARTITIONS", "write_har", "write_jsonl", "write_parquet"]

#: Where the HAR says the callbacks were posted: the real callback URL held a secret, so it is not kept.
HAR_CALLBACK_URL = f"http://127.0.0.1/callbacks/{MASK}"
_API = "https://api.catapult.inetwork.com/v1/users/{userId}/calls"
_API_V2 = "https://voice.bandwidth.com/api/v2/accounts/{accountId}/calls"

#: How :func:`write_parquet` can split a dataset into folders.
PARTITIONS: tuple[str, ...] = ("date",)


def iso(values: pd.Series) -> list[str | None]:
    """UTC times as ISO 8601 text with nanoseconds (``2026-01-01T10:00:00.123456789Z``); NaT is None."""
    stamps = pd.to_datetime(values, utc=True).dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    whole = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S")
    nanos = stamps.dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64) % 1_000_000_000
    return [None if pd.isna(w) else f"{w}.{n:09d}Z" for w, n in zip(whole, nanos, strict=True)]


def _sink(path: str | os.PathLike[str] | None) -> tuple[IO[bytes], bool]:
    if path is None:
        return io.BytesIO(), False
    return open(Path(path), "wb"), True


def _finish(out: IO[bytes], owned: bool, path: str | os.PathLike[str] | None) -> pathlib.Path | bytes:
    if owned:
        out.close()
        return Path(path)  # type: ignore[arg-type]
    return cast(io.BytesIO, out).getvalue()  # not owned: the BytesIO that _sink made


def gather_records(store: EventStore, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    gathers = store.gathers()
    if filters.get("call_id") is not None:
        gathers = gathers.loc[gathers["callId"] == filters["call_id"]]
    if filters.get("gather_id") is not None:
        gathers = gathers.loc[gathers["gatherId"] == filters["gather_id"]]
    if filters.get("session") is not None:
        gathers = gathers.loc[gathers["session"] == filters["session"]]
    if filters.get("event_type") not in (None, "gather"):
        return
    created = iso(gathers["createdTime"])
    for row, when in zip(gathers.itertuples(index=False), created, strict=True):
        record = {"gatherId": row.gatherId, "callId": _value(row.callId), "createdTime": when,
                  "session": _value(row.session), "options": row.options}
        yield {k: v for k, v in record.items() if v is not None or k == "options"}


def _value(value: Any) -> Any:
    return None if value is pd.NA or value is None or (isinstance(value, float) and value != value) else value


def write_jsonl(
    store: EventStore, path: str | os.PathLike[str] | None = None, **filters: Any
) -> pathlib.Path | bytes:
    """See :meth:`EventStore.to_jsonl`."""
    frame = store.export_frame(**filters)
    out, owned = _sink(path)
    try:
        for record in gather_records(store, filters):
            line = json.dumps({"gather": record}, ensure_ascii=False, separators=(",", ":"))
            out.write(line.encode("utf-8") + b"\n")
        received = iso(frame["received"])
        for text, when, source, session in zip(frame["payload"], received, frame["source"], frame["session"],
                                               strict=True):
            extra = {"received": when, "source": _value(source), "session": _value(session)}
            tail = json.dumps({k: v for k, v in extra.items() if v is not None}, ensure_ascii=False,
                              separators=(",", ":"))
            out.write(b'{"payload":' + text.encode("utf-8") + b"," + tail[1:].encode("utf-8") + b"\n")
    except BaseException:
        out.close()
        raise
    return _finish(out, owned, path)


def _har_entry(started: str, method: str, url: str, text: str, status: int,
               response_headers: list[dict[str, str]], mime: str = "application/json; charset=utf-8"
               ) -> dict[str, Any]:
    body = text.encode("utf-8")
    return {
        "startedDateTime": started,
        "time": 0,
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Content-Type", "value": mime}], "queryString": [], "cookies": [],
                    "headersSize": -1, "bodySize": len(body), "postData": {"mimeType": mime, "text": text}},
        "response": {"status": status, "statusText": "Created" if status == 201 else "OK",
                     "httpVersion": "HTTP/1.1", "headers": response_headers, "cookies": [],
                     "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "",
                     "headersSize": -1, "bodySize": 0},
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }


def write_har(store: EventStore, path: str | os.PathLike[str] | None = None, *,
              callback_url: str = HAR_CALLBACK_URL, **filters: Any) -> pathlib.Path | bytes:
    """See :meth:`EventStore.to_har`. Recorded gathers become their create requests (answered 201, with
    the gather's ``Location``), v2 gathers the ``PUT …/calls/{callId}/bxml`` of their documents, so the
    options travel too."""
    from catapult_nb import __version__

    frame = store.export_frame(**filters)
    out, owned = _sink(path)
    head = {"version": "1.2", "creator": {"name": "catapult_nb", "version": __version__}, "entries": []}
    opening, _, closing = json.dumps({"log": head}).rpartition("[]")
    try:
        out.write(opening.encode() + b"[\n")
        first = True

        def write(entry: dict[str, Any]) -> None:
            nonlocal first
            out.write((b"" if first else b",\n") + json.dumps(entry, ensure_ascii=False).encode("utf-8"))
            first = False

        v1: list[dict[str, Any]] = []
        v2: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for record in gather_records(store, filters):
            if is_v2_gather(record["options"]):  # a document per call and time served, its Gathers in order
                served = record["gatherId"].partition("@")[2].partition("#")[0]
                v2.setdefault((record.get("callId", "{callId}"), served), []).append(record["options"])
            else:
                v1.append(record)
        for (call_id, served), gathers in v2.items():
            write(_har_entry(served, "PUT", f"{_API_V2}/{call_id}/bxml", bxml_document(gathers), 204, [],
                             "application/xml; charset=utf-8"))
        for record in v1:
            url = f"{_API}/{record.get('callId', '{callId}')}/gather"
            location = [{"name": "Location", "value": f"{url}/{record['gatherId']}"}]
            write(_har_entry(str(record.get("createdTime") or "1970-01-01T00:00:00Z"), "POST", url,
                             json.dumps(record["options"], ensure_ascii=False), 201, location))
        for text, when in zip(frame["payload"], iso(frame["received"]), strict=True):
            write(_har_entry(cast(str, when), "POST", callback_url, text, 200, []))  # every event has one
        out.write(b"\n]" + closing.encode())
    except BaseException:
        out.close()
        raise
    return _finish(out, owned, path)


def write_parquet(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, partition_by: str | None = None
) -> None:
    """See :meth:`EventStore.to_parquet`."""
    if partition_by is None:
        frame.to_parquet(path, engine="pyarrow")
        return
    if partition_by not in PARTITIONS:
        raise ValueError(f"partition_by must be one of {', '.join(PARTITIONS)} or None, got {partition_by!r}")
    when = frame["time"].fillna(frame["received"])
    dates = when.dt.strftime("%Y-%m-%d").fillna("unknown")
    frame = frame.assign(date=pd.array(dates, dtype="string"))
    frame.to_parquet(path, engine="pyarrow", partition_cols=["date"])
