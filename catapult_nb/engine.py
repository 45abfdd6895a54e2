"""The gather engine: the pure gather and call state machines, and the only gather clock.

Times are plain floats in API seconds on whatever clock the caller uses. The HTTP simulator feeds the
machines real (scaled) clock readings and schedules a timer for :meth:`GatherMachine.deadline`;
synthetic campaigns call :func:`run_gather`, a discrete-event loop over the same machine that never sleeps;
the gather clock widget feeds it the keys pressed and reads :meth:`GatherMachine.clock_at`.

Ties at one instant are resolved in a fixed order: **keys first, then a hang-up, then timers**. So a key
pressed exactly when the inter-digit timeout would fire is accepted (the gap did not *exceed* the
timeout), and a key pressed exactly when the prompt's first play ends stops the prompt.

Two dialects, one machine: v1's REST gathers and v2's BXML ``<Gather>`` differ only in data, kept in
:data:`DIALECTS` (defaults, ranges, what a hang-up reports), and in the timers every spec carries: the
wait for the first key after the prompt (``first_digit_timeout``; v1: ``inter_digit_timeout``), the
wait between keys, and the prompt's plays (``repeat_count``: a replay after a first-key wait with no key).

- ``GatherSpec.from_options(options, prompt_seconds=None)``: a v1 gather (``dialect="v1"``).
- ``GatherSpec.v2(max_digits=50, inter_digit_timeout=5, first_digit_timeout=5, terminating_digits="",
  repeat_count=1, prompt_seconds=0.0, nested_verbs=1)``: a v2 gather, checked against v2's ranges (an
  :class:`~catapult_nb.options.OptionError` naming the BXML attribute: ``maxDigits must be between 1 and
  50, got 60``); ``GatherSpec.from_bxml(attributes, prompt_seconds=0.0, nested_verbs=1)``: the same from a
  ``<Gather>``'s attributes by wire name (other attributes, such as ``gatherUrl``, are ignored).
- :class:`GatherMachine` / :func:`run_gather` play both. A v2 result is ``digits`` and
  :attr:`GatherMachine.terminating_digit` (``""`` for none); ``reason`` still says why, inside (v2 sends
  none; :mod:`catapult_nb.migrate` compares through it). A hang-up during a v2 gather emits
  ``disconnected``, not ``completed``: no result is due (v2 sends ``disconnect``). Each replay of the
  prompt emits ``prompt-started``/``prompt-stopped``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from catapult_nb.errors import Error
from catapult_nb.options import (
    DTMF_KEYS,
    INTER_DIGIT_TIMEOUT_RANGE,
    MAX_DIGITS_LIMIT,
    GatherOptions,
    OptionError,
    parse_int,
    parse_number,
    parse_str,
)

__all__ = [
    "DIALECTS",
    "FILE_PROMPT_SECONDS",
    "MIN_PROMPT_SECONDS",
    "V2_GATHER_ATTRIBUTES",
    "WORDS_PER_MINUTE",
    "CallMachine",
    "CallStateError",
    "Dialect",
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
DISCONNECTED = "disconnected"  # a v2 gather ended by a hang-up: no gather result, v2 sends disconnect


class Effect(NamedTuple):
    """Something that happened at ``time`` (API seconds).

    ``kind`` is one of ``prompt-started``, ``prompt-stopped``, ``dtmf``, ``dtmf-suppressed``, ``digit``,
    ``completed``, ``stopped``, ``disconnected`` (v2 only). ``key`` is set for key effects, ``reason``
    and ``digits`` for ``completed`` and ``disconnected`` (and ``digits`` for ``stopped``).
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
class Dialect:
    """One dialect's gather rules as data: defaults, accepted ranges, and what its result carries."""

    name: str  # "v1" (Catapult REST gathers) or "v2" (Bandwidth Voice API v2, BXML <Gather>)
    max_digits: int  # default maxDigits
    max_digits_range: tuple[int, int]
    inter_digit_timeout: float  # default, seconds
    inter_digit_timeout_range: tuple[float, float]
    # default wait for the first key after the prompt; None: the first key is timed by interDigitTimeout
    first_digit_timeout: float | None
    first_digit_timeout_range: tuple[float, float]  # (v1: the inter-digit timeout's, which it is)
    terminating_digits: str  # default terminating keys ("" = none)
    max_plays: int  # repeatCount × nested audio verbs may not exceed this (v1 loops without a count)
    hang_up_result: bool  # a hang-up ends the gather with a gather result (v1's reason "hung-up")
    reports_reason: bool  # the gather result says why it ended


#: The gather rules of both dialects (v1 from the option table in :mod:`catapult_nb.options`; v2 from
#: Bandwidth's BXML ``<Gather>`` reference).
DIALECTS: dict[str, Dialect] = {
    "v1": Dialect(
        "v1", _API_DEFAULTS.effective_max_digits, (1, MAX_DIGITS_LIMIT),
        _API_DEFAULTS.effective_inter_digit_timeout, INTER_DIGIT_TIMEOUT_RANGE,
        None, INTER_DIGIT_TIMEOUT_RANGE, _API_DEFAULTS.effective_terminating_digits, 1,
        hang_up_result=True, reports_reason=True,
    ),
    "v2": Dialect(
        "v2", 50, (1, 50), 5.0, (1.0, 60.0), 5.0, (0.0, 60.0), "", 20,
        hang_up_result=False, reports_reason=False,
    ),
}

#: The v2 ``<Gather>`` attributes the machine reads: BXML name -> Python name.
V2_GATHER_ATTRIBUTES: dict[str, str] = {
    "maxDigits": "max_digits", "interDigitTimeout": "inter_digit_timeout", "repeatCount": "repeat_count",
    "firstDigitTimeout": "first_digit_timeout", "terminatingDigits": "terminating_digits",
}


def _in_range(prop: str, number: float, bounds: tuple[float, float], unit: str = "") -> None:
    low, high = bounds
    if not low <= number <= high:
        raise OptionError(prop, f"{prop} must be between {low:g} and {high:g}{unit}, got {number:g}")


@dataclass(frozen=True, slots=True)
class GatherSpec:
    """A gather's options with its dialect's defaults resolved, ready for the machine.

    Make one with :meth:`from_options` (v1), :meth:`v2` or :meth:`from_bxml` (v2).
    """

    # the gather completes when this many digits are collected
    max_digits: int = _API_DEFAULTS.effective_max_digits
    # seconds of silence between keys that end it (on v1 also the wait for the first key)
    inter_digit_timeout: float = _API_DEFAULTS.effective_inter_digit_timeout
    # any of these keys ends it; never part of the digits
    terminating_digits: str = _API_DEFAULTS.effective_terminating_digits
    prompt_seconds: float = 0.0  # length of one play of the prompt; 0 = no prompt
    loop_prompt: bool = False  # v1: repeat the prompt until the first key (the timers do not change)
    # hide per-key dtmf events while gathering
    suppress_dtmf: bool = _API_DEFAULTS.effective_suppress_dtmf
    prompt_kind: str = ""  # "speak" (sentence), "playback" (fileUrl) or "" (no prompt)
    # seconds after the prompt's (each) play to wait for the first key; None: inter_digit_timeout (v1)
    first_digit_timeout: float | None = None
    repeat_count: int = 1  # plays of the prompt when no key comes (v2 repeatCount)
    dialect: str = "v1"  # whose rules: a key of DIALECTS

    @classmethod
    def from_options(cls, options: GatherOptions, prompt_seconds: float | None = None) -> GatherSpec:
        """Resolve validated v1 :class:`GatherOptions` (absent fields take the API defaults).

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

    @classmethod
    def v2(
        cls,
        *,
        max_digits: int = DIALECTS["v2"].max_digits,
        inter_digit_timeout: float = DIALECTS["v2"].inter_digit_timeout,
        first_digit_timeout: float = 5.0,
        terminating_digits: str = DIALECTS["v2"].terminating_digits,
        repeat_count: int = 1,
        prompt_seconds: float = 0.0,
        prompt_kind: str | None = None,
        nested_verbs: int = 1,
    ) -> GatherSpec:
        """A v2 ``<Gather>`` (Python names; defaults are v2's), checked against v2's ranges.

        :param max_digits: 1–50.
        :param inter_digit_timeout: seconds between keys, 1–60.
        :param first_digit_timeout: seconds after the nested audio ends to wait for the first key, 0–60.
        :param terminating_digits: keys that end the gather, ``""`` for none (``#`` is then a digit).
        :param repeat_count: plays of the nested audio while no key comes (a gap of
            ``first_digit_timeout`` between plays); ``repeat_count × nested_verbs`` ≤ 20.
        :param prompt_seconds: one play of all the nested audio, in API seconds (0: none).
        :param prompt_kind: ``"speak"`` or ``"playback"``; ``None`` picks ``"speak"`` when there is audio.
        :param nested_verbs: how many ``SpeakSentence``/``PlayAudio`` the Gather nests.
        :raises OptionError: a value out of range, naming the BXML attribute and the rule.
        """
        rules = DIALECTS["v2"]
        if isinstance(max_digits, bool) or int(max_digits) != max_digits:
            raise OptionError("maxDigits", f"maxDigits must be a whole number, got {max_digits!r}")
        _in_range("maxDigits", max_digits, rules.max_digits_range)
        _in_range("interDigitTimeout", inter_digit_timeout, rules.inter_digit_timeout_range, " seconds")
        _in_range("firstDigitTimeout", first_digit_timeout, rules.first_digit_timeout_range, " seconds")
        if isinstance(repeat_count, bool) or int(repeat_count) != repeat_count or repeat_count < 1:
            raise OptionError("repeatCount", f"repeatCount must be a whole number ≥ 1, got {repeat_count!r}")
        if repeat_count * max(nested_verbs, 1) > rules.max_plays:
            raise OptionError(
                "repeatCount",
                f"repeatCount × nested verbs must be at most {rules.max_plays}, got {repeat_count} × "
                f"{max(nested_verbs, 1)}; lower repeatCount or nest fewer SpeakSentence/PlayAudio",
            )
        keys = terminating_digits.upper()
        bad = sorted({ch for ch in keys if ch not in DTMF_KEYS})
        if bad:
            raise OptionError("terminatingDigits", f"terminatingDigits may only contain 0-9 * # A-D, got "
                                                   f"{terminating_digits!r} (bad: {''.join(bad)!r})")
        if prompt_seconds < 0:
            raise ValueError(f"prompt_seconds must not be negative, got {prompt_seconds}")
        return cls(
            max_digits=int(max_digits),
            inter_digit_timeout=float(inter_digit_timeout),
            terminating_digits=keys,
            prompt_seconds=float(prompt_seconds),
            suppress_dtmf=True,  # v2 sends per-key dtmf webhooks only for StartGather, paused by a Gather
            prompt_kind=("speak" if prompt_seconds > 0 else "") if prompt_kind is None else prompt_kind,
            first_digit_timeout=float(first_digit_timeout),
            repeat_count=int(repeat_count),
            dialect="v2",
        )

    @classmethod
    def from_bxml(
        cls, attributes: Mapping[str, Any], prompt_seconds: float = 0.0, nested_verbs: int = 1
    ) -> GatherSpec:
        """A v2 gather from a ``<Gather>`` element's attributes (wire names, values as text or numbers).

        Only the attributes in :data:`V2_GATHER_ATTRIBUTES` are read; absent ones take v2's defaults.

        :param attributes: e.g. ``{"maxDigits": "4", "terminatingDigits": "#"}``.
        :param prompt_seconds: one play of all the nested audio, in API seconds.
        :param nested_verbs: how many ``SpeakSentence``/``PlayAudio`` the Gather nests.
        :raises OptionError: a value that is not a number or out of range, naming the attribute.
        """
        parse = {"terminating_digits": parse_str, "max_digits": parse_int, "repeat_count": parse_int}
        kwargs: dict[str, Any] = {python: parse.get(python, parse_number)(wire, attributes[wire])
                                  for wire, python in V2_GATHER_ATTRIBUTES.items() if wire in attributes}
        return cls.v2(**kwargs, prompt_seconds=prompt_seconds, nested_verbs=nested_verbs)

    @property
    def rules(self) -> Dialect:
        """The dialect's rules (:data:`DIALECTS`)."""
        return DIALECTS[self.dialect]

    @property
    def first_key_timeout(self) -> float:
        """Seconds after a play of the prompt that the first key may take (v1: the inter-digit timeout)."""
        return self.inter_digit_timeout if self.first_digit_timeout is None else self.first_digit_timeout

    @property
    def no_key_timeout_at(self) -> float:
        """When a gather in which no key is pressed times out, in API seconds from its start: the
        first-key clock starts once the prompt's play is over, and restarts after each replay."""
        at = 0.0
        for _ in range(self.repeat_count):  # added up play by play, exactly as the machine does
            at = at + self.prompt_seconds + self.first_key_timeout
        return at

    def timeout_moments(self, presses: Iterable[float] = ()) -> list[float]:
        """Every moment the inter-digit timeout could fire for keys pressed at ``presses`` (API seconds
        from the start): after the prompt's first play, and after each key.

        :param presses: the times of the keys.
        :returns: :attr:`no_key_timeout_at`, then one moment per key.
        """
        return [self.no_key_timeout_at, *(t + self.inter_digit_timeout for t in presses)]


class GatherClock(NamedTuple):
    """Where a running gather's timers stand at one instant (see :meth:`GatherMachine.clock_at`)."""

    prompt_left: float  # API seconds until the prompt's current play ends; 0 once it has
    # API seconds until the running timeout fires (the first-key one in full during the prompt); on v2
    # before the first key with plays left, until the prompt replays
    timeout_left: float
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
        "plays",
        "prompt_stopped_at",
        "reason",
        "spec",
        "started_at",
        "terminating_digit",
    )

    def __init__(self, spec: GatherSpec, start_time: float = 0.0) -> None:
        self.spec = spec
        self.started_at = start_time
        self.digits = ""  # gathered so far, terminating digits excluded
        self.reason: Reason | str | None = None  # set on completion; "" when stopped by the application
        self.terminating_digit = ""  # the key that ended the gather, if one did
        self.completed_at: float | None = None
        self.first_key_at: float | None = None
        self.prompt_stopped_at: float | None = None
        self.plays = 1  # plays of the prompt begun (v2 repeatCount counts them)
        self._playing = spec.prompt_seconds > 0
        # The first-key clock is armed only once the prompt's play is over.
        self._prompt_end: float | None = start_time + spec.prompt_seconds if self._playing else None
        self._idle_at: float | None = None if self._playing else start_time + spec.first_key_timeout

    @property
    def done(self) -> bool:
        """True once the gather completed or was stopped."""
        return self.reason is not None

    @property
    def prompt_playing(self) -> bool:
        return self._playing

    @property
    def has_result(self) -> bool:
        """True once the gather ended with a result to report (v2: not after a hang-up, nor a stop)."""
        if self.reason is None or self.reason == "":
            return False
        return self.reason != Reason.HUNG_UP or self.spec.rules.hang_up_result

    def clock_at(self, now: float) -> GatherClock:
        """The timers as they stand at ``now``, without firing any: what a clock display shows.

        :param now: API seconds on the machine's clock, not before the last input.
        :returns: the prompt time left, the running timeout's time left (never negative) and whether a
            looping prompt is still playing.
        """
        timeout = self.spec.first_key_timeout
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
        """When the next timer fires (end of a play of the prompt, a replay, or a timeout)."""
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
            self.terminating_digit = key
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
        """The call ended at ``now``: a running gather completes with ``hung-up`` (on v2 it emits
        ``disconnected``: there is no gather result)."""
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
        spec = self.spec
        while self.reason is None:  # a v2 gather may replay its prompt several times before ``now``
            end = self._prompt_end
            if end is not None and (end <= now if inclusive else end < now):
                self._prompt_end = None
                if not spec.loop_prompt:
                    self._stop_prompt(end, out)
                self._idle_at = end + spec.first_key_timeout
            idle = self._idle_at
            if idle is None or self._prompt_end is not None or not (idle <= now if inclusive else idle < now):
                return
            if self.first_key_at is None and self.plays < spec.repeat_count:
                self._replay(idle, out)
            else:
                self._complete(idle, Reason.INTER_DIGIT_TIMEOUT, out)

    def _replay(self, now: float, out: list[Effect]) -> None:
        """No key came within the first-key timeout and plays are left: the prompt plays again."""
        self.plays += 1
        if self.spec.prompt_seconds > 0:
            self._playing = True
            self._prompt_end = now + self.spec.prompt_seconds
            self._idle_at = None
            out.append(Effect(now, PROMPT_STARTED))
        else:  # nothing to hear: only the wait repeats
            self._idle_at = now + 0.0 + self.spec.first_key_timeout

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
        ended = DISCONNECTED if reason == Reason.HUNG_UP and not self.spec.rules.hang_up_result else COMPLETED
        out.append(Effect(now, ended, reason=reason, digits=self.digits))


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
    terminating_digit: str = ""  # the key that ended the gather ("" for none)
    dialect: str = "v1"
    plays: int = 1  # plays of the prompt begun

    @property
    def duration(self) -> float:
        return self.completed_at - self.started_at

    @property
    def has_result(self) -> bool:
        """False when no gather result was sent: a v2 gather ended by a hang-up (v2 sends disconnect)."""
        return self.reason != Reason.HUNG_UP or DIALECTS[self.dialect].hang_up_result


def run_gather(
    spec: GatherSpec,
    presses: Sequence[tuple[float, str]],
    hangup_at: float | None = None,
    start_time: float = 0.0,
) -> GatherOutcome:
    """Play one gather to its end over a timeline of ``(time, key)`` presses and an optional hang-up.

    Presses must be in time order (and not before ``start_time``); keys after the gather ended are
    ignored. With neither enough keys nor a hang-up the gather ends on its timeout (v2: after its last
    replay).
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
        terminating_digit=machine.terminating_digit,
        dialect=spec.dialect,
        plays=machine.plays,
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
