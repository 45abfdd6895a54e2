"""Replay: stored callbacks sent again over real sockets, one row per request, errors as rows."""

from __future__ import annotations

import secrets
import socket
import threading
import time

import aiohttp
import pandas as pd
import pytest
from hostile_servers import HugeBody, RawServer, dripping, dripping_head

from catapult_nb.session import replay as replay_module
from catapult_nb.session.replay import USER_AGENT, replay
from catapult_nb.store.store import EventStore

EVENTS = [
    {"eventType": "answer", "callId": "c-1", "time": "2026-01-01T00:00:00.000Z"},
    {"eventType": "gather", "callId": "c-1", "digits": "123", "reason": "max-digits",
     "time": "2026-01-01T00:00:02.000Z"},
    {"eventType": "hangup", "callId": "c-1", "cause": "NORMAL_CLEARING", "time": "2026-01-01T00:00:05.000Z"},
]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def received(collector, count: int) -> list:
    """The collector's requests once it has recorded ``count`` (it records each just after answering)."""
    with collector._cond:
        assert collector._cond.wait_for(lambda: len(collector.requests) >= count, 5), collector.requests
        return sorted(collector.requests, key=lambda r: (r.event or {}).get("time", ""))


@pytest.fixture
def stored():
    """The events as the store gives them back: a frame with a payload column."""
    with EventStore(":memory:") as store:
        store.add_many([(event, "receiver", "s", None) for event in EVENTS])
        yield store.to_dataframe()


def test_stored_events_reach_the_app_with_v1_headers(stored, collector):
    rows = replay(stored, collector.url("/app"))

    assert list(rows["status"]) == [200, 200, 200] and rows["error"].isna().all()
    assert list(rows["eventType"]) == ["answer", "gather", "hangup"]
    requests = received(collector, 3)
    assert [r.json for r in requests] == EVENTS
    headers = requests[0].headers
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"] == USER_AGENT
    assert (rows["elapsedMs"] > 0).all()


def test_edit_as_a_dict_sets_and_removes_fields(collector):
    rows = replay(EVENTS[1:2], collector.url(), edit={"digits": "99999", "reason": None})

    sent = received(collector, 1)[0].json
    assert sent["digits"] == "99999" and "reason" not in sent
    assert rows.loc[0, "payload"] == sent


def test_an_edit_that_raises_is_that_rows_error_and_nothing_is_sent(collector):
    def only_gathers(payload):
        if payload["eventType"] != "gather":
            raise KeyError("digits")
        payload["digits"] = payload["digits"][::-1]

    rows = replay(EVENTS, collector.url(), edit=only_gathers)

    failed = "edit raised KeyError: 'digits'"
    assert list(rows["error"].fillna("")) == [failed, "", failed]
    assert rows["status"].isna().tolist() == [True, False, True]
    assert [r.json["digits"] for r in received(collector, 1)] == ["321"]


def test_a_closed_port_gives_one_error_row_per_event():
    rows = replay(EVENTS, f"http://127.0.0.1:{closed_port()}/app", timeout=2)

    assert rows["status"].isna().all()
    assert rows["error"].str.startswith("could not connect").all(), rows["error"].tolist()


def test_a_hanging_app_times_out_each_row_and_the_replay_goes_on(collector):
    release = collector.hold("/slow")
    try:
        rows = replay(EVENTS[:2], collector.url("/slow"), timeout=0.2)
    finally:
        release.set()
    assert list(rows["error"]) == ["no answer within 0.2 s"] * 2


def test_an_answer_that_is_not_http_is_an_error_row():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def garbage() -> None:
        for _ in EVENTS:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"this is not HTTP\r\n\r\n")

    thread = threading.Thread(target=garbage, daemon=True)
    thread.start()
    try:
        rows = replay(EVENTS, f"http://127.0.0.1:{server.getsockname()[1]}/", timeout=2)
    finally:
        thread.join(5)
        server.close()
    assert rows["status"].isna().all()
    assert rows["error"].str.contains("BadStatusLine|not HTTP|aborted", regex=True).all(), rows["error"]


def test_a_dripping_app_is_cut_at_the_whole_requests_deadline_and_said_so():
    with RawServer(dripping_head(0.2)) as slow:
        started = time.monotonic()
        rows = replay(EVENTS[:2], slow.url + "/cb", timeout=1)
        took = time.monotonic() - started
    assert list(rows["error"]) == ["no answer within 1 s"] * 2, list(rows["error"])
    assert took < 2 * 1 + 1.5, f"two requests of 1 s took {took:.1f} s"


def test_an_answer_whose_body_drips_counts_once_its_status_has_come():
    with RawServer(dripping(0.2)) as slow:
        started = time.monotonic()
        rows = replay(EVENTS[:2], slow.url + "/cb", timeout=1)
        took = time.monotonic() - started
    assert list(rows["status"]) == [200, 200] and rows["error"].isna().all(), rows
    assert took < 1.5, f"two answers that came at once took {took:.1f} s"


def test_a_huge_answer_is_not_read():
    body = HugeBody(300 * 1024 * 1024)
    with RawServer(body) as big:
        rows = replay(EVENTS[:1], big.url + "/cb", timeout=5)
    assert list(rows["status"]) == [200] and rows["error"].isna().all(), rows
    assert body.sent < 64 * 1024 * 1024, f"the replay read {body.sent:,} bytes of a 300 MB answer"


def test_get_sends_query_parameters_and_a_url_password_is_sent_but_never_shown(collector):
    url = collector.url("/cb").replace("http://", "http://me:s3cret-pass@")
    rows = replay(EVENTS[:1], url, method="GET")

    request = received(collector, 1)[0]
    assert request.method == "GET" and request.query["eventType"] == "answer"
    assert request.headers["Authorization"].startswith("Basic ")
    assert "s3cret-pass" not in rows.attrs["url"]
    refused = replay(EVENTS[:1], f"http://me:s3cret-pass@127.0.0.1:{closed_port()}/cb")
    assert "s3cret-pass" not in refused.loc[0, "error"]


@pytest.mark.parametrize("error", [
    aiohttp.ClientPayloadError, ValueError,
    lambda text: aiohttp.ClientResponseError(None, (), message=text),  # type: ignore[arg-type]
], ids=["client-error", "value-error", "not-http"])
def test_a_url_password_in_a_transport_error_is_masked_in_the_rows(monkeypatch, error):
    # a transport whose error text holds the whole URL, password included
    password = "s3cret-" + secrets.token_hex(6)

    def refuse(self, method, url, **kwargs):
        raise error(f"cannot send to {url}")

    monkeypatch.setattr(aiohttp.ClientSession, "request", refuse)
    rows = replay(EVENTS, f"http://me:{password}@127.0.0.1:9/cb")
    assert rows["error"].str.contains("cannot send to http://me:***@127.0.0.1:9/cb", regex=False).all(), (
        rows["error"].tolist())
    shown = rows.to_json() + repr(rows) + rows.to_html() + repr(rows.attrs)
    assert password not in shown


def test_recorded_pace_keeps_the_gaps_divided_by_speed(stored, collector, monkeypatch):
    deadlines: list[float] = []
    monkeypatch.setattr(replay_module, "_sleep_until", deadlines.append)
    monkeypatch.setattr(replay_module.time, "monotonic", lambda: 100.0)
    stored = stored.assign(received=pd.to_datetime([e["time"] for e in EVENTS], utc=True))

    replay(stored, collector.url(), pace="recorded", speed=4)

    assert deadlines == [100.0, 100.5, 101.25]


def test_recorded_pace_shortens_gaps_over_max_gap_and_says_so(collector, monkeypatch):
    deadlines: list[float] = []
    monkeypatch.setattr(replay_module, "_sleep_until", deadlines.append)
    monkeypatch.setattr(replay_module.time, "monotonic", lambda: 100.0)
    times = ["2020-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:02Z"]
    years_apart = [{**event, "time": moment} for event, moment in zip(EVENTS, times, strict=True)]

    with pytest.warns(UserWarning, match=r"1 gap over 60 s was shortened to 60 s \(max_gap\)"):
        rows = replay(years_apart, collector.url(), pace="recorded")

    assert deadlines == [100.0, 160.0, 162.0]
    assert rows.attrs["gaps_shortened"] == 1
    with pytest.warns(UserWarning, match="shortened to 0.5 s"):
        replay(years_apart, collector.url(), pace="recorded", max_gap=0.5)
    assert deadlines[3:] == [100.0, 100.5, 101.0]


def test_the_session_replays_to_its_own_receiver_which_keeps_duplicates_once():
    from catapult_nb import Session

    with Session.simulated(speed=50, store=":memory:") as session:
        call = session.call("+15551234567")
        before = session.events
        rows = session.replay(before, session.callback_url)
        edited = session.replay(before.head(1), session.callback_url, edit={"tag": "replayed"})
        assert (rows["status"] == 200).all() and (edited["status"] == 200).all()
        after = session.store.to_dataframe(call_id=call.id)
        assert len(after) == len(before) + 1 and after["tag"].iloc[-1] == "replayed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "ftp://example.com"}, "url must be an http"),
        ({"url": "http://127.0.0.1:99999/"}, "url must be an http"),
        ({"pace": "slow"}, "pace must be 'fast' or 'recorded'"),
        ({"speed": 0}, "speed must be a positive number"),
        ({"method": "PUT"}, "method must be 'POST' or 'GET'"),
        ({"timeout": -1}, "timeout must be a number of seconds"),
        ({"max_gap": 0}, "max_gap must be a positive number of seconds"),
        ({"edit": 5}, "edit must be a dict of fields or a function"),
        ({"events": [1, 2]}, "event 0 is not a JSON object"),
        ({"events": pd.DataFrame({"x": [1]})}, "the store's 'payload' column"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(kwargs, message):
    arguments = {"events": EVENTS, "url": "http://127.0.0.1:9/cb", **kwargs}
    with pytest.raises(ValueError, match=message):
        replay(arguments.pop("events"), arguments.pop("url"), **arguments)
