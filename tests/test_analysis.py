"""Analysis on a hand-made events frame whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from catapult_nb import analysis
from catapult_nb.analysis import (
    completion_rate,
    describe_options,
    digit_count_distribution,
    gather_table,
    outcomes_by_options,
    plot_call_timeline,
    plot_durations,
    plot_reasons,
    reason_counts,
)
from catapult_nb.options import GatherOptions, Prompt

T0 = pd.Timestamp("2026-01-05T10:00:00Z")
SLOW = {"maxDigits": "5", "interDigitTimeout": "7", "terminatingDigits": "*",
        "prompt": {"sentence": "Please enter your 5 digit code"}}
FAST = {"maxDigits": 3, "interDigitTimeout": 3}


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def make_events() -> pd.DataFrame:
    rows = [
        # c-a: suppressDtmf false, so its keys show; a key before the gather must not count.
        dict(eventType="answer", time=at(-2), callId="c-a", callState="active"),
        dict(eventType="dtmf", time=at(-1), callId="c-a", dtmfDigit="9"),
        dict(eventType="speak", time=at(0), callId="c-a", status="started", state="PLAYBACK_START"),
        dict(eventType="dtmf", time=at(2), callId="c-a", dtmfDigit="1"),
        dict(eventType="speak", time=at(2), callId="c-a", status="done", state="PLAYBACK_STOP"),
        dict(eventType="dtmf", time=at(2.5), callId="c-a", dtmfDigit="2"),
        dict(eventType="dtmf", time=at(3), callId="c-a", dtmfDigit="*"),
        dict(eventType="gather", time=at(3), callId="c-a", gatherId="gtr-a", reason="terminating-digit",
             state="completed", digits="12", tag="first"),
        dict(eventType="dtmf", time=at(4), callId="c-a", dtmfDigit="5"),
        # c-b: same options (sent as numbers this time), keys suppressed, nobody typed.
        dict(eventType="gather", time=at(10.5), callId="c-b", gatherId="gtr-b",
             reason="inter-digit-timeout", state="completed", digits="", tag="second"),
        # c-c and c-d: the short option set.
        dict(eventType="gather", time=at(6), callId="c-c", gatherId="gtr-c", reason="max-digits",
             state="completed", digits="007"),
        dict(eventType="gather", time=at(5), callId="c-d", gatherId="gtr-d", reason="hung-up",
             state="completed", digits="4"),
        dict(eventType="hangup", time=at(5), callId="c-d", cause="NORMAL_CLEARING", callState="completed"),
    ]
    frame = pd.DataFrame(rows)
    frame.index = pd.Index([f"ev-{i}" for i in range(len(frame))], name="id")
    frame["eventType"] = frame["eventType"].astype("category")
    frame["reason"] = frame["reason"].astype("category")
    frame["state"] = frame["state"].astype("category")
    frame["digits"] = frame["digits"].astype("string")
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def make_gathers() -> pd.DataFrame:
    slow_numbers = {"maxDigits": 5, "interDigitTimeout": 7, "terminatingDigits": "*",
                    "prompt": {"sentence": "Please enter your 5 digit code"}}
    rows = [
        ("gtr-a", "c-a", at(0), {**SLOW, "suppressDtmf": "false", "tag": "first"}),
        ("gtr-b", "c-b", at(1), {**slow_numbers, "tag": "second"}),
        ("gtr-c", "c-c", at(2), FAST),
        ("gtr-d", "c-d", at(2), FAST),
        ("gtr-e", "c-e", at(3), FAST),  # still running: no gather event yet
    ]
    frame = pd.DataFrame(rows, columns=["gatherId", "callId", "createdTime", "options"])
    flat = pd.json_normalize(frame["options"].tolist())
    return pd.concat([frame, flat], axis=1)


@pytest.fixture
def events() -> pd.DataFrame:
    return make_events()


@pytest.fixture
def table(events: pd.DataFrame) -> pd.DataFrame:
    return gather_table(events, make_gathers())


def test_gather_table_has_one_row_per_gather_with_outcomes(table: pd.DataFrame) -> None:
    assert list(table.index) == ["gtr-a", "gtr-b", "gtr-c", "gtr-d", "gtr-e"]
    assert table.loc["gtr-a", "reason"] == "terminating-digit"
    assert table.loc["gtr-c", "digits"] == "007"  # leading zeros survive
    assert table.loc["gtr-c", "digitCount"] == 3
    assert table.loc["gtr-b", "digitCount"] == 0
    assert list(table["completed"]) == [True, False, True, False, False]
    assert list(table["finished"]) == [True, True, True, True, False]
    assert pd.isna(table.loc["gtr-e", "reason"])
    assert table.loc["gtr-e", "callId"] == "c-e"


def test_gather_table_carries_the_options_used(table: pd.DataFrame) -> None:
    assert table.loc["gtr-a", "maxDigits"] == "5"
    assert table.loc["gtr-c", "interDigitTimeout"] == 3
    assert table.loc["gtr-a", "prompt.sentence"] == "Please enter your 5 digit code"
    # the same options sent as strings or as numbers are one option set; the tag does not split them
    assert table.loc["gtr-b", "optionSet"] == describe_options(SLOW)
    assert table.loc["gtr-a", "optionSet"] == describe_options({**SLOW, "suppressDtmf": False})
    fast = "maxDigits=3 interDigitTimeout=3"
    assert table.loc["gtr-c", "optionSet"] == table.loc["gtr-e", "optionSet"] == fast
    assert table.loc["gtr-a", "tag"] == "first"


def test_durations_and_time_to_first_key_in_api_seconds(table: pd.DataFrame) -> None:
    assert table.loc["gtr-a", "duration"] == pytest.approx(3.0)
    assert table.loc["gtr-b", "duration"] == pytest.approx(9.5)
    assert table.loc["gtr-c", "duration"] == pytest.approx(4.0)
    assert math.isnan(table.loc["gtr-e", "duration"])
    # the first key inside the gather's window, not the one pressed before it
    assert table.loc["gtr-a", "timeToFirstKey"] == pytest.approx(2.0)
    # keys suppressed: unknown, not zero
    assert math.isnan(table.loc["gtr-c", "timeToFirstKey"])


def test_time_to_first_key_from_campaign_style_column(events: pd.DataFrame) -> None:
    events["firstKeyTime"] = pd.Series(pd.NaT, index=events.index, dtype="datetime64[us, UTC]")
    events.loc[events["gatherId"] == "gtr-c", "firstKeyTime"] = at(3.25)
    table = gather_table(events, make_gathers())
    assert table.loc["gtr-c", "timeToFirstKey"] == pytest.approx(1.25)
    assert table.loc["gtr-a", "timeToFirstKey"] == pytest.approx(2.0)  # dtmf events still used elsewhere


def test_gather_table_without_gathers_lists_finished_gathers_only(events: pd.DataFrame) -> None:
    table = gather_table(events)
    assert sorted(table.index) == ["gtr-a", "gtr-b", "gtr-c", "gtr-d"]
    assert "optionSet" not in table.columns
    assert table["duration"].isna().all()
    assert table.loc["gtr-b", "tag"] == "second"


def test_reason_counts(table: pd.DataFrame, events: pd.DataFrame) -> None:
    counts = reason_counts(table)
    assert counts.to_dict() == {"max-digits": 1, "terminating-digit": 1, "inter-digit-timeout": 1,
                                "hung-up": 1}
    assert reason_counts(events).equals(counts)  # an events frame works too
    assert reason_counts(table, normalize=True).sum() == pytest.approx(1.0)


def test_reason_counts_keeps_all_reasons_with_zeros(events: pd.DataFrame) -> None:
    only_a = events.loc[events["callId"] == "c-a"]
    counts = reason_counts(only_a)
    assert counts["terminating-digit"] == 1
    assert counts["hung-up"] == 0
    assert list(counts.index[:4]) == list(analysis.REASONS)


def test_completion_rate_counts_finished_gathers(table: pd.DataFrame) -> None:
    assert completion_rate(table) == pytest.approx(0.5)
    assert math.isnan(completion_rate(table.loc[["gtr-e"]]))


def test_outcomes_by_options(table: pd.DataFrame) -> None:
    rates = outcomes_by_options(table)
    slow = rates.loc[describe_options(SLOW)]
    assert slow["gathers"] == 1 and slow["timeoutRate"] == 1.0
    fast = rates.loc["maxDigits=3 interDigitTimeout=3"]
    assert fast["gathers"] == 2  # the running gather is left out
    assert fast["timeouts"] == 0
    assert fast["completionRate"] == pytest.approx(0.5)
    assert fast["hungUpRate"] == pytest.approx(0.5)
    assert fast["medianDuration"] == pytest.approx(3.5)
    by_timeout = outcomes_by_options(table, by="interDigitTimeout")
    assert by_timeout["gathers"].sum() == 4


def test_the_old_name_of_outcomes_by_options_works_and_warns(table: pd.DataFrame) -> None:
    with pytest.warns(DeprecationWarning, match=r"is now analysis\.outcomes_by_options\(\)"):
        old = analysis.timeout_rate_by_options(table, by="interDigitTimeout")
    assert old.equals(outcomes_by_options(table, by="interDigitTimeout"))


def test_outcomes_by_options_needs_options(events: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="gather_table\\(events, gathers\\)"):
        outcomes_by_options(gather_table(events))


def test_digit_count_distribution(table: pd.DataFrame) -> None:
    dist = digit_count_distribution(table)
    assert dist.to_dict() == {0: 1, 1: 1, 2: 1, 3: 1}
    only_c = digit_count_distribution(table.loc[["gtr-c"]])
    assert only_c.to_dict() == {0: 0, 1: 0, 2: 0, 3: 1}


def test_missing_columns_are_explained() -> None:
    with pytest.raises(ValueError, match="no column 'eventType'"):
        gather_table(pd.DataFrame({"time": []}))
    with pytest.raises(TypeError, match="DataFrame"):
        gather_table([{"eventType": "gather"}])  # type: ignore[arg-type]


def test_describe_options() -> None:
    assert describe_options(None) == "defaults"
    assert describe_options({}) == "defaults"
    assert describe_options({"maxDigits": "5", "tag": "x"}) == describe_options(GatherOptions(max_digits=5))
    label = describe_options(GatherOptions(inter_digit_timeout=2.5, prompt=Prompt(sentence="Hi")))
    assert label == "interDigitTimeout=2.5 prompt.sentence='Hi'"
    assert describe_options({"maxDigits": 99}) == '{"maxDigits": 99}'  # unusable options still get a label


def test_plot_reasons_bars_match_counts(table: pd.DataFrame) -> None:
    fig = plot_reasons(table)
    assert isinstance(fig, Figure)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [1, 1, 1, 1]
    grouped = plot_reasons(table, by="optionSet", normalize=True)
    ax = grouped.axes[0]
    assert len(ax.patches) == 4 * 3  # three option sets with a finished gather
    assert len(ax.get_legend().get_texts()) == 3


def test_figures_render_to_png_without_pyplot(table: pd.DataFrame) -> None:
    png = plot_reasons(table)._repr_png_()
    assert png.startswith(b"\x89PNG")


def test_plot_durations_histogram_counts_every_duration(table: pd.DataFrame) -> None:
    fig = plot_durations(table, bins=5)
    assert sum(p.get_height() for p in fig.axes[0].patches) == 4
    by = plot_durations(table, by="optionSet", bins=4)
    assert len(by.axes[0].patches) == 3
    with pytest.raises(ValueError, match="createdTime"):
        plot_durations(gather_table(make_events()))


def test_plot_call_timeline(events: pd.DataFrame) -> None:
    fig = plot_call_timeline(events, "c-a", gathers=make_gathers())
    ax = fig.axes[0]
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == 9
    assert np.min(offsets[:, 0]) == 0.0 and np.max(offsets[:, 0]) == pytest.approx(6.0)
    labels = {text.get_text() for text in ax.texts}
    assert {"9", "1", "2", "*", "terminating-digit '12'", "started", "done"} <= labels
    assert [t.get_text() for t in ax.get_yticklabels()] == ["answer", "dtmf", "speak", "gather"]
    assert len(ax.patches) == 1  # the gather's span
    with pytest.raises(ValueError, match="c-a"):
        plot_call_timeline(events, "c-nope")


def overlapping_tick_labels(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of x tick labels, on any of the figure's axes, whose drawn boxes overlap."""
    from itertools import combinations

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    found = []
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
        for a, b in combinations(labels, 2):
            if a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)):
                found.append((a.get_text(), b.get_text()))
    return found


def test_a_comparisons_reason_labels_do_not_overlap_and_stay_readable():
    from catapult_nb.campaign import compare

    sets = {"short prompt": GatherOptions(max_digits=5, sentence="Enter your code"),
            "long prompt": GatherOptions(max_digits=5, inter_digit_timeout=3)}
    fig = compare(sets, n=300, seed=1).plot()
    assert overlapping_tick_labels(fig) == []
    reasons = [t for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert any(t.get_text() == "inter-digit-\ntimeout" for t in reasons)
    assert min(t.get_fontsize() for t in reasons) >= 8
    reasons_only = pd.DataFrame({"reason": list(analysis.REASONS), "finished": True, "completed": False})
    single = analysis.plot_reasons(reasons_only)
    assert overlapping_tick_labels(single) == []
