"""The IVR app's tests: the simulator rings the app, presses keys and hangs up, through the
``catapult_simulator`` fixture that installing catapult_nb brings (no conftest)."""

import pytest
from ivr import create_app

CALLER, IVR_NUMBER = "+15551230000", "+15557654321"


@pytest.fixture
def app(catapult_simulator):
    sim = catapult_simulator
    return create_app(sim.api_url, sim.user_id, sim.api_token, sim.api_secret)


@pytest.fixture
def call_id(catapult_simulator, app):
    """A call to the IVR that it has answered, its code prompt playing."""
    base = catapult_simulator.serve(app)
    call_id = catapult_simulator.incoming(CALLER, IVR_NUMBER, base + "/catapult")
    catapult_simulator.wait_for(call_id, "answer")
    return call_id


def test_a_correct_code_is_read_back_then_the_app_hangs_up(catapult_simulator, call_id):
    catapult_simulator.press(call_id, "12345")

    gather = catapult_simulator.wait_for(call_id, "gather")
    assert (gather["reason"], gather["digits"]) == ("max-digits", "12345")
    catapult_simulator.wait_for(call_id, "speak", state="PLAYBACK_STOP", tag="read-back")
    assert catapult_simulator.wait_for(call_id, "hangup")["cause"] == "NORMAL_CLEARING"
    assert (catapult_simulator.deliveries(call_id)["status"] == 204).all()


def test_a_caller_who_types_nothing_is_told_so_and_hung_up_on(catapult_simulator, call_id):
    gather = catapult_simulator.wait_for(call_id, "gather")

    assert (gather["reason"], gather["digits"]) == ("inter-digit-timeout", "")
    catapult_simulator.wait_for(call_id, "speak", state="PLAYBACK_STOP", tag="no-code")
    catapult_simulator.wait_for(call_id, "hangup")


def test_a_caller_hanging_up_mid_code_ends_the_call_quietly(catapult_simulator, call_id):
    for key in "12":  # the first key of each press counts at once
        catapult_simulator.press(call_id, key)
    catapult_simulator.hang_up(call_id)

    gather = catapult_simulator.wait_for(call_id, "gather")
    assert (gather["reason"], gather["digits"]) == ("hung-up", "12")
    catapult_simulator.wait_for(call_id, "hangup")
    events = catapult_simulator.events.query("callId == @call_id")["eventType"].tolist()
    assert events[-2:] == ["gather", "hangup"]  # the app tried to say nothing more
    assert (catapult_simulator.deliveries(call_id)["status"] == 204).all()


def test_an_app_failing_once_is_rescued_by_the_fallback_url(catapult_simulator, app):
    catapult_simulator.expect_errors()  # the 500 is this test's point: it must not fail the test
    failures = [500]

    @app.before_request
    def fail_once():
        if failures:
            return "database unavailable", failures.pop()

    base = catapult_simulator.serve(app)
    call_id = catapult_simulator.incoming(
        CALLER, IVR_NUMBER, base + "/catapult", fallback_url=base + "/catapult-fallback"
    )
    catapult_simulator.wait_for(call_id, "answer")  # the fallback answered the call
    catapult_simulator.press(call_id, "54321")

    assert catapult_simulator.wait_for(call_id, "gather")["digits"] == "54321"
    first, second = catapult_simulator.deliveries(call_id).rows()[:2]
    assert (first["eventType"], first["status"], first["url"]) == ("incomingcall", 500, base + "/catapult")
    assert (second["eventType"], second["status"]) == ("incomingcall", 204)
    assert second["url"] == base + "/catapult-fallback"
