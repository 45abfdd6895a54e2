"""``receiver.faults(...)``: the receiver answers badly on purpose, and the simulator's retries,
``fallbackUrl`` and the store's dedupe can be watched (over real sockets)."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from catapult_nb import Session
from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.store.store import EventStore

TO = "+15551239999"


@pytest.fixture
def session():
    with Session.simulated(speed=50, store=":memory:") as opened:
        yield opened


def place_and_end_call(session, collector=None, **fields):
    """A call that is answered and hung up; returns it once the simulator has sent all its events."""
    call = session.call(TO, wait=False, **fields)
    if collector is not None:
        collector.wait_for_event("answer", call.id)
    else:
        session.receiver.wait_for(call_id=call.id, event_type="answer")
    call.hang_up()
    session.simulator.wait_idle()
    if collector is not None:  # it records a request just after answering it
        collector.wait_for_event("hangup", call.id)
    return call


def test_with_every_callback_dropped_each_event_reaches_the_fallback(session, collector):
    # given a receiver that drops every connection, and a fallbackUrl elsewhere
    with session.receiver.faults(drop=1.0) as faults:
        call = place_and_end_call(session, collector, fallback_url=collector.url("/fallback"))

    # then every event went to the fallback, after a failed attempt at the receiver
    sent = [e["eventType"] for e in collector.events(call.id, path="/fallback")]
    assert sent == ["answer", "hangup"]
    deliveries = session.deliveries(call)
    assert len(deliveries) == 2 * len(sent)
    for event_type, attempts in deliveries.groupby("eventType", observed=True):
        first, second = attempts.sort_values("attempt").to_dict("records")
        assert first["attempt"] == 1 and pd.isna(first["status"]), event_type
        assert first["error"].startswith("could not connect"), first["error"]
        assert (second["attempt"], second["status"]) == (2, 200) and pd.isna(second["error"])
        assert second["url"] == collector.url("/fallback")
    assert session.store.to_dataframe(call_id=call.id).empty
    assert Counter(entry["action"] for entry in faults.log) == {"drop": len(sent)}


def test_a_status_fault_is_not_stored_and_the_fallback_delivers_it(session):
    with session.receiver.faults(status=503, count=1) as faults:
        call = place_and_end_call(session, fallback_url=session.callback_url)

    first, second = session.deliveries(call).head(2).to_dict("records")
    assert (first["eventType"], first["status"], second["status"]) == ("answer", 503, 200)
    assert list(session.store.to_dataframe(call_id=call.id)["eventType"]) == ["answer", "hangup"]
    assert [entry["action"] for entry in faults.log] == ["answer 503"]
    assert faults.remaining == 0


def test_a_late_answer_times_out_the_sender_and_the_store_keeps_the_event_once(session):
    # given a receiver that stores the first callback, but answers after the sender stopped waiting
    with session.receiver.faults(status=None, delay=0.5, count=1) as faults:
        call = place_and_end_call(session, fallback_url=session.callback_url, callback_timeout=100)
    (late,) = faults.log  # the block ended once the late answer was sent
    assert (late["action"], late["status"]) == ("late", 200)

    # then the fallback sent it again, and the store holds it once
    first, second = session.deliveries(call).head(2).to_dict("records")
    assert first["error"] == "no answer within callbackTimeout (100 ms)"
    assert (second["eventType"], second["attempt"], second["status"]) == ("answer", 2, 200)
    events = session.store.to_dataframe(call_id=call.id)
    assert list(events["eventType"]) == ["answer", "hangup"]


def test_faults_end_with_the_block():
    with CallbackReceiver(EventStore(":memory:")) as receiver:
        with receiver.faults(status=500) as faults:
            assert "on" in repr(faults)
        assert receiver._faults is None and "off" in repr(faults)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": 42}, "status must be an HTTP status"),
        ({"delay": -1}, "delay must be a number of seconds"),
        ({"drop": 1.5}, "drop must be a probability"),
        ({"count": -2}, "count must be a whole number"),
    ],
)
def test_bad_fault_settings_are_refused(kwargs, message):
    receiver = CallbackReceiver(EventStore(":memory:"))
    with pytest.raises(ValueError, match=message):
        receiver.faults(**kwargs)
