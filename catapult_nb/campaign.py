"""Synthetic caller campaigns: prototype gather options on thousands of simulated callers.

A campaign plays ``n`` callers against one set of gather options with the simulator's own gather engine
(:func:`catapult_nb.engine.run_gather`) on a discrete-event clock — no sleeping, no HTTP — and
returns frames shaped like a real session's, so everything in :mod:`catapult_nb.analysis` applies::

    result = run_campaign(GatherOptions(max_digits=5, inter_digit_timeout=7), n=10_000, seed=1)
    result.table                       # analysis.gather_table(result.events, result.gathers)
    events, gathers = result           # the two frames, as EventStore.to_dataframe() / .gathers() give them
    compare({"3 s": GatherOptions(inter_digit_timeout=3), "7 s": GatherOptions(inter_digit_timeout=7)},
            n=10_000, seed=1).plot()

**Callers.** A :class:`Caller` describes one kind of caller with a few parameters (code length, when the
first key comes, typing speed as a lognormal gap between keys, how often the terminating key is pressed,
pressing too many keys, hanging up early). A :class:`CallerMix` blends kinds with weights. Every random
draw depends only on the callers, ``n`` and ``seed`` — never on the options — so two option sets run with
the same seed face exactly the same people, which is what makes a comparison fair.

**A caller's timeline**, in API seconds from the gather's creation (``P`` = the prompt's length):

* the first key comes ``P + delay`` (``delay`` lognormal around ``first_key_median``), or — for the
  ``barge_in`` share of callers — somewhere during the prompt;
* then the rest of the intended code, one key every ``gap`` (lognormal around ``key_gap_median``);
* ``extra_keys_rate`` of callers press ``extra_keys`` more digits after the code;
* ``terminator_rate`` of callers finish with a terminating key (``Caller.terminator``, else the gather's
  first terminating digit);
* ``hang_up_rate`` of callers hang up at a uniformly random moment before their last planned key.

**The frames.** ``events`` has one ``gather`` event per caller with the columns of
``EventStore.to_dataframe()`` (``eventType``, ``time``, ``callId``, ``gatherId``, ``reason``, ``state``,
``digits``, ``tag``, …, ``payload``) plus ``firstKeyTime`` (campaigns know the first key even with
``suppressDtmf``), ``caller`` (0…n-1), ``callerType`` and ``intended`` (the code the caller meant). No
``dtmf``/``speak`` rows are produced. ``gathers`` has the columns of ``EventStore.gathers()`` plus
``optionSet`` (the campaign's label). Gather *k* is created at ``CAMPAIGN_EPOCH + k`` seconds (one caller
per API second; callers do not interact, so this only spreads the timestamps).

**Over the wire** (``over_the_wire=True``): the same timelines are played through the HTTP simulator —
each caller is an inbound call from ``/_sim/incoming``, answered, given the gather, then its keys are
pressed through ``/_sim/calls/{id}/press`` at the planned times and its hang-up through ``/_sim/…/hangup``;
callbacks go to a real :class:`~catapult_nb.receiver.CallbackReceiver` and its store. It checks the engine
against the server. Keys are timed from the moment the gather's create request is answered, so they reach
the simulator late by a couple of request trips — never early. On a busy machine (the simulator, the
receiver and the callers share one process) that is tens of milliseconds, now and then a hundred: at
``speed=20`` up to two API seconds, and a key that lands near a deadline could go either way. So timelines
get a safety ``margin`` (API seconds; default ``0.15 * speed``, i.e. 150 wall milliseconds, at least 0.5
and at most half the inter-digit timeout): every gap (and the first key's wait after the prompt) is moved
at least ``margin`` away from the inter-digit timeout, and every hang-up at least ``margin`` away from
every key and every possible timeout. An engine run with the same ``margin`` and seed plays exactly the same
timelines, so the two modes can be compared call by call (``caller`` column).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import math
import os
import tempfile
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from catapult_nb import analysis, prompts
from catapult_nb.engine import GatherSpec, Reason, run_gather
from catapult_nb.options import DTMF_KEYS, GatherOptions

__all__ = [
    "CAMPAIGN_EPOCH",
    "DEFAULT_CALLERS",
    "Caller",
    "CallerMix",
    "CampaignResult",
    "Comparison",
    "compare",
    "mix",
    "run_campaign",
    "run_over_the_wire",
]

#: When the first synthetic gather is created; the k-th one is created k API seconds later.
CAMPAIGN_EPOCH = pd.Timestamp("2026-01-01T00:00:00Z")
_MAX_N = 10_000_000  # the call numbers and ids have room for this many callers


def _flatten(wire: dict[str, Any]) -> dict[str, Any]:
    """Wire options as the gathers table's columns: ``prompt`` becomes ``prompt.sentence`` etc."""
    flat = {k: v for k, v in wire.items() if k != "prompt"}
    flat.update({f"prompt.{k}": v for k, v in wire.get("prompt", {}).items()})
    return flat


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_int(name: str, value: Any, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high:,}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")


def _check_float(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'above' if low_open else 'at least'} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high:g}, got {value:g}")


# --------------------------------------------------------------------------------------------------
# Callers


@dataclass(frozen=True)
class Caller:
    """One kind of caller. Times are API seconds; every share is a probability in [0, 1].

    Presets: :meth:`typical`, :meth:`hesitant`, :meth:`overtyper`, :meth:`quitter`; change any parameter
    with keyword arguments (``Caller.typical(code_length=4)``) or :meth:`but`.

    :raises ValueError: for a parameter out of range (the message names it).
    """

    name: str = "caller"  # shown in the ``callerType`` column; unique within a mix
    code_length: int = 5  # digits the caller means to enter (1..30)
    first_key_median: float = 1.5  # typical wait after the prompt before the first key
    first_key_sigma: float = 0.5  # spread of that wait (lognormal shape; 0 = always the median)
    barge_in: float = 0.1  # share who start typing while the prompt still plays
    key_gap_median: float = 0.6  # typical time between two keys: the typing speed
    key_gap_sigma: float = 0.4  # spread of the gaps (lognormal shape)
    terminator_rate: float = 0.4  # share who end with a terminating key
    terminator: str | None = None  # that key; None = the gather's first terminating digit
    extra_keys_rate: float = 0.0  # share who press too many keys after the code
    extra_keys: int = 2  # how many too many
    hang_up_rate: float = 0.0  # share who hang up before finishing

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Caller name must be a non-empty string")
        _check_int("code_length", self.code_length, 1, 30)
        _check_int("extra_keys", self.extra_keys, 0, 30)
        for name in ("first_key_median", "key_gap_median"):
            _check_float(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("first_key_sigma", "key_gap_sigma"):
            _check_float(name, getattr(self, name), low=0.0, high=3.0)
        for name in ("barge_in", "terminator_rate", "extra_keys_rate", "hang_up_rate"):
            _check_float(name, getattr(self, name), low=0.0, high=1.0)
        if self.terminator is not None and (
            not isinstance(self.terminator, str) or len(self.terminator) != 1
            or self.terminator.upper() not in DTMF_KEYS
        ):
            raise ValueError(
                f"Caller terminator must be one key of {DTMF_KEYS} or None, got {self.terminator!r}"
            )

    def but(self, **changes: Any) -> Caller:
        """A copy with some parameters changed."""
        return replace(self, **changes)

    @classmethod
    def typical(cls, **changes: Any) -> Caller:
        """Knows the code, types at a steady pace, sometimes confirms with the terminating key."""
        return cls(**{"name": "typical", **changes})

    @classmethod
    def hesitant(cls, **changes: Any) -> Caller:
        """Slow to start (looks for the code) and slow between keys; never barges in."""
        params: dict[str, Any] = dict(name="hesitant", first_key_median=5.0, first_key_sigma=0.5,
                                      barge_in=0.0, key_gap_median=1.8, key_gap_sigma=0.6,
                                      terminator_rate=0.2)
        return cls(**{**params, **changes})

    @classmethod
    def overtyper(cls, **changes: Any) -> Caller:
        """Fast, and often presses a couple of keys too many before confirming."""
        params: dict[str, Any] = dict(name="overtyper", first_key_median=0.8, barge_in=0.3,
                                      key_gap_median=0.35, key_gap_sigma=0.3, terminator_rate=0.7,
                                      extra_keys_rate=0.8, extra_keys=2)
        return cls(**{**params, **changes})

    @classmethod
    def quitter(cls, **changes: Any) -> Caller:
        """Usually hangs up before finishing."""
        params: dict[str, Any] = dict(name="quitter", first_key_median=2.5, key_gap_median=0.9,
                                      hang_up_rate=0.8)
        return cls(**{**params, **changes})


@dataclass(frozen=True)
class CallerMix:
    """Kinds of callers with weights (relative; they need not sum to 1). Build it with :func:`mix`."""

    parts: tuple[tuple[Caller, float], ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a caller mix needs at least one Caller")
        names = [caller.name for caller, _ in self.parts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two callers in the mix are both named {twice[0]!r}: give each a name=")
        for caller, weight in self.parts:
            if not isinstance(caller, Caller):
                raise TypeError(f"a caller mix holds Caller objects, got {type(caller).__name__}")
            _check_float(f"the weight of {caller.name!r}", weight, low=0.0)
        if sum(w for _, w in self.parts) <= 0:
            raise ValueError("at least one caller in the mix needs a weight above 0")

    def __repr__(self) -> str:
        return "CallerMix(" + ", ".join(f"{name} {share:.0%}" for name, share in self.shares.items()) + ")"

    @property
    def shares(self) -> dict[str, float]:
        """Each kind's share of the callers."""
        total = sum(w for _, w in self.parts)
        return {caller.name: w / total for caller, w in self.parts}

    def _repr_html_(self) -> str:
        names = [f.name for f in fields(Caller) if f.name != "name"]
        head = "".join(f"<th>{html.escape(n)}</th>" for n in ["caller", "share", *names])
        rows = "".join(
            "<tr>" + f"<td>{html.escape(c.name)}</td><td>{self.shares[c.name]:.0%}</td>"
            + "".join(f"<td>{html.escape(str(getattr(c, n)))}</td>" for n in names) + "</tr>"
            for c, _ in self.parts
        )
        return f"<div><b>CallerMix</b><table><tr>{head}</tr>{rows}</table></div>"


def mix(*callers: Caller | tuple[Caller, float], **weights: float) -> CallerMix:
    """Blend caller kinds: ``mix((Caller.typical(), 0.8), (Caller.hesitant(), 0.2))``.

    A bare ``Caller`` has weight 1. ``weights`` may set weights by caller name instead:
    ``mix(Caller.typical(), Caller.quitter(), quitter=0.1)``.
    """
    parts: list[tuple[Caller, float]] = []
    for item in callers:
        caller, weight = (item, 1.0) if isinstance(item, Caller) else item
        parts.append((caller, float(weights.pop(caller.name, weight))))
    if weights:
        raise ValueError(f"no caller named {next(iter(weights))!r} in this mix")
    return CallerMix(tuple(parts))


#: The callers used when none are given: mostly typical, some hesitant, a few over-typers and quitters.
DEFAULT_CALLERS = mix(
    (Caller.typical(), 0.70), (Caller.hesitant(), 0.15), (Caller.overtyper(), 0.10), (Caller.quitter(), 0.05)
)


def _coerce_callers(callers: Any) -> CallerMix:
    if callers is None:
        return DEFAULT_CALLERS
    if isinstance(callers, CallerMix):
        return callers
    if isinstance(callers, Caller):
        return CallerMix(((callers, 1.0),))
    if isinstance(callers, Mapping):
        return CallerMix(tuple((c, float(w)) for c, w in callers.items()))
    if isinstance(callers, Sequence) and not isinstance(callers, str):
        return mix(*callers)
    raise TypeError(
        f"callers must be a Caller, a CallerMix (see mix()), a {{Caller: weight}} dict or a list, "
        f"got {type(callers).__name__}"
    )


# --------------------------------------------------------------------------------------------------
# Random draws (independent of the options) and the timelines built from them


@dataclass
class _Draws:
    """Everything random about ``n`` callers, drawn once from the seed."""

    kind: np.ndarray  # index into the mix, per caller
    barge: np.ndarray  # bool: first key during the prompt
    barge_at: np.ndarray  # where in the prompt, as a fraction of it
    first_wait: np.ndarray  # seconds after the prompt before the first key
    gaps: np.ndarray  # (n, width-1) seconds between consecutive keys
    digits: np.ndarray  # (n, width) code and extra digits, as ASCII codes of '0'..'9'
    n_digits: np.ndarray  # code length (+ extra keys) per caller
    terminates: np.ndarray  # bool: ends with a terminating key
    code_length: np.ndarray
    hangs_up: np.ndarray  # bool
    hang_up_at: np.ndarray  # when, as a fraction of the time to the last planned key
    terminator: list[str | None]  # per kind


def _draw(callers: CallerMix, n: int, seed: int) -> _Draws:
    kinds = [c for c, _ in callers.parts]
    weights = np.array([w for _, w in callers.parts], dtype=float)
    rng = np.random.default_rng(seed)

    def per_kind(name: str) -> np.ndarray:
        return np.array([float(getattr(c, name)) for c in kinds])

    kind = rng.choice(len(kinds), size=n, p=weights / weights.sum())
    width = max(c.code_length + c.extra_keys for c in kinds) + 1
    barge = rng.random(n) < per_kind("barge_in")[kind]
    barge_at = rng.random(n)
    first_wait = per_kind("first_key_median")[kind] * np.exp(
        per_kind("first_key_sigma")[kind] * rng.standard_normal(n))
    gaps = per_kind("key_gap_median")[kind][:, None] * np.exp(
        per_kind("key_gap_sigma")[kind][:, None] * rng.standard_normal((n, width - 1)))
    digits = (rng.integers(0, 10, size=(n, width)) + ord("0")).astype(np.uint8)
    extra = rng.random(n) < per_kind("extra_keys_rate")[kind]
    code_length = per_kind("code_length")[kind].astype(int)
    n_digits = code_length + np.where(extra, per_kind("extra_keys")[kind].astype(int), 0)
    terminates = rng.random(n) < per_kind("terminator_rate")[kind]
    hangs_up = rng.random(n) < per_kind("hang_up_rate")[kind]
    hang_up_at = rng.random(n)
    return _Draws(kind, barge, barge_at, first_wait, gaps, digits, n_digits, terminates, code_length,
                  hangs_up, hang_up_at, [c.terminator for c in kinds])


@dataclass
class _Plan:
    """The callers' timelines for one gather spec: what each caller does and when."""

    times: list[list[float]]  # per caller, the planned key times (only the first len(keys) count)
    keys: list[str]  # per caller, the keys in order
    hang_ups: list[float | None]  # per caller, when they hang up (None: they do not)
    intended: list[str]  # per caller, the code they meant to enter

    def timelines(self) -> Iterator[tuple[list[tuple[float, str]], float | None]]:
        """Each caller's ``(presses, hang_up_at)``, built on the fly to keep memory flat."""
        for row, keys, hang_up in zip(self.times, self.keys, self.hang_ups, strict=True):
            yield list(zip(row, keys)), hang_up  # noqa: B905 — rows are padded; the keys decide


def _plan(draws: _Draws, spec: GatherSpec, margin: float) -> _Plan:
    prompt = spec.prompt_seconds
    timeout = spec.inter_digit_timeout
    first = np.where(draws.barge & (prompt > 0), draws.barge_at * prompt, prompt + draws.first_wait)
    gaps = draws.gaps
    if margin > 0:
        first = np.where(first >= prompt, prompt + _away(first - prompt, timeout, margin), first)
        gaps = _away(gaps, timeout, margin)
    times = np.concatenate([first[:, None], first[:, None] + np.cumsum(gaps, axis=1)], axis=1)
    count = draws.n_digits + draws.terminates
    last_key = times[np.arange(len(count)), count - 1]
    hang = np.where(draws.hangs_up, draws.hang_up_at * last_key, np.nan)

    default_end = spec.terminating_digits[0]
    ends = [t.upper() if t else default_end for t in draws.terminator]
    width = draws.digits.shape[1]
    raw = draws.digits.tobytes().decode("ascii")  # one string, sliced per caller: far cheaper than rows
    keys: list[str] = []
    intended: list[str] = []
    for i, (k, kind, terminates, length) in enumerate(zip(
            draws.n_digits.tolist(), draws.kind.tolist(), draws.terminates.tolist(),
            draws.code_length.tolist(), strict=True)):
        row = raw[i * width: i * width + k]
        keys.append(row + ends[kind] if terminates else row)
        intended.append(row[:length])
    time_rows = times.tolist()
    hang_ups: list[float | None] = [None if h != h else h for h in hang.tolist()]  # NaN: no hang-up
    if margin > 0:
        for i, h in enumerate(hang_ups):
            if h is not None:
                hang_ups[i] = _safe_hang_up(h, time_rows[i][: len(keys[i])], prompt, timeout, margin)
    return _Plan(time_rows, keys, hang_ups, intended)


def _away(values: np.ndarray, point: float, margin: float) -> np.ndarray:
    """Move values that fall within ``margin`` of ``point`` to ``point ± margin`` (the nearer side)."""
    near = np.abs(values - point) < margin
    return np.where(near, np.where(values < point, point - margin, point + margin), values)


def _safe_hang_up(at: float, presses: list[float], prompt: float, timeout: float, margin: float) -> float:
    """The nearest time to ``at`` that is ``margin`` away from every key and every possible timeout."""
    hazards = sorted({*presses, *(t + timeout for t in presses), prompt + timeout})
    candidates = [at, *(h - margin for h in hazards), *(h + margin for h in hazards)]
    for candidate in sorted(candidates, key=lambda c: abs(c - at)):
        if candidate >= margin and all(abs(candidate - h) >= margin for h in hazards):
            return candidate
    return hazards[-1] + margin  # unreachable: past the last hazard is always safe


# --------------------------------------------------------------------------------------------------
# Results


@dataclass
class CampaignResult:
    """A campaign's outcome: ``events`` and ``gathers`` frames shaped like a session's.

    ``events, gathers = result`` unpacks them; :attr:`table` is their :func:`analysis.gather_table`.
    """

    events: pd.DataFrame
    gathers: pd.DataFrame
    options: GatherOptions
    label: str  # the option set's name (``optionSet`` column)
    seed: int
    mode: str = "engine"  # "engine" or "wire"
    margin: float = 0.0  # the safety margin the timelines were built with (API seconds)
    _table: pd.DataFrame | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.events
        yield self.gathers

    @property
    def table(self) -> pd.DataFrame:
        """One row per gather (:func:`analysis.gather_table`), with ``caller``/``callerType``/``intended``
        and ``correct`` (completed with exactly the intended code)."""
        if self._table is None:
            table = analysis.gather_table(self.events, self.gathers)
            extra = self.events.loc[self.events["eventType"] == "gather"].drop_duplicates("gatherId")
            extra = extra.set_index(extra["gatherId"].astype(str))[["caller", "callerType", "intended"]]
            table = table.join(extra)
            table["correct"] = table["completed"] & (table["digits"] == table["intended"]).fillna(False)
            self._table = table
        return self._table

    def agreement(self, other: CampaignResult) -> pd.DataFrame:
        """Caller by caller, this result's reason and digits beside ``other``'s (e.g. wire vs engine).

        :returns: one row per caller with ``reason``/``digits`` of each side (suffixes ``_self`` and
            ``_other``) and ``agrees``.
        """
        mine = self.table.set_index("caller")[["reason", "digits"]].astype("string")
        theirs = other.table.set_index("caller")[["reason", "digits"]].astype("string")
        both = mine.join(theirs, how="outer", suffixes=("_self", "_other")).sort_index()
        both["agrees"] = ((both["reason_self"] == both["reason_other"])
                          & (both["digits_self"] == both["digits_other"])).fillna(False).astype(bool)
        return both

    def summary(self) -> pd.Series:
        """Completion and time-out rates, median duration and time to first key, share correct."""
        table = self.table
        finished = table.loc[table["finished"]]
        return pd.Series({
            "callers": len(table),
            "completionRate": analysis.completion_rate(table),
            "timeoutRate": float((finished["reason"] == Reason.INTER_DIGIT_TIMEOUT.value).mean()),
            "hungUpRate": float((finished["reason"] == Reason.HUNG_UP.value).mean()),
            "correctRate": float(finished["correct"].mean()),
            "medianDuration": float(finished["duration"].median()),
            "medianTimeToFirstKey": float(finished["timeToFirstKey"].median()),
        }, name=self.label)

    def __repr__(self) -> str:
        s = self.summary()
        return (f"CampaignResult({self.label!r}, callers={int(s['callers'])}, mode={self.mode!r}, "
                f"completed={s['completionRate']:.1%}, timeouts={s['timeoutRate']:.1%}, seed={self.seed})")

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{_fmt(k, v)}</td></tr>" for k, v in s.items()
        )
        return (f"<div><b>Campaign</b> {html.escape(self.label)} ({self.mode}, seed {self.seed})"
                f"<table>{rows}</table></div>")


def _fmt(key: str, value: float) -> str:
    if key == "callers":
        return f"{int(value):,}"
    if key.endswith("Rate"):
        return f"{value:.1%}"
    return f"{value:.2f} s"


# --------------------------------------------------------------------------------------------------
# Running


def run_campaign(
    options: GatherOptions | dict[str, Any] | None = None,
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    *,
    label: str | None = None,
    margin: float = 0.0,
    over_the_wire: bool = False,
    prompt_timing: str = "audio",
    **wire: Any,
) -> CampaignResult:
    """Play ``n`` synthetic callers against one set of gather options.

    :param options: the gather options (``GatherOptions``, or a wire dict as the API takes it).
    :param callers: who calls: a :class:`Caller`, a :class:`CallerMix`, a ``{Caller: weight}`` dict or a
        list of callers / ``(caller, weight)`` pairs. Default :data:`DEFAULT_CALLERS`.
    :param n: how many callers (1 … 10,000,000).
    :param seed: the random seed; the same seed and callers give the same people, whatever the options.
    :param label: the name of this option set in the ``optionSet`` column (default: the options spelled
        out by :func:`analysis.describe_options`).
    :param margin: keep every timing decision this many API seconds from its deadline (see the module
        docstring); 0 leaves the timelines as drawn. Over the wire it defaults to a safe value.
    :param over_the_wire: play the callers through the HTTP simulator with real callbacks instead of the
        engine; ``wire`` then takes ``speed``, ``simulator``, ``receiver``, ``rate``, ``timeout`` (see
        :func:`run_over_the_wire`).
    :param prompt_timing: ``"audio"`` times the prompt by its audio rendered with espeak-ng (once per
        run, not per caller), ``"estimate"`` at 150 words per minute — as the simulator does.
    :raises ValueError: for a bad ``n``, ``seed`` or ``margin`` (and OptionError for bad options).
    """
    options = GatherOptions.coerce(options) if options is not None else GatherOptions()
    mix_ = _coerce_callers(callers)
    _check_int("n", n, 1, _MAX_N)
    _check_int("seed", seed, 0, None)
    label = label if label is not None else analysis.describe_options(options)
    if over_the_wire:
        return run_over_the_wire(options, mix_, n, seed, label=label, margin=margin or None,
                                 prompt_timing=prompt_timing, **wire)
    if wire:
        raise TypeError(f"{', '.join(wire)} only apply with over_the_wire=True")
    _check_float("margin", margin, low=0.0, high=options.effective_inter_digit_timeout / 2)
    spec = GatherSpec.from_options(options, prompts.duration(options, prompt_timing))
    draws = _draw(mix_, n, seed)
    plan = _plan(draws, spec, margin)
    reasons, digits, first_keys, ends = _play(spec, plan)
    result = _result(options, mix_, label, seed, _ids(label, n), reasons, digits, first_keys, ends,
                     plan.intended, draws.kind, mode="engine")
    result.margin = margin
    return result


def _play(spec: GatherSpec, plan: _Plan) -> tuple[list[str], list[str], list[float], list[float]]:
    """The lean loop: one engine run per caller."""
    reasons: list[str] = []
    digits: list[str] = []
    first_keys: list[float] = []
    ends: list[float] = []
    nan = math.nan
    for presses, hang_up in plan.timelines():
        outcome = run_gather(spec, presses, hang_up)
        reasons.append(outcome.reason.value)
        digits.append(outcome.digits)
        first_keys.append(nan if outcome.first_key_at is None else outcome.first_key_at)
        ends.append(outcome.completed_at)
    return reasons, digits, first_keys, ends


def _ids(label: str, n: int) -> tuple[list[str], list[str]]:
    tag = f"{zlib.crc32(label.encode()):08x}"[:6]  # keeps ids of different option sets apart
    return ([f"c-syn{tag}{i:07d}" for i in range(n)], [f"gtr-syn{tag}{i:07d}" for i in range(n)])


def _result(options: GatherOptions, callers: CallerMix, label: str, seed: int,
            ids: tuple[list[str], list[str]], reasons: list[str], digits: list[str],
            first_keys: list[float], ends: list[float], intended: list[str], kind: np.ndarray,
            *, mode: str) -> CampaignResult:
    call_ids, gather_ids = ids
    n = len(call_ids)
    created = CAMPAIGN_EPOCH + pd.to_timedelta(np.arange(n, dtype=float), unit="s")
    created = pd.DatetimeIndex(created).as_unit("us")
    ended = created + pd.to_timedelta(np.asarray(ends, dtype=float), unit="s")
    first = created + pd.to_timedelta(np.asarray(first_keys, dtype=float), unit="s")
    names = [c.name for c, _ in callers.parts]
    events = _events_frame(options, call_ids, gather_ids, reasons, digits, ended, first)
    events["caller"] = np.arange(n)
    events["callerType"] = pd.Categorical.from_codes(kind, categories=names)
    events["intended"] = pd.array(intended, dtype="string")
    gathers = _gathers_frame(options, label, call_ids, gather_ids, created)
    return CampaignResult(events, gathers, options, label, seed, mode)


def _events_frame(options: GatherOptions, call_ids: list[str], gather_ids: list[str], reasons: list[str],
                  digits: list[str], ended: pd.DatetimeIndex, first: pd.DatetimeIndex) -> pd.DataFrame:
    n = len(call_ids)
    missing = pd.array([pd.NA] * n, dtype="string")
    events = pd.DataFrame({
        "eventType": pd.Categorical(["gather"] * n),
        "time": ended,
        "callId": call_ids,
        "gatherId": gather_ids,
        "reason": pd.Categorical(reasons, categories=list(analysis.REASONS)),
        "state": pd.Categorical(["completed"] * n),
        "digits": pd.array(digits, dtype="string"),
        "tag": pd.array([options.tag] * n, dtype="string"),
        "dtmfDigit": missing,
        "status": missing,
        "cause": missing,
        "callState": missing,
        "from": missing,
        "to": missing,
        "received": ended,
        "source": pd.Categorical(["campaign"] * n),
        "session": missing,
        "firstKeyTime": first,
    }, index=pd.RangeIndex(1, n + 1, name="id"))
    events["payload"] = [
        {"eventType": "gather", "reason": r, "state": "completed", "digits": d, "callId": c, "gatherId": g,
         **({"tag": options.tag} if options.tag is not None else {})}
        for r, d, c, g in zip(reasons, digits, call_ids, gather_ids, strict=True)
    ]
    return events


def _gathers_frame(options: GatherOptions, label: str, call_ids: list[str], gather_ids: list[str],
                   created: pd.DatetimeIndex) -> pd.DataFrame:
    n = len(call_ids)
    wire = options.to_wire(as_strings=False)
    frame = pd.DataFrame({"gatherId": gather_ids, "callId": call_ids, "createdTime": created})
    frame["options"] = [wire] * n  # one shared dict: the same options for every caller
    for name, value in _flatten(wire).items():
        frame[name] = [value] * n
    frame["optionSet"] = pd.Categorical([label] * n)
    return frame


# --------------------------------------------------------------------------------------------------
# Comparing option sets


@dataclass
class Comparison:
    """Several option sets played by the same callers (same seed): outcomes side by side."""

    results: dict[str, CampaignResult]

    @property
    def table(self) -> pd.DataFrame:
        """One row per option set, in the order given: rates, medians (API seconds), share correct."""
        rows = {name: result.summary() for name, result in self.results.items()}
        return pd.DataFrame(rows).T.rename_axis("optionSet").astype({"callers": "int64"})

    @property
    def gather_table(self) -> pd.DataFrame:
        """Every option set's :attr:`CampaignResult.table`, stacked (``optionSet`` tells them apart)."""
        return pd.concat([r.table for r in self.results.values()])

    def plot(self) -> Figure:
        """Three panels: how gathers ended, time-out and completion rates, and time to complete."""
        table = self.gather_table
        order = list(self.results)
        table = table.assign(optionSet=pd.Categorical(table["optionSet"].astype(str), categories=order))
        fig = analysis.PlotFigure(figsize=(13, 4), layout="constrained")
        left, middle, right = fig.subplots(1, 3)
        analysis.plot_reasons(table, by="optionSet", normalize=True, ax=left)
        left.get_legend().remove()  # the same colours are named in the right-hand panel's legend
        left.set_title("How gathers ended (share)")
        rates = self.table
        x = np.arange(len(rates))
        middle.bar(x - 0.2, rates["timeoutRate"], 0.4, label="time-out", color="#dd8452")
        middle.bar(x + 0.2, rates["completionRate"], 0.4, label="completed", color="#55a868")
        middle.set_xticks(x, [_short(name, 18) for name in rates.index], rotation=15)
        middle.set_ylim(0, 1)
        middle.set_ylabel("share of callers")
        middle.legend(fontsize="small")
        middle.set_title("Time-outs and completions")
        completed = table.loc[table["completed"]]
        if completed["duration"].notna().any():
            analysis.plot_durations(completed, by="optionSet", bins=40, ax=right)
        right.set_title("Time to complete (completed gathers)")
        return fig

    def __repr__(self) -> str:
        return f"Comparison of {len(self.results)} option sets\n{self.table.to_string()}"

    def _repr_html_(self) -> str:
        return "<div><b>Comparison</b>" + _styled(self.table) + "</div>"


def _styled(table: pd.DataFrame) -> str:
    formatters = {c: (lambda v: f"{v:.1%}") for c in table.columns if c.endswith("Rate")}
    formatters |= {c: (lambda v: f"{v:.2f} s") for c in table.columns if c.startswith("median")}
    return table.to_html(formatters=formatters)  # type: ignore[arg-type]


def compare(
    option_sets: Mapping[str, GatherOptions | dict[str, Any]] | Sequence[GatherOptions | dict[str, Any]],
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
    **kwargs: Any,
) -> Comparison:
    """Run the same callers (same ``seed``) against several option sets.

    :param option_sets: ``{name: options}``, or a list of options (named by their spelled-out options).
    :param callers, n, seed: as for :func:`run_campaign`.
    :param kwargs: passed on to :func:`run_campaign` (``margin``, ``over_the_wire``, …).
    :raises ValueError: for no option sets, or two with the same name.
    """
    if isinstance(option_sets, Mapping):
        named = [(str(k), v) for k, v in option_sets.items()]
    else:
        named = [(analysis.describe_options(GatherOptions.coerce(o)), o) for o in option_sets]
    if not named:
        raise ValueError("compare needs at least one option set")
    names = [name for name, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(
            "two option sets have the same name: pass a dict {name: options} with distinct names"
        )
    return Comparison({name: run_campaign(options, callers, n, seed, label=name, **kwargs)
                       for name, options in named})



# --------------------------------------------------------------------------------------------------
# Over the wire: the same timelines through the HTTP simulator, with real callbacks

_FROM_NUMBER = "+15550000000"


def _number(caller: int) -> str:
    # Ends in 9, never in the simulator's special 0001/0002/0003 endings.
    return f"+155{caller:07d}9"


def run_over_the_wire(
    options: GatherOptions | dict[str, Any] | None = None,
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 100,
    seed: int = 0,
    *,
    label: str | None = None,
    margin: float | None = None,
    speed: float = 20.0,
    simulator: Any = None,
    receiver: Any = None,
    concurrency: int = 16,
    timeout: float = 30.0,
    prompt_timing: str = "audio",
) -> CampaignResult:
    """Play the callers through the HTTP simulator, with callbacks into a real receiver and store.

    Each caller is an inbound call (``/_sim/incoming`` → answered with ``{"state": "active"}``); the gather
    is created with ``options``; the caller's keys are pressed one by one through ``/_sim/calls/{id}/press``
    at their planned times (API seconds scaled by the simulator's speed) and the hang-up, if any, through
    ``/_sim/calls/{id}/hangup``. Once the ``gather`` event is stored, the gather is read back (for its
    ``createdTime``), recorded with :meth:`EventStore.record_gather`, and the call is hung up.

    :param options, callers, n, seed, label: as for :func:`run_campaign`.
    :param margin: the timelines' safety margin in API seconds (see the module docstring); default
        ``max(0.5, 0.15 * speed)`` (150 wall milliseconds), at most half the inter-digit timeout. Use
        the result's ``margin`` to replay the same timelines on the engine.
    :param speed: the speed of the simulator started for the run (ignored when ``simulator`` is given).
    :param simulator: a running :class:`~catapult_nb.simulator.Simulator` to use instead of a private one.
    :param receiver: a running :class:`~catapult_nb.receiver.CallbackReceiver` (its store gets the events);
        default a private receiver with a temporary store, closed after the run.
    :param concurrency: how many callers are on the line at once.
    :param timeout: wall seconds to wait for each caller's ``gather`` event.
    :param prompt_timing: how the private simulator times sentences (a given ``simulator`` keeps its own).
    :raises TimeoutError: when some gather events never arrived (the message says how many and where to
        look); RuntimeError when the simulator refuses a request (with its message).
    """
    options = GatherOptions.coerce(options) if options is not None else GatherOptions()
    mix_ = _coerce_callers(callers)
    _check_int("n", n, 1, _MAX_N)
    _check_int("seed", seed, 0, None)
    _check_int("concurrency", concurrency, 1, 1000)
    _check_float("timeout", timeout, low=0.0, low_open=True)
    label = label if label is not None else analysis.describe_options(options)
    half = options.effective_inter_digit_timeout / 2
    with contextlib.ExitStack() as stack:
        sim = simulator if simulator is not None else stack.enter_context(
            _private_simulator(speed, prompt_timing))
        if margin is None:
            margin = min(max(0.5, 0.15 * sim.speed), half)
        _check_float("margin", margin, low=0.0, high=half)
        timing = getattr(sim, "prompt_timing", prompt_timing)  # a given simulator times as it was told
        spec = GatherSpec.from_options(options, prompts.duration(options, timing))
        draws = _draw(mix_, n, seed)
        plan = _plan(draws, spec, margin)
        rec = receiver if receiver is not None else stack.enter_context(_private_receiver())
        driver = _WireDriver(sim, rec, options, plan, concurrency, timeout)
        call_ids, gather_ids = driver.run()
        result = _wire_result(rec.store, options, mix_, label, seed, draws, plan, call_ids, gather_ids,
                              detach=receiver is None)
    result.margin = margin
    missing = [i for i, g in enumerate(gather_ids) if g not in driver.arrived]
    no_hangup = [i for i, c in enumerate(call_ids) if c not in driver.hung_up]
    if missing or no_hangup:
        first = (missing or no_hangup)[0]
        raise TimeoutError(
            f"callbacks were lost: {len(missing)} of {n} gather events and {len(no_hangup)} hangup events "
            f"did not arrive within {timeout:g} s (first: caller {first}, call {call_ids[first]}); see the "
            "simulator's /_sim/deliveries and receiver.rejected()"
        )
    return result


@contextlib.contextmanager
def _private_simulator(speed: float, prompt_timing: str) -> Iterator[Any]:
    from catapult_nb.simulator import Simulator

    with Simulator(speed=speed, prompt_timing=prompt_timing) as sim:
        yield sim


@contextlib.contextmanager
def _private_receiver() -> Iterator[Any]:
    from catapult_nb.events import EventStore
    from catapult_nb.receiver import CallbackReceiver

    with tempfile.TemporaryDirectory(prefix="catapult-campaign-") as folder:
        store = EventStore(os.path.join(folder, "events.sqlite3"), synchronous="NORMAL")
        try:
            with CallbackReceiver(store) as receiver:
                yield receiver
        finally:
            store.close()


class _WireDriver:
    """Runs every caller's timeline against the simulator on a private event loop in its own thread."""

    def __init__(self, sim: Any, receiver: Any, options: GatherOptions, plan: _Plan, concurrency: int,
                 timeout: float) -> None:
        self.sim, self.receiver, self.plan = sim, receiver, plan
        self.body = options.to_wire(as_strings=False)
        self.concurrency, self.timeout = concurrency, timeout
        self.speed = float(sim.speed)
        n = len(plan.keys)
        self.call_ids: list[str] = [""] * n
        self.gather_ids: list[str] = [""] * n
        self.arrived: set[str] = set()  # gather ids whose gather event is stored
        self.hung_up: set[str] = set()  # call ids whose hangup event is stored
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}  # (eventType, gather or call id)
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> tuple[list[str], list[str]]:
        failure: list[BaseException] = []

        def main() -> None:
            try:
                asyncio.run(self._main())
            except BaseException as exc:  # handed to the calling thread below
                failure.append(exc)

        # A thread of its own: a notebook's kernel already runs an event loop on the main thread.
        thread = threading.Thread(target=main, name="campaign-over-the-wire", daemon=True)
        store = self.receiver.store
        store.add_listener(self._on_event)
        try:
            thread.start()
            thread.join()
        finally:
            store.remove_listener(self._on_event)
        if failure:
            raise failure[0]
        return self.call_ids, self.gather_ids

    def _on_event(self, row: dict[str, Any]) -> None:
        # Runs on the receiver's writer thread: hand the news to our loop and return at once.
        loop, kind = self._loop, row.get("eventType")
        key = row.get("gatherId") if kind == "gather" else row.get("callId") if kind == "hangup" else None
        if key and loop is not None:
            with contextlib.suppress(RuntimeError):  # the run is over and its loop closed
                loop.call_soon_threadsafe(self._stored, str(kind), str(key))

    def _stored(self, kind: str, key: str) -> None:
        (self.arrived if kind == "gather" else self.hung_up).add(key)
        self._event(kind, key).set()

    def _event(self, kind: str, key: str) -> asyncio.Event:
        return self._waiters.setdefault((kind, key), asyncio.Event())

    async def _main(self) -> None:
        import aiohttp

        self._loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(self.concurrency)
        auth = {"Authorization": aiohttp.encode_basic_auth(self.sim.api_token, self.sim.api_secret)}
        connector = aiohttp.TCPConnector(limit=self.concurrency * 2)
        async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as http:
            self._http, self._auth = http, auth
            try:
                await asyncio.gather(*(self._caller(i, limit) for i in range(len(self.plan.keys))))
            finally:
                self._loop = None

    async def _request(self, method: str, url: str, expect: int, body: Any = None,
                       auth: bool = False) -> tuple[Any, Any]:
        async with self._http.request(method, url, json=body, headers=self._auth if auth else None) as resp:
            text = await resp.text()
            try:
                data = json.loads(text) if text else None
            except ValueError:
                data = text
            if resp.status != expect:
                message = str(data.get("message") if isinstance(data, dict) else data)
                path = url.removeprefix(self.sim.base_url)
                # The receiver's URL carries its secret path: never let an echo of it reach an exception.
                message = message.replace(self.receiver.url, "<callback url>")
                raise RuntimeError(
                    f"the simulator answered {method} {path} with HTTP {resp.status}: {message}"
                )
            return data, resp.headers

    async def _caller(self, i: int, limit: asyncio.Semaphore) -> None:
        async with limit:
            base, api = self.sim.base_url, f"{self.sim.api_url}/users/{self.sim.user_id}/calls"
            data, _ = await self._request("POST", f"{base}/_sim/incoming", 201, {
                "from": _FROM_NUMBER, "to": _number(i), "callbackUrl": self.receiver.url})
            call_id = self.call_ids[i] = data["callId"]
            await self._request("POST", f"{api}/{call_id}", 200, {"state": "active"}, auth=True)
            _, headers = await self._request("POST", f"{api}/{call_id}/gather", 201, self.body, auth=True)
            # Plan times count from the answer to the create request: the gather started just before it
            # was sent, so keys land a response's trip (plus their own) late, never early — even when
            # the create request itself was slow to be served.
            anchor = asyncio.get_running_loop().time()
            gather_id = self.gather_ids[i] = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            done = self._event("gather", gather_id)
            hung_up = await self._play(i, call_id, anchor, done)
            try:
                await asyncio.wait_for(done.wait(), self.timeout)
            except asyncio.TimeoutError:
                return  # counted as missing and reported once all callers are through
            gather, _ = await self._request("GET", f"{api}/{call_id}/gather/{gather_id}", 200, auth=True)
            self.receiver.store.record_gather(gather_id, call_id, self.body, gather.get("createdTime"))
            if not hung_up:
                await self._request("POST", f"{api}/{call_id}", 200, {"state": "completed"}, auth=True)
            # The call's last callback: once it is stored, nothing of this caller is still in flight.
            with contextlib.suppress(asyncio.TimeoutError):  # counted as missing and reported by run()
                await asyncio.wait_for(self._event("hangup", call_id).wait(), self.timeout)

    async def _play(self, i: int, call_id: str, anchor: float, done: asyncio.Event) -> bool:
        """Press the caller's keys and hang up at the planned moments; True if the caller hung up."""
        base = self.sim.base_url
        steps: list[tuple[float, str]] = list(zip(self.plan.times[i], self.plan.keys[i]))  # noqa: B905
        hang_up = self.plan.hang_ups[i]
        if hang_up is not None:
            steps = sorted([*steps, (hang_up, "")], key=lambda step: step[0])
        for at, key in steps:
            await _until(anchor + at / self.speed)
            if done.is_set():  # the gather is over: the caller's remaining keys no longer matter
                return False
            if key:
                await self._request("POST", f"{base}/_sim/calls/{call_id}/press", 202, {"digits": key})
            else:
                await self._request("POST", f"{base}/_sim/calls/{call_id}/hangup", 202)
                return True
        return False


async def _until(when: float) -> None:
    """Resume at loop time ``when``: a caller acting at a planned moment of its timeline."""
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    moment = loop.create_future()
    handle = loop.call_at(when, lambda: moment.done() or moment.set_result(None))
    try:
        await moment
    finally:
        handle.cancel()


def _wire_result(store: Any, options: GatherOptions, callers: CallerMix, label: str, seed: int,
                 draws: _Draws, plan: _Plan, call_ids: list[str], gather_ids: list[str],
                 *, detach: bool) -> CampaignResult:
    caller_of = {call_id: i for i, call_id in enumerate(call_ids) if call_id}
    events = store.to_dataframe()
    events = events.loc[events["callId"].isin(list(caller_of))].copy()
    if detach:  # the private store is about to close: load the payloads now
        events["payload"] = [dict(p) if p is not None else None for p in events["payload"]]
    index = events["callId"].map(caller_of).astype("int64")
    names = [c.name for c, _ in callers.parts]
    events["caller"] = index.to_numpy()
    events["callerType"] = pd.Categorical.from_codes(draws.kind[index.to_numpy()], categories=names)
    events["intended"] = pd.array([plan.intended[i] for i in index], dtype="string")
    gathers = store.gathers()
    gathers = gathers.loc[gathers["gatherId"].isin([g for g in gather_ids if g])].reset_index(drop=True)
    gathers["optionSet"] = pd.Categorical([label] * len(gathers))
    return CampaignResult(events, gathers, options, label, seed, mode="wire")
