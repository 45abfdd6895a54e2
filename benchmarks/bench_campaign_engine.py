"""100,000 synthetic callers through the gather engine: wall time, callers per second, peak memory.

``run_campaign`` with the default caller mix and the seed how-to's options (5 digits, ``*``, 7 s, a
prompt). Time is wall time of ``run_campaign`` alone (sampling, the engine loop, building both frames),
best and worst of ``--repeat`` runs; ``gather_table`` on the result is timed separately. Peak memory is
the process's peak resident set size (``resource.getrusage`` ru_maxrss) before and after, so the growth
is what the campaign needed on top of the imported libraries.

Usage: python benchmarks/bench_campaign_engine.py [--callers 100000] [--repeat 3]
Target: <= 5 s for 100,000 callers.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from catapult_nb.campaign import run_campaign
    from catapult_nb.options import GatherOptions

    options = GatherOptions(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
                            sentence="Please enter your 5 digit code")
    run_campaign(options, n=1000, seed=0)  # warm up imports and caches
    before = rss_mib()
    times = []
    result = None
    for attempt in range(args.repeat):
        del result  # one result alive at a time, so the peak is one campaign's
        start = time.perf_counter()
        result = run_campaign(options, n=args.callers, seed=attempt)
        times.append(time.perf_counter() - start)
    peak = rss_mib()
    start = time.perf_counter()
    table = result.table
    table_s = time.perf_counter() - start

    best, worst = min(times), max(times)
    print(f"{'callers':<28}{args.callers:>12,}")
    print(f"{'run_campaign best (s)':<28}{best:>12.2f}")
    print(f"{'run_campaign worst (s)':<28}{worst:>12.2f}")
    print(f"{'callers per second (best)':<28}{args.callers / best:>12,.0f}")
    print(f"{'gather_table (s)':<28}{table_s:>12.2f}")
    print(f"{'peak RSS before (MiB)':<28}{before:>12.0f}")
    print(f"{'peak RSS after (MiB)':<28}{peak:>12.0f}")
    print(f"{'campaign peak growth (MiB)':<28}{peak - before:>12.0f}")
    print(f"{'rows in the gather table':<28}{len(table):>12,}")
    target = 5.0 * args.callers / 100_000
    print(f"target <= {target:.1f} s: {'met' if best <= target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
