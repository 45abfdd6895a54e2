"""The same callers through a v1 gather and its v2 ``<Gather>``, both over real HTTP on the simulator.

:func:`catapult_nb.migrate.compare` with ``over_the_wire=True`` calls :func:`play_both`. The v1 side is
the campaign's own wire driver (:mod:`catapult_nb.campaign.wire`: an inbound v1 call, the gather created
over REST, the keys pressed through the virtual phone at their planned moments). The v2 side rings a v2
application (``/_sim/incoming``) whose ``initiate`` webhook a receiver answers with the port's BXML; the
gather webhook is answered with a long ``<Pause>`` and the caller hangs up. Each caller's keys are
pressed at the same planned moments, counted from when the call fetched the ``<Gather>`` (so they land a
hair late, never early), and a hang-up is the phone's. What comes back is each caller's digits and
reason on each dialect (v2's reason read by :func:`~catapult_nb.gather_port.v1_reason`, as an app would).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from catapult_nb.campaign.plans import Plan
from catapult_nb.campaign.wire import (
    _FROM_NUMBER,
    _number,
    _private_receiver,
    _private_simulator,
    _until,
    _WireDriver,
)
from catapult_nb.gather_port import Migration, v1_reason
from catapult_nb.options import GatherOptions

__all__ = ["play_both"]

# after the gather the call waits for the caller's driver to hang up: a key pressed late still lands
_HOLD = b'<?xml version="1.0" encoding="UTF-8"?><Response><Pause duration="3600"/></Response>'


def play_both(options: GatherOptions, port: Migration, plan: Plan, *, speed: float, concurrency: int,
              timeout: float) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Play ``plan``'s callers through ``options`` on v1 and through ``port`` on v2, on one private
    simulator (``prompt_timing="estimate"``, as the engine times prompts) with private receivers.

    :returns: per caller ``(digits, reason)`` on v1, and on v2 (``reason`` by ``v1_reason``; a hang-up
        has no digits on v2).
    :raises TimeoutError: some caller's gather (or hang-up) never came back, with where to look.
    """
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(_private_simulator(speed, "estimate"))
        v1_receiver = stack.enter_context(_private_receiver())
        v1 = _WireDriver(sim, v1_receiver, options, plan, concurrency, timeout)
        _, gather_ids = v1.run()
        missing = [i for i, g in enumerate(gather_ids) if g not in v1.arrived]
        v1_rows = _v1_rows(v1_receiver.store, gather_ids)
        v2_receiver = stack.enter_context(_private_receiver())
        v2 = _V2Driver(sim, v2_receiver, options, plan, concurrency, timeout, port)
        v2.run()
        missing += [i for i, c in enumerate(v2.call_ids) if c not in v2.ended]
        v2_rows = _v2_rows(v2_receiver.store, v2.call_ids, port)
    if missing:
        raise TimeoutError(
            f"{len(missing)} gathers did not come back within {timeout:g} s (first: caller {missing[0]}); "
            "run again with a lower speed, or see the simulator's /_sim/deliveries")
    return v1_rows, v2_rows


def _v1_rows(store: Any, gather_ids: list[str]) -> list[tuple[str, str]]:
    events = store.to_dataframe(event_type="gather")
    by_id = {row["gatherId"]: (str(row["digits"] or ""), str(row["reason"]))
             for _, row in events.iterrows()}
    return [by_id.get(g, ("", "")) for g in gather_ids]


def _v2_rows(store: Any, call_ids: list[str], port: Migration) -> list[tuple[str, str]]:
    events = store.to_dataframe()
    first: dict[str, dict[str, Any]] = {}
    for payload in events["payload"]:
        if payload.get("eventType") in ("gather", "disconnect"):
            first.setdefault(str(payload.get("callId")), dict(payload))
    rows = []
    for call_id in call_ids:
        event = first.get(call_id)
        if event is None:
            rows.append(("", ""))
            continue
        reason = v1_reason(event, port).value
        rows.append((str(event.get("digits") or "") if event["eventType"] == "gather" else "", reason))
    return rows


class _V2Driver(_WireDriver):
    """The wire driver's callers, on a v2 application answered with ``port``'s BXML."""

    def __init__(self, sim: Any, receiver: Any, options: GatherOptions, plan: Plan, concurrency: int,
                 timeout: float, port: Migration) -> None:
        super().__init__(sim, receiver, options, plan, concurrency, timeout)
        document = port.bxml.replace(port.attributes.get("gatherUrl", "\0"), receiver.url)
        self.document = document.encode("utf-8")
        self.ended: set[str] = set()  # calls whose gather (or disconnect) webhook is stored
        receiver.answer_with(self._answer)

    def _answer(self, payload: dict[str, Any], query: dict[str, str]) -> bytes | None:
        """On a receiver thread: the app. ``initiate`` gets the Gather, ``gather`` a Hangup."""
        kind = payload.get("eventType")
        if kind == "initiate":
            loop = self._loop
            if loop is not None:  # the driver anchors the caller's timeline once the Gather runs
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._stored, "fetched", str(payload.get("callId")))
            return self.document
        return _HOLD if kind == "gather" else None

    def _on_event(self, row: dict[str, Any]) -> None:
        loop, kind = self._loop, row.get("eventType")
        if kind in ("gather", "disconnect") and loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._stored, "ended", str(row.get("callId")))

    def _stored(self, kind: str, key: str) -> None:
        if kind == "ended":
            self.ended.add(key)
        self._event(kind, key).set()

    async def _caller(self, i: int, limit: asyncio.Semaphore) -> None:
        async with limit:
            call_id = self.call_ids[i] = await self._sim(
                self._phone.incoming_v2, _FROM_NUMBER, _number(i), self.receiver.url)
            fetched = self._event("fetched", call_id)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(fetched.wait(), self.timeout)
            # the answer is on its way to the simulator: wait until the call runs it (the Gather listens
            # from then on), so every key lands a hair late, never early
            while not (await self._request("GET", f"/_sim/calls/{call_id}"))[0].get("documents"):
                await _until(asyncio.get_running_loop().time() + 0.002)
            anchor = asyncio.get_running_loop().time()
            done = self._event("ended", call_id)
            hung_up = await self._play(i, call_id, anchor, done)
            with contextlib.suppress(asyncio.TimeoutError):  # counted as missing by play_both
                await asyncio.wait_for(done.wait(), self.timeout)
            if not hung_up:
                with contextlib.suppress(RuntimeError):  # the call may have ended on its own
                    await self._sim(self._phone.hang_up, call_id)
