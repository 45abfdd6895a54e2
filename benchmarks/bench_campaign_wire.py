"""1,000 synthetic callers over the wire at speed 20: wall time, and zero lost callbacks.

Each caller is an inbound call on the embedded simulator, answered, given the seed how-to's gather, its
keys pressed through the virtual phone at the planned times; every callback goes to a real
``CallbackReceiver`` writing to a SQLite ``EventStore``. Afterwards the simulator's own delivery log
(``/_sim/deliveries``) is compared with the store: every callback the simulator sent must be stored
once, and none may have failed. The same timelines are replayed on the engine and compared caller by
caller (reason and digits).

Usage: python benchmarks/bench_campaign_wire.py [--callers 1000] [--speed 20] [--concurrency 16]
Exits non-zero if a callback was lost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    from catapult_nb.campaign import run_campaign
    from catapult_nb.options import GatherOptions
    from catapult_nb.receiver.receiver import CallbackReceiver
    from catapult_nb.simulator import Simulator
    from catapult_nb.store.store import EventStore

    options = GatherOptions(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
                            sentence="Please enter your 5 digit code")
    with tempfile.TemporaryDirectory() as folder, Simulator(speed=args.speed) as sim:
        store = EventStore(Path(folder) / "events.sqlite3")
        with CallbackReceiver(store) as receiver:
            start = time.perf_counter()
            wire = run_campaign(options, n=args.callers, seed=1, over_the_wire=True, simulator=sim,
                                receiver=receiver, concurrency=args.concurrency)
            wall = time.perf_counter() - start
            deliveries = sim.phone.deliveries().rows()
            stored = store.to_dataframe()
        store.close()

    sent = len(deliveries)
    failed = sum(1 for d in deliveries if not (d.get("status") and 200 <= int(d["status"]) < 300))
    lost = sent - failed - len(stored)
    engine = run_campaign(options, n=args.callers, seed=1, margin=wire.margin)
    agreement = wire.agreement(engine)
    api_seconds = (wire.table["completedTime"].max() - wire.table["createdTime"].min()).total_seconds()

    print(f"{'callers':<34}{args.callers:>10,}")
    print(f"{'speed':<34}{args.speed:>10g}")
    print(f"{'concurrent callers':<34}{args.concurrency:>10}")
    print(f"{'wall time (s)':<34}{wall:>10.1f}")
    print(f"{'callers per wall second':<34}{args.callers / wall:>10.1f}")
    print(f"{'API seconds covered':<34}{api_seconds:>10.0f}")
    print(f"{'callbacks sent by the simulator':<34}{sent:>10,}")
    print(f"{'callbacks failed':<34}{failed:>10,}")
    print(f"{'events stored':<34}{len(stored):>10,}")
    print(f"{'lost callbacks':<34}{lost:>10,}")
    print(f"{'gather events stored':<34}{int((stored['eventType'] == 'gather').sum()):>10,}")
    print(f"{'agree with the engine':<34}{int(agreement['agrees'].sum()):>10,} of {len(agreement):,}"
          f"  (margin {wire.margin:g} API s)")
    return 0 if lost == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
