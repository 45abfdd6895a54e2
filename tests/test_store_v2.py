"""Voice API v2 webhooks in the event store beside v1 events: columns, identity, the receiver's checks,
imports (JSON lines, HAR with BXML answers), the BXML gathers, and stores written before the dialect."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from catapult_nb import analysis
from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.store.bxml import BxmlError
from catapult_nb.store.reading import SID_FIELDS
from catapult_nb.store.schema import FIRST_FIELDS, NewerStoreError
from catapult_nb.store.store import EventStore

GOLDEN = Path(__file__).parent / "golden" / "stores" / "before-dialect.sqlite3"
URL = "http://127.0.0.1:8181/api/v2/accounts/9900000/calls"


def v2(event_type: str, at: str, call: str = "c-v2", **fields: object) -> dict:
    """A v2 webhook with the core fields the SDK's models require, in the simulator's order."""
    return {"eventType": event_type, "eventTime": at, "accountId": "9900000", "applicationId": "a-1",
            "from": "+15551230000", "to": "+15551239999", "direction": "inbound", "callId": call,
            "callUrl": f"{URL}/{call}", "startTime": "2026-01-01T10:00:00.000Z", **fields}


GATHER_V2 = v2("gather", "2026-01-01T10:00:05.250Z", answerTime="2026-01-01T10:00:00.500Z", digits="1234",
               terminatingDigit="#", tag="menu")
DISCONNECT_V2 = v2("disconnect", "2026-01-01T10:00:09.000Z", endTime="2026-01-01T10:00:09.000Z",
                   cause="invalid-bxml", errorMessage="Gather: maxDigits must be between 1 and 50, got 60")
GATHER_V1 = {"eventType": "gather", "reason": "max-digits", "state": "completed", "digits": "007",
             "time": "2014-07-31T01:01:27Z", "callId": "c-v1", "gatherId": "gtr-1", "tag": "t"}
BXML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Gather gatherUrl="/gather" maxDigits="4" '
        'terminatingDigits="#" interDigitTimeout="3" firstDigitTimeout="4" password="hunter2">'
        '<SpeakSentence voice="julie">Enter your code</SpeakSentence></Gather></Response>')


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "events.sqlite3") as instance:
        yield instance


def test_v2_webhooks_and_v1_events_share_the_frame(store: EventStore) -> None:
    heard: list[dict] = []
    store.add_listener(heard.append)
    for payload in (GATHER_V1, GATHER_V2, DISCONNECT_V2):
        assert store.add(payload)

    frame = store.to_dataframe()

    assert frame["dialect"].tolist() == ["v1", "v2", "v2"]
    assert str(frame["dialect"].dtype) == "category"
    times = ("2014-07-31T01:01:27Z", "2026-01-01T10:00:05.250Z", "2026-01-01T10:00:09Z")
    assert frame["time"].tolist() == [pd.Timestamp(t) for t in times]
    assert frame["terminatingDigit"].tolist() == [pd.NA, "#", pd.NA]
    assert frame["digits"].tolist() == ["007", "1234", pd.NA]
    assert frame["cause"].iloc[2] == "invalid-bxml" and frame["errorMessage"].iloc[2].startswith("Gather:")
    assert frame["direction"].tolist() == [pd.NA, "inbound", "inbound"]
    assert frame["payload"].iloc[1] == GATHER_V2
    assert store.to_dataframe(event_type="disconnect")["dialect"].tolist() == ["v2"]
    # listeners get the same row as event_rows gives
    assert [(row["dialect"], row["time"], row["terminatingDigit"]) for row in heard] == [
        (row["dialect"], row["time"], row["terminatingDigit"]) for row in store.event_rows()]
    assert heard[1]["time"] == pd.Timestamp(GATHER_V2["eventTime"])


def test_a_retried_v2_webhook_is_stored_once_and_another_time_is_another_event(store: EventStore) -> None:
    assert store.add(GATHER_V2) is True
    assert store.add(dict(reversed(list(GATHER_V2.items())))) is False  # the same payload, keys reordered
    assert store.add({**GATHER_V2, "eventTime": "2026-01-01T10:00:05.251Z"}) is True
    no_time = {k: v for k, v in GATHER_V2.items() if k != "eventTime"}
    assert store.add(no_time) and store.add(no_time)  # nothing tells its retry from a second event
    assert len(store) == 4
    assert store.to_dataframe()["dialect"].tolist() == ["v2"] * 4


def test_a_webhook_with_an_empty_digits_keeps_it_empty_not_missing(store: EventStore) -> None:
    store.add({**GATHER_V2, "digits": "", "terminatingDigit": ""})
    row = store.to_dataframe().iloc[0]
    assert row["digits"] == "" and row["terminatingDigit"] == ""


# -- stores written before the dialect ---------------------------------------------------------------


def test_a_store_written_before_the_dialect_opens_with_the_new_columns(tmp_path: Path) -> None:
    # given a file the previous version wrote (tests/golden/stores/before-dialect.py made it): two v1
    # events and two v2 webhooks it stored with no time
    path = tmp_path / "old.sqlite3"
    shutil.copy(GOLDEN, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'record_fields'").fetchone() is None
        (size,) = conn.execute("SELECT length(rec) FROM events LIMIT 1").fetchone()
    assert size == 24 + 4 * len(FIRST_FIELDS)

    with EventStore(path) as store:
        frame = store.to_dataframe()
        # then v1 rows keep what they had and v2 rows read their eventTime and their own fields
        assert frame["eventType"].tolist() == ["gather", "hangup", "gather", "disconnect"]
        assert frame["dialect"].tolist() == ["v1", "v1", "v2", "v2"]
        assert frame["time"].notna().all()
        assert frame["time"].iloc[2] == pd.Timestamp("2026-01-01T10:00:05.250Z")
        assert frame["terminatingDigit"].tolist() == [pd.NA, pd.NA, "#", pd.NA]
        assert frame["source"].tolist() == ["receiver", "import.jsonl", "receiver", "receiver"]
        assert frame["session"].tolist() == ["old", pd.NA, pd.NA, pd.NA]
        assert frame["received"].iloc[0] == pd.Timestamp("2014-07-31T01:01:28Z")
        assert frame["digits"].tolist()[:3] == ["007", pd.NA, "1234"]
        assert store.gathers()["gatherId"].tolist() == ["gtr-1"]
        assert store.to_dataframe(gather_id="gtr-1")["reason"].tolist() == ["max-digits"]
        # and new events go on after them
        assert store.add(DISCONNECT_V2 | {"eventTime": "2026-01-01T11:00:00Z"})
        assert len(store) == 5
    with sqlite3.connect(path) as conn:
        fields = conn.execute("SELECT value FROM meta WHERE key = 'record_fields'").fetchone()[0]
        sizes = {size for (size,) in conn.execute("SELECT length(rec) FROM events")}
        generation = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
    assert fields == ",".join(SID_FIELDS) and sizes == {24 + 4 * len(SID_FIELDS)}
    assert generation == "1"  # readers' caches and the columnar copy are rebuilt
    with EventStore(path) as again:  # opening it again rewrites nothing
        assert again.to_dataframe()["dialect"].tolist() == ["v1", "v1", "v2", "v2", "v2"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0] == "1"


def test_a_store_a_newer_version_wrote_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    EventStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = value || ',mood' WHERE key = 'record_fields'")
    with pytest.raises(NewerStoreError, match=r"mood.*upgrade catapult_nb"):
        EventStore(path)


# -- the receiver -------------------------------------------------------------------------------------


@pytest.fixture
def receiver(store: EventStore) -> Iterator[CallbackReceiver]:
    with CallbackReceiver(store, session="test") as instance:
        yield instance


def test_the_receiver_takes_v2_webhooks_and_refuses_a_bad_event_time(
    receiver: CallbackReceiver, http: requests.Session
) -> None:
    for payload in (GATHER_V2, GATHER_V2, DISCONNECT_V2):
        assert http.post(receiver.url, json=payload, timeout=5).status_code == 200
    query = {k: v for k, v in GATHER_V2.items() if k != "eventTime"} | {"eventTime": "2026-01-01T10:00:07Z"}
    assert http.get(receiver.url, params=query, timeout=5).status_code == 200  # v2's GET webhooks

    bad = [GATHER_V2 | {"eventTime": "yesterday"}, GATHER_V2 | {"eventTime": 1767261605},
           GATHER_V1 | {"time": "31/07/2014"}]
    answers = [http.post(receiver.url, json=payload, timeout=5) for payload in bad]

    assert [a.status_code for a in answers] == [400, 400, 400]
    first = answers[0].json()
    assert first["error"] == "bad-time" and "eventTime 'yesterday'" in first["message"]
    assert "time '31/07/2014'" in answers[2].json()["message"]
    rejected = receiver.rejected()
    assert rejected["reason"].astype(str).tolist() == ["bad-time"] * 3
    assert "yesterday" in rejected["body"].iloc[0]
    frame = receiver.to_dataframe()
    assert frame["eventType"].tolist() == ["gather", "disconnect", "gather"]
    assert frame["dialect"].tolist() == ["v2"] * 3 and frame["time"].notna().all()


# -- imports -------------------------------------------------------------------------------------------


def lines(*payloads: dict) -> bytes:
    return b"".join(json.dumps(p).encode() + b"\n" for p in payloads)


def test_json_lines_of_v2_webhooks_import_beside_v1_events_with_the_same_checks(store: EventStore) -> None:
    data = lines(GATHER_V1, GATHER_V2, GATHER_V2, DISCONNECT_V2,
                 GATHER_V2 | {"eventTime": "soon"},
                 {k: v for k, v in GATHER_V2.items() if k != "eventTime"},
                 {k: v for k, v in GATHER_V2.items() if k != "callId"})

    report = store.import_events(data, format="jsonl")

    assert (report.imported, report.duplicates, report.rejected_count) == (3, 1, 3)
    rejected = report.rejected.set_index("line")
    assert rejected["reason"].astype(str).to_dict() == {5: "bad-time", 6: "no-time", 7: "no-callId"}
    assert rejected.loc[5, "detail"] == (
        "eventTime 'soon' is not an ISO 8601 time from 1677-09-21 to 2262-04-11")
    assert rejected.loc[6, "detail"] == "the event has no eventTime"
    frame = store.to_dataframe()
    assert frame["dialect"].tolist() == ["v1", "v2", "v2"]
    assert frame["received"].iloc[1] == pd.Timestamp(GATHER_V2["eventTime"])  # no record of its own


def har_entry(method: str, url: str, body: str, status: int = 200, answer: str | None = None,
              started: str = "2026-01-01T10:00:00.000Z", mime: str = "application/json") -> dict:
    content = {"size": len(answer or ""), "mimeType": "application/xml"}
    if answer is not None:
        content["text"] = answer
    return {"startedDateTime": started, "time": 1,
            "request": {"method": method, "url": url, "headers": [],
                        "postData": {"mimeType": mime, "text": body}},
            "response": {"status": status, "headers": [], "content": content}}


def test_a_har_of_a_v2_app_imports_its_webhooks_and_the_gathers_its_bxml_served(store: EventStore) -> None:
    answer = v2("answer", "2026-01-01T10:00:00.500Z", answerTime="2026-01-01T10:00:00.500Z")
    create = {"to": "+15551239999", "from": "+15551230000", "applicationId": "a-1",
              "answerUrl": "https://app.example/answer"}
    put = ('<Response><Gather gatherUrl="/g2" maxDigits="2"><PlayAudio>https://x/a.wav</PlayAudio>'
           '</Gather></Response>')
    entries = [
        har_entry("POST", URL, json.dumps(create), 201,
                  json.dumps(create | {"callId": "c-v2"})),                              # 1 not an event
        har_entry("POST", "https://app.example/answer", json.dumps(answer), 200, BXML),  # 2 event + gather
        har_entry("POST", "https://app.example/gather", json.dumps(GATHER_V2), 200,
                  "<Response><Hangup/></Response>"),                                     # 3 event
        har_entry("PUT", f"{URL}/c-v3/bxml", put, 204, None, "2026-01-01T10:05:00Z",
                  "application/xml"),                                                    # 4 gather
        har_entry("POST", "https://app.example/answer",
                  json.dumps(v2("answer", "2026-01-01T10:06:00Z", "c-v4")), 200,
                  "<Response><Gather"),                                                  # 5 event, bad BXML
    ]
    har = json.dumps({"log": {"version": "1.2", "entries": entries}}).encode()

    report = store.import_events(har)

    assert report.format == "har"
    assert (report.imported, report.gathers, report.skipped, report.rejected_count) == (3, 2, 1, 1)
    assert report.rejected.iloc[0]["reason"] == "bad-bxml" and report.rejected.iloc[0]["entry"] == 5
    gathers = store.gathers().set_index("gatherId")
    assert gathers.index.tolist() == ["c-v2@2026-01-01T10:00:00.500Z", "c-v3@2026-01-01T10:05:00Z"]
    first = gathers.iloc[0]
    assert first["options"] == {"dialect": "v2", "gatherUrl": "/gather", "maxDigits": 4,
                                "terminatingDigits": "#", "interDigitTimeout": 3.0, "firstDigitTimeout": 4.0,
                                "prompt": {"sentence": "Enter your code", "voice": "julie"}, "nestedVerbs": 1}
    assert "hunter2" not in json.dumps(gathers["options"].tolist())
    assert (first["maxDigits"], first["terminatingDigits"], first["interDigitTimeout"]) == (4, "#", 3.0)
    assert gathers.iloc[1]["options"]["prompt"] == {"fileUrl": "https://x/a.wav"}

    table = analysis.gather_table(store.to_dataframe(), store.gathers())
    row = table.loc["c-v2@2026-01-01T10:00:00.500Z"]
    assert (row["dialect"], row["reason"], row["reasonDerived"], row["digits"]) == (
        "v2", "terminating-digit", True, "1234")
    assert row["duration"] == pytest.approx(4.75) and row["maxDigits"] == 4
    assert row["optionSet"].startswith("v2 maxDigits=4")
    assert not table.loc["c-v3@2026-01-01T10:05:00Z", "finished"]  # served, never reported


def test_v2_gathers_travel_through_json_lines_and_back(store: EventStore, tmp_path: Path) -> None:
    store.add(GATHER_V1)
    store.add(GATHER_V2)
    store.record_gather("gtr-1", "c-v1", {"maxDigits": "3"}, "2014-07-31T01:01:20Z")
    assert store.record_bxml("c-v2", BXML, pd.Timestamp("2026-01-01T10:00:00.5Z")) == [
        "c-v2@2026-01-01T10:00:00.500Z"]

    with EventStore(tmp_path / "copy.sqlite3") as copy:
        report = copy.import_events(store.to_jsonl(), format="jsonl")
        assert (report.imported, report.gathers) == (2, 2)
        pd.testing.assert_frame_equal(copy.gathers().drop(columns="options"),
                                      store.gathers().drop(columns="options"))
        assert copy.gathers()["options"].tolist() == store.gathers()["options"].tolist()
        pd.testing.assert_frame_equal(analysis.gather_table(copy.events, copy.gathers()),
                                      analysis.gather_table(store.events, store.gathers()))


def test_record_bxml_says_what_is_wrong(store: EventStore) -> None:
    with pytest.raises(BxmlError, match="malformed XML: mismatched tag"):
        store.record_bxml("c-1", "<Response><Gather></Response>", "2026-01-01T10:00:00Z")
    with pytest.raises(BxmlError, match=r"DTDs and entities are not allowed in BXML"):
        store.record_bxml("c-1", '<!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>',
                          "2026-01-01T10:00:00Z")
    with pytest.raises(ValueError, match="served_time 'later' is not an ISO 8601 time"):
        store.record_bxml("c-1", BXML, "later")
    assert store.record_bxml("c-1", "<Response><Hangup/></Response>", "2026-01-01T10:00:00Z") == []
    assert len(store.gathers()) == 0


def test_v2_gathers_travel_through_har_as_their_documents(store: EventStore, tmp_path: Path) -> None:
    store.add(GATHER_V2)
    store.record_bxml("c-v2", BXML.replace("</Gather>", "</Gather><Gather maxDigits='1'/>"),
                      "2026-01-01T10:00:00.500Z")
    har = json.loads(store.to_har())
    put = [e for e in har["log"]["entries"] if e["request"]["method"] == "PUT"]
    assert [e["request"]["url"] for e in put] == [
        "https://voice.bandwidth.com/api/v2/accounts/{accountId}/calls/c-v2/bxml"]
    assert put[0]["startedDateTime"] == "2026-01-01T10:00:00.500Z"

    with EventStore(tmp_path / "copy.sqlite3") as copy:
        report = copy.import_events(store.to_har(), format="har")
        assert (report.imported, report.gathers, report.rejected_count) == (1, 2, 0)
        assert copy.gathers()["gatherId"].tolist() == store.gathers()["gatherId"].tolist() == [
            "c-v2@2026-01-01T10:00:00.500Z", "c-v2@2026-01-01T10:00:00.500Z#2"]
        assert copy.gathers()["options"].tolist() == store.gathers()["options"].tolist()
