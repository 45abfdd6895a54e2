"""The tools a request builder and a dev phone offer: other requests on a call, the call log, the earpiece,
and the callback inspector; each driven as its buttons are, against the simulator over real sockets."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from catapult_nb import Session
from catapult_nb.widgets import Explorer
from catapult_nb.widgets.actions import CallActions
from catapult_nb.widgets.history import CallHistory, call_history
from catapult_nb.widgets.speaker import Speaker


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    with Session.simulated(speed=10, store=tmp_path / "events.sqlite3") as s:
        yield s


def wait_until(condition: Callable[[], Any], session: Session, timeout: float = 10.0) -> Any:
    """``condition()``'s first truthy value, checked after each stored event, within ``timeout`` s."""
    arrived = threading.Event()

    def listener(_row: Any) -> None:
        arrived.set()

    session.store.add_listener(listener)
    try:
        deadline = time.monotonic() + timeout
        value = condition()
        while not value and time.monotonic() < deadline:
            arrived.wait(0.2)  # checked again at once after an event, and at least every 0.2 s
            arrived.clear()
            value = condition()
        assert value, f"not true within {timeout} s"
        return value
    finally:
        session.store.remove_listener(listener)


def kinds(session: Session, call_id: str) -> list[str]:
    frame = session.events
    return frame.loc[frame["callId"] == call_id, "eventType"].astype(str).tolist()


def test_speak_transfer_and_hang_up_from_the_buttons(session):
    actions = CallActions(session)
    # no call yet: the button says so
    actions.speak_button.click()
    assert "no call: place a call first" in actions.result.value
    call = session.call("+15551234567")
    actions.set_call(call)
    # speak: the speak events arrive
    actions.sentence.value = "Your balance is ten dollars."
    actions.speak_button.click()
    assert "✔ spoke" in actions.result.value
    wait_until(lambda: kinds(session, call.id).count("speak") >= 2, session)
    # transfer: a new leg is dialled and answered
    actions.transfer_button.click()
    assert "✔ transferred" in actions.result.value and "the new leg is <code>c-" in actions.result.value
    leg = session.calls[-1]
    wait_until(lambda: "answer" in kinds(session, leg.id), session)
    # hang up from the application: both legs end
    actions.hangup_button.click()
    assert "✔ hung up" in actions.result.value
    wait_until(lambda: "hangup" in kinds(session, call.id) and "hangup" in kinds(session, leg.id), session)


def test_the_call_history_lists_each_call_with_its_digits_and_end(session):
    history = CallHistory(session)
    assert "no calls yet" in history.table.value
    first = session.call("+15551234567")
    gather = first.gather(max_digits=3, inter_digit_timeout=2)
    session.phone.press(first, "123")
    gather.wait()
    session.phone.hang_up(first)
    second = session.call("+15557654321")
    wait_until(lambda: "hangup" in kinds(session, first.id), session)
    log = call_history(session.events)
    assert log["callId"].tolist() == [second.id, first.id]  # newest first
    row = log.set_index("callId").loc[first.id]
    assert (row["to"], row["answered"], row["gathers"], row["digits"], row["ended"]) == (
        "+15551234567", True, 1, "123", "NORMAL_CLEARING")
    assert row["seconds"] > 0
    assert log.set_index("callId").loc[second.id, "ended"] == "in progress"
    # and the widget follows: both calls shown
    wait_until(lambda: first.id in history.table.value and second.id in history.table.value, session)
    assert "NORMAL_CLEARING" in history.table.value and "<code>123</code>" in history.table.value


def test_the_speaker_says_each_prompt_as_it_starts(session):
    speaker = Speaker(session)
    call = session.call("+15551234567")
    speaker.set_call(call)
    call.gather(max_digits=1, prompt={"sentence": "Press one for sales.", "voice": "paul"})
    wait_until(lambda: speaker.heard, session)
    assert speaker.heard == ["Press one for sales."]
    assert speaker.player is not None and speaker.player.autoplay and speaker.player.value[:4] == b"RIFF"
    assert "Press one for sales." in speaker.caption.value
    # silenced: the next prompt is not played
    speaker.enabled.value = False
    session.phone.press(call, "1")
    call.speak("Goodbye.")
    wait_until(lambda: kinds(session, call.id).count("speak") >= 4, session)
    speaker.refresh()
    assert speaker.heard == ["Press one for sales."]


def test_the_explorers_form_follows_the_gather_to_its_end_and_clears_an_old_refusal(session):
    explorer = Explorer(session)
    explorer.panel.place_call()
    form = explorer.form
    # 3 wall seconds between keys: room for the clicks on a busy machine
    form.set_values(max_digits=2, inter_digit_timeout=30.0, sentence="")
    form.send_button.click()
    assert "waiting for the caller" in form.result.value
    form.send_button.click()  # a second gather while the first runs: the API's 409
    assert "409" in form.result.value
    # an edit takes the old refusal away
    form.set_values(tag="edited")
    assert "409" not in form.result.value and "edited since the last try" in form.result.value
    # Stop stops the running gather, and a new one can be sent
    form.stop_button.click()
    assert "stopped" in form.result.value
    form.send_button.click()
    assert "waiting for the caller" in form.result.value
    explorer.keypad.press("42")
    # the result line says how the gather ended, not "waiting" any more
    wait_until(lambda: "ended" in form.result.value, session)
    assert "max-digits" in form.result.value and "'42'" in html.unescape(form.result.value)
    assert "waiting for the caller" not in form.result.value


@pytest.mark.parametrize(("field", "message"), [("max_digits", "maxDigits"), ("inter_digit_timeout",
                                                                                 "interDigitTimeout")])
def test_a_zero_typed_into_a_number_box_stays_and_is_refused(field, message):
    from catapult_nb.widgets import GatherForm

    form = GatherForm()
    form.set_values(**{field: 0})
    assert form.widgets[field].value == 0  # not silently turned into 1
    assert message in form.validation.value and "✔" not in form.validation.value


def test_the_inspector_shows_each_callback_and_the_receivers_answer(session):
    import requests

    from catapult_nb.widgets import CallbackInspector

    inspector = CallbackInspector(session)
    assert "no request yet" in inspector.detail.value
    call = session.call("+15551234567")
    gather = call.gather(max_digits=1)
    session.phone.press(call, "7")
    gather.wait()
    # the newest request is listed first and shown: the gather event as sent, and the 200 it got
    wait_until(lambda: any("gather" in label for label, _ in inspector.list.options), session)
    label, number = inspector.list.options[0]
    assert f"gather {call.id} → 200" in label
    shown = html.unescape(inspector.detail.value)
    assert '"eventType": "gather"' in shown and '"digits": "7"' in shown
    assert "<b>200</b>" in inspector.detail.value and "/callbacks/***" in shown
    # a body that is not an event: refused 400, and the inspector shows the refusal with its reason
    requests.post(session.receiver.url, data=b"<html>502 Bad Gateway</html>", timeout=5)
    wait_until(lambda: "→ 400" in inspector.list.options[0][0], session=session)
    shown = html.unescape(inspector.detail.value)
    assert "<html>502 Bad Gateway</html>" in shown and "not-json" in shown
    # an older one is picked by its number, as a click does
    inspector.show(number)
    assert '"eventType": "gather"' in html.unescape(inspector.detail.value)
    # and the receiver's secret path token is in no line and no detail
    token = session.receiver.url.rsplit("/", 1)[-1]
    assert token not in inspector.detail.value
    assert all(token not in text for text, _ in inspector.list.options)
