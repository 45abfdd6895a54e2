"""The simulator's v2 dialect over real sockets: REST calls, BXML run verb by verb, the v2 gather rules,
webhooks, the virtual phone, and the two ways a v2 call fails (invalid-bxml, callback-error).

The app is the ``collector`` answering paths with BXML; sentences are timed by the 150 words-per-minute
estimate so that API times can be checked exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from conftest import CALL_ID, FROM, ISO_MS, TO
from waiting import wait_until

from catapult_nb.simulator import Simulator
from catapult_nb.simulator.phone import PhoneError, VirtualPhone

SPEED = 50


class V2:
    """The v2 API spoken with plain ``requests``."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.http = requests.Session()
        self.http.auth = (sim.api_token, sim.api_secret)
        self.calls = f"{sim.v2_api_url}/accounts/{sim.account_id}/calls"
        self.phone = VirtualPhone(sim.base_url)

    def create(self, answer_url: str, to: str = TO, **fields: Any) -> requests.Response:
        body = {"to": to, "from": FROM, "applicationId": "app-1", "answerUrl": answer_url, **fields}
        return self.http.post(self.calls, json=body)

    def call(self, collector: Any, bxml: str, **fields: Any) -> str:
        """Place a call whose answer webhook gets ``bxml``; its disconnect goes to ``/disconnect``."""
        collector.answer("/answer", bxml)
        fields.setdefault("disconnectUrl", collector.url("/disconnect"))
        response = self.create(collector.url("/answer"), **fields)
        assert response.status_code == 201, response.text
        return str(response.json()["callId"])

    def state(self, call_id: str) -> dict[str, Any]:
        return dict(self.http.get(f"{self.calls}/{call_id}").json())


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(speed=SPEED, prompt_timing="estimate") as simulator:
        yield simulator


@pytest.fixture
def v2(sim: Simulator) -> Iterator[V2]:
    client = V2(sim)
    try:
        yield client
    finally:
        client.http.close()
        client.phone.close()


def seconds(later: str, earlier: str) -> float:
    """API seconds between two webhook times."""
    return (
        datetime.fromisoformat(later.replace("Z", "+00:00"))
        - datetime.fromisoformat(earlier.replace("Z", "+00:00"))
    ).total_seconds()


def gather_after(collector, v2, bxml: str, keys: str = "") -> tuple[dict[str, Any], float]:
    """Run ``bxml`` on a new call, press ``keys``; the gather webhook, and the API seconds from the
    moment the answer's BXML arrived to the gather's end."""
    call_id = v2.call(collector, bxml)
    collector.wait_for_event("answer", call_id)
    if keys:
        v2.phone.press(call_id, keys, gap=0.1)
    gather = collector.wait_for_event("gather", call_id, timeout=10)
    arrived = v2.sim.phone.call_info(call_id)["documents"][0]["time"]
    return gather, seconds(gather["eventTime"], arrived)


# -- REST ------------------------------------------------------------------------------------------


def test_create_answers_201_with_the_full_call_and_its_location(v2, collector, sim):
    response = v2.create(collector.url("/answer"), tag="t1", callbackTimeout=5)
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    call_url = f"{sim.v2_api_url}/accounts/{sim.account_id}/calls/{body['callId']}"
    assert response.headers["Location"] == body["callUrl"] == call_url
    assert CALL_ID.match(body["callId"])
    assert body == {
        "applicationId": "app-1",
        "accountId": "9900000",
        "callId": body["callId"],
        "to": TO,
        "from": FROM,
        "callUrl": call_url,
        "callTimeout": 30.0,
        "callbackTimeout": 5.0,
        "answerMethod": "POST",
        "answerUrl": collector.url("/answer"),
        "answerFallbackMethod": "POST",
        "disconnectMethod": "POST",
        "priority": 5,
        "tag": "t1",
    }
    state = v2.state(body["callId"])
    assert state["state"] == "initiated" and state["direction"] == "outbound" and "answerTime" not in state
    assert ISO_MS.match(state["startTime"])


def test_a_call_is_answered_then_read_and_listed(v2, collector):
    call_id = v2.call(collector, "<Response><Pause duration='60'/></Response>")
    answer = collector.wait_for_event("answer", call_id)
    assert answer["direction"] == "outbound" and answer["callUrl"].endswith(call_id)
    state = v2.state(call_id)
    assert state["state"] == "answered" and state["answerTime"] == answer["answerTime"]
    listed = v2.http.get(v2.calls, params={"to": TO}).json()
    assert [c["callId"] for c in listed] == [call_id]
    assert v2.http.get(v2.calls, params={"to": "+15550000000"}).json() == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"to": TO, "from": FROM, "applicationId": "a"}, "answerUrl", "is required"),
        (
            {"to": 15551239999, "from": FROM, "applicationId": "a", "answerUrl": "http://x.test/"},
            "to",
            "string",
        ),
        ({"to": TO, "from": FROM, "applicationId": "a", "answerUrl": "/relative"}, "answerUrl", "absolute"),
        ({"to": TO, "from": "555", "applicationId": "a", "answerUrl": "http://x.test/"}, "from", "E.164"),
        (
            {
                "to": TO,
                "from": FROM,
                "applicationId": "a",
                "answerUrl": "http://x.test/",
                "callTimeout": "30",
            },
            "callTimeout",
            "JSON number",
        ),
        (
            {
                "to": TO,
                "from": FROM,
                "applicationId": "a",
                "answerUrl": "http://x.test/",
                "callbackTimeout": 26,
            },
            "callbackTimeout",
            "between 1 and 25",
        ),
        (
            {"to": TO, "from": FROM, "applicationId": "a", "answerUrl": "http://x.test/", "priority": 2.5},
            "priority",
            "whole number",
        ),
        (
            {"to": TO, "from": FROM, "applicationId": "a", "answerUrl": "http://x.test/", "colour": "red"},
            "colour",
            "unknown field",
        ),
        (
            {"to": TO, "from": FROM, "applicationId": "a", "answerUrl": "http://x.test/", "privacy": "yes"},
            "privacy",
            "true or false",
        ),
    ],
)
def test_a_bad_create_is_a_400_naming_the_field(v2, body, field, words):
    response = v2.http.post(v2.calls, json=body)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()
    assert set(error) == {"type", "description", "id"} and error["type"] == "validation"
    assert error["description"].startswith(f"Invalid {field}:") and words in error["description"]


def test_v2_errors_for_credentials_account_and_unknown_calls(v2, sim):
    bad = requests.get(v2.calls + "/c-x", auth=("t-simulator", "wrong"))
    assert bad.status_code == 401 and bad.json()["type"] == "unauthorized"
    other = v2.http.get(f"{sim.v2_api_url}/accounts/1234/calls")
    assert other.status_code == 403 and "9900000" in other.json()["description"]
    missing = v2.http.get(v2.calls + "/c-nothere")
    assert missing.status_code == 404 and missing.json()["type"] == "not-found"
    assert v2.http.post(v2.calls, data=b"{").json()["type"] == "validation"
    assert v2.http.post(v2.calls, json=[1]).status_code == 400


def test_v1_routes_do_not_see_v2_calls_and_v1_is_unchanged(v2, collector, sim):
    call_id = v2.call(collector, "<Response><Pause duration='60'/></Response>")
    v1 = f"{sim.api_url}/users/{sim.user_id}/calls"
    assert v2.http.get(f"{v1}/{call_id}").status_code == 404
    assert v2.http.get(v1).json() == []
    # a v1 error body is still v1's
    assert set(v2.http.get(f"{v1}/{call_id}").json()) == {"category", "code", "message", "details"}


# -- BXML and the v2 gather ----------------------------------------------------------------------------

TWO_STEP = (
    "<Response><Gather gatherUrl='gather' maxDigits='3'><SpeakSentence>Enter three digits</SpeakSentence>"
    "</Gather></Response>"
)


def test_a_two_step_flow_gathers_then_follows_the_gather_webhooks_bxml(v2, collector):
    collector.answer("/gather", "<Response><SpeakSentence>Thanks</SpeakSentence><Hangup/></Response>")
    call_id = v2.call(collector, TWO_STEP)
    collector.wait_for_event("answer", call_id)
    v2.phone.press(call_id, "123", gap=0.2)
    gather = collector.wait_for_event("gather", call_id)
    # relative gatherUrl resolved against the answer URL; v2's result: digits and terminatingDigit only
    assert (gather["digits"], gather["terminatingDigit"]) == ("123", "")
    assert "reason" not in gather and "gatherId" not in gather
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert disconnect["cause"] == "hangup" and "errorMessage" not in disconnect
    # "Thanks" (0.5 s) was spoken between the gather webhook's answer and the hang-up
    answered = v2.sim.phone.call_info(call_id)["documents"][1]["time"]
    assert seconds(disconnect["endTime"], answered) == pytest.approx(0.5, abs=0.25)
    assert v2.state(call_id)["disconnectCause"] == "hangup"


def test_no_key_ends_the_gather_first_digit_timeout_after_the_audio(v2, collector):
    # "Enter three digits" lasts 1.2 s at 150 words per minute; firstDigitTimeout 2
    bxml = TWO_STEP.replace("maxDigits='3'", "maxDigits='3' firstDigitTimeout='2'")
    gather, took = gather_after(collector, v2, bxml)
    assert (gather["digits"], gather["terminatingDigit"]) == ("", "")
    assert took == pytest.approx(1.2 + 2, abs=0.3)


def test_repeat_count_replays_the_audio_before_giving_up(v2, collector):
    bxml = TWO_STEP.replace("maxDigits='3'", "firstDigitTimeout='1' repeatCount='3'")
    gather, took = gather_after(collector, v2, bxml)
    assert gather["digits"] == ""
    assert took == pytest.approx(3 * (1.2 + 1), abs=0.3)


def test_hash_is_an_ordinary_key_unless_it_is_a_terminating_digit(v2, collector):
    plain, _ = gather_after(collector, v2, TWO_STEP.replace("maxDigits='3'", "maxDigits='2'"), keys="1#")
    assert (plain["digits"], plain["terminatingDigit"]) == ("1#", "")
    ended, _ = gather_after(
        collector, v2, TWO_STEP.replace("maxDigits='3'", "terminatingDigits='#'"), keys="4#"
    )
    assert (ended["digits"], ended["terminatingDigit"]) == ("4", "#")


def test_keys_pressed_while_no_gather_listens_are_dropped(v2, collector):
    bxml = (
        "<Response><Pause duration='2'/><Gather gatherUrl='/gather' maxDigits='1' firstDigitTimeout='1'/>"
        "</Response>"
    )
    call_id = v2.call(collector, bxml)
    collector.wait_for_event("answer", call_id)
    v2.phone.press(call_id, "9")  # during the pause
    gather = collector.wait_for_event("gather", call_id)
    assert gather["digits"] == ""


def test_without_gather_url_the_digits_are_dropped_and_the_next_verb_runs(v2, collector):
    collector.answer("/after", "<Response><Hangup/></Response>")
    bxml = "<Response><Gather maxDigits='1'/><Redirect redirectUrl='/after' tag='after-gather'/></Response>"
    call_id = v2.call(collector, bxml)
    collector.wait_for_event("answer", call_id)
    v2.phone.press(call_id, "5")
    redirect = collector.wait_for_event("redirect", call_id)
    assert redirect["tag"] == "after-gather"
    collector.wait_for_event("disconnect", call_id)
    assert [e["eventType"] for e in collector.events(call_id)] == ["answer", "redirect", "disconnect"]


def test_a_hang_up_during_a_gather_sends_disconnect_and_no_gather(v2, collector):
    call_id = v2.call(collector, "<Response><Gather gatherUrl='/gather' firstDigitTimeout='30'/></Response>")
    collector.wait_for_event("answer", call_id)
    v2.phone.press(call_id, "1")
    v2.phone.hang_up(call_id)
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert disconnect["cause"] == "hangup"
    assert [e["eventType"] for e in collector.events(call_id)] == ["answer", "disconnect"]
    with pytest.raises(PhoneError, match="403"):
        v2.phone.press(call_id, "1")


def test_tags_follow_the_call_and_an_empty_tag_clears_it(v2, collector):
    collector.answer("/r1", "<Response><Tag></Tag><Redirect redirectUrl='/r2'/></Response>")
    collector.answer("/r2", "<Response><Hangup/></Response>")
    call_id = v2.call(
        collector, "<Response><Tag>first</Tag><Redirect redirectUrl='/r1'/></Response>", tag="t0"
    )
    assert collector.wait_for_event("answer", call_id)["tag"] == "t0"
    assert collector.wait_for_event("redirect", call_id)["tag"] == "first"
    collector.wait_for_event("disconnect", call_id)
    second = [e for e in collector.events(call_id) if e["eventType"] == "redirect"]
    assert "tag" not in second[1]


def test_start_gather_sends_a_dtmf_webhook_per_key_until_stop_gather(v2, collector):
    bxml = (
        "<Response><StartGather dtmfUrl='/dtmf'/><Pause duration='3'/><StopGather/><Pause duration='60'/>"
        "</Response>"
    )
    call_id = v2.call(collector, bxml)
    collector.wait_for_event("answer", call_id)
    v2.phone.press(call_id, "12", gap=0.5)
    assert collector.wait_for_event("dtmf", call_id, digit="2")["digit"] == "2"
    v2.phone.hang_up(call_id, at=None)
    collector.wait_for_event("disconnect", call_id)
    assert [e.get("digit") for e in collector.events(call_id) if e["eventType"] == "dtmf"] == ["1", "2"]


# -- REST changes to a running call -------------------------------------------------------------------


def test_update_redirects_and_completes_and_put_bxml_replaces(v2, collector):
    collector.answer("/redirected", "<Response><Pause duration='60'/></Response>")
    call_id = v2.call(collector, "<Response><Pause duration='60'/></Response>")
    collector.wait_for_event("answer", call_id)
    url = f"{v2.calls}/{call_id}"
    response = v2.http.post(url, json={"state": "active", "redirectUrl": collector.url("/redirected")})
    assert response.status_code == 200
    assert collector.wait_for_event("redirect", call_id)["callId"] == call_id
    put = v2.http.put(
        url + "/bxml",
        data="<Bxml><SpeakSentence>Bye</SpeakSentence><Hangup/></Bxml>",
        headers={"Content-Type": "application/xml"},
    )
    assert put.status_code == 204 and put.content == b""
    assert collector.wait_for_event("disconnect", call_id)["cause"] == "hangup"
    assert v2.http.post(url, json={"state": "completed"}).status_code == 409


def test_bad_updates_are_4xx_naming_the_rule(v2, collector):
    call_id = v2.call(collector, "<Response><Pause duration='60'/></Response>")
    collector.wait_for_event("answer", call_id)
    url = f"{v2.calls}/{call_id}"
    assert "redirectUrl" in v2.http.post(url, json={"state": "active"}).json()["description"]
    assert v2.http.post(url, json={"state": "paused"}).json()["description"].startswith("Invalid state")
    bad = v2.http.put(
        url + "/bxml",
        data="<Bxml><Gather maxDigits='99'/></Bxml>",
        headers={"Content-Type": "application/xml"},
    )
    assert bad.status_code == 400 and "<Gather> attribute maxDigits" in bad.json()["description"]
    assert (
        v2.http.put(url + "/bxml", data="{}", headers={"Content-Type": "application/json"}).status_code == 415
    )
    v2.http.post(url, json={"state": "completed"})
    assert collector.wait_for_event("disconnect", call_id)["cause"] == "hangup"


def test_completing_a_ringing_call_cancels_it(v2, collector):
    call_id = v2.call(collector, "<Response/>", to="+15550000001")  # never answers
    assert v2.http.post(f"{v2.calls}/{call_id}", json={"state": "completed"}).status_code == 200
    assert collector.wait_for_event("disconnect", call_id)["cause"] == "cancel"


@pytest.mark.parametrize(("to", "cause"), [("+15550000002", "busy"), ("+15550000003", "rejected")])
def test_the_far_end_can_be_busy_or_reject(v2, collector, to, cause):
    call_id = v2.call(collector, "<Response/>", to=to)
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert disconnect["cause"] == cause and "answerTime" not in disconnect


def test_an_unanswered_call_times_out_after_call_timeout(v2, collector):
    call_id = v2.call(collector, "<Response/>", to="+15550000001", callTimeout=2)
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert disconnect["cause"] == "timeout"
    assert seconds(disconnect["endTime"], disconnect["startTime"]) == pytest.approx(2, abs=0.3)


# -- failures the developer can see --------------------------------------------------------------------


def test_invalid_bxml_ends_the_call_and_says_why_everywhere(v2, collector, sim):
    call_id = v2.call(collector, "<Response><Gather maxDigits='60'/></Response>")
    disconnect = collector.wait_for_event("disconnect", call_id)
    message = "Invalid BXML: <Gather> attribute maxDigits: maxDigits must be between 1 and 50, got 60"
    assert disconnect["cause"] == "invalid-bxml" and disconnect["errorMessage"] == message
    assert disconnect["errorId"].startswith("err-")
    assert v2.state(call_id)["errorMessage"] == message
    info = sim.phone.call_info(call_id)
    assert info["errorMessage"] == message and info["cause"] == "invalid-bxml"
    assert info["documents"][0]["bxml"] == "<Response><Gather maxDigits='60'/></Response>"


def test_passwords_in_a_kept_document_are_masked(v2, collector, sim):
    bxml = "<Response><Gather gatherUrl='/g' username='app' password='s3cret-pw'/></Response>"
    call_id = v2.call(collector, bxml)
    kept = wait_until(lambda: sim.phone.call_info(call_id)["documents"])[0]["bxml"]
    assert "s3cret-pw" not in kept and "password=\"***\"" in kept
    v2.phone.hang_up(call_id)


def test_speech_input_is_not_simulated(v2, collector):
    call_id = v2.call(collector, "<Response><Gather input='speech'/></Response>")
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert disconnect["cause"] == "invalid-bxml"
    assert disconnect["errorMessage"] == (
        "Invalid BXML: <Gather> attribute input: input='speech' asks for speech recognition, which the "
        'simulator does not simulate; use input="dtmf" (the default) to gather keys'
    )


def test_an_answer_over_64_kb_is_invalid_bxml(v2, collector):
    call_id = v2.call(collector, "<Response>" + "<Pause duration='1'/>" * 4000 + "</Response>")
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert disconnect["cause"] == "invalid-bxml" and "at most 65536 bytes" in disconnect["errorMessage"]


def test_a_failing_webhook_is_tried_at_its_fallback_then_is_a_callback_error(v2, collector, sim):
    collector.respond("/answer", 500)
    collector.respond("/fallback", 503)
    call_id = v2.call(collector, "<Response/>", answerFallbackUrl=collector.url("/fallback"))
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert disconnect["cause"] == "callback-error"
    assert "answer webhook" in disconnect["errorMessage"] and "HTTP 503" in disconnect["errorMessage"]
    attempts = [(d["url"].rsplit("/", 1)[1], d["status"]) for d in sim.phone.deliveries(call_id).rows()]
    assert attempts == [("answer", 500), ("fallback", 503), ("disconnect", 200)]


def test_the_fallback_answer_is_run_when_the_main_url_fails(v2, collector):
    collector.respond("/answer", 500)
    collector.answer("/fallback", "<Response><Tag>from-fallback</Tag><Hangup/></Response>")
    call_id = v2.call(collector, "<Response/>", answerFallbackUrl=collector.url("/fallback"))
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert (disconnect["cause"], disconnect["tag"]) == ("hangup", "from-fallback")


def test_a_webhook_not_answered_within_callback_timeout_is_a_callback_error(v2, collector):
    release = collector.hold("/answer")
    try:
        call_id = v2.call(collector, "<Response/>", callbackTimeout=1)
        disconnect = collector.wait_for_event("disconnect", call_id, timeout=10)
    finally:
        release.set()
    assert (
        disconnect["cause"] == "callback-error" and "callbackTimeout (1000 ms)" in disconnect["errorMessage"]
    )


def test_a_webhook_to_a_closed_port_is_a_callback_error(v2, collector):
    call_id = v2.call(collector, "<Response/>", answerUrl="http://127.0.0.1:9/answer")
    disconnect = collector.wait_for_event("disconnect", call_id)
    assert disconnect["cause"] == "callback-error" and "could not connect" in disconnect["errorMessage"]


def test_webhooks_can_be_sent_as_get_with_basic_auth(v2, collector):
    call_id = v2.call(
        collector, "<Response><Hangup/></Response>", answerMethod="GET", username="app", password="s3cret"
    )
    request = collector.wait_for(lambda r: r.path == "/answer")
    assert (
        request.method == "GET"
        and request.query["eventType"] == "answer"
        and request.query["callId"] == call_id
    )
    assert request.headers["Authorization"].startswith("Basic ")
    assert "s3cret" not in repr(v2.sim.phone.deliveries(call_id))


# -- inbound calls and transfers --------------------------------------------------------------------------


def test_an_incoming_call_rings_a_v2_app_with_initiate(v2, collector, sim):
    collector.answer("/app", "<Response><SpeakSentence>Welcome</SpeakSentence><Hangup/></Response>")
    response = requests.post(
        f"{sim.base_url}/_sim/incoming",
        json={"from": FROM, "to": TO, "applicationUrl": collector.url("/app")},
    )
    assert response.status_code == 201 and response.headers["Location"] == response.json()["callUrl"]
    call_id = response.json()["callId"]
    assert sim.phone.incoming_v2(FROM, TO, collector.url("/app")) != call_id
    initiate = collector.wait_for_event("initiate", call_id)
    assert initiate["direction"] == "inbound" and "answerTime" not in initiate and "tag" not in initiate
    disconnect = collector.wait_for_event("disconnect", call_id)  # to the application URL by default
    assert disconnect["cause"] == "hangup" and disconnect["answerTime"]
    assert v2.state(call_id)["direction"] == "inbound"
    assert list(sim.phone.deliveries(call_id)["eventType"]) == ["initiate", "disconnect"]


def test_a_transfer_bridges_the_called_party_and_completes_when_it_hangs_up(v2, collector, sim):
    collector.answer("/announce", "<Response><SpeakSentence>A customer is calling</SpeakSentence></Response>")
    collector.answer("/complete", "<Response><SpeakSentence>Goodbye</SpeakSentence><Hangup/></Response>")
    bxml = (
        "<Response><Transfer transferCompleteUrl='/complete' transferCallerId='+15551110000'>"
        "<PhoneNumber transferAnswerUrl='/announce' transferDisconnectUrl='/leg-gone' tag='leg'>"
        "+15550100999</PhoneNumber>"
        "</Transfer></Response>"
    )
    call_id = v2.call(collector, bxml)
    answered = collector.wait_for_event("transferAnswer", None)
    leg_id = answered["callId"]
    assert (answered["from"], answered["to"], answered["transferTo"]) == (
        "+15551110000",
        "+15550100999",
        "+15550100999",
    )
    leg = v2.state(leg_id)
    assert leg["parentCallId"] == call_id and leg["state"] == "answered" and answered["tag"] == "leg"
    # the leg hangs up: transferDisconnect for it, transferComplete for the caller, whose BXML goes on
    v2.phone.hang_up(leg_id)
    gone = collector.wait_for_event("transferDisconnect", leg_id)
    assert gone["parentCallId"] == call_id and gone["cause"] == "hangup"
    complete = collector.wait_for_event("transferComplete", call_id)
    assert complete["cause"] == "hangup" and complete["transferTo"] == "+15550100999"
    assert collector.wait_for_event("disconnect", call_id)["cause"] == "hangup"


def test_a_busy_transfer_completes_at_once_and_the_caller_goes_on(v2, collector):
    collector.answer("/after", "<Response><Hangup/></Response>")
    bxml = (
        "<Response><Transfer><PhoneNumber>+15550000002</PhoneNumber></Transfer>"
        "<Redirect redirectUrl='/after'/></Response>"
    )
    call_id = v2.call(collector, bxml)
    collector.wait_for_event("redirect", call_id)  # no transferCompleteUrl: the next verb runs
    assert collector.wait_for_event("disconnect", call_id)["cause"] == "hangup"


def test_the_caller_hanging_up_ends_the_bridged_leg(v2, collector):
    bxml = (
        "<Response><Transfer><PhoneNumber transferDisconnectUrl='/leg-gone'>+15550100999</PhoneNumber>"
        "</Transfer></Response>"
    )
    call_id = v2.call(collector, bxml)
    collector.wait_for_event("answer", call_id)
    leg = wait_until(
        lambda: [
            c for c in v2.http.get(v2.calls, params={"to": "+15550100999"}).json() if c["state"] == "answered"
        ]
    )[0]
    assert leg["parentCallId"] == call_id
    v2.phone.hang_up(call_id)
    collector.wait_for_event("disconnect", call_id)
    gone = collector.wait_for_event("transferDisconnect", leg["callId"])
    assert gone["parentCallId"] == call_id and gone["cause"] == "hangup"
    assert v2.state(leg["callId"])["state"] == "disconnected"


def test_the_async_phone_rings_a_v2_app_and_presses_on_it(sim, collector):
    import asyncio

    from catapult_nb.simulator.phone import AsyncVirtualPhone

    collector.answer("/app", "<Response><Gather gatherUrl='/gather' maxDigits='2'/></Response>")
    collector.answer("/gather", "<Response><Hangup/></Response>")

    async def ring() -> str:
        async with AsyncVirtualPhone(sim.base_url) as phone:
            call_id = await phone.incoming_v2(FROM, TO, collector.url("/app"))
            await asyncio.to_thread(collector.wait_for_event, "initiate", call_id)
            await phone.press(call_id, "42")
            return call_id

    call_id = asyncio.run(ring())
    assert collector.wait_for_event("gather", call_id)["digits"] == "42"
    assert collector.wait_for_event("disconnect", call_id)["cause"] == "hangup"
