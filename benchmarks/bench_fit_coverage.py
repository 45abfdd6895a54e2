"""How often the fit's intervals cover the parameters of callers whose parameters are known.

Logs are made by the caller model itself (``run_campaign`` with one known ``Caller``), for several sets of
true parameters and both arms of the forecast benchmark (5 digits, ``#``, a prompt; inter-digit timeout
3 s or 8 s). Each log is fitted with one kind (``CallerMix.fit(log, kinds=1)``) and each of six identified
parameters (the waits' and gaps' medians and spreads, barging in, hanging up) is a case: covered or not by
its interval (90 % by default). A log's timing parameters err together (along a ridge of the
likelihood), so the cases are not independent: the script measures how much more than a binomial count
the covered cases of a log vary (the design effect) and prints the 95 % range of what the coverage could
be by chance with the intervals right, and, with ``--test-threshold``, how often a run of the size of
``tests/test_fit.py``'s recovery test would cover fewer cases (its logs drawn from this run's).

Besides the coverage the script prints, per parameter, the mean and the spread of the z-scores (estimate
minus truth over the refits' spread on the log / logit scale): a spread above 1 says the
intervals are too narrow, a mean away from 0 that the estimate is biased. ``--reseed`` also fits every log
a second time with other simulated callers, and prints how much of the estimates' error is the
simulation's (half the variance of the two fits' difference).

Usage: python benchmarks/bench_fit_coverage.py [--logs 10] [--gathers 8000] [--bootstrap 20]
       [--simulated 16000] [--quick] [--reseed] [--detail] [--test-logs 36 --test-threshold 180]
(the recovery test's sizes: --gathers 4000 --simulated 8000 --bootstrap 12 --logs 12)
Target: coverage near the nominal level (at least 87 % of at least 60 cases at 90 %).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np

#: The six parameters every log here identifies (the terminator and extra-key rates are invisible with
#: maxDigits equal to the code's length).
CHECKED = ("first_key_median", "first_key_sigma", "key_gap_median", "key_gap_sigma", "barge_in",
           "hang_up_rate")


def truths() -> dict[str, object]:
    from catapult_nb.campaign import Caller

    return {
        "steady": Caller.typical(first_key_median=2.0, key_gap_median=0.8, hang_up_rate=0.05),
        "quick": Caller.typical(first_key_median=1.0, first_key_sigma=0.8, key_gap_median=0.45,
                                key_gap_sigma=0.3, barge_in=0.2, hang_up_rate=0.02),
        "slow": Caller.typical(first_key_median=3.5, first_key_sigma=0.4, key_gap_median=1.3,
                               key_gap_sigma=0.6, barge_in=0.05, hang_up_rate=0.1),
    }


def scaled(parameter: str, value: float) -> float:
    """A parameter on the scale the fit uses: log for timings, logit for rates."""
    if parameter.endswith(("median", "sigma")):
        return math.log(value)
    return math.log(value / (1 - value))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=10, help="logs per true parameter set and arm")
    parser.add_argument("--gathers", type=int, default=8000)
    parser.add_argument("--bootstrap", type=int, default=20)
    parser.add_argument("--simulated", type=int, default=16_000)
    parser.add_argument("--level", type=float, default=0.9)
    parser.add_argument("--reseed", action="store_true", help="fit each log twice (simulation noise)")
    parser.add_argument("--arms", default="3 s,8 s", help="comma-separated: 3 s,8 s")
    parser.add_argument("--test-logs", type=int, default=36, help="logs of the test's run (see below)")
    parser.add_argument("--test-threshold", type=int, default=0,
                        help="print the chance that a run of --test-logs logs covers fewer cases than this")
    parser.add_argument("--quick", action="store_true", help="3 logs per parameter set and arm (108 cases)")
    parser.add_argument("--detail", action="store_true", help="print every log's z-scores")
    parser.add_argument("--truths", default=",".join(truths()), help="comma-separated: steady,quick,slow")
    args = parser.parse_args()
    if args.quick:
        args.logs = 3

    from catapult_nb.campaign import CallerMix, run_campaign
    from catapult_nb.campaign.fit_model import PARAMETERS
    from catapult_nb.options import GatherOptions, Prompt

    arm = GatherOptions(max_digits=5, inter_digit_timeout=3, terminating_digits="#",
                        prompt=Prompt(sentence="Please enter your 5 digit code"))
    arms = {"3 s": arm, "8 s": dataclasses.replace(arm, inter_digit_timeout=8)}
    arms = {a: arms[a] for a in args.arms.split(",")}
    options = {"kinds": 1, "bootstrap": args.bootstrap, "simulated": args.simulated, "level": args.level,
               "prompt_timing": "estimate"}
    print(f"{args.logs} logs of {args.gathers:,} gathers per true parameter set and arm; "
          f"{args.bootstrap} refits, {args.simulated:,} simulated callers, {args.level:.0%} intervals")
    rows = []  # (truth, arm, parameter, z, covered, simulation difference)
    fit_times = []
    for t_name in args.truths.split(","):
        truth = truths()[t_name]
        for a_name, gather_options in arms.items():
            for k in range(args.logs):
                seed = 1000 * len(rows) + k
                log = run_campaign(gather_options, truth, n=args.gathers, seed=seed,
                                   prompt_timing="estimate").table
                start = time.perf_counter()
                fitted = CallerMix.fit(log, seed=k, **options)
                fit_times.append(time.perf_counter() - start)
                d = fitted.details
                estimates = fitted.estimates.loc["callers"]
                again = CallerMix.fit(log, seed=k + 500, **options).details.theta if args.reseed else None
                for name in CHECKED:
                    j = PARAMETERS.index(name)
                    true = scaled(name, getattr(truth, name))
                    sd = d.spread()[j]
                    z = (d.theta[j] - true) / sd
                    row = estimates.loc[name]
                    covered = bool(row["low"] <= getattr(truth, name) <= row["high"])
                    diff = (d.theta[j] - again[j]) / sd if again is not None else math.nan
                    simulations = getattr(d, "simulations", None)  # estimates on fresh simulated callers
                    measured = 0.0 if simulations is None else float(simulations[:, j].var(ddof=1)) / sd**2
                    rows.append((t_name, a_name, name, z, covered, diff, measured))
                if args.detail:
                    print(f"    log {k}: z " + " ".join(f"{r[3]:+.1f}" for r in rows[-len(CHECKED):]))
            done = [r for r in rows if r[0] == t_name and r[1] == a_name]
            print(f"  {t_name:>6}, {a_name}: {sum(r[4] for r in done)}/{len(done)} covered")
    cases = len(rows)
    covered = sum(r[4] for r in rows)
    rate = covered / cases
    per_log = np.array([sum(r[4] for r in rows[i: i + len(CHECKED)]) for i in range(0, cases, len(CHECKED))])
    binomial = len(CHECKED) * rate * (1 - rate)
    design = per_log.var(ddof=1) / binomial if binomial > 0 else 1.0
    sd = math.sqrt(args.level * (1 - args.level) * max(design, 1.0) / cases)
    print(f"\ncoverage: {covered}/{cases} = {rate:.1%} (nominal {args.level:.0%}; by chance alone "
          f"{max(0.0, args.level - 1.96 * sd):.1%}–{min(1.0, args.level + 1.96 * sd):.1%}, "
          "with the design effect below)")
    print(f"fit time per log: median {np.median(fit_times):.2f} s")
    print(f"covered per log (of {len(CHECKED)}): variance {per_log.var(ddof=1):.2f}, "
          f"a binomial's {binomial:.2f} "
          f"(the cases of a log are not independent: design effect {design:.1f})")
    if args.test_threshold:
        # a run of the test's size drawn from this run's logs (the logs are independent, their cases not)
        rng = np.random.default_rng(0)
        runs = rng.choice(per_log, size=(20_000, args.test_logs)).sum(axis=1)
        print(f"a run of {args.test_logs} logs ({args.test_logs * len(CHECKED)} cases): "
              f"{runs.mean():.1f} covered on average; fewer than {args.test_threshold} in "
              f"{np.mean(runs < args.test_threshold):.1%} of runs")
    print("\nz = (estimate - truth) / the refits' spread, per parameter: mean, sd, coverage"
          + (", simulation's share of the variance" if args.reseed else ""))
    for name in CHECKED:
        z = np.array([r[3] for r in rows if r[2] == name])
        cov = np.mean([r[4] for r in rows if r[2] == name])
        measured = np.mean([r[6] for r in rows if r[2] == name])
        line = (f"  {name:>17}: mean {z.mean():+.2f}, sd {z.std(ddof=1):.2f}, covered {cov:.0%}, "
                f"simulation's share of the spread {measured:.0%}")
        if args.reseed:
            diff = np.array([r[5] for r in rows if r[2] == name])
            share = np.var(diff, ddof=1) / 2 / np.var(z, ddof=1)
            line += f", of the error's variance (refitted from scratch) {share:.0%}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
