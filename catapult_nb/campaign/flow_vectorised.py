"""Every synthetic caller through a flow at once, one step at a time, with NumPy arrays.

Each round, every caller still in the call takes one step. Callers at the same :class:`Ask` on the same
visit are played together: their timelines built as arrays
(:func:`~catapult_nb.campaign.flow_draws.group_timelines`), the gather run for all of them by
:func:`catapult_nb.engine_vectorised.play`, and each routed by their digits (each distinct digit string is
decided once, by :meth:`Ask.decide`'s rules). A ``Say`` or ``Play`` adds its prompt's length; a ``Transfer``
or ``Hangup`` ends the call. What each caller did is kept as a trail of steps and edges, shared by every
caller who did the same (a few hundred trails for 100,000 callers).

The event-driven player in :mod:`catapult_nb.campaign.flow_run` plays one caller at a time on
:func:`catapult_nb.engine.run_gather`; a property test checks that the two agree caller by caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from catapult_nb import engine_vectorised
from catapult_nb.campaign import flow_draws as draws
from catapult_nb.engine import GatherSpec, Reason, prompt_duration
from catapult_nb.flows.steps import VARIABLE, Ask, Hangup, Play, Say, Transfer, render

if TYPE_CHECKING:
    from catapult_nb.flows.flow import Flow

__all__ = ["OUTCOMES", "Observer", "Specs", "play_flow"]

#: ``(step name, step, rendered sentence) -> GatherSpec``.
Specs = Callable[[str, Ask, str | None], GatherSpec]
#: What :func:`play_flow` tells an observer after each group's gather (see its ``observe``).
Observer = Callable[[str, np.ndarray, GatherSpec, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                     engine_vectorised.VectorOutcome], None]

#: Outcome codes of :func:`play_flow`, in order.
OUTCOMES = ("completed", "transferred", "hung-up", "exhausted", "error")
_COMPLETED, _TRANSFERRED, _HUNG_UP, _EXHAUSTED, _ERROR = range(5)
_HUNG = engine_vectorised.REASONS.index(Reason.HUNG_UP)
_EdgeKey = tuple[str, str | None, str]


class _Trails:
    """Each caller's steps and edges so far, as an id: callers who did the same share one trail."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.parent: list[int] = [-1]
        self.token: list[int] = [-1]
        self.index: dict[tuple[int, int], int] = {}

    def extend(self, trails: np.ndarray, token: np.ndarray | int) -> np.ndarray:
        pairs = trails * self.tokens + token
        unique, inverse = np.unique(pairs, return_inverse=True)
        ids = np.empty(len(unique), dtype=np.int64)
        for j, pair in enumerate(unique.tolist()):
            key = divmod(pair, self.tokens)
            found = self.index.get(key)
            if found is None:
                found = self.index[key] = len(self.parent)
                self.parent.append(key[0])
                self.token.append(key[1])
            ids[j] = found
        return ids[inverse.reshape(-1)]

    def tokens_of(self, trail: int) -> list[int]:
        out = []
        while trail > 0:
            out.append(self.token[trail])
            trail = self.parent[trail]
        return out[::-1]


def _groups(values: np.ndarray) -> Iterator[tuple[Any, np.ndarray]]:
    """``(value, positions)`` for each distinct value, positions in order."""
    if len(values) == 0:
        return
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    for part in np.split(order, cuts):
        yield values[part[0]], part


class _Sentences:
    """Sentences with each caller's variables filled in, grouped: one rendering per distinct reading."""

    def __init__(self, variables: dict[str, np.ndarray]) -> None:
        self.variables = variables

    def per_caller(
        self, template: str | None, callers: np.ndarray, measure: Callable[[str | None], Any]
    ) -> list[Any]:
        """``measure`` of each caller's rendering of ``template`` (None stays None), one call per reading."""
        names = sorted(set(VARIABLE.findall(template))) if template else []
        if not names:
            value = measure(render(template, {}) if template else None)
            return [value] * len(callers)
        codes = np.zeros(len(callers), dtype=np.int64)
        uniques = []
        for name in names:
            unique, inverse = np.unique(self.variables[name][callers], return_inverse=True)
            codes = codes * len(unique) + inverse.reshape(-1)
            uniques.append(unique)
        combos, inverse = np.unique(codes, return_inverse=True)
        values = []
        for combo in combos.tolist():
            reading: dict[str, str] = {}
            for name, unique in zip(reversed(names), reversed(uniques), strict=True):
                combo, at = divmod(combo, len(unique))
                reading[name] = str(unique[at])
            values.append(measure(render(template, reading)))  # type: ignore[arg-type]
        return [values[j] for j in inverse.reshape(-1).tolist()]


def play_flow(
    flow: Flow, kinds: draws.KindTable, kind: np.ndarray, seed: int, specs: Callable[[str, Ask, str | None],
                                                                                  GatherSpec],
    answers: dict[str, draws.Answers], max_steps: int, *, margin: float = 0.0,
    progress: Callable[[int], None] | None = None, rules: Specs | None = None,
    observe: Observer | None = None,
) -> pd.DataFrame:
    """Play every caller (``kind[i]`` is caller *i*'s kind) through ``flow``; one row per caller.

    :param specs: ``(step name, step, rendered sentence) -> GatherSpec`` (shared with the event-driven
        player, so both time prompts alike).
    :param answers: each Ask's :class:`~catapult_nb.campaign.flow_draws.Answers`.
    :param max_steps: steps per caller before the call is cut (outcome ``error``).
    :param margin: as for :func:`~catapult_nb.campaign.flow_draws.caller_timeline`.
    :param progress: called with how many callers finished in each round.
    :param rules: the gathers the callers meet, when they are not ``specs`` (the same steps under other
        rules, such as a v2 port): callers are drawn by ``specs`` (the people stay the same) and their
        gathers played by ``rules``.
    :param observe: called after every group's gather with ``(step name, callers, spec, prompt seconds,
        times, keys, count, hang_up, outcome)``, the arrays the gather was played on.
    :returns: the rows of :class:`~catapult_nb.campaign.flow_run.FlowCampaignResult` (columns ``caller``,
        ``callerType``, ``path``, ``steps``, ``outcome``, ``time``, ``retries``, ``edges``).
    """
    names = list(flow.steps)
    index = {name: s for s, name in enumerate(names)}
    edge_keys: list[_EdgeKey] = []
    for name, step in flow.steps.items():
        edge_keys += [(e.source, e.target, e.kind) for e in step.edges(name)]
        if isinstance(step, Ask):
            edge_keys.append((name, None, "hangup"))
    edge_keys = list(dict.fromkeys(edge_keys))
    edge_id = {key: len(names) + j for j, key in enumerate(edge_keys)}
    trails = _Trails(len(names) + len(edge_keys))

    n = len(kind)
    step_of = np.full(n, index[flow.start], dtype=np.int64)
    now = np.zeros(n)
    trail = np.zeros(n, dtype=np.int64)
    taken = np.zeros(n, dtype=np.int64)
    outcome = np.full(n, _COMPLETED, dtype=np.int8)
    visits = np.zeros((n, len(names)), dtype=np.int64)
    failures = np.zeros((n, len(names)), dtype=np.int64)
    asks = [name for name, step in flow.steps.items() if isinstance(step, Ask)]
    variables = {name: np.full(n, "", dtype="U1") for name in asks}
    sentences = _Sentences(variables)
    active = np.arange(n)

    def finish(callers: np.ndarray, code: int) -> None:
        outcome[callers] = code
        step_of[callers] = -1

    while len(active):
        cut = taken[active] >= max_steps
        finish(active[cut], _ERROR)
        active = active[~cut]
        here = step_of[active]
        taken[active] += 1
        trail[active] = trails.extend(trail[active], here)
        for s, at in _groups(here):
            callers = active[at]
            name = names[s]
            step = flow.steps[name]
            visits[callers, s] += 1
            if isinstance(step, Transfer):
                finish(callers, _TRANSFERRED)
            elif isinstance(step, Hangup):
                finish(callers, _COMPLETED)
            elif isinstance(step, (Say, Play)):
                if isinstance(step, Say):
                    now[callers] += np.array(sentences.per_caller(step.sentence, callers, prompt_duration))
                else:
                    now[callers] += prompt_duration(None, step.file_url)
                trail[callers] = trails.extend(trail[callers], edge_id[(name, step.next, "next")])
                if step.next is None:
                    finish(callers, _COMPLETED)
                else:
                    step_of[callers] = index[step.next]
            else:
                assert isinstance(step, Ask)
                for visit, at_visit in _groups(visits[callers, s]):
                    group = callers[at_visit]
                    _ask(name, step, group, int(visit), seed, kinds, kind, answers[name], sentences,
                         specs, now, failures[:, s], variables, edge_id, index, trails, trail, step_of,
                         finish, margin, rules, observe)
        still = step_of[active] >= 0
        if progress is not None:
            progress(int((~still).sum()) + int(cut.sum()))
        active = active[still]

    # one path, edge list and retry count per distinct trail, then spread to its callers
    unique, inverse = np.unique(trail, return_inverse=True)
    paths, lengths, edge_lists, retries = [], [], [], []
    for t in unique.tolist():
        tokens = trails.tokens_of(t)
        path = [names[k] for k in tokens if k < len(names)]
        edges = [edge_keys[k - len(names)] for k in tokens if k >= len(names)]
        paths.append(" → ".join(path))
        lengths.append(len(path))
        edge_lists.append(edges)
        retries.append(sum(way in ("invalid", "no_input") for *_, way in edges))
    at = inverse.reshape(-1)
    return pd.DataFrame({
        "caller": np.arange(n), "callerType": np.array([c.name for c in kinds.kinds], dtype=object)[kind],
        "path": np.array(paths, dtype=object)[at], "steps": np.array(lengths, dtype=np.int64)[at],
        "outcome": np.array(OUTCOMES, dtype=object)[outcome], "time": np.round(now, 3),
        "retries": np.array(retries, dtype=np.int64)[at], "edges": [list(edge_lists[j]) for j in at.tolist()],
    })


def _answers_of(
    answers: draws.Answers, group: np.ndarray, u: np.ndarray, seed: int, name: str, visit: int
) -> tuple[np.ndarray, np.ndarray]:
    """What each caller of ``group`` tries to enter: ``(m, L)`` ASCII codes and lengths."""
    if answers.call is not None:
        texts = [answers.called(seed, int(i), name, visit) for i in group.tolist()]
        for text in texts:
            draws.check_keys(text, name)
        chosen = np.arange(len(texts))
    else:
        texts = answers.texts
        chosen = answers.choose(u)
    width = max((len(t) for t in texts), default=0)
    table = np.full((len(texts), width), ord("0"), dtype=np.uint8)
    for j, text in enumerate(texts):
        table[j, : len(text)] = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    return table[chosen], lengths[chosen]


def _ask(
    name: str, step: Ask, group: np.ndarray, visit: int, seed: int, kinds: draws.KindTable,
    kind: np.ndarray, answers: draws.Answers, sentences: _Sentences,
    specs: Callable[[str, Ask, str | None], GatherSpec], now: np.ndarray, failures: np.ndarray,
    variables: dict[str, np.ndarray], edge_id: dict[_EdgeKey, int], index: dict[str, int], trails: _Trails,
    trail: np.ndarray, step_of: np.ndarray, finish: Callable[[np.ndarray, int], None], margin: float,
    rules: Specs | None = None, observe: Observer | None = None,
) -> None:
    """One visit of one Ask for a group of callers: timelines, the gather for all, then each routed."""
    group_specs = sentences.per_caller(step.sentence, group, lambda text: specs(name, step, text))
    spec = group_specs[0]
    prompt = np.array([g.prompt_seconds for g in group_specs])
    key = draws.step_key(seed, name, visit)
    u_answer = draws.uniforms(key, group, [draws.ANSWER])[:, 0]
    intended, length = _answers_of(answers, group, u_answer, seed, name, visit)
    times, keys, count, hang_up = draws.group_timelines(kinds, kind[group], group, intended, length, prompt,
                                                        spec, key, margin)
    if rules is not None:  # the same people, other rules
        spec = sentences.per_caller(step.sentence, group, lambda text: rules(name, step, text))[0]
    result = engine_vectorised.play(spec, times, keys, count, hang_up, prompt_seconds=prompt)
    if observe is not None:
        observe(name, group, spec, prompt, times, keys, count, hang_up, result)
    now[group] += result.completed_at
    hung = result.reason == _HUNG
    gone = group[hung]
    trail[gone] = trails.extend(trail[gone], edge_id[(name, None, "hangup")])
    finish(gone, _HUNG_UP)
    stay = ~hung
    group = group[stay]
    digits = engine_vectorised.digit_strings(keys[stay], result.n_digits[stay])
    if digits.dtype.itemsize > variables[name].dtype.itemsize:
        variables[name] = variables[name].astype(digits.dtype)
    variables[name][group] = digits
    for text, at in _groups(digits):
        callers = group[at]
        route = next((target for pattern, target in step.routes.items() if re.fullmatch(pattern, str(text))),
                     None) if text else None  # no digits: no input, whatever the routes
        if route is not None:
            failures[callers] = 0
            kind_, target = "route", route
        else:
            failures[callers] += 1
            kind_ = "invalid" if text else "no_input"
            target = (step.invalid if text else step.no_input) or name
        out = failures[callers] > step.retries if route is None else np.zeros(len(callers), dtype=bool)
        for over in (False, True):
            part = callers[out == over]
            if not len(part):
                continue
            edge_kind, edge_target = ("exhausted", step.exhausted) if over else (kind_, target)
            trail[part] = trails.extend(trail[part], edge_id[(name, edge_target, edge_kind)])
            if edge_target is None:
                finish(part, _EXHAUSTED)
            else:
                step_of[part] = index[edge_target]
