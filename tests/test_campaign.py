"""Synthetic campaigns on the engine: determinism, obvious truths, known timelines, and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from catapult_nb import analysis, prompts
from catapult_nb.campaign import (
    DEFAULT_CALLERS,
    Caller,
    CampaignResult,
    compare,
    mix,
    run_campaign,
)
from catapult_nb.campaign.plans import build_plan, draw
from catapult_nb.engine import GatherSpec, prompt_duration
from catapult_nb.options import GatherOptions

SEED_OPTIONS = GatherOptions(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
                             sentence="Please enter your 5 digit code")


def steady(**changes: object) -> Caller:
    """A caller with no randomness in timing: first key 1 s after the prompt, a key every 0.5 s."""
    params: dict[str, object] = dict(name="steady", code_length=4, first_key_median=1.0, first_key_sigma=0.0,
                                     barge_in=0.0, key_gap_median=0.5, key_gap_sigma=0.0,
                                     terminator_rate=1.0)
    return Caller(**{**params, **changes})  # type: ignore[arg-type]


def test_same_seed_same_result_different_seed_different_people() -> None:
    first = run_campaign(SEED_OPTIONS, n=500, seed=7)
    again = run_campaign(SEED_OPTIONS, n=500, seed=7)
    pd.testing.assert_frame_equal(first.events, again.events)
    pd.testing.assert_frame_equal(first.gathers, again.gathers)
    other = run_campaign(SEED_OPTIONS, n=500, seed=8)
    assert (other.events["intended"] != first.events["intended"]).mean() > 0.9


def test_longer_inter_digit_timeout_never_raises_the_timeout_rate() -> None:
    timeouts = [1, 2, 3, 5, 7, 10, 30]
    rates, timed_out = [], []
    for seconds in timeouts:
        table = run_campaign(GatherOptions(max_digits=5, inter_digit_timeout=seconds), n=3000, seed=3).table
        timed_out.append(set(table.loc[table["reason"] == "inter-digit-timeout", "caller"]))
        rates.append(len(timed_out[-1]) / len(table))
    assert rates == sorted(rates, reverse=True)
    assert rates[0] > 0.3 and rates[-1] < rates[0]  # the knob really moves the rate
    # caller by caller: whoever times out at a longer timeout also timed out at every shorter one
    for longer, shorter in zip(timed_out[1:], timed_out[:-1], strict=True):
        assert longer <= shorter


def test_known_timeline_with_terminating_key() -> None:
    # given: no prompt, first key at 1 s, then 3 more keys and '#' 0.5 s apart
    result = run_campaign(GatherOptions(max_digits=10), steady(), n=20, seed=1)
    table = result.table
    # then
    assert set(table["reason"]) == {"terminating-digit"}
    assert (table["digits"] == table["intended"]).all()
    assert table["digitCount"].eq(4).all()
    assert table["timeToFirstKey"].to_numpy() == pytest.approx([1.0] * 20)
    assert table["duration"].to_numpy() == pytest.approx([3.0] * 20)
    assert table["correct"].all()


@pytest.mark.parametrize("timing", ["audio", "estimate"])
def test_prompt_delays_the_first_key(timing: str) -> None:
    sentence = "Please enter your four digit code now"
    # the rendered length (audio) or 150 words per minute (estimate), as the simulator times it
    prompt = prompts.duration(sentence, timing)
    assert (prompt == prompt_duration(sentence)) == (timing == "estimate")
    table = run_campaign(GatherOptions(max_digits=4, sentence=sentence), steady(terminator_rate=0), n=10,
                         seed=1, prompt_timing=timing).table
    assert set(table["reason"]) == {"max-digits"}
    assert table["timeToFirstKey"].to_numpy() == pytest.approx([prompt + 1.0] * 10)
    assert table["duration"].to_numpy() == pytest.approx([prompt + 2.5] * 10)


def test_slow_typist_times_out_after_first_key() -> None:
    table = run_campaign(GatherOptions(inter_digit_timeout=2), steady(key_gap_median=3.0), n=10, seed=2).table
    assert set(table["reason"]) == {"inter-digit-timeout"}
    assert table["digitCount"].eq(1).all()
    assert table["duration"].to_numpy() == pytest.approx([3.0] * 10)  # key at 1 s + 2 s of silence


def test_hesitant_callers_time_out_on_the_first_key() -> None:
    table = run_campaign(GatherOptions(inter_digit_timeout=3), steady(first_key_median=4.0), n=10,
                         seed=2).table
    assert set(table["reason"]) == {"inter-digit-timeout"}
    assert (table["digits"] == "").all()
    assert table["timeToFirstKey"].isna().all()


def test_quitters_hang_up_with_part_of_their_code() -> None:
    table = run_campaign(GatherOptions(), steady(hang_up_rate=1.0, key_gap_sigma=0.3), n=300, seed=4).table
    assert set(table["reason"]) == {"hung-up"}
    assert all(intended.startswith(digits) for digits, intended in zip(table["digits"], table["intended"],
                                                                        strict=True))
    assert not table["correct"].any()


def test_too_many_keys() -> None:
    overtyper = steady(extra_keys_rate=1.0, extra_keys=2)
    capped = run_campaign(GatherOptions(max_digits=4), overtyper, n=50, seed=5).table
    assert set(capped["reason"]) == {"max-digits"}
    assert capped["correct"].all()  # maxDigits cuts the extra keys off
    open_ended = run_campaign(GatherOptions(max_digits=30), overtyper, n=50, seed=5).table
    assert set(open_ended["reason"]) == {"terminating-digit"}
    assert open_ended["digitCount"].eq(6).all()
    assert not open_ended["correct"].any()


def test_caller_terminator_that_the_gather_does_not_know() -> None:
    # the gather ends on '*', the caller habitually presses '#': it is taken as a digit
    table = run_campaign(GatherOptions(terminating_digits="*", max_digits=10), steady(terminator="#"), n=5,
                         seed=1).table
    assert set(table["reason"]) == {"inter-digit-timeout"}
    assert (table["digits"] == table["intended"] + "#").all()


def test_mix_shares_and_caller_types() -> None:
    callers = mix((Caller.typical(), 3), (Caller.hesitant(), 1))
    assert callers.shares == {"typical": 0.75, "hesitant": 0.25}
    events = run_campaign(GatherOptions(), callers, n=20_000, seed=9).events
    shares = events["callerType"].value_counts(normalize=True)
    assert shares["typical"] == pytest.approx(0.75, abs=0.02)
    assert "<table>" in callers._repr_html_()
    assert mix(Caller.typical(), Caller.quitter(), quitter=0.25).shares["quitter"] == pytest.approx(0.2)


def test_frames_have_the_session_shape_and_analysis_applies() -> None:
    result = run_campaign(SEED_OPTIONS, n=400, seed=11, label="seed example")
    events, gathers = result
    for column in ("eventType", "time", "callId", "gatherId", "reason", "state", "digits", "tag",
                   "dtmfDigit", "status", "cause", "callState", "from", "to", "received", "source",
                   "session", "payload"):
        assert column in events.columns
    assert events.index.name == "id"
    assert str(events["time"].dtype).startswith("datetime64") and str(events["time"].dt.tz) == "UTC"
    assert isinstance(events["eventType"].dtype, pd.CategoricalDtype)
    assert events["digits"].dtype == "string"
    assert events["payload"].iloc[0]["gatherId"] == events["gatherId"].iloc[0]
    for column in ("gatherId", "callId", "createdTime", "options", "maxDigits", "interDigitTimeout",
                   "terminatingDigits", "prompt.sentence"):
        assert column in gathers.columns
    assert gathers["options"].iloc[0] == SEED_OPTIONS.to_wire(as_strings=False)
    table = analysis.gather_table(events, gathers)
    counts = analysis.reason_counts(table)
    assert counts.sum() == 400
    by_options = analysis.outcomes_by_options(table)
    assert list(by_options.index) == ["seed example"]
    assert by_options.loc["seed example", "timeoutRate"] == pytest.approx(result.summary()["timeoutRate"])
    assert table["timeToFirstKey"].notna().mean() > 0.8  # campaigns know the first key


def test_result_repr_and_summary() -> None:
    result = run_campaign(GatherOptions(inter_digit_timeout=3), n=200, seed=1)
    assert isinstance(result, CampaignResult)
    text = repr(result)
    assert "callers=200" in text and "interDigitTimeout=3" in text
    assert "completionRate" in result._repr_html_()
    summary = result.summary()
    assert summary["completionRate"] + summary["timeoutRate"] + summary["hungUpRate"] == pytest.approx(1.0)


def test_compare_faces_the_same_callers_with_each_option_set() -> None:
    sets = {f"{t} s": GatherOptions(max_digits=5, inter_digit_timeout=t) for t in (3, 5, 7)}
    comparison = compare(sets, n=2000, seed=2)
    table = comparison.table
    assert list(table.index) == ["3 s", "5 s", "7 s"]
    assert table["timeoutRate"].is_monotonic_decreasing
    codes = [r.events["intended"].tolist() for r in comparison.results.values()]
    assert codes[0] == codes[1] == codes[2]
    fig = comparison.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert "timeoutRate" in comparison._repr_html_()
    stacked = comparison.gather_table
    assert len(stacked) == 6000 and stacked.index.is_unique
    # the shape a flow comparison has too: shares of each ending, the results by label, the table's repr
    shares = comparison.shares()
    assert list(shares.index) == ["3 s", "5 s", "7 s"] and shares.sum(axis=1).round(6).eq(1.0).all()
    assert shares["inter-digit-timeout"].tolist() == table["timeoutRate"].tolist()
    assert comparison["5 s"] is comparison.results["5 s"] and len(comparison) == 3
    assert repr(comparison).startswith("Comparison of 3 option sets\n")


def test_compare_long_and_short_prompt() -> None:
    long_prompt = ("Welcome. For your security, please enter the five digit code we sent to your phone, "
                   "then press pound.")
    comparison = compare([GatherOptions(max_digits=5, sentence="Enter your code"),
                          GatherOptions(max_digits=5, sentence=long_prompt)], n=1000, seed=3)
    short, long_ = comparison.table["medianDuration"]
    assert long_ > short


def test_margin_keeps_decisions_away_from_deadlines() -> None:
    spec = GatherSpec.from_options(GatherOptions(inter_digit_timeout=2, sentence="Enter your code"))
    margin = 0.4
    plan = build_plan(draw(DEFAULT_CALLERS, 2000, 5), spec, margin)
    for (presses, hang_up), keys in zip(plan.timelines(), plan.keys, strict=True):
        times = [t for t, _ in presses]
        assert len(presses) == len(keys)
        if times[0] >= spec.prompt_seconds:
            assert abs(times[0] - spec.prompt_seconds - 2) >= margin - 1e-9
        assert all(abs(b - a - 2) >= margin - 1e-9 for a, b in itertools.pairwise(times))
        if hang_up is not None:
            hazards = [*times, *(t + 2 for t in times), spec.prompt_seconds + 2]
            assert min(abs(hang_up - h) for h in hazards) >= margin - 1e-9
            assert hang_up >= margin


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: run_campaign(GatherOptions(), n=0), "n must be between 1"),
        (lambda: run_campaign(GatherOptions(), n=10, seed=-1), "seed must be at least 0"),
        (lambda: run_campaign(GatherOptions(), n=2.5), "n must be a whole number"),  # type: ignore[arg-type]
        (lambda: run_campaign(GatherOptions(inter_digit_timeout=2), n=5, margin=1.5),
         "margin must be at most 1"),
        (lambda: run_campaign({"maxDigits": 40}, n=5), "maxDigits must be between 1 and 30"),
        (lambda: Caller(barge_in=2), "barge_in must be at most 1"),
        (lambda: Caller(key_gap_median=0), "key_gap_median must be above 0"),
        (lambda: Caller(code_length=0), "code_length must be between 1 and 30"),
        (lambda: Caller(terminator="x"), "terminator must be one key"),
        (lambda: mix(Caller(), Caller()), "both named 'caller'"),
        (lambda: mix(Caller(), nobody=1), "no caller named 'nobody'"),
        (lambda: mix((Caller(), 0)), "weight above 0"),
        (lambda: compare({}), "at least one option set"),
        (lambda: compare([GatherOptions(), {}]), "same name"),
    ],
)
def test_bad_input_is_explained(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_callers_type() -> None:
    with pytest.raises(TypeError, match="callers must be a Caller"):
        run_campaign(GatherOptions(), callers="typical", n=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="over_the_wire=True"):
        run_campaign(GatherOptions(), n=5, speed=20)


def test_presets_take_changes_including_a_name() -> None:
    for preset in (Caller.typical, Caller.hesitant, Caller.overtyper, Caller.quitter):
        caller = preset(name="mine", code_length=4)
        assert (caller.name, caller.code_length) == ("mine", 4)
    assert Caller.hesitant().but(barge_in=0.5).first_key_median == Caller.hesitant().first_key_median


def test_callers_as_dict_and_list() -> None:
    as_dict = run_campaign(GatherOptions(), {Caller.typical(): 1, Caller.hesitant(): 1}, n=300, seed=1)
    as_list = run_campaign(GatherOptions(), [Caller.typical(), Caller.hesitant()], n=300, seed=1)
    pd.testing.assert_frame_equal(as_dict.events, as_list.events)
    assert set(np.unique(as_dict.events["callerType"])) == {"typical", "hesitant"}


def test_a_campaigns_events_have_the_stores_columns_and_dtypes():
    from catapult_nb.store.store import EVENT_COLUMNS, EVENT_DTYPES

    events = run_campaign(SEED_OPTIONS, n=20, seed=1).events
    assert list(events.columns[: len(EVENT_COLUMNS)]) == list(EVENT_COLUMNS)
    for name, dtype in EVENT_DTYPES.items():
        assert str(events[name].dtype) == dtype, (name, events[name].dtype)


def test_a_campaign_result_is_a_source_for_the_gather_table() -> None:
    result = run_campaign(GatherOptions(max_digits=3), n=50, seed=4)
    table = analysis.gather_table(result)
    assert table.equals(analysis.gather_table(result.events, result.gathers))
    assert table.equals(result.table[table.columns])  # the result's own table adds the callers' columns
    assert len(table) == 50 and set(table["maxDigits"]) == {3}


def test_the_summary_rates_count_finished_callers_only() -> None:
    # a lossy wire run: one caller's gather event never arrived, so that gather has not finished
    whole = run_campaign(GatherOptions(inter_digit_timeout=3), n=60, seed=1)
    gather_events = whole.events.index[whole.events["eventType"] == "gather"]
    lossy = CampaignResult(whole.events.drop(index=gather_events[0]), whole.gathers, whole.options,
                           whole.label, whole.seed)
    table = lossy.table
    assert (~table["finished"]).sum() == 1 and len(table) == 60
    finished = table.loc[table["finished"]]
    summary = lossy.summary()
    assert summary["callers"] == 60
    assert summary["completionRate"] + summary["timeoutRate"] + summary["hungUpRate"] == pytest.approx(1.0)
    assert summary["timeoutRate"] == pytest.approx((finished["reason"] == "inter-digit-timeout").mean())
    assert summary["correctRate"] == pytest.approx(finished["correct"].mean())
    assert summary["medianDuration"] == pytest.approx(finished["duration"].median())
