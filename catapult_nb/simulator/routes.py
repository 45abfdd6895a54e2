"""The simulator's routes: the v1 API and the ``/_sim`` virtual phone, as one route table (the v2 API's
are in :mod:`~catapult_nb.simulator.v2_routes`; the phone serves calls of both dialects).

Handlers are plain functions registered once in :data:`routes`; each reaches the simulator's state
through ``request.app[STATE_KEY]``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from catapult_nb.engine import CallStateError, DuplicateGatherError
from catapult_nb.options import GatherOptions, OptionError, parse_str
from catapult_nb.simulator.errors import ApiError, invalid_state, validation_error
from catapult_nb.simulator.resources import SimCall, SimGather, new_id
from catapult_nb.simulator.state import ENDED_CALL_HORIZON, STATE_KEY, audio_prompt
from catapult_nb.simulator.v2_routes import incoming as v2_incoming
from catapult_nb.simulator.validation import (
    AUDIO_FIELDS,
    CALL_FIELDS,
    DEFAULT_GAP,
    DTMF_OUT,
    HANGUP_FIELDS,
    INCOMING_FIELDS,
    PRESS_FIELDS,
    UPDATE_FIELDS,
    choice,
    parse_fields,
    ranged_int,
    read_body,
)

__all__ = ["routes"]

#: Every route of the simulator; :func:`~catapult_nb.simulator.app.create_app` adds them to its app.
routes = web.RouteTableDef()

CALLS = "/v1/users/{userId}/calls"
CALL = CALLS + "/{callId}"


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _call(request: web.Request) -> SimCall:
    call_id = request.match_info["callId"]
    state = request.app[STATE_KEY]
    call = state.calls.get(call_id)
    if call is not None and call.driver is not None and request.path.startswith("/v1/"):
        call = None  # a v2 call is not a v1 resource
    if call is None:
        raise ApiError(
            404, "not-found", "call-not-found",
            f"The call {call_id} could not be found (the simulator forgets an ended call after "
            f"{ENDED_CALL_HORIZON:g} API seconds, or once {state.config.keep_ended_calls} newer calls "
            "have ended)",
            callId=call_id,
        )
    return call


def _gather(request: web.Request, call: SimCall) -> SimGather:
    gather_id = request.match_info["gatherId"]
    gather = call.gathers.get(gather_id)
    if gather is None:
        raise ApiError(
            404, "not-found", "resource-not-found",
            f"The gather {gather_id} could not be found on call {call.id}", gatherId=gather_id,
        )
    return gather


def _created(location: str, body: Any = None) -> web.Response:
    if body is None:
        return web.Response(status=201, headers={"Location": location})
    return web.json_response(body, status=201, headers={"Location": location})


# -- calls ---------------------------------------------------------------------------------------

@routes.get(CALLS)
async def list_calls(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    query = request.query
    try:
        page = ranged_int("page", query.get("page", "0"), 0, 1_000_000)
        size = ranged_int("size", query.get("size", "25"), 1, 1000)
        order = choice("sortOrder", query.get("sortOrder", "desc"), ("asc", "desc"))
    except OptionError as exc:
        raise validation_error("call", exc.prop, str(exc)) from None
    calls = [
        c for c in state.calls.values()
        if c.driver is None and all(
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
    return web.json_response([c.to_json(state.clock) for c in chosen])


@routes.post(CALLS)
async def create_call(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    fields = parse_fields("call", await read_body(request, "call"), CALL_FIELDS, required=("from", "to"))
    call = state.new_call("out", _origin(request), fields)
    state.dial(call)
    return _created(call.uri)


@routes.get(CALL)
async def get_call(request: web.Request) -> web.Response:
    return web.json_response(_call(request).to_json(request.app[STATE_KEY].clock))


@routes.post(CALL)
async def update_call(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    call = _call(request)
    fields = parse_fields("call", await read_body(request, "call"), UPDATE_FIELDS)
    target = fields.get("state")
    try:
        if target == "transferring":
            if "transferTo" not in fields:
                raise ApiError(
                    400, "bad-request", "missing-property",
                    "The 'call' resource property 'transferTo' is required but was not specified",
                    property="transferTo",
                )
            return _created(state.transfer(call, fields, _origin(request)).uri)
        if target == "active":
            if call.machine.direction != "in":  # the far end answers outbound calls, not the app
                raise CallStateError(call.id, call.machine.state, "answer")
            state.answer(call)
        elif target == "rejected":
            state.end_call(call, "rejected", "CALL_REJECTED", transition=call.machine.reject)
        elif target == "completed":
            if call.machine.ended:
                raise CallStateError(call.id, call.machine.state, "hang up")
            cause = "NORMAL_CLEARING" if call.machine.state == "active" else "ORIGINATOR_CANCEL"
            state.end_call(call, "completed", cause)
    except CallStateError as exc:
        raise invalid_state(exc) from None
    for key in ("recordingEnabled", "recordingFileFormat"):
        if key in fields:
            call.extra[key] = fields[key]
    return web.Response(status=200)


@routes.post(CALL + "/audio")
async def audio(request: web.Request) -> web.Response:
    call = _call(request)
    fields = parse_fields("audio", await read_body(request, "audio"), AUDIO_FIELDS)
    try:
        call.machine.check_active("play audio on")
    except CallStateError as exc:
        raise invalid_state(exc) from None
    state = request.app[STATE_KEY]
    length = None
    if fields.get("sentence") or fields.get("fileUrl"):  # not a stop: render or fetch before playing
        length = await state.measure_prompt(call, audio_prompt(fields))
        try:
            call.machine.check_active("play audio on")  # again: the call may have ended meanwhile
        except CallStateError as exc:
            raise invalid_state(exc) from None
    state.play(call, fields, length)
    return web.Response(status=200)


@routes.post(CALL + "/dtmf")
async def dtmf(request: web.Request) -> web.Response:
    call = _call(request)
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
        raise invalid_state(exc) from None
    call.log.append({
        "id": new_id("ce"), "time": request.app[STATE_KEY].clock.iso(), "name": "dtmfOut",
        "data": {"dtmfOut": fields["dtmfOut"]},
    })
    return web.Response(status=200)


@routes.get(CALL + "/events")
async def events(request: web.Request) -> web.Response:
    return web.json_response(_call(request).log)


@routes.get(CALL + "/events/{eventId}")
async def event(request: web.Request) -> web.Response:
    call = _call(request)
    event_id = request.match_info["eventId"]
    for entry in call.log:
        if entry["id"] == event_id:
            return web.json_response(entry)
    raise ApiError(
        404, "not-found", "resource-not-found",
        f"The event {event_id} could not be found on call {call.id}", eventId=event_id,
    )


@routes.get(CALL + "/recordings")
@routes.get(CALL + "/transcriptions")
async def empty_list(request: web.Request) -> web.Response:
    _call(request)
    return web.json_response([])


# -- gathers -------------------------------------------------------------------------------------

@routes.post(CALL + "/gather")
async def create_gather(request: web.Request) -> web.Response:
    call = _call(request)
    body = await read_body(request, "gather")
    try:
        options = GatherOptions.from_wire(body)
    except OptionError as exc:
        raise validation_error("gather", exc.prop, str(exc)) from None
    state = request.app[STATE_KEY]
    length = None
    if call.machine.state == "active" and call.running_gather is None:  # else start_gather says why
        length = await state.measure_prompt(call, options.prompt)
    try:
        gather = state.start_gather(call, options, length)
    except CallStateError as exc:
        raise invalid_state(exc) from None
    except DuplicateGatherError as exc:
        raise ApiError(409, "conflict", "call-duplicate-gather-error", str(exc), callId=call.id) from None
    return _created(f"{call.uri}/gather/{gather.id}")


@routes.get(CALL + "/gather/{gatherId}")
async def get_gather(request: web.Request) -> web.Response:
    call = _call(request)
    gather = _gather(request, call)
    return web.json_response(gather.to_json(request.app[STATE_KEY].clock, call.uri))


@routes.post(CALL + "/gather/{gatherId}")
async def update_gather(request: web.Request) -> web.Response:
    call = _call(request)
    gather = _gather(request, call)
    body = await read_body(request, "gather")
    fields = parse_fields(
        "gather", body, {"state": lambda p, v: choice(p, v, ("completed",))}, required=("state",)
    )
    assert fields["state"] == "completed"
    request.app[STATE_KEY].stop_gather(call, gather)
    return web.Response(status=200)


# -- the virtual phone ---------------------------------------------------------------------------

def _live_call(request: web.Request, action: str) -> SimCall:
    call = _call(request)
    if call.machine.ended:
        raise invalid_state(CallStateError(call.id, call.machine.state, action))
    return call


@routes.post("/_sim/calls/{callId}/press")
async def sim_press(request: web.Request) -> web.Response:
    call = _call(request)
    fields = parse_fields("press", await read_body(request, "press"), PRESS_FIELDS, required=("digits",))
    if call.machine.state != "active":
        raise invalid_state(CallStateError(call.id, call.machine.state, "press keys on"))
    state = request.app[STATE_KEY]
    if "at" in fields:  # each key at its moment on the simulator's clock
        if "gap" in fields or len(fields["at"]) != len(fields["digits"]):
            raise validation_error("press", "at", "give one timestamp per key in digits, and no gap")
        state.press_at(call, fields["digits"], [state.clock.api_time(at) for at in fields["at"]])
    else:
        state.press_keys(call, fields["digits"], fields.get("gap", DEFAULT_GAP))
    return web.json_response({"callId": call.id, "digits": fields["digits"]}, status=202)


async def _hangup_moment(request: web.Request) -> dict[str, Any]:
    """``{"at": timestamp}`` when the body asks for a later hang-up; any other body is ignored, as ever."""
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError, RequestPayloadError):
        return {}
    if not isinstance(body, dict) or "at" not in body:
        return {}
    return parse_fields("hangup", {"at": body["at"]}, HANGUP_FIELDS)


@routes.post("/_sim/calls/{callId}/hangup")
async def sim_hangup(request: web.Request) -> web.Response:
    call = _live_call(request, "hang up")
    fields = await _hangup_moment(request)
    cause = "NORMAL_CLEARING" if call.machine.state == "active" else "ORIGINATOR_CANCEL"
    state = request.app[STATE_KEY]
    if "at" in fields:  # later, at that moment on the simulator's clock (unless the call ends first)
        state.hang_up_at(call, state.clock.api_time(fields["at"]))
    else:
        state.end_call(call, "completed", cause)
    return web.json_response({"callId": call.id, "cause": cause}, status=202)


@routes.post("/_sim/incoming")
async def sim_incoming(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await read_body(request, "incoming")
    if "applicationUrl" in body:  # a v2 application's number rings
        return await v2_incoming(request, body)
    fields = parse_fields("incoming", body, INCOMING_FIELDS, required=("from", "to", "callbackUrl"))
    call = state.new_call("in", _origin(request), fields)
    state.ring(call)
    return _created(call.uri, {"callId": call.id})


@routes.get("/_sim/deliveries")
async def sim_deliveries(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].deliverer.deliveries(request.query.get("callId")))


@routes.get("/_sim/calls/{callId}")
async def sim_call(request: web.Request) -> web.Response:
    """The simulator's own view of a call: its state, the call a transfer of it dialled (``transferLeg``,
    null without one) and every prompt it measured (and why one was not played)."""
    call = _call(request)
    body = {"id": call.id, "state": call.machine.state, "transferLeg": call.transfer_leg,
            "prompts": call.prompts}
    if call.driver is not None:
        body.update(call.driver.describe())
    return web.json_response(body)


@routes.get("/_sim/health")
async def sim_health(request: web.Request) -> web.Response:
    config = request.app[STATE_KEY].config
    return web.json_response({"status": "ok", "speed": config.speed, "promptTiming": config.prompt_timing})
