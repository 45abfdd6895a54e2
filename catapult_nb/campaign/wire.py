"""Over the wire: a campaign's timelines through the HTTP simulator, with real callbacks into a receiver.

See ``docs/campaigns.md`` ("Over the wire") for why timelines keep a safety margin.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import aiohttp
import pandas as pd

from catapult_nb import analysis, prompts
from catapult_nb.background import BackgroundLoop
from catapult_nb.campaign.callers import MAX_N, Caller, CallerMix, check_float, check_int, coerce_callers
from catapult_nb.campaign.plans import Draws, Plan, build_plan, draw
from catapult_nb.campaign.results import CampaignResult
from catapult_nb.engine import GatherSpec
from catapult_nb.options import GatherOptions
from catapult_nb.redact import redact
from catapult_nb.simulator.phone import AsyncVirtualPhone, PhoneError

__all__ = ["run_over_the_wire"]

_FROM_NUMBER = "+15550000000"


def _number(caller: int) -> str:
    # Ends in 9, never in the simulator's special 0001/0002/0003 endings.
    return f"+155{caller:07d}9"


def run_over_the_wire(
    options: GatherOptions | dict[str, Any] | None = None,
    callers: Caller | CallerMix | Mapping[Caller, float] | Sequence[Any] | None = None,
    n: int = 100,
    seed: int = 0,
    *,
    label: str | None = None,
    margin: float | None = None,
    speed: float = 20.0,
    simulator: Any = None,
    receiver: Any = None,
    concurrency: int = 16,
    timeout: float = 30.0,
    prompt_timing: str = "audio",
) -> CampaignResult:
    """Play the callers through the HTTP simulator, with callbacks into a real receiver and store.

    Each caller is an inbound call (``/_sim/incoming`` → answered with ``{"state": "active"}``); the gather
    is created with ``options``; the caller's keys are pressed one by one through ``/_sim/calls/{id}/press``
    at their planned times (API seconds scaled by the simulator's speed) and the hang-up, if any, through
    ``/_sim/calls/{id}/hangup``. Once the ``gather`` event is stored, the gather is read back (for its
    ``createdTime``), recorded with :meth:`EventStore.record_gather`, and the call is hung up.

    :param options: as for :func:`~catapult_nb.campaign.run.run_campaign`.
    :param callers: as for :func:`~catapult_nb.campaign.run.run_campaign`.
    :param n: as for :func:`~catapult_nb.campaign.run.run_campaign`.
    :param seed: as for :func:`~catapult_nb.campaign.run.run_campaign`.
    :param label: as for :func:`~catapult_nb.campaign.run.run_campaign`.
    :param margin: the timelines' safety margin in API seconds (see docs/campaigns.md); default
        ``max(0.5, 0.15 * speed)`` (150 wall milliseconds), at most half the inter-digit timeout. Use
        the result's ``margin`` to replay the same timelines on the engine.
    :param speed: the speed of the simulator started for the run (ignored when ``simulator`` is given).
    :param simulator: a running :class:`~catapult_nb.simulator.Simulator` to use instead of a private one.
    :param receiver: a running :class:`~catapult_nb.receiver.CallbackReceiver` (its store gets the events);
        default a private receiver with a temporary store, closed after the run.
    :param concurrency: how many callers are on the line at once.
    :param timeout: wall seconds to wait for each caller's ``gather`` event.
    :param prompt_timing: how the private simulator times sentences (a given ``simulator`` keeps its own).
    :raises TimeoutError: when some gather events never arrived (the message says how many and where to
        look); RuntimeError when the simulator refuses a request (with its message).
    """
    options = GatherOptions.coerce(options) if options is not None else GatherOptions()
    mix_ = coerce_callers(callers)
    check_int("n", n, 1, MAX_N)
    check_int("seed", seed, 0, None)
    check_int("concurrency", concurrency, 1, 1000)
    check_float("timeout", timeout, low=0.0, low_open=True)
    label = label if label is not None else analysis.describe_options(options)
    half = options.effective_inter_digit_timeout / 2
    with contextlib.ExitStack() as stack:
        sim = simulator if simulator is not None else stack.enter_context(
            _private_simulator(speed, prompt_timing))
        if margin is None:
            margin = min(max(0.5, 0.15 * sim.speed), half)
        check_float("margin", margin, low=0.0, high=half)
        timing = getattr(sim, "prompt_timing", prompt_timing)  # a given simulator times as it was told
        spec = GatherSpec.from_options(options, prompts.measure(options, timing).seconds)
        draws = draw(mix_, n, seed)
        plan = build_plan(draws, spec, margin)
        rec = receiver if receiver is not None else stack.enter_context(_private_receiver())
        driver = _WireDriver(sim, rec, options, plan, concurrency, timeout)
        call_ids, gather_ids = driver.run()
        result = wire_result(rec.store, options, mix_, label, seed, draws, plan, call_ids, gather_ids,
                              detach=receiver is None)
    result.margin = margin
    missing = [i for i, g in enumerate(gather_ids) if g not in driver.arrived]
    no_hangup = [i for i, c in enumerate(call_ids) if c not in driver.hung_up]
    if missing or no_hangup:
        first = (missing or no_hangup)[0]
        raise TimeoutError(
            f"callbacks were lost: {len(missing)} of {n} gather events and {len(no_hangup)} hangup events "
            f"did not arrive within {timeout:g} s (first: caller {first}, call {call_ids[first]}); see the "
            "simulator's /_sim/deliveries and receiver.rejected()"
        )
    return result


@contextlib.contextmanager
def _private_simulator(speed: float, prompt_timing: str) -> Iterator[Any]:
    from catapult_nb.simulator import Simulator

    with Simulator(speed=speed, prompt_timing=prompt_timing) as sim:
        yield sim


@contextlib.contextmanager
def _private_receiver() -> Iterator[Any]:
    from catapult_nb.receiver.receiver import CallbackReceiver
    from catapult_nb.store.store import EventStore

    with tempfile.TemporaryDirectory(prefix="catapult-campaign-") as folder:
        store = EventStore(os.path.join(folder, "events.sqlite3"), synchronous="NORMAL")
        try:
            with CallbackReceiver(store) as receiver:
                yield receiver
        finally:
            store.close()


class _WireDriver:
    """Runs every caller's timeline against the simulator on a private event loop in its own thread."""

    def __init__(self, sim: Any, receiver: Any, options: GatherOptions, plan: Plan, concurrency: int,
                 timeout: float) -> None:
        self.sim, self.receiver, self.plan = sim, receiver, plan
        self.body = options.to_wire(as_strings=False)
        self.concurrency, self.timeout = concurrency, timeout
        self.speed = float(sim.speed)
        n = len(plan.keys)
        self.call_ids: list[str] = [""] * n
        self.gather_ids: list[str] = [""] * n
        self.arrived: set[str] = set()  # gather ids whose gather event is stored
        self.hung_up: set[str] = set()  # call ids whose hangup event is stored
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}  # (eventType, gather or call id)
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> tuple[list[str], list[str]]:
        store = self.receiver.store
        store.add_listener(self._on_event)
        try:
            BackgroundLoop.run(self._main(), "campaign-over-the-wire")
        finally:
            store.remove_listener(self._on_event)
        return self.call_ids, self.gather_ids

    def _on_event(self, row: dict[str, Any]) -> None:
        # Runs on the receiver's writer thread: hand the news to our loop and return at once.
        loop, kind = self._loop, row.get("eventType")
        key = row.get("gatherId") if kind == "gather" else row.get("callId") if kind == "hangup" else None
        if key and loop is not None:
            with contextlib.suppress(RuntimeError):  # the run is over and its loop closed
                loop.call_soon_threadsafe(self._stored, str(kind), str(key))

    def _stored(self, kind: str, key: str) -> None:
        (self.arrived if kind == "gather" else self.hung_up).add(key)
        self._event(kind, key).set()

    def _event(self, kind: str, key: str) -> asyncio.Event:
        return self._waiters.setdefault((kind, key), asyncio.Event())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(self.concurrency)
        self._auth = {"Authorization": aiohttp.encode_basic_auth(self.sim.api_token, self.sim.api_secret)}
        async with AsyncVirtualPhone(self.sim.base_url, timeout=None, limit=self.concurrency * 2) as phone:
            self._phone = phone
            try:
                await asyncio.gather(*(self._caller(i, limit) for i in range(len(self.plan.keys))))
            finally:
                self._loop = None

    async def _request(self, method: str, path: str, body: Any = None, auth: bool = False) -> tuple[Any, Any]:
        """One request to the simulator (``path`` below its root), its refusal as a RuntimeError."""
        try:
            headers = self._auth if auth else None
            return await self._phone.request(method, path, json_body=body, headers=headers)
        except PhoneError as exc:
            # The receiver's URL carries its secret path: never let an echo of it reach an exception.
            message = redact(exc.message)
            raise RuntimeError(
                f"the simulator answered {method} {path} with HTTP {exc.status}: {message}"
            ) from None

    async def _sim(self, action: Any, *args: Any) -> Any:
        """A virtual-phone verb, its refusal as a RuntimeError like :meth:`_request`'s."""
        try:
            return await action(*args)
        except PhoneError as exc:
            raise RuntimeError(
                f"the simulator refused the virtual phone with HTTP {exc.status}: "
                f"{redact(exc.message)}"
            ) from None

    async def _caller(self, i: int, limit: asyncio.Semaphore) -> None:
        async with limit:
            api = f"/v1/users/{self.sim.user_id}/calls"
            call_id = self.call_ids[i] = await self._sim(
                self._phone.incoming, _FROM_NUMBER, _number(i), self.receiver.url)
            await self._request("POST", f"{api}/{call_id}", {"state": "active"}, auth=True)
            _, headers = await self._request("POST", f"{api}/{call_id}/gather", self.body, auth=True)
            # Plan times count from the answer to the create request: the gather started just before it
            # was sent, so keys land a response's trip (plus their own) late, never early — even when
            # the create request itself was slow to be served.
            anchor = asyncio.get_running_loop().time()
            gather_id = self.gather_ids[i] = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            done = self._event("gather", gather_id)
            hung_up = await self._play(i, call_id, anchor, done)
            try:
                await asyncio.wait_for(done.wait(), self.timeout)
            except asyncio.TimeoutError:
                return  # counted as missing and reported once all callers are through
            gather, _ = await self._request("GET", f"{api}/{call_id}/gather/{gather_id}", auth=True)
            self.receiver.store.record_gather(gather_id, call_id, self.body, gather.get("createdTime"))
            if not hung_up:
                await self._request("POST", f"{api}/{call_id}", {"state": "completed"}, auth=True)
            # The call's last callback: once it is stored, nothing of this caller is still in flight.
            with contextlib.suppress(asyncio.TimeoutError):  # counted as missing and reported by run()
                await asyncio.wait_for(self._event("hangup", call_id).wait(), self.timeout)

    async def _play(self, i: int, call_id: str, anchor: float, done: asyncio.Event) -> bool:
        """Press the caller's keys and hang up at the planned moments; True if the caller hung up."""
        steps: list[tuple[float, str]] = list(zip(self.plan.times[i], self.plan.keys[i]))  # noqa: B905
        hang_up = self.plan.hang_ups[i]
        if hang_up is not None:
            steps = sorted([*steps, (hang_up, "")], key=lambda step: step[0])
        for at, key in steps:
            await _until(anchor + at / self.speed)
            if done.is_set():  # the gather is over: the caller's remaining keys no longer matter
                return False
            if key:
                await self._sim(self._phone.press, call_id, key)
            else:
                await self._sim(self._phone.hang_up, call_id)
                return True
        return False


async def _until(when: float) -> None:
    """Resume at loop time ``when``: a caller acting at a planned moment of its timeline."""
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    moment = loop.create_future()

    def arrive() -> None:
        if not moment.done():
            moment.set_result(None)

    handle = loop.call_at(when, arrive)
    try:
        await moment
    finally:
        handle.cancel()


def wire_result(store: Any, options: GatherOptions, callers: CallerMix, label: str, seed: int,
                 draws: Draws, plan: Plan, call_ids: list[str], gather_ids: list[str],
                 *, detach: bool) -> CampaignResult:
    caller_of = {call_id: i for i, call_id in enumerate(call_ids) if call_id}
    events = store.to_dataframe()
    events = events.loc[events["callId"].isin(list(caller_of))].copy()
    if detach:  # the private store is about to close: load the payloads now
        events["payload"] = [dict(p) if p is not None else None for p in events["payload"]]
    index = events["callId"].map(caller_of).astype("int64")
    names = [c.name for c, _ in callers.parts]
    events["caller"] = index.to_numpy()
    events["callerType"] = pd.Categorical.from_codes(draws.kind[index.to_numpy()], categories=pd.Index(names))
    events["intended"] = pd.array([plan.intended[i] for i in index], dtype="string")
    gathers = store.gathers()
    gathers = gathers.loc[gathers["gatherId"].isin([g for g in gather_ids if g])].reset_index(drop=True)
    gathers["optionSet"] = pd.Categorical([label] * len(gathers))
    return CampaignResult(events, gathers, options, label, seed, mode="wire")
