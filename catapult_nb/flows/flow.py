"""The :class:`Flow`: named steps and a start, checked when built, run on calls of a session."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from catapult_nb.flows import cases
from catapult_nb.flows.cases import check as check_cases
from catapult_nb.flows.diagram import MERMAID_MIMETYPE, to_mermaid
from catapult_nb.flows.runner import FlowRun, router
from catapult_nb.flows.steps import Edge, Step, check_steps

if TYPE_CHECKING:
    import IPython.display

    from catapult_nb.campaign.flow_engine import FlowCampaignResult
    from catapult_nb.flows.cases import Case, CheckResult
    from catapult_nb.prompts.player import Listen, Unheard
    from catapult_nb.session.session import Call, Session

__all__ = ["Flow"]


class Flow:
    """A phone interaction: a dict of named steps and the step it starts at.

    :param steps: ``{name: Ask(...) | Say(...) | Play(...) | Transfer(...) | Hangup()}``.
    :param start: the first step (default: the first in ``steps``).
    :param name: shown in diagrams, transcripts and reprs.
    :raises FlowError: a step points at a step that does not exist, a step cannot be reached from the
        start, a route is not a regular expression, the start is missing, a field is invalid, or a loop
        (of Says, or of Asks whose every way leads back) cannot be left without hanging up; the message
        names the step and the field.
    """

    def __init__(self, steps: Mapping[str, Step], start: str | None = None, name: str = "flow") -> None:
        if start is None and isinstance(steps, Mapping) and steps:
            start = next(iter(steps))
        self.steps: dict[str, Step] = check_steps(steps, start)
        self.start: str = str(start)
        self.name = str(name)
        cases.check_way_out(self)  # a loop no caller can leave would run until the caller hangs up

    def but(self, name: str | None = None, **steps: Step) -> Flow:
        """A copy with some steps replaced, checked again:
        ``flow.but("1 retry", code=flow.steps["code"].but(retries=1))``."""
        return Flow({**self.steps, **steps}, start=self.start, name=name or self.name)

    # -- running -------------------------------------------------------------------------------------

    def run(self, call: Call, *, wait_answered: bool = False) -> FlowRun:
        """Drive ``call`` (answered) through the flow from its start step; returns at once.

        With ``wait_answered=True`` the run starts when the call's ``answer`` event arrives (what
        ``session.call(to, flow=…)`` uses). Call :meth:`FlowRun.wait` for the outcome.
        """
        run = FlowRun(self, call.session, call)
        router(call.session).add(call.id, run)
        if wait_answered:
            run._start_when_answered()
        else:
            try:
                run._start()
            except Exception as exc:  # the first request failed: the run ends saying why
                with run._lock:
                    run._failed(exc)
        return run

    def answer(self, session: Session) -> FlowRun:
        """Answer the next inbound call of ``session`` with this flow; returns its (waiting) run.

        On the simulator, ring the application with
        ``session.phone.incoming(from_, to, session.callback_url)``.
        """
        run = FlowRun(self, session)
        box = router(session)
        with box.lock:
            box.inbound.append(run)
        return run

    # -- looking at it -------------------------------------------------------------------------------

    # -- proving it ----------------------------------------------------------------------------------

    def test_cases(self, *, progress: bool | None = None) -> list[Case]:
        """Cases that together take every edge a caller can reach: each route, invalid input, no input,
        retries exhausted, and a hang-up at each Ask. Each lists the keys to press at each step, and the
        path and outcome the flow must produce.

        :param progress: show a progress bar (None: for flows of more than 200 steps).
        :raises FlowError: cases too large to hold (see :data:`~catapult_nb.flows.cases.MAX_CASE_MOVES`).
        """
        return cases.test_cases(self, progress=progress)

    def check(
        self, session: Session, *, cases: list[Case] | None = None, timeout: float = 60.0
    ) -> CheckResult:
        """Run every case on ``session`` (the simulator): each case's pass or fail with the difference,
        and which edges were covered. ``cases`` (default: this flow's own) may be another flow's, to see
        what a change breaks: ``changed.check(session, cases=flow.test_cases())``."""
        return check_cases(self, session, cases=cases, timeout=timeout)

    def to_pytest(
        self, path: str | os.PathLike[str], *, flow_ref: str | None = None, speed: float = 20.0,
        api: str = "v1",
    ) -> pathlib.Path:
        """Write the cases as a standalone pytest file; ``flow_ref="package.module:name"`` makes it test
        your flow as it is when the tests run, else it holds a copy of this one; ``api="v2"`` runs them
        on a v2 session. Returns the path."""
        return cases.to_pytest(self, path, flow_ref=flow_ref, speed=speed, api=api)

    def diagram(self, result: FlowCampaignResult | None = None) -> IPython.display.DisplayObject:
        """The Mermaid flowchart, with each edge labelled by how many callers of ``result`` (a
        :func:`~catapult_nb.campaign.run_campaign` result) took it; displays as a drawing."""
        from IPython.display import DisplayObject

        text = to_mermaid(self, counts=result.edge_counts() if result is not None else None)

        class _Mermaid(DisplayObject):
            def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
                return {MERMAID_MIMETYPE: text, "text/plain": text}

        # IPython's DisplayObject.__init__ has no type hints
        return cast("Callable[..., DisplayObject]", _Mermaid)(data=text)

    def listen(self, step: str, **variables: str) -> Listen | Unheard:
        """Hear what ``step`` says, ``{name}`` filled in: ``flow.listen("confirm", code="12345")``.

        :raises KeyError: no step of that name.
        """
        if step not in self.steps:
            raise KeyError(f"no step {step!r} in flow {self.name!r}; the steps are {', '.join(self.steps)}")
        return self.steps[step].listen(**variables)

    def edges(self) -> list[Edge]:
        """Every way from one step to another (or to the end of the call), in step order."""
        return [edge for name, step in self.steps.items() for edge in step.edges(name)]

    def to_bxml(self, app_url: str | None = None) -> dict[str, str]:
        """The flow as a Bandwidth v2 BXML app: one document per step, by step name, each Ask's gather
        ported so that it behaves as on v1 (see :func:`catapult_nb.migrate.flow`, which also lists what
        v2 cannot keep).

        :param app_url: where the app answers; step ``code``'s gather result goes to ``{app_url}/code``
            (default: a placeholder to replace).
        """
        from catapult_nb.flows.port import flow

        return (flow(self) if app_url is None else flow(self, app_url=app_url)).bxml

    def to_mermaid(self, *, current: str | None = None) -> str:
        """The flow as Mermaid flowchart text (``current`` highlights a step)."""
        return to_mermaid(self, current=current)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{name}: {step.kind}" for name, step in self.steps.items())
        return f"Flow({self.name!r}, start={self.start!r}, steps={{{kinds}}})"

    def table(self) -> pd.DataFrame:
        """The steps as a table: name, kind, what is said or played, and where each edge leads."""
        rows = []
        for name, step in self.steps.items():
            leads = ", ".join(f"{e.label or e.kind} → {e.target or 'hang up'}" for e in step.edges(name))
            said = step.sentence_text or getattr(step, "file_url", None) or getattr(step, "to", "")
            rows.append({"step": name, "kind": step.kind, "says": said, "next": leads})
        return pd.DataFrame(rows, columns=["step", "kind", "says", "next"])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Mermaid, which JupyterLab ≥ 4.1 and Notebook 7 draw, and the repr elsewhere.

        No ``_repr_html_``: JupyterLab ranks HTML above Mermaid and would show it instead of the drawing
        (:meth:`table` lists the steps for front ends that cannot draw Mermaid).
        """
        return {MERMAID_MIMETYPE: self.to_mermaid(), "text/plain": repr(self)}
