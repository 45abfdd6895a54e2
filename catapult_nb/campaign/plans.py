"""Every random draw of a campaign, and the timelines built from it (see ``docs/campaigns.md``).

The draws depend only on the callers, ``n`` and the seed, never on the options: two option sets run with
the same seed face the same people.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from catapult_nb import analysis
from catapult_nb import engine_vectorised as vectorised
from catapult_nb.campaign.callers import CallerMix
from catapult_nb.engine import GatherSpec

__all__ = ["Draws", "Plan", "Timelines", "build_plan", "build_timelines", "draw", "play"]


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


@dataclass
class Timelines:
    """The callers' timelines as arrays, one row per caller: what :func:`play` reads."""

    times: np.ndarray  # (n, width) planned key times; only the first ``count`` of a row are pressed
    keys: np.ndarray  # (n, width) uint8 ASCII codes of the keys
    count: np.ndarray  # (n,) keys pressed
    hang_ups: np.ndarray  # (n,) hang-up times, NaN for none
    code_length: np.ndarray  # (n,) the intended code is the first code_length keys

    def intended(self) -> np.ndarray:
        """Per caller, the code they meant to enter (a NumPy ``str`` array)."""
        return vectorised.digit_strings(self.keys, self.code_length)


def build_timelines(draws: Draws, spec: GatherSpec, margin: float) -> Timelines:
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
    if margin > 0:
        for i in np.flatnonzero(draws.hangs_up).tolist():
            hang[i] = _safe_hang_up(float(hang[i]), times[i, : count[i]].tolist(), prompt, timeout, margin)
    default_end = spec.terminating_digits[0]
    ends = "".join(t.upper() if t else default_end for t in draws.terminator).encode("ascii")
    keys = draws.digits.copy()  # the code (and extra keys), then the terminating key where one is pressed
    enders = np.flatnonzero(draws.terminates)
    keys[enders, draws.n_digits[enders]] = np.frombuffer(ends, dtype=np.uint8)[draws.kind[enders]]
    return Timelines(times, keys, count, hang, draws.code_length)


def build_plan(draws: Draws, spec: GatherSpec, margin: float) -> Plan:
    lines = build_timelines(draws, spec, margin)
    width = lines.keys.shape[1]
    raw = lines.keys.tobytes().decode("ascii")  # one string, sliced per caller: far cheaper than rows
    keys = [raw[i * width: i * width + k] for i, k in enumerate(lines.count.tolist())]
    hang_ups: list[float | None] = [None if h != h else h for h in lines.hang_ups.tolist()]  # NaN: none
    return Plan(lines.times.tolist(), keys, hang_ups, lines.intended().tolist())


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


#: Callers played at once: bounds the memory of the (callers × keys) arrays of
#: :func:`catapult_nb.engine_vectorised.play`.
CHUNK = 1 << 17


def play(spec: GatherSpec, lines: Timelines) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every caller through the gather engine's rules at once, in chunks
    (:func:`catapult_nb.engine_vectorised.play`).

    :returns: per caller the reason as an index into :data:`analysis.REASONS`, the digits (``str``
        array), the first key's time (NaN for none) and the end's time, API seconds from the start.
    """
    to_table = np.array([list(analysis.REASONS).index(r.value) for r in vectorised.REASONS], dtype=np.int8)
    n = len(lines.count)
    reasons = np.empty(n, dtype=np.int8)
    first_keys = np.empty(n)
    ends = np.empty(n)
    digits: list[np.ndarray] = []
    for low in range(0, n, CHUNK):
        part = slice(low, low + CHUNK)
        keys = lines.keys[part]
        outcome = vectorised.play(spec, lines.times[part], keys, lines.count[part], lines.hang_ups[part])
        reasons[part] = to_table[outcome.reason]
        first_keys[part] = outcome.first_key_at
        ends[part] = outcome.completed_at
        digits.append(vectorised.digit_strings(keys, outcome.n_digits))
    return reasons, np.concatenate(digits) if digits else np.empty(0, dtype="U1"), first_keys, ends
