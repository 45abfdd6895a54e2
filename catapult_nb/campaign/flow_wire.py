"""A flow campaign over the wire: synthetic callers through the HTTP simulator, the flow on real callbacks.

Each caller is an outbound call of a private simulated session (``session.call(to, flow=flow)``): the
flow runs as any application does, its :class:`~catapult_nb.flows.FlowRun` reacting to the callbacks the
receiver stores (``session.on``). At each :class:`~catapult_nb.flows.Ask` the caller's keys and hang-up
are the ones the engine plans for that caller, step and visit
(:func:`~catapult_nb.campaign.flow_run.step_plan`), pressed by the virtual phone at their moments, timed
from the moment the step's gather was created. Keys the engine would ignore because the gather had
already ended (a key past ``max_digits``) are not pressed: a real caller's extra keys would reach the
next step's gather, which the engine does not model.

The same seed run on the engine with the same ``margin`` plays the same timelines, so the two results
can be compared caller by caller (:meth:`FlowWireResult.agreement`): path, outcome and retries.
Why timelines keep a margin from the timeouts: ``docs/campaigns.md``, "Over the wire".
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from catapult_nb.background import BackgroundLoop
from catapult_nb.campaign.callers import check_float, check_int
from catapult_nb.campaign.flow_engine import (
    FlowCampaignResult,
    StepCache,
    caller_kinds,
    caller_mix,
    check_answers,
    check_margin,
    max_margin,
    play_caller,
    run_on_engine,
)
from catapult_nb.engine import Reason
from catapult_nb.flows.steps import Ask, Play, Say
from catapult_nb.simulator.clock import iso_time

if TYPE_CHECKING:
    from catapult_nb.campaign import Caller
    from catapult_nb.flows.flow import Flow
    from catapult_nb.flows.runner import FlowRun
    from catapult_nb.session.session import Session

__all__ = ["MAX_WIRE_N", "FlowWireResult", "run_over_the_wire"]

#: Callers one over-the-wire run may place (each is a real call on the simulator).
MAX_WIRE_N = 100_000
#: The options :func:`run_over_the_wire` takes beyond the engine's.
WIRE_OPTIONS = ("speed", "concurrency", "timeout")
MAX_STEPS = 200  # as the engine: a caller still in the flow after this many steps is cut off ("error")
_GATHER_CREATED = re.compile(r"/v1/users/[^/]+/calls/([^/]+)/gather/?")


def _number(caller: int) -> str:
    # Ends in 9, never in the simulator's special 0001/0002/0003 endings.
    return f"+155{caller:07d}9"


@dataclass
class FlowWireResult(FlowCampaignResult):
    """A flow campaign played over the wire: the engine result's rows (``path``, ``outcome``, ``time``,
    ``retries``, ``edges``; plus ``callId``), so :meth:`funnel`, :meth:`paths`, ``plot()`` and
    ``flow.diagram(result)`` work on it, and what the wire adds:

    :ivar engine: the engine's result for the same callers, seed and margin.
    :ivar margin: the timelines' safety margin, API seconds.
    :ivar sent: callbacks the simulator delivered (answered 2xx); ``failed``: deliveries that failed.
    :ivar stored: callbacks the receiver stored; ``lost``: delivered but not stored, plus failed.
    :ivar wall: wall seconds the callers took.

    Each row also has ``late``: how late (API seconds, at most) the caller's keys and hang-up were
    applied; beyond the ``margin`` a wait may have crossed a timeout (see :attr:`slipped`).
    """

    engine: FlowCampaignResult | None = None
    margin: float = 0.0
    speed: float = 20.0
    sent: int = 0
    failed: int = 0
    stored: int = 0
    lost: int = 0
    wall: float = 0.0

    def agreement(self, other: FlowCampaignResult | None = None) -> pd.DataFrame:
        """Caller by caller, this run's path, outcome, retries and time beside ``other``'s (default: the
        engine's for the same seed and margin).

        :returns: one row per caller (index ``caller``); columns with suffixes ``_wire`` and ``_engine``,
            and ``agrees`` (same path, outcome and retries; the times differ by the requests' trips).
        """
        other = self.engine if other is None else other
        if other is None:
            raise ValueError(
                "no engine result to compare with: pass one, e.g. run_campaign(flow, …, margin=result.margin)"
            )
        columns = ["path", "outcome", "retries", "time"]
        mine = self.table.set_index("caller")[columns]
        theirs = other.table.set_index("caller")[columns]
        # merge on the index: its suffixes read the same in pandas 2 and 3 (join's changed names)
        both = pd.merge(mine, theirs, how="outer", left_index=True, right_index=True,
                        suffixes=("_wire", "_engine")).sort_index()
        same = pd.Series(True, index=both.index)
        for column in columns[:3]:
            same &= (both[f"{column}_wire"] == both[f"{column}_engine"]).fillna(False)
        both["agrees"] = same.astype(bool)
        return both

    @property
    def slipped(self) -> list[int]:
        """The callers (numbers) with a key or hang-up applied later than the margin allows (``late`` >
        ``margin``): on a machine too busy to keep their timeline, they may rightly disagree with the
        engine."""
        return self.table.loc[self.table["late"] > self.margin, "caller"].tolist()

    @property
    def agreed(self) -> int:
        """How many callers took the same path, to the same outcome, with the same retries as the engine."""
        return int(self.agreement()["agrees"].sum())

    @property
    def agreement_text(self) -> str:
        """``"30 of 30 callers agree with the engine …"``: the line to read first."""
        return (
            f"{self.agreed:,} of {len(self.table):,} callers agree with the engine (path, outcome and "
            f"retries; seed {self.seed}, margin {self.margin:g} s); {self.sent:,} callbacks sent, "
            f"{self.stored:,} stored, {self.lost:,} lost" + (
                f"; {len(self.slipped)} callers had a key later than the margin (the machine was busy)"
                if len(self.slipped) else "")
        )

    def __repr__(self) -> str:
        return (
            f"FlowWireResult({self.flow.name!r}, {len(self.table):,} callers over the wire at speed "
            f"{self.speed:g}: {self.agreement_text})"
        )

    def _repr_html_(self) -> str:
        disagree = self.agreement().query("not agrees")
        detail = disagree.head(10).to_html() if len(disagree) else ""
        return (
            f"<div><b>{html.escape(self.flow.name)}</b>: {len(self.table):,} callers over the wire at "
            f"speed {self.speed:g} ({self.wall:.1f} s)<br>{html.escape(self.agreement_text)}{detail}"
            f"{self.outcomes().to_frame().to_html()}{self.funnel().to_html()}</div>"
        )


def run_over_the_wire(
    flow: Flow,
    callers: Any = None,
    n: int = 100,
    seed: int = 0,
    *,
    margin: float | None = None,
    speed: float = 20.0,
    concurrency: int = 16,
    timeout: float = 30.0,
    progress: bool | str = True,
) -> FlowWireResult:
    """Play ``n`` synthetic callers through ``flow`` on the HTTP simulator, the flow running on callbacks.

    A private :meth:`Session.simulated` (prompts timed by the estimate, as the engine times them) places
    one call per caller with the flow; the virtual phone presses each caller's planned keys and hangs up at
    the planned moment; a caller the flow transferred hangs up once the transfer is made. The engine plays
    the same callers (same seed and margin) for :meth:`FlowWireResult.agreement`.

    :param flow: as for :func:`catapult_nb.flows.run_campaign`.
    :param callers: as for :func:`catapult_nb.flows.run_campaign`.
    :param n: as for :func:`catapult_nb.flows.run_campaign`.
    :param seed: as for :func:`catapult_nb.flows.run_campaign`.
    :param margin: the timelines' safety margin in API seconds; default ``max(0.5, 0.15 * speed)`` (150
        wall milliseconds), at most half the flow's shortest inter-digit timeout.
    :param speed: the simulator's speed (API seconds per wall second).
    :param concurrency: how many callers are on the line at once.
    :param timeout: wall seconds to wait for a caller's flow to move on before giving that caller up
        (its row then says ``error``).
    :param progress: show a progress bar (``tqdm.auto``); a string is the bar's label (default: the flow's
        name).
    :returns: a :class:`FlowWireResult`.
    :raises ValueError: ``n`` out of 1…100,000, a bad ``speed``, ``concurrency``, ``timeout`` or
        ``margin``; :class:`FlowError` for answers that can never take a route.
    """
    check_int("n", n, 1, MAX_WIRE_N)
    check_int("seed", seed, 0, None)
    check_float("speed", speed, low=0.0, low_open=True)
    check_int("concurrency", concurrency, 1, 1000)
    check_float("timeout", timeout, low=0.0, low_open=True)
    if margin is None:
        margin = min(max(0.5, 0.15 * speed), max_margin(flow))
    check_margin(flow, margin)
    check_answers(flow)
    mix = caller_mix(callers)
    engine = run_on_engine(flow, mix, n, seed, progress=False, margin=margin, one_by_one=False)
    kinds, chosen = caller_kinds(mix, n, seed)
    with tempfile.TemporaryDirectory(prefix="catapult-flow-wire-") as folder:
        from catapult_nb.session.session import Session

        with Session.simulated(speed=speed, store=Path(folder) / "events.sqlite3",
                               prompt_timing="estimate") as session:
            driver = _Driver(session, flow, [kinds[k] for k in chosen], seed, margin, concurrency, timeout)
            started = time.perf_counter()
            label = progress if isinstance(progress, str) else flow.name
            with tqdm(total=n, desc=f"{label} over the wire", unit="caller", disable=not progress) as bar:
                driver.run(bar)
            wall = time.perf_counter() - started
            counts = driver.count_callbacks()
            rows = [_row(flow, i, kinds[k].name, run, driver.cut[i]) | {"late": round(driver.late[i], 3)}
                    for i, (k, run) in enumerate(zip(chosen, driver.runs, strict=True))]
    return FlowWireResult(flow, pd.DataFrame(rows), seed, engine=engine, margin=margin, speed=float(speed),
                          wall=wall, **counts)


class _Driver:
    """Every caller's flow run, watched and played on a private event loop in its own thread."""

    def __init__(self, session: Session, flow: Flow, kinds: list[Caller], seed: int, margin: float,
                 concurrency: int, timeout: float) -> None:
        self.session, self.flow, self.kinds, self.seed, self.margin = session, flow, kinds, seed, margin
        self.concurrency, self.timeout = concurrency, timeout
        self.speed = float(session.speed)
        self.cache = StepCache()
        n = len(kinds)
        self.runs: list[FlowRun | None] = [None] * n
        self.cut: list[str] = [""] * n  # why a caller was given up or cut off, if it was
        self.late: list[float] = [0.0] * n  # the latest a key or hang-up of the caller was applied
        self.delivered: dict[str, int] = {}
        self.failed = 0
        self.stored: dict[str, int] = {}
        self._hung_up: dict[str, asyncio.Event] = {}
        # what each caller does at each gather it hears, in order: the engine's plan for that caller
        self.plans: list[list[tuple[Any, ...]]] = []
        for index, kind in enumerate(kinds):
            trace: list[tuple[Any, ...]] = []
            play_caller(flow, kind, seed, index, self.cache, margin, trace=trace)
            self.plans.append(trace)
        self._asked = [0] * n  # gathers each caller has heard
        self._caller_of: dict[str, int] = {}
        self._early: dict[str, list[float]] = {}
        self._pressing: dict[str, list[asyncio.Task[None]]] = {}
        self._count_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- counting callbacks (on the simulator's and the receiver's threads) ----------------------------

    def _on_delivery(self, record: dict[str, Any], event: dict[str, Any], answer: bytes, done: bool) -> None:
        with self._count_lock:
            if record.get("error") is None:
                call = str(record.get("callId"))
                self.delivered[call] = self.delivered.get(call, 0) + 1
            elif done:
                self.failed += 1

    def _on_stored(self, row: dict[str, Any]) -> None:
        call = str(row.get("callId"))
        with self._count_lock:
            self.stored[call] = self.stored.get(call, 0) + 1
        loop = self._loop
        if row.get("eventType") == "hangup" and loop is not None:
            with contextlib.suppress(RuntimeError):  # the run is over and its loop closed
                loop.call_soon_threadsafe(self._hangup_stored, call)

    def _hangup_stored(self, call: str) -> None:
        self._hung_up.setdefault(call, asyncio.Event()).set()

    def count_callbacks(self) -> dict[str, int]:
        """Once every caller is through: callbacks sent, failed, stored and lost (by call, as the bench)."""
        assert self.session.simulator is not None
        self.session.simulator.wait_idle(self.timeout)
        self.session.wait_handlers(self.timeout)
        self.session.simulator.wait_idle(self.timeout)  # what the last handlers sent (a hang-up) too
        with self._count_lock:
            delivered, stored, failed = dict(self.delivered), dict(self.stored), self.failed
        lost = failed + sum(max(0, sent - stored.get(call, 0)) for call, sent in delivered.items())
        return {"sent": sum(delivered.values()), "failed": failed, "stored": sum(stored.values()),
                "lost": lost}

    # -- running --------------------------------------------------------------------------------------

    def run(self, bar: Any) -> None:
        assert self.session.simulator is not None
        self.session.simulator.add_delivery_listener(self._on_delivery)
        self.session.simulator.add_request_listener(self._on_request)
        store = self.session.store
        store.add_listener(self._on_stored)
        try:
            BackgroundLoop.run(self._main(bar), "flow-campaign-over-the-wire")
        finally:
            store.remove_listener(self._on_stored)

    async def _main(self, bar: Any) -> None:
        from catapult_nb.simulator.phone import AsyncVirtualPhone

        self._loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(self.concurrency)
        assert self.session.simulator is not None
        async with AsyncVirtualPhone(self.session.simulator.base_url, timeout=None,
                                     limit=self.concurrency * 2) as phone:
            self._phone = phone
            try:
                await asyncio.gather(*(self._caller(i, limit, bar) for i in range(len(self.kinds))))
            finally:
                self._loop = None

    async def _caller(self, i: int, limit: asyncio.Semaphore, bar: Any) -> None:
        async with limit:
            loop = asyncio.get_running_loop()
            ended = asyncio.Event()

            def watch(run: FlowRun) -> None:  # on a handler thread, after each event the run acted on
                if run.done:
                    with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
                        loop.call_soon_threadsafe(ended.set)

            run: FlowRun = await asyncio.to_thread(self.session.call, _number(i), flow=self.flow)
            self.runs[i] = run
            assert run.call is not None
            call_id = run.call.id
            self._caller_of[call_id] = i
            for when in self._early.pop(call_id, []):  # gathers created before the call's id was known
                self._gather_created(call_id, when)
            run.add_listener(watch)
            watch(run)
            try:
                await asyncio.wait_for(ended.wait(), self.timeout * (1 + len(self.plans[i])))
            except asyncio.TimeoutError:
                self.cut[i] = f"the flow did not end within {self.timeout:g} s a step (at {run.step!r})"
            if len(run.path) > MAX_STEPS:
                self.cut[i] = f"cut off after {MAX_STEPS} steps"
            if run.outcome == "transferred" or self.cut[i]:
                with contextlib.suppress(Exception):  # the call may have ended meanwhile
                    await self._phone.hang_up(call_id)
            await asyncio.gather(*self._pressing.pop(call_id, []))  # its requests are answered
            # The call's last callback: once it is stored, nothing of this caller is still in flight.
            hung_up = self._hung_up.setdefault(call_id, asyncio.Event())
            with contextlib.suppress(asyncio.TimeoutError):  # counted as lost if it never arrives
                await asyncio.wait_for(hung_up.wait(), self.timeout)
            bar.update(1)

    def _on_request(self, method: str, path: str, status: int, body: bytes) -> None:
        """On the simulator's thread, as it answers: a gather was created on a call (its moment now)."""
        found = _GATHER_CREATED.fullmatch(path) if method == "POST" and status == 201 else None
        loop = self._loop
        if found and loop is not None:
            with contextlib.suppress(RuntimeError):  # the run is over and its loop closed
                loop.call_soon_threadsafe(self._gather_created, found.group(1), time.monotonic())

    def _gather_created(self, call_id: str, when: float) -> None:
        """The caller hears the next question: answer it as the engine plans (keys and hang-up timed from
        the gather's creation on the simulator's clock)."""
        i = self._caller_of.get(call_id)
        if i is None:  # a call placed a moment ago whose id the caller has not learnt yet
            self._early.setdefault(call_id, []).append(when)
            return
        asked = self._asked[i] = self._asked[i] + 1
        if asked <= len(self.plans[i]):
            answer = self._answer(i, call_id, when, self.plans[i][asked - 1])
            task = asyncio.get_running_loop().create_task(answer)
            self._pressing.setdefault(call_id, []).append(task)

    async def _answer(self, i: int, call_id: str, when: float, plan: tuple[Any, ...]) -> None:
        _name, presses, hang_up, reason, seconds = plan
        # Keys after the gather ended are not pressed (the engine's end is a sum: allow its rounding).
        keys = [(t, k) for t, k in presses if t <= seconds + 1e-6]
        hangs_up = reason == Reason.HUNG_UP and hang_up is not None
        if hangs_up:
            keys = [(t, k) for t, k in keys if t < hang_up]
        if not keys and not hangs_up:
            return
        sim = self.session.simulator
        assert sim is not None
        start = sim.timestamp_at(when)  # a hair after the gather was created: late, never early
        created = datetime.fromisoformat(start.replace("Z", "+00:00"))

        def moment(offset: float) -> str:
            return iso_time(created + timedelta(seconds=offset))

        if keys:
            await self._phone.press(call_id, "".join(k for _, k in keys), at=[moment(t) for t, _ in keys])
        if hangs_up:
            await self._phone.hang_up(call_id, at=moment(float(hang_up)))
        # Answered once the simulator had scheduled it: if that was after the first moment, that key (or
        # the hang-up) was applied late, by at most this much (API seconds).
        first = keys[0][0] if keys else float(hang_up)
        due = sim.monotonic_at(moment(first))
        self.late[i] = max(self.late[i], (asyncio.get_running_loop().time() - due) * self.speed)


def _row(flow: Flow, index: int, kind: str, run: FlowRun | None, cut: str) -> dict[str, Any]:
    """One caller's row, shaped as the engine's: path, outcome, time, retries and the edges taken."""
    if run is None:
        return {"caller": index, "callerType": kind, "path": "", "steps": 0, "outcome": "error", "time": None,
                "retries": 0, "edges": [], "callId": None, "reason": "the call was never placed"}
    transcript = run.transcript
    gathered = transcript.loc[transcript["action"] == "gathered"]
    results = list(zip(gathered["reason"], gathered["digits"], strict=True))
    edges: list[tuple[str, str | None, str]] = []
    failures: dict[str, int] = {}
    for position, name in enumerate(run.path):
        step = flow.steps[name]
        last = position == len(run.path) - 1
        if isinstance(step, Ask):
            if not results:
                if run.outcome == "hung-up":
                    edges.append((name, None, "hangup"))
                break
            reason, digits = results.pop(0)
            if reason == Reason.HUNG_UP:
                edges.append((name, None, "hangup"))
                break
            decision = step.decide(name, str(digits), failures)
            edges.append((name, decision.target, decision.kind))
        elif isinstance(step, (Say, Play)) and (not last or run.outcome == "completed"):
            edges.append((name, step.next, "next"))
    ends = transcript.loc[transcript["action"] == "end", "time"]
    outcome = "error" if cut else str(run.outcome or "error")
    return {
        "caller": index, "callerType": kind, "path": " → ".join(run.path), "steps": len(run.path),
        "outcome": outcome, "time": float(ends.iloc[-1]) if len(ends) else None,
        "retries": sum(k in ("invalid", "no_input") for *_, k in edges), "edges": edges,
        "callId": run.call.id if run.call is not None else None, "reason": cut or run.reason,
    }
