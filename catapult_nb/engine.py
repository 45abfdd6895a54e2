"""The gather engine: the pure gather and call state machines, and the only gather clock.

Times are plain floats in API seconds on whatever clock the caller uses. The HTTP simulator feeds the
machines real (scaled) clock readings and schedules a timer for :meth:`GatherMachine.deadline`;
synthetic campaigns call :func:`run_gather`, a discrete-event loop over the same machine that never sleeps;
the gather clock widget feeds it the keys pressed and reads :meth:`GatherMachine.clock_at`.

Ties at one instant are resolved in a fixed order: **keys first, then a hang-up, then timers**. So a key
pressed exactly when the inter-digit timeout would fire is accepted (the gap did not *exceed* the
timeout), and a key pressed exactly when the prompt's first play ends stops the prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from catapult_nb.errors import Error
from catapult_nb.options import DTMF_KEYS, GatherOptions

__all__ = [
    "FILE_PROMPT_SECONDS",
    "MIN_PROMPT_SECONDS",
    "WORDS_PER_MINUTE",
    "CallMachine",
    "CallStateError",
    "DuplicateGatherError",
    "Effect",
    "GatherClock",
    "GatherMachine",
    "GatherOutcome",
    "GatherSpec",
    "Reason",
    "estimate",
    "prompt_duration",
    "run_gather",
]

#: Speaking rate of the estimate: a sentence of n words lasts n × 60 / 150 seconds.
WORDS_PER_MINUTE = 150
#: No sentence is estimated shorter than this, however short.
MIN_PROMPT_SECONDS = 0.5
#: Length of a ``fileUrl`` prompt nobody measured (the simulator and campaigns fetch and measure files).
FILE_PROMPT_SECONDS = 3.0


def estimate(sentence: str | None) -> float:
    """The estimate of how long a sentence is spoken: 150 words per minute, at least 0.5 s; a blank
    sentence lasts 0. The simulator's and the campaigns' ``"estimate"`` prompt timing is this rule.
    """
    if not sentence or not sentence.strip():
        return 0.0
    return max(MIN_PROMPT_SECONDS, len(sentence.split()) * 60.0 / WORDS_PER_MINUTE)


class Reason(str, Enum):
    """Why a gather ended: the ``reason`` of the ``gather`` event, exactly as on the wire.

    A ``str`` enum, so a member equals (and serialises as) its wire value: ``Reason.HUNG_UP == "hung-up"``.
    """

    MAX_DIGITS = "max-digits"  # maxDigits keys were collected
    TERMINATING_DIGIT = "terminating-digit"  # one of terminatingDigits was pressed
    INTER_DIGIT_TIMEOUT = "inter-digit-timeout"  # no key within interDigitTimeout
    HUNG_UP = "hung-up"  # the call ended while gathering

    __str__ = str.__str__  # "hung-up", not "Reason.HUNG_UP", in f-strings and tables

    @property
    def completed(self) -> bool:
        """True when the caller finished the entry (max digits or a terminating digit)."""
        return self in (Reason.MAX_DIGITS, Reason.TERMINATING_DIGIT)


# Effect kinds, in the order they can occur for one input.
PROMPT_STARTED = "prompt-started"  # the prompt began playing (speak/playback "started")
PROMPT_STOPPED = "prompt-stopped"  # the prompt ended or was cut off by a key (speak/playback "done")
DTMF = "dtmf"  # a key was pressed and a dtmf event is due
DTMF_SUPPRESSED = "dtmf-suppressed"  # a key was pressed but suppressDtmf hides its event
DIGIT = "digit"  # a key was added to the gathered digits
COMPLETED = "completed"  # the gather ended with a reason; a gather event is due
STOPPED = "stopped"  # the gather was stopped by the application; no gather event


class Effect(NamedTuple):
    """Something that happened at ``time`` (API seconds).

    ``kind`` is one of ``prompt-started``, ``prompt-stopped``, ``dtmf``, ``dtmf-suppressed``, ``digit``,
    ``completed``, ``stopped``. ``key`` is set for key effects, ``reason`` and ``digits`` for
    ``completed`` (and ``digits`` for ``stopped``).
    """

    time: float
    kind: str
    key: str = ""
    reason: Reason | str = ""
    digits: str = ""


def prompt_duration(sentence: str | None, file_url: str | None = None) -> float:
    """How long a prompt plays by the estimate, in API seconds (no rendering, no download).

    A sentence is spoken at :data:`WORDS_PER_MINUTE` (at least :data:`MIN_PROMPT_SECONDS`); a file plays
    for :data:`FILE_PROMPT_SECONDS`; no prompt (``None`` or blank) lasts 0. The simulator and campaigns
    measure prompts instead (:func:`catapult_nb.prompts.measure`) and pass the length to
    :meth:`GatherSpec.from_options`.
    """
    if sentence and sentence.strip():
        return estimate(sentence)
    if file_url:
        return FILE_PROMPT_SECONDS
    return 0.0


_API_DEFAULTS = GatherOptions()  # every field absent: its effective_* values are the API's defaults


@dataclass(frozen=True, slots=True)
class GatherSpec:
    """A gather's options with the API's defaults resolved, ready for the machine."""

    # the gather completes when this many digits are collected
    max_digits: int = _API_DEFAULTS.effective_max_digits
    # seconds of silence (also before the first key) that end it
    inter_digit_timeout: float = _API_DEFAULTS.effective_inter_digit_timeout
    # any of these keys ends it; never part of the digits
    terminating_digits: str = _API_DEFAULTS.effective_terminating_digits
    prompt_seconds: float = 0.0  # length of one play of the prompt; 0 = no prompt
    loop_prompt: bool = False  # repeat the prompt until the first key
    # hide per-key dtmf events while gathering
    suppress_dtmf: bool = _API_DEFAULTS.effective_suppress_dtmf
    prompt_kind: str = ""  # "speak" (sentence), "playback" (fileUrl) or "" (no prompt)

    @classmethod
    def from_options(cls, options: GatherOptions, prompt_seconds: float | None = None) -> GatherSpec:
        """Resolve validated :class:`GatherOptions` (absent fields take the API defaults).

        :param options: the gather's options.
        :param prompt_seconds: one play of the prompt as measured (its rendered audio, or the file's real
            length; 0 for a file that cannot be played); ``None`` uses :func:`prompt_duration`'s estimate.
        """
        prompt = options.prompt
        sentence = prompt.sentence if prompt else None
        file_url = prompt.file_url if prompt else None
        seconds = prompt_duration(sentence, file_url) if prompt_seconds is None else prompt_seconds
        kind = "" if not seconds else ("speak" if sentence and sentence.strip() else "playback")
        return cls(
            max_digits=options.effective_max_digits,
            inter_digit_timeout=options.effective_inter_digit_timeout,
            terminating_digits=options.effective_terminating_digits,
            prompt_seconds=seconds,
            loop_prompt=bool(prompt and prompt.loop_enabled) and seconds > 0,
            suppress_dtmf=options.effective_suppress_dtmf,
            prompt_kind=kind,
        )


    @property
    def no_key_timeout_at(self) -> float:
        """When a gather in which no key is pressed times out, in API seconds from its start: the
        inter-digit clock starts once the prompt's first play is over."""
        return self.prompt_seconds + self.inter_digit_timeout

    def timeout_moments(self, presses: Iterable[float] = ()) -> list[float]:
        """Every moment the inter-digit timeout could fire for keys pressed at ``presses`` (API seconds
        from the start): after the prompt's first play, and after each key.

        :param presses: the times of the keys.
        :returns: :attr:`no_key_timeout_at`, then one moment per key.
        """
        return [self.no_key_timeout_at, *(t + self.inter_digit_timeout for t in presses)]


class GatherClock(NamedTuple):
    """Where a running gather's timers stand at one instant (see :meth:`GatherMachine.clock_at`)."""

    prompt_left: float  # API seconds until the prompt's first play ends; 0 once it has
    timeout_left: float  # API seconds until the inter-digit timeout fires (its full length during the prompt)
    looping: bool  # a looping prompt still plays while the inter-digit clock runs


def _check_key(key: str) -> str:
    upper = key.upper()
    if len(upper) != 1 or upper not in DTMF_KEYS:
        raise ValueError(f"a key must be one of {DTMF_KEYS}, got {key!r}")
    return upper


class GatherMachine:
    """One gather, driven by inputs with their times; every method returns the effects it caused.

    Call :meth:`initial_effects` once for what happens at ``start_time`` (the prompt starting), then
    :meth:`press`, :meth:`hang_up`, :meth:`stop`, and :meth:`on_deadline` whenever the time from
    :meth:`deadline` is reached. Inputs must come in non-decreasing time order. Inputs after the gather
    completed return no effects.
    """

    __slots__ = (
        "_idle_at",
        "_playing",
        "_prompt_end",
        "completed_at",
        "digits",
        "first_key_at",
        "prompt_stopped_at",
        "reason",
        "spec",
        "started_at",
    )

    def __init__(self, spec: GatherSpec, start_time: float = 0.0) -> None:
        self.spec = spec
        self.started_at = start_time
        self.digits = ""  # gathered so far, terminating digits excluded
        self.reason: Reason | str | None = None  # set on completion; "" when stopped by the application
        self.completed_at: float | None = None
        self.first_key_at: float | None = None
        self.prompt_stopped_at: float | None = None
        self._playing = spec.prompt_seconds > 0
        # The inter-digit clock is armed only once the prompt's first play is over.
        self._prompt_end: float | None = start_time + spec.prompt_seconds if self._playing else None
        self._idle_at: float | None = None if self._playing else start_time + spec.inter_digit_timeout

    @property
    def done(self) -> bool:
        """True once the gather completed or was stopped."""
        return self.reason is not None

    @property
    def prompt_playing(self) -> bool:
        return self._playing

    def clock_at(self, now: float) -> GatherClock:
        """The timers as they stand at ``now``, without firing any: what a clock display shows.

        :param now: API seconds on the machine's clock, not before the last input.
        :returns: the prompt time left, the inter-digit time left (never negative) and whether a looping
            prompt is still playing.
        """
        timeout = self.spec.inter_digit_timeout
        end = self._prompt_end
        if end is not None and now < end:
            return GatherClock(end - now, timeout, False)
        idle = end + timeout if end is not None else self._idle_at
        left = max(0.0, idle - now) if idle is not None else 0.0
        looping = self._playing and self.spec.loop_prompt and self.reason is None
        return GatherClock(0.0, left, looping)

    def initial_effects(self) -> list[Effect]:
        """What happens at the start: the prompt begins, if there is one."""
        return [Effect(self.started_at, PROMPT_STARTED)] if self.spec.prompt_seconds > 0 else []

    def deadline(self) -> float | None:
        """When the next timer fires (end of the prompt's first play, or the inter-digit timeout)."""
        if self.reason is not None:
            return None
        return self._prompt_end if self._prompt_end is not None else self._idle_at

    def on_deadline(self, now: float) -> list[Effect]:
        """Fire every timer due at or before ``now``."""
        out: list[Effect] = []
        self._fire(now, out, inclusive=True)
        return out

    def press(self, key: str, now: float) -> list[Effect]:
        """The caller pressed ``key`` (one of ``0-9 * # A-D``) at ``now``. Raises ValueError for others."""
        key = _check_key(key)
        out: list[Effect] = []
        self._fire(now, out, inclusive=False)
        if self.reason is not None:
            return out
        spec = self.spec
        if self.first_key_at is None:
            self.first_key_at = now
        if self._playing:  # every prompt is bargeable
            self._stop_prompt(now, out)
        self._prompt_end = None
        out.append(Effect(now, DTMF_SUPPRESSED if spec.suppress_dtmf else DTMF, key))
        if key in spec.terminating_digits:
            self._complete(now, Reason.TERMINATING_DIGIT, out)
            return out
        self.digits += key
        out.append(Effect(now, DIGIT, key))
        if len(self.digits) >= spec.max_digits:
            self._complete(now, Reason.MAX_DIGITS, out)
        else:
            self._idle_at = now + spec.inter_digit_timeout
        return out

    def hang_up(self, now: float) -> list[Effect]:
        """The call ended at ``now``: a running gather completes with ``hung-up``."""
        out: list[Effect] = []
        self._fire(now, out, inclusive=False)
        if self.reason is None:
            self._complete(now, Reason.HUNG_UP, out)
        return out

    def stop(self, now: float) -> list[Effect]:
        """The application stopped the gather: it ends without a reason and without a gather event."""
        out: list[Effect] = []
        self._fire(now, out, inclusive=True)
        if self.reason is None:
            if self._playing:
                self._stop_prompt(now, out)
            self.reason = ""
            self.completed_at = now
            out.append(Effect(now, STOPPED, digits=self.digits))
        return out

    # -- internals ------------------------------------------------------------------------------------

    def _fire(self, now: float, out: list[Effect], inclusive: bool) -> None:
        if self.reason is not None:
            return
        end = self._prompt_end
        if end is not None and (end <= now if inclusive else end < now):
            self._prompt_end = None
            if not self.spec.loop_prompt:
                self._stop_prompt(end, out)
            self._idle_at = end + self.spec.inter_digit_timeout
        idle = self._idle_at
        if idle is not None and self._prompt_end is None and (idle <= now if inclusive else idle < now):
            self._complete(idle, Reason.INTER_DIGIT_TIMEOUT, out)

    def _stop_prompt(self, now: float, out: list[Effect]) -> None:
        self._playing = False
        self.prompt_stopped_at = now
        out.append(Effect(now, PROMPT_STOPPED))

    def _complete(self, now: float, reason: Reason, out: list[Effect]) -> None:
        if self._playing:  # a looping prompt, or a hang-up mid-prompt, ends with the gather
            self._stop_prompt(now, out)
        self.reason = reason
        self.completed_at = now
        self._idle_at = None
        self._prompt_end = None
        out.append(Effect(now, COMPLETED, reason=reason, digits=self.digits))


@dataclass(frozen=True, slots=True)
class GatherOutcome:
    """The result of :func:`run_gather`: how and when the gather ended, and everything that happened."""

    reason: Reason
    digits: str
    started_at: float
    first_key_at: float | None
    completed_at: float
    prompt_stopped_at: float | None
    effects: tuple[Effect, ...]

    @property
    def duration(self) -> float:
        return self.completed_at - self.started_at


def run_gather(
    spec: GatherSpec,
    presses: Sequence[tuple[float, str]],
    hangup_at: float | None = None,
    start_time: float = 0.0,
) -> GatherOutcome:
    """Play one gather to its end over a timeline of ``(time, key)`` presses and an optional hang-up.

    Presses must be in time order (and not before ``start_time``); keys after the gather ended are
    ignored. With neither enough keys nor a hang-up the gather ends on its inter-digit timeout.
    Raises ValueError for a key outside ``0-9 * # A-D`` or presses out of order.
    """
    machine = GatherMachine(spec, start_time)
    effects = machine.initial_effects()
    last = start_time
    for at, key in presses:
        if at < last:
            raise ValueError(f"presses must be in time order: {at} comes after {last}")
        last = at
        if hangup_at is not None and hangup_at < at:
            break
        effects += machine.press(key, at)
        if machine.reason is not None:
            break
    if machine.reason is None and hangup_at is not None:
        effects += machine.hang_up(max(hangup_at, start_time))
    while machine.reason is None:
        effects += machine.on_deadline(machine.deadline())  # type: ignore[arg-type]
    return GatherOutcome(
        reason=machine.reason,  # type: ignore[arg-type]
        digits=machine.digits,
        started_at=start_time,
        first_key_at=machine.first_key_at,
        completed_at=machine.completed_at,  # type: ignore[arg-type]
        prompt_stopped_at=machine.prompt_stopped_at,
        effects=tuple(effects),
    )


# --------------------------------------------------------------------------------------------------
# Calls


class CallStateError(Error):
    """The call is in a state that does not allow the operation (``call-invalid-state``)."""

    def __init__(self, call_id: str, state: str, action: str) -> None:
        super().__init__(f"Unable to {action} call {call_id}. Invalid call state {state}")
        self.call_id = call_id
        self.state = state


class DuplicateGatherError(Error):
    """A gather is already running on the call (``call-duplicate-gather-error``)."""

    def __init__(self, call_id: str) -> None:
        super().__init__(f"DTMF digits are already being gathered for call {call_id}")
        self.call_id = call_id


class CallMachine:
    """A call's life: ``started`` → ``active`` → ``completed`` (or ``rejected``), and its one gather.
    A transfer takes an active call to ``transferring`` and back to ``active``.

    Methods raise :class:`CallStateError` when the transition is not allowed and return the new state.
    """

    __slots__ = ("call_id", "direction", "gather", "state")

    def __init__(self, call_id: str, direction: str) -> None:
        self.call_id = call_id
        self.direction = direction  # "in" or "out"
        self.state = "started"
        self.gather: GatherMachine | None = None  # the running (or last) gather

    @property
    def ended(self) -> bool:
        return self.state in ("completed", "rejected")

    def answer(self) -> None:
        """The call is answered (by the far end for outbound calls, by the application for inbound)."""
        if self.state != "started":
            raise CallStateError(self.call_id, self.state, "answer")
        self.state = "active"

    def reject(self) -> None:
        """An inbound call is refused before it is answered."""
        if self.state != "started" or self.direction != "in":
            raise CallStateError(self.call_id, self.state, "reject")
        self.state = "rejected"

    def end(self, state: str = "completed") -> None:
        """The call ends (hang-up from either side, no answer, busy)."""
        if self.ended:
            raise CallStateError(self.call_id, self.state, "hang up")
        self.state = state

    def transfer(self) -> None:
        """An active call is transferred: ``transferring`` until the new leg answers or fails."""
        if self.state != "active":
            raise CallStateError(self.call_id, self.state, "transfer")
        self.state = "transferring"

    def transferred(self) -> None:
        """The transfer's new leg answered (the calls are bridged) or failed: ``active`` again."""
        if self.state == "transferring":
            self.state = "active"

    def check_active(self, action: str) -> None:
        if self.state != "active":
            raise CallStateError(self.call_id, self.state, action)

    def start_gather(self, spec: GatherSpec, now: float) -> GatherMachine:
        """Begin a gather; raises CallStateError unless active, DuplicateGatherError if one runs."""
        self.check_active("gather on")
        if self.gather is not None and not self.gather.done:
            raise DuplicateGatherError(self.call_id)
        self.gather = GatherMachine(spec, now)
        return self.gather
