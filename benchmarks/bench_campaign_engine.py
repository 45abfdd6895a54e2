"""1,000,000 synthetic callers through the gather engine: wall time, callers per second, peak memory.

``run_campaign`` with the default caller mix and the seed how-to's options (5 digits, ``*``, 7 s, a
prompt). Time is wall time of ``run_campaign`` alone (sampling, the engine, building both frames): the
figure reported is the best of ``--repeat`` runs (3 by default), the worst printed beside it.
``gather_table`` on the result is timed separately. Peak memory is the process's peak resident set
size (``resource.getrusage`` ru_maxrss) before and after, so the growth is what the campaign needed on
top of the imported libraries.

The floor, in the same run and process: NumPy drawing the same random numbers (the same generator
calls with the same shapes, nothing else), best of ``--repeat``. The ratio is the campaign's best time
over the floor's.

Usage: python benchmarks/bench_campaign_engine.py [--callers 1000000] [--repeat 3] [--quick]
Target: <= 10 s and <= 1 GiB peak growth for 1,000,000 callers.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def draw_floor(n: int, kinds: int, width: int, seed: int) -> float:
    """Seconds NumPy takes to draw the campaign's random numbers for ``n`` callers, and nothing else."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    rng.choice(kinds, size=n, p=np.full(kinds, 1 / kinds))
    rng.random(n)  # barge-in
    rng.random(n)  # where in the prompt
    rng.standard_normal(n)  # first key
    rng.standard_normal((n, width - 1))  # gaps
    rng.integers(0, 10, size=(n, width))  # digits
    rng.random(n)  # extra keys
    rng.random(n)  # terminator
    rng.random(n)  # hang-up
    rng.random(n)  # when
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 callers, two runs (for CI)")
    args = parser.parse_args()
    if args.quick:
        args.callers, args.repeat = 100_000, 2

    from catapult_nb.campaign import DEFAULT_CALLERS, run_campaign
    from catapult_nb.options import GatherOptions

    options = GatherOptions(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
                            sentence="Please enter your 5 digit code")
    run_campaign(options, n=1000, seed=0)  # warm up imports and caches
    kinds = len(DEFAULT_CALLERS.parts)
    width = max(c.code_length + c.extra_keys for c, _ in DEFAULT_CALLERS.parts) + 1
    before = rss_mib()
    times, floors = [], []
    result = None
    for attempt in range(args.repeat):
        del result  # one result alive at a time, so the peak is one campaign's
        floors.append(draw_floor(args.callers, kinds, width, attempt))
        start = time.perf_counter()
        result = run_campaign(options, n=args.callers, seed=attempt)
        times.append(time.perf_counter() - start)
    peak = rss_mib()
    start = time.perf_counter()
    table = result.table
    table_s = time.perf_counter() - start

    best, worst, floor = min(times), max(times), min(floors)
    print(f"{'callers':<32}{args.callers:>12,}")
    print(f"{f'run_campaign best of {args.repeat} (s)':<32}{best:>12.2f}")
    print(f"{f'run_campaign worst of {args.repeat} (s)':<32}{worst:>12.2f}")
    print(f"{'callers per second (best)':<32}{args.callers / best:>12,.0f}")
    print(f"{'floor: numpy draws alone (s)':<32}{floor:>12.3f}")
    print(f"{'ratio to the floor':<32}{best / floor:>11.1f}x")
    print(f"{'gather_table (s)':<32}{table_s:>12.2f}")
    print(f"{'peak RSS before (MiB)':<32}{before:>12.0f}")
    print(f"{'peak RSS after (MiB)':<32}{peak:>12.0f}")
    print(f"{'campaign peak growth (MiB)':<32}{peak - before:>12.0f}")
    print(f"{'rows in the gather table':<32}{len(table):>12,}")
    target = 10.0 * args.callers / 1_000_000
    met = best <= target and peak - before <= 1024 * args.callers / 1_000_000
    print(f"target <= {target:.1f} s (best of {args.repeat} runs) and "
          f"<= {1024 * args.callers / 1_000_000:.0f} MiB growth: "
          f"{'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
