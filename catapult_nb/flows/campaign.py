"""Synthetic callers through a flow: thousands of people on the gather engine's clock, in seconds.

Each caller is one of a :class:`~catapult_nb.campaign.CallerMix`'s kinds. At every :class:`Ask` they
try to enter what the step's ``answers`` say (a string, ``{string: weight}``, or a callable taking a
numpy Generator; without ``answers``, what the first route wants), typed the way their kind types:
hesitating before the first key, slow or fast between keys, sometimes pressing the terminating key,
sometimes a few keys too many, sometimes hanging up.

:func:`run_campaign` plays every caller at once, step by step, with NumPy
(:mod:`catapult_nb.flows.vectorised`: the gather engine's rules as arrays, each decision by
:meth:`~catapult_nb.flows.steps.Ask.decide`'s rules); :func:`play_one_by_one` plays one caller at a time
on the simulator's own engine (:func:`catapult_nb.engine.run_gather`) and the runner's own
:meth:`~catapult_nb.flows.steps.Ask.decide`, and is the reference the first is tested against, caller by
caller. Nothing sleeps and nothing goes over HTTP.

Every random draw of caller *i* at the *v*-th visit of a step depends on ``(seed, i, step, v)`` alone
(:mod:`catapult_nb.flows.draws`), so two flows run with the same seed meet the same people, and a change to
one step changes only what happens from that step on.
"""

from __future__ import annotations

import collections
import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from catapult_nb.engine import GatherSpec, prompt_duration, run_gather
from catapult_nb.flows import draws
from catapult_nb.flows.cases import example_digits
from catapult_nb.flows.steps import Ask, Hangup, Play, Say, Transfer, render
from catapult_nb.flows.vectorised import play_flow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from catapult_nb.campaign import CallerMix
    from catapult_nb.flows.flow import Flow

__all__ = ["FlowCampaignResult", "compare_flows", "play_one_by_one", "run_campaign"]

MAX_N = 1_000_000
MAX_STEPS = 200  # visits per caller before the run is cut (a loop the caller keeps choosing)
_EdgeKey = tuple[str, str | None, str]


def _mix(callers: Any) -> CallerMix:
    from catapult_nb.campaign.callers import coerce_callers

    return coerce_callers(callers)


def _check_answers(flow: Flow) -> None:
    """Answers that can never take a route, or weights that cannot be drawn: a clear error first."""
    from catapult_nb.flows.steps import FlowError

    for name, step in flow.steps.items():
        if not isinstance(step, Ask) or step.answers is None or callable(step.answers):
            continue
        answers = {step.answers: 1.0} if isinstance(step.answers, str) else dict(step.answers)
        for text in answers:
            draws.check_keys(str(text), name)
        weights = list(answers.values())
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights) or (
            sum(weights) <= 0
        ):
            raise FlowError(
                f"the weights must be numbers ≥ 0 with a positive sum, got {weights}", step=name,
                field="answers",
            )
        if step.routes and not any(_route_of(step, str(text)) for text in answers):
            raise FlowError(
                f"none of the answers {list(answers)} takes any of the routes {list(step.routes)}: "
                "callers could never get past this step", step=name, field="answers",
            )


def _route_of(step: Ask, digits: str) -> str | None:
    import re

    return next((p for p in step.routes if re.fullmatch(p, digits)), None)


def _first_route_answer(step: Ask) -> str:
    """Without ``answers``, callers enter what the first route they can take wants."""
    options = step.gather_options(None)
    for pattern in step.routes:
        found = example_digits(pattern, options.effective_max_digits, options.effective_terminating_digits)
        if found:
            return found
    return ""


class _Cache:
    """What is the same for every caller of one run: gather specs by step and sentence, default answers."""

    def __init__(self) -> None:
        self.specs: dict[tuple[str, str | None], GatherSpec] = {}
        self.defaults: dict[str, str] = {}

    def spec(self, name: str, step: Ask, sentence: str | None) -> GatherSpec:
        key = (name, sentence)
        spec = self.specs.get(key)
        if spec is None:
            if len(self.specs) > 10_000:  # sentences with variables: keep memory flat
                self.specs.clear()
            spec = self.specs[key] = GatherSpec.from_options(step.gather_options(sentence))
        return spec

    def default(self, name: str, step: Ask) -> str:
        if name not in self.defaults:
            self.defaults[name] = _first_route_answer(step)
        return self.defaults[name]


def _answers(flow: Flow, cache: _Cache) -> dict[str, draws.Answers]:
    return {name: draws.Answers(step.answers, cache.default(name, step))
            for name, step in flow.steps.items() if isinstance(step, Ask)}


def _play(
    flow: Flow, kinds: draws.KindTable, kind: int, seed: int, index: int, cache: _Cache,
    answers: dict[str, draws.Answers],
) -> dict[str, Any]:
    """One caller from answer to the end of the call, on the event-driven engine (``run_gather``)."""
    caller_kind = kinds.kinds[kind]
    now = 0.0
    name: str | None = flow.start
    path: list[str] = []
    edges: list[_EdgeKey] = []
    failures: dict[str, int] = {}
    variables: dict[str, str] = {}
    visits: collections.Counter[str] = collections.Counter()
    outcome = "completed"
    while name is not None:
        if len(path) >= MAX_STEPS:
            outcome = "error"
            break
        step = flow.steps[name]
        path.append(name)
        visits[name] += 1
        if isinstance(step, Transfer):
            outcome = "transferred"
            break
        if isinstance(step, Hangup):
            break
        if isinstance(step, (Say, Play)):
            sentence = render(step.sentence, variables) if isinstance(step, Say) else None
            file_url = step.file_url if isinstance(step, Play) else None
            now += prompt_duration(sentence, file_url)
            edges.append((name, step.next, "next"))
            name = step.next
            continue
        assert isinstance(step, Ask)
        key = draws.step_key(seed, name, visits[name])
        spec = cache.spec(name, step, render(step.sentence, variables) if step.sentence else None)
        choice = answers[name]
        if choice.call is not None:
            intended = choice.called(seed, index, name, visits[name])
            draws.check_keys(intended, name)
        else:
            u = draws.uniforms(key, np.array([index]), [draws.ANSWER])[:, 0]
            intended = choice.texts[int(choice.choose(u)[0])]
        presses, hang_up = draws.caller_timeline(caller_kind, intended, spec.prompt_seconds, spec, key, index)
        result = run_gather(spec, presses, hang_up)  # from the gather's start: 0
        now += result.completed_at
        if result.reason == "hung-up":
            edges.append((name, None, "hangup"))
            outcome = "hung-up"
            break
        decision = step.decide(name, result.digits, failures)
        variables[name] = result.digits
        edges.append((name, decision.target, decision.kind))
        if decision.target is None:
            outcome = "exhausted"  # only an exhausted step with nowhere to go ends the call here
        name = decision.target
    return {
        "caller": index, "callerType": caller_kind.name, "path": " → ".join(path), "steps": len(path),
        "outcome": outcome, "time": float(np.round(now, 3)),
        "retries": sum(kind in ("invalid", "no_input") for *_, kind in edges),
        "edges": edges,
    }


@dataclass
class FlowCampaignResult:
    """One row per caller (``path``, ``outcome``, ``time`` to the end in API seconds, ``retries``)."""

    flow: Flow
    callers: pd.DataFrame
    seed: int

    def funnel(self) -> pd.DataFrame:
        """For each step: callers who reached it, and how its visits ended — by each way out, or hung up.

        ``visits`` = the sum of the ways out (an Ask's ``route``, ``invalid``, ``no_input``, ``exhausted``,
        ``hangup``; a Say's ``next``; ``end`` for a Transfer or Hangup step).
        """
        reached: collections.Counter[str] = collections.Counter()
        ways: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for path, edges in zip(self.callers["path"], self.callers["edges"], strict=True):
            steps = path.split(" → ")
            for step in set(steps):
                reached[step] += 1
            for source, _target, kind in edges:
                ways[source][kind] += 1
            last = steps[-1]
            if not edges or edges[-1][0] != last:  # ended at a Transfer or Hangup step
                ways[last]["end"] += 1
        kinds = ["route", "invalid", "no_input", "exhausted", "next", "end", "hangup"]
        rows = []
        for name in self.flow.steps:
            row: dict[str, Any] = {"step": name, "reached": reached[name]}
            row.update({kind: ways[name][kind] for kind in kinds})
            row["visits"] = sum(ways[name].values())
            rows.append(row)
        return pd.DataFrame(rows).set_index("step")

    def paths(self) -> pd.Series:
        """How many callers took each path, most common first."""
        return self.callers["path"].value_counts().rename("callers")

    def outcomes(self) -> pd.Series:
        return self.callers["outcome"].value_counts().rename("callers")

    def edge_counts(self) -> dict[_EdgeKey, int]:
        """How often each edge was taken (by any caller, every time)."""
        counts: collections.Counter[_EdgeKey] = collections.Counter()
        for edges in self.callers["edges"]:
            counts.update(edges)
        return dict(counts)

    def plot(self) -> Figure:
        """The funnel: callers reaching each step, and those who hung up there."""
        import matplotlib.pyplot as plt

        funnel = self.funnel()
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(funnel)))
        ax.barh(funnel.index, funnel["reached"], color="#90caf9", label="reached")
        ax.barh(funnel.index, funnel["hangup"], color="#ef5350", label="hung up there")
        ax.invert_yaxis()
        ax.set_xlabel("callers")
        ax.set_title(f"{self.flow.name}: {len(self.callers):,} callers (seed {self.seed})")
        ax.legend(loc="lower right")
        fig.tight_layout()
        plt.close(fig)
        return fig

    def __repr__(self) -> str:
        shares = ", ".join(f"{k} {v / len(self.callers):.1%}" for k, v in self.outcomes().items())
        return f"FlowCampaignResult({self.flow.name!r}, {len(self.callers):,} callers: {shares})"

    def _repr_html_(self) -> str:
        return (
            f"<div><b>{html.escape(repr(self))}</b>{self.outcomes().to_frame().to_html()}"
            f"{self.funnel().to_html()}</div>"
        )


def run_campaign(
    flow: Flow, callers: Any = None, n: int = 1000, seed: int = 0, *, progress: bool = True
) -> FlowCampaignResult:
    """Play ``n`` synthetic callers through ``flow`` on the engine's clock.

    :param callers: a :class:`~catapult_nb.campaign.Caller`, a :class:`~catapult_nb.campaign.CallerMix`,
        or None (the default mix of campaigns).
    :raises ValueError: ``n`` out of 1…1,000,000; :class:`FlowError` for ``answers`` that can never take
        a route or weights that do not sum to a positive number, or keys no caller can press.
    """
    return _run(flow, callers, n, seed, progress=progress, one_by_one=False)


def play_one_by_one(flow: Flow, callers: Any = None, n: int = 1000, seed: int = 0) -> FlowCampaignResult:
    """:func:`run_campaign` one caller at a time on the event-driven engine
    (:func:`~catapult_nb.engine.run_gather`, :meth:`Ask.decide`): slower, and the reference the
    vectorised player is tested against caller by caller. Same arguments, same result."""
    return _run(flow, callers, n, seed, progress=False, one_by_one=True)


def _run(
    flow: Flow, callers: Any, n: int, seed: int, *, progress: bool, one_by_one: bool
) -> FlowCampaignResult:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise ValueError(f"n must be a whole number from 1 to {MAX_N:,}, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
    _check_answers(flow)
    mix = _mix(callers)
    kinds = draws.KindTable.of(mix)
    weights = np.array([w for _, w in mix.parts], dtype=float)
    chosen = np.random.default_rng([seed, 0x6B696E64]).choice(
        len(kinds.kinds), size=n, p=weights / weights.sum())
    cache = _Cache()
    answers = _answers(flow, cache)
    if one_by_one:
        rows = [_play(flow, kinds, k, seed, i, cache, answers) for i, k in enumerate(chosen.tolist())]
        return FlowCampaignResult(flow, pd.DataFrame(rows), seed)
    with tqdm(total=n, desc=f"callers through {flow.name}", disable=not progress or n < 5000) as bar:
        table = play_flow(flow, kinds, chosen, seed, cache.spec, answers, MAX_STEPS, progress=bar.update)
    return FlowCampaignResult(flow, table, seed)


def compare_flows(
    flows: Mapping[str, Flow], callers: Any = None, n: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Outcome shares per flow, the same people (same ``seed``) through each."""
    table = {
        label: run_campaign(flow, callers, n, seed, progress=False).outcomes() / n
        for label, flow in flows.items()
    }
    return pd.DataFrame(table).fillna(0.0).T
