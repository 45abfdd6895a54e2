"""100,000 synthetic callers through the account-code flow on the gather engine, beside a single-gather
campaign of as many callers in the same run.

The flow campaign plays each caller step by step (its code, the confirmation, retries, the transfer)
with the engine's :func:`~catapult_nb.engine.run_gather`; the single-gather campaign
(:func:`catapult_nb.campaign.run_campaign`) plays one gather per caller with the code step's options.
Both run in this process, one after the other, so the ratio holds on a shared machine.

Usage: python benchmarks/bench_flow_campaign.py [--n 100000]
Target: <= 5 s for 100,000 callers through the flow.
"""

from __future__ import annotations

import argparse
import time

from catapult_nb.campaign import run_campaign as run_gather_campaign
from catapult_nb.flows import run_campaign
from catapult_nb.flows.examples import account_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    flow = account_code()
    code = flow.steps["code"]
    options = code.gather_options(code.sentence)  # type: ignore[attr-defined]
    run_campaign(flow, n=100, seed=1, progress=False)  # imports and caches warm
    start = time.perf_counter()
    single = run_gather_campaign(options, n=args.n, seed=1)
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    result = run_campaign(flow, n=args.n, seed=1, progress=False)
    flow_s = time.perf_counter() - start
    steps = int(result.callers["steps"].sum())
    print(
        f"{args.n:,} callers through the account-code flow on the engine: {flow_s:.2f} s "
        f"({args.n / flow_s:,.0f} callers/s, {steps:,} steps) (target: <= 5 s)"
    )
    print(
        f"  a single-gather campaign of {len(single.table):,} callers, same run: {single_s:.2f} s; "
        f"the flow takes {flow_s / single_s:.1f}x as long"
    )
    print(f"  outcomes: {result.outcomes().to_dict()}")


if __name__ == "__main__":
    main()
