"""Synthetic callers through a flow on the gather engine: rows, funnel, paths, diagram, same people."""

from __future__ import annotations

import pytest

from catapult_nb import campaign
from catapult_nb.campaign import Caller, compare, mix
from catapult_nb.campaign.flow_engine import play_one_by_one
from catapult_nb.engine import prompt_duration
from catapult_nb.flows import Ask, Flow, FlowComparison, FlowError, Hangup, Say, run_campaign
from catapult_nb.flows.examples import account_code


def _with_retries(retries: int) -> Flow:
    flow = account_code()
    return flow.but(f"{retries} retries", code=flow.steps["code"].but(retries=retries))


def test_every_caller_ends_once_and_the_funnel_adds_up():
    result = run_campaign(account_code(), n=1500, seed=7, progress=False)
    callers = result.table
    assert len(callers) == 1500 and callers["caller"].tolist() == list(range(1500))
    assert set(callers["outcome"]) <= {"completed", "transferred", "hung-up", "exhausted"}
    assert result.outcomes().sum() == 1500
    funnel = result.funnel()
    ways = ["route", "invalid", "no_input", "exhausted", "next", "end", "hangup"]
    assert (funnel[ways].sum(axis=1) == funnel["visits"]).all()
    assert funnel.loc["code", "reached"] == 1500
    assert funnel.loc["confirm", "reached"] <= funnel.loc["code", "route"]
    # each caller's path agrees with its outcome
    transferred = callers[callers["outcome"] == "transferred"]["path"]
    assert transferred.str.endswith("sorry → operator").all() and len(transferred) > 0
    assert result.paths().sum() == 1500
    assert result.paths().index[0] == "code → confirm → thanks"


def test_the_same_seed_is_the_same_people_and_retries_only_change_the_retried_step():
    two, one = (run_campaign(_with_retries(r), n=1500, seed=3, progress=False).table for r in (2, 1))
    again = run_campaign(_with_retries(2), n=1500, seed=3, progress=False).table
    assert two.drop(columns="edges").equals(again.drop(columns="edges"))
    # callers who never failed at the code step live the same call in both flows
    clean = two["edges"].map(lambda edges: not any(s == "code" and k != "route" for s, _, k in edges))
    columns = ["path", "outcome", "time", "callerType"]
    assert two[clean][columns].equals(one[clean][columns])
    assert clean.sum() > 1000
    # and with fewer retries, fewer callers get past a failing code step
    assert (one["path"].str.count("code") <= 2).all()


def test_the_diagram_counts_the_callers_on_each_edge():
    flow = account_code()
    result = run_campaign(flow, n=500, seed=1, progress=False)
    text = flow.diagram(result).data
    counts = result.edge_counts()
    assert f's_code -->|"\\d{{5}} ×{counts[("code", "confirm", "route")]}"| s_confirm' in text
    assert flow.diagram(result)._repr_mimebundle_()["text/vnd.mermaid"] == text


def test_compare_and_plot():
    comparison = compare({"2 retries": _with_retries(2), "1 retry": _with_retries(1)}, n=800, seed=2)
    shares = comparison.shares()
    assert list(shares.index) == ["2 retries", "1 retry"]
    assert shares.sum(axis=1).round(6).eq(1.0).all()
    assert shares.loc["1 retry", "transferred"] >= shares.loc["2 retries", "transferred"]
    # the table: callers, the shares as rates, time and retries; the repr prints it
    table = comparison.table
    assert table["callers"].tolist() == [800, 800]
    assert table["transferredRate"].equals(shares["transferred"].rename("transferredRate"))
    assert table.loc["2 retries", "meanRetries"] == comparison["2 retries"].table["retries"].mean()
    assert repr(comparison).startswith("FlowComparison of 2 flows\n") and "hungUpRate" in repr(comparison)
    bars = comparison.plot().axes[0]
    assert [label.get_text() for label in bars.get_yticklabels()] == ["1 retry", "2 retries"]
    figure = run_campaign(account_code(), n=200, seed=1, progress=False).plot()
    assert figure.axes[0].get_title().startswith("account code: 200 callers")


def test_a_caller_mix_applies_at_every_step():
    quitters = run_campaign(account_code(), callers=Caller.quitter(hang_up_rate=1.0), n=300, seed=1,
                            progress=False)
    assert (quitters.table["outcome"] == "hung-up").mean() > 0.8
    # they hang up at each question, not only the first
    assert quitters.funnel().loc[["code", "confirm"], "hangup"].gt(0).all()
    typical = run_campaign(account_code(), callers=mix(Caller.typical()), n=300, seed=1, progress=False)
    assert set(typical.table["callerType"]) == {"typical"}


@pytest.mark.parametrize(
    ("steps", "n", "error", "words"),
    [
        ({"menu": Ask("Press 1.", max_digits=1, routes={"1": "bye"}, answers="7"), "bye": Say("Bye.")},
         10, FlowError, "none of the answers"),
        ({"menu": Ask("Press 1.", max_digits=1, routes={"1": "bye"}, answers={"1": 0}), "bye": Say("Bye.")},
         10, FlowError, "positive sum"),
        ({"menu": Ask("Press 1.", max_digits=1, routes={"1": "bye"}), "bye": Say("Bye.")},
         0, ValueError, "n must"),
    ],
)
def test_bad_campaigns_fail_before_anything_runs(steps, n, error, words):
    with pytest.raises(error, match=words):
        run_campaign(Flow(steps), n=n, seed=1)


def test_a_comparison_lays_out_each_variant_in_its_own_column():
    flows = {"2 retries": _with_retries(2), "1 retry": _with_retries(1), "0 retries": _with_retries(0)}
    comparison = FlowComparison.run(flows, n=600, seed=4, progress=False)
    assert comparison.shares().equals(compare(flows, n=600, seed=4).shares())
    assert list(comparison.funnels()) == list(flows)
    markdown = comparison._repr_markdown_()
    assert not hasattr(comparison, "_repr_html_")  # HTML would outrank the Markdown and its drawings
    assert markdown.count('<td style="width: 33%; vertical-align: top">') == 3
    assert markdown.count("```mermaid\n") == 3 and markdown.count("\nflowchart TD\n") == 3
    # in order, each column its own counts: the exhausted edge after 3, 2, then 1 failures
    at = [markdown.index(f"{k} failures ×") for k in (3, 2, 1)]
    assert at == sorted(at)
    for label, result in comparison.results.items():
        assert f"×{result.edge_counts()[('code', 'confirm', 'route')]}" in comparison.diagrams()[label]
    with pytest.raises(ValueError, match="at least one"):
        FlowComparison({})


def test_one_run_campaign_takes_gather_options_or_a_flow() -> None:
    flow = account_code()
    # a flow through the one entry point: the same callers as through the flows' own
    through_campaign = campaign.run_campaign(flow, n=300, seed=5, progress=False)
    through_flows = run_campaign(flow, n=300, seed=5, progress=False)
    assert isinstance(through_campaign, campaign.FlowCampaignResult)
    assert run_campaign is campaign.run_campaign  # one function, whichever package it is taken from
    assert through_campaign.table.equals(through_flows.table)  # one row attribute: .table
    # gather options as before
    assert isinstance(campaign.run_campaign({"maxDigits": "3"}, n=20, seed=5), campaign.CampaignResult)
    # what does not apply to a flow is said, not ignored
    with pytest.raises(ValueError, match="estimate"):
        campaign.run_campaign(flow, n=10, prompt_timing="audio")
    with pytest.raises(ValueError, match="named by its flow"):
        campaign.run_campaign(flow, n=10, label="x")


def test_compare_takes_flows_and_gives_their_comparison() -> None:
    flows = {"as shipped": account_code(), "again": account_code()}
    comparison = campaign.compare(flows, n=200, seed=2)
    assert isinstance(comparison, FlowComparison) and isinstance(comparison, campaign.CampaignComparison)
    with pytest.warns(DeprecationWarning, match=r"compare\(flows, …\)"):
        shares = campaign.compare_flows(flows, n=200, seed=2)  # the old spelling, and its frame
    assert comparison.shares().equals(shares)


def test_the_old_row_attribute_works_and_warns() -> None:
    result = run_campaign(account_code(), n=50, seed=1, progress=False)
    with pytest.warns(DeprecationWarning, match=r"\.callers is now \.table"):
        assert result.callers is result.table


def test_a_flow_campaign_names_its_own_bound_on_n() -> None:
    with pytest.raises(ValueError, match=r"1,000,000 for a flow campaign .* up to 10,000,000"):
        campaign.run_campaign(account_code(), n=1_000_001)


LONG_PROMPT = ("Welcome. Please listen carefully, as our menu options have changed. Enter the number of your "
               "branch, then pound.")


@pytest.mark.parametrize("player", [run_campaign, play_one_by_one], ids=["vectorised", "one-by-one"])
def test_callers_who_barge_in_press_during_the_prompt_and_others_wait_for_its_end(player):
    flow = Flow({"branch": Ask(LONG_PROMPT, max_digits=3, terminating_digits="#", routes={r"\d": "bye"},
                               answers="1"),
                 "bye": Hangup()})
    prompt = prompt_duration(LONG_PROMPT, None)
    assert prompt > 5
    # one key then pound, no hesitation spread: the gather ends at the second key
    typist = dict(first_key_median=2.0, first_key_sigma=0.0, key_gap_median=0.1, key_gap_sigma=0.0,
                  terminator_rate=1.0, terminator="#", hang_up_rate=0.0, extra_keys_rate=0.0)
    eager = player(flow, Caller(name="eager", barge_in=1.0, **typist), n=200, seed=4).table
    patient = player(flow, Caller(name="patient", barge_in=0.0, **typist), n=200, seed=4).table
    assert (eager["path"] == "branch → bye").all() and (patient["path"] == "branch → bye").all()
    # every eager caller presses while the prompt plays, at moments spread over it
    assert (eager["time"] < prompt + 0.1 + 1e-6).all(), eager["time"].max()
    assert eager["time"].min() < prompt / 4 and eager["time"].max() > prompt * 3 / 4
    # a caller who never barges in waits for the prompt's end, then hesitates 2 s
    assert patient["time"].tolist() == pytest.approx([prompt + 2.0 + 0.1] * 200, abs=1e-3)


@pytest.mark.parametrize("answers", [{"1": 1, "2": 1}, lambda rng: "12"[rng.integers(2)]],
                         ids=["weights", "callable"])
def test_a_caller_draws_afresh_at_each_visit_of_a_step(answers):
    # "2" is invalid and asks again: with fresh draws at each visit, callers who first press 2 go on to
    # press 1 at a later visit (the same draws at every visit would repeat 2 until retries run out)
    flow = Flow({"menu": Ask("Press 1.", max_digits=1, routes={"1": "bye"}, retries=5, answers=answers),
                 "bye": Hangup()})
    for player in (run_campaign, play_one_by_one):
        callers = player(flow, Caller.typical(hang_up_rate=0.0), n=300, seed=8).table
        retried = callers[callers["retries"] > 0]
        assert len(retried) > 50
        assert (retried["outcome"] == "completed").mean() > 0.8, retried["path"].value_counts()
        assert retried["retries"].nunique() >= 3  # 1, 2, 3… tries: each visit its own coin


def test_a_caller_cut_off_has_the_reason_in_the_result():
    names = [f"say{i}" for i in range(250)]
    steps = {name: Say(f"Part {i}.", next=names[i + 1] if i + 1 < len(names) else None)
             for i, name in enumerate(names)}
    result = run_campaign(Flow(steps, name="long"), n=3, progress=False)
    assert list(result.table["outcome"]) == ["error"] * 3
    cut = "cut off after 200 steps: a loop this caller kept choosing, or a flow longer than 200 steps"
    assert list(result.table["reason"]) == [cut] * 3
    assert f"error: {cut}" in repr(result)
    fine = run_campaign(account_code(), n=20, progress=False)
    assert fine.table["reason"].isna().all() and "error:" not in repr(fine)


def test_a_comparisons_progress_bars_name_the_variants(capsys):
    from catapult_nb.flows import FlowComparison
    from catapult_nb.flows.examples import account_code

    flow = account_code()
    variant = flow.but("one retry flow", code=flow.steps["code"].but(retries=1))
    FlowComparison.run({"2 retries": flow, "1 retry": variant}, n=5000, seed=1)
    bars = capsys.readouterr().err
    assert "callers through 2 retries" in bars and "callers through 1 retry" in bars
    assert "callers through account code" not in bars and "one retry flow" not in bars
