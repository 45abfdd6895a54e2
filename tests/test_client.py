"""CatapultClient over real sockets: a pytest-httpserver on 127.0.0.1 plays the v1 API."""

from __future__ import annotations

import base64
import json
import logging
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from catapult_nb.client import CatapultClient, CatapultError, retry_delay
from catapult_nb.credentials import CredentialsError, load_credentials
from catapult_nb.options import GatherOptions, OptionError, Prompt
from catapult_nb.redact import MASK

USER = "u-xa2n3oxk6it4efbglisna6a"
TOKEN = "t-token-4f9a0c"
SECRET = "S3cret-Value-7Qz"  # must never show up anywhere but the Authorization header
BASIC = "Basic " + base64.b64encode(f"{TOKEN}:{SECRET}".encode()).decode()
CALL = "c-isw3qup6gvr3ywcsentygnq"
GATHER = "gtr-kj4xloaq5vbpfxyeypndgxa"
CALL_PATH = f"/v1/users/{USER}/calls/{CALL}"

SEED_BODY = {
    "maxDigits": "5",
    "terminatingDigits": "*",
    "interDigitTimeout": "7",
    "prompt": {"sentence": "Please enter your 5 digit code"},
}


def assert_secret_free(text: str) -> None:
    assert SECRET not in text
    assert TOKEN not in text
    assert BASIC.split()[1] not in text


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    # Our own server bound to 127.0.0.1 (the plugin's default host is "localhost").
    httpserver = HTTPServer(host="127.0.0.1", port=0)
    httpserver.start()
    yield httpserver
    httpserver.clear()
    httpserver.stop()


@pytest.fixture
def api(server: HTTPServer) -> Iterator[HTTPServer]:
    yield server
    server.check_assertions()
    server.clear()


@pytest.fixture
def client(api: HTTPServer) -> Iterator[CatapultClient]:
    with CatapultClient(
        USER, TOKEN, SECRET, base_url=api.url_for("/"), timeout=2.0, max_retry_wait=0.2, backoff=0.01
    ) as c:
        yield c


def only_request(server: HTTPServer) -> Request:
    assert len(server.log) == 1, [r.path for r, _ in server.log]
    return server.log[0][0]


# -- gather --------------------------------------------------------------------------------------------


def test_create_gather_sends_the_seed_request_and_reads_an_absolute_location(api, client):
    # given: the API answers as in the how-to (201, empty body, Location)
    location = f"https://api.catapult.inetwork.com{CALL_PATH}/gather/{GATHER}"
    api.expect_request(f"{CALL_PATH}/gather", method="POST").respond_with_data(
        "", status=201, headers={"Location": location}
    )
    # when
    gather_id = client.create_gather(CALL, SEED_BODY)
    # then
    assert gather_id == GATHER
    request = only_request(api)
    assert request.path == f"/v1/users/{USER}/calls/{CALL}/gather"
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(request.get_data()) == SEED_BODY


@pytest.mark.parametrize(
    "how",
    [
        lambda c: c.create_gather(CALL, GatherOptions.from_wire(SEED_BODY)),
        lambda c: c.create_gather(
            CALL, max_digits=5, terminating_digits="*", inter_digit_timeout=7,
            prompt=Prompt(sentence="Please enter your 5 digit code"),
        ),
        lambda c: c.create_gather(
            CALL, GatherOptions(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
                                sentence="Please enter your 5 digit code")
        ),
    ],
    ids=["GatherOptions", "keywords", "sentence-shortcut"],
)
def test_create_gather_accepts_options_in_every_form_and_a_path_only_location(api, client, how):
    api.expect_request(f"{CALL_PATH}/gather", method="POST").respond_with_data(
        "", status=201, headers={"Location": f"{CALL_PATH}/gather/{GATHER}"}
    )
    assert how(client) == GATHER
    assert json.loads(only_request(api).get_data()) == SEED_BODY


def test_create_gather_with_no_options_sends_an_empty_object(api, client):
    api.expect_request(f"{CALL_PATH}/gather", method="POST").respond_with_data(
        "", status=201, headers={"Location": f"{CALL_PATH}/gather/{GATHER}/"}
    )
    assert client.create_gather(CALL) == GATHER  # a trailing slash does not hide the id
    assert json.loads(only_request(api).get_data()) == {}


def test_invalid_gather_options_are_refused_before_anything_is_sent(api, client):
    with pytest.raises(OptionError, match=r"maxDigits must be between 1 and 30, got 31"):
        client.create_gather(CALL, max_digits=31)
    with pytest.raises(OptionError, match="unknown gather property 'max_digits'"):
        client.create_gather(CALL, {"max_digits": 5})
    with pytest.raises(TypeError, match="either as one object/dict or as keyword arguments"):
        client.create_gather(CALL, {"maxDigits": 5}, tag="x")
    assert api.log == []


def test_a_create_without_location_header_is_an_error(api, client):
    api.expect_request(f"{CALL_PATH}/gather", method="POST").respond_with_data("", status=201)
    with pytest.raises(CatapultError, match="without a Location header") as caught:
        client.create_gather(CALL, max_digits=1)
    assert caught.value.status == 201


def test_get_and_stop_gather(api, client):
    representation = {
        "id": GATHER, "state": "completed", "reason": "max-digits", "digits": "123",
        "createdTime": "2014-02-12T19:33:56Z", "completedTime": "2014-02-12T19:33:59Z",
        "call": f"https://api.catapult.inetwork.com{CALL_PATH}",
    }
    api.expect_request(f"{CALL_PATH}/gather/{GATHER}", method="GET").respond_with_json(representation)
    api.expect_request(f"{CALL_PATH}/gather/{GATHER}", method="POST").respond_with_data("", status=200)

    assert client.get_gather(CALL, GATHER) == representation
    assert client.stop_gather(CALL, GATHER) is None

    (get, _), (stop, _) = api.log
    assert get.method == "GET" and get.headers["Authorization"] == BASIC
    assert stop.method == "POST" and json.loads(stop.get_data()) == {"state": "completed"}


def test_a_success_that_is_not_json_is_an_error(api, client):
    api.expect_request(f"{CALL_PATH}/gather/{GATHER}").respond_with_data("<html>hi</html>", status=200)
    with pytest.raises(CatapultError, match=r"expected a JSON body, got <html>hi</html>"):
        client.get_gather(CALL, GATHER)


def test_json_of_the_wrong_shape_is_an_error_that_names_its_type(api, client):
    api.expect_request(f"{CALL_PATH}/gather/{GATHER}").respond_with_json(["secret-ish"])
    with pytest.raises(CatapultError, match=r"expected a JSON object, got a JSON array") as info:
        client.get_gather(CALL, GATHER)
    assert "secret-ish" not in str(info.value)
    api.expect_request(f"{CALL_PATH}/events").respond_with_json([{"id": "e-1"}, "x"])
    with pytest.raises(CatapultError, match=r"expected a JSON array of objects, got an array holding a "
                                            r"JSON string"):
        client.get_call_events(CALL)
    api.expect_request(f"/v1/users/{USER}/calls").respond_with_json({"calls": []})
    with pytest.raises(CatapultError, match=r"expected a JSON array of objects, got a JSON object"):
        client.list_calls()


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_ids_must_be_non_empty_strings(client, bad):
    with pytest.raises(ValueError, match="call_id must be a non-empty id such as 'c-…'"):
        client.get_call(bad)
    with pytest.raises(ValueError, match="gather_id must be a non-empty id such as 'gtr-…'"):
        client.stop_gather(CALL, bad)


def test_ids_are_sent_as_one_path_segment(api, client):
    api.expect_request(f"/v1/users/{USER}/calls/c-a?b").respond_with_json({"id": "c-a?b"})
    assert client.get_call("c-a?b") == {"id": "c-a?b"}
    assert only_request(api).query_string == b""  # the "?" was quoted into the path, not a query


# -- calls ---------------------------------------------------------------------------------------------


def test_create_call_maps_python_names_to_wire_names(api, client):
    api.expect_request(f"/v1/users/{USER}/calls", method="POST").respond_with_data(
        "", status=201, headers={"Location": f"/v1/users/{USER}/calls/{CALL}"}
    )
    call_id = client.create_call(
        "+15753222083", "+13865245000", "http://127.0.0.1:9/callbacks/x",
        callback_timeout=3000, callback_http_method="GET", fallback_url="http://127.0.0.1:9/fb",
        call_timeout=30, tag="order-17", recording_enabled=None,
    )
    assert call_id == CALL
    assert json.loads(only_request(api).get_data()) == {
        "from": "+15753222083",
        "to": "+13865245000",
        "callbackUrl": "http://127.0.0.1:9/callbacks/x",
        "callbackTimeout": 3000,
        "callbackHttpMethod": "GET",
        "fallbackUrl": "http://127.0.0.1:9/fb",
        "callTimeout": 30,
        "tag": "order-17",
    }


def test_list_get_and_events(api, client):
    calls = [{"id": CALL, "state": "active"}]
    events = [{"id": "ce-1", "time": "2014-07-31T01:01:27Z", "name": "create"}]
    api.expect_request(
        f"/v1/users/{USER}/calls", method="GET",
        query_string={"from": "+15753222083", "sortOrder": "asc", "size": "5"},
    ).respond_with_json(calls)
    api.expect_request(CALL_PATH, method="GET").respond_with_json(calls[0])
    api.expect_request(f"{CALL_PATH}/events", method="GET").respond_with_json(events)

    assert client.list_calls(from_="+15753222083", sort_order="asc", size=5) == calls
    assert client.get_call(CALL) == calls[0]
    assert client.get_call_events(CALL) == events


@pytest.mark.parametrize(
    ("verb", "state"),
    [("answer_call", "active"), ("reject_call", "rejected"), ("hang_up", "completed")],
)
def test_call_state_updates(api, client, verb, state):
    api.expect_request(CALL_PATH, method="POST").respond_with_data("", status=200)
    assert getattr(client, verb)(CALL) is None
    assert json.loads(only_request(api).get_data()) == {"state": state}


def test_hangup_call_is_hang_up_under_its_old_name(api, client):
    api.expect_request(CALL_PATH, method="POST").respond_with_data("", status=200)
    with pytest.warns(DeprecationWarning, match=r"hangup_call\(\) is now hang_up\(\)"):
        client.hangup_call(CALL)
    assert json.loads(only_request(api).get_data()) == {"state": "completed"}


def test_audio_and_dtmf_bodies(api, client):
    api.expect_request(f"{CALL_PATH}/audio", method="POST").respond_with_data("", status=200)
    api.expect_request(f"{CALL_PATH}/dtmf", method="POST").respond_with_data("", status=200)

    client.speak_sentence(CALL, "Hello", voice="kate", loop_enabled=True, tag=None)
    client.play_audio(CALL, "http://127.0.0.1:9/a.wav", volume=2)
    client.send_dtmf(CALL, "1W2w,#")

    bodies = [json.loads(request.get_data()) for request, _ in api.log]
    assert bodies == [
        {"sentence": "Hello", "voice": "kate", "loopEnabled": True},
        {"fileUrl": "http://127.0.0.1:9/a.wav", "volume": 2},
        {"dtmfOut": "1W2w,#"},
    ]


@pytest.mark.parametrize("bad", ["", "12x", "1" * 93, "a", None])
def test_send_dtmf_checks_the_digits_first(api, client, bad):
    with pytest.raises(ValueError, match=r"dtmf_out must be 1 to 92 of 0-9 \* # A-D"):
        client.send_dtmf(CALL, bad)
    assert api.log == []


# -- errors --------------------------------------------------------------------------------------------

NOT_FOUND = {
    "category": "not-found",
    "code": "call-not-found",
    "message": f"The call {CALL} could not be found",
    "details": [
        {"name": "callId", "value": CALL},
        {"name": "requestMethod", "value": "GET"},
        {"name": "remoteAddress", "value": "193.239.74.1"},
        {"name": "requestPath", "value": f"users/{USER}/calls/{CALL}"},
    ],
}
DUPLICATE = {
    "category": "conflict",
    "code": "call-duplicate-gather-error",
    "message": f"DTMF digits are already being gathered for call {CALL}",
    "details": [],
}
VALIDATION = {
    "category": "bad-request",
    "code": "validation-error",
    "message": "The 'gather' resource property 'maxDigits' exceeds the limit of 30",
    "details": [{"name": "maxDigits", "value": "31"}],
}
INVALID_STATE = {
    "category": "authorization",
    "code": "call-invalid-state",
    "message": f"Unable to update call {CALL}. Invalid call state completed",
}
RATE = {
    "category": "too-many-requests",
    "code": "rate-limit-reached",
    "details": [{"name": "limit", "value": "10"}],
}
UNAVAILABLE = {"category": "unavailable", "code": "call-unavailable", "message": "Call is initializing"}


def _reply(status: int, body: object) -> Response:
    if body is None:
        return Response(b"", status=status)
    if isinstance(body, bytes):
        return Response(body, status=status, content_type="text/html")
    return Response(json.dumps(body), status=status, content_type="application/json")


ERROR_CASES = [
    # (id, status, body, expected attributes, words the message must contain)
    ("404-full-body", 404, NOT_FOUND,
     dict(category="not-found", code="call-not-found", message=NOT_FOUND["message"],
          details=NOT_FOUND["details"]),
     ["call may have ended", "list_calls"]),
    ("401-message-only", 401, {"message": "Invalid credentials"},
     dict(category=None, code=None, message="Invalid credentials", details=[]),
     ["CATAPULT_API_TOKEN", "CATAPULT_API_SECRET"]),
    ("404-no-body", 404, None,
     dict(category=None, code=None, message="HTTP 404 NOT FOUND (the body was empty)", details=[]),
     ["Check the id"]),
    ("502-not-json", 502, b"<html>\n<h1>502   Bad Gateway</h1></html>",
     dict(category=None, code=None, message="<html> <h1>502 Bad Gateway</h1></html>"),
     ["try again in a moment", "check (get_call / list_calls)"]),
    ("500-json-array", 500, ["boom"], dict(category=None, code=None, message='["boom"]'), ["try again"]),
    ("409-duplicate-gather", 409, DUPLICATE,
     dict(category="conflict", code="call-duplicate-gather-error", message=DUPLICATE["message"]),
     ["stop the running gather first", "stop_gather"]),
    ("400-validation", 400, VALIDATION,
     dict(category="bad-request", code="validation-error", property="maxDigits",
          details=VALIDATION["details"]),
     ["fix maxDigits"]),
    ("403-invalid-state", 403, INVALID_STATE,
     dict(category="authorization", code="call-invalid-state"), ["active call", "get_call"]),
    ("403-user-access-denied", 403,
     {"category": "authorization", "code": "user-access-denied", "message": "User t-x may not access u-y"},
     dict(code="user-access-denied"), ["CATAPULT_USER_ID"]),
    ("429-details-no-message", 429, RATE,
     dict(category="too-many-requests", code="rate-limit-reached",
          message="HTTP 429 TOO MANY REQUESTS (rate limit reached)", details=RATE["details"]),
     ["Rate limited", "not retried automatically"]),
    ("503-unavailable", 503, UNAVAILABLE,
     dict(category="unavailable", code="call-unavailable", message="Call is initializing"),
     ["try again in a moment", "did not happen before repeating it"]),
]


@pytest.mark.parametrize(
    ("status", "body", "expected", "words"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_every_error_shape_becomes_a_catapult_error(api, client, status, body, expected, words):
    # given: the create answers with an error (a create is never retried, so one request is made)
    api.expect_request(f"{CALL_PATH}/gather", method="POST").respond_with_response(_reply(status, body))
    # when
    with pytest.raises(CatapultError) as caught:
        client.create_gather(CALL, SEED_BODY)
    # then
    error = caught.value
    assert len(api.log) == 1
    assert (error.status, error.method, error.path) == (status, "POST", f"{CALL_PATH}/gather")
    for name, value in expected.items():
        assert getattr(error, name) == value, name
    text = str(error)
    assert text.startswith(f"POST {CALL_PATH}/gather → {status}")
    assert error.message in text
    for word in words:
        assert word in text
    assert_secret_free(text)
    assert_secret_free(repr(error))


def test_an_error_message_that_echoes_the_secret_is_scrubbed(api, client):
    echo = {"category": "authentication", "code": "unauthorized",
            "message": f"bad credentials {TOKEN}:{SECRET} / {BASIC}"}
    api.expect_request(CALL_PATH).respond_with_json(echo, status=401)
    with pytest.raises(CatapultError) as caught:
        client.get_call(CALL)
    assert caught.value.category == "authentication"
    assert_secret_free(str(caught.value))
    assert_secret_free(repr(caught.value))


def test_an_error_that_echoes_the_callback_url_hides_its_password_and_secret_path(api, client):
    # given an API that repeats the callbackUrl it refused, credentials and secret path included
    path_token = "Zq8sV3cretPathToken0123456789"
    url = f"https://catapult:basic-Pa55word@abc.ngrok.app/callbacks/{path_token}"
    echo = {"category": "bad-request", "code": "callback-invalid-url",
            "message": f"The 'call' resource property 'callbackUrl' is not reachable: {url}",
            "details": [{"name": "callbackUrl", "value": url}]}
    api.expect_request(f"/v1/users/{USER}/calls", method="POST").respond_with_json(echo, status=400)
    # when a call is placed with it
    with pytest.raises(CatapultError) as caught:
        client.create_call("+19195550100", "+15551234567", callback_url=url)
    # then what the error shows keeps the host (to act on) but not the password or the token
    error = caught.value
    shown = [str(error), repr(error), error.message, json.dumps(error.details)]
    for text in shown:
        assert "basic-Pa55word" not in text and path_token not in text
    assert "abc.ngrok.app/callbacks/***" in str(error) and error.property == "callbackUrl"


def test_catapult_error_survives_pickling(api, client):
    api.expect_request(f"{CALL_PATH}/gather", method="POST").respond_with_json(DUPLICATE, status=409)
    with pytest.raises(CatapultError) as caught:
        client.create_gather(CALL, max_digits=3)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.status, copy.code, copy.path, str(copy)) == (409, DUPLICATE["code"], caught.value.path,
                                                             str(caught.value))


# -- retries -------------------------------------------------------------------------------------------


def _retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [r.args[3] for r in caplog.records if r.name == "catapult_nb.client" and "retrying" in r.msg]


def test_a_429_on_a_read_is_retried_when_the_rate_limit_resets(api, client, caplog):
    # given: 429 whose reset is 150 ms away (epoch ms), then 200
    reset_ms = int((time.time() + 0.15) * 1000)
    api.expect_ordered_request(CALL_PATH, method="GET").respond_with_json(
        RATE, status=429, headers={"X-RateLimit-Reset": str(reset_ms)}
    )
    api.expect_ordered_request(CALL_PATH, method="GET").respond_with_json({"id": CALL})
    caplog.set_level(logging.INFO, logger="catapult_nb.client")
    # when
    started = time.monotonic()
    assert client.get_call(CALL) == {"id": CALL}
    elapsed = time.monotonic() - started
    # then: two requests, and the pause followed the header (not the 10 ms backoff)
    assert len(api.log) == 2
    [delay] = _retry_delays(caplog)
    assert 0.05 < delay <= 0.15
    assert elapsed >= delay * 0.9


def test_the_pause_before_a_retry_is_capped(api, client, caplog):
    an_hour_away = int((time.time() + 3600) * 1000)
    api.expect_ordered_request(CALL_PATH).respond_with_json(
        RATE, status=429, headers={"X-RateLimit-Reset": str(an_hour_away)}
    )
    api.expect_ordered_request(CALL_PATH).respond_with_json({"id": CALL})
    caplog.set_level(logging.INFO, logger="catapult_nb.client")
    assert client.get_call(CALL) == {"id": CALL}
    assert _retry_delays(caplog) == [pytest.approx(0.2)]  # client.max_retry_wait


def test_a_429_on_a_create_is_not_retried(api, client):
    reset_ms = int((time.time() + 2) * 1000)
    api.expect_request(f"/v1/users/{USER}/calls", method="POST").respond_with_json(
        RATE, status=429, headers={"X-RateLimit-Reset": str(reset_ms)}
    )
    with pytest.raises(CatapultError) as caught:
        client.create_call("+15753222083", "+13865245000")
    assert len(api.log) == 1
    assert caught.value.status == 429
    assert 1.0 < caught.value.retry_after <= 2.0
    assert "not retried automatically" in str(caught.value)


def test_a_503_on_an_idempotent_update_is_retried_with_backoff(api, client, caplog):
    api.expect_ordered_request(f"{CALL_PATH}/gather/{GATHER}", method="POST").respond_with_json(
        UNAVAILABLE, status=503
    )
    api.expect_ordered_request(f"{CALL_PATH}/gather/{GATHER}", method="POST").respond_with_data("")
    caplog.set_level(logging.INFO, logger="catapult_nb.client")
    client.stop_gather(CALL, GATHER)
    assert [json.loads(r.get_data()) for r, _ in api.log] == [{"state": "completed"}] * 2
    assert _retry_delays(caplog) == [pytest.approx(0.01)]  # client.backoff, no header


def test_retries_are_bounded(api, client):
    api.expect_request(CALL_PATH).respond_with_json(UNAVAILABLE, status=503, headers={"Retry-After": "0"})
    with pytest.raises(CatapultError) as caught:
        client.get_call(CALL)
    assert len(api.log) == 1 + client.max_retries
    assert caught.value.status == 503
    assert f"gave up after {1 + client.max_retries} tries" in str(caught.value)


def test_a_503_on_speech_is_not_retried(api, client):
    api.expect_request(f"{CALL_PATH}/audio", method="POST").respond_with_json(UNAVAILABLE, status=503)
    with pytest.raises(CatapultError, match="call-unavailable"):
        client.speak_sentence(CALL, "Hello")
    assert len(api.log) == 1


def test_closing_the_client_ends_a_retry_pause(api):
    client = CatapultClient(USER, TOKEN, SECRET, base_url=api.url_for("/"), max_retry_wait=30.0)
    an_hour_away = int((time.time() + 3600) * 1000)
    answered = threading.Event()

    def rate_limited(request: Request) -> Response:
        answered.set()
        return Response(json.dumps(RATE), status=429, headers={"X-RateLimit-Reset": str(an_hour_away)})

    api.expect_request(CALL_PATH).respond_with_handler(rate_limited)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            client.get_call(CALL)
        except CatapultError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=read)
    worker.start()
    assert answered.wait(5)
    client.close()  # during (or just before) the 30 s pause: either way the pause ends at once
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert "closed while waiting to retry" in str(outcome[0])
    with pytest.raises(CatapultError, match="this client is closed"):
        client.get_call(CALL)


@pytest.mark.parametrize(
    ("headers", "attempt", "expected"),
    [
        ({"X-RateLimit-Reset": "1000000002500"}, 1, 2.5),  # epoch ms, as the v1 API sends it
        ({"X-RateLimit-Reset": "1000000003"}, 1, 3.0),  # epoch seconds
        ({"X-RateLimit-Reset": "999999000000"}, 1, 0.0),  # already passed: go at once
        ({"X-RateLimit-Reset": "4"}, 1, 4.0),  # seconds from now
        ({"X-RateLimit-Reset": "soon"}, 2, 1.0),  # unreadable: backoff 0.5 * 2
        ({"Retry-After": "3"}, 1, 3.0),
        ({"Retry-After": format_datetime(datetime.fromtimestamp(1000000006, timezone.utc), usegmt=True)},
         1, 6.0),
        ({"Retry-After": "Someday"}, 3, 2.0),
        ({}, 1, 0.5),
        ({}, 10, 8.0),  # capped
        ({"X-RateLimit-Reset": "9999999999999"}, 1, 8.0),  # capped
    ],
)
def test_retry_delay(headers, attempt, expected):
    now = 1000000000.0
    assert retry_delay(headers, attempt, backoff=0.5, cap=8.0, now=now) == pytest.approx(expected)


# -- transport failures ----------------------------------------------------------------------------------


def test_a_timeout_is_a_clear_secret_free_error(api):
    release = threading.Event()
    arrived: list[str] = []

    def slow(request: Request) -> Response:
        arrived.append(request.path)
        release.wait(5)  # held until the client has given up
        return Response("{}", content_type="application/json")

    api.expect_request(CALL_PATH).respond_with_handler(slow)
    client = CatapultClient(USER, TOKEN, SECRET, base_url=api.url_for("/"), timeout=0.2)
    try:
        with pytest.raises(CatapultError) as caught:
            client.get_call(CALL)
    finally:
        release.set()
    error = caught.value
    assert error.status is None
    assert "no answer from" in str(error) and "within 0.2 s" in str(error)
    assert "larger timeout=" in str(error)
    assert error.__cause__ is None and error.__context__ is None  # the request (with its auth) stays behind
    assert_secret_free(str(error))
    assert arrived == [CALL_PATH]  # a timeout is not retried


def test_a_refused_connection_is_a_clear_secret_free_error(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.DEBUG)
    client = CatapultClient(USER, TOKEN, SECRET, base_url=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(CatapultError) as caught:
        client.get_call(CALL)
    error = caught.value
    assert error.status is None
    assert f"could not connect to http://127.0.0.1:{port}" in str(error)
    assert "is it running?" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    assert_secret_free(str(error))
    assert_secret_free(caplog.text)


def test_log_lines_name_the_request_but_never_the_credentials(api, client, caplog):
    api.expect_request(CALL_PATH).respond_with_json({"id": CALL})
    caplog.set_level(logging.DEBUG)
    client.get_call(CALL)
    assert f"GET {CALL_PATH} → 200" in caplog.text
    assert_secret_free(caplog.text)


# -- construction, display, credentials ----------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8900", "http://127.0.0.1:8900/", "http://127.0.0.1:8900/v1", " http://127.0.0.1:8900/v1/"],
)
def test_base_url_with_or_without_v1(base_url):
    client = CatapultClient(USER, TOKEN, SECRET, base_url=base_url)
    assert client.base_url == "http://127.0.0.1:8900"
    assert client.api_url == "http://127.0.0.1:8900/v1"


def test_timeout_as_a_pair():
    assert CatapultClient(USER, TOKEN, SECRET, timeout=(1, 5)).timeout == (1.0, 5.0)


def test_default_base_url_is_the_live_api():
    assert CatapultClient(USER, TOKEN, SECRET).api_url == "https://api.catapult.inetwork.com/v1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(base_url=f"http://{TOKEN}:{SECRET}@127.0.0.1:8900"), "must not contain credentials"),
        (dict(base_url="ftp://127.0.0.1"), "base_url must look like"),
        (dict(base_url="127.0.0.1:8900"), "base_url must look like"),
        (dict(api_secret=f"{SECRET} with space"), "api_secret contains spaces"),
        (dict(api_secret=f"{SECRET}€"), "not printable ASCII"),
        (dict(api_secret=""), "api_secret is empty"),
        (dict(api_token="   "), "api_token is empty"),
        (dict(user_id=""), "user_id must be your Catapult user id"),
        (dict(timeout=0), "timeout must be a positive number of seconds"),
        (dict(timeout=None), "None is not allowed"),
        (dict(timeout="5"), "timeout must be a positive number"),
        (dict(timeout=(1, -1)), "timeout must be a positive number"),
    ],
)
def test_bad_constructor_arguments_say_what_to_do_without_echoing_secrets(kwargs, message):
    args = dict(user_id=USER, api_token=TOKEN, api_secret=SECRET) | kwargs
    with pytest.raises(ValueError, match=message) as caught:
        CatapultClient(**args)
    assert SECRET not in str(caught.value)


def test_secret_surrounded_by_whitespace_is_trimmed(api):
    api.expect_request(CALL_PATH).respond_with_json({"id": CALL})
    CatapultClient(USER, f" {TOKEN}\n", f"{SECRET}\n", base_url=api.url_for("/")).get_call(CALL)
    assert only_request(api).headers["Authorization"] == BASIC
    api.clear()


def test_repr_and_html_mask_the_credentials(client):
    for text in (repr(client), client._repr_html_(), str(client)):
        assert USER in text
        assert MASK in text
        assert_secret_free(text)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:
    for name in ("CATAPULT_USER_ID", "CATAPULT_API_TOKEN", "CATAPULT_API_SECRET", "CATAPULT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # so no real .env nearby is read
    return monkeypatch


def test_from_env_reads_the_environment(api, clean_env):
    clean_env.setenv("CATAPULT_USER_ID", USER)
    clean_env.setenv("CATAPULT_API_TOKEN", TOKEN)
    clean_env.setenv("CATAPULT_API_SECRET", SECRET)
    clean_env.setenv("CATAPULT_BASE_URL", api.url_for("/v1"))
    api.expect_request(CALL_PATH).respond_with_json({"id": CALL})

    client = CatapultClient.from_env()

    assert client.get_call(CALL) == {"id": CALL}
    assert only_request(api).headers["Authorization"] == BASIC
    assert_secret_free(repr(client))


def test_from_env_reads_a_dotenv_file_without_touching_os_environ(api, clean_env, tmp_path):
    import os

    env_file = tmp_path / "creds.env"
    env_file.write_text(
        f"CATAPULT_USER_ID={USER}\nCATAPULT_API_TOKEN={TOKEN}\n"
        f"CATAPULT_API_SECRET='{SECRET}'\n# a comment\nCATAPULT_BASE_URL={api.url_for('/')}\n"
    )
    api.expect_request(CALL_PATH).respond_with_json({"id": CALL})

    client = CatapultClient.from_env(env_file, timeout=1.0)

    assert client.get_call(CALL) == {"id": CALL}
    assert only_request(api).headers["Authorization"] == BASIC
    assert client.timeout == 1.0
    assert "CATAPULT_API_SECRET" not in os.environ


def test_the_environment_wins_over_the_dotenv_file(clean_env, tmp_path):
    (tmp_path / ".env").write_text(
        "CATAPULT_USER_ID=u-from-file\nCATAPULT_API_TOKEN=t-file\nCATAPULT_API_SECRET=s-file\n"
    )
    clean_env.setenv("CATAPULT_USER_ID", USER)
    creds = load_credentials()  # ".env" in the working directory
    assert (creds.user_id, creds.api_token, creds.api_secret) == (USER, "t-file", "s-file")
    assert creds.source == ".env + environment"
    assert "s-file" not in repr(creds) and "s-file" not in creds._repr_html_()


def test_a_missing_variable_is_named_with_how_to_set_it(clean_env, tmp_path):
    clean_env.setenv("CATAPULT_USER_ID", USER)
    clean_env.setenv("CATAPULT_API_TOKEN", TOKEN)
    with pytest.raises(CredentialsError) as caught:
        CatapultClient.from_env()
    text = str(caught.value)
    assert text.startswith("CATAPULT_API_SECRET is not set in the environment")
    assert f"there is no {tmp_path / '.env'}" in text
    assert "CATAPULT_API_SECRET=..." in text and "export CATAPULT_API_SECRET" in text
    assert "CATAPULT_API_TOKEN is" not in text
    assert isinstance(caught.value, ValueError)


def test_every_missing_variable_is_named(clean_env, tmp_path):
    (tmp_path / ".env").write_text("CATAPULT_API_TOKEN=\n")  # empty counts as missing
    with pytest.raises(CredentialsError) as caught:
        load_credentials()
    assert str(caught.value).startswith(
        "CATAPULT_USER_ID, CATAPULT_API_TOKEN, CATAPULT_API_SECRET are not set in the environment or in "
    )


def test_the_credentials_hide_even_from_vars_and_pickle(client):
    assert_secret_free(repr(vars(client)))
    assert_secret_free(repr(vars(client._session)))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)


def test_a_loopback_api_is_never_reached_through_an_environment_proxy(api, monkeypatch):
    # given: a proxy variable pointing at a port where nothing listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{dead}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    api.expect_request(CALL_PATH).respond_with_json({"id": CALL})
    # when / then: the request still goes straight to the server
    client = CatapultClient(USER, TOKEN, SECRET, base_url=api.url_for("/"), timeout=2)
    assert client.get_call(CALL) == {"id": CALL}


# Which verbs repeat after a 503: only those that are safe to send twice.
RETRY_POLICY = [
    ("get_call", lambda c: c.get_call(CALL), "GET", CALL_PATH, True),
    ("list_calls", lambda c: c.list_calls(), "GET", f"/v1/users/{USER}/calls", True),
    ("get_call_events", lambda c: c.get_call_events(CALL), "GET", f"{CALL_PATH}/events", True),
    ("get_gather", lambda c: c.get_gather(CALL, GATHER), "GET", f"{CALL_PATH}/gather/{GATHER}", True),
    ("stop_gather", lambda c: c.stop_gather(CALL, GATHER), "POST", f"{CALL_PATH}/gather/{GATHER}", True),
    ("answer_call", lambda c: c.answer_call(CALL), "POST", CALL_PATH, True),
    ("reject_call", lambda c: c.reject_call(CALL), "POST", CALL_PATH, True),
    ("hang_up", lambda c: c.hang_up(CALL), "POST", CALL_PATH, True),
    ("create_call", lambda c: c.create_call("+1", "+2"), "POST", f"/v1/users/{USER}/calls", False),
    ("create_gather", lambda c: c.create_gather(CALL), "POST", f"{CALL_PATH}/gather", False),
    ("speak_sentence", lambda c: c.speak_sentence(CALL, "Hi"), "POST", f"{CALL_PATH}/audio", False),
    ("play_audio", lambda c: c.play_audio(CALL, "http://127.0.0.1:9/a.wav"), "POST", f"{CALL_PATH}/audio",
     False),
    ("send_dtmf", lambda c: c.send_dtmf(CALL, "1"), "POST", f"{CALL_PATH}/dtmf", False),
]


@pytest.mark.parametrize(
    ("call", "method", "path", "retried"), [p[1:] for p in RETRY_POLICY], ids=[p[0] for p in RETRY_POLICY]
)
def test_which_requests_are_retried_after_a_503(api, client, call, method, path, retried):
    api.expect_request(path, method=method).respond_with_json(UNAVAILABLE, status=503)
    with pytest.raises(CatapultError) as caught:
        call(client)
    assert caught.value.status == 503
    assert len(api.log) == (1 + client.max_retries if retried else 1)


# -- against the embedded simulator (conftest's ``simulator`` and ``collector``) ------------------------


def test_the_simulators_errors_arrive_as_catapult_errors(simulator, collector):
    with CatapultClient(
        simulator.user_id, simulator.api_token, simulator.api_secret, base_url=simulator.base_url
    ) as client:
        call_id = client.create_call("+15551230000", "+15551239999", collector.url())
        collector.wait_for_event("answer", call_id)
        gather_id = client.create_gather(call_id, inter_digit_timeout=30)

        with pytest.raises(CatapultError) as duplicate:
            client.create_gather(call_id, max_digits=2)
        with pytest.raises(CatapultError) as no_call:
            client.get_call("c-aaaaaaaaaaaaaaaaaaaaaaa")
        with pytest.raises(CatapultError) as no_gather:
            client.get_gather(call_id, "gtr-aaaaaaaaaaaaaaaaaaaaaaa")
        with pytest.raises(CatapultError) as bad_field:
            client.create_call("+15551230000", "+15551239999", collector.url(), callback_http_method="PUT")

        client.stop_gather(call_id, gather_id)
        assert client.get_gather(call_id, gather_id)["state"] == "completed"
        client.hang_up(call_id)
        collector.wait_for_event("hangup", call_id)
        with pytest.raises(CatapultError) as ended:
            client.create_gather(call_id)
        assert client.get_call(call_id)["state"] == "completed"

    with CatapultClient(
        simulator.user_id, simulator.api_token, "wrong-secret", base_url=simulator.base_url
    ) as intruder, pytest.raises(CatapultError) as unauthorized:
        intruder.get_call(call_id)

    assert (duplicate.value.status, duplicate.value.code) == (409, "call-duplicate-gather-error")
    assert "stop the running gather first" in str(duplicate.value)
    assert (no_call.value.status, no_call.value.category, no_call.value.code) == (
        404, "not-found", "call-not-found"
    )
    assert (no_gather.value.status, no_gather.value.code) == (404, "resource-not-found")
    assert (bad_field.value.status, bad_field.value.code) == (400, "validation-error")
    assert bad_field.value.property == "callbackHttpMethod"
    assert (ended.value.status, ended.value.code) == (403, "call-invalid-state")
    assert (unauthorized.value.status, unauthorized.value.category) == (401, "authentication")
    assert "CATAPULT_API_SECRET" in str(unauthorized.value)
    for caught in (duplicate, no_call, no_gather, bad_field, ended, unauthorized):
        assert simulator.api_secret not in str(caught.value)
        assert "wrong-secret" not in str(caught.value)


def test_get_call_masks_callback_credentials_in_its_views_and_keeps_them_on_request(api, client):
    # given a call whose callback URLs carry basic-auth credentials and the receiver's secret path
    secret_url = "https://catapult:s3cret-pass@example.ngrok.app/callbacks/tok3n-abcdefghijklmnop"
    body = {"id": CALL, "state": "active", "callbackUrl": secret_url, "fallbackUrl": secret_url + "/fb"}
    api.expect_request(CALL_PATH, method="GET").respond_with_json(body)
    # when the notebook looks at it
    call = client.get_call(CALL)
    # then no view shows the password or the token
    for shown in (repr(call), str(call), call._repr_html_(), _pretty(call)):
        assert "s3cret-pass" not in shown and "tok3n" not in shown, shown
        assert "example.ngrok.app" in shown and "active" in shown
    # and the raw values are there for whoever asks for them explicitly
    assert call["callbackUrl"] == secret_url
    assert call.unmasked() == body and call == body


def _pretty(value) -> str:
    from IPython.lib.pretty import pretty

    return pretty(value)
