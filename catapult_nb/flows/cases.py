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
import os
import pathlib
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

#: An edge of a flow: (source, target, kind); kind "hangup" for a caller hanging up.
EdgeKey = tuple[str, str | None, str]
#: States (step, failures in a row) a flow may have; a flow past it is refused as too large to cover.
MAX_STATES = 200_000
#: Moves the cases of a flow may hold in all (a chain of n Asks has about 2n² of them).
MAX_CASE_MOVES = 5_000_000
#: Callers :func:`check` runs at once.
CHECK_THREADS = 32


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
        call = run.call
        assert call is not None, "a run from session.call(flow=) has its call from the start"
        visits: dict[str, int] = collections.Counter()
        for move in self.moves:
            visits[move.step] += 1
            run.wait_step(move.step, visit=visits[move.step], timeout=timeout)
            if move.keys is HANG_UP:
                session.phone.hang_up(call)
            elif move.keys:
                session.phone.press(call, move.keys)
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
        import sre_parse
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
    failures: tuple[tuple[str, int], ...]  # the steps failed in a row, and how often (none at 0)
    outcome: str = ""


_Move = tuple[str | None, EdgeKey, _State, bool]  # keys, edge, next state, whether the caller acts
_Parent = tuple[_State, str | None, EdgeKey, bool]  # the state before, the keys, the edge, caller acts


class _Graph:
    """The flow's states (step, and how often each Ask failed in a row) reachable from its start, and
    the moves between them, each state's moves worked out once.

    ``parents`` holds each state's breadth-first parent (shortest cases first); ``to_end`` each state's
    next move on a shortest way to the end of the call without the caller hanging up (one backwards
    search from every end), so that finishing a case is a walk, not a search.
    """

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self._digits: dict[str, list[str]] = {}  # per Ask: digits for each route, invalid, nothing
        self.moves: dict[_State, list[_Move]] = {}
        start = _State(flow.start, ())
        self.parents: dict[_State, _Parent | None] = {start: None}
        queue = collections.deque([start])
        while queue:
            state = queue.popleft()
            if state.step == _END:
                continue
            moves = self.moves[state] = list(self._moves_of(state))
            if len(self.moves) > MAX_STATES:
                raise FlowError(
                    f"the flow has over {MAX_STATES:,} states (step, failures in a row) to cover: split it "
                    "into smaller flows, or lower its retries", field="steps",
                )
            for _keys, edge, nxt, acts in moves:
                if nxt not in self.parents:
                    self.parents[nxt] = (state, _keys, edge, acts)
                    queue.append(nxt)
        self.to_end = self._ways_to_end()

    def _ways_to_end(self) -> dict[_State, _Move | None]:
        callers_of: dict[_State, list[tuple[_State, _Move]]] = collections.defaultdict(list)
        for state, moves in self.moves.items():
            for move in moves:
                if move[0] is not HANG_UP:
                    callers_of[move[2]].append((state, move))
        to_end: dict[_State, _Move | None] = {state: None for state in self.parents if state.step == _END}
        queue = collections.deque(to_end)
        while queue:
            state = queue.popleft()
            for before, move in callers_of.get(state, ()):
                if before not in to_end:
                    to_end[before] = move
                    queue.append(before)
        return to_end

    def _moves_of(self, state: _State) -> Iterator[_Move]:
        """(keys, edge, next state, caller acts) for each thing that can happen at ``state``."""
        flow = self.flow
        name, step = state.step, flow.steps[state.step]
        failures = dict(state.failures)

        def entered(target: str | None, counts: dict[str, int], outcome: str = "completed") -> _State:
            frozen = tuple(sorted((k, v) for k, v in counts.items() if v))
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
        if name not in self._digits:
            avoid = step.gather_options(None).effective_terminating_digits
            limit = step.gather_options(None).effective_max_digits
            tries = [example_digits(pattern, limit, avoid) for pattern in step.routes]
            self._digits[name] = [d for d in [*tries, _invalid_digits(step), ""] if d is not None]
        for digits in self._digits[name]:
            counts = dict(failures)
            decision = step.decide(name, digits, counts)  # the runner's own decision
            # past retries every failure is "exhausted" alike: capping the count keeps the states finite
            counts[name] = min(counts[name], step.retries + 1)
            keys = _keys_for(step, digits) if digits else ""
            nxt = entered(decision.target, counts, "exhausted")
            yield keys, (name, decision.target, decision.kind), nxt, True
        yield HANG_UP, (name, None, "hangup"), _State(_END, state.failures, "hung-up"), True

    def trail(self, state: _State) -> list[_Parent]:
        """The shortest way from the start to ``state``."""
        steps = []
        parent = self.parents[state]
        while parent is not None:
            steps.append(parent)
            state = parent[0]
            parent = self.parents[state]
        return steps[::-1]

    def finish(self, state: _State) -> list[_Parent]:
        """The shortest way from ``state`` to the end of the call without the caller hanging up."""
        steps: list[_Parent] = []
        while state.step != _END:
            move = self.to_end[state]  # check_way_out made sure there is one
            assert move is not None
            steps.append((state, move[0], move[1], move[3]))
            state = move[2]
        return steps

    def check_way_out(self) -> None:
        """:raises FlowError: a state from which no caller can reach the end without hanging up."""
        for state in self.moves:
            if state not in self.to_end:
                stuck = sorted({s.step for s in self._reach(state)})
                raise FlowError(
                    f"no caller can leave the loop through {', '.join(stuck)} without hanging up: give one "
                    "of them a route out, or retries and exhausted", step=state.step, field="routes",
                )

    def _reach(self, state: _State) -> set[_State]:
        seen, todo = {state}, [state]
        while todo:
            for keys, _edge, nxt, _acts in self.moves.get(todo.pop(), ()):
                if keys is not HANG_UP and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen


def all_edges(flow: Flow) -> list[EdgeKey]:
    """Every edge a caller can make the flow take: the flow's edges plus a hang-up at each Ask."""
    # each once, in order
    keys = dict.fromkeys((edge.source, edge.target, edge.kind) for edge in flow.edges())
    edges = list(keys)
    edges += [(name, None, "hangup") for name, step in flow.steps.items() if isinstance(step, Ask)]
    return edges


def check_way_out(flow: Flow) -> None:
    """:raises FlowError: a loop no caller can leave without hanging up (what :class:`Flow` checks)."""
    first = flow.steps[flow.start]
    if not isinstance(first, (Transfer, Hangup)):
        _Graph(flow).check_way_out()


def test_cases(flow: Flow, *, progress: bool | None = None) -> list[Case]:
    """Cases that together take every edge a caller can reach (see :func:`all_edges`).

    The work grows with the states and with the cases' lengths (a chain of n Asks has about 4n cases of
    up to n moves each); more than :data:`MAX_CASE_MOVES` moves in all is refused.

    :param progress: show a progress bar; None shows one for flows of more than 200 steps.
    :raises FlowError: a step from which no caller can reach the end of the call without hanging up
        (a loop with no way out), or cases too large to hold.
    """
    first = flow.steps[flow.start]
    if isinstance(first, (Transfer, Hangup)):  # nothing to ask: one case, no moves
        outcome = "transferred" if isinstance(first, Transfer) else "completed"
        return [Case("case 1", (), (flow.start,), outcome, frozenset())]
    graph = _Graph(flow)
    graph.check_way_out()
    wanted = set(all_edges(flow))
    covered: set[EdgeKey] = set()
    cases: list[Case] = []
    interned: dict[tuple[str, str | None, EdgeKey], Move] = {}
    total = 0
    show = len(flow.steps) > 200 if progress is None else progress
    for state in tqdm(list(graph.moves), desc=f"cases of {flow.name}", unit="state", disable=not show):
        for keys, edge, nxt, acts in graph.moves[state]:  # breadth-first order: shortest cases first
            if edge in covered or edge not in wanted:
                continue
            trail = [*graph.trail(state), (state, keys, edge, acts), *graph.finish(nxt)]
            total += len(trail)
            if total > MAX_CASE_MOVES:
                raise FlowError(
                    f"the cases of this flow would hold over {MAX_CASE_MOVES:,} moves ({len(cases):,} cases "
                    f"so far, the last {len(trail):,} moves long): split it into smaller flows",
                    field="steps",
                )
            case = _case(flow, f"case {len(cases) + 1}", trail, interned)
            covered |= case.edges
            cases.append(case)
    return cases


def reachable_edges(flow: Flow) -> set[EdgeKey]:
    """The edges some caller can make the flow take (an ``invalid`` is not, when every key sequence
    the gather allows matches a route)."""
    graph = _Graph(flow)
    return {edge for moves in graph.moves.values() for _, edge, _, _ in moves}


test_cases.__test__ = False  # type: ignore[attr-defined]  # a test *maker*; pytest must not collect it


def _case(
    flow: Flow, name: str, trail: list[_Parent], interned: dict[tuple[str, str | None, EdgeKey], Move]
) -> Case:
    """The case of ``trail``; its moves are shared with other cases (``interned``): long flows stay small."""
    moves = tuple(
        interned.setdefault((state.step, keys, edge), Move(state.step, keys, edge))
        for state, keys, edge, acts in trail if acts
    )
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


def check(
    flow: Flow, session: Session, *, cases: list[Case] | None = None, timeout: float = 60.0
) -> CheckResult:
    """Run every case of :func:`test_cases` on ``session`` (calls at once, one thread per caller).

    :param cases: the cases to run instead, e.g. those of the flow before a change
        (``changed.check(session, cases=flow.test_cases())``): a case the change breaks fails, naming the
        step, and the edges only it covered count as not covered.
    :returns: a :class:`CheckResult`: each case's pass or fail with the difference, and edge coverage.
    """
    cases = test_cases(flow) if cases is None else list(cases)
    results: dict[str, str] = {}

    def one(case: Case) -> tuple[str, str]:
        try:
            case.verify(case.play(session, flow, timeout=timeout))
        except (AssertionError, TimeoutError) as exc:
            return case.name, str(exc)
        return case.name, ""

    # callers side by side (the simulator and the flow runner handle them at once), a bounded number
    with ThreadPoolExecutor(max_workers=max(min(len(cases), CHECK_THREADS), 1),
                            thread_name_prefix="flow-check") as pool:
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
{api_line}
'''

_PYTEST_TAIL = '''

@pytest.fixture(scope="module")
def session():
    with Session.simulated(speed=SPEED, store=":memory:"{api_arg}) as simulated:
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


def to_pytest(
    flow: Flow, path: str | os.PathLike[str], *, flow_ref: str | None = None, speed: float = 20.0,
    api: str = "v1",
) -> pathlib.Path:
    """Write the flow's cases as a standalone pytest file at ``path``; returns the path.

    :param flow_ref: ``"package.module:name"`` of your flow (or of a function that returns it): the file
        imports it, so it tests the flow as it is when the tests run. Without it the file holds a copy
        of the flow as it is now.
    :param speed: the simulator's clock in the tests.
    :param api: the dialect the tests run the flow on, ``"v1"`` or ``"v2"``.
    :raises ValueError: an ``api`` other than those.
    """
    if api not in ("v1", "v2"):
        raise ValueError(f"api must be 'v1' or 'v2', got {api!r}")
    from pathlib import Path

    v2 = api == "v2"  # a v1 file stays as it always was
    api_line = 'API = "v2"  # Bandwidth\'s Voice API v2: the flow answered with BXML\n' if v2 else ""
    lines = [_PYTEST_HEAD.format(name=flow.name, speed=speed, api_line=api_line)]
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
    lines.append(_PYTEST_TAIL.format(api_arg=", api=API" if v2 else ""))
    target = Path(path)
    target.write_text("".join(lines), encoding="utf-8")
    return target
