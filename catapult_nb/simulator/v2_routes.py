"""The v2 API's routes (``/api/v2/accounts/{accountId}/calls``) and the v2 side of ``/_sim/incoming``.

Bodies are checked strictly, as v2 does: numbers are JSON numbers, strings are strings, and the first
bad field is named in a 400 ``{"type": "validation", "description": …, "id": …}``. ``null`` means absent
(the official SDK sends ``null`` for fields it was given as ``None``, and its defaults for the rest).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from catapult_nb.bxml import BxmlError
from catapult_nb.simulator.bxml import parse_bxml
from catapult_nb.simulator.errors import ApiError
from catapult_nb.simulator.resources import SimCall
from catapult_nb.simulator.state import ENDED_CALL_HORIZON, STATE_KEY
from catapult_nb.simulator.v2_calls import V2Call, driver_of
from catapult_nb.simulator.v2_runtime import V2Runtime
from catapult_nb.simulator.v2_webhooks import Hook
from catapult_nb.simulator.validation import read_body

__all__ = ["V2_KEY", "incoming", "routes", "v2_error"]

#: Where the app keeps its :class:`V2Runtime`.
V2_KEY = web.AppKey("v2", V2Runtime)
routes = web.RouteTableDef()

CALLS = "/api/v2/accounts/{accountId}/calls"
CALL = CALLS + "/{callId}"
E164 = re.compile(r"\+[1-9]\d{6,14}")
DEFAULT_CALLBACK_TIMEOUT = 15.0  # seconds, v2's default callbackTimeout
DEFAULT_CALL_TIMEOUT = 30.0


def v2_error(status: int, kind: str, description: str, **details: Any) -> ApiError:
    """A v2 error: answered as ``{"type": kind, "description": description, "id": …}``."""
    return ApiError(status, "v2", kind, description, **details)


def _invalid(name: str, rule: str) -> ApiError:
    return v2_error(400, "validation", f"Invalid {name}: {rule}", field=name)


# -- field checks: each returns the value or raises the 400 naming the field ------------------------

Check = Callable[[str, Any], Any]


def _string(limit: int = 1024, blank: bool = True) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _invalid(name, f"must be a string, got {_kind(value)}")
        if len(value) > limit:
            raise _invalid(name, f"must be at most {limit} characters, got {len(value)}")
        if not blank and not value.strip():
            raise _invalid(name, "must not be blank")
        return value

    return check


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _url(name: str, value: Any) -> str:
    text = _string(2048)(name, value)
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        usable = False
    if not usable:
        raise _invalid(name, f"must be an absolute http:// or https:// URL, got {text!r}")
    return text


def _method(name: str, value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in ("GET", "POST"):
        raise _invalid(name, f"must be GET or POST, got {value!r}")
    return value.upper()


def _number(low: float, high: float, whole: bool = False) -> Check:
    def check(name: str, value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (whole and float(value) != int(value)):
            kind = "a whole number" if whole else "a number"
            raise _invalid(
                name, f"must be {kind} (a JSON number, not {_kind(value)}) from {low:g} to {high:g}"
            )
        if not low <= value <= high:
            raise _invalid(name, f"must be between {low:g} and {high:g}, got {value:g}")
        return int(value) if whole else float(value)

    return check


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(name, f"must be true or false, got {_kind(value)}")
    return value


def _phone(sip: bool) -> Check:
    def check(name: str, value: Any) -> str:
        text = _string(256)(name, value)
        if E164.fullmatch(text) or (sip and text.startswith("sip:") and len(text) > 4):
            return text
        also = " or a sip: URI" if sip else ""
        raise _invalid(name, f"must be an E.164 number like +15551234567{also}, got {text!r}")

    return check


def _object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(name, f"must be an object, got {_kind(value)}")
    return value


def _choice(*choices: str) -> Check:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise _invalid(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


_AUTH = {
    "username": _string(),
    "password": _string(),
    "fallbackUsername": _string(),
    "fallbackPassword": _string(),
}
CREATE_FIELDS: dict[str, Check] = {
    "to": _phone(sip=True),
    "from": _phone(sip=False),
    "privacy": _boolean,
    "displayName": _string(256),
    "uui": _string(350),
    "applicationId": _string(64, blank=False),
    "answerUrl": _url,
    "answerMethod": _method,
    **_AUTH,
    "answerFallbackUrl": _url,
    "answerFallbackMethod": _method,
    "disconnectUrl": _url,
    "disconnectMethod": _method,
    "callTimeout": _number(1, 300),
    "callbackTimeout": _number(1, 25),
    "machineDetection": _object,
    "priority": _number(1, 5, whole=True),
    "tag": _string(4096),
}
UPDATE_FIELDS: dict[str, Check] = {
    "state": _choice("active", "completed"),
    "redirectUrl": _url,
    "redirectMethod": _method,
    **_AUTH,
    "redirectFallbackUrl": _url,
    "redirectFallbackMethod": _method,
    "tag": _string(4096),
}
INCOMING_FIELDS: dict[str, Check] = {
    "from": _phone(sip=False),
    "to": _phone(sip=False),
    "applicationUrl": _url,
    "applicationMethod": _method,
    "applicationId": _string(64, blank=False),
    "disconnectUrl": _url,
    "disconnectMethod": _method,
    "fallbackUrl": _url,
    "fallbackMethod": _method,
    **_AUTH,
    "callbackTimeout": _number(1, 25),
}


def check_fields(
    body: dict[str, Any], known: dict[str, Check], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check every field of ``body`` (unknown ones refused), then that the required ones are there."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        check = known.get(name)
        if check is None:
            raise _invalid(name, f"unknown field; the fields are {', '.join(known)}")
        if value is not None:
            out[name] = check(name, value)
    for name in required:
        if name not in out:
            raise _invalid(name, "is required")
    return out


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        return await read_body(request, "call")
    except ApiError as exc:  # the v1 reader's words, in v2's error body
        raise v2_error(400, "validation", exc.message, field="body") from None


# -- helpers --------------------------------------------------------------------------------------


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _runtime(request: web.Request) -> V2Runtime:
    return request.app[V2_KEY]


def _call(request: web.Request) -> V2Call:
    call_id = request.match_info["callId"]
    call = request.app[STATE_KEY].calls.get(call_id)
    driver = driver_of(call) if call is not None else None
    if driver is None:
        raise v2_error(
            404,
            "not-found",
            f"Call {call_id} was not found (the simulator forgets an ended call after "
            f"{ENDED_CALL_HORIZON:g} API seconds, or once newer calls have ended)",
            callId=call_id,
        )
    return driver


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


# -- calls ----------------------------------------------------------------------------------------


@routes.post(CALLS)
async def create_call(request: web.Request) -> web.Response:
    fields = check_fields(await _body(request), CREATE_FIELDS, ("to", "from", "applicationId", "answerUrl"))
    runtime = _runtime(request)
    answer = _hook(fields, "answer")
    disconnect = None
    if "disconnectUrl" in fields:
        disconnect = Hook(
            url=fields["disconnectUrl"],
            method=fields.get("disconnectMethod", "POST"),
            username=fields.get("username"),
            password=fields.get("password"),
        )
    timeout = fields.get("callbackTimeout", DEFAULT_CALLBACK_TIMEOUT)
    call_timeout = fields.get("callTimeout", DEFAULT_CALL_TIMEOUT)
    v2 = runtime.new_call(
        "out", _origin(request), fields, answer, disconnect, timeout, fields["applicationId"]
    )
    v2.dial(call_timeout)
    body: dict[str, Any] = {
        "applicationId": v2.application_id,
        "accountId": runtime.account_id,
        "callId": v2.call.id,
        "to": v2.call.to,
        "from": v2.call.from_,
        "callUrl": v2.call_url,
        "callTimeout": call_timeout,
        "callbackTimeout": timeout,
        "answerMethod": answer.method,
        "answerUrl": answer.url,
        "answerFallbackMethod": answer.fallback_method,
        "disconnectMethod": fields.get("disconnectMethod", "POST"),
        "priority": fields.get("priority", 5),
    }
    for name in ("answerFallbackUrl", "disconnectUrl", "username", "fallbackUsername", "tag"):
        if name in fields:
            body[name] = fields[name]  # passwords are not echoed back
    return _json(body, 201, {"Location": v2.call_url})


@routes.get(CALLS)
async def list_calls(request: web.Request) -> web.Response:
    query = request.query
    try:
        size = int(query.get("pageSize", "1000"))
    except ValueError:
        size = 0
    if not 1 <= size <= 10_000:
        raise _invalid("pageSize", f"must be a whole number from 1 to 10000, got {query.get('pageSize')!r}")
    wanted = {k: query[k] for k in ("to", "from") if k in query}
    found = []
    for call in request.app[STATE_KEY].calls.values():
        v2 = driver_of(call)
        if v2 is None or any(getattr(call, "from_" if k == "from" else k) != v for k, v in wanted.items()):
            continue
        if "disconnectCause" in query and v2.cause != query["disconnectCause"]:
            continue
        found.append(v2.call_state())
        if len(found) == size:
            break
    return _json(found)


@routes.get(CALL)
async def get_call(request: web.Request) -> web.Response:
    return _json(_call(request).call_state())


@routes.post(CALL)
async def update_call(request: web.Request) -> web.Response:
    v2 = _call(request)
    fields = check_fields(await _body(request), UPDATE_FIELDS)
    target = fields.get("state", "active")
    if target == "completed":
        for name in ("redirectUrl", "tag"):
            if name in fields:
                raise _invalid(name, "is not allowed when state is completed")
    elif "redirectUrl" not in fields:
        raise _invalid("redirectUrl", "is required when state is active (the URL that gives the new BXML)")
    if v2.ended:
        raise v2_error(
            409,
            "conflict",
            f"Call {v2.call.id} has ended ({v2.cause}); it cannot be changed",
            callId=v2.call.id,
        )
    if target == "completed":
        v2.hang_up(None)
        return web.Response(status=200)
    if v2.call.machine.state == "started":
        raise v2_error(
            409,
            "conflict",
            f"Call {v2.call.id} is not answered yet; it can be redirected once it is",
            callId=v2.call.id,
        )
    hook = _hook(fields, "redirect")
    v2.redirect(hook, fields.get("tag"))
    return web.Response(status=200)


@routes.put(CALL + "/bxml")
async def update_bxml(request: web.Request) -> web.Response:
    v2 = _call(request)
    kind = request.content_type
    if request.headers.get("Content-Type") and kind not in ("application/xml", "text/xml"):
        raise v2_error(415, "unsupported-media-type", f"Send BXML as application/xml, got {kind}")
    try:
        raw = await request.read()  # at most the app's client_max_size (1 MiB); the parser caps at 64 KB
    except RequestPayloadError:
        raise v2_error(400, "validation", "The BXML body could not be read") from None
    try:
        verbs = parse_bxml(raw, ("Bxml",))
    except BxmlError as exc:
        raise v2_error(400, "validation", str(exc), verb=exc.verb, attribute=exc.attribute) from None
    if v2.ended or v2.call.machine.state == "started":
        what = "has ended" if v2.ended else "is not answered yet"
        raise v2_error(
            409, "conflict", f"Call {v2.call.id} {what}; its BXML cannot be replaced", callId=v2.call.id
        )
    v2.replace(verbs, raw.decode("utf-8", "replace"))
    return web.Response(status=204)


# -- the virtual phone's v2 ring ---------------------------------------------------------------------


async def incoming(request: web.Request, body: dict[str, Any]) -> web.Response:
    """``POST /_sim/incoming`` with ``applicationUrl``: a v2 app's number rings (``initiate``).

    ``disconnectUrl`` defaults to ``applicationUrl`` (the application's status callback); the first
    document is the answer to ``initiate``.
    """
    fields = check_fields(body, INCOMING_FIELDS, ("from", "to", "applicationUrl"))
    first = Hook(
        url=fields["applicationUrl"],
        method=fields.get("applicationMethod", "POST"),
        fallback_url=fields.get("fallbackUrl"),
        fallback_method=fields.get("fallbackMethod", "POST"),
        username=fields.get("username"),
        password=fields.get("password"),
        fallback_username=fields.get("fallbackUsername"),
        fallback_password=fields.get("fallbackPassword"),
    )
    disconnect = Hook(
        url=fields.get("disconnectUrl", first.url),
        method=fields.get("disconnectMethod", first.method),
        username=first.username,
        password=first.password,
    )
    runtime = _runtime(request)
    v2 = runtime.new_call(
        "in",
        _origin(request),
        fields,
        first,
        disconnect,
        fields.get("callbackTimeout", DEFAULT_CALLBACK_TIMEOUT),
        fields.get("applicationId", "a-simulator"),
    )
    v2.ring()
    return _json({"callId": v2.call.id, "callUrl": v2.call_url}, 201, {"Location": v2.call_url})


def is_v2(call: SimCall) -> bool:
    return driver_of(call) is not None


def _hook(fields: dict[str, Any], prefix: str) -> Hook:
    """Where a webhook goes, from a request body's ``{prefix}Url``, ``{prefix}Method``, fallbacks and
    credentials (``answer`` on create, ``redirect`` on update)."""
    return Hook(
        url=fields[f"{prefix}Url"],
        method=fields.get(f"{prefix}Method", "POST"),
        fallback_url=fields.get(f"{prefix}FallbackUrl"),
        fallback_method=fields.get(f"{prefix}FallbackMethod", "POST"),
        username=fields.get("username"),
        password=fields.get("password"),
        fallback_username=fields.get("fallbackUsername"),
        fallback_password=fields.get("fallbackPassword"),
    )
