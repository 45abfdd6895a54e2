"""200 concurrent calls, each running the account-code flow over the wire, at speed 20.

Three kinds of caller, in turn: one types ``12345`` and confirms with ``1`` (expected: ``completed``,
path code → confirm → thanks); one types ``123*`` first, then ``12345`` and ``1`` (``completed``, path
code → code → confirm → thanks); one never types (``transferred``, path code → code → code → sorry →
operator). Every call is placed at once; one thread per caller waits for each step and presses its keys
on the virtual phone. Counted at the end: runs with the expected outcome and path, callbacks the
simulator sent and the receiver stored (none may be lost).

The machine may be shared, so the wall time is also given as a ratio to a floor measured in the same
run: one caller of each kind alone (three calls at once) through the same session.

Usage: python benchmarks/bench_flow_wire.py [--calls 200] [--speed 20]
Target: 0 lost, every run ends as expected.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from catapult_nb import Session
from catapult_nb.flows import FlowRun
from catapult_nb.flows.examples import account_code

CALLERS = {
    "confirms": ([("code", "12345"), ("confirm", "1")], "completed", ["code", "confirm", "thanks"]),
    "retries": (
        [("code", "123*"), ("code", "12345"), ("confirm", "1")], "completed",
        ["code", "code", "confirm", "thanks"],
    ),
    "silent": ([], "transferred", ["code", "code", "code", "sorry", "operator"]),
}


def play(session: Session, run: FlowRun, keys: list[tuple[str, str]]) -> FlowRun:
    visits: dict[str, int] = {}
    for step, digits in keys:
        visits[step] = visits.get(step, 0) + 1
        try:
            run.wait_step(step, visit=visits[step], timeout=120)
        except TimeoutError:  # the run went another way (a key came late on a loaded machine): counted below
            break
        session.phone.press(run.call, digits)
    return run.wait(timeout=300)


def drive(session: Session, kinds: list[str], progress: bool = False) -> tuple[list[FlowRun], float]:
    """Place one call per caller at once, each running the flow; returns the ended runs and the wall time."""
    flow = account_code()
    start = time.perf_counter()
    runs = [session.call(f"+1555{i:04d}999", flow=flow) for i in range(len(kinds))]  # none ends in 0001-3
    with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
        futures = [
            pool.submit(play, session, run, CALLERS[kind][0]) for run, kind in zip(runs, kinds, strict=True)
        ]
        for future in tqdm(futures, desc="flow runs", unit="call", disable=not progress):
            future.result()
    return runs, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--speed", type=float, default=20.0)
    args = parser.parse_args()
    kinds = [list(CALLERS)[i % len(CALLERS)] for i in range(args.calls)]
    with tempfile.TemporaryDirectory() as tmp, Session.simulated(
        speed=args.speed, store=Path(tmp) / "e.sqlite3"
    ) as session:
        _, floor = drive(session, list(CALLERS))
        runs, wall = drive(session, kinds, progress=True)
        session.simulator.wait_idle(30)
        session.wait_handlers(30)
        session.simulator.wait_idle(30)  # what the last handlers sent (a hang-up) is delivered too
        deliveries = session.phone.deliveries().rows()
        stored_by_call = session.events.groupby("callId", observed=True).size().to_dict()
        stored = sum(stored_by_call.values())
    good = sum(
        (run.outcome, run.path) == (CALLERS[kind][1], CALLERS[kind][2])
        for run, kind in zip(runs, kinds, strict=True)
    )
    failed = [d for d in deliveries if d["status"] != 200]
    delivered_by_call: dict[str, int] = {}
    for d in deliveries:
        if d["status"] == 200:
            delivered_by_call[d["callId"]] = delivered_by_call.get(d["callId"], 0) + 1
    # lost: a delivery that failed, or a call with fewer events stored than the simulator delivered
    lost = len(failed) + sum(max(0, n - stored_by_call.get(c, 0)) for c, n in delivered_by_call.items())
    extra = {
        c: (n, delivered_by_call.get(c, 0))
        for c, n in stored_by_call.items() if n != delivered_by_call.get(c)
    }
    if extra:
        print(f"  calls whose stored and delivered counts differ (stored, delivered): {extra}")
    print(
        f"{args.calls} concurrent calls through the account-code flow over the wire, speed {args.speed:g}: "
        f"{wall:.1f} s wall; {good} of {args.calls} runs ended as expected; {len(deliveries)} callbacks "
        f"sent, {stored} stored, {lost} lost (target: 0 lost, all as expected)"
    )
    outcomes: dict[str, int] = {}
    for run in runs:
        outcomes[str(run.outcome)] = outcomes.get(str(run.outcome), 0) + 1
    print(f"  outcomes: {outcomes}")
    print(f"  floor: one caller of each kind alone, {floor:.1f} s; all {args.calls}: {wall / floor:.2f}x")


if __name__ == "__main__":
    main()
