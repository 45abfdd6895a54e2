"""Gathers over real sockets: the seed's example, every reason, GET and stop, and the events they send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from conftest import Api

from catapult_nb.client import CatapultClient
from catapult_nb.options import GatherOptions, Prompt
from catapult_nb.simulator import Simulator

SEED_SPEED = 10

# The request body of the seed how-to, byte for byte.
SEED_BODY = """{
    "maxDigits"         : "5",
    "terminatingDigits" : "*",
    "interDigitTimeout" : "7",
    "prompt"            : {
        "sentence" : "Please enter your 5 digit code"
    }
}"""


def seconds(a: str, b: str) -> float:
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(b) - parse(a)).total_seconds()


@pytest.fixture
def seed_simulator() -> Iterator[Simulator]:
    """A simulator at speed 10 (not the suite's 50): its timing bounds hold on a busy machine."""
    with Simulator(speed=SEED_SPEED) as sim:
        yield sim


def test_seed_example_verbatim(collector, seed_simulator):
    simulator, api = seed_simulator, Api(seed_simulator)
    # given an answered call
    call_id = api.answered_call(collector)
    assert api.CALL_ID.match(call_id)

    # when the seed's request is sent as is
    response = api.post(
        f"/calls/{call_id}/gather", data=SEED_BODY,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    # then 201, empty body, and an absolute Location naming the gather
    assert response.status_code == 201
    assert response.content == b""
    location = response.headers["Location"]
    assert location.startswith(f"{simulator.api_url}/users/{simulator.user_id}/calls/{call_id}/gather/gtr-")
    gather_id = location.rsplit("/", 1)[1]
    assert api.GATHER_ID.match(gather_id)

    # when the caller presses 2 and 5 and then waits out the 7 s timeout
    simulator.phone.press(call_id, "25")
    event = collector.wait_for_event("gather", call_id)

    # then
    assert event["reason"] == "inter-digit-timeout"
    assert event["digits"] == "25"
    assert event["state"] == "completed"
    assert event["gatherId"] == gather_id
    assert "tag" not in event  # the seed's body has no tag
    assert api.ISO_MS.match(event["time"])

    speak = [e for e in collector.events(call_id) if e["eventType"] == "speak"]
    assert [(e["status"], e["state"]) for e in speak] == [
        ("started", "PLAYBACK_START"), ("done", "PLAYBACK_STOP"),
    ]
    # The key cut the prompt short; the timeout ran 7 API seconds after the last key (0.25 s after the
    # first, which stopped the prompt). A timer never fires early, so the lower bounds are exact; a busy
    # machine only makes it late, and the upper bounds allow 3.5 API s (0.35 s of wall time at speed 10,
    # where the old ±0.6 API s at speed 50 was 12 ms). Breaks these catch: the timeout counted from the
    # first key (7.0) or from the gather's start, or not restarted by each key.
    gather = api.get(f"/calls/{call_id}/gather/{gather_id}").json()
    assert 7.25 <= seconds(gather["createdTime"], gather["completedTime"]) < 7.25 + 2.4 + 3.5
    assert 7.25 - 0.002 <= seconds(speak[1]["time"], event["time"]) < 7.25 + 3.5


def test_seed_example_through_the_client(simulator, collector):
    with CatapultClient(
        simulator.user_id, simulator.api_token, simulator.api_secret, base_url=simulator.base_url
    ) as client:
        call_id = client.create_call("+15551230000", "+15551239999", collector.url())
        collector.wait_for_event("answer", call_id)
        options = GatherOptions(
            max_digits=5, terminating_digits="*", inter_digit_timeout=7, tag="seed",
            prompt=Prompt(sentence="Please enter your 5 digit code"),
        )
        gather_id = client.create_gather(call_id, options)
        simulator.phone.press(call_id, "25")
        event = collector.wait_for_event("gather", call_id)
        assert (event["reason"], event["digits"], event["gatherId"], event["tag"]) == (
            "inter-digit-timeout", "25", gather_id, "seed",
        )
        assert client.get_gather(call_id, gather_id)["state"] == "completed"


@pytest.mark.parametrize(
    ("keys", "reason", "digits"),
    [("12345", "max-digits", "12345"), ("12*", "terminating-digit", "12"), ("*", "terminating-digit", "")],
)
def test_gather_reasons(api, collector, simulator, keys, reason, digits):
    call_id = api.answered_call(collector)
    response = api.gather(call_id, {**_seed(), "tag": "t-1"})
    gather_id = response.headers["Location"].rsplit("/", 1)[1]
    simulator.phone.press(call_id, keys, gap=0.1)
    event = collector.wait_for_event("gather", call_id)
    got = (event["reason"], event["digits"], event["gatherId"], event["tag"])
    assert got == (reason, digits, gather_id, "t-1")


def test_timeout_with_no_key_gives_empty_digits(api, collector):
    call_id = api.answered_call(collector)
    api.gather(call_id, {"interDigitTimeout": 1})
    event = collector.wait_for_event("gather", call_id)
    assert (event["reason"], event["digits"]) == ("inter-digit-timeout", "")


def test_far_end_hang_up_sends_gather_then_hangup(api, collector, simulator):
    call_id = api.answered_call(collector)
    api.gather(call_id, {"interDigitTimeout": 30})
    simulator.phone.press(call_id, "9")  # the first key is taken before the press request returns
    simulator.phone.hang_up(call_id)
    hangup = collector.wait_for_event("hangup", call_id)
    assert hangup["cause"] == "NORMAL_CLEARING"
    kinds = [e["eventType"] for e in collector.events(call_id)]
    assert kinds[-2:] == ["gather", "hangup"]
    gather = next(e for e in collector.events(call_id) if e["eventType"] == "gather")
    assert (gather["reason"], gather["digits"]) == ("hung-up", "9")
    assert api.get(f"/calls/{call_id}").json()["state"] == "completed"


def test_application_hang_up_during_a_gather(api, collector):
    call_id = api.answered_call(collector)
    api.gather(call_id, {"interDigitTimeout": 30})
    assert api.post(f"/calls/{call_id}", {"state": "completed"}).status_code == 200
    collector.wait_for_event("hangup", call_id, cause="NORMAL_CLEARING")
    assert collector.events(call_id)[-2]["reason"] == "hung-up"


def test_get_gather_before_and_after_completion(api, collector, simulator):
    call_id = api.answered_call(collector)
    location = api.gather(call_id, {"maxDigits": 3, "interDigitTimeout": 30, "tag": "g"}).headers["Location"]
    simulator.phone.press(call_id, "4")

    running = api.http.get(location, timeout=10).json()
    assert running["state"] == "started"
    assert running["digits"] == "4"
    assert "reason" not in running and "completedTime" not in running
    assert running["call"] == f"{simulator.api_url}/users/{simulator.user_id}/calls/{call_id}"
    assert running["tag"] == "g"
    assert api.ISO_MS.match(running["createdTime"])

    simulator.phone.press(call_id, "56", gap=0)
    collector.wait_for_event("gather", call_id)
    done = api.http.get(location, timeout=10).json()
    assert (done["state"], done["reason"], done["digits"]) == ("completed", "max-digits", "456")
    assert api.ISO_MS.match(done["completedTime"])


def test_stop_a_running_gather(api, collector, simulator):
    call_id = api.answered_call(collector)
    location = api.gather(call_id, {"interDigitTimeout": 30}).headers["Location"]
    simulator.phone.press(call_id, "7")

    stopped = api.http.post(location, json={"state": "completed"}, timeout=10)
    assert stopped.status_code == 200
    body = api.http.get(location, timeout=10).json()
    assert (body["state"], body["digits"]) == ("completed", "7")
    assert "reason" not in body
    # stopping again changes nothing
    assert api.http.post(location, json={"state": "completed"}, timeout=10).status_code == 200
    assert api.http.get(location, timeout=10).json() == body
    # keys now give dtmf events, and no gather event is ever sent for the stopped gather
    simulator.phone.press(call_id, "3")
    collector.wait_for_event("dtmf", call_id, dtmfDigit="3")
    simulator.phone.hang_up(call_id)
    collector.wait_for_event("hangup", call_id)
    assert not [e for e in collector.events(call_id) if e["eventType"] == "gather"]


def test_a_new_gather_may_start_after_one_completed(api, collector, simulator):
    call_id = api.answered_call(collector)
    # 30 API s (0.6 s of wall time) for the press to arrive, however busy the machine
    api.gather(call_id, {"maxDigits": 1, "interDigitTimeout": 30})
    simulator.phone.press(call_id, "1")
    collector.wait_for_event("gather", call_id, digits="1")
    assert api.gather(call_id, {"maxDigits": 1, "interDigitTimeout": 30}).status_code == 201
    simulator.phone.press(call_id, "2")
    collector.wait_for_event("gather", call_id, digits="2")


def test_suppress_dtmf_false_sends_dtmf_events_during_the_gather(api, collector, simulator):
    call_id = api.answered_call(collector)
    api.gather(call_id, {"suppressDtmf": "false", "terminatingDigits": "#", "interDigitTimeout": 30})
    simulator.phone.press(call_id, "8#", gap=0.1)
    collector.wait_for_event("gather", call_id)
    dtmf = [e["dtmfDigit"] for e in collector.events(call_id) if e["eventType"] == "dtmf"]
    assert dtmf == ["8", "#"]


def test_keys_during_a_default_gather_are_suppressed(api, collector, simulator):
    call_id = api.answered_call(collector)
    # a long timeout, so a slow machine cannot end the gather before the keys (which would be dtmf)
    api.gather(call_id, {"maxDigits": 2, "interDigitTimeout": 30})
    simulator.phone.press(call_id, "12", gap=0.1)
    collector.wait_for_event("gather", call_id)
    assert not [e for e in collector.events(call_id) if e["eventType"] == "dtmf"]


def test_file_prompt_sends_playback_events(api, collector, simulator, httpserver):
    from test_prompts import wav_bytes

    httpserver.expect_request("/menu.wav").respond_with_data(wav_bytes(30.0), content_type="audio/wav")
    call_id = api.answered_call(collector)
    api.gather(call_id, {"maxDigits": 1, "prompt": {"fileUrl": httpserver.url_for("/menu.wav")}})
    collector.wait_for_event("playback", call_id, status="started")
    simulator.phone.press(call_id, "5")
    collector.wait_for_event("gather", call_id)
    statuses = [e["status"] for e in collector.events(call_id) if e["eventType"] == "playback"]
    assert statuses == ["started", "done"]


def test_values_as_strings_numbers_or_null(api, collector):
    call_id = api.answered_call(collector)
    body = {
        "maxDigits": 2, "interDigitTimeout": "1.5", "terminatingDigits": None, "tag": None,
        "suppressDtmf": True,
        "prompt": {"voice": "Simon", "locale": "en_UK", "gender": "male", "sentence": "Hi"},
    }
    assert api.gather(call_id, body).status_code == 201
    event = collector.wait_for_event("gather", call_id)
    assert event["reason"] == "inter-digit-timeout"
    assert "tag" not in event


def _seed():
    return {
        "maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7",
        "prompt": {"sentence": "Please enter your 5 digit code"},
    }


def test_the_simulator_reports_how_late_its_gather_timers_fired(api, collector, simulator):
    assert simulator.timer_lateness == []
    call_id = api.answered_call(collector)
    api.gather(call_id, {"interDigitTimeout": 1})
    collector.wait_for_event("gather", call_id)
    (late,) = simulator.timer_lateness  # one timer: the inter-digit timeout
    assert isinstance(late, float)  # may be a hair below 0: the loop can run a timer early
    simulator.stop()
    with pytest.raises(RuntimeError, match="not running"):
        simulator.timer_lateness  # noqa: B018


def test_keys_and_a_hang_up_at_their_moments_on_the_simulators_clock(api, collector, simulator):
    """The virtual phone can hand the simulator a timeline: each key at its own timestamp, applied at
    that moment of the API clock even if the loop runs late, and a hang-up at a later one."""
    call_id = api.answered_call(collector)
    created = api.gather(call_id, {"maxDigits": "5", "interDigitTimeout": "7"})
    gather = api.get(created.headers["Location"].split("/v1/users/" + simulator.user_id)[1]).json()
    start = datetime.fromisoformat(gather["createdTime"].replace("Z", "+00:00"))

    def moment(offset: float) -> str:
        return (start + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    simulator.phone.press(call_id, "123", at=[moment(1.0), moment(2.5), moment(10.0)])
    simulator.phone.hang_up(call_id, at=moment(12.0))
    event = collector.wait_for_event("gather", call_id)
    # 7 s after the key at 2.5 the gather timed out: the key planned for 10.0 came too late for it.
    assert (event["reason"], event["digits"]) == ("inter-digit-timeout", "12")
    assert event["time"] == moment(9.5)
    hangup = collector.wait_for_event("hangup", call_id)
    assert hangup["time"] == moment(12.0)
    # (keys in a gather are suppressed by default; the one after it is a plain dtmf event, on time)
    dtmf = [e["time"] for e in collector.events(call_id) if e["eventType"] == "dtmf"]
    assert dtmf == [moment(10.0)]


def test_timed_presses_and_hang_ups_refuse_bad_timelines(api, collector, simulator):
    call_id = api.answered_call(collector)
    now = "2026-01-01T00:00:00.000Z"
    for body, words in [
        ({"digits": "12", "at": [now]}, "one timestamp per key"),
        ({"digits": "1", "at": [now], "gap": 0.5}, "no gap"),
        ({"digits": "1", "at": ["soon"]}, "ISO-8601"),
        ({"digits": "1", "at": now}, "list of 1 to"),
    ]:
        response = api.http.post(f"{simulator.base_url}/_sim/calls/{call_id}/press", json=body)
        assert response.status_code == 400 and words in response.text, (body, response.text)
    response = api.http.post(f"{simulator.base_url}/_sim/calls/{call_id}/hangup", json={"at": "tomorrow"})
    assert response.status_code == 400 and "ISO-8601" in response.text
