"""The vectorised gather engine against the event-driven one (run_gather), caller by caller."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catapult_nb.engine import GatherSpec, run_gather
from catapult_nb.engine_vectorised import REASONS, digit_strings, play

KEYS = "0123456789*#ABCD"
CALLERS = 200


def agree(spec: GatherSpec, times: np.ndarray, keys: np.ndarray, count: np.ndarray, hang: np.ndarray) -> None:
    """Every caller's outcome from :func:`play` equals :func:`run_gather`'s on the same timeline."""
    got = play(spec, times, keys, count, hang)
    digits = digit_strings(keys, got.n_digits)
    for i in range(len(count)):
        presses = [(float(t), chr(k)) for t, k in zip(times[i, : count[i]], keys[i, : count[i]], strict=True)]
        hang_up = None if math.isnan(hang[i]) else float(hang[i])
        want = run_gather(spec, presses, hang_up)
        where = (i, spec, presses, hang_up)
        assert REASONS[got.reason[i]] == want.reason, where
        assert digits[i] == want.digits, where
        assert got.completed_at[i] == want.completed_at, where
        first = got.first_key_at[i]
        assert (math.isnan(first) and want.first_key_at is None) or first == want.first_key_at, where


specs = st.builds(
    GatherSpec,
    max_digits=st.integers(1, 12),
    inter_digit_timeout=st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 7.0]),
    terminating_digits=st.text(KEYS, min_size=1, max_size=3),
    prompt_seconds=st.sampled_from([0.0, 0.5, 1.0, 2.4, 3.0]),
    loop_prompt=st.booleans(),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=specs,
    seed=st.integers(0, 2**32 - 1),
    gap=st.sampled_from([0.1, 0.5, 1.0, 2.0, 4.0]),
    grid=st.sampled_from([None, None, 0.25, 0.5]),
    hang_share=st.sampled_from([0.0, 0.3, 1.0]),
    terminator_share=st.sampled_from([0.0, 0.1, 0.5]),
)
def test_vectorised_engine_agrees_with_run_gather_caller_by_caller(
    spec: GatherSpec, seed: int, gap: float, grid: float | None, hang_share: float, terminator_share: float
) -> None:
    # 200 callers per option set: keys typed with lognormal gaps, some terminators, some hang-ups, and on
    # a grid exact ties (a key on the timeout, on the prompt's end, at the hang-up)
    rng = np.random.default_rng(seed)
    width = 14
    times = np.cumsum(gap * np.exp(rng.standard_normal((CALLERS, width))), axis=1)
    hang = np.where(rng.random(CALLERS) < hang_share, rng.random(CALLERS) * times[:, -1], np.nan)
    if grid:
        times, hang = np.round(times / grid) * grid, np.round(hang / grid) * grid
    codes = np.frombuffer(KEYS.encode("ascii"), dtype=np.uint8)
    keys = codes[rng.integers(0, 10, size=(CALLERS, width))]
    ends = rng.random((CALLERS, width)) < terminator_share
    keys[ends] = codes[rng.integers(10, len(KEYS), size=int(ends.sum()))]
    count = rng.integers(0, width + 1, size=CALLERS)
    agree(spec, times, keys, count, hang)


def test_ties_follow_the_engine_order() -> None:
    # keys first, then a hang-up, then timers: a key on the timeout counts, a hang-up on a key comes after it
    spec = GatherSpec(max_digits=3, inter_digit_timeout=1.0, terminating_digits="#", prompt_seconds=2.0)
    rows = [([3.0, 4.0, 5.0], "123", None), ([2.0, 3.0], "1#", 3.0), ([0.5, 1.5], "12", 1.5),
            ([3.0], "1", 3.0), ([3.5], "1", 3.0), ([0.0], "#", 0.0), ([1.0, 2.0, 3.0], "12#", 2.5),
            ([], "", None), ([], "", 2.0)]
    times = np.zeros((len(rows), 3))
    keys = np.full((len(rows), 3), ord("0"), dtype=np.uint8)
    for i, (row, typed, _) in enumerate(rows):
        times[i, : len(row)] = row
        keys[i, : len(typed)] = np.frombuffer(typed.encode("ascii"), dtype=np.uint8)
    count = np.array([len(typed) for _, typed, _ in rows])
    hang = np.array([math.nan if h is None else h for _, _, h in rows])
    agree(spec, times, keys, count, hang)
