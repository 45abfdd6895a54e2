"""The simulator's HTTP side: the v1 routes, the ``/_sim`` virtual phone, and the timers that drive calls.

Everything runs on one asyncio loop, so the state below is touched by one task at a time and needs no
locks. The gather and call rules live in :mod:`catapult_nb.engine`; this module turns HTTP
requests into engine inputs and engine effects into callback events.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hmac
import json
import logging
import math
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from catapult_nb.engine import (
    COMPLETED,
    DTMF,
    PROMPT_STARTED,
    PROMPT_STOPPED,
    CallMachine,
    CallStateError,
    DuplicateGatherError,
    Effect,
    GatherMachine,
    GatherSpec,
    prompt_duration,
)
from catapult_nb.options import (
    DTMF_KEYS,
    GatherOptions,
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
from catapult_nb.simulator.clock import SimClock
from catapult_nb.simulator.delivery import CallbackTarget, Deliverer

__all__ = ["ApiError", "SimConfig", "SimulatorState", "create_app"]

log = logging.getLogger(__name__)

ANSWER_DELAY = 1.0  # API seconds before an outbound call is answered (or found busy / rejected)
INBOUND_RING_SECONDS = 60.0  # an unanswered inbound call is given up by the caller after this
DEFAULT_GAP = 0.25  # API seconds between virtual-phone key presses
MAX_PRESS_KEYS = 100
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DTMF_OUT = re.compile(r"^[A-D0-9#*,wW]{1,92}$")


@dataclass(frozen=True)
class SimConfig:
    """How one simulator behaves; the secret stays out of the repr."""

    speed: float = 1.0
    user_id: str = "u-simulator"
    api_token: str = "t-simulator"
    api_secret: str = field(default="simulator-secret", repr=False)
    callback_retries: int = 0


class ApiError(Exception):
    """A client mistake or refused action, answered with the v1 error body."""

    def __init__(self, status: int, category: str, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.code = code
        self.message = message
        self.details = details


def new_id(prefix: str) -> str:
    return prefix + "-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(23))


def validation_error(resource: str, prop: str, message: str) -> ApiError:
    return ApiError(
        400, "bad-request", "validation-error",
        f"The '{resource}' resource property '{prop}' is invalid: {message}", property=prop,
    )


# --------------------------------------------------------------------------------------------------
# Resources


@dataclass(eq=False)
class Gather:
    id: str
    machine: GatherMachine
    created: float
    tag: str | None
    timer: asyncio.TimerHandle | None = None

    def to_json(self, clock: SimClock, call_url: str) -> dict[str, Any]:
        machine = self.machine
        body: dict[str, Any] = {
            "id": self.id,
            "state": "completed" if machine.done else "started",
            "createdTime": clock.iso(self.created),
            "call": call_url,
            "digits": machine.digits,
        }
        if machine.reason:
            body["reason"] = machine.reason
        if machine.completed_at is not None:
            body["completedTime"] = clock.iso(machine.completed_at)
        if self.tag is not None:
            body["tag"] = self.tag
        return body


@dataclass(eq=False)
class Audio:
    kind: str  # "speak" or "playback"
    tag: str | None
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class Call:
    machine: CallMachine
    user_id: str
    uri: str  # absolute URL of the call resource, as events and gathers show it
    from_: str
    to: str
    target: CallbackTarget
    created: float
    call_timeout: int = 60
    tag: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # recording and bridge fields, echoed back
    active_at: float | None = None
    ended_at: float | None = None
    cause: str | None = None
    gathers: dict[str, Gather] = field(default_factory=dict)
    audio: Audio | None = None
    timers: set[asyncio.TimerHandle] = field(default_factory=set)
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.machine.call_id

    @property
    def running_gather(self) -> Gather | None:
        gather = self.machine.gather
        if gather is None or gather.done:
            return None
        return next(g for g in self.gathers.values() if g.machine is gather)

    def to_json(self, clock: SimClock) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "direction": self.machine.direction,
            "from": self.from_,
            "to": self.to,
            "state": self.machine.state,
            "startTime": clock.iso(self.created),
            "callTimeout": self.call_timeout,
            "callbackUrl": self.target.url,
            "callbackHttpMethod": self.target.method,
            "callbackTimeout": self.target.timeout_ms,
            "events": f"{self.uri}/events",
            "recordings": f"{self.uri}/recordings",
            "transcriptions": f"{self.uri}/transcriptions",
            "recordingEnabled": False,
            "recordingFileFormat": "wav",
            "transcriptionEnabled": False,
        }
        body.update(self.extra)
        if self.target.fallback_url:
            body["fallbackUrl"] = self.target.fallback_url
        if self.tag is not None:
            body["tag"] = self.tag
        if self.active_at is not None:
            body["activeTime"] = clock.iso(self.active_at)
        if self.ended_at is not None:
            body["endTime"] = clock.iso(self.ended_at)
            talked = self.ended_at - self.active_at if self.active_at is not None else 0.0
            body["chargeableDuration"] = math.ceil(talked)
        return body


# --------------------------------------------------------------------------------------------------
# Field parsing for calls (gathers reuse GatherOptions.from_wire)


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


def _ranged_int(prop: str, value: Any, low: int, high: int) -> int:
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


def _choice(prop: str, value: Any, choices: tuple[str, ...]) -> str:
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
    "callTimeout": lambda p, v: _ranged_int(p, v, 1, 300),
    "callbackUrl": lambda p, v: _url("call", p, v),
    "callbackTimeout": lambda p, v: _ranged_int(p, v, 1, 10_000),
    "callbackHttpMethod": _method,
    "fallbackUrl": lambda p, v: _url("call", p, v),
    "tag": lambda p, v: _short_str(p, v, 256),
    "bridgeId": parse_str,
    "conferenceId": parse_str,
    "recordingEnabled": parse_bool,
    "recordingMaxDuration": lambda p, v: _ranged_int(p, v, 1, 14_400),
    "recordingFileFormat": lambda p, v: _choice(p, v, ("wav", "mp3")),
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
    "volume": lambda p, v: _ranged_int(p, v, -4, 4),
}
UPDATE_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "state": lambda p, v: _choice(p, v, ("active", "rejected", "completed", "transferring")),
    "recordingEnabled": parse_bool,
    "recordingFileFormat": lambda p, v: _choice(p, v, ("wav", "mp3")),
    "transferTo": parse_str,
    "transferCallerId": parse_str,
    "whisperAudio": lambda p, v: v,
    "callbackUrl": lambda p, v: _url("call", p, v),
    "diversionTreatment": parse_str,
    "diversionReason": parse_str,
}
INCOMING_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "from": _number,
    "to": _number,
    "callbackUrl": lambda p, v: _url("incoming", p, v),
    "callbackTimeout": lambda p, v: _ranged_int(p, v, 1, 10_000),
    "callbackHttpMethod": _method,
    "fallbackUrl": lambda p, v: _url("incoming", p, v),
}
PRESS_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "digits": lambda p, v: _keys(p, v),
    "gap": lambda p, v: _gap(p, v),
}


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


# --------------------------------------------------------------------------------------------------
# The simulator's state and behaviour


class SimulatorState:
    """All calls of one simulator, and what happens to them over time."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.deliverer = Deliverer(clock, retries=config.callback_retries)
        self.calls: dict[str, Call] = {}
        # Wall seconds by which each gather timer ran after its deadline (for the timer benchmark).
        self.timer_lateness: collections.deque[float] = collections.deque(maxlen=100_000)

    # -- events --------------------------------------------------------------------------------------

    def emit(self, call: Call, event_type: str, at: float | None = None, **fields: Any) -> None:
        at = self.clock.now() if at is None else at
        event: dict[str, Any] = {"eventType": event_type, "callId": call.id}
        if event_type != "gather":
            event["callUri"] = call.uri
        event["time"] = self.clock.iso(at)
        event.update({k: v for k, v in fields.items() if v is not None})
        call.log.append({
            "id": new_id("ce"), "time": event["time"], "name": event_type,
            "data": {k: v for k, v in event.items() if k not in ("eventType", "callId", "callUri", "time")},
        })
        self.deliverer.send(call.id, call.target, event)

    def call_event(self, call: Call, event_type: str, at: float | None = None, **fields: Any) -> None:
        self.emit(call, event_type, at, **{"from": call.from_, "to": call.to}, **fields, tag=call.tag)

    def timer(self, call: Call, delay: float, action: Callable[[], None]) -> None:
        handle: asyncio.TimerHandle

        def fire() -> None:
            call.timers.discard(handle)
            action()

        handle = self.clock.call_later(delay, fire)
        call.timers.add(handle)

    # -- call life -----------------------------------------------------------------------------------

    def new_call(self, direction: str, uri_base: str, fields: dict[str, Any]) -> Call:
        call_id = new_id("c")
        target = CallbackTarget(
            url=fields.get("callbackUrl"),
            method=fields.get("callbackHttpMethod", "POST"),
            timeout_ms=fields.get("callbackTimeout", 10_000),
            fallback_url=fields.get("fallbackUrl"),
        )
        extra = {k: fields[k] for k in (
            "bridgeId", "conferenceId", "recordingEnabled", "recordingMaxDuration", "recordingFileFormat",
            "transcriptionEnabled", "sipHeaders",
        ) if k in fields}
        call = Call(
            machine=CallMachine(call_id, direction), user_id=self.config.user_id,
            uri=f"{uri_base}/v1/users/{self.config.user_id}/calls/{call_id}",
            from_=fields["from"], to=fields["to"], target=target, created=self.clock.now(),
            call_timeout=fields.get("callTimeout", 60), tag=fields.get("tag"), extra=extra,
        )
        self.calls[call_id] = call
        return call

    def dial(self, call: Call) -> None:
        """What the far end of an outbound call does, chosen by the last digits of ``to``."""
        if call.to.endswith("0001"):
            self.timer(
                call, call.call_timeout, lambda: self.end_call(call, "completed", "NO_ANSWER", "timeout")
            )
        elif call.to.endswith("0002"):
            self.timer(call, ANSWER_DELAY, lambda: self.end_call(call, "completed", "USER_BUSY"))
        elif call.to.endswith("0003"):
            self.timer(call, ANSWER_DELAY, lambda: self.end_call(call, "rejected", "CALL_REJECTED"))
        else:
            self.timer(call, ANSWER_DELAY, lambda: self.answer(call))

    def ring(self, call: Call) -> None:
        """An inbound call: tell the application, and give up if nobody answers."""
        self.call_event(call, "incomingcall", callState="active", applicationId="a-simulator")
        self.timer(call, INBOUND_RING_SECONDS, lambda: self.end_call(call, "completed", "ORIGINATOR_CANCEL"))

    def answer(self, call: Call) -> None:
        call.machine.answer()
        self.cancel_timers(call)
        call.active_at = self.clock.now()
        self.call_event(call, "answer", call.active_at, callState="active")

    def cancel_timers(self, call: Call) -> None:
        for handle in call.timers:
            handle.cancel()
        call.timers.clear()

    def end_call(
        self, call: Call, state: str, cause: str, event_type: str = "hangup",
        transition: Callable[[], None] | None = None,
    ) -> None:
        """End the call; a running gather completes first with ``hung-up``.

        ``transition`` replaces the plain end of the call machine (rejecting checks more); it raises
        CallStateError before anything has changed.
        """
        if transition is not None:
            transition()
        elif call.machine.ended:
            return
        else:
            call.machine.end(state)
        now = self.clock.now()
        gather = call.running_gather
        if gather is not None:
            self.apply(call, gather, gather.machine.hang_up(now))
        self.stop_audio(call, now)
        self.cancel_timers(call)
        call.ended_at = now
        call.cause = cause
        if event_type == "timeout":
            self.call_event(call, "timeout", now)
        else:
            self.call_event(call, "hangup", now, cause=cause, callState="completed")
        self.deliverer.finish(call.id)

    # -- keys and gathers ----------------------------------------------------------------------------

    def press_keys(self, call: Call, keys: str, gap: float) -> None:
        """Press ``keys`` one by one, ``gap`` API seconds apart; each schedules the next, keeping order."""
        if call.machine.ended or not keys:
            return
        self.key(call, keys[0])
        if len(keys) > 1:
            self.timer(call, gap, lambda: self.press_keys(call, keys[1:], gap))

    def key(self, call: Call, key: str) -> None:
        now = self.clock.now()
        gather = call.running_gather
        if gather is None:
            self.emit(call, "dtmf", now, dtmfDigit=key, tag=call.tag)
            return
        self.apply(call, gather, gather.machine.press(key, now))

    def start_gather(self, call: Call, options: GatherOptions) -> Gather:
        now = self.clock.now()
        machine = call.machine.start_gather(GatherSpec.from_options(options), now)
        gather = Gather(new_id("gtr"), machine, now, options.tag)
        call.gathers[gather.id] = gather
        self.apply(call, gather, machine.initial_effects())
        return gather

    def stop_gather(self, call: Call, gather: Gather) -> None:
        self.apply(call, gather, gather.machine.stop(self.clock.now()))

    def apply(self, call: Call, gather: Gather, effects: list[Effect]) -> None:
        """Turn engine effects into events, then re-arm the gather's timer."""
        kind = gather.machine.spec.prompt_kind
        for effect in effects:
            if effect.kind == PROMPT_STARTED:
                self.audio_event(call, kind, "started", effect.time, gather.tag)
            elif effect.kind == PROMPT_STOPPED:
                self.audio_event(call, kind, "done", effect.time, gather.tag)
            elif effect.kind == DTMF:
                self.emit(call, "dtmf", effect.time, dtmfDigit=effect.key, tag=call.tag)
            elif effect.kind == COMPLETED:
                self.emit(
                    call, "gather", effect.time, gatherId=gather.id, state="completed",
                    reason=effect.reason, digits=effect.digits, tag=gather.tag,
                )
        if gather.timer is not None:
            gather.timer.cancel()
            call.timers.discard(gather.timer)
            gather.timer = None
        deadline = gather.machine.deadline()
        if deadline is not None:
            handle = self.clock.call_at(deadline, lambda: self._gather_due(call, gather, deadline))
            gather.timer = handle
            call.timers.add(handle)

    def _gather_due(self, call: Call, gather: Gather, deadline: float) -> None:
        if gather.timer is not None:
            call.timers.discard(gather.timer)
            gather.timer = None
        now = self.clock.now()
        self.timer_lateness.append(self.clock.to_wall(now - deadline))
        # The loop may run a timer a hair early; the engine's own deadline is the authority.
        self.apply(call, gather, gather.machine.on_deadline(max(now, deadline)))

    # -- audio ---------------------------------------------------------------------------------------

    def audio_event(self, call: Call, kind: str, status: str, at: float, tag: str | None) -> None:
        if kind == "speak":
            state = "PLAYBACK_START" if status == "started" else "PLAYBACK_STOP"
            self.emit(call, "speak", at, status=status, state=state, tag=tag)
        else:
            self.emit(call, "playback", at, status=status, tag=tag)

    def play(self, call: Call, fields: dict[str, Any]) -> None:
        now = self.clock.now()
        sentence, file_url = fields.get("sentence"), fields.get("fileUrl")
        if sentence == "" or file_url == "":  # an empty value stops what is playing
            kind = "speak" if sentence == "" else "playback"
            if call.audio is None or call.audio.kind != kind:
                raise ApiError(
                    403, "authorization", "call-audio-invalid-state",
                    f"Call {call.id} has no {'sentence' if kind == 'speak' else 'file'} playing to stop",
                    callId=call.id,
                )
            self.stop_audio(call, now)
            return
        if not sentence and not file_url:
            raise validation_error("audio", "sentence", "give a sentence to speak or a fileUrl to play")
        self.stop_audio(call, now)
        kind = "speak" if sentence else "playback"
        audio = call.audio = Audio(kind, fields.get("tag"))
        self.audio_event(call, kind, "started", now, audio.tag)
        if not fields.get("loopEnabled"):
            seconds = prompt_duration(sentence, file_url)

            def done() -> None:
                call.timers.discard(handle)
                if call.audio is audio:
                    call.audio = None
                    self.audio_event(call, kind, "done", self.clock.now(), audio.tag)

            handle = self.clock.call_later(seconds, done)
            audio.timer = handle
            call.timers.add(handle)

    def stop_audio(self, call: Call, now: float) -> None:
        audio = call.audio
        if audio is None:
            return
        call.audio = None
        if audio.timer is not None:
            audio.timer.cancel()
            call.timers.discard(audio.timer)
        self.audio_event(call, audio.kind, "done", now, audio.tag)


# --------------------------------------------------------------------------------------------------
# HTTP


def error_response(error: ApiError, request: web.Request) -> web.Response:
    details = [{"name": name, "value": str(value)} for name, value in error.details.items()]
    details += [
        {"name": "requestMethod", "value": request.method},
        {"name": "requestPath", "value": request.path.lstrip("/")},
    ]
    body = {"category": error.category, "code": error.code, "message": error.message, "details": details}
    return web.json_response(body, status=error.status)


HTTP_ERRORS = {
    404: ("not-found", "resource-not-found", "There is no resource at {path}; see the simulator's routes"),
    405: ("bad-request", "method-not-allowed", "{method} is not allowed on {path}"),
    413: ("bad-request", "request-too-large", "The request body is too large"),
}


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        category, code, template = HTTP_ERRORS.get(
            exc.status, ("bad-request", "bad-request", "The request could not be handled: " + exc.reason)
        )
        message = template.format(method=request.method, path=request.path)
        return error_response(ApiError(exc.status, category, code, message), request)
    except Exception:  # a bug, not a client mistake: log it, answer 500 with the usual body
        log.exception("simulator failed on %s %s", request.method, request.path)
        error = ApiError(500, "unavailable", "internal-error", "The simulator failed; see its log")
        return error_response(error, request)


def _auth_middleware(config: SimConfig) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = f"{config.api_token}:{config.api_secret}".encode()

    @web.middleware
    async def auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        given = b""
        if header[:6].lower() == "basic ":
            try:
                given = base64.b64decode(header[6:].strip(), validate=True)
            except (binascii.Error, ValueError):
                given = b""
        if not hmac.compare_digest(given, expected):
            raise ApiError(
                401, "authentication", "unauthorized",
                "Invalid or missing credentials: use HTTP Basic auth with the API token as user name "
                "and the API secret as password",
            )
        user = request.match_info.get("userId")
        if user is not None and user != config.user_id:
            raise ApiError(
                403, "authorization", "user-access-denied",
                f"User {config.user_id} does not have permission to access user {user}", userId=user,
            )
        return await handler(request)

    return auth


async def read_body(request: web.Request, resource: str) -> dict[str, Any]:
    """The request's JSON object; a clear 400 for anything else."""
    raw = await request.read()
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


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


class Routes:
    """The request handlers, over one :class:`SimulatorState`."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def call(self, request: web.Request) -> Call:
        call_id = request.match_info["callId"]
        call = self.state.calls.get(call_id)
        if call is None:
            raise ApiError(
                404, "not-found", "call-not-found", f"The call {call_id} could not be found", callId=call_id
            )
        return call

    def gather(self, request: web.Request, call: Call) -> Gather:
        gather_id = request.match_info["gatherId"]
        gather = call.gathers.get(gather_id)
        if gather is None:
            raise ApiError(
                404, "not-found", "resource-not-found",
                f"The gather {gather_id} could not be found on call {call.id}", gatherId=gather_id,
            )
        return gather

    @staticmethod
    def created(location: str, body: Any = None) -> web.Response:
        if body is None:
            return web.Response(status=201, headers={"Location": location})
        return web.json_response(body, status=201, headers={"Location": location})

    @staticmethod
    def invalid_state(exc: CallStateError) -> ApiError:
        return ApiError(403, "authorization", "call-invalid-state", str(exc), callId=exc.call_id)

    # -- calls ---------------------------------------------------------------------------------------

    async def list_calls(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            page = _ranged_int("page", query.get("page", "0"), 0, 1_000_000)
            size = _ranged_int("size", query.get("size", "25"), 1, 1000)
            order = _choice("sortOrder", query.get("sortOrder", "desc"), ("asc", "desc"))
        except OptionError as exc:
            raise validation_error("call", exc.prop, str(exc)) from None
        calls = [
            c for c in self.state.calls.values()
            if all(
                query.get(k) in (None, v)
                for k, v in (
                    ("from", c.from_), ("to", c.to),
                    ("bridgeId", c.extra.get("bridgeId")), ("conferenceId", c.extra.get("conferenceId")),
                )
            )
        ]
        if order == "desc":  # the dict keeps creation order, so ties in `created` stay ordered too
            calls.reverse()
        chosen = calls[page * size:(page + 1) * size]
        return web.json_response([c.to_json(self.state.clock) for c in chosen])

    async def create_call(self, request: web.Request) -> web.Response:
        fields = parse_fields("call", await read_body(request, "call"), CALL_FIELDS, required=("from", "to"))
        call = self.state.new_call("out", _origin(request), fields)
        self.state.dial(call)
        return self.created(call.uri)

    async def get_call(self, request: web.Request) -> web.Response:
        return web.json_response(self.call(request).to_json(self.state.clock))

    async def update_call(self, request: web.Request) -> web.Response:
        call = self.call(request)
        fields = parse_fields("call", await read_body(request, "call"), UPDATE_FIELDS)
        target = fields.get("state")
        if target == "transferring":
            raise validation_error("call", "state", "the simulator does not support transfers")
        try:
            if target == "active":
                if call.machine.direction != "in":  # the far end answers outbound calls, not the app
                    raise CallStateError(call.id, call.machine.state, "answer")
                self.state.answer(call)
            elif target == "rejected":
                self.state.end_call(call, "rejected", "CALL_REJECTED", transition=call.machine.reject)
            elif target == "completed":
                if call.machine.ended:
                    raise CallStateError(call.id, call.machine.state, "hang up")
                cause = "NORMAL_CLEARING" if call.machine.state == "active" else "ORIGINATOR_CANCEL"
                self.state.end_call(call, "completed", cause)
        except CallStateError as exc:
            raise self.invalid_state(exc) from None
        for key in ("recordingEnabled", "recordingFileFormat"):
            if key in fields:
                call.extra[key] = fields[key]
        return web.Response(status=200)

    async def audio(self, request: web.Request) -> web.Response:
        call = self.call(request)
        fields = parse_fields("audio", await read_body(request, "audio"), AUDIO_FIELDS)
        try:
            call.machine.check_active("play audio on")
        except CallStateError as exc:
            raise self.invalid_state(exc) from None
        self.state.play(call, fields)
        return web.Response(status=200)

    async def dtmf(self, request: web.Request) -> web.Response:
        call = self.call(request)
        body = await read_body(request, "dtmf")
        fields = parse_fields("dtmf", body, {"dtmfOut": parse_str}, required=("dtmfOut",))
        if not DTMF_OUT.match(fields["dtmfOut"]):
            raise validation_error(
                "dtmf", "dtmfOut", "must be 1 to 92 characters from 0-9 * # A-D , w W, got "
                f"{fields['dtmfOut']!r}",
            )
        try:
            call.machine.check_active("send DTMF on")
        except CallStateError as exc:
            raise self.invalid_state(exc) from None
        call.log.append({
            "id": new_id("ce"), "time": self.state.clock.iso(), "name": "dtmfOut",
            "data": {"dtmfOut": fields["dtmfOut"]},
        })
        return web.Response(status=200)

    async def events(self, request: web.Request) -> web.Response:
        return web.json_response(self.call(request).log)

    async def event(self, request: web.Request) -> web.Response:
        call = self.call(request)
        event_id = request.match_info["eventId"]
        for entry in call.log:
            if entry["id"] == event_id:
                return web.json_response(entry)
        raise ApiError(
            404, "not-found", "resource-not-found",
            f"The event {event_id} could not be found on call {call.id}", eventId=event_id,
        )

    async def empty_list(self, request: web.Request) -> web.Response:
        self.call(request)
        return web.json_response([])

    # -- gathers -------------------------------------------------------------------------------------

    async def create_gather(self, request: web.Request) -> web.Response:
        call = self.call(request)
        body = await read_body(request, "gather")
        try:
            options = GatherOptions.from_wire(body)
        except OptionError as exc:
            raise validation_error("gather", exc.prop, str(exc)) from None
        try:
            gather = self.state.start_gather(call, options)
        except CallStateError as exc:
            raise self.invalid_state(exc) from None
        except DuplicateGatherError as exc:
            raise ApiError(409, "conflict", "call-duplicate-gather-error", str(exc), callId=call.id) from None
        return self.created(f"{call.uri}/gather/{gather.id}")

    async def get_gather(self, request: web.Request) -> web.Response:
        call = self.call(request)
        gather = self.gather(request, call)
        return web.json_response(gather.to_json(self.state.clock, call.uri))

    async def update_gather(self, request: web.Request) -> web.Response:
        call = self.call(request)
        gather = self.gather(request, call)
        body = await read_body(request, "gather")
        fields = parse_fields(
            "gather", body, {"state": lambda p, v: _choice(p, v, ("completed",))}, required=("state",)
        )
        assert fields["state"] == "completed"
        self.state.stop_gather(call, gather)
        return web.Response(status=200)

    # -- the virtual phone ---------------------------------------------------------------------------

    def live_call(self, request: web.Request, action: str) -> Call:
        call = self.call(request)
        if call.machine.ended:
            raise self.invalid_state(CallStateError(call.id, call.machine.state, action))
        return call

    async def sim_press(self, request: web.Request) -> web.Response:
        call = self.call(request)
        fields = parse_fields("press", await read_body(request, "press"), PRESS_FIELDS, required=("digits",))
        if call.machine.state != "active":
            raise self.invalid_state(CallStateError(call.id, call.machine.state, "press keys on"))
        self.state.press_keys(call, fields["digits"], fields.get("gap", DEFAULT_GAP))
        return web.json_response({"callId": call.id, "digits": fields["digits"]}, status=202)

    async def sim_hangup(self, request: web.Request) -> web.Response:
        call = self.live_call(request, "hang up")
        cause = "NORMAL_CLEARING" if call.machine.state == "active" else "ORIGINATOR_CANCEL"
        self.state.end_call(call, "completed", cause)
        return web.json_response({"callId": call.id, "cause": cause}, status=202)

    async def sim_incoming(self, request: web.Request) -> web.Response:
        fields = parse_fields(
            "incoming", await read_body(request, "incoming"), INCOMING_FIELDS,
            required=("from", "to", "callbackUrl"),
        )
        call = self.state.new_call("in", _origin(request), fields)
        self.state.ring(call)
        return self.created(call.uri, {"callId": call.id})

    async def sim_deliveries(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.deliverer.deliveries(request.query.get("callId")))

    async def sim_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "speed": self.state.config.speed})


#: Where the app keeps its :class:`SimulatorState` once started.
STATE_KEY = web.AppKey("state", SimulatorState)


def create_app(config: SimConfig) -> web.Application:
    """The aiohttp application; the clock and callback sender start with the app's loop."""
    middlewares = [errors_middleware, _auth_middleware(config)]
    app = web.Application(middlewares=middlewares, client_max_size=1024**2)
    holder: dict[str, Routes] = {}

    async def on_startup(app: web.Application) -> None:
        state = SimulatorState(config, SimClock(asyncio.get_running_loop(), config.speed))
        await state.deliverer.start()
        app[STATE_KEY] = state
        holder["routes"] = Routes(state)

    async def on_cleanup(app: web.Application) -> None:
        state = app[STATE_KEY]
        for call in state.calls.values():
            state.cancel_timers(call)
        await state.deliverer.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)

    def route(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await getattr(holder["routes"], name)(request)

        return handler

    calls = "/v1/users/{userId}/calls"
    call = calls + "/{callId}"
    app.router.add_get(calls, route("list_calls"))
    app.router.add_post(calls, route("create_call"))
    app.router.add_get(call, route("get_call"))
    app.router.add_post(call, route("update_call"))
    app.router.add_post(call + "/audio", route("audio"))
    app.router.add_post(call + "/dtmf", route("dtmf"))
    app.router.add_get(call + "/events", route("events"))
    app.router.add_get(call + "/events/{eventId}", route("event"))
    app.router.add_get(call + "/recordings", route("empty_list"))
    app.router.add_get(call + "/transcriptions", route("empty_list"))
    app.router.add_post(call + "/gather", route("create_gather"))
    app.router.add_get(call + "/gather/{gatherId}", route("get_gather"))
    app.router.add_post(call + "/gather/{gatherId}", route("update_gather"))
    app.router.add_post("/_sim/calls/{callId}/press", route("sim_press"))
    app.router.add_post("/_sim/calls/{callId}/hangup", route("sim_hangup"))
    app.router.add_post("/_sim/incoming", route("sim_incoming"))
    app.router.add_get("/_sim/deliveries", route("sim_deliveries"))
    app.router.add_get("/_sim/health", route("sim_health"))
    return app
