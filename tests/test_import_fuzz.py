"""Importers under hostile files: each generated file mixes good callbacks with records no store can keep
(JSON nested past the receiver's 64 levels, times outside pandas' range, escaped lone surrogates, wrong
types, bytes that are not UTF-8, captured entries with fields of the wrong type or URLs that do not
parse). Every good callback must be imported, every hostile record rejected (or skipped) on its own with
its number, and no import may raise.
"""

from __future__ import annotations

import base64
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catapult_nb.store.store import EventStore

fuzz = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def good(n: int) -> dict:
    return {"eventType": "dtmf", "callId": f"c-{n}", "dtmfDigit": "5", "time": "2026-01-01T00:00:00.000Z"}


def text_of(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"))


TIMES = ["0001-01-01T00:00:00Z", "1677-09-21T00:12:43.145Z", "2262-04-11T23:47:17Z", "9999-12-31T23:59:59Z"]
hostile_bodies = st.one_of(
    st.integers(65, 1200).map(lambda depth: '{"eventType":"x","callId":"c","time":"2026-01-01T00:00:00Z","a":'
                              + "[" * depth + "]" * depth + "}"),
    st.sampled_from(TIMES).map(lambda moment: text_of({**good(0), "callId": "c-odd", "time": moment})),
    st.sampled_from(['"\\ud800"', '"a\\udfffb"']).map(
        lambda text: '{"eventType":"x","callId":"c","time":"2026-01-01T00:00:00Z","t":' + text + "}"),
    st.sampled_from(['{"eventType":"x","callId":7,"time":"2026-01-01T00:00:00Z"}', "[1,2]", '"text"',
                     '{"eventType":"x","callId":"c","time":"yesterday"}', '{"n":1e999}', "{,}"]),
)


@fuzz
@given(plan=st.lists(st.one_of(st.none(), hostile_bodies), min_size=1, max_size=30))
def test_jsonl_imports_every_good_line_and_rejects_each_hostile_one(plan) -> None:
    content, bad = b"", set()
    for number, body in enumerate(plan, start=1):
        if body is None:
            content += text_of(good(number)).encode() + b"\n"
        else:
            content += body.encode("utf-8", "surrogatepass") + b"\n"
            bad.add(number)
    with EventStore(":memory:") as store:
        report = store.import_events(content, format="jsonl", progress=False)
        assert set(report.rejected["line"]) == bad, report.rejected
        assert report.imported == len(plan) - len(bad)
        assert set(store.to_dataframe()["callId"]) == {f"c-{n}" for n in range(1, len(plan) + 1)} - {
            f"c-{n}" for n in bad}


hostile_entries = st.one_of(
    st.sampled_from([
        {"request": {"method": "POST", "url": "http://[::1/cb", "postData": {"text": "{}"}}},
        {"request": {"method": "POST", "url": "http://127.0.0.1/cb", "headers": 5}},
        {"request": {"method": "POST", "url": "http://127.0.0.1/cb", "headers": [1, "x"]}},
        {"request": {"method": "GET", "url": "http://127.0.0.1/cb", "postData": {"params": [1]}}},
        {"request": {"method": "POST", "url": 5, "postData": {"text": 7}}},
        {"request": "GET /cb"},
        "not an entry",
    ]),
    hostile_bodies.map(lambda body: {"request": {
        "method": "POST", "url": "http://127.0.0.1/cb",
        "postData": {"mimeType": "application/json", "text": body},
    }}),
)


@fuzz
@given(plan=st.lists(st.one_of(st.none(), hostile_entries), min_size=1, max_size=20))
def test_har_imports_every_good_entry_and_refuses_each_hostile_one_alone(plan) -> None:
    entries = []
    for number, entry in enumerate(plan, start=1):
        if entry is None:
            entry = {"request": {"method": "POST", "url": "http://127.0.0.1/cb",
                                 "postData": {"mimeType": "application/json", "text": text_of(good(number))}}}
        entries.append(entry)
    content = json.dumps({"log": {"entries": entries}}).encode("utf-8", "surrogatepass")
    goods = {number for number, entry in enumerate(plan, start=1) if entry is None}
    with EventStore(":memory:") as store:
        report = store.import_events(content, format="har", progress=False)
        assert report.imported == len(goods)
        assert report.rejected_count + report.skipped == len(plan) - len(goods)
        assert set(store.to_dataframe()["callId"]) == {f"c-{n}" for n in goods}


cells = st.one_of(st.just(b"s"), st.just(b""), st.binary(min_size=1, max_size=6).filter(
    lambda raw: b"," not in raw and b"\n" not in raw and b"\r" not in raw and b'"' not in raw))


@fuzz
@given(rows=st.lists(st.tuples(st.one_of(st.none(), hostile_bodies), cells, cells), min_size=1, max_size=20))
def test_csv_imports_every_good_row_and_rejects_each_hostile_one(rows) -> None:
    content, goods = b"payload,received,source,session\n", set()
    for number, (body, source, session) in enumerate(rows, start=2):
        text = text_of(good(number)) if body is None else body
        content += b'"' + text.replace('"', '""').encode("utf-8", "surrogatepass") + b'",,' + source + b","
        content += session + b"\n"
        readable = all(_utf8(cell) for cell in (source, session))
        if body is None and readable:
            goods.add(number)
    with EventStore(":memory:") as store:
        report = store.import_events(content, format="csv", progress=False)
        assert report.imported == len(goods), report.rejected
        assert report.rejected_count == len(rows) - len(goods)
        assert set(store.to_dataframe()["callId"]) == {f"c-{n}" for n in goods}


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_an_ngrok_capture_with_a_hostile_entry_imports_the_rest() -> None:
    def captured(body: bytes, uri: object = "/cb") -> dict:
        raw = base64.b64encode(b"POST /cb HTTP/1.1\r\nContent-Type: application/json\r\n\r\n" + body).decode()
        return {"request": {"method": "POST", "uri": uri, "headers": {"Content-Type": ["application/json"]},
                            "raw": raw}}

    deep = b'{"eventType":"x","callId":"c","time":"2026-01-01T00:00:00Z","a":' + b"[" * 990 + b"]" * 990
    deep += b"}"
    entries = [captured(deep), captured(text_of(good(2)).encode()), captured(b"{}", uri=5),
               {"request": {"headers": 5}}, captured(text_of(good(5)).encode())]
    with EventStore(":memory:") as store:
        capture = json.dumps({"requests": entries}).encode()
        report = store.import_events(capture, format="ngrok", progress=False)
        assert report.imported == 2 and set(store.to_dataframe()["callId"]) == {"c-2", "c-5"}
        assert report.rejected_count + report.skipped == 3
