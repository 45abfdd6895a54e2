"""Fitting callers to a log: the time to fit 48,000 gathers, and how well a fit forecasts another arm.

1. **Speed.** An A/B log of 48,000 gathers (two arms of 24,000: the shipped week's option sets, played by
   the shipped week's daytime callers) is fitted with ``CallerMix.fit(table, by="tag")`` and the
   defaults (one or two kinds as the log asks, 20 bootstrap refits). Wall time, best of ``--repeat``.
   The floor, same run: ``run_campaign`` making the same 48,000 gathers (the engine over the log once).
2. **Forecast.** Two arms that differ in the inter-digit timeout only (3 s and 8 s; 5 digits, ``#``, a
   prompt), 24,000 gathers each. Fit on one arm, forecast the other with ``run_campaign(other,
   callers=fitted, n=48_000)``, and compare the completed / timed-out / hung-up shares with what the
   other arm's callers did, both directions, for two kinds of callers: the caller model's default mix
   (four kinds) and callers of another family (Weibull and gamma timings, two populations, a hang-up
   hazard: ``other_callers`` in ``tests/test_fit.py``). The error is in percentage points.

Usage: python benchmarks/bench_fit.py [--gathers 48000] [--repeat 2] [--quick]
Targets: fitting 48,000 gathers <= 10 s; every forecast error <= 3 percentage points.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def week_arms(gathers: int) -> pd.DataFrame:
    """A gather table of two arms with the shipped week's options and daytime callers."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_outcome_log import DAY_CALLERS, OPTION_SETS

    from catapult_nb.campaign import run_campaign

    tables = [run_campaign(options, DAY_CALLERS, n=gathers // 2, seed=k, label=tag,
                           prompt_timing="estimate").table
              for k, (tag, options) in enumerate(OPTION_SETS.items())]
    return pd.concat(tables)


def shares(table: pd.DataFrame) -> pd.Series:
    reasons = table["reason"].value_counts(normalize=True)
    return pd.Series({"completed": reasons.get("max-digits", 0) + reasons.get("terminating-digit", 0),
                      "timed out": reasons.get("inter-digit-timeout", 0),
                      "hung up": reasons.get("hung-up", 0)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gathers", type=int, default=48_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="12,000 gathers, one run, one family")
    args = parser.parse_args()
    if args.quick:
        args.gathers, args.repeat = 12_000, 1

    from catapult_nb.campaign import DEFAULT_CALLERS, CallerMix, run_campaign
    from catapult_nb.options import GatherOptions, Prompt

    sys.path.insert(0, str(ROOT / "tests"))
    from test_fit import other_callers

    print(f"1. fitting {args.gathers:,} gathers (two arms, by='tag', defaults)")
    table = week_arms(args.gathers)
    floors, fits = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        week_arms(args.gathers)
        floors.append(time.perf_counter() - start)
        start = time.perf_counter()
        fitted = CallerMix.fit(table, by="tag", prompt_timing="estimate")
        fits.append(time.perf_counter() - start)
    print(f"   fit: best {min(fits):.2f} s, worst {max(fits):.2f} s "
          f"(kinds: {', '.join(f'{k} {m.details.model.kinds}' for k, m in fitted.items())})")
    print(f"   floor (run_campaign making the same gathers): best {min(floors):.2f} s; "
          f"ratio {min(fits) / min(floors):.1f}x; target <= 10 s for 48,000 gathers: "
          f"{('met' if min(fits) <= 10 else 'NOT met') if args.gathers == 48_000 else 'not this size'}")

    arm = GatherOptions(max_digits=5, inter_digit_timeout=3, terminating_digits="#",
                        prompt=Prompt(sentence="Please enter your 5 digit code"))
    arms = {"3 s": arm, "8 s": dataclasses.replace(arm, inter_digit_timeout=8)}
    per_arm = args.gathers // 2
    families = {
        "caller model (default mix)": lambda options, seed: run_campaign(
            options, DEFAULT_CALLERS, n=per_arm, seed=seed, prompt_timing="estimate").table,
        "another family": lambda options, seed: other_callers(options, per_arm, seed),
    }
    if args.quick:
        families.pop("caller model (default mix)")
    print(f"\n2. forecast of the other arm ({per_arm:,} gathers an arm; error in percentage points)")
    worst = 0.0
    for family, make in families.items():
        logs = {name: make(options, seed) for seed, (name, options) in enumerate(arms.items(), start=1)}
        for source, target in (("3 s", "8 s"), ("8 s", "3 s")):
            start = time.perf_counter()
            fitted = CallerMix.fit(logs[source], prompt_timing="estimate")
            took = time.perf_counter() - start
            forecast = run_campaign(arms[target], callers=fitted, n=2 * per_arm, seed=7,
                                    prompt_timing="estimate").forecast
            actual = shares(logs[target])
            error = 100 * (forecast["share"] - actual)
            worst = max(worst, float(error.abs().max()))
            cells = ", ".join(
                f"{name} {forecast.loc[name, 'share']:.1%} [{forecast.loc[name, 'low']:.1%}–"
                f"{forecast.loc[name, 'high']:.1%}] vs {actual[name]:.1%} ({error[name]:+.1f})"
                for name in actual.index)
            print(f"   {family}, fitted on {source} ({fitted.details.model.kinds} kinds, {took:.1f} s) "
                  f"-> {target}: {cells}")
    print(f"   worst error {worst:.1f} points; target <= 3: {'met' if worst <= 3 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
