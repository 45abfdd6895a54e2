"""Every random draw of a campaign, and the timelines built from it (see ``docs/campaigns.md``).

The draws depend only on the callers, ``n`` and the seed, never on the options: two option sets run with
the same seed face the same people.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from catapult_nb.campaign.callers import CallerMix
from catapult_nb.engine import GatherSpec, run_gather

__all__ = ["Draws", "Plan", "build_plan", "draw", "play"]


@dataclass(frozen=True)
class Draws:
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


def draw(callers: CallerMix, n: int, seed: int) -> Draws:
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
    return Draws(kind, barge, barge_at, first_wait, gaps, digits, n_digits, terminates, code_length,
                  hangs_up, hang_up_at, [c.terminator for c in kinds])


@dataclass
class Plan:
    """The callers' timelines for one gather spec: what each caller does and when."""

    times: list[list[float]]  # per caller, the planned key times (only the first len(keys) count)
    keys: list[str]  # per caller, the keys in order
    hang_ups: list[float | None]  # per caller, when they hang up (None: they do not)
    intended: list[str]  # per caller, the code they meant to enter

    def timelines(self) -> Iterator[tuple[list[tuple[float, str]], float | None]]:
        """Each caller's ``(presses, hang_up_at)``, built on the fly to keep memory flat."""
        for row, keys, hang_up in zip(self.times, self.keys, self.hang_ups, strict=True):
            yield list(zip(row, keys)), hang_up  # noqa: B905 — rows are padded; the keys decide


def build_plan(draws: Draws, spec: GatherSpec, margin: float) -> Plan:
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
    return Plan(time_rows, keys, hang_ups, intended)


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


def play(spec: GatherSpec, plan: Plan) -> tuple[list[str], list[str], list[float], list[float]]:
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
