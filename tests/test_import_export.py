"""Events in from JSON lines, CSV, HAR and ngrok; out to JSON lines, HAR and partitioned Parquet."""

from __future__ import annotations

import base64
import gzip
import io
import json

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest

from catapult_nb import analysis
from catapult_nb.store.importers import MAX_RECORD, ImportFormatError
from catapult_nb.store.store import EventStore, canonical_json

SEED = {"maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7",
        "prompt": {"sentence": "Please enter your 5 digit code"}}


def gather_event(i: int, reason: str = "max-digits", digits: str = "12345", **extra: object) -> dict:
    return {"eventType": "gather", "reason": reason, "state": "completed", "digits": digits,
            "time": f"2026-01-0{1 + i % 7}T{i % 24:02d}:00:{i % 60:02d}.{i % 1000:03d}Z",
            "callId": f"c-{i // 2:05d}", "gatherId": f"gtr-{i:05d}", "tag": "menu-a", **extra}


def lines(payloads: list[dict]) -> bytes:
    return b"".join(json.dumps(p, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
                    for p in payloads)


@pytest.fixture
def store():
    with EventStore(":memory:") as s:
        yield s


@pytest.fixture
def filled():
    """A store as a session leaves it: events of several types, a recorded gather, sessions and times."""
    with EventStore(":memory:") as s:
        s.add(gather_event(1, digits="007", tag="été"), received_at=1767261600.5)
        s.add({"eventType": "dtmf", "dtmfDigit": "#", "time": "2026-01-01T10:00:01.5Z", "callId": "c-00000"},
              session="s1", received_at=pd.Timestamp("2026-01-01T10:00:01.700000123Z"))
        s.add({"eventType": "hangup", "cause": "NORMAL_CLEARING", "time": "2026-01-01T10:00:09Z",
               "callId": "c-00000", "extra": {"nested": [1, 2.5, None, True]}}, source="campaign")
        s.record_gather("gtr-00001", "c-00000", SEED, "2026-01-01T09:59:50.250Z", session="s1")
        yield s


def same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns="payload"), b.drop(columns="payload"))
    assert [dict(p) for p in a["payload"]] == [dict(p) for p in b["payload"]]


# --------------------------------------------------------------------------------------------------
# Round trips


def test_jsonl_round_trip_into_an_empty_store_gives_the_same_frame(filled, store, tmp_path):
    # when
    path = filled.to_jsonl(tmp_path / "events.jsonl")
    report = store.import_events(path)
    # then
    assert report.counts() == {"read": 4, "imported": 3, "duplicates": 0, "rejected": 0, "gathers": 1,
                               "skipped": 0}
    same_frames(filled.to_dataframe(), store.to_dataframe())
    assert store.to_dataframe().dtypes.equals(filled.to_dataframe().dtypes)
    pd.testing.assert_frame_equal(filled.gathers(), store.gathers())


def test_importing_the_same_file_twice_imports_it_once(filled, store, tmp_path):
    path = filled.to_jsonl(tmp_path / "events.jsonl")
    first = store.import_events(path)
    second = store.import_events(path)
    assert first.imported == 3 and second.imported == 0 and second.duplicates == 3
    assert len(store) == 3


def test_a_live_delivery_and_the_same_event_imported_are_one_event(store):
    event = gather_event(3)
    store.add(event)  # as the receiver stores it
    report = store.import_events(lines([event, event]))
    assert (report.imported, report.duplicates) == (0, 2) and len(store) == 1


def test_jsonl_to_store_to_jsonl_keeps_every_payload_byte_for_byte(store, tmp_path):
    tags = ["a", "é ü", "\u2603", "line\nbreak", "q\"uote"]
    payloads = [gather_event(i, tag=t) for i, t in enumerate(tags)]
    payloads.append({"eventType": "dtmf", "callId": "c-9", "time": "2026-01-01T00:00:00Z", "dtmfDigit": "5",
                     "n": 12345678901234567890, "f": 0.1, "z": None, "l": [1, {"b": 2, "a": 1}]})
    source = tmp_path / "callbacks.jsonl"
    source.write_bytes(lines(payloads))
    store.import_events(source)
    out = [json.loads(line)["payload"] for line in store.to_jsonl().splitlines()]
    written = [json.dumps(p, separators=(",", ":"), ensure_ascii=False) for p in out]
    assert written == source.read_text(encoding="utf-8").splitlines()  # same bytes, same key order too
    # and the exported lines hold the stored text verbatim (not re-encoded)
    assert all(line.startswith(b'{"payload":' + w.encode()) for line, w in
               zip(store.to_jsonl().splitlines(), written, strict=True))


def test_har_to_store_to_har_keeps_every_payload_byte_for_byte(filled, store):
    har = filled.to_har()
    texts_in = [e["request"]["postData"]["text"] for e in json.loads(har)["log"]["entries"]]
    report = store.import_events(har)
    assert report.format == "har" and (report.imported, report.gathers) == (3, 1)
    texts_out = [e["request"]["postData"]["text"] for e in json.loads(store.to_har())["log"]["entries"]]
    assert texts_out == texts_in
    meta = ["source", "session"]  # HAR keeps neither
    same_frames(filled.to_dataframe().drop(columns=meta), store.to_dataframe().drop(columns=meta))
    assert (store.to_dataframe()["source"] == "bytes").all()  # HAR records carry no source: the file's name


def test_csv_written_by_to_csv_imports_back_to_the_same_frame(filled, store, tmp_path):
    filled.to_csv(tmp_path / "events.csv")
    report = store.import_events(tmp_path / "events.csv")
    assert report.format == "csv" and report.imported == 3
    same_frames(filled.to_dataframe(), store.to_dataframe())


def test_bare_payloads_keep_their_time_and_take_the_file_name_as_source(store, tmp_path):
    path = tmp_path / "server.log.jsonl"
    path.write_bytes(lines([gather_event(5)]))
    store.import_events(path)
    row = store.to_dataframe().iloc[0]
    assert row["source"] == "server.log.jsonl"
    assert row["time"] == pd.Timestamp(gather_event(5)["time"]) == row["received"]


def test_compressed_files_are_read_as_they_are(store, tmp_path):
    path = tmp_path / "callbacks.jsonl.gz"
    path.write_bytes(gzip.compress(lines([gather_event(i) for i in range(50)])))
    report = store.import_events(path)
    assert (report.format, report.imported, report.source) == ("jsonl", 50, "callbacks.jsonl.gz")


# --------------------------------------------------------------------------------------------------
# HAR and ngrok


def har(entries: list[dict]) -> bytes:
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "proxy", "version": "1"},
                               "entries": entries}}, indent=2).encode()


def entry(url: str, *, method: str = "POST", text: str | None = None, mime: str = "application/json",
          status: int = 200, headers: list | None = None) -> dict:
    request: dict = {"method": method, "url": url, "headers": [], "queryString": []}
    if text is not None:
        request["postData"] = {"mimeType": mime, "text": text}
    return {"startedDateTime": "2026-01-02T03:04:05.678+01:00", "request": request,
            "response": {"status": status, "headers": headers or []}}


def test_har_reads_json_and_form_callbacks_and_gather_creates_and_skips_other_traffic(store):
    api = "https://api.catapult.inetwork.com/v1/users/u-1/calls/c-00001/gather"
    form = ("eventType=gather&reason=terminating-digit&digits=42&callId=c-00001&gatherId=gtr-2"
            "&time=2026-01-02T02%3A04%3A06Z")
    data = har([
        entry("https://example.com/app.js", method="GET"),
        entry(api, text=json.dumps(SEED), status=201,
              headers=[{"name": "Location", "value": f"{api}/gtr-2"}]),
        entry("https://my.app/callbacks/x", text=json.dumps(gather_event(2))),
        entry("https://my.app/callbacks/x", text=form, mime="application/x-www-form-urlencoded"),
        entry("https://my.app/callbacks/x", text='{"eventType":"gather","time":"2026-01-01T00:00:00Z"}'),
    ])
    report = store.import_events(data)
    assert report.counts() == {"read": 4, "imported": 2, "duplicates": 0, "rejected": 1, "gathers": 1,
                               "skipped": 1}
    assert report.rejected.iloc[0].to_dict() | {"excerpt": ""} == {
        "entry": 5, "reason": "no-callId", "detail": "the event has no callId", "excerpt": ""}
    events = store.to_dataframe()
    assert set(events["digits"]) == {"12345", "42"}
    assert events["received"].iloc[0] == pd.Timestamp("2026-01-02T02:04:05.678Z")
    table = analysis.gather_table(events, store.gathers())
    assert table.loc["gtr-2", "maxDigits"] == 5 and table.loc["gtr-2", "completed"]


def test_a_har_without_callbacks_is_a_report_that_says_so(store):
    report = store.import_events(har([entry("https://example.com/", method="GET")] * 3))
    assert report.read == 0 and report.skipped == 3 and len(store) == 0
    assert report.notes == ["no callback requests found among 3 entries"]


def ngrok_request(payload: dict, path: str = "/callbacks/tok") -> dict:
    body = json.dumps(payload).encode()
    raw = (f"POST {path} HTTP/1.1\r\nHost: x.ngrok.app\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return {"uri": "/api/requests/http/r1", "id": "r1", "start": "2026-01-03T00:00:00Z",
            "request": {"method": "POST", "proto": "HTTP/1.1", "uri": path,
                        "headers": {"Content-Type": ["application/json"]},
                        "raw": base64.b64encode(raw).decode()},
            "response": {"status": "200 OK", "status_code": 200}}


def test_ngrok_captured_requests_from_a_file(store):
    data = json.dumps({"uri": "/api/requests/http",
                       "requests": [ngrok_request(gather_event(i)) for i in range(3)]}).encode()
    report = store.import_events(data)
    assert report.format == "ngrok" and report.imported == 3
    assert (store.to_dataframe()["received"] == pd.Timestamp("2026-01-03T00:00:00Z")).all()


def test_ngrok_captured_requests_from_a_running_agent(store, httpserver):
    # given an agent API that has captured two callbacks and one other request
    captured = [ngrok_request(gather_event(1)), ngrok_request(gather_event(2)),
                ngrok_request({"hello": "world"}, path="/favicon.ico")]
    httpserver.expect_request("/api/requests/http", method="GET").respond_with_json(
        {"uri": "/api/requests/http", "requests": captured})
    # when
    report = store.import_events(httpserver.url_for("/"), callback_path="/callbacks/")
    # then
    assert (report.imported, report.skipped) == (2, 1)
    assert report.source.startswith(("ngrok agent 127.0.0.1:", "ngrok agent localhost:"))


@pytest.mark.parametrize("fmt", ["har", "ngrok"])
def test_a_captured_entry_without_a_request_is_rejected_and_the_rest_imported(store, fmt):
    # given a HAR file or an ngrok capture whose second entry has no request object
    if fmt == "har":
        good = entry("https://my.app/callbacks/x", text=json.dumps(gather_event(1)))
        data = har([good, {"startedDateTime": "2026-01-02T03:04:05Z", "request": "GET /"}])
    else:
        data = json.dumps({"uri": "/api/requests/http",
                           "requests": [ngrok_request(gather_event(1)), {"id": "r2"}]}).encode()
    # when
    report = store.import_events(data)
    # then the callback is stored and the broken entry is named
    assert report.format == fmt and report.imported == 1 and report.rejected_count == 1
    rejected = report.rejected.iloc[0]
    what = "a HAR entry" if fmt == "har" else "an ngrok entry"
    assert (rejected["entry"], rejected["reason"], rejected["detail"]) == (2, "bad-entry",
                                                                           f"{what} without a request")


# --------------------------------------------------------------------------------------------------
# Bad input


def test_bad_records_are_rejected_with_their_line_number_and_reason(store):
    good = lines([gather_event(1)])
    data = b"".join([
        good,                                                                  # 1
        b'{"eventType":"gather","time":"2026-01-01T00:00:00Z"}\n',             # 2 no callId
        b'{"eventType":"gather","callId":"c-1"}\n',                            # 3 no time
        b'{"eventType":"gather","callId":"c-1","time":"yesterday"}\n',         # 4 bad time
        b'{"eventType":"gather","callId":7,"time":"2026-01-01T00:00:00Z"}\n',  # 5 bad callId
        b"GET /callbacks HTTP/1.1\n",                                          # 6 not json
        b'{"eventType":"gather","callId":"c-\xe9","time":"2026-01-01T00:00:00Z"}\n',  # 7 latin-1
        b'{"tag":"' + b"x" * MAX_RECORD + b'"}\n',                             # 8 too large
        b'{"eventType":"gather","callId":"c","time":"2026-01-01T00:00:00Z","n":1e999}\n',  # 9 inf
        b'{"eventType":"gather","callId":"c","time":"2026-01-01T00:00:00Z","t":"\\ud800"}\n',  # 10
        b"[1, 2]\n",                                                           # 11 not an object
        b'{"eventType":"gather","callId":"","time":"2026-01-01T00:00:00Z"}\n',   # 12 empty callId
        b'{"eventType":"gather","callId":" \\t","time":"2026-01-01T00:00:00Z"}\n',  # 13 blank callId
        b"\n",                                                                 # blank: skipped
        lines([gather_event(2)]),                                              # 15
    ])
    report = store.import_events(data, format="jsonl")
    rejected = report.rejected.set_index("line")["reason"].astype(str).to_dict()
    assert rejected == {2: "no-callId", 3: "no-time", 4: "bad-time", 5: "bad-callId", 6: "not-json",
                        7: "not-utf-8", 8: "too-large", 9: "not-json", 10: "not-json", 11: "not-an-object",
                        12: "bad-callId", 13: "bad-callId"}
    assert (report.read, report.imported, report.rejected_count) == (14, 2, 12)
    assert store.events["callId"].tolist() == [gather_event(1)["callId"], gather_event(2)["callId"]]
    assert "line" in report._repr_html_() and "no-callId" in report._repr_html_()


def test_times_outside_what_pandas_holds_are_rejected_lines_not_an_aborted_import(store):
    data = b"".join([
        lines([gather_event(1)]),                                                        # 1
        b'{"eventType":"hangup","callId":"c-1","time":"0001-01-01T00:00:00Z"}\n',        # 2
        b'{"payload":{"eventType":"hangup","callId":"c-2","time":"2026-01-01T00:00:00Z"},'
        b'"received":"9999-12-31T23:59:59Z"}\n',                                         # 3
        lines([gather_event(2)]),                                                        # 4
    ])
    report = store.import_events(data, format="jsonl")
    rejected = report.rejected.set_index("line")["reason"].astype(str).to_dict()
    assert rejected == {2: "bad-time", 3: "bad-received"}
    assert "from 1677-09-21 to 2262-04-11" in report.rejected["detail"].iloc[0]
    assert report.imported == 2 and len(store) == 2


def reasons(report) -> dict:
    """Each rejected record's number and reason."""
    number = "line" if "line" in report.rejected.columns else report.rejected.columns[0]
    return report.rejected.set_index(number)["reason"].astype(str).to_dict()


def test_one_hostile_record_is_rejected_with_its_number_and_the_rest_imported(store):
    head = b'{"eventType":"x","callId":"c","time":"2026-01-01T00:00:00Z","a":'
    deep, at_limit = (head + b"[" * n + b"]" * n + b"}" for n in (990, 62))
    report = store.import_events(lines([gather_event(1)]) + deep + b"\n" + at_limit + b"\n", format="jsonl")
    assert reasons(report) == {2: "too-deep"}
    assert "deeper than 64 levels" in report.rejected["detail"].iloc[0] and report.imported == 2

    good = {"request": {"method": "POST", "url": "http://127.0.0.1/cb",
                        "postData": {"mimeType": "application/json", "text": json.dumps(gather_event(2))}}}
    hostile = [{"request": {"method": "POST", "url": "http://[::1/cb", "postData": {"text": "{}"}}},
               {"request": {"method": "POST", "url": "http://127.0.0.1/cb", "headers": 5}},
               {"request": {"method": "GET", "url": "http://127.0.0.1/cb", "postData": {"params": [1]}}}]
    har = json.dumps({"log": {"entries": [*hostile, good]}}).encode()
    report = store.import_events(har, format="har")
    assert reasons(report) == dict.fromkeys([1, 2, 3], "bad-entry")
    assert report.imported == 1

    payload = json.dumps(gather_event(3)).replace('"', '""').encode()
    table = (b"payload,received,source,session\n"
             b'"' + payload + b'",,src\xff\xfe,s\n'
             b'"' + json.dumps(gather_event(4)).replace('"', '""').encode() + b'",,src,s\xe9\n'
             b'"' + json.dumps(gather_event(5)).replace('"', '""').encode() + b'",,src,s\n')
    report = store.import_events(table, format="csv")
    assert reasons(report) == {2: "not-utf-8", 3: "not-utf-8"}
    assert "the source cell is not UTF-8" in report.rejected["detail"].iloc[0] and report.imported == 1


def test_a_huge_line_is_skipped_without_stopping_the_import(store):
    data = b'{"x":"' + b"y" * (5 * 1024 * 1024) + b'"}\n' + lines([gather_event(1)])
    report = store.import_events(data)
    assert (report.imported, list(report.rejected["reason"])) == (1, ["too-large"])


@pytest.mark.parametrize("content, message", [
    (bytes(range(256)) * 64, "looks binary"),
    ("\ufeff{}".encode("utf-16"), "UTF-16"),
    (b"[{}]", "JSON array"),
    (b"hello there\nworld\n", "cannot tell the format"),
    (b"a,b\n1,2\n", "cannot tell the format"),
])
def test_unreadable_files_are_a_clear_error(store, content, message):
    with pytest.raises(ImportFormatError, match=message):
        store.import_events(content)
    assert len(store) == 0


def test_an_empty_file_is_a_report(store, tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    report = store.import_events(tmp_path / "empty.jsonl")
    assert report.read == 0 and report.notes == ["the file is empty: nothing to import"]


@pytest.mark.parametrize("content", [b"\n\n\n", b"\r\n  \r\n", b"\xef\xbb\xbf\n \t\n"])
def test_a_file_of_blank_lines_is_a_report_that_says_so(store, content):
    report = store.import_events(content)
    assert report.read == 0 and report.notes == ["the file holds only blank lines: nothing to import"]


def test_a_csv_import_leaves_the_process_wide_csv_field_limit_alone(store, filled, tmp_path):
    import csv

    before = csv.field_size_limit()
    big = {**gather_event(1), "tag": "x" * (MAX_RECORD - 400)}
    filled.add(big)
    filled.to_csv(tmp_path / "events.csv")
    report = store.import_events(tmp_path / "events.csv")
    assert report.imported == len(filled) and report.rejected_count == 0
    assert csv.field_size_limit() == before


def test_unknown_format_name_lists_the_formats(store):
    with pytest.raises(ValueError, match="jsonl, csv, har, ngrok"):
        store.import_events(b"{}", format="xml")


class Breaks(io.RawIOBase):
    """A file that fails after some lines, as a disk or a network share can."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        self._data, self._left = io.BytesIO(data), fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            raise OSError("the disk went away")
        n = self._data.readinto(memoryview(buffer)[: min(len(buffer), self._left)])
        self._left -= n
        return n


def test_an_import_that_fails_half_way_leaves_the_store_as_it_was(store):
    store.add(gather_event(99999))
    data = lines([gather_event(i) for i in range(20_000)])
    with pytest.raises(OSError, match="disk went away"):
        store.import_events(io.BufferedReader(Breaks(data, len(data) // 2)))
    assert len(store) == 1
    assert store.import_events(data).imported == 20_000  # and the store still takes writes


def test_a_large_file_shows_a_progress_bar(store, capsys):
    store.import_events(lines([gather_event(i) for i in range(100)]), progress=True)
    assert "importing bytes" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# Analysis on imported data, Parquet


def test_gather_table_on_imported_callbacks_says_the_options_are_unknown(store):
    store.import_events(lines([gather_event(i, reason=r) for i, r in
                               enumerate(["max-digits", "inter-digit-timeout", "hung-up"])]))
    table = analysis.gather_table(store.to_dataframe(), store.gathers())
    assert (table["optionSet"] == analysis.UNKNOWN_OPTIONS).all()
    assert table["maxDigits"].isna().all() and table["duration"].isna().all()
    assert analysis.completion_rate(table) == pytest.approx(1 / 3)
    analysis.plot_reasons(table, by="optionSet")


def test_parquet_partitioned_by_date_is_read_by_duckdb_and_pyarrow(store, tmp_path):
    store.import_events(lines([gather_event(i) for i in range(30)]))
    store.to_parquet(tmp_path / "events", partition_by="date")
    dates = sorted(p.name for p in (tmp_path / "events" / "events").iterdir())
    assert dates == [f"date=2026-01-0{d}" for d in range(1, 8)]
    counts = duckdb.sql(
        f"SELECT date, count(*) AS n FROM read_parquet('{tmp_path / 'events'}/events/*/*.parquet', "
        "hive_partitioning=true) GROUP BY date ORDER BY date").fetchall()
    assert [n for _, n in counts] == [5, 5, 4, 4, 4, 4, 4]
    table = ds.dataset(tmp_path / "events" / "events", partitioning="hive").to_table()
    assert table.num_rows == 30 and {"payload", "digits", "date"} <= set(table.column_names)
    with pytest.raises(ValueError, match="partition_by must be one of date"):
        store.to_parquet(tmp_path / "x", partition_by="hour")


def test_parquet_partitions_by_the_events_time_not_when_it_was_received(store, tmp_path):
    # three events of just before midnight received just after it, and one replayed a week later
    records = [{"payload": gather_event(i, time=f"2026-01-01T23:59:5{i}Z"),
                "received": f"2026-01-02T00:00:0{i}Z"} for i in range(3)]
    records.append({"payload": gather_event(3, time="2026-01-03T10:00:00Z"),
                    "received": "2026-01-10T10:00:00Z"})
    assert store.import_events(lines(records)).imported == 4
    store.to_parquet(tmp_path / "events", partition_by="date")
    dates = {p.name: len(ds.dataset(p).to_table()) for p in (tmp_path / "events").rglob("date=*")}
    assert dates == {"date=2026-01-01": 3, "date=2026-01-03": 1}


def test_payloads_export_as_canonical_equal_json(filled):
    exported = [json.loads(line)["payload"] for line in filled.to_jsonl().splitlines()
                if b'"payload"' in line]
    stored = [canonical_json(dict(p)) for p in filled.events["payload"]]
    assert [canonical_json(p) for p in exported] == stored


def _longest_string(value) -> int:
    if isinstance(value, str):
        return len(value)
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return max((_longest_string(child) for child in children), default=0)


@pytest.mark.parametrize("fmt", ["har", "ngrok"])
def test_a_huge_captured_entry_is_never_held_whole(store, fmt):
    from catapult_nb.store import formats

    # given a capture whose first entry carries a 3 MB body (escaped JSON) and a 3 MB answer
    huge = json.dumps({"eventType": "x", "callId": "c", "pad": "y" * 3_000_000})
    good = json.dumps(gather_event(1))
    if fmt == "har":
        entry = lambda text: {"request": {"method": "POST", "url": "http://127.0.0.1/cb",  # noqa: E731
                                          "postData": {"mimeType": "application/json", "text": text}},
                              "response": {"status": 200, "content": {"text": "z" * 3_000_000}}}
        data, prefix = {"log": {"entries": [entry(huge), entry(good)]}}, "log.entries.item"
    else:
        entry = lambda text: {"request": {"method": "POST", "uri": "/cb",  # noqa: E731
                                          "raw": base64.b64encode(b"POST /cb HTTP/1.1\r\nContent-Type: "
                                                                  b"application/json\r\n\r\n" + text.encode())
                                          .decode()}}
        data, prefix = {"requests": [entry(huge), entry(good)]}, "requests.item"
    content = json.dumps(data).encode()
    # when it is read, then no string of an entry is over the cap, and the huge one is rejected as such
    entries = list(formats._json_items(io.BufferedReader(io.BytesIO(content)), prefix, fmt))
    assert max(map(_longest_string, entries)) <= getattr(formats, "MAX_STRING", 4 * MAX_RECORD) + 4
    report = store.import_events(content, format=fmt)
    assert dict(zip(report.rejected.iloc[:, 0], report.rejected["reason"], strict=True)) == {1: "too-large"}
    assert report.imported == 1
