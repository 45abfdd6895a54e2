"""Every path of a flow, tested: test cases that cover each edge, run on the simulator, or written out
as a pytest file.

A case is what one caller does at each step (the keys, nothing, or hanging up) and what the flow must
do in return: the path of steps and the outcome. :func:`test_cases` searches the flow's states (step,
and how often each Ask failed in a row) breadth first, so each case is the shortest that takes a new
edge, finished by the shortest way to the end of the call. Retry loops are bounded by ``retries``; a
loop no caller can leave is reported, not followed for ever.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from catapult_nb.flows.steps import Ask, FlowError, Hangup, Play, Say, Step, Transfer

if TYPE_CHECKING:
    from catapult_nb.flows.flow import Flow
    from catapult_nb.flows.runner import FlowRun
    from catapult_nb.session.session import Session

__all__ = ["HANG_UP", "Case", "CheckResult", "Move", "check", "example_digits", "test_cases"]

#: The keys of a move in which the caller hangs up instead of typing.
HANG_UP = None
_ALPHABET = "1234567890*#ABCD"
_END = "(end)"

EdgeKey = tuple[str, str | None, str]  # (source, target, kind); kind "hangup" for a caller hanging up


@dataclass(frozen=True)
class Move:
    """What the caller does at one visit of an Ask step: ``keys`` to type (``""``: nothing, wait for the
    timeout; :data:`HANG_UP`: hang up), and the edge the flow must take."""

    step: str
    keys: str | None
    edge: EdgeKey

    def describe(self) -> str:
        if self.keys is HANG_UP:
            return f"{self.step}: hang up"
        return f"{self.step}: {self.keys!r}" if self.keys else f"{self.step}: (nothing)"


@dataclass(frozen=True)
class Case:
    """One caller's way through the flow and what the flow must do."""

    name: str
    moves: tuple[Move, ...]
    path: tuple[str, ...]  # the steps entered, in order
    outcome: str
    edges: frozenset[EdgeKey] = field(default=frozenset(), repr=False)

    def describe(self) -> str:
        return "; ".join(move.describe() for move in self.moves) or "(no keys)"

    def play(self, session: Session, flow: Flow, to: str = "+15551234567", timeout: float = 60.0) -> FlowRun:
        """Place a call running ``flow`` and do what this case's caller does; returns the ended run."""
        run = session.call(to, flow=flow)
        visits: dict[str, int] = collections.Counter()
        for move in self.moves:
            visits[move.step] += 1
            run.wait_step(move.step, visit=visits[move.step], timeout=timeout)
            if move.keys is HANG_UP:
                session.phone.hang_up(run.call)
            elif move.keys:
                session.phone.press(run.call, move.keys)
        return run.wait(timeout)

    def verify(self, run: FlowRun) -> None:
        """Raise AssertionError naming the first step where ``run`` went another way than this case."""
        for index, (expected, got) in enumerate(zip(self.path, run.path, strict=False)):
            if expected != got:
                before = self.path[index - 1] if index else "(start)"
                raise AssertionError(
                    f"{self.name}: after step {before!r} the flow went to {got!r}, expected {expected!r} "
                    f"(caller: {self.describe()}; path {' → '.join(run.path)})"
                )
        if tuple(run.path) != self.path:
            last = self.path[len(run.path) - 1] if len(run.path) <= len(self.path) and run.path else "(start)"
            raise AssertionError(
                f"{self.name}: step {last!r} changed: expected the path {' → '.join(self.path)}, "
                f"got {' → '.join(run.path)} (caller: {self.describe()})"
            )
        if run.outcome != self.outcome:
            raise AssertionError(
                f"{self.name}: step {self.path[-1]!r} ended the call {run.outcome!r} ({run.reason}), "
                f"expected {self.outcome!r}"
            )


# -- digits that take a route ----------------------------------------------------------------------


def example_digits(pattern: str, max_length: int = 30, avoid: str = "") -> str | None:
    """A short key sequence that ``pattern`` fully matches, without the keys in ``avoid`` (a gather's
    terminating digits); None if none is found."""
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]  # Python ≥ 3.11, no stubs
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse  # type: ignore[no-redef]
    alphabet = "".join(ch for ch in _ALPHABET if ch not in avoid)
    try:
        candidate = _shortest(sre_parse.parse(pattern), alphabet)
    except (TypeError, ValueError, KeyError):
        candidate = None
    usable = candidate is not None and all(ch in alphabet for ch in candidate)
    if usable and len(candidate) <= max_length and re.fullmatch(pattern, candidate):  # type: ignore[arg-type]
        return candidate
    for length in range(1, min(max_length, 4) + 1):  # small patterns the shape reader does not know
        for keys in product(alphabet[:10] if length > 2 else alphabet, repeat=length):
            text = "".join(keys)
            if re.fullmatch(pattern, text):
                return text
    return None


def _shortest(parsed: Any, alphabet: str) -> str | None:
    out = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name in ("IN", "ANY", "NOT_LITERAL"):
            char = _class_char(name, arg, alphabet)
            if char is None:
                return None
            out.append(char)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            part = _shortest(sub, alphabet)
            if part is None:
                return None
            out.append(part * low)
        elif name == "SUBPATTERN":
            part = _shortest(arg[-1], alphabet)
            if part is None:
                return None
            out.append(part)
        elif name == "BRANCH":
            options = [p for p in (_shortest(alt, alphabet) for alt in arg[1]) if p is not None]
            if not options:
                return None
            out.append(min(options, key=len))
        elif name == "AT":
            continue
        else:
            return None
    return "".join(out)


def _class_char(name: str, arg: Any, alphabet: str) -> str | None:
    for char in alphabet:
        if name == "ANY" or (name == "NOT_LITERAL" and ord(char) != arg):
            return char
        if name == "IN" and _in_class(char, arg):
            return char
    return None


def _in_class(char: str, items: Any) -> bool:
    negate = False
    hit = False
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            hit = hit or ord(char) == arg
        elif name == "RANGE":
            hit = hit or arg[0] <= ord(char) <= arg[1]
        elif name == "CATEGORY":
            hit = hit or (str(arg) == "CATEGORY_DIGIT" and char.isdigit()) or (
                str(arg) == "CATEGORY_WORD" and (char.isalnum() or char == "_")
            )
    return hit != negate


def _invalid_digits(step: Ask) -> str | None:
    """Keys that end the gather and match none of the step's routes."""
    options = step.gather_options(None)
    limit = options.effective_max_digits
    alphabet = "".join(ch for ch in "9876543210" if ch not in options.effective_terminating_digits)
    for length in range(1, min(limit, 3) + 1):
        for keys in product(alphabet, repeat=length):
            text = "".join(keys)
            if not any(re.fullmatch(pattern, text) for pattern in step.routes):
                return text
    return None


def _keys_for(step: Ask, digits: str) -> str:
    """What to press so the gather ends with exactly ``digits``: a terminating digit unless it is full."""
    options = step.gather_options(None)
    if len(digits) >= options.effective_max_digits:
        return digits
    return digits + options.effective_terminating_digits[0]


# -- the search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    step: str  # or _END
    failures: tuple[tuple[str, int], ...]
    outcome: str = ""


def _moves(flow: Flow, state: _State) -> Iterator[tuple[str | None, EdgeKey, _State, bool]]:
    """(keys, edge, next state, caller acts) for each thing that can happen at ``state``."""
    name, step = state.step, flow.steps[state.step]
    failures = dict(state.failures)

    def entered(target: str | None, counts: dict[str, int], outcome: str = "completed") -> _State:
        frozen = tuple(sorted(counts.items()))
        if target is None:
            return _State(_END, frozen, outcome)
        nxt = flow.steps[target]
        if isinstance(nxt, Transfer):
            return _State(_END, frozen, "transferred")
        if isinstance(nxt, Hangup):
            return _State(_END, frozen, "completed")
        return _State(target, frozen)

    if isinstance(step, (Say, Play)):
        yield "", (name, step.next, "next"), entered(step.next, failures), False
        return
    assert isinstance(step, Ask)
    avoid = step.gather_options(None).effective_terminating_digits
    limit = step.gather_options(None).effective_max_digits
    tries = [example_digits(pattern, limit, avoid) for pattern in step.routes]
    for digits in [*tries, _invalid_digits(step), ""]:
        if digits is None:
            continue
        counts = dict(failures)
        decision = step.decide(name, digits, counts)  # the runner's own decision
        # past retries every failure is "exhausted" alike: capping the count keeps the states finite
        counts[name] = min(counts[name], step.retries + 1)
        keys = _keys_for(step, digits) if digits else ""
        nxt = entered(decision.target, counts, "exhausted")
        yield keys, (name, decision.target, decision.kind), nxt, True
    yield HANG_UP, (name, None, "hangup"), _State(_END, state.failures, "hung-up"), True


_Parent = tuple[_State, str | None, EdgeKey, bool]  # the state before, the keys, the edge, caller acts


def _search(flow: Flow, start: _State, *, hang_ups: bool) -> dict[_State, _Parent | None]:
    """Breadth-first parents of every state reachable from ``start``."""
    parents: dict[_State, _Parent | None] = {start: None}
    queue = collections.deque([start])
    while queue:
        state = queue.popleft()
        if state.step == _END:
            continue
        for keys, edge, nxt, acts in _moves(flow, state):
            if keys is HANG_UP and not hang_ups:
                continue
            if nxt not in parents:
                parents[nxt] = (state, keys, edge, acts)
                queue.append(nxt)
    return parents


def _trail(parents: dict[_State, Any], state: _State) -> list[tuple[_State, str | None, EdgeKey, bool]]:
    steps = []
    while parents[state] is not None:
        parent, keys, edge, acts = parents[state]
        steps.append((parent, keys, edge, acts))
        state = parent
    return steps[::-1]


def all_edges(flow: Flow) -> list[EdgeKey]:
    """Every edge a caller can make the flow take: the flow's edges plus a hang-up at each Ask."""
    edges: list[EdgeKey] = []
    for edge in flow.edges():
        key = (edge.source, edge.target, edge.kind)
        if key not in edges:
            edges.append(key)
    edges += [(name, None, "hangup") for name, step in flow.steps.items() if isinstance(step, Ask)]
    return edges


def test_cases(flow: Flow) -> list[Case]:
    """Cases that together take every edge a caller can reach (see :func:`all_edges`).

    :raises FlowError: a step from which no caller can reach the end of the call without hanging up
        (a loop with no way out).
    """
    start = _State(flow.start, ())
    first = flow.steps[flow.start]
    if isinstance(first, (Transfer, Hangup)):  # nothing to ask: one case, no moves
        outcome = "transferred" if isinstance(first, Transfer) else "completed"
        return [Case("case 1", (), (flow.start,), outcome, frozenset())]
    parents = _search(flow, start, hang_ups=True)
    _check_way_out(flow, parents)
    wanted = set(all_edges(flow))
    covered: set[EdgeKey] = set()
    cases: list[Case] = []
    for state in parents:  # breadth-first order: shortest cases first
        if state.step == _END:
            continue
        for keys, edge, nxt, acts in _moves(flow, state):
            if edge in covered or edge not in wanted:
                continue
            trail = [*_trail(parents, state), (state, keys, edge, acts), *_finish(flow, nxt)]
            case = _case(flow, f"case {len(cases) + 1}", trail)
            covered |= case.edges
            cases.append(case)
    return cases


def reachable_edges(flow: Flow) -> set[EdgeKey]:
    """The edges some caller can make the flow take (an ``invalid`` is not, when every key sequence
    the gather allows matches a route)."""
    parents = _search(flow, _State(flow.start, ()), hang_ups=True)
    return {edge for state in parents if state.step != _END for _, edge, _, _ in _moves(flow, state)}


test_cases.__test__ = False  # type: ignore[attr-defined]  # a test *maker*; pytest must not collect it


def _finish(flow: Flow, state: _State) -> list[tuple[_State, str | None, EdgeKey, bool]]:
    """The shortest way from ``state`` to the end of the call without the caller hanging up."""
    if state.step == _END:
        return []
    parents = _search(flow, state, hang_ups=False)
    end = next(s for s in parents if s.step == _END)  # _check_way_out made sure there is one
    return _trail(parents, end)


def _check_way_out(flow: Flow, parents: dict[_State, Any]) -> None:
    for state in parents:
        if state.step == _END:
            continue
        reach = _search(flow, state, hang_ups=False)
        if not any(s.step == _END for s in reach):
            stuck = sorted({s.step for s in reach})
            raise FlowError(
                f"no caller can leave the loop through {', '.join(stuck)} without hanging up: give one "
                "of them a route out, or retries and exhausted", step=state.step, field="routes",
            )


def _case(flow: Flow, name: str, trail: list[tuple[_State, str | None, EdgeKey, bool]]) -> Case:
    moves = tuple(Move(state.step, keys, edge) for state, keys, edge, acts in trail if acts)
    path = [flow.start]
    outcome = "completed"
    for _state, _keys, edge, _acts in trail:
        target = edge[1]
        if edge[2] == "hangup":
            outcome = "hung-up"
        elif target is None:
            outcome = "exhausted" if edge[2] == "exhausted" else "completed"
        else:
            path.append(target)
            step = flow.steps[target]
            if isinstance(step, Transfer):
                outcome = "transferred"
            elif isinstance(step, Hangup):
                outcome = "completed"
    return Case(name, moves, tuple(path), outcome, frozenset(edge for _, _, edge, _ in trail))


# -- running them ----------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """What :func:`check` found: each case passed or not (and why), and which edges were taken."""

    flow_name: str
    cases: pd.DataFrame  # case, caller, expected path, outcome, passed, difference
    edges: pd.DataFrame  # source, target, kind, covered (by a passing case)

    @property
    def coverage(self) -> float:
        """The share of edges taken by passing cases (1.0: every edge)."""
        return float(self.edges["covered"].mean()) if len(self.edges) else 1.0

    @property
    def passed(self) -> bool:
        return bool(self.cases["passed"].all())

    def __repr__(self) -> str:
        good = int(self.cases["passed"].sum())
        return (
            f"CheckResult({self.flow_name!r}: {good} of {len(self.cases)} cases passed, "
            f"{int(self.edges['covered'].sum())} of {len(self.edges)} edges covered)"
        )

    def _repr_html_(self) -> str:
        import html

        head = html.escape(repr(self)).replace("CheckResult(", "").rstrip(")")
        return (
            f"<div><b>Flow check</b> {head}<br><b>{self.coverage:.0%}</b> of edges covered"
            f"{self.cases.to_html(index=False)}{self.edges.to_html(index=False)}</div>"
        )


def check(flow: Flow, session: Session, *, timeout: float = 60.0) -> CheckResult:
    """Run every case of :func:`test_cases` on ``session`` (calls at once, one thread per caller).

    :returns: a :class:`CheckResult`: each case's pass or fail with the difference, and edge coverage.
    """
    cases = test_cases(flow)
    results: dict[str, str] = {}

    def one(case: Case) -> tuple[str, str]:
        try:
            case.verify(case.play(session, flow, timeout=timeout))
        except (AssertionError, TimeoutError) as exc:
            return case.name, str(exc)
        return case.name, ""

    # every caller at once (the simulator and the flow runner handle them side by side)
    with ThreadPoolExecutor(max_workers=max(len(cases), 1), thread_name_prefix="flow-check") as pool:
        futures = [pool.submit(one, case) for case in cases]
        done = tqdm(as_completed(futures), total=len(futures), desc=f"checking {flow.name}", unit="case")
        for future in done:
            name, difference = future.result()
            results[name] = difference
    rows = [
        {
            "case": case.name, "caller": case.describe(), "path": " → ".join(case.path),
            "outcome": case.outcome, "passed": results[case.name] == "", "difference": results[case.name],
        }
        for case in cases
    ]
    reachable = reachable_edges(flow)
    taken = set().union(*(case.edges for case in cases if results[case.name] == "")) if cases else set()
    edges = pd.DataFrame(
        [
            {"source": s, "target": t if t is not None else "(end)", "kind": k, "covered": (s, t, k) in taken}
            for s, t, k in all_edges(flow)
            if (s, t, k) in reachable
        ],
        columns=["source", "target", "kind", "covered"],
    )
    return CheckResult(flow.name, pd.DataFrame(rows), edges)


# -- a pytest file ---------------------------------------------------------------------------------

_PYTEST_HEAD = '''"""Tests for the call flow {name!r}, written by catapult_nb (``flow.to_pytest()``).

Each case is one caller: the keys typed at each step (or nothing, or hanging up), and the path and the
outcome the flow must produce. They run on catapult_nb's embedded simulator: no account, no network.
A failure names the step that now behaves differently; write the file again after changing the flow
on purpose.
"""

import pytest

from catapult_nb import Session
from catapult_nb.flows import Ask, Flow, Hangup, Play, Say, Transfer  # noqa: F401 - used by FLOW
from catapult_nb.flows.cases import Case, Move

SPEED = {speed!r}  # simulator clock: API seconds per wall second

'''

_PYTEST_TAIL = '''

@pytest.fixture(scope="module")
def session():
    with Session.simulated(speed=SPEED, store=":memory:") as simulated:
        yield simulated


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_flow_case(session, case):
    case.verify(case.play(session, FLOW))
'''


def step_source(step: Step) -> str:
    """Python that builds ``step`` again (an ``answers`` callable is left out)."""
    if isinstance(step, Ask):
        parts = [repr(step.sentence)] if step.sentence is not None else []
        defaults: dict[str, Any] = {"routes": {}, "invalid": None, "no_input": None, "retries": 2,
                                    "exhausted": None}
        for name, default in defaults.items():
            value = getattr(step, name)
            if value != default:
                parts.append(f"{name}={value!r}")
        if isinstance(step.answers, (str, dict)):
            parts.append(f"answers={step.answers!r}")
        parts += [f"{name}={value!r}" for name, value in step.options.items()]
        return f"Ask({', '.join(parts)})"
    import dataclasses

    fields = [f for f in dataclasses.fields(step) if getattr(step, f.name) != f.default]  # type: ignore[arg-type]
    return f"{type(step).__name__}({', '.join(f'{f.name}={getattr(step, f.name)!r}' for f in fields)})"


def flow_source(flow: Flow) -> str:
    """Python that builds ``flow`` again."""
    steps = "".join(f"    {name!r}: {step_source(step)},\n" for name, step in flow.steps.items())
    return f"Flow({{\n{steps}}}, start={flow.start!r}, name={flow.name!r})"


def to_pytest(flow: Flow, path: Any, *, flow_ref: str | None = None, speed: float = 20.0) -> Any:
    """Write the flow's cases as a standalone pytest file at ``path``; returns the path.

    :param flow_ref: ``"package.module:name"`` of your flow (or of a function that returns it): the file
        imports it, so it tests the flow as it is when the tests run. Without it the file holds a copy
        of the flow as it is now.
    :param speed: the simulator's clock in the tests.
    """
    from pathlib import Path

    lines = [_PYTEST_HEAD.format(name=flow.name, speed=speed)]
    if flow_ref is None:
        lines.append(f"FLOW = {flow_source(flow)}\n")
    else:
        module, _, attr = flow_ref.partition(":")
        if not module or not attr.isidentifier():
            raise ValueError(f"flow_ref must look like 'package.module:name', got {flow_ref!r}")
        lines.append(f"from {module} import {attr} as _flow\n\n")
        lines.append("FLOW = _flow() if callable(_flow) else _flow\n")
    lines.append("CASES = [\n")
    for case in test_cases(flow):
        moves = "".join(f"        Move({m.step!r}, {m.keys!r}, {m.edge!r}),\n" for m in case.moves)
        lines.append(f"    Case(\n        {case.name!r},\n        (\n{moves}        ),\n")
        lines.append(f"        {case.path!r},\n        {case.outcome!r},\n    ),\n")
    lines.append("]\n")
    lines.append(_PYTEST_TAIL)
    target = Path(path)
    target.write_text("".join(lines), encoding="utf-8")
    return target
