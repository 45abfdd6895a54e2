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


@pytest.fixture(scope="module")
def target():
    """One simulator with one answered call and one gather, shared by every example."""
    with Simulator(speed=50) as sim, requests.Session() as http:
        http.auth = (sim.api_token, sim.api_secret)
        root = f"{sim.api_url}/users/{sim.user_id}"
        # An incoming call answered by the test is active at once (an outbound one after 1 API s).
        incoming = http.post(
            f"{sim.base_url}/_sim/incoming",
            json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": "http://127.0.0.1:9/cb"},
            timeout=10,
        )
        call_id = incoming.json()["callId"]
        assert http.post(f"{root}/calls/{call_id}", json={"state": "active"}, timeout=10).status_code == 200
        gather = http.post(f"{root}/calls/{call_id}/gather", json={"interDigitTimeout": 30}, timeout=10)
        gather_id = gather.headers["Location"].rsplit("/", 1)[1]
        yield sim, http, call_id, gather_id


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    body=bodies,
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", None]
    ),
)
def test_no_body_gives_a_5xx(target, route, body, content_type):
    sim, http, call_id, gather_id = target
    method, template = route
    url = sim.base_url + template.format(u=sim.user_id, c=call_id, g=gather_id)
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.request(method, url, data=body, headers=headers, timeout=10)
    assert response.status_code < 500, (method, template, body, response.text)
    if response.status_code >= 400:
        error = response.json()
        assert set(error) == {"category", "code", "message", "details"}, error
        assert error["message"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    segment=st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s and "?" not in s and "#" not in s)
)
def test_odd_ids_in_paths_are_404_not_5xx(target, segment):
    sim, http, _, _ = target
    response = http.get(
        f"{sim.api_url}/users/{sim.user_id}/calls/{requests.utils.quote(segment)}", timeout=10
    )
    assert response.status_code in (404, 400), response.text
    assert response.json()["category"] in ("not-found", "bad-request")
