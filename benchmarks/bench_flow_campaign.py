"""100,000 synthetic callers through the account-code flow on the gather engine, beside a single-gather
campaign of as many callers and a floor, all in the same run.

The flow campaign (:func:`catapult_nb.flows.run_campaign`) plays every caller at once, step by step,
with NumPy; the single-gather campaign (:func:`catapult_nb.campaign.run_campaign`) plays one gather per
caller with the code step's options. The floor: NumPy's generator drawing as many random numbers as the
flow campaign drew (one per column of each caller's draws at each Ask visit), and nothing else. The
event-driven player (:func:`catapult_nb.campaign.flow_run.play_one_by_one`, one caller at a time on
``run_gather``) is timed on ``--one-by-one`` callers, to show what the vectorised player saves.
Figures are the best of ``--repeat`` runs, all in this process, so the ratios hold on a shared machine.

Usage: python benchmarks/bench_flow_campaign.py [--n 100000] [--repeat 3] [--one-by-one 10000]
Target: <= 5 s for 100,000 callers through the flow.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from catapult_nb.campaign import DEFAULT_CALLERS
from catapult_nb.campaign import run_campaign as run_gather_campaign
from catapult_nb.campaign.flow_draws import columns
from catapult_nb.campaign.flow_engine import StepCache, play_one_by_one
from catapult_nb.flows import Ask, run_campaign
from catapult_nb.flows.examples import account_code


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        del result
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one-by-one", type=int, default=10_000, help="callers for the event-driven player")
    args = parser.parse_args()
    flow = account_code()
    code = flow.steps["code"]
    options = code.gather_options(code.sentence)  # type: ignore[attr-defined]
    run_campaign(flow, n=100, seed=1, progress=False)  # imports and caches warm
    run_gather_campaign(options, n=100, seed=1)
    flow_s, result = best(args.repeat, lambda: run_campaign(flow, n=args.n, seed=1, progress=False))
    single_s, single = best(args.repeat, lambda: run_gather_campaign(options, n=args.n, seed=1))
    extra = max(c.extra_keys for c, _ in DEFAULT_CALLERS.parts)
    cache = StepCache()
    drawn = {  # numbers drawn per caller at each visit of an Ask
        name: len(columns(max(len(t) for t in cache.answers(name, step).texts) + extra + 1))
        for name, step in flow.steps.items() if isinstance(step, Ask)
    }
    visits = result.table["edges"].map(lambda edges: [s for s, _, k in edges if k != "next"]).explode()
    asks = int(visits.notna().sum())
    numbers = int(visits.dropna().map(drawn).sum())
    floor_s, _ = best(args.repeat, lambda: np.random.default_rng(1).random(numbers))
    start = time.perf_counter()
    play_one_by_one(flow, n=args.one_by_one, seed=1)
    one_s = (time.perf_counter() - start) * args.n / args.one_by_one
    steps = int(result.table["steps"].sum())
    print(f"{args.n:,} callers through the account-code flow on the engine, best of {args.repeat}: "
          f"{flow_s:.2f} s ({args.n / flow_s:,.0f} callers/s, {steps:,} steps, {asks:,} gathers) "
          f"(target: <= 5 s: {'met' if flow_s <= 5 * args.n / 100_000 else 'NOT met'})")
    print(f"  a single-gather campaign of {len(single.table):,} callers, same run: {single_s:.2f} s; "
          f"the flow takes {flow_s / single_s:.2f}x as long")
    print(f"  floor: NumPy drawing the flow's {numbers:,} random numbers alone: {floor_s:.3f} s; "
          f"the flow takes {flow_s / floor_s:.1f}x as long")
    print(f"  the event-driven player, one caller at a time ({args.one_by_one:,} callers, scaled to "
          f"{args.n:,}): {one_s:.1f} s, {one_s / flow_s:.0f}x the vectorised player")
    print(f"  outcomes: {result.outcomes().to_dict()}")


if __name__ == "__main__":
    main()
