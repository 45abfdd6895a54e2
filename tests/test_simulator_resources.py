"""The simulator on a long run: a stopped simulator is freed, ended calls are forgotten after a bound,
the traffic inspector hides the receiver's secret, and two keys pressed at once are two events."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import requests

from catapult_nb import Session
from catapult_nb.simulator import Simulator


def test_a_stopped_simulator_is_freed(collector) -> None:
    # given a simulator that placed a call with a callback and ran a gather on it
    sim = Simulator(speed=50).start()
    auth = (sim.api_token, sim.api_secret)
    calls = f"{sim.api_url}/users/{sim.user_id}/calls"
    with requests.Session() as http:
        http.trust_env = False
        created = http.post(
            calls, json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": collector.url()},
            auth=auth, timeout=5,
        )
        call_id = created.headers["Location"].rsplit("/", 1)[1]
        collector.wait_for_event("answer", call_id=call_id, timeout=10)
        gathered = http.post(f"{calls}/{call_id}/gather", json={"maxDigits": 1}, auth=auth, timeout=5)
        assert gathered.status_code == 201
    state = weakref.ref(sim._server.state)  # everything the simulator knows: calls, logs, HTTP client
    # when it stops and nothing refers to it any more
    sim.stop()
    del sim
    gc.collect()
    # then its state is freed (no framework cache keeps its handlers, and with them its calls)
    assert state() is None


def test_the_traffic_inspector_hides_the_receivers_secret_path(tmp_path: Path) -> None:
    with Session.simulated(speed=50, store=tmp_path / "events.sqlite3") as session:
        token = session.receiver.path.rsplit("/", 1)[1]
        base = session.receiver.url.split("/callbacks/")[0]
        call = session.call("+15551234567")
        call.hang_up()
        session.receiver.wait_for(call_id=call.id, event_type="hangup", timeout=10)
        # when anyone reads the unauthenticated inspector route
        raw = requests.get(f"{session.simulator.base_url}/_sim/deliveries", timeout=5)
    # then the token is nowhere in it, and the URLs still say where the callbacks went
    assert raw.status_code == 200 and raw.json()
    assert token not in raw.text and token[:8] not in raw.text
    assert {d["url"] for d in raw.json()} == {base + "/callbacks/***"}


def test_four_keys_pressed_at_once_are_four_events(tmp_path: Path) -> None:
    # given an answered call at real speed, with no gather (every key gives a dtmf event)
    with Session.simulated(speed=1, store=tmp_path / "events.sqlite3") as session:
        call = session.call("+15551234567", timeout=10)
        # when the caller presses the same key four times with no gap
        session.phone.press(call, "1111", gap=0)
        # then the receiver stores four dtmf events (a merged one would leave this wait to time out)
        since = 0
        for _ in range(4):
            event = session.receiver.wait_for(call_id=call.id, event_type="dtmf", since=since, timeout=10)
            since = event["id"]
        dtmf = call.events.query("eventType == 'dtmf'")
    # each with its own time
    assert dtmf["dtmfDigit"].tolist() == ["1", "1", "1", "1"]
    assert dtmf["time"].is_unique and dtmf["time"].is_monotonic_increasing


def test_ended_calls_beyond_the_bound_are_forgotten(collector) -> None:
    # given a simulator that keeps the 3 most recently ended calls
    with Simulator(speed=50, keep_ended_calls=3) as sim, requests.Session() as http:
        http.trust_env = False
        # when 10 callers ring in and hang up
        ids = []
        for n in range(10):
            rung = http.post(
                f"{sim.base_url}/_sim/incoming",
                json={"from": f"+1555123{n:04d}", "to": "+15551239999", "callbackUrl": collector.url()},
                timeout=5,
            )
            ids.append(rung.json()["callId"])
            assert http.post(f"{sim.base_url}/_sim/calls/{ids[-1]}/hangup", timeout=5).status_code == 202
        sim.wait_idle()
        # then only the last 3 are still known, and an older one is a 404 that says why
        listed = http.get(
            f"{sim.api_url}/users/{sim.user_id}/calls", params={"size": 100},
            auth=(sim.api_token, sim.api_secret), timeout=5,
        ).json()
        assert [c["id"] for c in listed] == ids[::-1][:3]
        auth = (sim.api_token, sim.api_secret)
        old = http.get(f"{sim.api_url}/users/{sim.user_id}/calls/{ids[0]}", auth=auth, timeout=5)
        assert old.status_code == 404 and "forgets" in old.json()["message"]


def _raw(port: int, request: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_odd_expect_headers_and_lying_encodings_are_4xx(simulator) -> None:
    for path in ("/_sim/incoming", "/no/such/route"):
        answer = _raw(simulator.port, f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
                      + b"Expect: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}")
        assert answer.startswith(b"HTTP/1.1 417 "), answer[:200]
    answer = _raw(simulator.port, b"POST /_sim/incoming HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Encoding: gzip\r\nContent-Length: 16\r\n\r\nthis is not gzip")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Content-Encoding" in answer, answer[:300]


def test_idle_connections_to_the_simulator_are_closed(monkeypatch) -> None:
    import socket

    from catapult_nb.simulator import server

    monkeypatch.setattr(server, "IDLE_TIMEOUT", 0.5)
    with Simulator() as sim, socket.create_connection(("127.0.0.1", sim.port), timeout=10) as sock:
        sock.sendall(b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nX-Half: ")  # never finishes its headers
        assert sock.recv(100) == b""  # closed by the simulator, long before the socket's 10 s timeout
