"""The v2 IVR's tests: the simulator rings the app, runs its BXML, presses keys and hangs up, through
``catapult_simulator.v2`` (the fixture that installing catapult_nb brings; no conftest)."""

import pytest
import requests
from ivr_v2 import create_app

CALLER, IVR_NUMBER = "+15551230000", "+15557654321"


@pytest.fixture
def v2(catapult_simulator):
    return catapult_simulator.v2


def ring(v2, app, **options):
    base = v2.serve(app)
    return v2.incoming(CALLER, IVR_NUMBER, base + "/initiate", disconnectUrl=base + "/disconnect", **options)


def test_a_correct_code_is_read_back_then_the_app_hangs_up(v2):
    call_id = ring(v2, create_app())
    v2.wait_for(call_id, "initiate")
    v2.press(call_id, "12345")

    gather = v2.wait_for(call_id, "gather")
    assert (gather["digits"], gather["terminatingDigit"]) == ("12345", "")
    disconnect = v2.wait_for(call_id, "disconnect")
    assert (disconnect["cause"], disconnect["tag"]) == ("hangup", "read-back")
    said = [p["sentence"] for p in v2.call_info(call_id)["prompts"]]
    assert said[-1] == "You entered 1 2 3 4 5. Goodbye."


def test_pound_ends_a_short_code(v2):
    call_id = ring(v2, create_app())
    v2.wait_for(call_id, "initiate")
    v2.press(call_id, "123#")

    gather = v2.wait_for(call_id, "gather")
    assert (gather["digits"], gather["terminatingDigit"]) == ("123", "#")
    assert v2.wait_for(call_id, "disconnect")["tag"] == "no-code"


def test_a_silent_caller_hears_the_prompt_twice_then_is_told_so(v2):
    call_id = ring(v2, create_app())

    gather = v2.wait_for(call_id, "gather")
    assert (gather["digits"], gather["terminatingDigit"]) == ("", "")
    assert v2.wait_for(call_id, "disconnect")["tag"] == "no-code"


def test_a_caller_hanging_up_mid_code_sends_only_disconnect(v2):
    call_id = ring(v2, create_app())
    v2.wait_for(call_id, "initiate")
    v2.press(call_id, "12")
    v2.hang_up(call_id)

    assert v2.wait_for(call_id, "disconnect")["cause"] == "hangup"
    sent = v2.events.query("callId == @call_id")["eventType"].tolist()
    assert sent == ["initiate", "disconnect"]  # no gather


def test_a_bxml_mistake_is_named_in_the_disconnect(v2):
    app = create_app(max_digits=60)  # v1 allowed 30 at most; v2 allows 50
    call_id = ring(v2, app)

    disconnect = v2.wait_for(call_id, "disconnect")
    assert disconnect["cause"] == "invalid-bxml"
    assert disconnect["errorMessage"] == (
        "Invalid BXML: <Gather> attribute maxDigits: maxDigits must be between 1 and 50, got 60"
    )
    assert app.disconnects[-1]["errorMessage"] == disconnect["errorMessage"]  # the app got it too


@pytest.mark.catapult(expect_errors=True)  # the 500 is this test's point: it must not fail the test
def test_an_app_failing_once_is_rescued_by_the_fallback_url(v2):
    app = create_app()
    failures = [500]

    @app.before_request
    def fail_once():
        if failures:
            return "database unavailable", failures.pop()

    base = v2.serve(app)
    call_id = v2.incoming(
        CALLER,
        IVR_NUMBER,
        base + "/initiate",
        fallbackUrl=base + "/initiate-fallback",
        disconnectUrl=base + "/disconnect",
    )
    v2.wait_for(call_id, "initiate")
    v2.press(call_id, "54321")

    assert v2.wait_for(call_id, "gather")["digits"] == "54321"
    first, second = v2.deliveries(call_id).rows()[:2]
    assert (first["eventType"], first["status"], second["status"]) == ("initiate", 500, 200)
    assert second["url"] == base + "/initiate-fallback"


def test_the_app_can_place_the_call_through_the_rest_api(v2):
    base = v2.serve(create_app())
    created = requests.post(
        v2.calls_url,
        auth=(v2.username, v2.password),
        timeout=10,
        json={
            "to": CALLER,
            "from": IVR_NUMBER,
            "applicationId": "ivr",
            "answerUrl": base + "/initiate",
            "disconnectUrl": base + "/disconnect",
        },
    )
    assert created.status_code == 201
    call_id = created.json()["callId"]
    v2.wait_for(call_id, "answer")
    v2.press(call_id, "24680")
    assert v2.wait_for(call_id, "gather")["digits"] == "24680"
    assert v2.wait_for(call_id, "disconnect")["tag"] == "read-back"
