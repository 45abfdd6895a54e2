"""What a callback request must be before the receiver stores it: credentials, method, size, time, JSON,
and a readable event time.

Both dialects pass the same checks: a Catapult v1 event (its time in ``time``) and a Voice API v2
webhook (``eventType``, ``eventTime``, ``accountId``, ``callId``, ``callUrl`` …; see
:func:`catapult_nb.store.keys.dialect_of`). An event time that is there but not ISO 8601 text is refused
(400, ``bad-time``, recorded) rather than stored with no time; an event without one is stored (see
:class:`~catapult_nb.store.EventStore`).

Each check raises :class:`Rejected` with the HTTP status to answer, a short ``reason`` (recorded in the
store's rejected table) and a message that tells the sender what to change. Behind a tunnel the receiver
meets the whole internet, so nothing a sender can put in a request is a 5xx the sender would retry for
ever: a body over :data:`MAX_BODY` bytes, JSON nested deeper than :data:`MAX_DEPTH` levels, bytes that are
not UTF-8, a lone surrogate, a number too large for a float, a body slower than its time limit, all are
refused here.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import math
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from catapult_nb.errors import Error
from catapult_nb.redact import Secret
from catapult_nb.store.keys import MAX_DEPTH, time_problem, too_deep
from catapult_nb.store.store import canonical_json

__all__ = [
    "BODY_TIMEOUT", "MAX_BODY", "MAX_DEPTH", "Rejected", "check_basic_auth", "check_event", "parse_body",
    "read_payload",
]

#: The largest callback body accepted; a v1 event is a few hundred bytes.
MAX_BODY = 64 * 1024
#: Seconds a request's body may take to arrive before it is answered 408 (v1 waits at most 10 s).
BODY_TIMEOUT = 10.0


class Rejected(Error):
    """A delivery refused with an HTTP status; the receiver records it in the store's rejected table.

    :param status: the HTTP status to answer.
    :param reason: a short name for the refusal (``not-json``, ``too-large`` …).
    :param detail: what was wrong, for the sender.
    :param body: what of the body was read, kept with the record.
    :param headers: headers to answer with (a ``WWW-Authenticate`` challenge, ``Allow``).
    """

    def __init__(self, status: int, reason: str, detail: str, body: bytes = b"", headers: Any = None) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.body = status, reason, detail, body
        self.headers = headers or {}


def check_basic_auth(request: web.Request, basic_auth: tuple[str, Secret] | None) -> None:
    """Refuse ``request`` (401, with a challenge) unless it carries ``basic_auth``'s user and password.

    :param basic_auth: ``(user, password)``, or None when no credentials are needed.
    :raises Rejected: no, malformed or wrong credentials.
    """
    if basic_auth is None:
        return
    challenge = {"WWW-Authenticate": 'Basic realm="catapult_nb callbacks", charset="UTF-8"'}
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Rejected(401, "no-credentials", "Basic auth is required", headers=challenge)
    try:
        user, _, password = (
            base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        )
    except (ValueError, UnicodeDecodeError):  # not base64 (or not ASCII at all), not UTF-8
        raise Rejected(
            401, "bad-credentials", "the Authorization header is not valid Basic auth", headers=challenge
        ) from None
    good_user = hmac.compare_digest(user.encode(), basic_auth[0].encode())
    good_password = hmac.compare_digest(password.encode(), basic_auth[1].reveal().encode())
    if not (good_user and good_password):
        raise Rejected(401, "bad-credentials", "wrong user name or password", headers=challenge)


async def read_payload(request: web.Request, body_timeout: float = BODY_TIMEOUT) -> dict[str, Any]:
    """The callback's event: a GET's query parameters, or a POST's JSON object.

    :param body_timeout: seconds the body may take to arrive.
    :raises Rejected: any other method, an empty query, a body too large, too slow or not a JSON object.
    """
    if request.method == "GET":
        payload: dict[str, Any] = {}
        for key, value in request.query.items():
            payload.setdefault(key, value)  # a repeated parameter: the first one counts
        if not payload:
            raise Rejected(400, "empty-query", "a GET callback must carry the event as query parameters")
        return payload
    if request.method != "POST":
        raise Rejected(
            405,
            "wrong-method",
            f"{request.method} is not accepted; callbacks are POST or GET",
            headers={"Allow": "GET, POST"},
        )
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Rejected(
            413, "too-large", f"the body is {request.content_length} bytes; the limit is {MAX_BODY}"
        )
    try:
        body = await asyncio.wait_for(_read_body(request), body_timeout)
    except asyncio.TimeoutError:
        raise Rejected(
            408, "body-timeout", f"the body did not arrive within {body_timeout:g} s"
        ) from None
    return parse_body(body)


def parse_body(body: bytes) -> dict[str, Any]:
    """A callback body as a JSON object that the store can keep.

    :raises Rejected: not UTF-8, not JSON, not an object, too deep, or a lone surrogate.
    """
    try:
        # strict decoding: bytes that are not UTF-8 (a lone surrogate, say) could never be stored
        text = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as exc:
        raise Rejected(
            400, "not-json", f"the body is not valid UTF-8 text (byte {exc.start} of {len(body)})", body
        ) from None
    try:
        payload = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise Rejected(400, "too-deep", f"the body nests deeper than {MAX_DEPTH} levels", body) from None
    except ValueError as exc:
        raise Rejected(400, "not-json", f"the body is not JSON: {str(exc)[:200]}", body) from None
    if not isinstance(payload, dict):
        raise Rejected(
            400, "not-an-object", f"the body is JSON but not an object ({type(payload).__name__})", body
        )
    if too_deep(payload):
        raise Rejected(400, "too-deep", f"the body nests deeper than {MAX_DEPTH} levels", body)
    if "\\u" in text:
        _check_unicode(payload, body)
    return payload


def check_event(payload: dict[str, Any], body: bytes = b"") -> None:
    """Refuse an event whose time (v1's ``time``, v2's ``eventTime``) is not ISO 8601 text.

    :param body: the request's body, kept with the rejection (default: the payload as JSON).

    :raises Rejected: 400 ``bad-time``, saying which field and what it should look like.
    """
    problem = time_problem(payload)
    if problem is not None:
        kept = body or json.dumps(payload, ensure_ascii=False).encode("utf-8", "replace")
        raise Rejected(400, "bad-time", f"{problem}; send the time the event happened, in UTC", kept)


async def _read_body(request: web.Request) -> bytes:
    """The body as it arrives, refused once it passes :data:`MAX_BODY` (a chunked one has no length)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await request.content.readany()
        except RequestPayloadError as exc:  # e.g. a Content-Encoding the body does not match
            cause = getattr(exc.__cause__, "message", None) or "the body could not be decoded"
            raise Rejected(
                400, "unreadable-body", f"the body could not be read: {cause[:200]}", b"".join(chunks)
            ) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:  # a chunked body without Content-Length
            raise Rejected(
                413, "too-large", f"the body is over the limit of {MAX_BODY} bytes", b"".join(chunks)
            )


def _no_constant(name: str) -> Any:
    """Refuse NaN and Infinity, which Python's JSON reader would take but JSON does not have."""
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    """A JSON number as a float, refusing one too large for a float (``1e999`` would be infinity)."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large: numbers must be finite")
    return number


def _check_unicode(payload: dict[str, Any], body: bytes) -> None:
    """Refuse JSON whose escapes spell a lone surrogate (``"\\ud800"``): valid JSON text, but no Unicode
    string, so it could never be stored. Without this check the store's refusal would look like a
    server fault (503) and the sender would retry it for ever."""
    try:
        canonical_json(payload).encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected(
            400,
            "not-json",
            "the body escapes a lone UTF-16 surrogate (such as \\ud800), which is not valid Unicode; "
            "send the character itself or a complete surrogate pair",
            body,
        ) from None
