"""The vectorised campaign engine against the event-driven engine (run_gather), caller by caller."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_vectorised import KEYS, agree, specs  # one oracle and one option strategy for both files

from catapult_nb.campaign import Caller, mix
from catapult_nb.campaign.plans import build_plan, draw
from catapult_nb.engine import GatherSpec


def _matrix(rows: list[list[float]], keys: list[str], width: int) -> tuple[np.ndarray, np.ndarray]:
    times = np.zeros((len(rows), width))
    codes = np.full((len(rows), width), ord("0"), dtype=np.uint8)
    for i, (row, key_row) in enumerate(zip(rows, keys, strict=True)):
        times[i, : len(row)] = row[:width]
        codes[i, : len(key_row)] = np.frombuffer(key_row.encode("ascii"), dtype=np.uint8)
    return times, codes


def _agree(spec: GatherSpec, rows: list[list[float]], keys: list[str], hang_ups: list[float | None]) -> None:
    times, codes = _matrix(rows, keys, max(len(row) for row in rows))
    count = np.array([len(k) for k in keys])
    hang = np.array([math.nan if h is None else h for h in hang_ups])
    agree(spec, times, codes, count, hang)  # the keys decide: a row's times beyond its keys are unused


callers = st.builds(
    Caller,
    code_length=st.integers(1, 10),
    first_key_median=st.sampled_from([0.1, 0.5, 1.5, 4.0]),
    first_key_sigma=st.sampled_from([0.0, 0.5, 1.5]),
    barge_in=st.sampled_from([0.0, 0.3, 1.0]),
    key_gap_median=st.sampled_from([0.2, 0.6, 1.5, 3.0]),
    key_gap_sigma=st.sampled_from([0.0, 0.4, 1.0]),
    terminator_rate=st.sampled_from([0.0, 0.5, 1.0]),
    terminator=st.one_of(st.none(), st.sampled_from(list(KEYS))),
    extra_keys_rate=st.sampled_from([0.0, 0.5]),
    extra_keys=st.integers(0, 4),
    hang_up_rate=st.sampled_from([0.0, 0.3, 1.0]),
)


@pytest.mark.slow  # generated option sets, each checked caller by caller
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=specs,
    caller=callers,
    seed=st.integers(0, 2**32 - 1),
    margin=st.sampled_from([0.0, 0.0, 0.05]),
    grid=st.sampled_from([None, None, 0.25, 0.5]),
)
def test_vectorised_kernel_agrees_with_the_engine_caller_by_caller(
    spec: GatherSpec, caller: Caller, seed: int, margin: float, grid: float | None
) -> None:
    margin = min(margin, spec.inter_digit_timeout / 2)
    plan = build_plan(draw(mix(caller), 200, seed), spec, margin)
    rows = [row[: len(keys)] for row, keys in zip(plan.times, plan.keys, strict=True)]
    hang_ups = plan.hang_ups
    if grid:  # snap to a grid: keys exactly on a timeout, on the prompt's end, at a hang-up
        rows = [[round(t / grid) * grid for t in row] for row in rows]
        hang_ups = [None if h is None else round(h / grid) * grid for h in hang_ups]
    _agree(spec, rows, plan.keys, hang_ups)


def test_ties_follow_the_engine_order() -> None:
    spec = GatherSpec(max_digits=3, inter_digit_timeout=1.0, terminating_digits="#", prompt_seconds=2.0)
    _agree(
        spec,
        [[3.0, 4.0, 5.0], [2.0, 3.0], [0.5, 1.5], [3.0], [3.5], [0.0], [1.0, 2.0, 3.0]],
        ["123", "1#", "12", "1", "1", "#", "12#"],
        [None, 3.0, 1.5, 3.0, 3.0, 0.0, 2.5],
    )
