"""CallbackReceiver over real sockets on 127.0.0.1: storage, bad input, auth, lifecycle, wait_for, secrets."""

from __future__ import annotations

import ast
import base64
import inspect
import json
import logging
import socket
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from catapult_nb.receiver import checks
from catapult_nb.receiver.checks import BODY_TIMEOUT
from catapult_nb.receiver.receiver import MAX_BODY, CallbackReceiver
from catapult_nb.store.store import EventStore

GATHER = {
    "eventType": "gather",
    "reason": "terminating-digit",
    "state": "completed",
    "digits": "007",
    "time": "2014-07-31T01:01:27Z",
    "callId": "c-aaaaaaaaaaaaaaaaaaaaaaa",
    "gatherId": "gtr-bbbbbbbbbbbbbbbbbbbbbbb",
    "tag": "t",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore(tmp_path / "events.sqlite3") as instance:
        yield instance


@pytest.fixture
def receiver(store: EventStore) -> Iterator[CallbackReceiver]:
    with CallbackReceiver(store, session="test") as instance:
        yield instance


# -- good deliveries ---------------------------------------------------------------------------------


def test_post_json_is_stored_before_the_answer(receiver: CallbackReceiver, http: requests.Session) -> None:
    response = http.post(receiver.url, json=GATHER, timeout=5)

    assert response.status_code == 200
    assert response.json() == {"stored": True, "duplicate": False}
    frame = receiver.to_dataframe()  # no waiting: 200 means committed
    assert frame["digits"].tolist() == ["007"]
    assert frame["session"].tolist() == ["test"] and frame["source"].tolist() == ["receiver"]
    assert frame["payload"].iloc[0] == GATHER


def test_get_with_query_parameters_is_stored(receiver: CallbackReceiver, http: requests.Session) -> None:
    params = {"eventType": "dtmf", "callId": "c-1", "dtmfDigit": "#", "time": "2012-11-14T15:56:09.276Z"}
    response = http.get(receiver.url, params=params, timeout=5)
    assert response.status_code == 200
    row = receiver.events.iloc[0]
    assert (row["eventType"], row["dtmfDigit"], row["callId"]) == ("dtmf", "#", "c-1")
    assert row["payload"] == params


def test_a_retried_delivery_is_stored_once(receiver: CallbackReceiver, http: requests.Session) -> None:
    answers = [http.post(receiver.url, json=GATHER, timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert len(receiver.store) == 1


def test_trailing_slash_is_the_same_path(receiver: CallbackReceiver, http: requests.Session) -> None:
    assert http.post(receiver.url + "/", json=GATHER, timeout=5).status_code == 200


def test_concurrent_senders_lose_nothing(receiver: CallbackReceiver) -> None:
    # given 16 threads, each with its own connection, sending 40 distinct events
    def send(worker: int) -> list[int]:
        with requests.Session() as session:
            session.trust_env = False
            return [
                session.post(
                    receiver.url, json={"eventType": "dtmf", "callId": f"c-{worker}", "n": n}, timeout=10
                ).status_code
                for n in range(40)
            ]

    with ThreadPoolExecutor(16) as pool:
        statuses = [status for result in pool.map(send, range(16)) for status in result]

    # then every one is answered 200 and stored exactly once
    assert statuses == [200] * 640
    frame = receiver.to_dataframe()
    assert len(frame) == 640
    assert {(p["callId"], p["n"]) for p in frame["payload"]} == {
        (f"c-{w}", n) for w in range(16) for n in range(40)
    }
    assert frame["callId"].value_counts().to_dict() == {f"c-{w}": 40 for w in range(16)}


OUT_OF_RANGE = ["0001-01-01T00:00:00Z", "1677-09-21T00:12:43.145Z", "2262-04-11T23:47:17Z",
                "9999-12-31T23:59:59.999Z"]


def test_times_outside_what_pandas_holds_are_kept_as_text_and_good_neighbours_are_stored(
    receiver: CallbackReceiver,
) -> None:
    # given senders mixing events with times pandas cannot hold among good ones, in the same write batches
    def send(worker: int) -> list[int]:
        with requests.Session() as session:
            session.trust_env = False
            return [
                session.post(receiver.url, timeout=10, json={
                    "eventType": "dtmf", "callId": f"c-{worker}", "n": n,
                    "time": OUT_OF_RANGE[n % 4] if n % 5 == 0 else "2026-01-01T00:00:00Z",
                }).status_code
                for n in range(40)
            ]

    with ThreadPoolExecutor(8) as pool:
        statuses = [status for result in pool.map(send, range(8)) for status in result]

    # then every one is answered 200 and stored, the odd times kept in the payload and shown as NaT
    assert statuses == [200] * 320
    frame = receiver.to_dataframe()
    assert len(frame) == 320 and len(receiver.rejected()) == 0
    odd = frame[[p["n"] % 5 == 0 for p in frame["payload"]]]
    assert len(odd) == 64 and odd["time"].isna().all()
    assert {p["time"] for p in odd["payload"]} == set(OUT_OF_RANGE)
    assert frame.drop(odd.index)["time"].notna().all()


def test_listeners_hear_events_from_the_receiver_thread(
    receiver: CallbackReceiver, http: requests.Session
) -> None:
    heard: list[tuple[str, str]] = []
    receiver.store.add_listener(lambda row: heard.append((row["digits"], threading.current_thread().name)))
    http.post(receiver.url, json=GATHER, timeout=5)
    assert heard == [("007", "catapult-receiver-writer")]


# -- bad input: a 4xx, a record in rejected(), never a 5xx ------------------------------------------------


@pytest.mark.parametrize(
    ("send", "status", "reason"),
    [
        (lambda s, url: s.post(url, data=b"this is not json", timeout=5), 400, "not-json"),
        (lambda s, url: s.post(url, data=b"\xff\xfe{", timeout=5), 400, "not-json"),
        (lambda s, url: s.post(url, data=b"", timeout=5), 400, "not-json"),
        (lambda s, url: s.post(url, data=b"[" * 100_000 + b"]" * 100_000, timeout=5), 413, "too-large"),
        (lambda s, url: s.post(url, data=b"[" * 30_000 + b"]" * 30_000, timeout=5), 400, "too-deep"),
        (lambda s, url: s.post(url, data=b'{"n": NaN}', timeout=5), 400, "not-json"),
        (lambda s, url: s.post(url, json=[GATHER], timeout=5), 400, "not-an-object"),
        (lambda s, url: s.post(url, json="gather", timeout=5), 400, "not-an-object"),
        (lambda s, url: s.post(url, data=b'{"a": "' + b"x" * MAX_BODY + b'"}', timeout=5), 413, "too-large"),
        (
            lambda s, url: s.post(url, data=iter([b'{"a": "', b"x" * MAX_BODY, b'"}']), timeout=5),
            413,
            "too-large",
        ),
        (lambda s, url: s.put(url, json=GATHER, timeout=5), 405, "wrong-method"),
        (lambda s, url: s.delete(url, timeout=5), 405, "wrong-method"),
        (lambda s, url: s.get(url, timeout=5), 400, "empty-query"),
        (
            lambda s, url: s.post(url.rsplit("/", 1)[0] + "/guessed-token-value", json=GATHER, timeout=5),
            404,
            "unknown-path",
        ),
        (
            lambda s, url: s.post(url.split("/callbacks")[0] + "/", json=GATHER, timeout=5),
            404,
            "unknown-path",
        ),
    ],
    ids=[
        "text",
        "bad-utf8",
        "empty",
        "huge",
        "deeply-nested",
        "nan",
        "array",
        "string",
        "over-64k",
        "over-64k-chunked",
        "put",
        "delete",
        "get-without-query",
        "wrong-token",
        "root",
    ],
)
def test_bad_input_is_refused_and_recorded(
    receiver: CallbackReceiver, http: requests.Session, send, status: int, reason: str
) -> None:
    response = send(http, receiver.url)

    assert response.status_code == status, response.text
    assert len(receiver.store) == 0
    # a request with the right token is recorded in the store; any other only in the in-memory ring
    rejected = receiver.unknown_requests() if status == 404 else receiver.rejected()
    assert len(rejected) == 1
    if status != 404:
        assert rejected["reason"].tolist() == [reason]
    assert "/callbacks/" not in rejected["path"].iloc[0] or rejected["path"].iloc[0].startswith(
        "/callbacks/***"
    )
    if status == 404:
        assert response.text == "Not Found"  # nothing about what the right path would be
        assert len(receiver.rejected()) == 0
    else:
        assert response.json()["error"] == reason and response.json()["message"]
    if status == 405:
        assert response.headers["Allow"] == "GET, POST"
    # and the receiver still works
    assert http.post(receiver.url, json=GATHER, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "reason", "says"),
    [
        (b'{"eventType": "gather", "digits": "\\ud800"}', {}, "not-json", "Unicode"),
        (b'{"\\udc00": "x"}', {}, "not-json", "Unicode"),
        (b"this is not gzip", {"Content-Encoding": "gzip"}, "unreadable-body", "gzip"),
    ],
    ids=["lone-surrogate-value", "lone-surrogate-key", "bad-gzip"],
)
def test_a_body_that_cannot_be_read_or_stored_is_a_4xx_not_a_5xx(
    receiver: CallbackReceiver, http: requests.Session, caplog, body: bytes, headers: dict, reason: str,
    says: str,
) -> None:
    # given a sender whose body is broken beyond what the receiver can store
    headers = {"Content-Type": "application/json", **headers}
    # when it posts it
    with caplog.at_level(logging.ERROR):
        response = http.post(receiver.url, data=body, headers=headers, timeout=5)
    # then it is told the mistake is its own (a 5xx would make it retry forever), and it is recorded
    assert response.status_code == 400, response.text
    assert response.json()["error"] == reason and says in response.json()["message"]
    assert receiver.rejected()["reason"].tolist() == [reason]
    assert len(receiver.store) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert http.post(receiver.url, json=GATHER, timeout=5).status_code == 200


def test_a_broken_store_answers_503_so_the_sender_retries(
    receiver: CallbackReceiver, http: requests.Session
) -> None:
    receiver.store.close()
    response = http.post(receiver.url, json=GATHER, timeout=5)
    assert response.status_code == 503
    assert "try again" in response.json()["error"]


# -- Basic auth and the secret path ---------------------------------------------------------------------


@pytest.fixture
def guarded(store: EventStore) -> Iterator[CallbackReceiver]:
    with CallbackReceiver(store, basic_auth=("catapult", "pa55-w0rd:with-colon")) as instance:
        yield instance


@pytest.mark.parametrize(
    ("auth", "headers", "reason"),
    [
        (None, {}, "no-credentials"),
        (("catapult", "wrong"), {}, "bad-credentials"),
        (("someone", "pa55-w0rd:with-colon"), {}, "bad-credentials"),
        (None, {"Authorization": "Basic !!!not-base64"}, "bad-credentials"),
        (None, {"Authorization": "Bearer abc"}, "no-credentials"),
        (("catapult", "pa55-w0rd"), {}, "bad-credentials"),
        (("catapult", "pa55-w0rd:with-colon!"), {}, "bad-credentials"),
        (("catapult", ""), {}, "bad-credentials"),
        (None, {"Authorization": "Basic " + base64.b64encode(b"catapult").decode()}, "bad-credentials"),
        (("catapul", "pa55-w0rd:with-colon"), {}, "bad-credentials"),
        (("catapults", "pa55-w0rd:with-colon"), {}, "bad-credentials"),
    ],
    ids=["none", "wrong-password", "wrong-user", "garbage", "other-scheme", "password-prefix",
         "password-extended", "empty-password", "no-colon", "user-prefix", "user-extended"],
)
def test_basic_auth_is_required(
    guarded: CallbackReceiver, http: requests.Session, auth, headers, reason: str
) -> None:
    response = http.post(guarded.url, json=GATHER, auth=auth, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert guarded.rejected()["reason"].tolist() == [reason]
    assert len(guarded.store) == 0


def test_both_credentials_are_compared_in_constant_time() -> None:
    # a check of the code: the user name and the password each go through hmac.compare_digest, and
    # neither is compared any other way (==, startswith…), which would leak how much of it matched
    tree = ast.parse(textwrap.dedent(inspect.getsource(checks.check_basic_auth)))
    digests = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
               and ast.unparse(node.func) in ("hmac.compare_digest", "compare_digest")]
    compared = {ast.unparse(node.args[0]) for node in digests}
    assert compared == {"user.encode()", "password.encode()"}, compared
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            assert not {"user", "password"} & {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}, (
                ast.unparse(node))
        if isinstance(node, ast.Call) and node not in digests:
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert not ({"user", "password"} & names and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("startswith", "endswith", "find", "index")), ast.unparse(node)


def test_basic_auth_with_the_right_credentials(guarded: CallbackReceiver, http: requests.Session) -> None:
    response = http.post(guarded.url, json=GATHER, auth=("catapult", "pa55-w0rd:with-colon"), timeout=5)
    assert response.status_code == 200 and len(guarded.store) == 1


def test_credentials_in_the_url_as_the_api_sends_them(
    guarded: CallbackReceiver, http: requests.Session
) -> None:
    url = guarded.url.replace("http://", "http://catapult:pa55-w0rd%3Awith-colon@")
    assert http.post(url, json=GATHER, timeout=5).status_code == 200


def test_wrong_path_is_404_even_with_good_credentials(
    guarded: CallbackReceiver, http: requests.Session
) -> None:
    url = guarded.url.rsplit("/", 1)[0] + "/not-the-token-at-all"
    response = http.post(url, json=GATHER, auth=("catapult", "pa55-w0rd:with-colon"), timeout=5)
    assert response.status_code == 404 and "WWW-Authenticate" not in response.headers


def test_secrets_never_show(guarded: CallbackReceiver, http: requests.Session, caplog) -> None:
    token = guarded.path.rsplit("/", 1)[1]
    assert len(token) >= 32
    with caplog.at_level(logging.DEBUG):
        http.post(guarded.url, data=b"nope", auth=("catapult", "pa55-w0rd:with-colon"), timeout=5)
        http.post(guarded.url, json=GATHER, timeout=5)
        with pytest.raises(TimeoutError) as timeout:
            guarded.wait_for(gather_id="gtr-never", timeout=0.05)
    # the receiver's and the server framework's logs (the test's own HTTP client logs its URLs)
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("urllib3"))
    shown = [
        repr(guarded),
        guarded._repr_html_(),
        str(timeout.value),
        logged,
        guarded.rejected().to_string(),
        guarded.masked_url,
    ]
    for text in shown:
        assert token not in text and token[:12] not in text
        assert "pa55-w0rd" not in text
    assert "***" in repr(guarded) and guarded.masked_url in repr(guarded)


def test_each_receiver_has_its_own_token(store: EventStore) -> None:
    first, second = CallbackReceiver(store), CallbackReceiver(store)
    assert first.path != second.path and first.path.startswith("/callbacks/")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token": "short"},
        {"token": "has/slash-and-more-chars"},
        {"basic_auth": ("user", "")},
        {"basic_auth": ("us:er", "pw")},
        {"basic_auth": "user:pw"},
        {"port": 70000},
        {"port": "80"},
    ],
)
def test_bad_settings_are_refused_with_what_to_do(store: EventStore, kwargs) -> None:
    with pytest.raises(ValueError, match="must be"):
        CallbackReceiver(store, **kwargs)


# -- life cycle ------------------------------------------------------------------------------------------


def test_start_and_stop_are_idempotent(store: EventStore, http: requests.Session) -> None:
    receiver = CallbackReceiver(store, token="a-fixed-token-for-this-test")
    assert not receiver.running
    assert receiver.start() is receiver and receiver.start() is receiver
    port = receiver.port
    assert receiver.running and port > 0
    assert receiver.url == f"http://127.0.0.1:{port}/callbacks/a-fixed-token-for-this-test"
    receiver.stop()
    receiver.stop()
    assert not receiver.running
    with pytest.raises(requests.ConnectionError):
        http.post(f"http://127.0.0.1:{port}/callbacks/a-fixed-token-for-this-test", json=GATHER, timeout=5)
    # and it can start again, as a fresh server
    receiver.start()
    assert http.post(receiver.url, json=GATHER, timeout=5).status_code == 200
    receiver.stop()


def test_rerunning_the_cell_on_a_fixed_port_takes_the_port_over(
    store: EventStore, http: requests.Session
) -> None:
    # given a receiver on a fixed port (as a notebook cell starts it)
    first = CallbackReceiver(store).start()
    port = first.port
    fixed = CallbackReceiver(store, port=port, token="token-of-the-first-run-0")
    first.stop()
    fixed.start()

    # when the cell runs again: a new receiver on the same port
    rerun = CallbackReceiver(store, port=port, token="token-of-the-second-run").start()
    try:
        # then the earlier one was stopped and the new one answers
        assert not fixed.running and rerun.running and rerun.port == port
        assert http.post(rerun.url, json=GATHER, timeout=5).status_code == 200
        assert http.post(fixed.url, json=GATHER, timeout=5).status_code == 404
    finally:
        rerun.stop()


def test_stop_under_load_never_loses_an_answered_event(store: EventStore) -> None:
    # given eight senders posting as fast as they can
    receiver = CallbackReceiver(store).start()
    results: list[tuple[int, int | None]] = []
    busy = threading.Event()

    def send(worker: int) -> None:
        with requests.Session() as session:
            session.trust_env = False
            for n in range(worker * 1000, worker * 1000 + 150):
                try:
                    status: int | None = session.post(
                        receiver.url, json={"eventType": "dtmf", "n": n}, timeout=5
                    ).status_code
                except requests.ConnectionError:
                    status = None
                results.append((n, status))
                if len(results) >= 80:
                    busy.set()

    senders = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for sender in senders:
        sender.start()

    # when the receiver stops in the middle of it
    assert busy.wait(10)
    receiver.stop()
    for sender in senders:
        sender.join()

    # then each delivery was either answered 200 and stored, or cut off (for the sender to retry)
    stored = {payload["n"] for payload in store.to_dataframe()["payload"]}
    answered = {n for n, status in results if status == 200}
    assert {status for _, status in results} <= {200, None}
    assert answered and answered <= stored
    assert any(status is None for _, status in results)


def test_a_port_held_by_another_program_is_a_clear_error(store: EventStore) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        receiver = CallbackReceiver(store, port=port)
        with pytest.raises(OSError, match=f"port {port} is already in use by another program"):
            receiver.start()
        assert not receiver.running


def test_stop_then_start_on_the_same_port_and_token(store: EventStore, http: requests.Session) -> None:
    first = CallbackReceiver(store).start()
    port, token = first.port, first.path.rsplit("/", 1)[1]
    first.stop()
    with CallbackReceiver(store, port=port, token=token) as again:
        assert again.port == port and again.path == first.path
        assert http.post(again.url, json=GATHER, timeout=5).status_code == 200


# -- wait_for ------------------------------------------------------------------------------------------


def test_wait_for_an_event_that_already_arrived(receiver: CallbackReceiver, http: requests.Session) -> None:
    http.post(receiver.url, json=GATHER, timeout=5)
    event = receiver.wait_for(gather_id=GATHER["gatherId"], event_type="gather", timeout=0.01)
    assert event["digits"] == "007" and event["reason"] == "terminating-digit"
    assert event["payload"] == GATHER


def test_wait_for_an_event_that_arrives_while_waiting(receiver: CallbackReceiver) -> None:
    started = threading.Event()

    def later() -> None:
        started.wait(5)
        with requests.Session() as session:
            session.trust_env = False
            session.post(receiver.url, json={**GATHER, "eventType": "speak", "status": "done"}, timeout=5)
            session.post(receiver.url, json=GATHER, timeout=5)

    sender = threading.Thread(target=later)
    sender.start()
    started.set()
    event = receiver.wait_for(gather_id=GATHER["gatherId"], event_type="gather", timeout=10)
    sender.join()
    assert event["eventType"] == "gather" and event["digits"] == "007"


def test_wait_for_since_ignores_older_events(receiver: CallbackReceiver, http: requests.Session) -> None:
    http.post(receiver.url, json=GATHER, timeout=5)
    mark = receiver.store.last_id
    with pytest.raises(TimeoutError):
        receiver.wait_for(gather_id=GATHER["gatherId"], since=mark, timeout=0.05)
    http.post(receiver.url, json={**GATHER, "digits": "1"}, timeout=5)
    assert receiver.wait_for(gather_id=GATHER["gatherId"], since=mark, timeout=1)["digits"] == "1"


def test_wait_for_with_a_predicate(receiver: CallbackReceiver, http: requests.Session) -> None:
    for digit in "123":
        http.post(receiver.url, json={"eventType": "dtmf", "callId": "c-1", "dtmfDigit": digit}, timeout=5)
    event = receiver.wait_for(call_id="c-1", predicate=lambda e: e["dtmfDigit"] == "2", timeout=1)
    assert event["dtmfDigit"] == "2"


def test_wait_for_timeout_says_what_to_check(receiver: CallbackReceiver) -> None:
    with pytest.raises(TimeoutError) as caught:
        receiver.wait_for(gather_id="gtr-xyz", event_type="gather", timeout=0.1)
    message = str(caught.value)
    assert message.startswith("no gather event for gtr-xyz arrived within 0.1 s")
    assert "is the tunnel open?" in message and receiver.masked_url in message
    assert "session.deliveries()" in message and "receiver.rejected()" in message


# -- display ---------------------------------------------------------------------------------------------


def test_repr_html(receiver: CallbackReceiver, http: requests.Session) -> None:
    http.post(receiver.url, json=GATHER, timeout=5)
    page = receiver._repr_html_()
    assert "running" in page and "events stored</td><td>1" in page and "token hidden" in page
    assert receiver.path.rsplit("/", 1)[1] not in page


def test_json_answer_is_json(receiver: CallbackReceiver, http: requests.Session) -> None:
    response = http.post(
        receiver.url, data=json.dumps(GATHER), headers={"Content-Type": "text/plain"}, timeout=5
    )
    assert response.headers["Content-Type"].startswith("application/json") and response.json()["stored"]


# -- hostile input and a public URL: a 4xx, never a 5xx; bounded time and storage --------------------------


@pytest.mark.parametrize(
    ("body", "reason", "says"),
    [
        (b'{"eventType":"x","tag":"\xed\xa0\x80"}', "not-json", "UTF-8"),
        (b'{"n":1e999}', "not-json", "finite"),
        (b'{"n":-1e999}', "not-json", "finite"),
        (b'{"x":' + b"[" * 981 + b'"\\u0041"' + b"]" * 981 + b"}", "too-deep", "64"),
        (b'{"x":' + b"[" * 64 + b"]" * 64 + b"}", "too-deep", "64"),
    ],
    ids=["raw-lone-surrogate", "overflow", "negative-overflow", "deep-with-escape", "65-levels"],
)
def test_a_payload_that_can_never_be_stored_is_a_recorded_400(
    receiver: CallbackReceiver, http: requests.Session, body: bytes, reason: str, says: str
) -> None:
    # when a sender posts a body that is JSON-ish but could never be stored or read back
    response = http.post(receiver.url, data=body, headers={"Content-Type": "application/json"}, timeout=5)
    # then it gets a 400 (a 5xx would make it retry for ever), recorded with the reason
    assert response.status_code == 400, response.text
    assert response.json()["error"] == reason and says in response.json()["message"]
    assert receiver.rejected()["reason"].tolist() == [reason]
    assert len(receiver.store) == 0


def test_sixty_four_levels_are_stored_and_read_back(
    receiver: CallbackReceiver, http: requests.Session
) -> None:
    body = b'{"x":' + b"[" * 63 + b"]" * 63 + b"}"  # the object is the first level
    assert http.post(receiver.url, data=body, timeout=5).status_code == 200
    assert receiver.events["payload"].iloc[0] == json.loads(body)


def test_a_non_ascii_authorization_header_is_a_401(guarded: CallbackReceiver) -> None:
    # requests would refuse to send it, so speak HTTP by hand
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as sock:
        sock.sendall(
            f"POST {guarded.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n".encode()
            + "Authorization: Basic éééé\r\n\r\n{}".encode()
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert guarded.rejected()["reason"].tolist() == ["bad-credentials"]


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /callbacks/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le", b"GET /\r\n"],
    ids=["idle", "half-sent-headers", "http-0.9-request-line"],
)
def test_connections_that_send_no_whole_request_are_closed(store: EventStore, sent: bytes) -> None:
    # given a receiver with a short idle timeout (the default is IDLE_TIMEOUT seconds)
    with CallbackReceiver(store, idle_timeout=0.5) as receiver, socket.create_connection(
        ("127.0.0.1", receiver.port), timeout=10
    ) as sock:
        # when a client connects and sends nothing, or never finishes its request's headers
        sock.sendall(sent)
        # then the receiver closes the connection (recv returns b"" long before the 10 s socket timeout)
        assert _read_all(sock) == b""


def test_a_body_that_stalls_is_a_recorded_408(store: EventStore) -> None:
    with CallbackReceiver(store, body_timeout=0.5) as receiver:
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as sock:
            head = f"POST {receiver.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
            sock.sendall(head.encode() + b"{")
            answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert receiver.rejected()["reason"].tolist() == ["body-timeout"]


def test_a_declared_body_over_the_limit_is_a_413_at_once(receiver: CallbackReceiver) -> None:
    # the Content-Length alone decides: none of the 100 MB is sent, and the answer comes well before the
    # body timeout (a receiver that waited for the body would answer 408 after BODY_TIMEOUT seconds)
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=BODY_TIMEOUT / 2) as sock:
        head = f"POST {receiver.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {100 * 1024**2}\r\n\r\n"
        sock.sendall(head.encode())
        answer = sock.recv(65536)  # a socket timeout fails the test
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert receiver.rejected()["reason"].tolist() == ["too-large"]


def test_a_keep_alive_connection_serves_several_deliveries(
    receiver: CallbackReceiver, http: requests.Session
) -> None:
    for digits in ("1", "2", "3"):
        assert http.post(receiver.url, json={**GATHER, "digits": digits}, timeout=5).status_code == 200
    assert len(receiver.store) == 3


def test_unknown_paths_are_counted_in_memory_not_stored(store: EventStore, http: requests.Session) -> None:
    # given a receiver with room for the last 5 unknown-path requests
    with CallbackReceiver(store, keep_unknown=5) as receiver:
        base = receiver.url.split("/callbacks")[0]
        # when a scanner tries 12 paths (one of them a near miss of the secret)
        for n in range(11):
            assert http.post(f"{base}/wp-login-{n}.php", data=b"x" * 100, timeout=5).status_code == 404
        assert http.get(receiver.url + "x", timeout=5).status_code == 404
        # then nothing reached the durable store, and the ring holds the count and the last five
        assert len(store.rejected()) == 0
        assert receiver.unknown_count == 12
        recent = receiver.unknown_requests()
        assert recent["path"].tolist()[:4] == [f"/wp-login-{n}.php" for n in range(7, 11)]
        assert recent["path"].iloc[-1] == "/callbacks/***"  # a near miss of the secret is masked
        assert recent["method"].tolist()[-1] == "GET"
        assert "unknown-path requests</td><td>12" in receiver._repr_html_()
        # and a request with the right token but bad content is still recorded durably
        assert http.post(receiver.url, data=b"nope", timeout=5).status_code == 400
        assert store.rejected()["reason"].tolist() == ["not-json"]


@pytest.mark.parametrize("method", ["POST", "CONNECT"])
@pytest.mark.parametrize("expect", [b"\xff\xfe", b"something-else", b"100-continue"])
def test_an_expect_header_is_never_a_5xx(receiver: CallbackReceiver, expect: bytes, method: str) -> None:
    body = json.dumps(GATHER).encode()
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as sock:
        head = f"{method} {receiver.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        head += f"Content-Length: {len(body)}\r\n"
        sock.sendall(head.encode() + b"Expect: " + expect + b"\r\n\r\n" + body)
        answer = _read_all(sock)
    if expect == b"100-continue":
        status = b"200" if method == "POST" else b"404"  # CONNECT is never routed
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 " + status), answer[:200]
    else:
        assert answer.startswith(b"HTTP/1.1 417 "), answer[:200]


def test_the_body_checks_say_what_is_wrong_without_a_server():
    # the checks the receiver runs on every callback body, one by one
    from catapult_nb.receiver.checks import Rejected, parse_body

    assert parse_body(b'{"eventType": "gather", "digits": "25"}') == {"eventType": "gather", "digits": "25"}
    deep = b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}"
    for body, reason in [(b"[1, 2]", "not-an-object"), (b"{", "not-json"), (b'{"a": NaN}', "not-json"),
                         (deep, "too-deep"), (b'{"a": "\\ud800"}', "not-json")]:
        with pytest.raises(Rejected) as refused:
            parse_body(body)
        assert (refused.value.status, refused.value.reason) == (400, reason), body


def test_a_request_that_asks_to_close_is_answered_then_closed(receiver: CallbackReceiver) -> None:
    # aiohttp reads only the first Connection header: "keep-alive" then "close" on HTTP/1.0 stayed open
    raw = (b"POST /nowhere HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
           b"Connection: close\r\nContent-Length: 2\r\n\r\n{}")
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):  # ends when the receiver closes; a socket timeout fails the test
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 404")


def test_callbacks_during_a_long_import_are_answered_at_once_and_stored_after_it(
    store: EventStore, receiver: CallbackReceiver, http: requests.Session
) -> None:
    # given an import that holds the store (its one transaction) until released
    holding, release = threading.Event(), threading.Event()

    def long_import() -> None:
        with store.bulk() as writer:
            writer.add_many([({"eventType": "x", "callId": "c-import", "time": GATHER["time"]}, "file", None,
                              1_700_000_000 * 10**9)])
            holding.set()
            release.wait(30)

    importer = threading.Thread(target=long_import, daemon=True)
    importer.start()
    assert holding.wait(10)
    try:
        # when callbacks arrive meanwhile, then each is answered within the API's wait, not after the import
        answers = [http.post(receiver.url, json={**GATHER, "callId": f"c-live-{n}"}, timeout=5).status_code
                   for n in range(3)]
        assert answers == [200, 200, 200]
    finally:
        release.set()
        importer.join(10)
    # and once the import is committed they are stored, after it, none lost or twice
    assert receiver.wait_for(call_id="c-live-2", timeout=10)
    frame = store.to_dataframe()
    assert list(frame["callId"]) == ["c-import", "c-live-0", "c-live-1", "c-live-2"]
    again = http.post(receiver.url, json={**GATHER, "callId": "c-live-1"}, timeout=5)
    assert again.json()["duplicate"] is True
