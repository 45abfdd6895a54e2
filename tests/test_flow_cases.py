"""Every path of a flow: cases that cover each edge, run on the simulator, and a generated pytest file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from catapult_nb import Session
from catapult_nb.flows import Ask, Flow, FlowError, Say
from catapult_nb.flows.cases import all_edges, example_digits, reachable_edges
from catapult_nb.flows.examples import account_code

SPEED = 10


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with Session.simulated(speed=SPEED, store=tmp_path_factory.mktemp("cases") / "e.sqlite3") as s:
        yield s


@pytest.mark.parametrize(
    ("pattern", "avoid", "expected"),
    [(r"\d{5}", "*", "11111"), ("1", "#", "1"), ("[2-4]|#9", "", "2"), (r"\*\d", "", "*1"), ("9", "9", None)],
)
def test_example_digits_match_their_route(pattern, avoid, expected):
    assert example_digits(pattern, 30, avoid) == expected


def test_the_cases_of_the_account_code_flow_cover_every_edge():
    flow = account_code()
    cases = flow.test_cases()
    taken = set().union(*(case.edges for case in cases))
    assert taken == set(all_edges(flow)) == reachable_edges(flow)
    # each route, invalid, no input, exhausted, and a hang-up at each Ask
    kinds = {kind for _, _, kind in taken}
    assert kinds == {"route", "invalid", "no_input", "exhausted", "hangup", "next"}
    first = cases[0]
    assert (first.describe(), first.path, first.outcome) == (
        "code: '11111'; confirm: '1'", ("code", "confirm", "thanks"), "completed",
    )
    silent = next(c for c in cases if c.outcome == "transferred")
    assert silent.path == ("code", "code", "code", "sorry", "operator")
    assert {c.outcome for c in cases} == {"completed", "hung-up", "transferred", "exhausted"}


@pytest.mark.parametrize(
    "steps",
    [
        {"menu": Ask("Press 1.", max_digits=1, routes={"1": "again"}, retries=0, exhausted="again"),
         "again": Say("Once more.", next="menu")},
        {"hello": Say("Hello.", next="again"), "again": Say("Hello again.", next="hello")},
    ],
    ids=["asks", "says"],
)
def test_a_loop_no_caller_can_leave_is_refused_when_the_flow_is_built(steps):
    with pytest.raises(FlowError, match=r"no caller can leave the loop through again, .* without hanging up"):
        Flow(steps)


def test_check_runs_every_case_and_covers_every_edge(session):
    result = account_code().check(session)
    assert result.passed, result.cases[~result.cases["passed"]].to_dict("records")
    assert result.coverage == 1.0
    assert len(result.edges) == len(all_edges(account_code()))
    assert "100%" in result._repr_html_() and "10 of 10 cases passed" in repr(result)


def test_check_says_where_a_changed_flow_differs(session):
    # given the cases of one flow, checked against a flow whose confirm step routes 1 elsewhere
    cases = account_code().test_cases()
    changed = Flow({
        **account_code().steps,
        "confirm": Ask("Press 1.", max_digits=1, routes={"1": "sorry", "2": "thanks"}),
    }, start="code", name="changed")
    run = cases[0].play(session, changed)
    expected = "after step 'confirm' the flow went to 'sorry', expected 'thanks'"
    with pytest.raises(AssertionError, match=expected):
        cases[0].verify(run)


def test_check_of_a_changed_flow_against_the_old_cases_fails_naming_the_step(session):
    flow = account_code()
    changed = flow.but("changed", confirm=flow.steps["confirm"].but(routes={"1": "sorry", "2": "thanks"}))
    result = changed.check(session, cases=flow.test_cases())
    assert not result.passed
    failed = result.cases[~result.cases["passed"]]
    assert len(failed) >= 2 and failed["difference"].str.len().gt(0).all()
    expected = "case 1: after step 'confirm' the flow went to 'sorry', expected 'thanks'"
    assert expected in failed["difference"].str.cat()
    # the cases that still pass are those that never press 1 or 2 at confirm
    assert not result.cases.loc[result.cases["passed"], "caller"].str.contains("confirm: '[12]'").any()
    assert result.coverage < 1
    assert not result.edges.set_index(["source", "target"]).loc[("confirm", "sorry"), "covered"]
    assert f"{result.cases['passed'].sum()} of {len(result.cases)} cases passed" in repr(result)
    # and its own cases pass
    assert changed.check(session).passed


@pytest.mark.slow  # runs pytest twice in a subprocess
def test_a_generated_pytest_file_passes_and_fails_naming_the_step(tmp_path):
    flow = Flow({
        "menu": Ask("Press 1 for yes.", max_digits=1, routes={"1": "yes"}, retries=1),
        "yes": Say("Yes."),
    }, start="menu", name="yes menu")
    module = tmp_path / "my_flows.py"
    module.write_text(
        "from catapult_nb.flows import Ask, Flow, Say\n"
        "def menu():\n"
        "    return Flow({'menu': Ask('Press 1 for yes.', max_digits=1, routes={'1': 'yes'}, retries=1),\n"
        "                 'yes': Say('Yes.')}, start='menu', name='yes menu')\n"
    )
    # when the cases are written, one file with a copy of the flow, one importing it
    copy = flow.to_pytest(tmp_path / "test_copy.py", speed=50)
    imported = flow.to_pytest(tmp_path / "test_imported.py", flow_ref="my_flows:menu", speed=50)
    # then both pass
    result = _pytest(tmp_path, copy, imported)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
    # and after the flow changes, the importing file fails naming the step that behaves differently
    module.write_text(module.read_text().replace("{'1': 'yes'}", "{'2': 'yes'}"))
    result = _pytest(tmp_path, imported)
    assert result.returncode == 1
    assert "step 'menu'" in result.stdout


def _pytest(folder, *files):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, files)],
        cwd=folder, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(folder)},
    )


def chain(n: int) -> Flow:
    """n Asks in a row, each taking 1 to the next, then a goodbye."""
    nxt = [f"s{i}" for i in range(1, n)] + ["bye"]
    steps = {f"s{i}": Ask(f"Step {i}: press 1.", routes={"1": nxt[i]}, max_digits=1) for i in range(n)}
    return Flow({**steps, "bye": Say("Bye.")}, name=f"chain of {n}")


def test_finding_the_cases_decides_each_state_a_bounded_number_of_times(monkeypatch):
    decided: list[str] = []
    decide = Ask.decide

    def counted(self, name, *rest):
        decided.append(name)
        return decide(self, name, *rest)

    monkeypatch.setattr(Ask, "decide", counted)
    counts = {}
    for n in (40, 160):
        flow = chain(n)
        decided.clear()
        cases = flow.test_cases()
        counts[n] = len(decided)
        assert set().union(*(case.edges for case in cases)) == set(all_edges(flow))
    # each of the about 3n states is decided once per way out: four times the steps, four times the work
    # (it was a search from every state)
    assert counts[160] <= 4.5 * counts[40], counts


def test_cases_too_large_to_hold_are_refused_with_what_to_do(monkeypatch):
    from catapult_nb.flows import cases

    monkeypatch.setattr(cases, "MAX_CASE_MOVES", 2_000)
    with pytest.raises(FlowError, match=r"the cases of this flow would hold over 2,000 moves .* split it"):
        chain(100).test_cases()
