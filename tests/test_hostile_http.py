"""Hostile HTTP, as an attacker on a public URL would send it, to the receiver and to the simulator (its v1
routes, and its v2 routes with BXML bodies), and hostile BXML to the simulator's BXML parser.

Each target gets at least 10,000 generated requests written byte by byte on raw sockets: odd methods,
request lines and versions, paths near the secret one, broken and duplicated framing, content encodings
that lie, non-ASCII and binary headers and credentials, bodies that are deep, huge, not UTF-8, lone
surrogates (raw and escaped, in a prompt's sentence too), control characters, times outside pandas'
range, overflowing numbers or UTF-16. Every answer must be below 500 and come within the socket
timeout (no hang). The requests go out in batches so that hypothesis' own cost stays small.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from catapult_nb.receiver.checks import MAX_BODY, MAX_DEPTH
from catapult_nb.receiver.receiver import CallbackReceiver
from catapult_nb.simulator import Simulator
from catapult_nb.simulator.bxml import SIMULATED_VERBS, BxmlError, parse_bxml
from catapult_nb.store.store import EventStore

# tens of thousands of raw requests: the whole suite runs them, `make test-quick` leaves them out
pytestmark = pytest.mark.slow

REQUESTS_PER_TARGET = 10_000
BATCH = 100
EXAMPLES = REQUESTS_PER_TARGET // BATCH

#: How each storm runs: EXAMPLES batches, no per-example deadline (a batch waits on real sockets), no example
#: database, and the servers made once per module rather than per example.
storm = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

ANSWER_WITHIN = 10.0  # seconds; a request left unanswered this long is a hang
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")

METHODS = ["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"]
FIELDS = [
    "eventType",
    "callId",
    "gatherId",
    "digits",
    "time",
    "tag",
    "from",
    "to",
    "state",
    "reason",
    "maxDigits",
    "interDigitTimeout",
    "callbackUrl",
    "digits",
    "gap",
    "prompt",
    "sentence",
    "answerUrl",
    "applicationId",
    "applicationUrl",
    "redirectUrl",
    "callTimeout",
    "callbackTimeout",
    "disconnectUrl",
]

#: BXML as an app, or an attacker posing as one, might send it: entity bombs, external entities, bad
#: nesting, unknown verbs, values out of range, and documents over 64 KB.
XML_BODIES = [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    b"]><Bxml><SpeakSentence>&b;&b;&b;</SpeakSentence></Bxml>",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Bxml><Tag>&x;</Tag></Bxml>',
    b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/dtd"><Bxml/>',
    b"<Bxml><Gather><Gather/></Gather></Bxml>",
    b"<Bxml><Gather maxDigits='1e9' firstDigitTimeout='NaN'/></Bxml>",
    b"<Bxml><Record/><Dance/></Bxml>",
    b"<Bxml><Hangup/>",
    b"<Bxml>" + b"<Pause duration='1'/>" * 4000 + b"</Bxml>",
    b"<Bxml>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</Bxml>",
    b'<?xml version="1.0" encoding="bogus"?><Bxml/>',
    "<Bxml><SpeakSentence>é😀</SpeakSentence></Bxml>".encode("utf-16"),
    b"<Bxml><Pause/></Bxml>",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["gather", "dtmf", "+15551234567", "http://127.0.0.1:9/x", "5"])
    # text no store or speech engine takes (lone surrogates, control characters), and times outside
    # pandas' nanosecond range (before 1677-09-21, after 2262-04-11)
    | st.sampled_from(["\ud800", "one \udfff two", "one\x00two", "\x1b[31m"])
    | st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "1677-09-21T00:12:43.145Z"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    max_leaves=8,
)


@st.composite
def bodies(draw) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind <= 3:
        return json.dumps(draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))).encode()
    if kind == 4:  # deep, sometimes with an escape that once reached a recursive check
        depth = draw(st.integers(1, 3000))
        inner = draw(st.sampled_from([b"1", b'"\\u0041"', b'"\\ud800"', b""]))
        return b'{"x":' + b"[" * depth + inner + b"]" * depth + b"}"
    if kind == 5:  # what JSON text allows but no store can keep
        return draw(
            st.sampled_from(
                [
                    b'{"n":1e999}',
                    b'{"n":-1e999}',
                    b'{"n":NaN}',
                    b'{"n":Infinity}',
                    b'{"t":"\xed\xa0\x80"}',
                    b'{"\\udc00":1}',
                    b'{"n":' + b"9" * 5000 + b"}",
                    b'{"a":1,"a":2}',
                    b"\xef\xbb\xbf{}",
                ]
            )
        )
    if kind == 6:
        return json.dumps(draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))).encode(
            "utf-16"
        )
    if kind == 7:
        return draw(st.binary(max_size=200))
    if kind == 8:
        if draw(st.booleans()):
            return draw(st.sampled_from(XML_BODIES))
        return b'{"a":"' + b"x" * draw(st.sampled_from([10, 70_000])) + b'"}'
    return draw(st.text(max_size=60)).encode("utf-8", "surrogatepass")


HEADER_NAMES = [
    "Content-Type",
    "Accept",
    "User-Agent",
    "X-Forwarded-For",
    "Cookie",
    "Expect",
    "Connection",
    "Host",
    "Authorization",
    "Content-Encoding",
    "Upgrade",
    "X-" + "a" * 300,
    "Bad Name",
    "\u00e9",
]
HEADER_VALUES = [
    b"application/json",
    b"application/xml",
    b"text/plain; charset=utf-16",
    b"100-continue",
    b"websocket",
    b"keep-alive",
    "\u00e9\u00e9".encode("latin-1"),
    "\u00e9".encode(),
    b"\xff\xfe",
    b"\x7f",
    b"Basic " + base64.b64encode("\u00e9:\u00e9".encode()),
    b"x" * 9000,
    b"",
    b"\x00",
]
CREDENTIALS = [
    None,
    None,
    b"Basic \xff\xfe",
    b"Basic " + "\u00e9\u00e9".encode(),
    b"Basic ====",
    b"Basic " + base64.b64encode(b"catapult:wrong"),
    b"Bearer x",
]
VERSIONS = ["HTTP/1.1"] * 6 + ["HTTP/1.0", "HTTP/2.0", "HTTP/1.9", "FOO/1.1", "HTTP/1.1 extra"]
ENCODINGS = [None] * 6 + ["gzip", "deflate", "lying-gzip", "br", "bogus"]
FRAMINGS = ["length"] * 6 + ["chunked", "bad-chunked", "two-lengths", "none", "short"]
OTHER_METHODS = ["get", "PRI", "M-SEARCH", "X" * 40, "BREW"]


def build(rng, body: bytes, path: str, header_value: bytes) -> bytes:
    """One request as raw bytes, its parts chosen by ``rng`` (always asking the server to close after)."""
    method = rng.choice(METHODS + OTHER_METHODS)
    encoding = rng.choice(ENCODINGS)
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    head = [f"{method} {path} {rng.choice(VERSIONS)}".encode("utf-8", "surrogatepass"), b"Host: 127.0.0.1"]
    if encoding:
        head.append(b"Content-Encoding: " + (b"gzip" if encoding == "lying-gzip" else encoding.encode()))
    for _ in range(rng.randrange(4)):
        name = rng.choice(HEADER_NAMES).encode("utf-8")
        head.append(name + b": " + rng.choice([*HEADER_VALUES, header_value]))
    credentials = rng.choice(CREDENTIALS)
    if credentials:
        head.append(b"Authorization: " + credentials)
    head.append(b"Connection: close")
    framing = rng.choice(FRAMINGS)
    if framing == "length":
        head.append(b"Content-Length: %d" % len(body))
    elif framing == "short":  # the rest of the body reads as a second, pipelined request
        head.append(b"Content-Length: %d" % (len(body) // 2))
    elif framing == "two-lengths":
        head += [b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)]
    elif framing == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        body = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    elif framing == "bad-chunked":
        head.append(b"Transfer-Encoding: chunked")
        body = b"zz\r\n" + body + b"\r\n0\r\n\r\n"
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@st.composite
def batches(draw, paths: st.SearchStrategy[str]) -> list[bytes]:
    """BATCH requests: hypothesis draws a few bodies, paths and header values and a random generator,
    which mixes them with every method, version, encoding, framing and header above."""
    corpus = draw(st.lists(bodies(), min_size=6, max_size=6))
    routes = draw(st.lists(paths, min_size=4, max_size=4))
    values = draw(
        st.lists(
            st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
            min_size=2,
            max_size=2,
        )
    )
    rng = draw(st.randoms(use_true_random=False))
    return [build(rng, rng.choice(corpus), rng.choice(routes), rng.choice(values)) for _ in range(BATCH)]


def send(port: int, raw: bytes) -> list[int]:
    """Send one raw request and read until the server closes; returns every status it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused before the body's end
            sock.sendall(raw)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError(f"no answer within {ANSWER_WITHIN} s (a hang) to {raw[:300]!r}") from None
    return [int(code) for code in _STATUS.findall(b"".join(chunks)[:4096])]


def check_batch(port: int, batch: list[bytes], pool: ThreadPoolExecutor) -> None:
    for raw, statuses in zip(batch, pool.map(lambda raw: send(port, raw), batch), strict=True):
        assert all(status < 500 for status in statuses), (statuses, raw[:300])


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CallbackReceiver]:
    store = EventStore(tmp_path_factory.mktemp("hostile") / "events.sqlite3", synchronous="OFF")
    with store, CallbackReceiver(store, basic_auth=("catapult", "pa55-w0rd"), idle_timeout=3) as instance:
        yield instance


def receiver_paths(receiver: CallbackReceiver) -> st.SearchStrategy[str]:
    token = receiver.path.rsplit("/", 1)[1]
    return st.sampled_from(
        [receiver.path] * 6
        + [
            receiver.path + "/",
            "/",
            "/callbacks/",
            f"/callbacks/{token}x",
            f"/callbacks/{token[:-1]}",
            f"/callbacks/{token}/../x",
            "/%2e%2e/%00",
            "*",
        ]
    ) | st.text(max_size=30).map(lambda text: "/" + text.replace(" ", "%20"))


@storm
@given(data=st.data())
def test_the_receiver_never_answers_5xx_nor_hangs(receiver, pool, data) -> None:
    batch = data.draw(batches(receiver_paths(receiver)))
    check_batch(receiver.port, batch, pool)


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[Simulator, str, str]]:
    with Simulator(speed=50) as sim, requests.Session() as http:
        http.trust_env = False
        http.auth = (sim.api_token, sim.api_secret)
        rung = http.post(
            f"{sim.base_url}/_sim/incoming",
            timeout=10,
            json={"from": "+15551230000", "to": "+15551239999", "callbackUrl": "http://127.0.0.1:9/cb"},
        )
        call_id = rung.json()["callId"]
        calls = f"{sim.api_url}/users/{sim.user_id}/calls"
        assert http.post(f"{calls}/{call_id}", json={"state": "active"}, timeout=10).status_code == 200
        gathered = http.post(f"{calls}/{call_id}/gather", json={"interDigitTimeout": 30}, timeout=10)
        yield sim, call_id, gathered.headers["Location"].rsplit("/", 1)[1]


def simulator_paths(sim: Simulator, call_id: str, gather_id: str) -> st.SearchStrategy[str]:
    calls = f"/v1/users/{sim.user_id}/calls"
    known = [
        calls,
        f"{calls}/{call_id}",
        f"{calls}/{call_id}/gather",
        f"{calls}/{call_id}/gather/{gather_id}",
        f"{calls}/{call_id}/audio",
        f"{calls}/{call_id}/dtmf",
        f"{calls}/{call_id}/events",
        f"/_sim/calls/{call_id}/press",
        f"/_sim/calls/{call_id}/hangup",
        "/_sim/incoming",
        "/_sim/deliveries",
        "/_sim/health",
        "/v1/users/u-other/calls",
        f"{calls}/c-unknown/gather/gtr-unknown",
    ]
    return st.sampled_from(known) | st.text(max_size=30).map(lambda text: "/" + text.replace(" ", "%20"))


@storm
@given(data=st.data())
def test_the_simulator_never_answers_5xx_nor_hangs(simulator, pool, data) -> None:
    sim, call_id, gather_id = simulator
    batch = data.draw(batches(simulator_paths(sim, call_id, gather_id)))
    check_batch(sim.port, batch, pool)


def _nested(depth: int) -> bytes:
    """An object whose value nests lists to ``depth`` levels in all (the object is the first)."""
    return b'{"x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def _chunks(body: bytes) -> Iterator[bytes]:
    yield from (body[i:i + 8192] for i in range(0, len(body), 8192))


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b'{"a":"' + b"x" * MAX_BODY + b'"}', 413, "too-large"),
    ("chunked", 413, "too-large"),
    (_nested(MAX_DEPTH + 1), 400, "too-deep"),
    (_nested(3000), 400, "too-deep"),
], ids=["over-the-size", "chunked-over-the-size", "one-level-too-deep", "far-too-deep"])
def test_the_receiver_refuses_oversize_and_over_deep_bodies_with_their_status(
    receiver, body, status, reason
) -> None:
    before = len(receiver.rejected())
    # a chunked body declares no length: the limit applies as it arrives
    data = _chunks(b'{"a":"' + b"x" * MAX_BODY + b'"}') if body == "chunked" else body
    answer = requests.post(receiver.url, data=data, auth=("catapult", "pa55-w0rd"), timeout=ANSWER_WITHIN)
    assert answer.status_code == status, answer.text
    assert receiver.rejected()["reason"].tolist()[before:] == [reason]


def test_the_receiver_takes_a_body_at_the_size_and_depth_limits(receiver) -> None:
    at_size = b'{"a":"' + b"x" * (MAX_BODY - 8) + b'"}'
    assert len(at_size) == MAX_BODY
    for body in (at_size, _nested(MAX_DEPTH)):
        answer = requests.post(receiver.url, data=body, auth=("catapult", "pa55-w0rd"), timeout=ANSWER_WITHIN)
        assert answer.status_code == 200, answer.text


def test_the_simulator_refuses_an_oversize_body_with_413(simulator) -> None:
    sim, call_id, _ = simulator
    url = f"{sim.api_url}/users/{sim.user_id}/calls/{call_id}/gather"
    body = b'{"tag":"' + b"x" * 1024**2 + b'"}'
    answer = requests.post(url, data=body, auth=(sim.api_token, sim.api_secret), timeout=ANSWER_WITHIN,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 413, answer.text


@pytest.fixture(scope="module")
def v2_simulator() -> Iterator[tuple[Simulator, str]]:
    """A simulator with one answered v2 call, its app answering every webhook with a long pause."""
    app = HTTPServer("127.0.0.1", 0)
    app.expect_request(re.compile(".*")).respond_with_data(
        "<Response><Pause duration='86400'/></Response>", content_type="application/xml"
    )
    app.start()
    try:
        with Simulator(speed=50) as sim, requests.Session() as http:
            http.trust_env = False
            rung = http.post(
                f"{sim.base_url}/_sim/incoming",
                timeout=10,
                json={"from": "+15551230000", "to": "+15551239999", "applicationUrl": app.url_for("/app")},
            )
            call_id = rung.json()["callId"]
            calls = f"{sim.v2_api_url}/accounts/{sim.account_id}/calls"

            def answered() -> bool:
                state = http.get(f"{calls}/{call_id}", auth=(sim.api_token, sim.api_secret), timeout=10)
                return state.json()["state"] == "answered"

            deadline = time.monotonic() + 10
            while not answered():  # the app's BXML answers the call: ask until it has
                assert time.monotonic() < deadline, "the v2 call was not answered"
                threading.Event().wait(0.02)
            yield sim, call_id
    finally:
        app.clear()
        app.stop()


def v2_paths(sim: Simulator, call_id: str) -> st.SearchStrategy[str]:
    calls = f"/api/v2/accounts/{sim.account_id}/calls"
    known = [
        calls,
        f"{calls}/{call_id}",
        f"{calls}/{call_id}",
        f"{calls}/{call_id}/bxml",
        f"{calls}/{call_id}/bxml",
        f"{calls}?pageSize=0",
        f"{calls}/c-unknown/bxml",
        "/api/v2/accounts/1/calls",
        "/api/v2/accounts//calls",
        f"/_sim/calls/{call_id}/press",
        f"/_sim/calls/{call_id}",
        "/_sim/incoming",
        "/_sim/deliveries",
    ]
    return st.sampled_from(known) | st.text(max_size=30).map(
        lambda text: "/api/v2/" + text.replace(" ", "%20")
    )


@storm
@given(data=st.data())
def test_the_v2_routes_never_answer_5xx_nor_hang(v2_simulator, pool, data) -> None:
    sim, call_id = v2_simulator
    batch = data.draw(batches(v2_paths(sim, call_id)))
    check_batch(sim.port, batch, pool)


#: Pieces of BXML documents: real verbs and attributes, unknown ones, values in and out of range.
VERBS = [
    "Response",
    "Bxml",
    "Gather",
    "SpeakSentence",
    "PlayAudio",
    "Pause",
    "Redirect",
    "Transfer",
    "PhoneNumber",
    "Hangup",
    "Tag",
    "StartGather",
    "StopGather",
    "Record",
    "say-as",
    "x:y",
    "Dance",
]
ATTRIBUTES = [
    "maxDigits",
    "interDigitTimeout",
    "firstDigitTimeout",
    "repeatCount",
    "terminatingDigits",
    "gatherUrl",
    "redirectUrl",
    "dtmfUrl",
    "voice",
    "duration",
    "input",
    "tag",
    "xml:lang",
    "bogus",
]
VALUES = [
    "1",
    "50",
    "51",
    "0",
    "-1",
    "1e3",
    "NaN",
    "",
    "#",
    "*#AB",
    "http://127.0.0.1:9/x",
    "/rel",
    "ftp://x",
    "kate",
    "speech",
    "1.5",
    "x" * 300,
]


@st.composite
def documents(draw, depth: int = 0) -> str:
    name = draw(st.sampled_from(VERBS))
    attrs = draw(st.dictionaries(st.sampled_from(ATTRIBUTES), st.sampled_from(VALUES), max_size=3))
    inside = "".join(draw(st.lists(documents(depth + 1), max_size=3))) if depth < 3 else ""
    text = draw(st.sampled_from(["", "", "Hello", "+15550100999", "http://127.0.0.1:9/a.wav", " "]))
    shown = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return f"<{name} {shown}>{text}{inside}</{name}>"


@settings(max_examples=1500, deadline=None, database=None)
@given(
    document=documents()
    | st.sampled_from([b.decode("utf-8", "replace") for b in XML_BODIES])
    | st.text(max_size=200),
    roots=st.sampled_from([("Response",), ("Bxml",)]),
)
def test_the_bxml_parser_refuses_hostile_documents_with_a_bxml_error_only(document, roots) -> None:
    try:
        verbs = parse_bxml(document, roots)
    except BxmlError as exc:
        assert str(exc).startswith("Invalid BXML: ")
    else:
        assert all(verb.name in SIMULATED_VERBS for verb in verbs)


def test_the_parser_expands_no_entity_and_reads_no_file() -> None:
    for body in XML_BODIES[:3]:
        with pytest.raises(BxmlError, match="DTDs and entities are not allowed"):
            parse_bxml(body, ("Bxml",))


def test_the_targets_still_work_after_the_storm(receiver, simulator, v2_simulator) -> None:
    event = {"eventType": "hangup", "callId": "c-after", "time": "2026-01-01T00:00:00.000Z"}
    answer = requests.post(receiver.url, json=event, auth=("catapult", "pa55-w0rd"), timeout=5)
    assert answer.status_code == 200
    assert requests.get(f"{simulator[0].base_url}/_sim/health", timeout=5).json()["status"] == "ok"
    sim = v2_simulator[0]
    calls = f"{sim.v2_api_url}/accounts/{sim.account_id}/calls"
    created = requests.post(
        calls,
        auth=(sim.api_token, sim.api_secret),
        timeout=5,
        json={
            "to": "+15551239999",
            "from": "+15551230000",
            "applicationId": "a",
            "answerUrl": "http://127.0.0.1:9/a",
        },
    )
    assert created.status_code == 201
    # no v2 call failed inside the simulator (a bug there ends a call with cause "error")
    auth = (sim.api_token, sim.api_secret)
    assert requests.get(calls, params={"disconnectCause": "error"}, auth=auth, timeout=5).json() == []


def test_the_storm_reached_both_targets_in_full(receiver) -> None:
    # the ring counted the requests to other paths, the store refused the bad ones: the fuzz ran
    assert receiver.unknown_count > 0 and len(receiver.rejected()) > 0
    assert Path(receiver.store.path).exists()
