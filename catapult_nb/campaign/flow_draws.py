"""Every random draw of a flow campaign: what caller *i* does at the *v*-th visit of an Ask step.

The draws are counter based: each number is a hash of ``(seed, step, visit, caller, column)``
(splitmix64), not the next number of a stream. So a caller's draws at one step are the same whether the
callers are played one at a time (the event-driven player, the wire) or thousands at once (the
vectorised player), whichever other callers reach that step with them; two flows run with the same seed
meet the same people, and a change to one step changes only what happens from that step on.

At each visit a caller draws (columns of :func:`uniforms`): which answer to try; whether to add extra
keys, and which; whether to press the terminating key; whether to barge in, and where in the prompt;
the wait before the first key and each gap between keys (lognormal around their kind's medians);
whether to hang up, and when. What they do with them is :func:`caller_timeline` for one caller and
:func:`group_timelines` for many: the same rules, written once per shape, checked against each other by
a property test through the whole flow.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from catapult_nb.campaign.callers import Caller
from catapult_nb.campaign.plans import _away, _safe_hang_up
from catapult_nb.engine import GatherSpec
from catapult_nb.options import DTMF_KEYS

__all__ = [
    "MAX_ANSWER_KEYS", "Answers", "KindTable", "caller_timeline", "check_keys", "columns", "group_timelines",
    "normals",
    "step_key", "uniforms",
]

#: The longest answer a caller may be given to type at one step (keys).
MAX_ANSWER_KEYS = 100
# column layout of one visit's draws
ANSWER, EXTRA, TERMINATES, BARGE, BARGE_AT, HANGS_UP, HANG_UP_AT, FIRST_A, FIRST_B = range(9)
EXTRA_DIGITS = 16  # … 16 + 30: the extra keys' digits (a caller presses at most 30 extra keys)
GAPS = EXTRA_DIGITS + 30  # pairs (GAPS + 2k, GAPS + 2k + 1): the gap after key k
_COUNTER_SHIFT = 12  # columns per caller: 4,096 ≥ GAPS + 2 × (100 + 30 + 1)
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix_int(x: int) -> int:
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 (products wrap, as they should)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def step_key(seed: int, step: str, visit: int) -> int:
    """The key of one step's ``visit``-th visit (1 for the first) in a run with ``seed``."""
    key = _mix_int(seed * _GOLDEN + 1)
    key = _mix_int(key ^ zlib.crc32(step.encode()))
    return _mix_int(key + visit * _GOLDEN)


def uniforms(key: int, callers: np.ndarray, columns: Sequence[int] | np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) for each caller (rows) and column, from ``key`` alone.

    :param key: from :func:`step_key`.
    :param callers: caller indices (``0 … n-1``).
    :param columns: which columns of the layout (any subset: each number depends on its own column only).
    :returns: a ``(len(callers), len(columns))`` float64 array.
    """
    counter = (np.asarray(callers, dtype=np.uint64)[:, None] << np.uint64(_COUNTER_SHIFT)) + np.asarray(
        columns, dtype=np.uint64)[None, :]
    bits = _mix(counter * np.uint64(_GOLDEN) + np.uint64(key))
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def normals(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Standard normal numbers from pairs of uniforms (Box–Muller)."""
    out: np.ndarray = np.sqrt(-2.0 * np.log1p(-a)) * np.cos((2.0 * math.pi) * b)
    return out


def columns(width: int) -> np.ndarray:
    """The columns a visit needs when callers press at most ``width`` keys."""
    return np.arange(GAPS + 2 * max(width - 1, 0))


class Answers:
    """What callers try to enter at one Ask: one text, weighted texts, or a callable (a numpy Generator)."""

    def __init__(self, answers: Any, default: str) -> None:
        self.call = answers if callable(answers) else None
        if answers is None:
            answers = default
        if isinstance(answers, str):
            answers = {answers: 1.0}
        self.texts: list[str] = [] if self.call else [str(t).upper() for t in answers]
        weights = np.array([] if self.call else [float(answers[t]) for t in answers])
        self.cumulative = np.cumsum(weights / weights.sum()) if len(weights) else weights

    def choose(self, u: np.ndarray) -> np.ndarray:
        """Index into :attr:`texts` for each uniform number in ``u``."""
        return np.minimum(np.searchsorted(self.cumulative, u, side="right"), len(self.texts) - 1)

    def called(self, seed: int, caller: int, step: str, visit: int) -> str:
        """The callable's answer for one caller (its own Generator, seeded by caller, step and visit)."""
        assert self.call is not None
        rng = np.random.default_rng([seed, caller, zlib.crc32(step.encode()), visit])
        return str(self.call(rng)).upper()


@dataclass(frozen=True)
class KindTable:
    """Each caller kind's parameters as arrays, indexed by kind."""

    kinds: list[Caller]
    first_key_median: np.ndarray
    first_key_sigma: np.ndarray
    barge_in: np.ndarray
    key_gap_median: np.ndarray
    key_gap_sigma: np.ndarray
    terminator_rate: np.ndarray
    extra_keys_rate: np.ndarray
    extra_keys: np.ndarray
    hang_up_rate: np.ndarray

    @classmethod
    def of(cls, kinds: list[Caller]) -> KindTable:
        def column(name: str) -> np.ndarray:
            return np.array([float(getattr(c, name)) for c in kinds])

        return cls(kinds, column("first_key_median"), column("first_key_sigma"), column("barge_in"),
                   column("key_gap_median"), column("key_gap_sigma"), column("terminator_rate"),
                   column("extra_keys_rate"), column("extra_keys").astype(np.int64), column("hang_up_rate"))

    def max_extra(self) -> int:
        return int(self.extra_keys.max())


def check_keys(text: str, step: str) -> None:
    """Raise :class:`FlowError` unless ``text`` is keys a caller can press (at most
    :data:`MAX_ANSWER_KEYS`)."""
    from catapult_nb.flows.steps import FlowError

    if len(text) > MAX_ANSWER_KEYS or any(key not in DTMF_KEYS for key in text.upper()):
        raise FlowError(
            f"callers can only press keys of {DTMF_KEYS} (at most {MAX_ANSWER_KEYS} at one step), "
            f"got the answer {text!r}", step=step, field="answers",
        )


def _ender(caller: Caller, spec: GatherSpec) -> str:
    """The terminating key a caller presses: their own, else the gather's first ("" if it has none)."""
    return (caller.terminator or spec.terminating_digits[:1]).upper()


def caller_timeline(
    caller: Caller, intended: str, prompt: float, spec: GatherSpec, key: int, index: int, margin: float = 0.0
) -> tuple[list[tuple[float, str]], float | None]:
    """What one caller does at one gather: key presses (time from the gather's start, key) and a hang-up.

    :param caller: the caller's kind.
    :param intended: what they try to enter (upper case).
    :param prompt: how long the prompt plays (API seconds; 0 for none).
    :param spec: the gather (its inter-digit timeout and terminating digits).
    :param key: :func:`step_key` of this step and visit; ``index``: the caller's number.
    :param margin: keep every wait that could decide an inter-digit timeout this far (API seconds) from
        it, and a hang-up this far from every key and timeout, as single-gather campaigns do
        (docs/campaigns.md, "Over the wire"); the draws are the same whatever the margin.
    """
    width = len(intended) + caller.extra_keys + 1
    u = uniforms(key, np.array([index]), columns(width))[0]
    keys = intended
    if keys and u[EXTRA] < caller.extra_keys_rate:
        keys += "".join(str(int(x * 10)) for x in u[EXTRA_DIGITS: EXTRA_DIGITS + caller.extra_keys])
    ender = _ender(caller, spec)
    if keys and ender and u[TERMINATES] < caller.terminator_rate:
        keys += ender
    if prompt > 0 and u[BARGE] < caller.barge_in:
        first = float(u[BARGE_AT] * prompt)
    else:
        wait = caller.first_key_median * np.exp(caller.first_key_sigma * normals(u[FIRST_A:FIRST_A + 1],
                                                                                 u[FIRST_B:FIRST_B + 1]))
        first = float(prompt + wait[0])
    n_gaps = max(len(keys) - 1, 0)
    pairs = u[GAPS: GAPS + 2 * n_gaps]
    gaps = caller.key_gap_median * np.exp(caller.key_gap_sigma * normals(pairs[0::2], pairs[1::2]))
    timeout = spec.inter_digit_timeout
    if margin > 0:
        if first >= prompt:
            first = prompt + float(_away(np.array([first - prompt]), timeout, margin)[0])
        gaps = _away(gaps, timeout, margin)
    times = [first, *(first + np.cumsum(gaps)).tolist()]
    presses = list(zip(times, keys, strict=False))
    hang_up = None
    if u[HANGS_UP] < caller.hang_up_rate:
        last = presses[-1][0] if presses else prompt + timeout
        hang_up = float(u[HANG_UP_AT] * last)
        if margin > 0:
            hang_up = _safe_hang_up(hang_up, [t for t, _ in presses], prompt, timeout, margin)
    return presses, hang_up


def group_timelines(
    table: KindTable, kind: np.ndarray, callers: np.ndarray, intended: np.ndarray, length: np.ndarray,
    prompt: np.ndarray, spec: GatherSpec, key: int, margin: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`caller_timeline` for many callers at once, as the arrays :func:`engine_vectorised.play`
    reads.

    :param kind: each caller's kind (index into ``table``); ``callers``: their numbers.
    :param intended: ``(m, L)`` uint8 ASCII codes of what each tries to enter; ``length``: how many.
    :param prompt: ``(m,)`` prompt lengths.
    :param margin: as for :func:`caller_timeline`.
    :returns: ``times`` ``(m, width)``, ``keys`` ``(m, width)`` uint8, ``count`` ``(m,)`` and ``hang_up``
        ``(m,)`` (NaN for none).
    """
    m, answer_width = intended.shape
    extra_max = table.max_extra()
    width = answer_width + extra_max + 1
    u = uniforms(key, callers, columns(width))
    rows = np.arange(m)
    keys = np.full((m, width), ord("0"), dtype=np.uint8)
    keys[:, :answer_width] = intended
    has_keys = length > 0
    extra = np.where(has_keys & (u[:, EXTRA] < table.extra_keys_rate[kind]), table.extra_keys[kind], 0)
    extra_digits = (u[:, EXTRA_DIGITS: EXTRA_DIGITS + extra_max] * 10).astype(np.uint8) + ord("0")
    for j in range(extra_max):  # extra key j lands just after the answer, where it is pressed at all
        takes = j < extra
        keys[rows[takes], length[takes] + j] = extra_digits[takes, j]
    count = length + extra
    enders = np.array([ord(_ender(c, spec) or "0") for c in table.kinds], dtype=np.uint8)[kind]
    can_end = np.array([bool(_ender(c, spec)) for c in table.kinds])[kind]
    ends = has_keys & can_end & (u[:, TERMINATES] < table.terminator_rate[kind])
    keys[rows[ends], count[ends]] = enders[ends]
    count = count + ends
    barge = (prompt > 0) & (u[:, BARGE] < table.barge_in[kind])
    wait = table.first_key_median[kind] * np.exp(
        table.first_key_sigma[kind] * normals(u[:, FIRST_A], u[:, FIRST_B]))
    first = np.where(barge, u[:, BARGE_AT] * prompt, prompt + wait)
    pairs = u[:, GAPS:]
    gaps = table.key_gap_median[kind][:, None] * np.exp(
        table.key_gap_sigma[kind][:, None] * normals(pairs[:, 0::2], pairs[:, 1::2]))
    timeout = spec.inter_digit_timeout
    if margin > 0:
        first = np.where(first >= prompt, prompt + _away(first - prompt, timeout, margin), first)
        gaps = _away(gaps, timeout, margin)
    times = np.empty((m, width))
    times[:, 0] = first
    times[:, 1:] = first[:, None] + np.cumsum(gaps, axis=1)
    last = np.where(count > 0, times[rows, np.maximum(count - 1, 0)], prompt + timeout)
    hang_up = np.where(u[:, HANGS_UP] < table.hang_up_rate[kind], u[:, HANG_UP_AT] * last, np.nan)
    if margin > 0:
        for i in np.flatnonzero(~np.isnan(hang_up)).tolist():
            hang_up[i] = _safe_hang_up(float(hang_up[i]), times[i, : count[i]].tolist(), float(prompt[i]),
                                       timeout, margin)
    return times, keys, count, hang_up
