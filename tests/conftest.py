"""Shared fixtures.

``simulator``
    A running :class:`catapult_nb.simulator.Simulator` at ``speed=50`` on a free 127.0.0.1 port, one per
    test (a 7 s inter-digit timeout takes 0.14 s). Use ``simulator.api_url``, ``.user_id``,
    ``.api_token``, ``.api_secret`` for a client, and ``simulator.phone`` for the virtual phone.

``collector``
    A real HTTP endpoint on 127.0.0.1 that records every request (callbacks, typically) and lets a test
    wait for a matching one, without sleeping::

        url = collector.url("/cb")
        event = collector.wait_for_event("gather", call_id=call_id, timeout=5)
        collector.respond("/broken", 500)     # make a path fail, to exercise fallbackUrl
        collector.hold("/slow")               # answer nothing until released (callbackTimeout)
        collector.hold("/slow", first_only=True)  # hold the first request there; answer later ones
        collector.wait_for_arrival(predicate)  # a request as it arrives (held or not), before answering
        collector.answer("/app", "<Response>…</Response>")  # a v2 app: answer a path with BXML
        collector.answer("/app", lambda record: bxml)          # … chosen by the request

    Each record is a :class:`Collected` (method, path, query, headers, body, json).

``agent``
    A fake ngrok agent of this test's own (``tests/fake_ngrok.py``) for ``ngrok_path=``, with no
    authtoken from outside and a one-session-per-account limit; every agent it started is stopped after.

``live_session``
    Opens ``Session.live()`` against a simulator of its own, callbacks crossing the ``agent``'s tunnel::

        with live_session(speed=10) as (live, sim, secret):
            call = live.call("+15551234567")

``api``
    An :class:`Api` on the ``simulator``: the v1 routes spoken with plain ``requests`` and Basic auth
    (``api.post("/calls", {...})``, ``api.answered_call(collector)``, ``api.gather(call_id, body)``).
    ``assert_error(response, status, category, code)`` checks a v1 error body.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fake_ngrok
import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from catapult_nb.simulator import Simulator
from catapult_nb.tunnel import kill_agents

SIMULATOR_SPEED = 50

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CALL_ID = re.compile(r"^c-[a-z2-7]{23}$")
GATHER_ID = re.compile(r"^gtr-[a-z2-7]{23}$")
FROM = "+15551230000"
TO = "+15551239999"


class Api:
    """The simulator's v1 API, spoken with plain ``requests`` (no client library in between)."""

    ISO_MS = ISO_MS  # event and resource timestamps
    CALL_ID = CALL_ID
    GATHER_ID = GATHER_ID
    FROM = FROM
    TO = TO

    def __init__(self, sim: Simulator, auth: tuple[str, str] | None = None) -> None:
        self.sim = sim
        self.root = f"{sim.api_url}/users/{sim.user_id}"
        self.http = requests.Session()
        self.http.auth = auth or (sim.api_token, sim.api_secret)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        return self.http.post(self.root + path, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.root + path, timeout=10, **kwargs)

    def create_call(self, callback_url: str | None, to: str = TO, **fields: Any) -> str:
        body = {"from": FROM, "to": to, **fields}
        if callback_url:
            body["callbackUrl"] = callback_url
        response = self.post("/calls", body)
        assert response.status_code == 201, response.text
        return response.headers["Location"].rsplit("/", 1)[1]

    def answered_call(self, collector: Any, **fields: Any) -> str:
        """An outbound call that the far end has answered (its answer event has arrived)."""
        call_id = self.create_call(collector.url(), **fields)
        collector.wait_for_event("answer", call_id)
        return call_id

    def gather(self, call_id: str, body: Any) -> requests.Response:
        return self.post(f"/calls/{call_id}/gather", body)

    @staticmethod
    def assert_error(response: requests.Response, status: int, category: str, code: str) -> dict[str, Any]:
        """The response is the v1 error body with this status, category and code; returns the body."""
        assert response.status_code == status, (response.status_code, response.text)
        body = response.json()
        assert set(body) == {"category", "code", "message", "details"}, body
        assert (body["category"], body["code"]) == (category, code), body
        assert isinstance(body["message"], str) and body["message"]
        assert isinstance(body["details"], list)
        return body


@dataclass
class Collected:
    """One request the collector received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = field(default=None)

    @property
    def event(self) -> dict[str, Any]:
        """The callback event: the JSON body of a POST, or the query of a GET."""
        return self.json if self.method == "POST" else self.query


class Collector:
    """Records requests; ``wait_for`` blocks on a condition variable until one matches or time runs out."""

    def __init__(self) -> None:
        self.requests: list[Collected] = []
        #: every request as it arrived, before it was answered (a held one is here, not in ``requests``)
        self.arrivals: list[Collected] = []
        self._cond = threading.Condition()
        self._status: dict[str, int] = {}
        self._bodies: dict[str, str | Callable[[Collected], str]] = {}
        self._held: dict[str, threading.Event] = {}
        self._hold_first_only: set[str] = set()
        # threaded: a held request must not keep the others waiting
        self._server = HTTPServer("127.0.0.1", 0, threaded=True)
        self._server.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        self._server.start()
        self.port = self._server.port

    def url(self, path: str = "/cb") -> str:
        return self._server.url_for(path)

    def respond(self, path: str, status: int) -> None:
        """Answer requests to ``path`` with ``status`` (default 200)."""
        self._status[path] = status

    def answer(self, path: str, body: str | Callable[[Collected], str]) -> None:
        """Answer requests to ``path`` with ``body`` as XML (a v2 app's BXML), or with what
        ``body(record)`` returns for each request."""
        self._bodies[path] = body

    def hold(self, path: str, *, first_only: bool = False) -> threading.Event:
        """Leave requests to ``path`` unanswered until the returned event is set (or 10 s pass).

        With ``first_only``, only the first request to ``path`` is held; later ones are answered at once.
        """
        event = self._held[path] = threading.Event()
        if first_only:
            self._hold_first_only.add(path)
        return event

    def close(self) -> None:
        for event in self._held.values():
            event.set()
        self._server.clear()
        if self._server.is_running():
            self._server.stop()

    def wait_for(self, predicate: Callable[[Collected], bool], timeout: float = 5.0) -> Collected:
        """The first request matching ``predicate``; AssertionError after ``timeout`` seconds."""
        with self._cond:
            found: list[Collected] = []

            def ready() -> bool:
                found[:] = [r for r in self.requests if predicate(r)]
                return bool(found) and self._earlier_answered(found[0])

            if not self._cond.wait_for(ready, timeout):
                seen = [(r.method, r.path, (r.event or {}).get("eventType")) for r in self.requests]
                raise AssertionError(f"no matching request within {timeout} s; received {seen}")
            return found[0]

    def _earlier_answered(self, record: Collected) -> bool:
        """Every request that arrived before ``record`` has been counted, or is being held.

        A sender that waits for each answer before the next request (the simulator, per call) has had
        them all answered; each is counted on its own server thread, so one may still be on its way.
        """
        answered = {id(r) for r in self.requests}
        for earlier in self.arrivals:
            if earlier is record:
                return True
            held = self._held.get(earlier.path)
            if id(earlier) not in answered and (held is None or held.is_set()):
                return False
        return True

    def wait_for_arrival(self, predicate: Callable[[Collected], bool], timeout: float = 5.0) -> Collected:
        """The first request matching ``predicate`` to have arrived, answered or not (e.g. held)."""
        with self._cond:
            if not self._cond.wait_for(lambda: any(predicate(r) for r in self.arrivals), timeout):
                raise AssertionError(f"no matching request arrived within {timeout} s")
            return next(r for r in self.arrivals if predicate(r))

    def wait_for_event(
        self, event_type: str, call_id: str | None = None, timeout: float = 5.0, **fields: Any
    ) -> dict[str, Any]:
        """The first callback event of ``event_type`` (for ``call_id``, with these field values)."""

        def matches(r: Collected) -> bool:
            event = r.event or {}
            return (
                event.get("eventType") == event_type
                and (call_id is None or event.get("callId") == call_id)
                and all(event.get(k) == v for k, v in fields.items())
            )

        return self.wait_for(matches, timeout).event

    def events(self, call_id: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """The answered events in the order they arrived (answers can be counted out of order: each is
        counted on its own server thread once it has been sent)."""
        with self._cond:
            arrived = {id(r): i for i, r in enumerate(self.arrivals)}
            answered = sorted(self.requests, key=lambda r: arrived[id(r)])
            return [
                r.event for r in answered
                if (path is None or r.path == path) and (call_id is None or r.event.get("callId") == call_id)
            ]

    def _handle(self, request: Request) -> Response:
        body = request.get_data()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = Collected(
            request.method, request.path, dict(request.args.items()), dict(request.headers.items()),
            body, parsed,
        )
        with self._cond:
            first = all(r.path != request.path for r in self.arrivals)
            self.arrivals.append(record)
            self._cond.notify_all()
        held = self._held.get(request.path)
        if held is not None and (first or request.path not in self._hold_first_only):
            held.wait(10)
        answer = self._bodies.get(request.path, "")
        text = answer(record) if callable(answer) else answer
        response = Response(text, status=self._status.get(request.path, 200),
                            content_type="application/xml" if text else None)
        response.call_on_close(lambda: self._answered(record))  # counted once the answer is sent
        return response

    def _answered(self, record: Collected) -> None:
        with self._cond:
            self.requests.append(record)
            self._cond.notify_all()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # loopback only, whatever proxies the environment names
        yield session


@pytest.fixture
def collector() -> Iterator[Collector]:
    instance = Collector()
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(speed=SIMULATOR_SPEED) as sim:
        yield sim


@pytest.fixture
def api(simulator: Simulator) -> Iterator[Api]:
    client = Api(simulator)
    try:
        yield client
    finally:
        client.http.close()


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fake ngrok agent of this test's own, and no authtoken from outside."""
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.delenv("FAKE_NGROK_FAIL", raising=False)
    monkeypatch.setenv("FAKE_NGROK_STATE_DIR", str(tmp_path / "account"))
    path = fake_ngrok.install(tmp_path)
    yield path
    kill_agents(str(path))  # nothing a failed test started outlives it


@pytest.fixture
def live_session(agent: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``live_session(speed)``: a context manager giving ``(session, simulator, api_secret)`` — a live
    session whose API is a fresh simulator and whose callbacks cross the fake ngrok tunnel."""
    from catapult_nb import Session

    monkeypatch.setenv("NGROK_AUTHTOKEN", "2fakeAuthtokenForTheLiveTests")

    @contextlib.contextmanager
    def opened(speed: float = 10) -> Iterator[tuple[Session, Simulator, str]]:
        secret = "live-secret-" + os.urandom(6).hex()
        with Simulator(speed=speed, api_secret=secret) as sim, Session.live(
            user_id=sim.user_id, api_token=sim.api_token, api_secret=secret, from_number="+19195550100",
            base_url=sim.base_url, store=tmp_path / "live.sqlite3", ngrok_path=str(agent),
            config_path=str(tmp_path / "ngrok.yml"),
        ) as live:
            yield live, sim, secret

    return opened
