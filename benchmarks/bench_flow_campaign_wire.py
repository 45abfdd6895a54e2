"""1,000 synthetic callers through the account-code flow over the wire at speed 20, against the engine.

The callers are the campaigns' default mix (typical, hesitant, over-typers, quitters). Each is a call on
the embedded simulator running the flow as an application on real callbacks (``session.call(to,
flow=flow)``); at each question the virtual phone hands the simulator the keys and hang-up the engine
plans for that caller (``run_campaign(flow, …, over_the_wire=True)``). Counted at the end: callbacks the
simulator sent and the receiver stored (none may be lost), and the callers whose path, outcome and
retries agree with the engine's for the same seed and margin.

The machine may be shared, so the wall time is also given beside two floors from the same run: the
callers' own timelines (the engine's API time of every caller, divided by the speed and the number of
callers on the line at once), and one caller of each kind alone through the same flow over the wire.

Usage: python benchmarks/bench_flow_campaign_wire.py [--callers 1000] [--speed 20] [--concurrency 16]
Target: 0 lost, at least 99% agree with the engine. Exits non-zero if a callback was lost.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from catapult_nb.campaign import DEFAULT_CALLERS
    from catapult_nb.flows import run_campaign
    from catapult_nb.flows.examples import account_code

    flow = account_code()
    kinds = [caller for caller, _ in DEFAULT_CALLERS.parts]
    alone = run_campaign(flow, kinds, n=len(kinds), seed=args.seed, over_the_wire=True, speed=args.speed,
                         concurrency=len(kinds), progress=False)
    floor = alone.wall
    start = time.perf_counter()
    wire = run_campaign(flow, DEFAULT_CALLERS, n=args.callers, seed=args.seed, over_the_wire=True,
                        speed=args.speed, concurrency=args.concurrency)
    total = time.perf_counter() - start
    assert wire.engine is not None
    timelines = float(wire.engine.table["time"].sum()) / args.speed / args.concurrency
    table = wire.agreement()
    share = wire.agreed / args.callers
    print(
        f"{args.callers:,} synthetic callers through the account-code flow over the wire, speed "
        f"{args.speed:g}, {args.concurrency} at once (seed {args.seed}, margin {wire.margin:g} API s): "
        f"{wire.wall:.1f} s wall ({total:.1f} s with the engine run and the set-up); {wire.sent:,} callbacks "
        f"sent, {wire.stored:,} stored, {wire.lost} lost; {wire.agreed:,} of {args.callers:,} agree with "
        f"the engine ({share:.1%}) (target: 0 lost, >= 99% agree)"
    )
    print(f"  outcomes: {wire.outcomes().to_dict()}")
    print(f"  callers with a key applied later than the margin: {len(wire.slipped)}")
    print(
        f"  floors: the callers' own timelines at {args.concurrency} at once {timelines:.1f} s "
        f"({wire.wall / timelines:.2f}x); one caller of each kind alone {floor:.1f} s"
    )
    if not table["agrees"].all():
        print("  first disagreements:")
        print(table.loc[~table["agrees"], ["path_wire", "path_engine", "outcome_wire", "outcome_engine"]]
              .head(5).to_string())
    return 1 if wire.lost else 0


if __name__ == "__main__":
    sys.exit(main())
