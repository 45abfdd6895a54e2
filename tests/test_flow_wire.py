"""A flow campaign over the wire: synthetic callers through the simulator, the flow on real callbacks."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import requests
from matplotlib.figure import Figure

from catapult_nb import Session
from catapult_nb.campaign import Caller, FlowCampaignResult, compare, flow_wire
from catapult_nb.flows import run_campaign
from catapult_nb.flows.examples import account_code
from catapult_nb.simulator import Simulator

FLOW = account_code()


@pytest.fixture(scope="module")
def wired() -> flow_wire.FlowWireResult:
    return run_campaign(FLOW, n=30, seed=5, over_the_wire=True, speed=20, progress=False)


def test_over_the_wire_the_callers_agree_with_the_engine_caller_by_caller(wired):
    engine = run_campaign(FLOW, n=30, seed=5, margin=wired.margin, progress=False)
    table = wired.agreement(engine)
    assert len(table) == 30 and set(table.index) == set(range(30))
    # A caller whose keys all landed within the margin must take the engine's path, outcome and retries;
    # one the busy machine held back longer than the margin is named (and must stay rare).
    on_time = table.drop(index=wired.slipped)
    assert on_time["agrees"].all(), on_time.loc[~on_time["agrees"]].to_dict("index")
    assert len(wired.slipped) <= 3
    assert (on_time["path_wire"] == engine.table.set_index("caller").loc[on_time.index, "path"]).all()
    # The default comparison is the engine run the result carries, for the same seed and margin.
    assert wired.engine is not None
    assert wired.engine.table["path"].tolist() == engine.table["path"].tolist()
    assert f"{wired.agreed} of 30 callers agree with the engine" in wired.agreement_text
    # More than one path was taken: the agreement is not only on the easy one.
    assert wired.table["path"].nunique() >= 2


def test_every_callback_sent_is_stored_and_each_caller_ends_once(wired):
    assert wired.lost == 0 and wired.failed == 0
    assert wired.sent == wired.stored > 30 * 5  # answer, gather, speak events… for each caller
    assert wired.table["callId"].is_unique and wired.table["callId"].notna().all()
    assert set(wired.table["outcome"]) <= {"completed", "transferred", "hung-up", "exhausted"}
    assert f"{wired.sent:,} callbacks sent, {wired.stored:,} stored, 0 lost" in repr(wired)


def test_the_funnel_paths_plot_and_diagram_work_on_a_wire_result(wired):
    funnel = wired.funnel()
    assert funnel.loc["code", "reached"] == 30
    ways = ["route", "invalid", "no_input", "exhausted", "next", "end", "hangup"]
    assert (funnel[ways].sum(axis=1) == funnel["visits"]).all()
    assert wired.paths().sum() == 30
    assert isinstance(wired.plot(), Figure)
    diagram = FLOW.diagram(wired).data
    counts = wired.edge_counts()
    confirmed = wired.table["path"].str.contains("code → confirm").sum()
    assert counts[("code", "confirm", "route")] == confirmed
    assert str(counts[("code", "confirm", "route")]) in diagram
    assert "callers agree with the engine" in wired._repr_html_()


def test_a_driver_that_drops_a_key_breaks_the_agreement(monkeypatch):
    """The agreement can fail: the phone leaves out the first key of the first caller whose code took its
    route at the first try (whichever caller the draws make that)."""
    plan = flow_wire.play_caller
    broken: list[int] = []

    def drop_a_key(flow, kind, seed, index, cache, margin=0.0, trace=None):
        row = plan(flow, kind, seed, index, cache, margin, trace=trace)
        if not broken and trace and row["edges"][0] == ("code", "confirm", "route"):
            name, presses, *rest = trace[0]
            assert name == "code" and len(presses) >= 5
            trace[0] = (name, presses[1:], *rest)
            broken.append(index)
        return row

    monkeypatch.setattr(flow_wire, "play_caller", drop_a_key)
    typist = Caller.typical(hang_up_rate=0.0, extra_keys_rate=0.0, barge_in=0.0, terminator_rate=0.0)
    result = run_campaign(FLOW, typist, n=4, seed=2, over_the_wire=True, speed=20, progress=False)
    table = result.agreement()
    assert len(broken) == 1, "no caller's code took its route at the first try"
    [dropped] = broken
    assert not table.loc[dropped, "agrees"], table.loc[dropped].to_dict()
    assert table.loc[dropped, "path_wire"].startswith("code → code")
    assert table.loc[dropped, "path_engine"].startswith("code → confirm")
    assert table.drop(index=dropped)["agrees"].all()
    assert result.agreed == 3 and "3 of 4 callers agree" in repr(result)


def test_compare_flows_over_the_wire():
    one_retry = FLOW.but("1 retry", code=FLOW.steps["code"].but(retries=1))
    table = compare({"2 retries": FLOW, "1 retry": one_retry}, n=4, seed=1, over_the_wire=True,
                    speed=20).shares()
    assert list(table.index) == ["2 retries", "1 retry"]
    assert table.sum(axis=1).round(6).tolist() == [1.0, 1.0]


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"speed": 20}, TypeError, "only apply with over_the_wire=True"),
    ({"over_the_wire": True, "chunk": 10}, TypeError, "no option chunk"),
    ({"over_the_wire": True, "n": 200_000}, ValueError, "n must be between 1 and 100,000"),
    ({"over_the_wire": True, "margin": 3.0}, ValueError, "margin must be at most 2.5"),
    ({"over_the_wire": True, "concurrency": 0}, ValueError, "concurrency must be between 1"),
    ({"over_the_wire": True, "speed": -1}, ValueError, "speed must be above 0"),
    ({"over_the_wire": True, "timeout": 0}, ValueError, "timeout must be above 0"),
])
def test_bad_wire_options_fail_before_any_call(kwargs, error, words, monkeypatch):
    def no_session(*args, **kwargs):
        raise AssertionError("a session was opened before the options were checked")

    monkeypatch.setattr(Session, "simulated", no_session)
    with pytest.raises(error, match=words):
        run_campaign(FLOW, **{"n": 10, **kwargs})


def test_the_simulator_maps_its_timestamps_to_the_monotonic_clock():
    with Simulator(speed=20) as sim:
        before = time.monotonic()
        api = f"{sim.api_url}/users/{sim.user_id}/calls"
        auth = (sim.api_token, sim.api_secret)
        body = {"from": "+15550000000", "to": "+15551234569"}
        created = requests.post(api, json=body, auth=auth, timeout=5)
        assert created.status_code == 201
        call = requests.get(created.headers["Location"], auth=auth, timeout=5).json()
        after = time.monotonic()
        at = sim.monotonic_at(call["startTime"])
        assert before - 0.001 <= at <= after
        with pytest.raises(ValueError, match="ISO-8601"):
            sim.monotonic_at("yesterday")


@pytest.mark.parametrize(("column", "other"), [
    ("path", "code → code → code → sorry → operator"), ("outcome", "hung-up"), ("retries", 1),
])
def test_the_agreement_compares_path_outcome_and_retries_each(column, other):
    # results built by hand: three callers alike on both sides but for one column of caller 1
    rows = [{"caller": i, "callerType": "typical", "path": "code → confirm → thanks", "steps": 3,
             "outcome": "completed", "time": 20.0 + i, "retries": 0,
             "edges": [("code", "confirm", "route"), ("confirm", "thanks", "route")]} for i in range(3)]
    engine = FlowCampaignResult(FLOW, pd.DataFrame(rows), seed=1)
    wire_rows = [{**row, "time": row["time"] + 0.4, "callId": f"c-{i}", "late": 0.0}
                 for i, row in enumerate(rows)]
    wire_rows[1][column] = other
    wired = flow_wire.FlowWireResult(FLOW, pd.DataFrame(wire_rows), seed=1, engine=engine, margin=0.5)
    table = wired.agreement()
    assert table["agrees"].tolist() == [True, False, True]
    assert table.loc[1, f"{column}_wire"] == other and table.loc[1, f"{column}_engine"] == rows[1][column]
    assert wired.agreed == 2 and "2 of 3 callers agree" in wired.agreement_text
