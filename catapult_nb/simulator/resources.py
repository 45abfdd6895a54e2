"""The simulator's resources (calls, gathers, audio) and their v1 JSON views."""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

from catapult_nb.engine import CallMachine, GatherMachine
from catapult_nb.simulator.clock import SimClock
from catapult_nb.simulator.delivery import CallbackTarget

__all__ = ["CallDriver", "SimAudio", "SimCall", "SimGather", "new_id"]

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_id(prefix: str) -> str:
    """A v1-style id: ``prefix``, a hyphen, 23 lowercase base-32 characters (``ID_ALPHABET``)."""
    # One read of the system's randomness per id (15 bytes are 24 base-32 letters), not one per letter:
    # every event gets an id, on the loop that also runs the timers (a fifth of its work, measured).
    return prefix + "-" + base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()[:23]


class CallDriver(Protocol):
    """What runs a call of another dialect than v1 (a v2 call runs BXML): the virtual phone's keys and
    hang-ups go to it instead of the v1 rules, and ``GET /_sim/calls/{callId}`` adds what it describes."""

    dialect: str

    def press(self, key: str, at: float | None) -> None: ...

    def hang_up(self, at: float | None) -> None: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(eq=False, slots=True)
class SimGather:
    """A gather on a simulated call: the engine's machine, and how the API shows it."""

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


@dataclass(eq=False, slots=True)
class SimAudio:
    """A sentence or file playing on a call through ``/audio``."""

    kind: str  # "speak" or "playback"
    tag: str | None
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False, slots=True)
class SimCall:
    """A simulated call: the engine's machine, where its callbacks go, and how the API shows it."""

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
    gathers: dict[str, SimGather] = field(default_factory=dict)
    audio: SimAudio | None = None
    timers: set[asyncio.TimerHandle] = field(default_factory=set)
    log: list[dict[str, Any]] = field(default_factory=list)
    partner: SimCall | None = field(default=None, repr=False)  # the other leg of a transfer
    transfer_leg: str | None = None  # the id of the call a transfer of this one dialled (the latest)
    prompts: list[dict[str, Any]] = field(default_factory=list)  # every prompt measured, and why not played
    last_stamp: str = ""  # the time of the call's latest event (ISO-8601, the events' own spelling)
    driver: CallDriver | None = field(default=None, repr=False)  # None: a v1 call

    @property
    def id(self) -> str:
        return self.machine.call_id

    @property
    def running_gather(self) -> SimGather | None:
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
