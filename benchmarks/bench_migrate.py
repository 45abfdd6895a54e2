"""The same 100,000 synthetic callers through v1 and v2: the port that keeps behaviour, the naive port, and
the single-dialect campaigns beside them as the floor, all in the same run.

For a gather (the seed example) and for the shipped flow (:func:`catapult_nb.flows.examples.account_code`),
:func:`catapult_nb.migrate.compare` plays every caller through v1 and through v2: the kept port
(:func:`~catapult_nb.migrate.gather` / :func:`~catapult_nb.migrate.flow`) must change nobody, the naive port
(v2's defaults for what v1 left unset) must show at least one class of change. Random v1 option sets are
compared through their kept port too (``--option-sets``, each with ``--n`` callers). The floor is the
single-dialect campaign of as many callers on the same engine (:func:`catapult_nb.campaign.run_campaign`,
:func:`catapult_nb.flows.run_campaign`): a comparison plays both dialects, so about twice that is the
least it can take. Figures are the best of ``--repeat`` runs, all in this process.

Usage: python benchmarks/bench_migrate.py [--n 100000] [--repeat 3] [--option-sets 20]
Targets: 0 changed callers of 100,000 for the kept port of the shipped flow and of random option sets;
at least one class of change for the naive port of the seed gather; 100,000 callers compared in <= 5 s.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from catapult_nb import migrate
from catapult_nb.campaign import run_campaign as run_gather_campaign
from catapult_nb.flows import run_campaign as run_flow_campaign
from catapult_nb.flows.examples import account_code
from catapult_nb.options import DTMF_KEYS, GatherOptions, Prompt

SEED = {"maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7",
        "prompt": {"sentence": "Please enter your 5 digit code"}}


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        del result
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def random_options(rng: np.random.Generator) -> GatherOptions:
    """A v1 gather with each option set or left to v1's default at random."""
    def maybe(value: Any) -> Any:
        return value if rng.random() < 0.6 else None

    keys = "".join(rng.choice(list(DTMF_KEYS), size=int(rng.integers(1, 4))))
    sentences = ["Hi", "Please enter your 5 digit code", "Your account number, then pound"]
    sentence = maybe(str(rng.choice(sentences)))
    return GatherOptions(
        max_digits=maybe(int(rng.integers(1, 31))), terminating_digits=maybe(keys),
        inter_digit_timeout=maybe(float(rng.choice([1, 1.5, 2, 3, 5, 7, 10, 30]))),
        prompt=Prompt(sentence=sentence, loop_enabled=maybe(True)) if sentence else None,
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--option-sets", type=int, default=20)
    args = parser.parse_args()
    n, flow = args.n, account_code()
    kept_gather, kept_flow = migrate.gather(SEED), migrate.flow(flow)
    migrate.compare(SEED, n=100, seed=1)  # imports and caches warm
    migrate.compare(flow, kept_flow, n=100, seed=1)
    scale = n / 100_000

    single_s, _ = best(args.repeat, lambda: run_gather_campaign(SEED, n=n, seed=1))
    naive_s, naive = best(args.repeat, lambda: migrate.compare(SEED, n=n, seed=1))
    kept_s, kept = best(args.repeat, lambda: migrate.compare(SEED, kept_gather, n=n, seed=1))
    print(f"the seed gather, {n:,} callers, best of {args.repeat}:")
    print(f"  floor: a single-dialect campaign of as many callers: {single_s:.2f} s")
    print(f"  kept port: {len(kept.changed):,} changed, compared in {kept_s:.2f} s "
          f"({kept_s / single_s:.1f}x the floor) (target 0 changed: {verdict(kept.changed.empty)}; "
          f"<= 5 s: {verdict(kept_s <= 5 * scale)})")
    print(f"  naive port: {len(naive.changed):,} changed in {len(naive.summary())} classes, compared in "
          f"{naive_s:.2f} s (target >= 1 class: {verdict(len(naive.summary()) >= 1)}; "
          f"<= 5 s: {verdict(naive_s <= 5 * scale)})")
    for why, row in naive.summary().iterrows():
        print(f"    {int(row.callers):>7,}  {why}")

    flow_s, _ = best(args.repeat, lambda: run_flow_campaign(flow, n=n, seed=1, progress=False))
    kept_flow_s, kept_f = best(args.repeat, lambda: migrate.compare(flow, kept_flow, n=n, seed=1))
    naive_flow_s, naive_f = best(args.repeat, lambda: migrate.compare(flow, n=n, seed=1))
    print(f"the shipped flow {flow.name!r}, {n:,} callers, best of {args.repeat}:")
    print(f"  floor: a single-dialect flow campaign of as many callers: {flow_s:.2f} s")
    print(f"  kept port: {len(kept_f.changed):,} changed, compared in {kept_flow_s:.2f} s "
          f"({kept_flow_s / flow_s:.1f}x the floor) (target 0 changed: {verdict(kept_f.changed.empty)}; "
          f"<= 5 s: {verdict(kept_flow_s <= 5 * scale)})")
    print(f"  naive port: {len(naive_f.changed):,} changed, compared in {naive_flow_s:.2f} s")
    for why, row in naive_f.summary().iterrows():
        print(f"    {int(row.callers):>7,}  {why}")

    rng = np.random.default_rng(7)
    changed, slowest = 0, 0.0
    for k in range(args.option_sets):
        options = random_options(rng)
        start = time.perf_counter()
        result = migrate.compare(options, migrate.gather(options), n=n, seed=k)
        slowest = max(slowest, time.perf_counter() - start)
        changed += len(result.changed)
    print(f"{args.option_sets} random option sets through their kept port, {n:,} callers each: {changed:,} "
          f"changed (target 0: {verdict(changed == 0)}); slowest comparison {slowest:.2f} s")


if __name__ == "__main__":
    main()
