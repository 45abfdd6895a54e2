"""The two dialects on one engine: the vectorised twin plays v2 as the scalar engine does, v1 and v2 agree
where their rules coincide, and part exactly where they differ (default ``#``, the first key's timing,
30 against 50 digits, a hang-up)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catapult_nb.engine import GatherSpec, Reason, run_gather
from catapult_nb.engine_vectorised import REASONS, digit_strings, has_result, play, terminating_keys
from catapult_nb.options import GatherOptions, Prompt

KEYS = "0123456789*#ABCD"
CODES = np.frombuffer(KEYS.encode("ascii"), dtype=np.uint8)
CALLERS = 150
SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def timelines(seed: int, gap: float, grid: float | None, hang_share: float, terminator_share: float,
              width: int = 14):
    """Callers typing with lognormal gaps, some special keys, some hang-ups; on a grid, exact ties."""
    rng = np.random.default_rng(seed)
    times = np.cumsum(gap * np.exp(rng.standard_normal((CALLERS, width))), axis=1)
    hang = np.where(rng.random(CALLERS) < hang_share, rng.random(CALLERS) * times[:, -1], np.nan)
    if grid:
        times, hang = np.round(times / grid) * grid, np.round(hang / grid) * grid
    keys = CODES[rng.integers(0, 10, size=(CALLERS, width))]
    ends = rng.random((CALLERS, width)) < terminator_share
    keys[ends] = CODES[rng.integers(10, len(KEYS), size=int(ends.sum()))]
    count = rng.integers(0, width + 1, size=CALLERS)
    return times, keys, count, hang


def one(times, keys, count, hang, i):
    presses = [(float(t), chr(k)) for t, k in zip(times[i, : count[i]], keys[i, : count[i]], strict=True)]
    return presses, (None if math.isnan(hang[i]) else float(hang[i]))


lines = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "gap": st.sampled_from([0.1, 0.5, 1.0, 2.0, 4.0]),
    "grid": st.sampled_from([None, None, 0.25, 0.5]),
    "hang_share": st.sampled_from([0.0, 0.3, 1.0]),
    "terminator_share": st.sampled_from([0.0, 0.1, 0.5]),
})

v2_specs = st.builds(
    GatherSpec.v2,
    max_digits=st.integers(1, 50),
    inter_digit_timeout=st.sampled_from([1.0, 1.5, 2.0, 3.0, 7.0]),
    first_digit_timeout=st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]),
    terminating_digits=st.sampled_from(["", "", "#", "*#", "A"]),
    repeat_count=st.integers(1, 5),
    prompt_seconds=st.sampled_from([0.0, 0.5, 1.0, 2.4]),
)


@SLOW
@given(spec=v2_specs, line=lines)
def test_vectorised_v2_agrees_with_run_gather_caller_by_caller(spec: GatherSpec, line: dict) -> None:
    times, keys, count, hang = timelines(**line)
    got = play(spec, times, keys, count, hang)
    digits, ended_by = digit_strings(keys, got.n_digits), terminating_keys(keys, got)
    results = has_result(spec, got)
    for i in range(CALLERS):
        presses, hang_up = one(times, keys, count, hang, i)
        want = run_gather(spec, presses, hang_up)
        where = (i, spec, presses, hang_up)
        assert REASONS[got.reason[i]] == want.reason, where
        assert (digits[i], ended_by[i]) == (want.digits, want.terminating_digit), where
        assert got.completed_at[i] == want.completed_at, where
        assert results[i] == want.has_result, where


# -- where the rules coincide ----------------------------------------------------------------------

kept = st.fixed_dictionaries({
    "max_digits": st.integers(1, 30),
    "terminating_digits": st.sampled_from(["#", "*", "*#", "A", "0"]),
    "inter_digit_timeout": st.sampled_from([1, 1.5, 2, 5, 7, 30]),
    "sentence": st.sampled_from([None, "Hi", "Please enter your 5 digit code"]),
})


def coinciding(values: dict) -> tuple[GatherSpec, GatherSpec]:
    """A v1 gather with every rule set explicitly, and the v2 gather with the same rules."""
    options = GatherOptions(max_digits=values["max_digits"], terminating_digits=values["terminating_digits"],
                            inter_digit_timeout=values["inter_digit_timeout"],
                            prompt=Prompt(sentence=values["sentence"]) if values["sentence"] else None)
    v1 = GatherSpec.from_options(options)
    v2 = GatherSpec.v2(max_digits=v1.max_digits, terminating_digits=v1.terminating_digits,
                       inter_digit_timeout=v1.inter_digit_timeout, first_digit_timeout=v1.inter_digit_timeout,
                       repeat_count=1, prompt_seconds=v1.prompt_seconds)
    return v1, v2


@SLOW
@given(values=kept, line=lines)
def test_v1_and_v2_agree_where_their_rules_coincide(values: dict, line: dict) -> None:
    v1_spec, v2_spec = coinciding(values)
    times, keys, count, hang = timelines(**line)
    for i in range(CALLERS):
        presses, hang_up = one(times, keys, count, hang, i)
        v1, v2 = run_gather(v1_spec, presses, hang_up), run_gather(v2_spec, presses, hang_up)
        assert (v1.reason, v1.digits, v1.completed_at) == (v2.reason, v2.digits, v2.completed_at)
        assert v1.first_key_at == v2.first_key_at
        # the one thing the dialects report differently: v2 has no gather result after a hang-up
        assert v2.has_result == (v1.reason != Reason.HUNG_UP)
    # and the vectorised engine sees the same for both
    a, b = play(v1_spec, times, keys, count, hang), play(v2_spec, times, keys, count, hang)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))


# -- where they part -------------------------------------------------------------------------------

NAIVE = GatherSpec.v2  # the same attributes, v2's defaults for the rest


@given(code=st.text("0123456789", min_size=1, max_size=10), gap=st.sampled_from([0.3, 1.0, 2.0]))
def test_the_default_hash_ends_v1_but_is_a_digit_on_v2(code: str, gap: float) -> None:
    presses = [(gap * (i + 1), key) for i, key in enumerate(code + "#")]
    v1 = run_gather(GatherSpec.from_options(GatherOptions()), presses)
    v2 = run_gather(NAIVE(), presses)
    assert (v1.reason, v1.digits) == (Reason.TERMINATING_DIGIT, code)
    assert (v2.reason, v2.digits, v2.terminating_digit) == (Reason.INTER_DIGIT_TIMEOUT, code + "#", "")


@given(timeout=st.sampled_from([6, 7.5, 10, 30]), late=st.floats(0.01, 0.99))
def test_a_first_key_v1_waits_for_is_lost_on_v2_after_five_seconds(timeout: float, late: float) -> None:
    options = GatherOptions(inter_digit_timeout=timeout, terminating_digits="#", prompt=Prompt(sentence="Hi"))
    v1_spec = GatherSpec.from_options(options)
    at = v1_spec.prompt_seconds + 5 + late * (timeout - 5)  # after v2's 5 s, within v1's wait
    presses = [(at, "4"), (at + 0.5, "#")]
    v1 = run_gather(v1_spec, presses)
    v2 = run_gather(NAIVE(inter_digit_timeout=timeout, terminating_digits="#",
                          prompt_seconds=v1_spec.prompt_seconds), presses)
    assert (v1.digits, v1.reason) == ("4", Reason.TERMINATING_DIGIT)
    assert (v2.digits, v2.reason) == ("", Reason.INTER_DIGIT_TIMEOUT)
    assert v2.completed_at == v1_spec.prompt_seconds + 5


@given(extra=st.integers(1, 25))
def test_v1_stops_at_30_digits_and_v2_at_50(extra: int) -> None:
    presses = [(0.5 * (i + 1), "7") for i in range(30 + extra)]
    v1 = run_gather(GatherSpec.from_options(GatherOptions()), presses)
    v2 = run_gather(NAIVE(terminating_digits="#"), presses)
    assert (len(v1.digits), v1.reason) == (30, Reason.MAX_DIGITS)
    assert len(v2.digits) == min(30 + extra, 50)
    assert v2.reason == (Reason.MAX_DIGITS if 30 + extra >= 50 else Reason.INTER_DIGIT_TIMEOUT)


def test_a_hang_up_is_a_gather_result_on_v1_only() -> None:
    v1 = run_gather(GatherSpec(), [(1.0, "1")], hangup_at=2.0)
    v2 = run_gather(NAIVE(), [(1.0, "1")], hangup_at=2.0)
    assert v1.reason == v2.reason == Reason.HUNG_UP
    assert v1.has_result and not v2.has_result
