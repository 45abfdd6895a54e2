"""Every error DESIGN.md lists, with status, category and code, and the order in which they win."""

from __future__ import annotations

import pytest


@pytest.fixture
def call_id(api, collector):
    return api.answered_call(collector)


@pytest.fixture
def ringing_call(api, collector):
    """An outbound call that is never answered (``to`` ends in 0001), so it stays ``started``."""
    return api.create_call(collector.url(), to="+15551230001")


def test_bad_credentials_are_401(api, simulator, call_id):
    Api = type(api)
    for auth in [(simulator.api_token, "wrong"), ("t-other", simulator.api_secret)]:
        response = Api(simulator, auth=auth).gather(call_id, {})
        body = api.assert_error(response, 401, "authentication", "unauthorized")
        assert simulator.api_secret not in response.text
        assert "Basic auth" in body["message"]
    no_auth = Api(simulator)
    no_auth.http.auth = None
    api.assert_error(no_auth.get("/calls"), 401, "authentication", "unauthorized")
    garbled = Api(simulator)
    garbled.http.auth = None
    response = garbled.get("/calls", headers={"Authorization": "Basic %%%not-base64"})
    api.assert_error(response, 401, "authentication", "unauthorized")


def test_another_user_is_403(api, simulator, call_id):
    response = api.http.post(
        f"{simulator.api_url}/users/u-someone-else/calls/{call_id}/gather", json={}, timeout=10
    )
    body = api.assert_error(response, 403, "authorization", "user-access-denied")
    assert "u-someone-else" in body["message"]


def test_unknown_call_is_404(api):
    body = api.assert_error(api.gather("c-nosuchcall", {}), 404, "not-found", "call-not-found")
    assert "c-nosuchcall" in body["message"]
    api.assert_error(api.get("/calls/c-nosuchcall"), 404, "not-found", "call-not-found")
    api.assert_error(
        api.post("/calls/c-nosuchcall", {"state": "completed"}), 404, "not-found", "call-not-found"
    )


def test_unknown_gather_is_404(api, call_id):
    response = api.get(f"/calls/{call_id}/gather/gtr-nosuchgather")
    api.assert_error(response, 404, "not-found", "resource-not-found")
    response = api.post(f"/calls/{call_id}/gather/gtr-nosuchgather", {"state": "completed"})
    api.assert_error(response, 404, "not-found", "resource-not-found")


@pytest.mark.parametrize(
    ("body", "prop"),
    [
        ({"maxDigits": 31}, "maxDigits"),
        ({"maxDigits": "five"}, "maxDigits"),
        ({"interDigitTimeout": 45}, "interDigitTimeout"),
        ({"interDigitTimeout": "0.5"}, "interDigitTimeout"),
        ({"terminatingDigits": ""}, "terminatingDigits"),
        ({"terminatingDigits": "x"}, "terminatingDigits"),
        ({"suppressDtmf": "maybe"}, "suppressDtmf"),
        ({"prompt": {"fileUrl": {"a": 1}}}, "prompt.fileUrl"),
        ({"prompt": {"voice": "hal"}}, "prompt.voice"),
        ({"prompt": {"locale": "xx_XX"}}, "prompt.locale"),
        ({"prompt": {"gender": "robot"}}, "prompt.gender"),
        ({"prompt": {"sentence": "a" * 1001}}, "prompt.sentence"),
        ({"prompt": {"sentence": "press one \ud800"}}, "prompt.sentence"),
        ({"prompt": {"sentence": "press one\x00 or two"}}, "prompt.sentence"),
        ({"tag": 5}, "tag"),
        ({"tag": "\udfff"}, "tag"),
        ({"maxDigitz": 5}, "maxDigitz"),
    ],
)
def test_bad_gather_field_is_400_naming_the_property(api, call_id, body, prop):
    error = api.assert_error(api.gather(call_id, body), 400, "bad-request", "validation-error")
    assert f"'{prop}'" in error["message"]
    assert {"name": "property", "value": prop} in error["details"]


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000]
)
def test_body_that_is_not_a_json_object_is_400(api, call_id, raw):
    response = api.post(f"/calls/{call_id}/gather", data=raw, headers={"Content-Type": "application/json"})
    error = api.assert_error(response, 400, "bad-request", "validation-error")
    assert "JSON" in error["message"]


def test_gather_on_a_call_that_is_not_active_is_403(api, ringing_call, collector, simulator):
    api.assert_error(api.gather(ringing_call, {}), 403, "authorization", "call-invalid-state")
    # and on a call that has ended
    ended = api.answered_call(collector)
    simulator.phone.hang_up(ended)
    error = api.assert_error(api.gather(ended, {}), 403, "authorization", "call-invalid-state")
    assert "completed" in error["message"]


def test_second_gather_is_409(api, call_id):
    assert api.gather(call_id, {"interDigitTimeout": 30}).status_code == 201
    error = api.assert_error(api.gather(call_id, {}), 409, "conflict", "call-duplicate-gather-error")
    assert error["message"] == f"DTMF digits are already being gathered for call {call_id}"


def test_stop_gather_accepts_only_state_completed(api, call_id):
    location = api.gather(call_id, {"interDigitTimeout": 30}).headers["Location"]
    for body in [{}, {"state": "started"}, {"state": "completed", "maxDigits": 3}]:
        response = api.http.post(location, json=body, timeout=10)
        assert response.status_code == 400, body
        assert response.json()["code"] in ("validation-error", "missing-property")


# -- precedence: 401, 403 user, 404, 400, 403 state, 409 ------------------------------------------


def test_401_beats_403_user(api, simulator):
    Api = type(api)
    other = Api(simulator, auth=("t-simulator", "wrong"))
    response = other.http.get(f"{simulator.api_url}/users/u-else/calls/c-none", timeout=10)
    api.assert_error(response, 401, "authentication", "unauthorized")


def test_403_user_beats_404(api, simulator):
    response = api.http.get(f"{simulator.api_url}/users/u-else/calls/c-none", timeout=10)
    api.assert_error(response, 403, "authorization", "user-access-denied")


def test_404_beats_400(api, call_id):
    api.assert_error(api.gather("c-none", {"maxDigits": 99}), 404, "not-found", "call-not-found")
    response = api.post(f"/calls/{call_id}/gather/gtr-none", {"state": "bogus"})
    api.assert_error(response, 404, "not-found", "resource-not-found")


def test_400_beats_403_state(api, ringing_call):
    api.assert_error(api.gather(ringing_call, {"maxDigits": 99}), 400, "bad-request", "validation-error")


def test_400_beats_409(api, call_id):
    api.gather(call_id, {"interDigitTimeout": 30})
    api.assert_error(api.gather(call_id, {"maxDigits": 0}), 400, "bad-request", "validation-error")


def test_first_bad_field_is_named(api, call_id):
    error = api.assert_error(
        api.gather(call_id, {"terminatingDigits": "", "maxDigits": 99}),
        400,
        "bad-request",
        "validation-error",
    )
    assert "'maxDigits'" in error["message"]  # maxDigits is checked before terminatingDigits


def test_voice_locale_gender_are_not_checked_against_each_other(api, call_id):
    body = {"prompt": {"voice": "Simon", "locale": "en_UK", "gender": "male", "sentence": "x"}}
    assert api.gather(call_id, body).status_code == 201


# -- other routes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "prop"),
    [
        ({"to": "+15551239999"}, 400, "missing-property", "from"),
        ({"from": "+15551230000"}, 400, "missing-property", "to"),
        ({"from": "5551230000", "to": "+15551239999"}, 400, "validation-error", "from"),
        (
            {"from": "+15551230000", "to": "+15551239999", "callbackUrl": "ftp://x"},
            400,
            "callback-invalid-url",
            "callbackUrl",
        ),
        (
            {"from": "+15551230000", "to": "+15551239999", "callTimeout": 301},
            400,
            "validation-error",
            "callTimeout",
        ),
        (
            {"from": "+15551230000", "to": "+15551239999", "callbackTimeout": "0"},
            400,
            "validation-error",
            "callbackTimeout",
        ),
        (
            {"from": "+15551230000", "to": "+15551239999", "callbackHttpMethod": "PUT"},
            400,
            "validation-error",
            "callbackHttpMethod",
        ),
        (
            {"from": "+15551230000", "to": "+15551239999", "callbackURL": "http://x"},
            400,
            "validation-error",
            "callbackURL",
        ),
    ],
)
def test_bad_call_create_is_400(api, body, status, code, prop):
    error = api.assert_error(api.post("/calls", body), status, "bad-request", code)
    assert f"'{prop}'" in error["message"]


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://127.0.0.1:99999/cb", "http://127.0.0.1:port/cb", "http://127.0.0.1:0/cb"]
)
def test_unusable_callback_url_is_400_not_5xx(api, simulator, url):
    for response in (
        api.post("/calls", {"from": api.FROM, "to": api.TO, "callbackUrl": url}),
        api.post(
            "/calls",
            {"from": api.FROM, "to": api.TO, "callbackUrl": "http://127.0.0.1:9/", "fallbackUrl": url},
        ),
        api.http.post(
            f"{simulator.base_url}/_sim/incoming",
            json={"from": api.FROM, "to": api.TO, "callbackUrl": url},
            timeout=10,
        ),
    ):
        error = api.assert_error(response, 400, "bad-request", "callback-invalid-url")
        assert "Url'" in error["message"]


def test_call_update_errors(api, call_id, collector):
    api.assert_error(
        api.post(f"/calls/{call_id}", {"state": "ringing"}), 400, "bad-request", "validation-error"
    )
    # an outbound call cannot be answered or rejected by the application
    api.assert_error(
        api.post(f"/calls/{call_id}", {"state": "active"}), 403, "authorization", "call-invalid-state"
    )
    api.assert_error(
        api.post(f"/calls/{call_id}", {"state": "rejected"}), 403, "authorization", "call-invalid-state"
    )
    assert api.post(f"/calls/{call_id}", {"state": "completed"}).status_code == 200
    api.assert_error(
        api.post(f"/calls/{call_id}", {"state": "completed"}), 403, "authorization", "call-invalid-state"
    )


def test_a_ringing_outbound_call_cannot_be_answered_by_the_application(api, ringing_call):
    """Only the far end answers an outbound call; ``{"state":"active"}`` is for inbound calls."""
    body = api.assert_error(
        api.post(f"/calls/{ringing_call}", {"state": "active"}), 403, "authorization", "call-invalid-state"
    )
    assert ringing_call in body["message"]
    call = api.get(f"/calls/{ringing_call}").json()
    assert call["state"] == "started" and "activeTime" not in call


def test_audio_and_dtmf_errors(api, call_id, ringing_call):
    api.assert_error(
        api.post(f"/calls/{call_id}/audio", {"sentence": ""}),
        403,
        "authorization",
        "call-audio-invalid-state",
    )
    api.assert_error(
        api.post(f"/calls/{call_id}/audio", {"volume": 9, "sentence": "x"}),
        400,
        "bad-request",
        "validation-error",
    )
    api.assert_error(api.post(f"/calls/{call_id}/audio", {}), 400, "bad-request", "validation-error")
    api.assert_error(
        api.post(f"/calls/{ringing_call}/audio", {"sentence": "x"}),
        403,
        "authorization",
        "call-invalid-state",
    )
    api.assert_error(
        api.post(f"/calls/{call_id}/dtmf", {"dtmfOut": "12x"}), 400, "bad-request", "validation-error"
    )
    api.assert_error(api.post(f"/calls/{call_id}/dtmf", {}), 400, "bad-request", "missing-property")
    api.assert_error(
        api.post(f"/calls/{ringing_call}/dtmf", {"dtmfOut": "1"}), 403, "authorization", "call-invalid-state"
    )


@pytest.mark.parametrize(
    ("body", "prop"),
    [
        ({"sentence": "a" * 1001}, "sentence"),
        ({"sentence": "hi \ud800"}, "sentence"),
        ({"sentence": "hi\x00 there"}, "sentence"),
        ({"sentence": "hi", "voice": "hal"}, "voice"),
        ({"sentence": "hi", "locale": "xx_XX"}, "locale"),
        ({"sentence": "hi", "gender": "robot"}, "gender"),
    ],
)
def test_bad_audio_field_names_the_audio_property(api, call_id, body, prop):
    """/audio has no ``prompt`` object: the message names the property as the request spells it."""
    response = api.post(f"/calls/{call_id}/audio", body)
    error = api.assert_error(response, 400, "bad-request", "validation-error")
    assert f"'{prop}'" in error["message"] and "prompt." not in error["message"]
    assert {"name": "property", "value": prop} in error["details"]


def test_list_calls_query_errors(api):
    api.assert_error(api.get("/calls", params={"size": 0}), 400, "bad-request", "validation-error")
    api.assert_error(api.get("/calls", params={"sortOrder": "up"}), 400, "bad-request", "validation-error")


def test_unknown_route_and_wrong_method(api, simulator):
    api.assert_error(api.get("/nothing-here"), 404, "not-found", "resource-not-found")
    response = api.http.delete(f"{simulator.api_url}/users/{simulator.user_id}/calls", timeout=10)
    api.assert_error(response, 405, "bad-request", "method-not-allowed")
    response = api.http.get(f"{simulator.base_url}/_sim/nothing", timeout=10)
    api.assert_error(response, 404, "not-found", "resource-not-found")


def test_oversized_body_is_413(api, call_id):
    response = api.post(f"/calls/{call_id}/gather", data=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    api.assert_error(response, 413, "bad-request", "request-too-large")


def test_a_request_that_asks_to_close_is_answered_then_closed(simulator):
    # aiohttp reads only the first Connection header: "keep-alive" then "close" on HTTP/1.0 stayed open
    import socket
    from urllib.parse import urlsplit

    raw = (b"DELETE /v1/users/u-nobody/calls HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
           b"Connection: close\r\nContent-Length: 2\r\n\r\n{}")
    with socket.create_connection(("127.0.0.1", urlsplit(simulator.base_url).port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):  # ends when the simulator closes; a socket timeout fails the test
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 401 Unauthorized")
