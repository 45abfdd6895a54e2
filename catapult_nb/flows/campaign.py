"""Synthetic callers through a flow: thousands of people on the gather engine's clock, in seconds.

Each caller is one of a :class:`~catapult_nb.campaign.CallerMix`'s kinds. At every :class:`Ask` they
try to enter what the step's ``answers`` say (a string, ``{string: weight}``, or a callable taking a
numpy Generator; without ``answers``, what the first route wants), typed the way their kind types:
hesitating before the first key, slow or fast between keys, sometimes pressing the terminating key,
sometimes a few keys too many, sometimes hanging up. Each gather is played by the simulator's own
engine (:func:`catapult_nb.engine.run_gather`); each decision is the runner's own
(:meth:`~catapult_nb.flows.steps.Ask.decide`). Nothing sleeps and nothing goes over HTTP.

Every random draw of caller *i* comes from a generator seeded with ``(seed, i)`` — and at each step
from ``(seed, i, step, visit)`` — so two flows run with the same seed meet the same people, and a
change to one step changes only what happens from that step on.
"""

from __future__ import annotations

import collections
import html
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from catapult_nb.engine import GatherSpec, prompt_duration, run_gather
from catapult_nb.flows.cases import example_digits
from catapult_nb.flows.steps import Ask, Hangup, Play, Say, Transfer, render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from catapult_nb.campaign import Caller, CallerMix
    from catapult_nb.flows.flow import Flow

__all__ = ["FlowCampaignResult", "compare_flows", "run_campaign"]

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


def _answer(name: str, step: Ask, rng: np.random.Generator, cache: _Cache) -> str:
    answers = step.answers
    if answers is None:
        return cache.default(name, step)
    if callable(answers):
        return str(answers(rng))
    if isinstance(answers, str):
        return answers
    texts = list(answers)
    weights = np.array([float(answers[t]) for t in texts])
    return texts[int(rng.choice(len(texts), p=weights / weights.sum()))]


def _timeline(
    caller: Caller, intended: str, spec: GatherSpec, rng: np.random.Generator
) -> tuple[list[tuple[float, str]], float | None]:
    """What one caller of ``caller``'s kind does at one gather: key times from its start, and a hang-up."""
    prompt = spec.prompt_seconds
    keys = intended
    if keys and rng.random() < caller.extra_keys_rate:
        keys += "".join(str(d) for d in rng.integers(0, 10, caller.extra_keys))
    if keys and rng.random() < caller.terminator_rate:
        keys += (caller.terminator or spec.terminating_digits[0]).upper()
    if prompt > 0 and rng.random() < caller.barge_in:
        first = rng.random() * prompt
    else:
        wait = caller.first_key_median * float(np.exp(caller.first_key_sigma * rng.standard_normal()))
        first = prompt + wait
    spread = rng.standard_normal(max(len(keys) - 1, 0))
    gaps = caller.key_gap_median * np.exp(caller.key_gap_sigma * spread)
    times = [first, *(first + np.cumsum(gaps)).tolist()]
    presses = list(zip(times, keys, strict=False))
    hang_up = None
    if rng.random() < caller.hang_up_rate:
        last = presses[-1][0] if presses else prompt + spec.inter_digit_timeout
        hang_up = float(rng.random() * last)
    return presses, hang_up


def _stream(seed: int, caller: int, *parts: Any) -> np.random.Generator:
    keys = [seed, caller, *(zlib.crc32(str(p).encode()) for p in parts)]
    return np.random.default_rng(keys)


def _play(flow: Flow, caller_kind: Caller, seed: int, index: int, cache: _Cache) -> dict[str, Any]:
    """One caller from answer to the end of the call."""
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
        rng = _stream(seed, index, name, visits[name])
        spec = cache.spec(name, step, render(step.sentence, variables) if step.sentence else None)
        presses, hang_up = _timeline(caller_kind, _answer(name, step, rng, cache), spec, rng)
        result = run_gather(spec, [(now + t, k) for t, k in presses],
                            None if hang_up is None else now + hang_up, start_time=now)
        now = result.completed_at
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
        "outcome": outcome, "time": round(now, 3),
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
        a route or weights that do not sum to a positive number.
    """
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise ValueError(f"n must be a whole number from 1 to {MAX_N:,}, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
    _check_answers(flow)
    mix = _mix(callers)
    kinds = [c for c, _ in mix.parts]
    weights = np.array([w for _, w in mix.parts], dtype=float)
    chosen = np.random.default_rng([seed, 0x6B696E64]).choice(len(kinds), size=n, p=weights / weights.sum())
    bar = tqdm(chosen.tolist(), desc=f"callers through {flow.name}", disable=not progress or n < 5000)
    cache = _Cache()
    rows = [_play(flow, kinds[k], seed, i, cache) for i, k in enumerate(bar)]
    return FlowCampaignResult(flow, pd.DataFrame(rows), seed)


def compare_flows(
    flows: Mapping[str, Flow], callers: Any = None, n: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Outcome shares per flow, the same people (same ``seed``) through each."""
    table = {
        label: run_campaign(flow, callers, n, seed, progress=False).outcomes() / n
        for label, flow in flows.items()
    }
    return pd.DataFrame(table).fillna(0.0).T
