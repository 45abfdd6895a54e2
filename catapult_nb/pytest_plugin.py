"""pytest fixtures for testing your own Catapult v1 or Bandwidth Voice API v2 application against the
embedded simulator.

Installed with the package (the ``pytest11`` entry point), even its lean default install
(``pip install '/path/to/catapult_nb[pytest]'`` from a checkout or a built wheel): the fixtures are there,
no conftest needed. The simulator calls *your* app, presses keys and hangs up like a caller::

    def test_my_ivr_reads_the_code_back(catapult_simulator):
        app_url = catapult_simulator.serve(create_app(catapult_simulator.url + "/v1", ...))
        call_id = catapult_simulator.incoming("+15551230000", "+15557654321", app_url + "/catapult")
        catapult_simulator.wait_for(call_id, "answer")           # your app answered the call
        catapult_simulator.press(call_id, "12345#")
        assert catapult_simulator.wait_for(call_id, "gather")["digits"] == "12345"

Fixtures:

``catapult_simulator``
    A running simulator for one test (speed 20: a 5 s inter-digit timeout takes 0.25 s), stopped after it
    with everything it started. ``@pytest.mark.catapult(speed=50, callback_retries=1)`` changes its
    settings for one test (or a module, through ``pytestmark``).
``catapult_simulator_session``
    One simulator shared by every test of the run that asks for it (speed from the ``catapult_speed`` ini
    option, default 20): cheaper when many tests each place a few calls. Call ids never repeat, so tests
    sharing it do not see each other's events.

Both are :class:`CatapultSimulator` objects. Their ``.v2`` (a :class:`V2Simulator`) is the same simulator
seen by a v2 app, one that answers webhooks with BXML::

    def test_my_v2_ivr(catapult_simulator):
        v2 = catapult_simulator.v2          # .url (the SDK's host), .account_id, .username, .password
        app_url = v2.serve(create_app(...))
        call_id = v2.incoming("+15551230000", "+15557654321", app_url + "/initiate")
        v2.press(call_id, "12345")
        assert v2.wait_for(call_id, "gather")["digits"] == "12345"
        assert v2.wait_for(call_id, "disconnect")["cause"] == "hangup"

At the end of each test that used one, the test fails if your app answered a callback with a 5xx or the
simulator refused one of its API requests with a 4xx: a bug your assertions may not have looked for. A test
that provokes such failures on purpose says so with ``catapult_simulator.expect_errors()`` (or
``@pytest.mark.catapult(expect_errors=True)``); :meth:`CatapultSimulator.problems` lists them.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import pytest

from catapult_nb.errors import Error
from catapult_nb.pytest_v2 import V2Simulator

if TYPE_CHECKING:
    from catapult_nb.background import WSGIServer
    from catapult_nb.simulator import Simulator
    from catapult_nb.simulator.phone import VirtualPhone
    from catapult_nb.store.records import RecordFrame

__all__ = ["DEFAULT_SPEED", "EVENT_TYPES", "CatapultSimulator", "CatapultWaitError", "V2Simulator"]

#: The simulator's speed unless a test asks for another: API seconds per wall second.
DEFAULT_SPEED = 20.0
_MARKER_OPTIONS = {"speed", "callback_retries", "expect_errors"}
#: The event types the simulator delivers to a v1 app (a transfer's new leg is a call of its own); a v2 app
#: gets the v2 webhooks (``catapult_nb.simulator.v2_webhooks.WEBHOOK_FIELDS``).
EVENT_TYPES = ("incomingcall", "answer", "speak", "playback", "gather", "dtmf", "timeout", "hangup")


class CatapultWaitError(Error, AssertionError, TimeoutError):
    """A callback the test waited for was not delivered in time; the message shows what was.

    A ``TimeoutError``, as every wait of the package raises, and an ``AssertionError``, so pytest
    reports it as a failed check."""


@dataclass(eq=False)
class _Delivered:
    """One event the simulator sent, and every attempt to deliver it (retries, fallbackUrl)."""

    event: dict[str, Any]
    attempts: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    done: bool = False  # delivered, or every retry and the fallback failed
    returned: bool = False  # given to the test already (next_event skips it)


class CatapultSimulator:
    """A simulator on a free 127.0.0.1 port, seen from the test of an application that it calls.

    :param speed: API seconds per wall second (20: a 5 s inter-digit timeout fires after 0.25 s).
    :param callback_retries: extra tries of a failed callback before ``fallbackUrl`` (as on the simulator).
    """

    def __init__(self, speed: float = DEFAULT_SPEED, callback_retries: int = 0) -> None:
        from catapult_nb.prompts import engine_available
        from catapult_nb.simulator import Simulator

        # Sentences are timed by their spoken audio where espeak-ng is installed (catapult_nb[tts]); the
        # lean install times them at 150 words per minute, as the simulator's "estimate" timing does.
        timing = "audio" if engine_available() else "estimate"
        self._simulator: Simulator = Simulator(speed=speed, callback_retries=callback_retries,
                                               prompt_timing=timing)
        self._phone: VirtualPhone | None = None
        self._cond = threading.Condition()
        self._delivered: list[_Delivered] = []
        # the simulator's own event dict (kept, so that its id is not reused) → what was delivered of it
        self._by_event: dict[int, tuple[dict[str, Any], _Delivered]] = {}
        self._servers: list[WSGIServer] = []  # the apps serve() started
        self._api_requests: list[tuple[str, str, int, bytes]] = []  # your app's requests, as answered
        self._errors_expected = False
        self._window = (0, 0)  # where the current test's deliveries and requests begin (problems())

    # -- life ----------------------------------------------------------------------------------------

    def start(self) -> CatapultSimulator:
        """Start serving; returns self once connections are accepted."""
        from catapult_nb.simulator.phone import VirtualPhone

        self._simulator.start()
        self._simulator.add_delivery_listener(self._on_delivery)
        self._simulator.add_request_listener(self._on_api_request)
        self._phone = VirtualPhone(self._simulator.base_url)
        return self

    def close(self) -> None:
        """Stop the apps :meth:`serve` started, then the simulator; nothing stays behind. Idempotent."""
        for server in self._servers:
            server.stop()
        self._servers.clear()
        if self._phone is not None:
            self._phone.close()
            self._phone = None
        self._simulator.stop()

    def __enter__(self) -> CatapultSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- where it is ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; the v1 API is at ``url + "/v1"``."""
        return self._simulator.base_url

    @property
    def api_url(self) -> str:
        """``url + "/v1"``, the base your application's API client needs."""
        return self._simulator.api_url

    @property
    def user_id(self) -> str:
        return self._simulator.user_id

    @property
    def api_token(self) -> str:
        return self._simulator.api_token

    @property
    def api_secret(self) -> str:
        return self._simulator.api_secret

    @property
    def speed(self) -> float:
        return self._simulator.speed

    @property
    def simulator(self) -> Simulator:
        """The :class:`~catapult_nb.simulator.Simulator` underneath."""
        return self._simulator

    @property
    def v2(self) -> V2Simulator:
        """The same simulator for a Bandwidth Voice API v2 app (BXML): :class:`V2Simulator`."""
        return V2Simulator(self)

    # -- the caller ----------------------------------------------------------------------------------

    @property
    def phone(self) -> VirtualPhone:
        if self._phone is None:
            raise RuntimeError("the simulator is not running")
        return self._phone

    def incoming(
        self,
        from_: str,
        to: str,
        callback_url: str,
        *,
        fallback_url: str | None = None,
        callback_timeout: int | None = None,
        callback_http_method: str | None = None,
    ) -> str:
        """Ring your application: an ``incomingcall`` event goes to ``callback_url``; returns the call id.

        :param fallback_url: where an event goes when ``callback_url`` fails (error, timeout, non-2xx).
        :param callback_timeout: milliseconds the simulator waits for your app to answer each event.
        :param callback_http_method: ``"GET"`` sends events as query parameters instead of JSON.
        :raises PhoneError: the simulator refused the call (a bad number or URL); the message says why.
        """
        __tracebackhide__ = True
        options = {
            "fallbackUrl": fallback_url,
            "callbackTimeout": callback_timeout,
            "callbackHttpMethod": callback_http_method,
        }
        return self.phone.incoming(from_, to, callback_url, **{k: v for k, v in options.items() if v})

    def press(self, call_id: str, digits: str, gap: float = 0.25) -> None:
        """The caller presses ``digits``, the first at once and the rest ``gap`` API seconds apart.

        :raises PhoneError: bad digits, an unknown call, or a call that is not answered or has ended.
        """
        __tracebackhide__ = True
        self.phone.press(call_id, digits, gap=gap)

    def hang_up(self, call_id: str) -> None:
        """The caller hangs up (cause ``NORMAL_CLEARING``). :raises PhoneError: the call has ended."""
        __tracebackhide__ = True
        self.phone.hang_up(call_id)

    def serve(self, wsgi_app: Any) -> str:
        """Serve a WSGI application (Flask, Django, …) on a free 127.0.0.1 port until the fixture ends.

        :returns: its base URL, ``http://127.0.0.1:PORT``.
        """
        from catapult_nb.background import WSGIServer

        server = WSGIServer(wsgi_app)
        url = server.start()
        self._servers.append(server)
        return url

    # -- what reached the app ------------------------------------------------------------------------

    def wait_for(self, call_id: str, event_type: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The first ``event_type`` event the simulator delivered for ``call_id`` (the payload sent),
        waiting for it up to ``timeout`` wall seconds — as ``session.wait_for`` waits.

        It returns once the simulator is done with the event: your app has answered it (or every retry
        and the ``fallbackUrl`` have failed; see :meth:`deliveries`). ``fields`` narrow the match
        (``reason="hung-up"``). To take the events one by one, call :meth:`next_event`.

        Asked for an event a wait has already given, it still waits for the next one, as it used to, with
        a :class:`DeprecationWarning`; once that is removed it gives the same event again, as
        ``session.wait_for`` does.

        :param timeout: wall seconds.
        :raises CatapultWaitError: (a ``TimeoutError`` and an ``AssertionError``) nothing matched in time;
            the message lists what was delivered to the call and what your app answered.
        """
        __tracebackhide__ = True  # a failed wait shows the test's line and the message, not this method
        first = self._wait(call_id, event_type, timeout, fields, take=False)
        with self._cond:
            again, first.returned = first.returned, True
        if not again:
            return dict(first.event)
        warnings.warn(
            "wait_for() gives the first matching event, the same one each time; to wait for the next one, "
            "as wait_for() used to, call next_event()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.next_event(call_id, event_type, timeout, **fields)

    def next_event(
        self, call_id: str, event_type: str, timeout: float = 10.0, **fields: Any
    ) -> dict[str, Any]:
        """Take the next ``event_type`` event delivered for ``call_id`` that this method has not given yet:
        a second ``next_event(call_id, "gather")`` waits for the call's next gather event.

        :param timeout: wall seconds.
        :raises CatapultWaitError: nothing matched in time; the message says what was delivered.
        """
        __tracebackhide__ = True
        return dict(self._wait(call_id, event_type, timeout, fields, take=True).event)

    def _wait(
        self, call_id: str, event_type: str, timeout: float, fields: dict[str, Any], *, take: bool
    ) -> _Delivered:
        __tracebackhide__ = True
        def match() -> _Delivered | None:
            for item in self._delivered:
                event = item.event
                if (
                    item.done
                    and not (take and item.returned)
                    and event.get("callId") == call_id
                    and event.get("eventType") == event_type
                    and all(event.get(k) == v for k, v in fields.items())
                ):
                    return item
            return None

        with self._cond:
            found = self._cond.wait_for(match, timeout)
            if found is None:
                raise CatapultWaitError(self._explain(call_id, event_type, fields, timeout))
            if take:
                found.returned = True
            return found

    # -- the call as the simulator sees it, and your app's requests ---------------------------------

    def call_state(self, call_id: str) -> str:
        """The call's state on the simulator: ``started``, ``active``, ``transferring`` or ``completed``.

        :raises PhoneError: no such call.
        """
        __tracebackhide__ = True
        return str(self.phone.call_info(call_id)["state"])

    def transfer_leg(self, call_id: str) -> str | None:
        """The id of the call a transfer of ``call_id`` dialled (its other leg), or None if it has none.

        The new leg is a call of its own: its events (``answer``, ``hangup``) carry its id and go to the
        transfer request's ``callbackUrl``, else to the transferred call's.

        :raises PhoneError: no such call.
        """
        __tracebackhide__ = True
        return self.phone.call_info(call_id).get("transferLeg")

    def api_requests(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """Your app's requests to the API (oldest first), or only those on ``call_id``'s resources:
        ``{method, path, status, answer}`` with ``path`` after ``/v1/users/{userId}`` and ``answer`` the
        start of the simulator's answer body (the v1 error body for a refused request)."""
        with self._cond:
            asked = list(self._api_requests)
        return [
            {"method": method, "path": _API_PATH.sub("", path), "status": status,
             "answer": body.decode("utf-8", "replace")}
            for method, path, status, body in asked
            if call_id is None or _on_call(path, call_id)
        ]

    # -- what went wrong ------------------------------------------------------------------------------

    def expect_errors(self) -> None:
        """This test makes your app fail on purpose: 5xx answers and refused requests do not fail it."""
        self._errors_expected = True

    def problems(self) -> list[str]:
        """The current test's failures between your app and the simulator, one line each: callbacks your
        app answered with a 5xx, and API requests the simulator refused with a 4xx."""
        with self._cond:
            first_delivery, first_request = self._window
            delivered = self._delivered[first_delivery:]
            requests = self._api_requests[first_request:]
            found = []
            for item in delivered:
                for record, answer in item.attempts:
                    if (record.get("status") or 0) >= 500:
                        said = " ".join(answer.decode("utf-8", "replace").split())[:200]
                        found.append(
                            f"your app answered the {_describe_event(item.event)} callback of call "
                            f"{item.event.get('callId')} with HTTP {record['status']} "
                            f"({record.get('method')} {record.get('url')})" + (f": {said}" if said else "")
                        )
            for method, path, status, body in requests:
                if 400 <= status < 500:
                    found.append(f"the API refused {method} {_API_PATH.sub('', path)} → {status} "
                                 f"{_error_text(body)}")
        return found

    def _begin_test(self) -> None:
        """A test starts: count problems from here, and expect none until it says otherwise."""
        with self._cond:
            self._window = (len(self._delivered), len(self._api_requests))
            self._errors_expected = False

    def _end_test(self) -> str | None:
        """The end-of-test check: a message listing the problems, or None."""
        if self._errors_expected:
            return None
        found = self.problems()
        if not found:
            return None
        lines = "\n".join(f"  - {line}" for line in found)
        return (f"your app failed during this test, though the test's own assertions passed:\n{lines}\n"
                "If the test means it, call catapult_simulator.expect_errors() (or mark it "
                "@pytest.mark.catapult(expect_errors=True)).")

    def deliveries(self, call_id: str | None = None) -> RecordFrame:
        """Every callback attempt, oldest first, one row each: ``time``, ``url``, ``method``,
        ``eventType``, ``callId``, ``attempt``, ``status``, ``error``, ``elapsedMs`` — the simulator's own
        traffic inspector (a DataFrame, as ``session.deliveries()``)."""
        return self.phone.deliveries(call_id)

    @property
    def events(self) -> RecordFrame:
        """The payloads the simulator sent (each once, however many attempts it took), in order, one row
        each (a DataFrame, as ``session.events``); ``.query("callId == @call_id")`` for one call."""
        from catapult_nb.store.records import record_frame

        with self._cond:
            sent = [dict(d.event) for d in self._delivered]
        return record_frame(sent, ["eventType", "callId", "time"], records_of="catapult_simulator.events")

    def event_list(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """The payloads the simulator sent (of ``call_id``, or every call), in order, as dicts."""
        with self._cond:
            return [
                dict(d.event) for d in self._delivered if call_id is None or d.event.get("callId") == call_id
            ]

    def _on_delivery(self, record: dict[str, Any], event: dict[str, Any], answer: bytes, done: bool) -> None:
        with self._cond:
            known = self._by_event.get(id(event))
            if known is not None:
                item = known[1]
            else:  # the delivered copy has plain values; the original is held so its id stays its own
                item = _Delivered(_plain(event))
                self._by_event[id(event)] = (event, item)
                self._delivered.append(item)
            item.attempts.append((record, answer))
            item.done = done
            self._cond.notify_all()

    def _on_api_request(self, method: str, path: str, status: int, body: bytes) -> None:
        with self._cond:
            self._api_requests.append((method, path, status, body[:ANSWER_PEEK]))

    def _explain(self, call_id: str, event_type: str, fields: dict[str, Any], timeout: float) -> str:
        wanted = f"{event_type!r} event" + "".join(f" with {k}={v!r}" for k, v in fields.items())
        lines = [
            f"no {wanted} for call {call_id} within {timeout:g} s "
            f"(the simulator runs at speed {self.speed:g}: {timeout * self.speed:g} API seconds)."
        ]
        mine = [d for d in self._delivered if d.event.get("callId") == call_id]
        if not mine:
            lines.append(
                "Nothing was delivered to this call: is the call id right, and did incoming() name your "
                "app's callback URL?"
            )
            return "\n".join(lines)
        lines.append("What the simulator delivered to this call, and what your app answered:")
        for number, item in enumerate(mine, 1):
            lines.append(f"  {number}. {_describe_event(item.event)}{'  (already returned)' * item.returned}")
            for record, answer in item.attempts:
                lines.append("       " + _describe_attempt(record, answer))
        lines.extend(self._explain_requests(call_id))
        last = mine[-1].event
        if event_type not in _event_types(last):
            lines.append(_unknown_event(event_type, last))
        elif last.get("eventType") in ("hangup", "disconnect"):
            lines.append("The call has ended: nothing more will be delivered.")
        elif self._requests_on(call_id) and all(r[2] < 400 for r in self._requests_on(call_id)):
            lines.append(
                f"Nothing more came after {last.get('eventType')!r}, and the API accepted every request of "
                f"your app on this call: is {event_type!r} what those requests lead to on this call?"
            )
        else:
            lines.append(
                f"Nothing more came after {last.get('eventType')!r}: did your app make the request that "
                f"leads to {event_type!r}, and did the API accept it? (see your app's log)"
            )
        return "\n".join(lines)

    def _requests_on(self, call_id: str) -> list[tuple[str, str, int, bytes]]:
        return [r for r in self._api_requests if _on_call(r[1], call_id)]

    def _explain_requests(self, call_id: str) -> list[str]:
        asked = self._requests_on(call_id)
        if not asked:
            return ["Your app made no API request on this call."]
        lines = ["Your app's API requests on this call, and the simulator's answers:"]
        for method, path, status, body in asked[-15:]:
            line = f"  {method} {_API_PATH.sub('', path)} → {status}"
            if status >= 400:
                line += " " + _error_text(body)
            lines.append(line)
        return lines

    # -- display -------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        where = self.url if self._simulator.running else "not running"
        return f"CatapultSimulator({where}, speed={self.speed:g}, events={len(self._delivered)})"

    def _repr_html_(self) -> str:
        return f"<div><b>Catapult simulator for tests</b> {html.escape(repr(self))}</div>"


_DETAIL_FIELDS = ("reason", "digits", "terminatingDigit", "state", "status", "cause", "errorMessage", "tag")
_API_PATH = re.compile(r"^/v1/users/[^/]+|^/api/v2/accounts/[^/]+")
#: How much of an answer's body a failed wait shows.
ANSWER_PEEK = 600


def _on_call(path: str, call_id: str) -> bool:
    """Whether an API path is about the call ``call_id`` (the call itself or its gathers, audio …)."""
    return re.search(rf"/calls/{re.escape(call_id)}(/|$)", path) is not None


def _plain(event: dict[str, Any]) -> dict[str, Any]:
    """The event with enum members as their values (``'max-digits'``, not ``<Reason.MAX_DIGITS: …>``)."""
    return {key: value.value if isinstance(value, Enum) else value for key, value in event.items()}


def _is_v2(event: dict[str, Any]) -> bool:
    return "accountId" in event  # every v2 webhook carries it, no v1 event does


def _event_types(event: dict[str, Any]) -> tuple[str, ...]:
    """The event types a call of ``event``'s dialect can be sent."""
    if _is_v2(event):
        from catapult_nb.simulator.v2_webhooks import WEBHOOK_FIELDS

        return tuple(WEBHOOK_FIELDS)
    return EVENT_TYPES


def _unknown_event(event_type: str, event: dict[str, Any]) -> str:
    if _is_v2(event):
        return (f"The simulator never sends a v2 app a {event_type!r} webhook; it sends "
                f"{', '.join(_event_types(event))}.")
    if event_type == "transferComplete":
        return ("The simulator sends no 'transferComplete' event (v1 has none): a transfer dials a new call, "
                "whose id catapult_simulator.transfer_leg(call_id) gives; wait for that leg's 'answer', or "
                "check catapult_simulator.call_state(call_id) == 'transferring'.")
    return f"The simulator never sends a {event_type!r} event; it sends {', '.join(EVENT_TYPES)}."


def _error_text(body: bytes) -> str:
    """``validation-error: The 'gather' resource property 'maxDigits' is invalid: …`` from a v1 error body
    (``validation: Invalid callTimeout: …`` from a v2 one)."""
    try:
        error = json.loads(body)
        if "description" in error:
            return f"{error['type']}: {error['description']}"
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")[:300]


def _describe_event(event: dict[str, Any]) -> str:
    details = ", ".join(f"{k}={event[k]!r}" for k in _DETAIL_FIELDS if event.get(k) is not None)
    return f"{event.get('eventType')}" + (f" ({details})" if details else "")


def _describe_attempt(record: dict[str, Any], answer: bytes) -> str:
    status = f"HTTP {record['status']}" if record.get("status") is not None else "no answer"
    head = (
        f"attempt {record.get('attempt')} → {record.get('method')} {record.get('url')}: {status} "
        f"in {record.get('elapsedMs', 0):g} ms"
    )
    if record.get("error"):
        head += f" — {record['error']}"
        text = answer.decode("utf-8", "replace").strip()
        if text:
            head += f"\n         your app answered: {' '.join(text.split())[:300]}"
    return head


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "catapult_speed",
        "speed of the catapult_simulator fixtures (API seconds per wall second)",
        default=str(DEFAULT_SPEED),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "catapult(speed=20, callback_retries=0): settings of the catapult_simulator fixture for this test",
    )


_FIXTURES = ("catapult_simulator", "catapult_simulator_session")
_SHARED: list[CatapultSimulator] = []  # the session-scoped simulator, while it runs


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # A shared simulator counts each test's problems from the start of its setup (fixtures included).
    for simulator in _SHARED:
        simulator._begin_test()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a passing test whose app answered a callback with a 5xx or had an API request refused."""
    result = yield  # raises when the test failed: its own failure is the one to show
    funcargs = getattr(item, "funcargs", {})
    for name in _FIXTURES:
        simulator = funcargs.get(name)
        if isinstance(simulator, CatapultSimulator):
            message = simulator._end_test()
            if message is not None:
                pytest.fail(message, pytrace=False)
    return result


def _ini_speed(config: pytest.Config) -> float:
    text = config.getini("catapult_speed")
    try:
        return float(text)
    except ValueError:
        raise pytest.UsageError(f"catapult_speed must be a number, got {text!r}") from None


@contextlib.contextmanager
def _running(speed: float, callback_retries: int = 0) -> Iterator[CatapultSimulator]:
    try:
        simulator = CatapultSimulator(speed=speed, callback_retries=callback_retries)
    except ValueError as exc:
        raise pytest.UsageError(f"catapult_simulator: {exc}") from None
    with simulator:
        yield simulator


@pytest.fixture
def catapult_simulator(request: pytest.FixtureRequest) -> Iterator[CatapultSimulator]:
    """A running Catapult simulator for this test (see :mod:`catapult_nb.pytest_plugin`)."""
    options: dict[str, Any] = {"speed": _ini_speed(request.config)}
    marker = request.node.get_closest_marker("catapult")
    if marker is not None:
        unknown = sorted(set(marker.kwargs) - _MARKER_OPTIONS)
        if marker.args or unknown:
            raise pytest.UsageError(
                f"@pytest.mark.catapult takes keyword options {sorted(_MARKER_OPTIONS)}; got "
                f"{list(marker.args) + unknown}"
            )
        options.update(marker.kwargs)
    expect_errors = options.pop("expect_errors", False)
    with _running(**options) as simulator:
        if expect_errors:
            simulator.expect_errors()
        yield simulator


@pytest.fixture(scope="session")
def catapult_simulator_session(request: pytest.FixtureRequest) -> Iterator[CatapultSimulator]:
    """One Catapult simulator shared by the whole test run (speed: the ``catapult_speed`` ini option)."""
    with _running(_ini_speed(request.config)) as simulator:
        _SHARED.append(simulator)
        try:
            yield simulator
        finally:
            _SHARED.remove(simulator)
