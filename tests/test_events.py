"""EventStore: storage, dedupe, typed frames, filters, rejected deliveries, gathers, exports, restarts."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catapult_nb.store.store import EVENT_COLUMNS, EventStore, Payload, StoreClosedError

GATHER = {
    "eventType": "gather",
    "reason": "max-digits",
    "state": "completed",
    "digits": "007",
    "time": "2014-07-31T01:01:27Z",
    "callId": "c-aaaaaaaaaaaaaaaaaaaaaaa",
    "gatherId": "gtr-bbbbbbbbbbbbbbbbbbbbbbb",
    "tag": "my-tag",
}
DTMF = {
    "eventType": "dtmf",
    "callId": "c-aaaaaaaaaaaaaaaaaaaaaaa",
    "dtmfDigit": "5",
    "time": "2012-11-14T15:56:09.276Z",
}
HANGUP = {
    "eventType": "hangup",
    "callId": "c-ccccccccccccccccccccccc",
    "cause": "NORMAL_CLEARING",
    "callState": "completed",
    "from": "+15753222083",
    "to": "+13865245000",
    "time": "2012-11-14T16:29:35.427Z",
}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(["digits", "eventType", "tag", "callId"]) | st.text(max_size=12)

EXPECTED_DTYPES = {
    "eventType": "category",
    "time": "datetime64[ns, UTC]",
    "dialect": "category",
    "reason": "category",
    "state": "category",
    "received": "datetime64[ns, UTC]",
    "payload": "object",
}


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    with EventStore(tmp_path / "events.sqlite3") as instance:
        yield instance


def check_dtypes(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(EVENT_COLUMNS)
    assert frame.index.name == "id"
    assert frame.index.dtype == "int64"
    for name in EVENT_COLUMNS:
        expected = EXPECTED_DTYPES.get(name, "string")
        assert str(frame[name].dtype) == expected, (name, frame[name].dtype)
    for name in EVENT_COLUMNS:
        if EXPECTED_DTYPES.get(name, "string") == "string":
            assert frame[name].dtype.na_value is pd.NA, name


def test_default_path_is_a_file_in_a_hidden_folder_of_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with EventStore() as store:
        store.add(GATHER)
    assert (tmp_path / ".catapult" / "events.sqlite3").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [".catapult"]  # nothing else beside the notebook
    journal = EventStore(tmp_path / ".catapult" / "events.sqlite3")
    assert journal._wconn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    journal.close()


def test_add_stores_once_and_reports_duplicates(store: EventStore) -> None:
    assert store.add(GATHER) is True
    assert store.add(dict(reversed(list(GATHER.items())))) is False  # same event, keys in another order
    assert store.add({**GATHER, "digits": "008"}) is True
    assert len(store) == 2


def test_add_many_dedupes_inside_one_batch(store: EventStore) -> None:
    assert store.add_many(
        [(GATHER, "receiver", None, None), (GATHER, "receiver", None, None), (DTMF, "receiver", None, None)]
    ) == [True, False, True]
    assert len(store) == 2


def test_frame_has_typed_columns_and_keeps_leading_zeros(store: EventStore) -> None:
    store.add(GATHER, session="s1", received_at=pd.Timestamp("2024-01-02T03:04:05Z"))
    store.add(DTMF, source="campaign")
    store.add(HANGUP)

    frame = store.to_dataframe()

    check_dtypes(frame)
    assert list(frame.index) == [1, 2, 3]
    gather = frame.loc[1]
    assert gather["digits"] == "007"
    assert gather["time"] == pd.Timestamp("2014-07-31T01:01:27Z")
    assert gather["received"] == pd.Timestamp("2024-01-02T03:04:05Z")
    assert (gather["session"], gather["source"], gather["tag"]) == ("s1", "receiver", "my-tag")
    assert frame.loc[2, "time"] == pd.Timestamp("2012-11-14T15:56:09.276Z")
    assert frame.loc[2, "dtmfDigit"] == "5" and frame.loc[2, "source"] == "campaign"
    assert frame.loc[2, "digits"] is pd.NA
    assert frame.loc[3, ["cause", "callState", "from", "to"]].tolist() == [
        "NORMAL_CLEARING",
        "completed",
        "+15753222083",
        "+13865245000",
    ]
    assert set(frame["eventType"].cat.categories) == {"gather", "dtmf", "hangup"}


def test_empty_store_gives_empty_frame_with_the_same_columns(store: EventStore) -> None:
    frame = store.to_dataframe()
    assert len(frame) == 0
    check_dtypes(frame)


def test_payload_keeps_unknown_fields_and_compares_as_a_dict(store: EventStore) -> None:
    extra = {**GATHER, "brandNew": {"nested": [1, 2]}, "dtmfDuration": "1600"}
    store.add(extra)
    payload = store.to_dataframe()["payload"].iloc[0]
    assert isinstance(payload, Payload)
    assert payload["brandNew"] == {"nested": [1, 2]}
    assert payload == extra and dict(payload) == extra
    assert json.loads(json.dumps(payload.to_dict())) == extra
    assert "brandNew" in repr(payload)


def test_frames_pickle_with_plain_dict_payloads(store: EventStore, tmp_path: Path) -> None:
    store.add(GATHER)
    store.to_dataframe().to_pickle(tmp_path / "events.pkl")
    back = pd.read_pickle(tmp_path / "events.pkl")
    assert type(back["payload"].iloc[0]) is dict and back["payload"].iloc[0] == GATHER
    assert back["digits"].iloc[0] == "007"


def test_odd_values_of_known_fields(store: EventStore) -> None:
    # a sender that writes digits as a number, a time that is not ISO-8601, and no eventType at all
    store.add({"digits": 42, "time": "yesterday", "callId": "c-1"})
    row = store.to_dataframe().iloc[0]
    assert row["digits"] == "42"
    assert row["time"] is pd.NaT
    assert row["eventType"] is pd.NA or pd.isna(row["eventType"])
    assert row["payload"]["time"] == "yesterday"


def test_add_refuses_what_is_not_an_object(store: EventStore) -> None:
    with pytest.raises(TypeError, match="must be a JSON object"):
        store.add(["not", "a", "dict"])  # type: ignore[arg-type]
    assert len(store) == 0


@pytest.mark.parametrize(
    "payload",
    [{"time": pd.Timestamp("2024-01-01")}, {"n": float("nan")}, {1: "x", "a": "y"}],
    ids=["timestamp", "nan", "mixed-keys"],
)
def test_add_refuses_what_is_not_json(store: EventStore, payload: dict) -> None:
    with pytest.raises(TypeError, match="an event payload must be JSON"):
        store.add_many([(GATHER, "receiver", None, None), (payload, "receiver", None, None)])
    assert len(store) == 0  # nothing of the batch is stored
    assert store.add(GATHER) is True


@settings(max_examples=60, deadline=None)
@given(payload=st.dictionaries(KEYS, JSON, max_size=6))
def test_any_json_object_round_trips(payload: dict) -> None:
    with EventStore(":memory:") as store:
        # a retry is stored once; an event without a time cannot be told from its retry, so it is kept
        timeless = payload.get("time") in (None, "")
        assert store.add(payload) is True and store.add(payload) is timeless
        frame = store.to_dataframe()
        assert len(frame) == (2 if timeless else 1) and frame["payload"].iloc[0] == payload
    digits = payload.get("digits")
    if isinstance(digits, str):
        assert frame["digits"].iloc[0] == digits


def test_payloads_of_a_sparse_filtered_frame(store: EventStore) -> None:
    # one call's events interleaved with many others: only its own payloads are read
    for n in range(1200):
        store.add({**DTMF, "callId": "c-mine" if n % 300 == 0 else f"c-{n}", "n": n})
    frame = store.to_dataframe(call_id="c-mine")
    assert [p["n"] for p in frame["payload"]] == [0, 300, 600, 900]
    assert len(frame["payload"].iloc[0]._batch._texts) == 4


def test_a_few_rows_of_a_big_store_match_the_whole_frame(store: EventStore) -> None:
    # many strings, few rows: the filtered frame re-numbers its own strings, and must equal a slice
    store.add_many([
        ({**GATHER, "gatherId": f"g-{n}", "digits": f"{n:03d}", "tag": None if n % 2 else f"t-{n}"},
         "receiver", None, None)
        for n in range(400)
    ])
    store.add({**HANGUP, "callId": GATHER["callId"]})
    whole = store.to_dataframe()
    for gather_id in ("g-0", "g-7", "g-399"):
        part = store.to_dataframe(gather_id=gather_id)
        pd.testing.assert_frame_equal(
            part.drop(columns="payload"),
            whole[whole["gatherId"] == gather_id].drop(columns="payload"),
            check_categorical=False,  # a filtered frame's categories are its own values
        )
        check_dtypes(part)
    assert store.to_dataframe(event_type="hangup")["tag"].isna().all()


def test_event_rows_equal_the_frame_row_by_row(store: EventStore) -> None:
    store.add(GATHER, session="a")
    store.add(DTMF, received_at=1_700_000_000.5)
    store.add({**HANGUP, "time": "not a time"})
    frame = store.to_dataframe()
    rows = store.event_rows()
    assert [row["id"] for row in rows] == frame.index.tolist()
    for row, (event_id, expected) in zip(rows, frame.iterrows(), strict=True):
        assert list(row) == ["id", *EVENT_COLUMNS]
        for name in EVENT_COLUMNS:
            value = expected[name]
            missing = name != "payload" and pd.isna(value)  # NA, NaT, and NaN of a categorical
            assert row[name] == (None if missing else value), (event_id, name)
    assert rows[2]["time"] is None
    assert rows[1]["received"] == pd.Timestamp(1_700_000_000.5, unit="s", tz="UTC")
    assert rows[0]["payload"] == GATHER and rows[0]["session"] == "a" and rows[1]["session"] is None


def test_filters(store: EventStore) -> None:
    store.add(GATHER, session="a")
    store.add(DTMF, session="b")
    store.add(HANGUP, session="a")

    assert store.to_dataframe(call_id=GATHER["callId"]).index.tolist() == [1, 2]
    assert store.to_dataframe(gather_id=GATHER["gatherId"]).index.tolist() == [1]
    assert store.to_dataframe(event_type="hangup").index.tolist() == [3]
    assert store.to_dataframe(session="a").index.tolist() == [1, 3]
    assert store.to_dataframe(call_id=GATHER["callId"], event_type="dtmf").index.tolist() == [2]
    assert store.to_dataframe(since=2).index.tolist() == [3]
    nothing = store.to_dataframe(call_id="c-unknown")
    assert len(nothing) == 0
    check_dtypes(nothing)


def test_listeners_get_new_events_and_their_failures_are_logged(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[dict] = []

    def broken(row: dict) -> None:
        raise RuntimeError("listener bug")

    store.add_listener(broken)
    store.add_listener(seen.append)
    with caplog.at_level(logging.ERROR, logger="catapult_nb.store.store"):
        assert store.add(GATHER) is True
        assert store.add(GATHER) is False  # a duplicate is not new: no call
    assert [row["digits"] for row in seen] == ["007"]
    assert seen[0]["id"] == 1 and seen[0]["eventType"] == "gather"
    assert seen[0]["time"] == pd.Timestamp("2014-07-31T01:01:27Z")
    assert "listener bug" in caplog.text and len(store) == 1

    store.remove_listener(seen.append)
    store.remove_listener(seen.append)  # twice is fine
    store.add(DTMF)
    assert len(seen) == 1


def test_concurrent_writers_and_a_reader(store: EventStore) -> None:
    # given eight threads adding events while the main thread keeps reading
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(50):
                store.add({**DTMF, "dtmfDigit": str(i % 10), "n": i, "worker": worker})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        frame = store.to_dataframe()
        assert frame.index.is_monotonic_increasing
    for thread in threads:
        thread.join()

    # then every event is there once, with its own payload
    assert not errors
    frame = store.to_dataframe()
    assert len(frame) == 400
    pairs = {(p["worker"], p["n"]) for p in frame["payload"]}
    assert len(pairs) == 400


def test_wait_for_returns_an_event_stored_before_and_one_stored_later(store: EventStore) -> None:
    store.add(GATHER)
    assert store.wait_for(gather_id=GATHER["gatherId"], timeout=0.01)["digits"] == "007"

    later = {**GATHER, "gatherId": "gtr-later", "digits": "1"}
    threading.Timer(0.05, store.add, args=(later,)).start()
    event = store.wait_for(gather_id="gtr-later", event_type="gather", timeout=5)
    assert event is not None and event["digits"] == "1"


def test_wait_for_since_and_predicate(store: EventStore) -> None:
    store.add(DTMF)
    mark = store.last_id
    with pytest.raises(TimeoutError, match=r"no event with event_type='dtmf', an id after \d+ stored within"):
        store.wait_for(event_type="dtmf", since=mark, timeout=0.05)
    threading.Timer(0.02, store.add, args=({**DTMF, "dtmfDigit": "1"},)).start()
    threading.Timer(0.04, store.add, args=({**DTMF, "dtmfDigit": "9"},)).start()
    event = store.wait_for(predicate=lambda e: e["dtmfDigit"] == "9", since=mark, timeout=5)
    assert event is not None and event["dtmfDigit"] == "9" and event["id"] == mark + 2


def test_rejected_deliveries_mask_the_secret_path_and_truncate_the_body(store: EventStore) -> None:
    store.add_rejected(
        "not-json",
        detail="bad",
        body=b"\xff" + b"x" * 5000,
        method="POST",
        path="/callbacks/s3cretT0kenValue123",
    )
    store.add_rejected("wrong-method", method="PUT", path="/callbacks/abc/extra")
    frame = store.rejected()
    assert frame["reason"].tolist() == ["not-json", "wrong-method"]
    assert frame["path"].tolist() == ["/callbacks/***", "/callbacks/***/extra"]
    assert "s3cret" not in frame.to_string()
    assert frame.loc[1, "body"].startswith("\ufffdxxx") and "more bytes" in frame.loc[1, "body"]
    assert len(frame.loc[1, "body"]) < 2200
    assert str(frame["received"].dtype) == "datetime64[ns, UTC]"
    assert len(store.rejected().iloc[0:0].columns) == 7


def test_gathers_are_typed_and_joinable(store: EventStore) -> None:
    store.record_gather(
        GATHER["gatherId"],
        GATHER["callId"],
        {
            "maxDigits": "5",
            "terminatingDigits": "*",
            "interDigitTimeout": "7.5",
            "prompt": {"sentence": "Please enter your 5 digit code", "loopEnabled": "true"},
        },
        "2014-07-31T01:01:20Z",
        session="s1",
    )
    store.record_gather("gtr-2", "c-2", {}, None)
    frame = store.gathers()
    first = frame.iloc[0]
    assert first["maxDigits"] == 5 and first["interDigitTimeout"] == 7.5
    assert first["prompt.sentence"] == "Please enter your 5 digit code" and bool(first["prompt.loopEnabled"])
    assert first["createdTime"] == pd.Timestamp("2014-07-31T01:01:20Z")
    assert first["options"]["maxDigits"] == "5"
    assert str(frame["maxDigits"].dtype) == "Int64" and str(frame["interDigitTimeout"].dtype) == "Float64"
    assert str(frame["suppressDtmf"].dtype) == "boolean" and str(frame["gatherId"].dtype) == "string"
    assert frame.iloc[1]["maxDigits"] is pd.NA and frame.iloc[1]["createdTime"] is pd.NaT

    store.add(GATHER)
    joined = store.to_dataframe().merge(frame, on="gatherId", suffixes=("", "_gather"))
    assert joined.loc[0, "maxDigits"] == 5 and joined.loc[0, "digits"] == "007"


def test_clear_empties_everything_and_ids_are_not_reused(store: EventStore) -> None:
    store.add(GATHER)
    store.add_rejected("not-json")
    store.record_gather("gtr-1", "c-1", {"maxDigits": 3})
    before = store.to_dataframe()
    store.clear()
    assert (len(store), len(store.rejected()), len(store.gathers())) == (0, 0, 0)
    store.add(HANGUP)
    frame = store.to_dataframe()
    assert frame.index.tolist() == [2]
    assert frame.loc[2, "cause"] == "NORMAL_CLEARING" and frame.loc[2, "callId"] == HANGUP["callId"]
    # a frame made before the clear never shows a later event's payload as its own
    with pytest.raises(LookupError, match="cleared"):
        dict(before.loc[1, "payload"])


def test_wait_for_sees_an_event_stored_after_a_clear(store: EventStore) -> None:
    # given a store that held events, then was cleared (a notebook's "start over" cell)
    for digit in "123":
        store.add({**DTMF, "dtmfDigit": digit})
    mark = store.last_id
    store.clear()
    # when a gather event arrives while we wait for it
    threading.Timer(0.05, store.add, args=(GATHER,)).start()
    event = store.wait_for(gather_id=GATHER["gatherId"], event_type="gather", timeout=5)
    # then the wait returns it, and a mark taken before the clear still finds it
    assert event is not None and event["digits"] == "007"
    assert store.wait_for(event_type="gather", since=mark, timeout=0.01)["eventType"] == "gather"


def test_a_clear_during_a_wait_does_not_hide_the_next_event(store: EventStore) -> None:
    for digit in "12345":
        store.add({**DTMF, "dtmfDigit": digit})
    found: list[dict | None] = []
    started = threading.Event()

    def wait() -> None:
        started.set()
        found.append(store.wait_for(event_type="gather", timeout=5))

    waiter = threading.Thread(target=wait)
    waiter.start()
    started.wait(5)
    store.clear()
    store.add(GATHER)
    waiter.join(10)
    assert found and found[0] is not None and found[0]["gatherId"] == GATHER["gatherId"]


def test_clear_by_another_store_on_the_same_file(tmp_path: Path) -> None:
    # string ids cached by one store must not outlive a clear() made through another
    path = tmp_path / "shared.sqlite3"
    with EventStore(path) as first, EventStore(path) as second:
        first.add(GATHER)
        assert first.to_dataframe().loc[1, "digits"] == "007"
        second.clear()
        second.add(HANGUP)
        first.add(DTMF)
        frame = first.to_dataframe()
        assert frame["eventType"].tolist() == ["hangup", "dtmf"]
        assert frame.index.tolist() == [2, 3]  # ids are not reused after the clear
        assert frame.loc[3, "dtmfDigit"] == "5" and frame.loc[2, "cause"] == "NORMAL_CLEARING"


def test_a_fresh_process_sees_every_event(tmp_path: Path) -> None:
    # given events written by this process (as by a kernel that is then restarted)
    path = tmp_path / "events.sqlite3"
    with EventStore(path) as store:
        for i in range(25):
            store.add({**GATHER, "gatherId": f"gtr-{i}", "digits": f"{i:03d}"}, session="before")
        store.add_rejected("not-json", path="/callbacks/tok")

    # when a new process opens the same file
    script = (
        "import json, sys\n"
        "from catapult_nb.store.store import EventStore\n"
        "store = EventStore(sys.argv[1])\n"
        "frame = store.to_dataframe()\n"
        "print(json.dumps({'digits': frame['digits'].tolist(), 'gathers': frame['gatherId'].tolist(),\n"
        "    'sessions': sorted(set(frame['session'])), 'rejected': len(store.rejected()),\n"
        "    'new': store.add({'eventType': 'hangup', 'callId': 'c-after'})}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(out.stdout)

    # then it sees every event, in order, with its digits as text
    assert seen["digits"] == [f"{i:03d}" for i in range(25)]
    assert seen["gathers"] == [f"gtr-{i}" for i in range(25)]
    assert seen["sessions"] == ["before"] and seen["rejected"] == 1 and seen["new"] is True
    with EventStore(path) as again:
        assert len(again) == 26 and again.to_dataframe().iloc[-1]["callId"] == "c-after"


def test_csv_and_parquet_round_trip(store: EventStore, tmp_path: Path) -> None:
    store.add(GATHER)
    store.add({**DTMF, "odd": 'x,y\n"z"'})
    store.add(HANGUP)
    original = store.to_dataframe()

    store.to_parquet(tmp_path / "events.parquet")
    back = pd.read_parquet(tmp_path / "events.parquet")
    assert back.index.tolist() == original.index.tolist()
    for name in EVENT_COLUMNS:
        if name == "payload":
            assert [json.loads(text) for text in back[name]] == [p.to_dict() for p in original[name]]
        else:
            pd.testing.assert_series_equal(back[name], original[name], check_categorical=False)
    assert back.loc[1, "digits"] == "007"

    store.to_csv(tmp_path / "events.csv")
    csv = pd.read_csv(tmp_path / "events.csv", index_col="id", dtype=str, keep_default_na=False)
    assert csv.index.tolist() == ["1", "2", "3"] and csv.loc["1", "digits"] == "007"
    assert json.loads(csv.loc["2", "payload"])["odd"] == 'x,y\n"z"'
    assert pd.Timestamp(csv.loc["3", "time"]) == original.loc[3, "time"]


def test_filtered_export(store: EventStore, tmp_path: Path) -> None:
    store.add(GATHER)
    store.add(HANGUP)
    store.to_parquet(tmp_path / "one.parquet", event_type="hangup")
    assert pd.read_parquet(tmp_path / "one.parquet")["eventType"].tolist() == ["hangup"]


def test_frames_outlive_a_closed_store(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.sqlite3")
    store.add(GATHER)
    frame = store.to_dataframe()
    store.close()
    store.close()  # idempotent
    assert frame["payload"].iloc[0]["tag"] == "my-tag"
    with pytest.raises(StoreClosedError, match="open a new EventStore"):
        store.to_dataframe()
    with pytest.raises(StoreClosedError):
        store.add(GATHER)
    assert "closed" in repr(store)


def test_memory_store(tmp_path: Path) -> None:
    with EventStore(":memory:") as store:
        store.add(GATHER)
        assert store.to_dataframe().loc[1, "payload"]["digits"] == "007"


def test_repr_and_html(store: EventStore) -> None:
    store.add(GATHER)
    store.add(DTMF)
    store.add_rejected("not-json")
    assert repr(store) == "EventStore('events.sqlite3', events=2, rejected=1, gathers=0)"
    page = store._repr_html_()
    assert "gather: 1" in page and "dtmf: 1" in page and "<table>" in page


def test_bad_synchronous_setting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be"):
        EventStore(tmp_path / "x.sqlite3", synchronous="sometimes")


# -- what identifies one delivery ---------------------------------------------------------------------------


def test_a_retry_is_stored_once_but_distinct_events_never_merge(store: EventStore) -> None:
    # a retry repeats the event as it was: the same call, type, time and fields
    assert store.add(DTMF) is True
    assert store.add(dict(DTMF)) is False
    # the same key at another instant, or another key at the same instant, is another event
    assert store.add({**DTMF, "time": "2012-11-14T15:56:09.277Z"}) is True
    assert store.add({**DTMF, "dtmfDigit": "6"}) is True
    # an event without a time cannot be told from its retry: every delivery of it is kept
    timeless = {"eventType": "dtmf", "callId": "c-aaaaaaaaaaaaaaaaaaaaaaa", "dtmfDigit": "1"}
    assert store.add(timeless) is True
    assert store.add(dict(timeless)) is True
    assert len(store) == 5

