"""Request validation: the field parsers and the field table of each request the simulator accepts.

Gathers reuse :meth:`GatherOptions.from_wire`; everything else is checked here, every field in a fixed
order, so the first bad one is named in the 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from catapult_nb.options import (
    DTMF_KEYS,
    OptionError,
    check_gender,
    check_locale,
    check_sentence,
    check_voice,
    parse_bool,
    parse_int,
    parse_number,
    parse_str,
)
from catapult_nb.simulator.errors import ApiError, validation_error

__all__ = [
    "AUDIO_FIELDS", "CALL_FIELDS", "DEFAULT_GAP", "DTMF_OUT", "HANGUP_FIELDS", "INCOMING_FIELDS",
    "PRESS_FIELDS",
    "UPDATE_FIELDS", "choice", "parse_fields", "ranged_int", "read_body",
]

DEFAULT_GAP = 0.25  # API seconds between virtual-phone key presses
MAX_PRESS_KEYS = 100
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DTMF_OUT = re.compile(r"^[A-D0-9#*,wW]{1,92}$")


def _url(resource: str, prop: str, value: Any) -> str:
    text = parse_str(prop, value)
    try:
        parts = urlsplit(text)
        # .port raises ValueError for a port that is not a number in 0-65535
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # "http://[::1" and the like
        usable = False
    if not usable:
        raise ApiError(
            400, "bad-request", "callback-invalid-url",
            f"The '{resource}' resource property '{prop}' must be an http:// or https:// URL with a host "
            f"(and a port from 1 to 65535, if any), got {text!r}",
            property=prop,
        )
    return text


def ranged_int(prop: str, value: Any, low: int, high: int) -> int:
    number = parse_int(prop, value)
    if not low <= number <= high:
        raise OptionError(prop, f"{prop} must be between {low} and {high}, got {number}")
    return number


def _number(prop: str, value: Any) -> str:
    text = parse_str(prop, value).strip()
    if not (E164.match(text) or text.startswith("sip:")):
        raise OptionError(
            prop, f"{prop} must be an E.164 number like +15551234567 (or a sip: URI), got {text!r}"
        )
    return text


def _method(prop: str, value: Any) -> str:
    text = parse_str(prop, value).upper()
    if text not in ("POST", "GET"):
        raise OptionError(prop, f"{prop} must be POST or GET, got {value!r}")
    return text


def choice(prop: str, value: Any, choices: tuple[str, ...]) -> str:
    text = parse_str(prop, value)
    if text.lower() not in choices:
        raise OptionError(prop, f"{prop} must be one of {', '.join(choices)}, got {value!r}")
    return text.lower()


def _sip_headers(prop: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 5:
        raise OptionError(prop, f"{prop} must be an object of at most 5 X- headers")
    for name, header in value.items():
        ok = name.lower().startswith("x-") and isinstance(header, str)
        if not ok or max(len(name), len(header)) > 256:
            raise OptionError(
                prop, f"{prop} entries must be X-… names with string values of at most 256 characters"
            )
    return dict(value)


CALL_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "from": _number,
    "to": _number,
    "callTimeout": lambda p, v: ranged_int(p, v, 1, 300),
    "callbackUrl": lambda p, v: _url("call", p, v),
    "callbackTimeout": lambda p, v: ranged_int(p, v, 1, 10_000),
    "callbackHttpMethod": _method,
    "fallbackUrl": lambda p, v: _url("call", p, v),
    "tag": lambda p, v: _short_str(p, v, 256),
    "bridgeId": parse_str,
    "conferenceId": parse_str,
    "recordingEnabled": parse_bool,
    "recordingMaxDuration": lambda p, v: ranged_int(p, v, 1, 14_400),
    "recordingFileFormat": lambda p, v: choice(p, v, ("wav", "mp3")),
    "transcriptionEnabled": parse_bool,
    "sipHeaders": _sip_headers,
}


def _short_str(prop: str, value: Any, limit: int) -> str:
    text = parse_str(prop, value)
    if len(text) > limit:
        raise OptionError(prop, f"{prop} must be at most {limit} characters, got {len(text)}")
    return text


def parse_fields(
    resource: str, body: dict[str, Any], known: dict[str, Callable[[str, Any], Any]],
    required: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Check every field of ``body`` in a fixed order; the first bad one is named in the 400."""
    for name in required:
        if body.get(name) is None:
            raise ApiError(
                400, "bad-request", "missing-property",
                f"The '{resource}' resource property '{name}' is required but was not specified",
                property=name,
            )
    for name in body:
        if name not in known:
            raise validation_error(
                resource, name, f"unknown property; the known ones are {', '.join(known)}"
            )
    out: dict[str, Any] = {}
    for name, check in known.items():
        value = body.get(name)
        if value is None:
            continue
        try:
            out[name] = check(name, value)
        except OptionError as exc:
            raise validation_error(resource, exc.prop, str(exc)) from None
    return out


def _audio_check(check: Callable[[Any], str]) -> Callable[[str, Any], str]:
    """A gather-prompt check for the /audio request, which has the same field at its top level."""

    def checked(prop: str, value: Any) -> str:
        try:
            return check(value)
        except OptionError as exc:  # the shared check says "prompt.voice"; /audio calls it "voice"
            raise OptionError(prop, str(exc).replace(f"prompt.{prop}", prop)) from None

    return checked


AUDIO_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "sentence": _audio_check(check_sentence),
    "fileUrl": parse_str,
    "gender": _audio_check(check_gender),
    "locale": _audio_check(check_locale),
    "voice": _audio_check(check_voice),
    "loopEnabled": parse_bool,
    "tag": parse_str,
    "volume": lambda p, v: ranged_int(p, v, -4, 4),
}
UPDATE_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "state": lambda p, v: choice(p, v, ("active", "rejected", "completed", "transferring")),
    "recordingEnabled": parse_bool,
    "recordingFileFormat": lambda p, v: choice(p, v, ("wav", "mp3")),
    "transferTo": _number,
    "transferCallerId": lambda p, v: "private" if parse_str(p, v) == "private" else _number(p, v),
    "whisperAudio": lambda p, v: v,
    "callbackUrl": lambda p, v: _url("call", p, v),
    "diversionTreatment": parse_str,
    "diversionReason": parse_str,
}
INCOMING_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "from": _number,
    "to": _number,
    "callbackUrl": lambda p, v: _url("incoming", p, v),
    "callbackTimeout": lambda p, v: ranged_int(p, v, 1, 10_000),
    "callbackHttpMethod": _method,
    "fallbackUrl": lambda p, v: _url("incoming", p, v),
}
PRESS_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "digits": lambda p, v: _keys(p, v),
    "gap": lambda p, v: _gap(p, v),
    "at": lambda p, v: _moments(p, v),
}
#: ``POST /_sim/calls/{callId}/hangup`` takes no body, or ``{"at": timestamp}``.
HANGUP_FIELDS: dict[str, Callable[[str, Any], Any]] = {"at": lambda p, v: _moment(p, v)}


def _moment(prop: str, value: Any) -> str:
    """An ISO-8601 timestamp on the simulator's clock (as its events' ``time``)."""
    text = parse_str(prop, value)
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OptionError(
            prop, f"{prop} must be an ISO-8601 time such as an event's time field, got {text!r}"
        ) from None
    return text


def _moments(prop: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PRESS_KEYS:
        raise OptionError(prop, f"{prop} must be a list of 1 to {MAX_PRESS_KEYS} timestamps, one per key")
    return [_moment(prop, item) for item in value]


def _keys(prop: str, value: Any) -> str:
    text = parse_str(prop, value).upper()
    if not text or len(text) > MAX_PRESS_KEYS or any(ch not in DTMF_KEYS for ch in text):
        raise OptionError(prop, f"{prop} must be 1 to {MAX_PRESS_KEYS} keys from 0-9 * # A-D, got {value!r}")
    return text


def _gap(prop: str, value: Any) -> float:
    number = parse_number(prop, value)
    if not 0 <= number <= 60:
        raise OptionError(prop, f"{prop} must be between 0 and 60 seconds, got {number:g}")
    return float(number)


async def read_body(request: web.Request, resource: str) -> dict[str, Any]:
    """The request's JSON object; a clear 400 for anything else."""
    try:
        raw = await request.read()
    except RequestPayloadError:  # a Content-Encoding the body does not match, a broken chunk
        raise ApiError(
            400, "bad-request", "validation-error",
            f"The '{resource}' request body could not be read (does it match its Content-Encoding?)",
            property="body",
        ) from None
    if not raw.strip():
        raise ApiError(
            400, "bad-request", "validation-error",
            f"The '{resource}' request needs a JSON object body", property="body",
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "bad-request", "validation-error",
            f"The '{resource}' request body is not valid JSON: {exc}", property="body",
        ) from None
    except RecursionError:
        raise ApiError(
            400, "bad-request", "validation-error",
            f"The '{resource}' request body is JSON nested too deeply", property="body",
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            400, "bad-request", "validation-error",
            f"The '{resource}' request body must be a JSON object, got a JSON {type(data).__name__}",
            property="body",
        )
    return data
