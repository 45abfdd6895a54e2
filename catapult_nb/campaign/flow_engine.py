"""Synthetic callers through a flow on the gather engine's clock: the plan of each caller at each step,
one caller at a time on the event-driven engine (the reference), all of them at once with NumPy
(:mod:`catapult_nb.campaign.flow_vectorised`), and the result's frame.

:mod:`catapult_nb.campaign.flow_run` (``run_flow_campaign``, :class:`FlowComparison`) and the
over-the-wire runner (:mod:`catapult_nb.campaign.flow_wire`) both stand on this module.
"""

from __future__ import annotations

import collections
import html
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from catapult_nb.campaign import flow_draws as draws
from catapult_nb.campaign.flow_vectorised import Observer, Specs, play_flow
from catapult_nb.engine import GatherSpec, prompt_duration, run_gather
from catapult_nb.flows.cases import example_digits
from catapult_nb.flows.steps import Ask, Hangup, Play, Say, Transfer, render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from catapult_nb.campaign import Caller, CallerMix
    from catapult_nb.flows.flow import Flow

__all__ = [
    "MAX_N", "MAX_STEPS", "FlowCampaignResult", "StepCache", "caller_kinds", "caller_mix", "check_answers",
    "check_margin", "max_margin", "play_caller", "play_one_by_one", "run_on_engine", "step_plan",
]

#: The most callers a flow campaign takes: each is a row of Python objects (a gather campaign takes
#: 10,000,000, :data:`catapult_nb.campaign.callers.MAX_N`).
MAX_N = 1_000_000
MAX_STEPS = 200  # visits per caller before the run is cut (a loop the caller keeps choosing)
#: Why a caller's outcome is ``error`` on the engines: the only way they give it.
CUT_REASON = (
    f"cut off after {MAX_STEPS} steps: a loop this caller kept choosing, or a flow longer than "
    f"{MAX_STEPS} steps"
)
_EdgeKey = tuple[str, str | None, str]


def caller_mix(callers: Any) -> CallerMix:
    from catapult_nb.campaign.callers import coerce_callers

    return coerce_callers(callers)


def check_answers(flow: Flow) -> None:
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


class StepCache:
    """What is the same for every caller of one run: gather specs by step and sentence, what callers try
    to enter at each step."""

    def __init__(self) -> None:
        self.specs: dict[tuple[str, str | None], GatherSpec] = {}
        self.choices: dict[str, draws.Answers] = {}

    def spec(self, name: str, step: Ask, sentence: str | None) -> GatherSpec:
        key = (name, sentence)
        spec = self.specs.get(key)
        if spec is None:
            if len(self.specs) > 10_000:  # sentences with variables: keep memory flat
                self.specs.clear()
            spec = self.specs[key] = GatherSpec.from_options(step.gather_options(sentence))
        return spec

    def answers(self, name: str, step: Ask) -> draws.Answers:
        if name not in self.choices:
            self.choices[name] = draws.Answers(step.answers, _first_route_answer(step))
        return self.choices[name]


def caller_kinds(mix: CallerMix, n: int, seed: int) -> tuple[list[Caller], list[int]]:
    """The mix's kinds, and which kind each of the ``n`` callers is (the same for every flow)."""
    kinds = [c for c, _ in mix.parts]
    weights = np.array([w for _, w in mix.parts], dtype=float)
    chosen = np.random.default_rng([seed, 0x6B696E64]).choice(len(kinds), size=n, p=weights / weights.sum())
    return kinds, chosen.tolist()


def step_plan(
    flow: Flow, name: str, visit: int, variables: Mapping[str, str], caller_kind: Caller, seed: int,
    index: int, cache: StepCache, margin: float = 0.0,
) -> tuple[GatherSpec, list[tuple[float, str]], float | None]:
    """What caller ``index`` does at the ``visit``-th visit of the Ask step ``name``: the gather's spec,
    the keys with their times from the gather's start, and when they hang up (None: they do not).

    The engine plays it with :func:`~catapult_nb.engine.run_gather` (:func:`play_one_by_one`), or for
    many callers at once with arrays built by the same rules
    (:func:`~catapult_nb.campaign.flow_run.run_flow_campaign`).
    """
    step = flow.steps[name]
    assert isinstance(step, Ask)
    spec = cache.spec(name, step, render(step.sentence, dict(variables)) if step.sentence else None)
    key = draws.step_key(seed, name, visit)
    choice = cache.answers(name, step)
    if choice.call is not None:
        intended = choice.called(seed, index, name, visit)
        draws.check_keys(intended, name)
    else:
        u = draws.uniforms(key, np.array([index]), [draws.ANSWER])[:, 0]
        intended = choice.texts[int(choice.choose(u)[0])]
    presses, hang_up = draws.caller_timeline(caller_kind, intended, spec.prompt_seconds, spec, key, index,
                                             margin)
    return spec, presses, hang_up


def play_caller(
    flow: Flow, caller_kind: Caller, seed: int, index: int, cache: StepCache, margin: float = 0.0,
    trace: list[Any] | None = None,
) -> dict[str, Any]:
    """One caller from answer to the end of the call, on the event-driven engine (``run_gather``).

    With a ``trace`` list, each gather's ``(step, presses, hang_up, reason, seconds it lasted)`` is added
    to it: what the caller does, step by step.
    """
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
        spec, presses, hang_up = step_plan(flow, name, visits[name], variables, caller_kind, seed, index,
                                           cache, margin)
        result = run_gather(spec, presses, hang_up)  # from the gather's start: 0
        if trace is not None:
            trace.append((name, presses, hang_up, result.reason, result.completed_at))
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
    """One row per caller (``path``, ``outcome``, ``time`` to the end in API seconds, ``retries``, and
    ``reason``: why the outcome is ``error``, else None)."""

    flow: Flow
    table: pd.DataFrame
    seed: int

    @property
    def callers(self) -> pd.DataFrame:
        """Deprecated: :attr:`table`, the name a gather campaign's rows have too."""
        warnings.warn("FlowCampaignResult.callers is now .table, as a gather campaign's rows are",
                      DeprecationWarning, stacklevel=2)
        return self.table

    def __post_init__(self) -> None:
        if "reason" not in self.table.columns and "outcome" in self.table.columns:
            cut = self.table["outcome"] == "error"
            self.table["reason"] = pd.Series([CUT_REASON if c else None for c in cut],
                                               index=self.table.index, dtype=object)

    def funnel(self) -> pd.DataFrame:
        """For each step: callers who reached it, and how its visits ended — by each way out, or hung up.

        ``visits`` = the sum of the ways out (an Ask's ``route``, ``invalid``, ``no_input``, ``exhausted``,
        ``hangup``; a Say's ``next``; ``end`` for a Transfer or Hangup step).
        """
        reached: collections.Counter[str] = collections.Counter()
        ways: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for path, edges in zip(self.table["path"], self.table["edges"], strict=True):
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
        return self.table["path"].value_counts().rename("callers")

    def outcomes(self) -> pd.Series:
        return self.table["outcome"].value_counts().rename("callers")

    def edge_counts(self) -> dict[_EdgeKey, int]:
        """How often each edge was taken (by any caller, every time)."""
        counts: collections.Counter[_EdgeKey] = collections.Counter()
        for edges in self.table["edges"]:
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
        ax.set_title(f"{self.flow.name}: {len(self.table):,} callers (seed {self.seed})")
        ax.legend(loc="lower right")
        fig.tight_layout()
        plt.close(fig)
        return fig

    def __repr__(self) -> str:
        shares = ", ".join(f"{k} {v / len(self.table):.1%}" for k, v in self.outcomes().items())
        reasons = self.table["reason"].dropna().unique().tolist() if "reason" in self.table else []
        why = "".join(f"; error: {reason}" for reason in reasons)
        return f"FlowCampaignResult({self.flow.name!r}, {len(self.table):,} callers: {shares}{why})"

    def _repr_html_(self) -> str:
        return (
            f"<div><b>{html.escape(repr(self))}</b>{self.outcomes().to_frame().to_html()}"
            f"{self.funnel().to_html()}</div>"
        )


def play_one_by_one(
    flow: Flow, callers: Any = None, n: int = 1000, seed: int = 0, *, margin: float = 0.0
) -> FlowCampaignResult:
    """:func:`~catapult_nb.campaign.flow_run.run_flow_campaign` one caller at a time on the event-driven
    engine (:func:`~catapult_nb.engine.run_gather`, :meth:`Ask.decide`): slower, and the reference the
    vectorised player is tested against caller by caller. Same arguments, same result."""
    return run_on_engine(flow, callers, n, seed, progress=False, margin=margin, one_by_one=True)


def max_margin(flow: Flow) -> float:
    """The largest margin the flow allows: half its shortest inter-digit timeout."""
    timeouts = [s.gather_options(None).effective_inter_digit_timeout for s in flow.steps.values()
                if isinstance(s, Ask)]
    return min(timeouts, default=0.0) / 2


def check_margin(flow: Flow, margin: Any) -> None:
    from catapult_nb.campaign.callers import check_float

    check_float("margin", margin, low=0.0)
    if margin > max_margin(flow):
        raise ValueError(
            f"margin must be at most {max_margin(flow):g} API seconds (half the shortest inter-digit "
            f"timeout of {flow.name!r}), got {margin:g}"
        )


def run_on_engine(
    flow: Flow, callers: Any, n: int, seed: int, *, progress: bool | str, margin: float, one_by_one: bool,
    rules: Specs | None = None, observe: Observer | None = None,
) -> FlowCampaignResult:
    """The flow's campaign on the engine (``one_by_one``: the event-driven reference player).

    ``rules`` and ``observe`` are the vectorised player's
    (:func:`~catapult_nb.campaign.flow_vectorised.play_flow`): the same callers with their gathers under
    other rules (a v2 port's), and a look at every group's gather; :mod:`catapult_nb.migrate` compares
    through them.
    """
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise ValueError(
            f"n must be a whole number from 1 to {MAX_N:,} for a flow campaign (one row of Python objects "
            f"per caller; a gather campaign takes up to 10,000,000), got {n!r}"
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
    check_margin(flow, margin)
    check_answers(flow)
    kinds, chosen = caller_kinds(caller_mix(callers), n, seed)
    cache = StepCache()
    if one_by_one:
        rows = [play_caller(flow, kinds[k], seed, i, cache, margin) for i, k in enumerate(chosen)]
        return FlowCampaignResult(flow, pd.DataFrame(rows), seed)
    answers = {name: cache.answers(name, step) for name, step in flow.steps.items() if isinstance(step, Ask)}
    label = progress if isinstance(progress, str) else flow.name  # a comparison names the variant
    with tqdm(total=n, desc=f"callers through {label}", disable=not progress or n < 5000) as bar:
        table = play_flow(flow, draws.KindTable.of(kinds), np.array(chosen, dtype=np.int64), seed, cache.spec,
                          answers, MAX_STEPS, margin=margin, progress=bar.update, rules=rules,
                          observe=observe)
    return FlowCampaignResult(flow, table, seed)
