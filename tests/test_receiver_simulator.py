"""The receiver fed by the real simulator: a gather end to end, GET callbacks, durability across a restart."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from catapult_nb.events import EventStore
from catapult_nb.receiver import CallbackReceiver
from catapult_nb.simulator import Simulator

FROM, TO = "+15551230000", "+15551239999"


class V1:
    """Just enough of the v1 API, spoken with plain requests."""

    def __init__(self, sim: Simulator) -> None:
        self.root = f"{sim.api_url}/users/{sim.user_id}"
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.auth = (sim.api_token, sim.api_secret)

    def call(self, callback_url: str, **fields: str) -> str:
        response = self.http.post(
            f"{self.root}/calls",
            json={"from": FROM, "to": TO, "callbackUrl": callback_url, **fields},
            timeout=5,
        )
        assert response.status_code == 201, response.text
        return response.headers["Location"].rsplit("/", 1)[1]

    def gather(self, call_id: str, body: dict) -> str:
        response = self.http.post(f"{self.root}/calls/{call_id}/gather", json=body, timeout=5)
        assert response.status_code == 201, response.text
        return response.headers["Location"].rsplit("/", 1)[1]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "events.sqlite3") as instance:
        yield instance


def test_seed_gather_lands_in_the_dataframe(simulator: Simulator, store: EventStore) -> None:
    with CallbackReceiver(store, session="seed") as receiver:
        v1 = V1(simulator)
        call_id = v1.call(receiver.url)
        receiver.wait_for(call_id=call_id, event_type="answer", timeout=10)
        gather_id = v1.gather(
            call_id,
            {
                "maxDigits": "5",
                "terminatingDigits": "*",
                "interDigitTimeout": "7",
                "prompt": {"sentence": "Please enter your 5 digit code"},
            },
        )
        simulator.phone.press(call_id, "007*", gap=0.1)

        event = receiver.wait_for(gather_id=gather_id, event_type="gather", timeout=10)

    assert (event["digits"], event["reason"], event["state"]) == ("007", "terminating-digit", "completed")
    gathers = store.to_dataframe(gather_id=gather_id, event_type="gather")
    assert gathers["digits"].tolist() == ["007"] and str(gathers["digits"].dtype) == "string"
    assert gathers["session"].tolist() == ["seed"]
    assert set(store.to_dataframe(call_id=call_id)["eventType"]) >= {"answer", "speak", "gather"}


def test_get_callbacks_from_the_simulator(simulator: Simulator, store: EventStore) -> None:
    with CallbackReceiver(store) as receiver:
        call_id = V1(simulator).call(receiver.url, callbackHttpMethod="GET")
        event = receiver.wait_for(call_id=call_id, event_type="answer", timeout=10)
    assert event["callState"] == "active" and event["from"] == FROM and event["to"] == TO
    assert len(receiver.rejected()) == 0


def test_events_survive_a_receiver_restart_exactly_once(store: EventStore) -> None:
    # given a simulator that retries failed callbacks (one API second apart: 0.1 s at speed 10)
    with Simulator(speed=10, callback_retries=10) as sim:
        first = CallbackReceiver(store).start()
        port, token = first.port, first.path.rsplit("/", 1)[1]
        v1 = V1(sim)
        call_id = v1.call(first.url)
        first.wait_for(call_id=call_id, event_type="answer", timeout=10)

        # when the caller presses nine keys (a dtmf event each) and the receiver goes away mid-stream
        sim.phone.press(call_id, "123456789", gap=0.3)
        first.wait_for(call_id=call_id, predicate=lambda e: e["dtmfDigit"] == "3", timeout=10)
        first.stop()
        # the port now drops a delivery in the middle of its request, like a kernel that dies mid-request
        with socket.create_server(("127.0.0.1", port)) as dying:
            dying.settimeout(10)
            connection, _ = dying.accept()
            connection.recv(64)
            connection.close()
        # and the receiver comes back on the same port and token
        with CallbackReceiver(store, port=port, token=token) as second:
            second.wait_for(call_id=call_id, predicate=lambda e: e["dtmfDigit"] == "9", timeout=15)
            sim.phone.hang_up(call_id)
            second.wait_for(call_id=call_id, event_type="hangup", timeout=10)
            sim.wait_idle(10)
            deliveries = sim.phone.deliveries(call_id)

    # then every event is stored exactly once, in order, and nothing is lost
    frame = store.to_dataframe(call_id=call_id)
    dtmf = frame[frame["eventType"] == "dtmf"]
    assert dtmf["dtmfDigit"].tolist() == list("123456789")
    assert frame["eventType"].value_counts()[["answer", "hangup"]].tolist() == [1, 1]
    failed = [d for d in deliveries if d["status"] != 200]
    delivered = [d for d in deliveries if d["status"] == 200]
    assert failed, "the restart should have made at least one delivery fail"
    assert len(delivered) == len(frame)  # each event answered 200 once, stored once
