"""session.on: handlers on worker threads, in order per call, errors kept; simulated and live."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from catapult_nb import Session
from catapult_nb.session import SIMULATED_FROM
from catapult_nb.session.handlers import Dispatcher
from catapult_nb.simulator.phone import VirtualPhone

SPEED = 20


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    with Session.simulated(speed=SPEED, store=tmp_path / "events.sqlite3") as s:
        yield s


def _no_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


def test_a_decorated_handler_gets_the_call_and_the_event_on_a_worker_thread(session):
    # given a handler for answer events, registered with the decorator
    seen: list[tuple[Any, dict[str, Any], str, bool]] = []
    done = threading.Event()

    @session.on("answer")
    def greet(call, event):
        seen.append((call, event, threading.current_thread().name, _no_running_loop()))
        done.set()

    # when a call is answered
    call = session.call("+15551234567")
    # then the handler ran once, off the receiver's loop, with the session's Call and the payload
    assert done.wait(10)
    assert greet.__name__ == "greet"  # the decorator hands the function back
    [(got_call, event, thread, off_loop)] = seen
    assert got_call is call
    assert event["eventType"] == "answer" and event["callId"] == call.id
    assert thread.startswith("catapult-handlers") and off_loop


def test_handlers_see_each_calls_events_in_stored_order_and_can_act_on_the_call(session):
    # given handlers that speak on answer and hang up once the sentence is done
    order: dict[str, list[str]] = {}

    def record(call, event):
        order.setdefault(call.id, []).append(event["eventType"] + ":" + str(event.get("status", "")))

    session.on("*", record)
    session.on("answer", lambda call, event: call.speak("Hello from a handler", tag="hi"))
    session.on("speak", lambda call, event: call.hang_up() if event["status"] == "done" else None)
    # when three calls are placed at once
    calls = [session.call(f"+1555123456{i}", wait=False) for i in range(3)]
    for call in calls:
        session.receiver.wait_for(call_id=call.id, event_type="hangup", timeout=10)
    assert session.wait_handlers(10)
    # then every call went answer → speak started → speak done → hangup, in the order it was stored
    for call in calls:
        stored = [
            f"{kind}:{status if isinstance(status, str) else ''}"
            for kind, status in zip(call.events["eventType"].astype(str), call.events["status"], strict=True)
        ]
        assert order[call.id] == stored
        assert order[call.id] == ["answer:", "speak:started", "speak:done", "hangup:"]
    assert session.handler_errors.empty


def test_a_handler_that_raises_is_recorded_shown_and_does_not_stop_the_others(session, caplog):
    # given a handler that fails on every answer, and a second one that works
    later = threading.Event()

    @session.on("answer")
    def broken(call, event):
        raise ValueError("no such menu")

    session.on("hangup", lambda call, event: later.set())
    # when a call is answered, then hung up by the far end
    call = session.call("+15551234567")
    session.phone.hang_up(call)
    # then the failure is kept with its event and handler, and the hangup was still handled
    assert later.wait(10)
    errors = session.handler_errors
    assert list(errors[["eventType", "callId", "handler"]].iloc[0]) == ["answer", call.id, "broken"]
    assert "ValueError: no such menu" in errors["error"].iloc[0]
    assert "raise ValueError" in errors["traceback"].iloc[0]
    assert "see session.handler_errors" in caplog.text
    assert "handler errors" in session._repr_html_()
    # and the receiver answered both deliveries with 200
    assert set(session.phone.deliveries(call)["status"]) == {200}


def test_one_slow_call_does_not_hold_up_another(session):
    # given a handler that holds call A's answer until call B's answer has been handled
    b_handled = threading.Event()
    a_saw_b: list[bool] = []

    @session.on("answer")
    def hold_a(call, event):
        if call.to == "+15551111111":
            a_saw_b.append(b_handled.wait(10))
        else:
            b_handled.set()

    # when both calls are answered
    for to in ("+15551111111", "+15552222222"):
        session.call(to, wait=False)
    for call in session.calls:
        session.receiver.wait_for(call_id=call.id, event_type="answer", timeout=10)
    # then B was handled while A's handler was still waiting
    assert session.wait_handlers(20)
    assert a_saw_b == [True]
    assert session.handler_errors.empty


def test_unknown_calls_get_a_call_object_and_inbound_calls_can_be_answered(session):
    # given a handler that answers every inbound call
    answered = threading.Event()
    session.on("incomingcall", lambda call, event: call.answer())
    session.on("answer", lambda call, event: answered.set())
    # when the virtual phone rings the application
    call_id = session.phone.incoming("+15557654321", SIMULATED_FROM, session.callback_url)
    # then the call is known to the session and was answered
    assert answered.wait(10)
    call = next(c for c in session.calls if c.id == call_id)
    assert (call.from_, call.to) == ("+15557654321", "+19195550100")


def test_dispatcher_keeps_per_call_order_across_many_calls():
    # given a dispatcher with four workers and 50 calls of 20 events each, interleaved
    seen: dict[str, list[int]] = {}
    lock = threading.Lock()

    def record(call, event):
        with lock:
            seen.setdefault(call, []).append(event["n"])

    dispatcher = Dispatcher(lambda call_id, event: call_id, workers=4)
    dispatcher.add("*", record)
    try:
        for n in range(20):
            for c in range(50):
                dispatcher.submit({"eventType": "dtmf", "callId": f"c-{c}", "n": n})
        # then each call's events were handled in order
        assert dispatcher.wait_idle(10)
        assert seen == {f"c-{c}": list(range(20)) for c in range(50)}
    finally:
        dispatcher.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("catapult-handlers")]


def test_handler_must_be_callable(session):
    with pytest.raises(TypeError, match="callable"):
        session.on("answer", "not a function")


def test_closing_the_session_stops_the_handler_threads(tmp_path):
    before = threading.active_count()
    with Session.simulated(speed=SPEED, store=tmp_path / "e.sqlite3") as s:
        s.on("answer", lambda call, event: None)
        s.call("+15551234567")
    assert threading.active_count() == before


def test_handlers_work_the_same_on_a_live_session_through_a_tunnel(live_session):
    # given a live session pointed at a simulator, callbacks crossing a (fake) ngrok tunnel
    with live_session(speed=SPEED) as (live, sim, _secret):
        results: list[str] = []
        done = threading.Event()
        phone = VirtualPhone(sim.base_url)

        @live.on("answer")
        def ask(call, event):
            call.gather(max_digits=2)
            phone.press(call.id, "42")  # the far end types as soon as it is asked

        @live.on("gather")
        def hang_up(call, event):
            results.append(event["digits"])
            call.hang_up()
            done.set()

        # when the far end answers and types two keys
        call = live.call("+15551234567")
        # then the handlers drove the call over the tunnel
        assert done.wait(10)
        assert results == ["42"]
        live.receiver.wait_for(call_id=call.id, event_type="hangup", timeout=10)
        assert live.handler_errors.empty



def test_a_handler_can_transfer_and_the_phone_can_hang_up_the_new_leg(session):
    # given a handler that transfers every answered call to an operator
    legs = []

    @session.on("answer")
    def to_operator(call, event):
        if call.to != "+15550100999":  # the operator's own answer is not transferred again
            legs.append(call.transfer("+15550100999"))

    call = session.call("+15551234567")
    session.receiver.wait_for(call_id=call.id, event_type="answer", timeout=10)
    assert session.wait_handlers(10)
    [leg] = legs
    # when the operator's leg answers and then hangs up on the virtual phone
    session.receiver.wait_for(call_id=leg.id, event_type="answer", timeout=10)
    session.phone.hang_up(leg)
    # then both calls end, each with its hangup event, and the leg is one of the session's calls
    for ended in (call, leg):
        session.receiver.wait_for(call_id=ended.id, event_type="hangup", timeout=10)
    assert leg in session.calls and (leg.from_, leg.to) == (call.to, "+15550100999")
    assert session.handler_errors.empty
