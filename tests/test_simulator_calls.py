"""Calls, inbound calls, audio, callback delivery and the virtual phone, over real sockets."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import secrets
import time
from datetime import datetime

import aiohttp
import pytest
from conftest import SIMULATOR_SPEED, Api
from pytest_httpserver import HTTPServer

from catapult_nb.redact import redact_url
from catapult_nb.simulator import Simulator
from catapult_nb.simulator.delivery import USER_AGENT
from catapult_nb.simulator.phone import PhoneError, VirtualPhone

# -- outbound calls -------------------------------------------------------------------------------


def test_outbound_call_is_answered(api, collector, simulator):
    response = api.post(
        "/calls", {"from": api.FROM, "to": api.TO, "callbackUrl": collector.url(), "tag": "x"}
    )
    assert response.status_code == 201 and response.content == b""
    location = response.headers["Location"]
    call_id = location.rsplit("/", 1)[1]
    assert location == f"{simulator.api_url}/users/{simulator.user_id}/calls/{call_id}"
    assert api.get(f"/calls/{call_id}").json()["state"] == "started"

    answer = collector.wait_for_event("answer", call_id)
    assert answer == {
        "eventType": "answer",
        "callId": call_id,
        "callUri": location,
        "time": answer["time"],
        "from": api.FROM,
        "to": api.TO,
        "callState": "active",
        "tag": "x",
    }
    call = api.get(f"/calls/{call_id}").json()
    assert (call["state"], call["direction"], call["callbackUrl"], call["tag"]) == (
        "active",
        "out",
        collector.url(),
        "x",
    )
    assert api.ISO_MS.match(call["activeTime"]) and api.ISO_MS.match(call["startTime"])


def test_no_answer_gives_a_timeout_event_after_call_timeout(api, collector):
    call_id = api.create_call(collector.url(), to="+15551230001", callTimeout="2")
    event = collector.wait_for_event("timeout", call_id)
    assert event["from"] == api.FROM
    assert api.get(f"/calls/{call_id}").json()["state"] == "completed"


@pytest.mark.parametrize(
    ("to", "cause", "state"),
    [
        ("+15551230002", "USER_BUSY", "completed"),
        ("+15551230003", "CALL_REJECTED", "rejected"),
    ],
)
def test_busy_and_rejecting_numbers(api, collector, to, cause, state):
    call_id = api.create_call(collector.url(), to=to)
    event = collector.wait_for_event("hangup", call_id)
    assert event["cause"] == cause
    assert api.get(f"/calls/{call_id}").json()["state"] == state
    assert not [e for e in collector.events(call_id) if e["eventType"] == "answer"]


def test_list_calls_and_event_log(api, collector):
    first = api.answered_call(collector)
    second = api.create_call(collector.url(), to="+15557770001")
    listed = [c["id"] for c in api.get("/calls", params={"sortOrder": "asc"}).json()]
    assert listed == [first, second]
    assert [c["id"] for c in api.get("/calls", params={"to": "+15557770001"}).json()] == [second]
    assert [
        c["id"] for c in api.get("/calls", params={"size": 1, "page": 1, "sortOrder": "desc"}).json()
    ] == [first]
    log = api.get(f"/calls/{first}/events").json()
    assert [e["name"] for e in log] == ["answer"]
    assert log[0]["id"].startswith("ce-")


def test_one_event_of_the_call_log(api, collector):
    call_id = api.answered_call(collector)
    (entry,) = api.get(f"/calls/{call_id}/events").json()
    assert api.get(f"/calls/{call_id}/events/{entry['id']}").json() == entry
    response = api.get(f"/calls/{call_id}/events/ce-nosuchevent")
    assert "ce-nosuchevent" in api.assert_error(response, 404, "not-found", "resource-not-found")["message"]
    api.assert_error(
        api.get(f"/calls/c-nosuchcall/events/{entry['id']}"), 404, "not-found", "call-not-found"
    )


def test_list_calls_filters_by_bridge_and_conference(api):
    bridged = api.create_call(None, to="+15557770001", bridgeId="brg-one")
    conferenced = api.create_call(None, to="+15557770001", conferenceId="conf-one")
    api.create_call(None, to="+15557770001")
    assert [c["id"] for c in api.get("/calls", params={"bridgeId": "brg-one"}).json()] == [bridged]
    assert [c["id"] for c in api.get("/calls", params={"conferenceId": "conf-one"}).json()] == [conferenced]
    assert api.get("/calls", params={"bridgeId": "brg-other"}).json() == []


def test_audio_speaks_and_stops(api, collector):
    call_id = api.answered_call(collector)
    assert api.post(f"/calls/{call_id}/audio", {"sentence": "Hello there", "tag": "a"}).status_code == 200
    collector.wait_for_event("speak", call_id, status="done")
    assert api.post(f"/calls/{call_id}/audio", {"sentence": "loop", "loopEnabled": "true"}).status_code == 200
    assert api.post(f"/calls/{call_id}/audio", {"sentence": ""}).status_code == 200
    collector.wait_for(
        lambda r: len([1 for e in collector.events(call_id) if e["eventType"] == "speak"]) == 4
    )
    speak = [(e["status"], e.get("tag")) for e in collector.events(call_id) if e["eventType"] == "speak"]
    assert speak == [("started", "a"), ("done", "a"), ("started", None), ("done", None)]
    assert api.post(f"/calls/{call_id}/dtmf", {"dtmfOut": "1W2,#"}).status_code == 200


# -- inbound calls --------------------------------------------------------------------------------


def test_incoming_call_answered_by_the_application(api, collector, simulator):
    phone = simulator.phone
    call_id = phone.incoming("+15550001111", "+15552223333", collector.url("/in"))
    assert api.CALL_ID.match(call_id)
    ring = collector.wait_for_event("incomingcall", call_id)
    assert (ring["from"], ring["to"]) == ("+15550001111", "+15552223333")

    assert api.post(f"/calls/{call_id}", {"state": "active"}).status_code == 200
    collector.wait_for_event("answer", call_id)
    call = api.get(f"/calls/{call_id}").json()
    assert (call["direction"], call["state"]) == ("in", "active")

    phone.press(call_id, "4")  # no gather: the key is a dtmf event
    assert collector.wait_for_event("dtmf", call_id)["dtmfDigit"] == "4"


def test_incoming_call_rejected(api, collector, simulator):
    call_id = simulator.phone.incoming("+15550001111", "+15552223333", collector.url())
    collector.wait_for_event("incomingcall", call_id)
    assert api.post(f"/calls/{call_id}", {"state": "rejected"}).status_code == 200
    assert collector.wait_for_event("hangup", call_id)["cause"] == "CALL_REJECTED"
    assert api.get(f"/calls/{call_id}").json()["state"] == "rejected"


def test_incoming_returns_201_with_the_call_id(simulator, collector):
    import requests

    response = requests.post(
        f"{simulator.base_url}/_sim/incoming",
        json={"from": "+15550001111", "to": "+15552223333", "callbackUrl": collector.url()},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.headers["Location"].endswith(response.json()["callId"])


# -- callback delivery ----------------------------------------------------------------------------


def test_callbacks_are_posted_as_json_with_the_user_agent(api, collector):
    call_id = api.answered_call(collector)
    request = collector.wait_for(lambda r: r.method == "POST" and r.json.get("callId") == call_id)
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Content-Type"].startswith("application/json")


def test_get_method_callbacks_carry_query_parameters(api, collector, simulator):
    call_id = api.create_call(collector.url("/get"), callbackHttpMethod="get")
    request = collector.wait_for(lambda r: r.query.get("callId") == call_id)
    assert request.method == "GET" and request.body == b""
    assert request.query["eventType"] == "answer"
    assert request.query["callState"] == "active"
    assert simulator.phone.deliveries(call_id).rows()[0]["method"] == "GET"


def test_failed_callback_goes_to_the_fallback_url(api, collector, simulator):
    collector.respond("/broken", 500)
    call_id = api.create_call(collector.url("/broken"), fallbackUrl=collector.url("/fallback"))
    event = collector.wait_for_event("answer", call_id)
    assert collector.wait_for(lambda r: r.path == "/fallback").event == event

    deliveries = simulator.phone.deliveries(call_id).rows()
    assert [(d["url"], d["attempt"], d["status"]) for d in deliveries] == [
        (collector.url("/broken"), 1, 500),
        (collector.url("/fallback"), 2, 200),
    ]
    assert "HTTP 500" in deliveries[0]["error"] and deliveries[1]["error"] is None
    assert {d["eventType"] for d in deliveries} == {"answer"}
    assert all(api.ISO_MS.match(d["time"]) and d["elapsedMs"] >= 0 for d in deliveries)


def test_unreachable_callback_is_recorded(api, collector, simulator):
    dead = f"http://127.0.0.1:{_free_port()}/cb"
    call_id = api.create_call(dead, fallbackUrl=collector.url("/fallback"))
    collector.wait_for_event("answer", call_id)
    first = simulator.phone.deliveries(call_id).rows()[0]
    assert first["status"] is None and "connect" in first["error"]


def test_slow_callback_times_out_after_callback_timeout(api, collector, simulator):
    release = collector.hold("/slow")
    try:
        call_id = api.create_call(
            collector.url("/slow"), callbackTimeout=100, fallbackUrl=collector.url("/fb")
        )
        collector.wait_for(lambda r: r.path == "/fb")
        first = simulator.phone.deliveries(call_id).rows()[0]
        assert "callbackTimeout (100 ms)" in first["error"]
    finally:
        release.set()


def test_retries_before_the_fallback(collector):
    collector.respond("/broken", 503)
    with Simulator(speed=50, callback_retries=2) as sim:
        phone = sim.phone
        call_id = phone.incoming(
            "+15550001111", "+15552223333", collector.url("/broken"), fallbackUrl=collector.url("/fb")
        )
        collector.wait_for(lambda r: r.path == "/fb")
        attempts = [
            (d["attempt"], d["url"].rsplit("/", 1)[1], d["status"]) for d in phone.deliveries(call_id).rows()
        ]
        assert attempts == [(1, "broken", 503), (2, "broken", 503), (3, "broken", 503), (4, "fb", 200)]


def test_events_of_a_call_arrive_in_order_even_when_delivery_is_slow(api, collector, simulator):
    """A call's next event waits until the delivery of the one before it is over, however long that takes.

    The first event is held on its own slow path (only that request is held; later ones are answered at
    once) until the simulator gives up on it (callbackTimeout). Break this catches every time (ten runs
    in ten, and ``test_delivering_a_calls_events_side_by_side_is_caught`` repeats it): delivering a call's
    events side by side instead of one after the other — the hangup then goes out while the incomingcall
    is still held, long before that attempt ends.
    """
    collector.hold("/slow", first_only=True)
    call_id = simulator.phone.incoming(
        "+15550001111", "+15552223333", collector.url("/slow"), callbackTimeout="1000"
    )
    # the incomingcall event is stuck at the receiver while the application rejects the call
    collector.wait_for_arrival(lambda r: (r.event or {}).get("eventType") == "incomingcall")
    assert api.post(f"/calls/{call_id}", {"state": "rejected"}).status_code == 200
    collector.wait_for_event("hangup", call_id)
    assert_one_after_the_other(simulator.phone.deliveries(call_id).rows(), simulator.speed)
    assert [e["eventType"] for e in collector.events(call_id)] == ["hangup"]  # the held one never answered


def assert_one_after_the_other(attempts: list[dict], speed: float) -> None:
    """Each delivery attempt started after the one before it had ended (API time, 20 ms of slack)."""
    kinds = [(a["eventType"], a["status"]) for a in attempts]
    assert kinds == [("incomingcall", None), ("hangup", 200)], attempts
    before, after = attempts
    ended = api_seconds(before["time"]) + before["elapsedMs"] / 1000 * speed
    assert api_seconds(after["time"]) >= ended - 0.02, (before, after)


def api_seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_delivering_a_calls_events_side_by_side_is_caught(api, collector, monkeypatch):
    """The order check above fails when the simulator sends each event at once instead of queueing it."""
    from catapult_nb.simulator.delivery import Deliverer

    def side_by_side(self, call_id, target, event, reply=None):  # every event its own worker: no order
        self._pending += 1
        self._idle.clear()
        queue = collections.deque([(target, event, reply)])
        task = asyncio.get_running_loop().create_task(self._work(call_id, queue))
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    monkeypatch.setattr(Deliverer, "send", side_by_side)
    with Simulator(speed=SIMULATOR_SPEED) as simulator:
        api = Api(simulator)
        with pytest.raises(AssertionError, match="incomingcall"):
            test_events_of_a_call_arrive_in_order_even_when_delivery_is_slow(api, collector, simulator)


def test_redirecting_callback_is_a_failure_and_is_not_followed(api, collector, simulator):
    """A 3xx is not 2xx: the event goes to the fallback, never to where the redirect points."""
    redirector = HTTPServer(host="127.0.0.1", port=0)
    redirector.start()
    try:
        redirector.expect_request("/moved").respond_with_data(
            "", status=307, headers={"Location": collector.url("/elsewhere")}
        )
        call_id = api.create_call(redirector.url_for("/moved"), fallbackUrl=collector.url("/fb"))
        collector.wait_for(lambda r: r.path == "/fb")
    finally:
        redirector.clear()
        redirector.stop()
    first, second = simulator.phone.deliveries(call_id).rows()[:2]
    assert (first["status"], first["attempt"], second["attempt"]) == (307, 1, 2)
    assert "HTTP 307" in first["error"]
    assert not [r for r in collector.requests if r.path == "/elsewhere"]


def test_deliveries_are_listed_oldest_first_when_a_slow_one_finishes_last(api, collector, simulator):
    release = collector.hold("/slow")
    try:
        slow = api.create_call(collector.url("/slow"))
        quick = api.create_call(collector.url("/quick"))
        collector.wait_for_event("answer", quick)  # while the slow call's answer is still held
    finally:
        release.set()
    collector.wait_for_event("answer", slow)
    simulator.wait_idle()
    records = simulator.phone.deliveries().rows()
    assert [r["callId"] for r in records] == [slow, quick]
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)


def test_no_callback_url_is_recorded(api, simulator, collector):
    call_id = api.create_call(None)
    api.post(f"/calls/{call_id}", {"state": "completed"})
    simulator.wait_idle()
    (record,) = simulator.phone.deliveries(call_id).rows()
    assert record["url"] is None and "no callbackUrl" in record["error"]


def test_credentials_in_callback_urls_are_masked_in_deliveries(api, collector, simulator):
    url = collector.url("/cb").replace("http://", "http://user:pa55word@")
    call_id = api.create_call(url)
    request = collector.wait_for(lambda r: r.json and r.json.get("callId") == call_id)
    assert request.headers["Authorization"].startswith("Basic ")
    (record,) = simulator.phone.deliveries(call_id).rows()
    assert "pa55word" not in record["url"] and "user:***@" in record["url"]
    assert redact_url("http://a:b@h:1/p?q") == "http://a:***@h:1/p?q"
    assert redact_url("http://h/p") == "http://h/p"


@pytest.mark.parametrize("error", [aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ValueError])
def test_a_url_password_in_a_delivery_error_is_masked_everywhere(api, simulator, monkeypatch, caplog, error):
    # a transport whose error text holds the whole URL, password included
    password = "pa55-" + secrets.token_hex(6)

    def refuse(self, url, **kwargs):
        raise error(f"cannot send to {url}")

    monkeypatch.setattr(aiohttp.ClientSession, "post", refuse)
    caplog.set_level(logging.INFO, logger="catapult_nb.simulator.delivery")
    call_id = api.create_call(f"http://user:{password}@127.0.0.1:9/cb")
    deadline = time.monotonic() + 10
    while not (records := simulator.phone.deliveries(call_id).rows()) and time.monotonic() < deadline:
        simulator.wait_idle()  # the answer callback is queued once the call is answered
    simulator.wait_idle()
    records = simulator.phone.deliveries(call_id).rows()
    assert records and all(record["error"] for record in records)
    assert "cannot send to http://user:***@127.0.0.1:9/cb" in records[0]["error"]
    assert password not in json.dumps(records, default=str) + caplog.text


# -- virtual phone --------------------------------------------------------------------------------


def test_phone_errors_carry_the_simulators_message(api, collector, simulator):
    phone = simulator.phone
    with pytest.raises(PhoneError, match="could not be found") as info:
        phone.press("c-none", "1")
    assert info.value.status == 404 and info.value.code == "call-not-found"
    call_id = api.answered_call(collector)
    with pytest.raises(PhoneError, match="digits") as info:
        phone.press(call_id, "12x")
    assert info.value.status == 400
    with pytest.raises(PhoneError):
        phone.press(call_id, "1", gap=-1)
    ringing = api.create_call(collector.url(), to="+15551230001")
    with pytest.raises(PhoneError, match="Invalid call state started") as info:
        phone.press(ringing, "1")
    assert info.value.status == 403
    phone.hang_up(call_id)
    with pytest.raises(PhoneError) as info:
        phone.hang_up(call_id)
    assert info.value.code == "call-invalid-state"
    with pytest.raises(PhoneError, match="'to'"):
        phone.incoming("+15550001111", "", collector.url())


def test_phone_health_and_unreachable_simulator(simulator):
    assert simulator.phone.health() == {"status": "ok", "speed": 50.0, "promptTiming": "audio"}
    with pytest.raises(PhoneError, match="is it running"):
        VirtualPhone(f"http://127.0.0.1:{_free_port()}", timeout=2).health()


# -- the embedded Simulator -----------------------------------------------------------------------


def test_simulator_lifecycle_and_display():
    sim = Simulator(speed=5, api_secret="very-secret-value")
    with pytest.raises(RuntimeError, match="not running"):
        sim.base_url  # noqa: B018
    assert "not running" in repr(sim)
    sim.start()
    sim.start()  # idempotent
    try:
        assert sim.base_url == f"http://127.0.0.1:{sim.port}" and sim.api_url == sim.base_url + "/v1"
        for text in (repr(sim), sim._repr_html_()):
            assert "very-secret-value" not in text and "***" in text
        assert sim.phone.health()["speed"] == 5.0
        with pytest.raises(OSError):
            Simulator(port=sim.port).start()
    finally:
        sim.stop()
        sim.stop()
    assert not sim.running


@pytest.mark.parametrize(
    "kwargs",
    [
        {"speed": 0},
        {"speed": -1},
        {"speed": float("inf")},
        {"speed": "fast"},
        {"callback_retries": -1},
        {"callback_retries": 1.5},
    ],
)
def test_simulator_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        Simulator(**kwargs)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
