"""Finding a flow's test cases (``flow.test_cases()``) for chains of 10, 100 and 1,000 Asks.

A chain of n Asks (each taking 1 to the next) has about 4n edges to cover, and its cases hold about 2n²
moves in all (a hang-up at step k needs a case of k moves): the output itself grows with n², so the
floor, measured in the same run, is building tuples of as many moves. The figure beside it is the search
(states, the ways to the end, the cases), and the peak memory of the cases (tracemalloc, in a second run).

Usage: python benchmarks/bench_flow_cases.py [--steps 10 100 1000]
Target: the search within a few times its floor at every size (it was a search from every state: 100
steps took 10 s, 300 over 120 s).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from catapult_nb.flows import Ask, Flow, Say


def chain(n: int) -> Flow:
    nxt = [f"s{i}" for i in range(1, n)] + ["bye"]
    steps = {f"s{i}": Ask(f"Step {i}: press 1.", routes={"1": nxt[i]}, max_digits=1) for i in range(n)}
    return Flow({**steps, "bye": Say("Bye.")}, name=f"chain of {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    print(f"{'steps':>6} {'build s':>8} {'cases':>6} {'moves':>10} {'search s':>9} {'floor s':>8} "
          f"{'x floor':>8} {'peak MB':>8}")
    for n in args.steps:
        started = time.perf_counter()
        flow = chain(n)
        built = time.perf_counter() - started
        started = time.perf_counter()
        cases = flow.test_cases(progress=False)
        search = time.perf_counter() - started
        moves = [move for case in cases for move in case.moves]
        started = time.perf_counter()  # the floor: as many moves, built into tuples per case
        for case in cases:
            tuple((m.step, m.keys, m.edge) for m in case.moves)
        floor = time.perf_counter() - started
        tracemalloc.start()
        flow.test_cases(progress=False)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        print(f"{n:>6} {built:>8.3f} {len(cases):>6} {len(moves):>10,} {search:>9.3f} {floor:>8.3f} "
              f"{search / max(floor, 1e-9):>8.1f} {peak:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
