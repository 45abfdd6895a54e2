"""Random JSON and non-JSON bodies on every route: never a 5xx, and every 4xx carries the error body."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catapult_nb.simulator import Simulator

FIELD_NAMES = [
    "maxDigits",
    "interDigitTimeout",
    "terminatingDigits",
    "tag",
    "suppressDtmf",
    "prompt",
    "sentence",
    "fileUrl",
    "voice",
    "locale",
    "gender",
    "loopEnabled",
    "bargeable",
    "state",
    "from",
    "to",
    "callbackUrl",
    "callbackTimeout",
    "callbackHttpMethod",
    "fallbackUrl",
    "callTimeout",
    "digits",
    "gap",
    "dtmfOut",
    "volume",
    "sipHeaders",
    "recordingEnabled",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        ["5", "7.5", "true", "*", "#", "completed", "active", "GET", "+15551234567", "http://x"]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=12,
)
objects = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6)


def _encode(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


bodies = (
    objects.map(_encode)
    | json_values.map(_encode)
    | st.binary(max_size=64)
    | st.text(max_size=64).map(str.encode)
)

ROUTES = [
    ("POST", "/v1/users/{u}/calls"),
    ("GET", "/v1/users/{u}/calls"),
    ("GET", "/v1/users/{u}/calls/{c}"),
    ("POST", "/v1/users/{u}/calls/{c}"),
    ("POST", "/v1/users/{u}/calls/{c}/audio"),
    ("POST", "/v1/users/{u}/calls/{c}/dtmf"),
    ("GET", "/v1/users/{u}/calls/{c}/events"),
    ("POST", "/v1/users/{u}/calls/{c}/gather"),
    ("GET", "/v1/users/{u}/calls/{c}/gather/{g}"),
    ("POST", "/v1/users/{u}/calls/{c}/gather/{g}"),
    ("POST", "/_sim/calls/{c}/press"),
    ("POST", "/_sim/calls/{c}/hangup"),
    ("POST", "/_sim/incoming"),
    ("GET", "/_sim/deliveries"),
    ("GET", "/_sim/health"),
]


#: Well-formed bodies, so the fuzz also reaches the handlers' state changes on a live call and gather.
VALID_BODIES = [
    {}, {"state": "completed"}, {"state": "active"}, {"digits": "12"}, {"maxDigits": "3"},
    {"sentence": "hello"}, {"tag": "t"}, {"interDigitTimeout": "5", "terminatingDigits": "#"},
]
#: What only a request that met an active call with a running gather can do, judged by its answer and by
#: the call and gather read before and after it: hang the call up, speak or play DTMF on it (2xx), stop
#: or feed the gather, or be refused because a gather is already running.
LIVE_OUTCOMES = {
    "active-call": lambda template, status, answer, before, after: (
        before[0]["state"] == "active" != after[0]["state"]
        or (template.endswith(("/audio", "/dtmf")) and status < 300)
    ),
    "running-gather": lambda template, status, answer, before, after: (
        before[1]["state"] == "started" != after[1]["state"]
        or before[1].get("digits") != after[1].get("digits")
        or answer.get("code") == "call-duplicate-gather-error"
    ),
}


class Target:
    """One simulator (speed 1, so no gather times out during an example); a fresh call per example."""

    def __init__(self, sim: Simulator, http: requests.Session) -> None:
        self.sim, self.http = sim, http
        self.root = f"{sim.api_url}/users/{sim.user_id}"

    def live_call(self) -> tuple[str, str]:
        """A new answered call with a gather running on it: (call id, gather id)."""
        # An incoming call answered by the test is active at once (an outbound one after 1 API s).
        incoming = self.http.post(
            f"{self.sim.base_url}/_sim/incoming",
            json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": "http://127.0.0.1:9/cb"},
            timeout=10,
        )
        call_id = incoming.json()["callId"]
        answer = self.http.post(f"{self.root}/calls/{call_id}", json={"state": "active"}, timeout=10)
        assert answer.status_code == 200, answer.text
        gather = self.http.post(f"{self.root}/calls/{call_id}/gather", json={"interDigitTimeout": 30},
                                timeout=10)
        assert gather.status_code == 201, gather.text
        return call_id, gather.headers["Location"].rsplit("/", 1)[1]

    def read(self, call_id: str, gather_id: str) -> tuple[dict, dict]:
        """The call and the gather as the API shows them now."""
        call = self.http.get(f"{self.root}/calls/{call_id}", timeout=10).json()
        gather = self.http.get(f"{self.root}/calls/{call_id}/gather/{gather_id}", timeout=10).json()
        return call, gather

    def end(self, call_id: str) -> None:
        self.http.post(f"{self.sim.base_url}/_sim/calls/{call_id}/hangup", timeout=10)


@pytest.fixture(scope="module")
def target():
    with Simulator(speed=1) as sim, requests.Session() as http:
        http.auth = (sim.api_token, sim.api_secret)
        yield Target(sim, http)


def test_no_body_gives_a_5xx(target):
    """Every example meets its own active call with a running gather (checked before each request), and
    the run reaches the handlers' live-call and running-gather branches (``LIVE_OUTCOMES``).

    Break this catches every time: one call shared by every example — a fuzzed hang-up or
    ``{"state": "completed"}`` ends it within a few examples and the rest would fuzz an ended call; the
    check before each request then fails (``test_fuzzing_an_ended_call_is_caught`` repeats it).
    """
    reached = fuzz_every_route(target, target.live_call)
    assert all(count >= 3 for count in reached.values()), reached


def test_fuzzing_an_ended_call_is_caught(target):
    call_id, gather_id = target.live_call()
    target.end(call_id)
    with pytest.raises(AssertionError, match="not live"):
        fuzz_every_route(target, lambda: (call_id, gather_id), max_examples=5)


def fuzz_every_route(target: Target, new_call, max_examples: int = 200) -> dict[str, int]:
    """Send random bodies on every route; each 4xx carries the error body, nothing is a 5xx.

    :returns: how often each of ``LIVE_OUTCOMES`` was seen.
    """
    reached = dict.fromkeys(LIVE_OUTCOMES, 0)
    valid_bodies = st.sampled_from(VALID_BODIES).map(_encode)

    @settings(max_examples=max_examples, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        route=st.sampled_from(ROUTES),
        body=st.booleans().flatmap(lambda valid: valid_bodies if valid else bodies),
        content_type=st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded", None]
        ),
    )
    def fuzz(route, body, content_type):
        sim, http = target.sim, target.http
        call_id, gather_id = new_call()
        before = target.read(call_id, gather_id)
        assert (before[0]["state"], before[1]["state"]) == ("active", "started"), "the call is not live"
        method, template = route
        url = sim.base_url + template.format(u=sim.user_id, c=call_id, g=gather_id)
        headers = {"Content-Type": content_type} if content_type else {}
        response = http.request(method, url, data=body, headers=headers, timeout=10)
        assert response.status_code < 500, (method, template, body, response.text)
        answer = {}
        if response.status_code >= 400:
            answer = response.json()
            assert set(answer) == {"category", "code", "message", "details"}, answer
            assert answer["message"]
        after = target.read(call_id, gather_id)
        for name, seen in LIVE_OUTCOMES.items():
            reached[name] += bool(seen(template, response.status_code, answer, before, after))
        target.end(call_id)

    fuzz()
    return reached


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    segment=st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s and "?" not in s and "#" not in s)
)
def test_odd_ids_in_paths_are_404_not_5xx(target, segment):
    sim, http = target.sim, target.http
    response = http.get(
        f"{sim.api_url}/users/{sim.user_id}/calls/{requests.utils.quote(segment)}", timeout=10
    )
    assert response.status_code in (404, 400), response.text
    assert response.json()["category"] in ("not-found", "bad-request")
