"""The simulator's state and behaviour over time: its calls, their timers, and the events they send.

Everything runs on one asyncio loop, so the state is touched by one task at a time and needs no locks.
The gather and call rules live in :mod:`catapult_nb.engine`; this module turns engine effects into
callback events and schedules the engine's deadlines.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from catapult_nb.engine import (
    COMPLETED,
    DTMF,
    PROMPT_STARTED,
    PROMPT_STOPPED,
    CallMachine,
    Effect,
    GatherSpec,
)
from catapult_nb.options import GatherOptions, Prompt
from catapult_nb.prompts import AudioError, PromptLength, fetch_audio, measure
from catapult_nb.redact import Secret
from catapult_nb.simulator.clock import SimClock
from catapult_nb.simulator.delivery import CallbackTarget, Deliverer
from catapult_nb.simulator.errors import ApiError, validation_error
from catapult_nb.simulator.garbage import Tidier
from catapult_nb.simulator.resources import SimAudio, SimCall, SimGather, new_id

__all__ = ["STATE_KEY", "SimConfig", "SimulatorState", "audio_prompt"]

ANSWER_DELAY = 1.0  # API seconds before an outbound call is answered (or found busy / rejected)
INBOUND_RING_SECONDS = 60.0  # an unanswered inbound call is given up by the caller after this
#: API seconds an ended call stays known (GET, its events, the inspector) before it is forgotten.
ENDED_CALL_HORIZON = 3600.0
#: How many ended calls are kept at most (the most recently ended), so that a long-running simulator,
#: whose ``/_sim/incoming`` needs no credentials, has bounded memory.
KEEP_ENDED_CALLS = 1000


@dataclass(frozen=True)
class SimConfig:
    """How one simulator behaves; the secret stays out of the repr."""

    speed: float = 1.0
    user_id: str = "u-simulator"
    api_token: str = "t-simulator"
    api_secret: Secret = field(default=Secret("simulator-secret"), repr=False)
    callback_retries: int = 0
    prompt_timing: str = "audio"  # "audio": sentences timed by their rendered length; "estimate": 150 wpm
    keep_ended_calls: int = KEEP_ENDED_CALLS
    account_id: str = "9900000"  # the v2 API's account id (in its paths)
    # v2: requests to these hosts (webhooks, audio) go to the paired origin instead, e.g.
    # (("gather.url", "http://127.0.0.1:8000"),), so examples naming made-up hosts run offline
    reroute: tuple[tuple[str, str], ...] = ()


class SimulatorState:
    """All calls of one simulator, and what happens to them over time."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.deliverer = Deliverer(clock, retries=config.callback_retries)
        # ``listener(method, path, status, body)`` after each /v1 request is answered (the test plugin's)
        self.request_listeners: list[Callable[[str, str, int, bytes], None]] = []
        self.calls: dict[str, SimCall] = {}
        self._ended: collections.deque[SimCall] = collections.deque()  # oldest end first
        # Wall seconds by which each gather timer ran after its deadline (for the timer benchmark).
        self.timer_lateness: collections.deque[float] = collections.deque(maxlen=100_000)
        self._fetcher: aiohttp.ClientSession | None = None  # fetches fileUrl prompts and /audio files
        self.tidier = Tidier(clock.loop)  # when the garbage collector runs (see its module)

    async def close(self) -> None:
        """Cancel every timer and stop sending callbacks; the calls are let go.

        aiohttp keeps a cache of recently served apps, so a closed app must not hold on to its calls.
        """
        for call in self.calls.values():
            self.cancel_timers(call)
        self.tidier.close()
        await self.deliverer.close()
        if self._fetcher is not None:
            await self._fetcher.close()
        self.deliverer.listeners.clear()
        self.calls.clear()
        self._ended.clear()

    # -- events --------------------------------------------------------------------------------------

    def emit(self, call: SimCall, event_type: str, at: float | None = None, **fields: Any) -> None:
        at = self.clock.now() if at is None else at
        stamp = self.clock.iso(at)
        # Each event of a call has its own time, to the millisecond: v1 events have no id, so a receiver
        # tells a retry from a second event (four quick presses of "1") by the time alone.
        while stamp <= call.last_stamp:
            at += 0.0005
            stamp = self.clock.iso(at)
        call.last_stamp = stamp
        self.tidier.worked()
        event: dict[str, Any] = {"eventType": event_type, "callId": call.id}
        if event_type != "gather":
            event["callUri"] = call.uri
        event["time"] = stamp
        event.update({k: v for k, v in fields.items() if v is not None})
        call.log.append({
            "id": new_id("ce"), "time": event["time"], "name": event_type,
            "data": {k: v for k, v in event.items() if k not in ("eventType", "callId", "callUri", "time")},
        })
        self.deliverer.send(call.id, call.target, event)

    def call_event(self, call: SimCall, event_type: str, at: float | None = None, **fields: Any) -> None:
        self.emit(call, event_type, at, **{"from": call.from_, "to": call.to}, **fields, tag=call.tag)

    def timer(self, call: SimCall, delay: float, action: Callable[[], None]) -> None:
        self.timer_at(call, self.clock.now() + delay, action)

    def timer_at(self, call: SimCall, at: float, action: Callable[[], None]) -> None:
        """Run ``action`` when the API clock reaches ``at``, unless the call's timers are cancelled first."""
        handle: asyncio.TimerHandle

        def fire() -> None:
            call.timers.discard(handle)
            action()

        handle = self.clock.call_at(at, fire)
        call.timers.add(handle)

    # -- call life -----------------------------------------------------------------------------------

    def new_call(self, direction: str, uri_base: str, fields: dict[str, Any]) -> SimCall:
        call_id = new_id("c")
        target = CallbackTarget(
            url=fields.get("callbackUrl"),
            method=fields.get("callbackHttpMethod", "POST"),
            timeout_ms=fields.get("callbackTimeout", 10_000),
            fallback_url=fields.get("fallbackUrl"),
        )
        extra: dict[str, Any] = {k: fields[k] for k in (
            "bridgeId", "conferenceId", "recordingEnabled", "recordingMaxDuration", "recordingFileFormat",
            "transcriptionEnabled", "sipHeaders",
        ) if k in fields}
        call = SimCall(
            machine=CallMachine(call_id, direction), user_id=self.config.user_id,
            uri=f"{uri_base}/v1/users/{self.config.user_id}/calls/{call_id}",
            from_=fields["from"], to=fields["to"], target=target, created=self.clock.now(),
            call_timeout=fields.get("callTimeout", 60), tag=fields.get("tag"), extra=extra,
        )
        self.calls[call_id] = call
        self.tidier.worked(made=1)
        return call

    def dial(self, call: SimCall) -> None:
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

    def ring(self, call: SimCall) -> None:
        """An inbound call: tell the application, and give up if nobody answers."""
        self.call_event(call, "incomingcall", callState="active", applicationId="a-simulator")
        self.timer(call, INBOUND_RING_SECONDS, lambda: self.end_call(call, "completed", "ORIGINATOR_CANCEL"))

    def answer(self, call: SimCall) -> None:
        call.machine.answer()
        self.cancel_timers(call)
        call.active_at = self.clock.now()
        self.call_event(call, "answer", call.active_at, callState="active")
        partner = call.partner
        if partner is not None and partner.machine.state == "transferring":  # a transfer's leg: bridge
            partner.machine.transferred()
            call.extra["bridgeId"] = partner.extra["bridgeId"] = new_id("brg")

    def transfer(self, call: SimCall, fields: dict[str, Any], uri_base: str) -> SimCall:
        """Dial ``transferTo`` for an active call; the two are bridged once the new leg answers.

        The leg calls from the call's ``to`` number (or ``transferCallerId``), is answered like an
        outbound call, and sends its events to the request's ``callbackUrl``, else to the call's.
        A running gather is stopped without a ``gather`` event, and audio stops. Raises
        CallStateError unless the call is active.
        """
        call.machine.transfer()
        now = self.clock.now()
        gather = call.running_gather
        if gather is not None:
            self.stop_gather(call, gather)
        self.stop_audio(call, now)
        caller_id = fields.get("transferCallerId")
        leg_fields = {
            "from": caller_id if caller_id and caller_id != "private" else call.to,
            "to": fields["transferTo"],
            "callbackUrl": fields.get("callbackUrl"),
        }
        leg = self.new_call("out", uri_base, leg_fields)
        if "callbackUrl" not in fields:
            leg.target = call.target
        leg.partner, call.partner = call, leg
        call.transfer_leg = leg.id
        self.dial(leg)
        return leg

    def cancel_timers(self, call: SimCall) -> None:
        for handle in call.timers:
            handle.cancel()
        call.timers.clear()

    def hang_up_at(self, call: SimCall, at: float) -> None:
        """The caller hangs up at API time ``at`` (at once if it is past), unless the call ended first."""

        def hang_up(when: float | None) -> None:
            if not call.machine.ended:
                cause = "NORMAL_CLEARING" if call.machine.state == "active" else "ORIGINATOR_CANCEL"
                self.end_call(call, "completed", cause, at=when)

        if at <= self.clock.now():
            hang_up(None)
        else:
            self.timer_at(call, at, lambda: hang_up(at))

    def end_call(
        self, call: SimCall, state: str, cause: str, event_type: str = "hangup",
        transition: Callable[[], None] | None = None, at: float | None = None,
    ) -> None:
        """End the call; a running gather completes first with ``hung-up``.

        ``transition`` replaces the plain end of the call machine (rejecting checks more); it raises
        CallStateError before anything has changed. A call of another dialect ends by its own rules.
        """
        if call.driver is not None and transition is None:
            call.driver.hang_up(at)
            return
        if transition is not None:
            transition()
        elif call.machine.ended:
            return
        else:
            call.machine.end(state)
        now = self.clock.now() if at is None else at
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
        self._end_partner(call)
        self._forget_old_calls(call)

    def _end_partner(self, call: SimCall) -> None:
        """A transfer's two calls end together; a leg that never answered gives the caller back."""
        partner = call.partner
        if partner is None or partner.machine.ended:
            return
        if partner.machine.state == "transferring":  # the new leg failed: the caller is back, unbridged
            partner.machine.transferred()
            partner.partner = call.partner = None
            return
        cause = "NORMAL_CLEARING" if partner.machine.state == "active" else "ORIGINATOR_CANCEL"
        self.end_call(partner, "completed", cause)

    def retire(self, ended: SimCall) -> None:
        """An ended call of another dialect joins the ended calls that are forgotten in time."""
        self._forget_old_calls(ended)

    def _forget_old_calls(self, ended: SimCall) -> None:
        """Forget ended calls beyond :data:`KEEP_ENDED_CALLS` or older than :data:`ENDED_CALL_HORIZON`."""
        self._ended.append(ended)
        horizon = self.clock.now() - ENDED_CALL_HORIZON
        while self._ended and (
            len(self._ended) > self.config.keep_ended_calls or (self._ended[0].ended_at or 0.0) < horizon
        ):
            gone = self._ended.popleft()
            self.calls.pop(gone.id, None)

    # -- keys and gathers ----------------------------------------------------------------------------

    def press_keys(self, call: SimCall, keys: str, gap: float) -> None:
        """Press ``keys`` one by one, ``gap`` API seconds apart; each schedules the next, keeping order."""
        if call.machine.ended or not keys:
            return
        self.key(call, keys[0])
        if len(keys) > 1:
            self.timer(call, gap, lambda: self.press_keys(call, keys[1:], gap))

    def press_at(self, call: SimCall, keys: str, times: list[float]) -> None:
        """Press each key at its API time (a time already past: at once). Each is applied at its own time,
        so a loop that runs late still orders keys and timeouts as the clock says."""
        now = self.clock.now()
        for key, at in zip(keys, times, strict=True):
            if at <= now:
                self.key(call, key)
            else:
                self.timer_at(call, at, functools.partial(self.key, call, key, at))

    def key(self, call: SimCall, key: str, at: float | None = None) -> None:
        if call.machine.ended:
            return
        if call.driver is not None:  # a v2 call: its BXML decides who hears the key
            call.driver.press(key, at)
            return
        now = self.clock.now() if at is None else at
        gather = call.running_gather
        if gather is None:
            self.emit(call, "dtmf", now, dtmfDigit=key, tag=call.tag)
            return
        self.apply(call, gather, gather.machine.press(key, now))

    # -- prompts: rendered or fetched, measured, and the outcome kept ------------------------------------

    async def measure_prompt(self, call: SimCall, prompt: Prompt | None) -> PromptLength:
        """One play of a prompt: the rendered sentence (or the estimate), or the fetched file's length.

        A file that cannot be fetched (within the call's callback timeout) or decoded has length 0 and a
        reason; nothing is played then. Never raises for the file's sake.
        """
        if prompt is None:
            return PromptLength(0.0, "", "none")
        if prompt.sentence and prompt.sentence.strip():
            if self.config.prompt_timing == "estimate":
                return measure(prompt, "estimate")
            return await asyncio.to_thread(measure, prompt, "audio")  # rendering takes milliseconds
        if not prompt.file_url:
            return PromptLength(0.0, "", "none")
        if self._fetcher is None:
            self._fetcher = aiohttp.ClientSession()
        try:
            info = await fetch_audio(prompt.file_url, timeout=call.target.timeout_ms / 1000,
                                     session=self._fetcher)
        except AudioError as exc:
            return PromptLength(0.0, "", "file", str(exc))
        return PromptLength(info.duration, "playback", "file")

    def record_prompt(self, call: SimCall, purpose: str, prompt: Prompt | None, length: PromptLength) -> None:
        """Keep what was measured for ``GET /_sim/calls/{callId}`` (no URL: it may carry a secret path)."""
        if prompt is None or length.timing == "none":
            return
        entry: dict[str, Any] = {
            "time": self.clock.iso(self.clock.now()), "for": purpose,
            "kind": "speak" if length.timing in ("audio", "estimate") else "playback",
            "seconds": round(length.seconds, 3), "timing": length.timing,
            "played": length.seconds > 0, "reason": length.reason or None,
        }
        if prompt.sentence and prompt.sentence.strip():
            entry["sentence"] = prompt.sentence
            # the voice it was spoken with, so a virtual phone can say it the same way
            spoken = {k: getattr(prompt, k) for k in ("voice", "locale", "gender")}
            entry.update({k: v for k, v in spoken.items() if v is not None})
        elif prompt.file_url:
            entry["file"] = prompt.file_url.rsplit("/", 1)[-1].split("?", 1)[0]
        call.prompts.append(entry)

    def start_gather(
        self, call: SimCall, options: GatherOptions, length: PromptLength | None = None
    ) -> SimGather:
        now = self.clock.now()
        seconds = None if length is None else length.seconds
        machine = call.machine.start_gather(GatherSpec.from_options(options, seconds), now)
        gather = SimGather(new_id("gtr"), machine, now, options.tag)
        call.gathers[gather.id] = gather
        self.tidier.worked(made=1)
        if length is not None:
            self.record_prompt(call, f"gather {gather.id}", options.prompt, length)
        self.apply(call, gather, machine.initial_effects())
        return gather

    def stop_gather(self, call: SimCall, gather: SimGather) -> None:
        self.apply(call, gather, gather.machine.stop(self.clock.now()))

    def apply(self, call: SimCall, gather: SimGather, effects: list[Effect]) -> None:
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
            handle = self.clock.call_at(deadline, self._gather_due, call, gather, deadline)
            gather.timer = handle
            call.timers.add(handle)

    def _gather_due(self, call: SimCall, gather: SimGather, deadline: float) -> None:
        if gather.timer is not None:
            call.timers.discard(gather.timer)
            gather.timer = None
        now = self.clock.now()
        self.timer_lateness.append(self.clock.to_wall(now - deadline))
        # The loop may run a timer a hair early; the engine's own deadline is the authority.
        self.apply(call, gather, gather.machine.on_deadline(max(now, deadline)))

    # -- audio ---------------------------------------------------------------------------------------

    def audio_event(self, call: SimCall, kind: str, status: str, at: float, tag: str | None) -> None:
        if kind == "speak":
            state = "PLAYBACK_START" if status == "started" else "PLAYBACK_STOP"
            self.emit(call, "speak", at, status=status, state=state, tag=tag)
        else:
            self.emit(call, "playback", at, status=status, tag=tag)

    def play(self, call: SimCall, fields: dict[str, Any], length: PromptLength | None = None) -> None:
        """``/audio``: speak or play for ``length`` (measured by :meth:`measure_prompt`), or stop."""
        now = self.clock.now()
        sentence, file_url = fields.get("sentence"), fields.get("fileUrl")
        if sentence == "" or file_url == "":  # an empty value stops what is playing
            kind = "speak" if sentence == "" else "playback"
            if call.audio is None or call.audio.kind != kind:
                raise ApiError(
                    403, "authorization", "call-audio-invalid-state",
                    f"SimCall {call.id} has no {'sentence' if kind == 'speak' else 'file'} playing to stop",
                    callId=call.id,
                )
            self.stop_audio(call, now)
            return
        if not sentence and not file_url:
            raise validation_error("audio", "sentence", "give a sentence to speak or a fileUrl to play")
        self.stop_audio(call, now)
        if length is None:
            length = measure(audio_prompt(fields), "estimate")
        self.record_prompt(call, "audio", audio_prompt(fields), length)
        if length.seconds <= 0:  # a file that cannot be played: nothing starts
            return
        kind = "speak" if sentence else "playback"
        audio = call.audio = SimAudio(kind, fields.get("tag"))
        self.audio_event(call, kind, "started", now, audio.tag)
        if not fields.get("loopEnabled"):
            seconds = length.seconds

            def done() -> None:
                call.timers.discard(handle)
                if call.audio is audio:
                    call.audio = None
                    self.audio_event(call, kind, "done", self.clock.now(), audio.tag)

            handle = self.clock.call_later(seconds, done)
            audio.timer = handle
            call.timers.add(handle)

    def stop_audio(self, call: SimCall, now: float) -> None:
        audio = call.audio
        if audio is None:
            return
        call.audio = None
        if audio.timer is not None:
            audio.timer.cancel()
            call.timers.discard(audio.timer)
        self.audio_event(call, audio.kind, "done", now, audio.tag)


def audio_prompt(fields: dict[str, Any]) -> Prompt:
    """The ``/audio`` request's sentence or file as a :class:`Prompt` (its fields are already checked)."""
    keys = {"sentence": "sentence", "voice": "voice", "locale": "locale", "gender": "gender",
            "fileUrl": "file_url"}
    return Prompt(**{py: fields[wire] for wire, py in keys.items() if fields.get(wire)})


#: Where the app keeps its :class:`SimulatorState` while it runs.
STATE_KEY = web.AppKey("state", SimulatorState)
