"""Running a flow on a call: :class:`FlowRun`, driven by the session's event handlers.

Each session gets one router, registered with ``session.on("*", …)``. It hands every callback of a
call a flow runs on to that call's :class:`FlowRun`; the session's dispatcher calls it on a worker
thread, one event at a time per call, so a run never sees two events at once. A run acts through the
same :class:`~catapult_nb.session.Call` methods a notebook uses (``gather``, ``speak``, ``transfer``,
``hang_up``), so the flow runs unchanged on the simulator and on the real service.

Bad input never leaves a run hanging without a reason: an event for another gather or an old prompt
is ignored (and listed in :attr:`FlowRun.ignored`), a duplicate delivery is stored once and so seen
once, the caller hanging up ends the run ``hung-up``, and a request the API refuses ends it ``error``
with the API's message.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from catapult_nb.flows.steps import Ask, Hangup, Play, Say, Step, Transfer, render
from catapult_nb.flows.transcript import TRANSCRIPT_COLUMNS, Transcript
from catapult_nb.store.store import canonical_json

if TYPE_CHECKING:
    from catapult_nb.flows.flow import Flow
    from catapult_nb.session.session import Call, Session

__all__ = ["OUTCOMES", "FlowRun"]

log = logging.getLogger(__name__)

#: How a run can end.
OUTCOMES = ("completed", "transferred", "hung-up", "exhausted", "error")

_run_ids = itertools.count(1)
_routers: weakref.WeakKeyDictionary[Any, _Router] = weakref.WeakKeyDictionary()
_routers_lock = threading.Lock()


def _api_seconds(iso: Any) -> float | None:
    """An event's ISO-8601 ``time`` as epoch seconds (None if it has none)."""
    if not iso:
        return None
    try:
        return pd.Timestamp(iso).timestamp()
    except (ValueError, TypeError):
        return None


class _Router:
    """The one ``session.on("*")`` handler of a session: events go to the run of their call."""

    def __init__(self, session: Session) -> None:
        self.runs: dict[str, FlowRun] = {}
        self.inbound: list[FlowRun] = []  # runs waiting for the next incoming call
        self.unknown = 0  # events of calls no flow runs on
        self.lock = threading.Lock()
        session.on("*", self.handle)
        session.on_close(self.session_closed)

    @staticmethod
    def of(session: Session) -> _Router:
        with _routers_lock:
            router = _routers.get(session)
            if router is None:
                router = _routers[session] = _Router(session)
            return router

    def add(self, call_id: str, run: FlowRun) -> None:
        with self.lock:
            self.runs[call_id] = run

    def handle(self, call: Call, event: dict[str, Any]) -> None:
        with self.lock:
            run = self.runs.get(call.id)
            if run is None and event.get("eventType") == "incomingcall" and self.inbound:
                run = self.inbound.pop(0)
                self.runs[call.id] = run
        if run is None:
            self.unknown += 1
            return
        run._on_event(call, event)

    def session_closed(self) -> None:
        with self.lock:
            runs = list(self.runs.values()) + self.inbound
        for run in runs:
            run._session_closed()


class FlowRun:
    """One flow running on one call. Made by ``flow.run(call)``, ``session.call(to, flow=flow)`` or
    ``flow.answer(session)``.

    :ivar outcome: ``completed`` | ``transferred`` | ``hung-up`` | ``exhausted`` | ``error``; None while
        it runs.
    :ivar reason: why it ended, in words (the API's message for ``error``).
    :ivar path: the names of the steps entered, in order.
    :ivar variables: the digits each :class:`Ask` step captured, by step name.
    :ivar ignored: events the run did not act on, with why (an old gather's event, a stray prompt's end).
    """

    def __init__(self, flow: Flow, session: Session, call: Call | None = None) -> None:
        self.flow = flow
        self.session = session
        self.call = call
        self.id = next(_run_ids)
        self.outcome: str | None = None
        self.reason = ""
        self.path: list[str] = []
        self.variables: dict[str, str] = {}
        self.ignored: list[dict[str, Any]] = []
        self.transfer_leg: Call | None = None
        self._rows: list[dict[str, Any]] = []
        self._step: str | None = None
        self._tag: str | None = None
        self._seen: set[str] = set()  # the events acted on, so one read twice counts once
        self._awaiting: tuple[str, str] | None = None  # ("gather", gatherId), ("speak", tag), ("answer", "")
        self._failures: dict[str, int] = {}
        self._visits = 0
        self._now: float | None = None  # the API's clock, from the latest event
        self._lock = threading.RLock()
        self._moved = threading.Condition(self._lock)  # notified when a step is ready or the run ends
        self._entering = False  # between entering a step and its gather or prompt being under way
        self._done = threading.Event()
        self._listeners: list[Callable[[FlowRun], None]] = []

    # -- the surface ---------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def step(self) -> str | None:
        """The step the run is at (the last one, once it ended)."""
        return self._step

    def wait(self, timeout: float | None = None) -> FlowRun:
        """Wait until the run ends; returns the run (see :attr:`outcome`, :attr:`path`).

        ``timeout`` is in wall seconds (default: generous for the session's speed). A run that has
        ended — also after its session closed — returns at once.

        :raises TimeoutError: the run has not ended; the message says at which step and for what it waits.
        """
        if timeout is None:
            timeout = 600.0 if self.session.backend == "live" else 300.0 / self.session.speed + 10.0
        if not self._done.wait(timeout):
            waiting = f"a {self._awaiting[0]} event" if self._awaiting else "nothing"
            call = self.call.id if self.call is not None else "(no call yet)"
            raise TimeoutError(
                f"flow {self.flow.name!r} on call {call} is still at step {self._step!r}, waiting for "
                f"{waiting}, after {timeout:g} s; see run.transcript, session.handler_errors and "
                "session.deliveries()"
            )
        return self

    def wait_step(self, name: str, visit: int = 1, timeout: float = 30.0) -> FlowRun:
        """Wait until the run has entered step ``name`` for the ``visit``-th time and its gather or
        prompt is under way (the moment to press keys); returns the run.

        :raises TimeoutError: not reached in ``timeout`` wall seconds (or the run ended first).
        """

        def reached() -> bool:
            return self.path.count(name) >= visit and not (self._step == name and self._entering)

        with self._moved:
            if not self._moved.wait_for(lambda: reached() or self.done, timeout) or not reached():
                raise TimeoutError(
                    f"flow {self.flow.name!r} did not reach step {name!r} (visit {visit}) within "
                    f"{timeout:g} s; it is {self.outcome or 'at ' + repr(self._step)}"
                    f"{' (' + self.reason + ')' if self.done and self.reason else ''}, path "
                    f"{' → '.join(self.path) or '(none)'}"
                )
        if self.call is not None:  # on v2 a step's document reaches the call after its handler returns
            self.call.wait_ready(timeout)
        return self

    @property
    def transcript(self) -> Transcript:
        """What was said, what was pressed and which way the flow went: one row per action, ``time`` in
        API seconds from the run's first event. Displayed, it reads like a conversation."""
        with self._lock:
            rows = [dict(row) for row in self._rows]
        start = next((row["time"] for row in rows if row["time"] is not None), None)
        for row in rows:
            row["time"] = None if row["time"] is None or start is None else round(row["time"] - start, 3)
        frame = pd.DataFrame(rows, columns=list(TRANSCRIPT_COLUMNS))
        frame["time"] = frame["time"].astype("float64")
        return Transcript(frame, title=self._title())

    def add_listener(self, fn: Callable[[FlowRun], None]) -> None:
        """Call ``fn(run)`` after every change (a step entered, a key, the end); used by the FlowPlayer."""
        self._listeners.append(fn)

    def __repr__(self) -> str:
        state = self.outcome or f"at {self._step!r}"
        return f"FlowRun({self.flow.name!r}, {state}, path={' → '.join(self.path)!r})"

    def _repr_html_(self) -> str:
        return self.transcript._repr_html_()

    def _title(self) -> str:
        call = self.call.id if self.call is not None else "waiting for a call"
        state = self.outcome or "running"
        reason = f" ({self.reason})" if self.reason and self.outcome else ""
        return f"{self.flow.name} · {call} · {state}{reason}"

    # -- starting ------------------------------------------------------------------------------------

    def _start_when_answered(self) -> None:
        """Start on the call's ``answer`` event, or now if it was stored before the run was listed."""
        assert self.call is not None
        with self._lock:
            self._awaiting = ("answer", "")
        for row in self.session.store.event_rows(call_id=self.call.id):
            self._on_event(self.call, dict(row["payload"]))

    def _start(self) -> None:
        with self._lock:
            if self._step is not None or self.done:
                return
            self._awaiting = None
            self._enter(self.flow.start)

    # -- events --------------------------------------------------------------------------------------

    def _on_event(self, call: Call, event: dict[str, Any]) -> None:
        event = call.v1_view(event)  # a v2 webhook read as the v1 callback the steps wait for
        key = canonical_json(event)
        with self._lock:
            if key in self._seen:  # read back from the store at the start and then handed on: once is enough
                return
            self._seen.add(key)
            kind = event.get("eventType")
            self._now = _api_seconds(event.get("time")) or self._now
            if self.call is None:
                self.call = call
            if self.done:
                if kind not in ("hangup", "speak", "playback"):
                    self._ignore(event, f"the run has ended ({self.outcome})")
                return
            try:
                self._dispatch(str(kind), event)
            except Exception as exc:  # an API refusal or a bug: the run ends, saying why
                self._failed(exc)
        self._changed()

    def _dispatch(self, kind: str, event: dict[str, Any]) -> None:
        awaiting = self._awaiting
        if kind == "incomingcall":
            assert self.call is not None
            self.call.answer()
            self._start()
        elif kind == "answer":
            if awaiting and awaiting[0] == "answer":
                self._start()
            else:
                self._ignore(event, "the call was already answered")
        elif kind in ("hangup", "timeout"):
            cause = event.get("cause") or ("no answer" if kind == "timeout" else "hang-up")
            if awaiting and awaiting[0] == "answer":
                self._finish("error", f"the call was not answered ({cause})")
            else:
                self._finish("hung-up", f"the caller hung up at step {self._step!r} ({cause})")
        elif kind == "dtmf":
            if isinstance(self._current(), Ask):
                self._row("key", digits=str(event.get("dtmfDigit", "")))
        elif kind == "gather":
            if awaiting != ("gather", event.get("gatherId")):
                self._ignore(event, "not the gather of the current step")
            else:
                self._gathered(event)
        elif kind in ("speak", "playback"):
            if event.get("tag") != self._tag:
                self._ignore(event, "not the prompt of the current step")
            elif event.get("status") == "done" and awaiting == (kind, self._tag):
                self._next(getattr(self._current(), "next", None), reason="spoken")
        else:
            self._ignore(event, "no step waits for this event")

    def _gathered(self, event: dict[str, Any]) -> None:
        name = str(self._step)
        step = self._current()
        assert isinstance(step, Ask)
        digits = str(event.get("digits") or "")
        reason = str(event.get("reason") or "")
        self._awaiting = None
        self._row("gathered", reason=reason, digits=digits)
        if reason == "hung-up":  # the hangup event follows and ends the run
            self._awaiting = ("hangup", "")
            return
        self.variables[name] = digits
        decision = step.decide(name, digits, self._failures)
        if decision.target is None:
            self._row("route", detail="hang up", reason=decision.reason)
            self._hang_up("exhausted", f"{name!r} failed {self._failures[name]} times")
        else:
            self._route(decision.target, decision.reason)

    # -- acting --------------------------------------------------------------------------------------

    def _route(self, target: str, reason: str) -> None:
        self._row("route", detail=f"→ {target}", reason=reason)
        self._enter(target)

    def _next(self, target: str | None, reason: str) -> None:
        if target is None:
            self._row("route", detail="hang up", reason=reason)
            self._hang_up("completed", "the flow reached its end")
        else:
            self._route(target, reason)

    def _enter(self, name: str) -> None:
        assert self.call is not None
        self._step = name
        self._visits += 1
        self.path.append(name)
        self._entering = True
        self._tag = f"flow-{self.id}-{self._visits}"  # echoed by the step's gather and prompt events
        try:
            self._act(name, self.flow.steps[name], self._tag)
        finally:
            self._entering = False
            self._moved.notify_all()

    def _act(self, name: str, step: Step, tag: str) -> None:
        assert self.call is not None
        if isinstance(step, Ask):
            sentence = render(step.sentence, self.variables) if step.sentence else None
            gather = self.call.gather(step.gather_options(sentence, tag=tag))
            self._now = _api_seconds(gather.created_time) or self._now
            self._awaiting = ("gather", gather.id)
            self._row("ask", detail=sentence or "")
        elif isinstance(step, Say):
            sentence = render(step.sentence, self.variables)
            voice = {k: getattr(step, k) for k in ("voice", "locale", "gender") if getattr(step, k)}
            self._awaiting = ("speak", tag)
            self._row("say", detail=sentence)
            self.call.speak(sentence, tag=tag, **voice)
        elif isinstance(step, Play):
            self._awaiting = ("playback", tag)
            self._row("play", detail=step.file_url)
            self.call.play(step.file_url, tag=tag)
        elif isinstance(step, Transfer):
            self._row("transfer", detail=step.to)
            self.transfer_leg = self.call.transfer(step.to)
            self._finish("transferred", f"transferred to {step.to} (new leg {self.transfer_leg.id})")
        elif isinstance(step, Hangup):
            self._hang_up("completed", "a Hangup step")

    def _hang_up(self, outcome: str, reason: str) -> None:
        assert self.call is not None
        self._row("hangup")
        self.call.hang_up()
        self._finish(outcome, reason)

    def _current(self) -> Step | None:
        return self.flow.steps.get(self._step) if self._step is not None else None

    # -- ending --------------------------------------------------------------------------------------

    def _finish(self, outcome: str, reason: str) -> None:
        if self.done:
            return
        self.outcome, self.reason, self._awaiting = outcome, reason, None
        self._row("end", detail=outcome, reason=reason)
        self._done.set()
        self._moved.notify_all()

    def _failed(self, exc: Exception) -> None:
        """A request failed: a caller who hung up meanwhile makes it ``hung-up``, anything else ``error``."""
        if self.done:
            return
        where = f"step {self._step!r}" if self._step else "the start"
        try:
            ended = self.call is not None and self.call.state in ("completed", "rejected")
        except Exception:  # the API cannot say: report the first failure
            ended = False
        if ended:
            self._finish("hung-up", f"the caller hung up during {where}")
        else:
            log.warning("flow %r failed at %s: %s", self.flow.name, where, exc)
            self._finish("error", f"{where} failed: {type(exc).__name__}: {exc}")

    def _session_closed(self) -> None:
        with self._lock:
            self._finish("error", "the session was closed before the flow ended")
        self._changed()

    def _ignore(self, event: dict[str, Any], why: str) -> None:
        self.ignored.append({
            "eventType": event.get("eventType"), "gatherId": event.get("gatherId"),
            "tag": event.get("tag"), "time": event.get("time"), "why": why,
        })

    def _row(self, action: str, detail: str = "", reason: str = "", digits: str = "") -> None:
        self._rows.append({
            "time": self._now, "step": self._step or "", "action": action, "detail": detail,
            "reason": reason, "digits": digits,
        })

    def _changed(self) -> None:
        for fn in list(self._listeners):
            try:
                fn(self)
            except Exception:  # a display that fails must not stop the call
                log.exception("flow run listener %r failed", fn)


def router(session: Session) -> _Router:
    """The session's flow router (made and registered on first use)."""
    return _Router.of(session)
