"""The vectorised flow campaign against the event-driven one (run_gather and Ask.decide), caller by caller."""

from __future__ import annotations

import re
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_vectorised import KEYS

from catapult_nb.campaign import Caller, flow_engine, mix
from catapult_nb.campaign.flow_engine import play_one_by_one
from catapult_nb.campaign.flow_vectorised import _Sentences
from catapult_nb.flows import Ask, Flow, FlowError, Hangup, Play, Say, Transfer, run_campaign
from catapult_nb.flows.examples import account_code

PATTERNS = ["1", "2", r"\d{3}", r"\d+", "[12]", "12345", r"\d{5}", r"9\*?", "A"]
TEXTS = ["", "1", "2", "123", "12345", "9", "4567", "12*", "a"]
TIMEOUTS = [1.0, 2.0, 5.0]  # the API's inter-digit timeout is 1 to 30 s
# medians equal to timeouts with no spread: with no prompt, a first key or a gap lands exactly on a timeout
TIMES = [0.3, 0.5, 1.0, 2.0, 4.0]
SPREADS = [0.0, 0.0, 0.5, 1.5]

callers = st.builds(
    Caller,
    first_key_median=st.sampled_from(TIMES), first_key_sigma=st.sampled_from(SPREADS),
    barge_in=st.sampled_from([0.0, 0.3, 1.0]),
    key_gap_median=st.sampled_from(TIMES), key_gap_sigma=st.sampled_from(SPREADS),
    terminator_rate=st.sampled_from([0.0, 0.5, 1.0]),
    terminator=st.one_of(st.none(), st.sampled_from(list(KEYS))),
    extra_keys_rate=st.sampled_from([0.0, 0.5, 1.0]), extra_keys=st.integers(0, 4),
    hang_up_rate=st.sampled_from([0.0, 0.3, 1.0]),
)


def _agree(flow: Flow, people: Any, n: int, seed: int, margin: float = 0.0) -> None:
    want = play_one_by_one(flow, people, n, seed, margin=margin).table
    got = run_campaign(flow, people, n, seed, progress=False, margin=margin).table
    assert list(got.columns) == list(want.columns)
    for column in want.columns:
        same = [a == b for a, b in zip(got[column].tolist(), want[column].tolist(), strict=True)]
        if not all(same):
            i = same.index(False)
            raise AssertionError(
                f"caller {i}, {column}: got {got.iloc[i].to_dict()}, want {want.iloc[i].to_dict()}")


def _picker(pool: list[str]) -> Any:
    """Answers as a callable: one of ``pool``, drawn with the caller's own Generator."""
    return lambda rng: pool[rng.integers(len(pool))]


def _answers(draw: st.DrawFn, routes: dict[str, str]) -> Any:
    """Answers a campaign accepts: with routes, a string or weights always hold one text that takes a route
    (with a positive weight); a callable is not checked, so any texts."""
    texts = st.sampled_from(TEXTS)
    routable = [t for t in [*TEXTS, "A", *routes] if any(re.fullmatch(p, t) for p in routes)]
    kind = draw(st.sampled_from(["none", "text", "weights", "callable"]))
    if kind == "none":
        return None
    if kind == "callable":
        return _picker(draw(st.lists(texts, min_size=1, max_size=3)))
    taken = draw(st.sampled_from(routable)) if routes else draw(texts)
    if kind == "text":
        return taken
    weights = draw(st.dictionaries(texts, st.sampled_from([0, 1, 2.5]), max_size=3))
    return {**weights, taken: draw(st.sampled_from([1, 2.5]))}


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    """Flows built valid: every step reachable, every Ask's answers able to take one of its routes (no
    filtering, so Hypothesis never gives up on them)."""
    n_asks = draw(st.integers(1, 3))
    asks = [f"a{i}" for i in range(n_asks)]
    others = draw(st.lists(st.sampled_from(["say", "play", "transfer", "hangup"]), max_size=3))
    names = asks + [f"{kind}{i}" for i, kind in enumerate(others)]
    target = st.sampled_from(names)
    maybe = st.one_of(st.none(), target)
    steps: dict[str, Any] = {}
    for name in asks:
        earlier = [a for a in asks if a < name]
        sentence = draw(st.sampled_from(
            [None, None, "Enter your code.", "Press one or two, then pound, please, when you are ready."]
            + [f"You entered {{{a}}}. Press 1." for a in earlier]
            + [f"First {{{earlier[0]}}}, then {{{earlier[-1]}}}." for _ in earlier[1:2]]))
        steps[name] = Ask(
            sentence, routes=draw(st.dictionaries(st.sampled_from(PATTERNS), target, max_size=3)),
            invalid=draw(maybe), no_input=draw(maybe), retries=draw(st.integers(0, 3)),
            exhausted=draw(maybe), max_digits=draw(st.integers(1, 6)),
            terminating_digits=draw(st.sampled_from(["#", "*", "#*", "A"])),
            inter_digit_timeout=draw(st.sampled_from(TIMEOUTS)),
        )
    for name in names[n_asks:]:
        if name.startswith("say"):
            words = draw(st.sampled_from(["Thank you.", "You said {a0}, goodbye."]))
            steps[name] = Say(words, next=draw(maybe))
        elif name.startswith("play"):
            steps[name] = Play("https://example.com/hold.wav", next=draw(maybe))
        elif name.startswith("transfer"):
            steps[name] = Transfer("+15550100999")
        else:
            steps[name] = Hangup()
    # every step reachable: a step nothing leads to gets a route of its own from the start; a loop no
    # caller can leave gets a way out at each of its steps (retries used up, or the Say, end the call):
    # the step the error names may have none to give
    for _ in range(4 * len(names)):
        try:
            Flow(steps, start="a0")
            break
        except FlowError as exc:
            if exc.field == "unreachable":
                first = steps["a0"]
                steps["a0"] = first.but(routes={**first.routes, f"7{names.index(exc.step)}": exc.step})
            elif loop := re.search(r"no caller can leave the loop through (.+?) without", str(exc)):
                for name in loop.group(1).split(", "):
                    step = steps[name]
                    steps[name] = step.but(exhausted=None) if isinstance(step, Ask) else step.but(next=None)
            else:
                raise
    else:
        raise AssertionError(f"no valid flow built from {steps}")
    # answers last, against each Ask's final routes
    for name in asks:
        steps[name] = steps[name].but(answers=_answers(draw, steps[name].routes))
    flow = Flow(steps, start="a0")
    flow_engine.check_answers(flow)
    return flow


@st.composite
def people(draw: st.DrawFn) -> list[tuple[Caller, float]]:
    """One to three kinds of caller, at least one with a positive weight."""
    kinds = draw(st.lists(callers, min_size=1, max_size=3))
    weights = draw(st.lists(st.sampled_from([0.0, 1.0, 3.0]), min_size=len(kinds), max_size=len(kinds)))
    weights[draw(st.integers(0, len(kinds) - 1))] = draw(st.sampled_from([1.0, 3.0]))
    return [(kind.but(name=f"kind{i}"), w) for i, (kind, w) in enumerate(zip(kinds, weights, strict=True))]


@pytest.mark.slow  # 200 generated flows, each checked caller by caller
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=flows(), kinds=people(), seed=st.integers(0, 2**32 - 1),
       margin=st.sampled_from([0.0, 0.0, 0.05, 0.25]))
def test_the_vectorised_flow_campaign_agrees_with_the_event_driven_one(
    flow: Flow, kinds: list[tuple[Caller, float]], seed: int, margin: float
) -> None:
    with mock.patch.object(flow_engine, "MAX_STEPS", 12):  # loops reach the cut (outcome error) quickly
        _agree(flow, mix(*kinds), 150, seed, min(margin, flow_engine.max_margin(flow)))


def test_the_account_code_flow_agrees_caller_by_caller() -> None:
    flow = account_code()
    _agree(flow, None, 3000, 5)
    # and the callers' choices there reach every way out of the code step
    ways = run_campaign(flow, n=3000, seed=5, progress=False).funnel().loc["code"]
    assert (ways[["route", "invalid", "no_input", "hangup"]] > 0).all()


def test_a_caller_is_the_same_person_whoever_else_calls() -> None:
    # counter-based draws: caller i's row depends on the seed and i only, not on how many call
    few = run_campaign(account_code(), n=50, seed=9, progress=False).table
    many = run_campaign(account_code(), n=5000, seed=9, progress=False).table
    assert few.drop(columns="edges").equals(many.iloc[:50].drop(columns="edges"))
    assert few["edges"].tolist() == many["edges"].iloc[:50].tolist()
    assert few["path"].nunique() > 1


@pytest.mark.parametrize("answer", ["12x", "1" * 101])
def test_answers_a_caller_cannot_press_are_refused_before_anything_runs(answer: str) -> None:
    flow = Flow({"menu": Ask("Press 1.", max_digits=1, routes={"1": "bye"}, answers={answer: 1, "1": 1}),
                 "bye": Say("Bye.")})
    with pytest.raises(FlowError, match="callers can only press keys"):
        run_campaign(flow, n=10, seed=1)
    called = Flow({"menu": Ask("Press 1.", max_digits=1, routes={"1": "bye"}, answers=lambda rng: answer),
                   "bye": Say("Bye.")})
    with pytest.raises(FlowError, match="step 'menu', field 'answers'"):
        run_campaign(called, n=10, seed=1)


def test_each_caller_hears_a_sentence_with_their_own_digits() -> None:
    # callers are grouped by what they will hear; each group's sentence is rendered once
    variables = {"a": np.array(["1", "22", "1", "22"]), "b": np.array(["333", "4", "4", "4"])}
    heard = _Sentences(variables).per_caller("{b}, not {a}.", np.array([0, 1, 2, 3]), lambda text: text)
    assert heard == ["3 3 3, not 1.", "4, not 2 2.", "4, not 1.", "4, not 2 2."]
    assert _Sentences(variables).per_caller(None, np.array([2]), lambda text: text) == [None]
