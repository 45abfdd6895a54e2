"""Callers fitted to a log: :meth:`CallerMix.fit` and the :class:`FittedMix` it returns.

::

    fitted = CallerMix.fit(store)              # one option set in the log
    arms = CallerMix.fit(store, by="tag")      # one mix per arm of an A/B test
    fitted.report()                            # estimates with intervals, observed vs fitted
    run_campaign(other_options, callers=fitted, n=20_000, seed=1).forecast   # shares with intervals

The method (simulated likelihood on the gather engine, Fisher scoring, a one-step bootstrap) is
described in ``docs/fitting.md``; the likelihood itself lives in :mod:`catapult_nb.campaign.fit_model`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from catapult_nb import analysis
from catapult_nb.campaign.callers import CallerMix, check_float, check_int
from catapult_nb.campaign.fit_data import OptionSetData, read_groups
from catapult_nb.campaign.fit_model import (
    CONTINUOUS,
    PARAMETERS,
    PER_KIND,
    Model,
    RandomDraws,
    model_deviance,
)
from catapult_nb.campaign.fit_report import FitReport
from catapult_nb.campaign.plans import build_timelines, draw, play
from catapult_nb.engine import GatherSpec, Reason

__all__ = ["FitDetails", "FitReport", "FittedGroups", "FittedMix", "fit_callers", "forecast_shares"]

_TERM = analysis.REASONS.index(Reason.TERMINATING_DIGIT.value)
_MAX = analysis.REASONS.index(Reason.MAX_DIGITS.value)
_TIMEOUT = analysis.REASONS.index(Reason.INTER_DIGIT_TIMEOUT.value)
_HUNG = analysis.REASONS.index(Reason.HUNG_UP.value)
#: The shares a forecast gives an interval for, and the reasons each counts.
SHARES = {"completed": (_MAX, _TERM), "timed out": (_TIMEOUT,), "hung up": (_HUNG,)}
#: Replicate forecasts play at most this many callers each (their spread is the parameters' uncertainty).
REPLICATE_CALLERS = 20_000
#: A spread above this (log / logit units; the prior's is 2) says the data barely see a parameter: its 90 %
#: interval spans a factor of 7 or more.
_UNSURE = 0.6


@dataclass
class FitDetails:
    """How a mix was fitted: the data, the estimate and its bootstrap replicates."""

    group: str
    sets: list[OptionSetData]
    model: Model
    theta: np.ndarray
    replicates: np.ndarray  # (bootstrap, dim) refitted parameter vectors
    names: list[str]
    level: float
    prompt_timing: str
    notes: list[str] = field(default_factory=list)
    log_likelihood: dict[int, float] = field(default_factory=dict)  # per number of kinds tried
    #: the estimate on other simulated callers (:func:`simulation_spread`), the estimate first
    simulations: np.ndarray | None = None

    @property
    def n(self) -> int:
        return sum(s.n for s in self.sets)

    def mixes(self) -> list[CallerMix]:
        """The bootstrap replicates as caller mixes."""
        return [self.model.callers(theta, self.names) for theta in self.replicates]

    def estimates(self) -> pd.DataFrame:
        """One row per kind and parameter: estimate and interval (the estimate ± Student's t
        (:meth:`quantile`) times the refits' spread on the log / logit scale, back-transformed), and
        whether the data identify it."""
        z = self.quantile()
        spread = self.spread()
        unsure = self._unsure()
        rows: list[tuple[Any, ...]] = []
        kinds = self.model.kinds
        for k, name in enumerate(self.names):
            for i, parameter in enumerate(PARAMETERS):
                j = k * PER_KIND + i
                half = z[j] * spread[j]
                value, low, high = (_back(parameter, self.theta[j] + d * half) for d in (0, -1, 1))
                rows.append((name, parameter, value, low, high, (name, parameter) not in unsure))
            rows.append((name, "code_length", float(self.model.code_length), np.nan, np.nan, True))
        if kinds > 1:  # two kinds: the second's weight is a logit, the first's its complement
            j = kinds * PER_KIND
            slow = [_back("share", self.theta[j] + d * z[j] * spread[j]) for d in (0, -1, 1)]
            rows.append((self.names[0], "share", 1 - slow[0], 1 - slow[2], 1 - slow[1], True))
            rows.append((self.names[1], "share", *slow, True))
        frame = pd.DataFrame(rows, columns=["kind", "parameter", "estimate", "low", "high", "identified"])
        return frame.set_index(["kind", "parameter"])

    def quantile(self) -> np.ndarray:
        """Each parameter's multiple of its spread for the intervals: Student's t, its degrees of freedom
        those of the spread's two parts (Welch–Satterthwaite): the refits' sampling, with one fewer than
        there are refits, and the simulation's, with one fewer than there are estimates on fresh
        simulated callers. (With a normal quantile, 20 refits would cover 88 %, not 90 %, and a spread
        that is mostly the simulation's, measured three times, much less.)"""
        from scipy.stats import t as student  # loaded when an interval is asked for: it takes a moment

        total = self.spread() ** 2
        refits = len(self.replicates) - 1
        if self.simulations is None or len(self.simulations) < 2:
            df = np.full(len(total), float(refits))
        else:
            simulation = np.minimum(self.simulations.var(axis=0, ddof=1), total)
            sampling = total - simulation
            pieces = sampling**2 / refits + simulation**2 / (len(self.simulations) - 1)
            df = np.where(pieces > 0, total**2 / np.maximum(pieces, 1e-300), refits)
        return np.asarray(student.ppf(0.5 + self.level / 2, np.clip(df, 1.0, refits)), dtype=float)

    def spread(self) -> np.ndarray:
        """The standard deviation of each parameter (log / logit scale) across the bootstrap refits."""
        return np.asarray(self.replicates.std(axis=0, ddof=1))

    def _unsure(self) -> set[tuple[str, str]]:
        spread = self.spread()
        return {(name, parameter) for k, name in enumerate(self.names)
                for i, parameter in enumerate(PARAMETERS)
                if spread[k * PER_KIND + i] > _UNSURE}


@dataclass(frozen=True, eq=False, repr=False)
class FittedMix(CallerMix):
    """A :class:`CallerMix` fitted to a log: use it wherever a mix goes (``run_campaign(options,
    callers=fitted)``), and read how sure the fit is with :meth:`report` and :attr:`estimates`."""

    details: FitDetails  # how it was fitted: the log's cells, the estimate, the bootstrap refits

    @property
    def estimates(self) -> pd.DataFrame:
        """Each kind's parameters with an interval (see :meth:`FitDetails.estimates`)."""
        return self.details.estimates()

    @property
    def notes(self) -> list[str]:
        """What the data could not tell, and what was left out."""
        return list(self.details.notes)

    @property
    def replicates(self) -> list[CallerMix]:
        """The mixes refitted on bootstrap samples of the log (what forecast intervals are made of)."""
        return self.details.mixes()

    def report(self) -> FitReport:
        """Estimates with intervals, notes, and observed-vs-fitted plots (:class:`FitReport`)."""
        return FitReport({self.details.group: self})

    def __repr__(self) -> str:
        d = self.details
        est = d.estimates()
        shares = ", ".join(_share_text(est, name, self.shares[name]) for name in d.names)
        sets = "; ".join(s.label for s in d.sets)
        unsure = int((~est["identified"]).sum())
        lines = [f"CallerMix fitted to {d.n:,} gathers ({sets}): {shares}"]
        for name in d.names:
            row = est.loc[name]
            first, gap, hang, code = (cast(float, row.loc[p, "estimate"]) for p in (
                "first_key_median", "key_gap_median", "hang_up_rate", "code_length"))
            lines.append(
                f"  {name}: first key {first:.2f} s after the prompt, {gap:.2f} s between keys, "
                f"hangs up {hang:.1%}, code of {int(code)} digits"
            )
        if unsure:
            lines.append(f"  {unsure} quantities the data cannot pin down: see .report()")
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # the estimates and notes; the plots are the report's
        return str(self.report()._repr_html_(plots=False))


def _share_text(est: pd.DataFrame, name: str, share: float) -> str:
    if (name, "share") in est.index:
        low, high = est.loc[(name, "share"), ["low", "high"]].astype(float)
        return f"{name} {share:.0%} [{low:.0%}–{high:.0%}]"
    return f"{name} {share:.0%}"


class FittedGroups(dict):  # type: ignore[type-arg]
    """One :class:`FittedMix` per group (``CallerMix.fit(source, by=…)``), by the group's value."""

    def report(self) -> FitReport:
        """Every group's estimates and plots (:class:`FitReport`)."""
        return FitReport(dict(self))

    def __repr__(self) -> str:
        return "\n".join(f"{key}: {value!r}" for key, value in self.items())

    def _repr_html_(self) -> str:
        return self.report()._repr_html_()


def _back(parameter: str, value: float) -> float:
    if parameter in CONTINUOUS:
        return math.exp(value)
    return 1 / (1 + math.exp(-value))


def fit_callers(
    source: Any,
    by: str | None = None,
    *,
    kinds: int | None = None,
    pooled: bool = False,
    prompt_timing: str | None = None,
    prompt_seconds: float | str | Mapping[str, float] | None = None,
    bootstrap: int = 20,
    level: float = 0.9,
    simulated: int = 16_000,
    seed: int = 0,
) -> FittedMix | FittedGroups:
    """Fit a :class:`CallerMix` to finished gathers (what :meth:`CallerMix.fit` runs).

    :param source: an ``EventStore``, a ``Session``, a campaign result, a gather table
        (:func:`analysis.gather_table`), an events frame, or anything with ``to_dataframe()`` and
        ``gathers()``. The gathers need their options (the create requests) and, for durations, their
        ``createdTime``.
    :param by: a column of the gather table (e.g. ``"tag"``): fit one mix per value; returns a
        :class:`FittedGroups`.
    :param kinds: how many kinds of caller (1 or 2); None fits one kind, then two, and keeps two when the
        log says one kind does not fit (by BIC).
    :param pooled: the gathers of a group used several option sets and the same callers met them all (an
        A/B test): fit one mix to all of them. Without it, several option sets are an error.
    :param prompt_timing: how prompts are timed (``"audio"`` or ``"estimate"``); default: the session's,
        else ``"audio"`` (as campaigns do).
    :param prompt_seconds: the prompt's length in seconds, for every option set or per option set label,
        when the log's prompts played longer or shorter than the timing says (the report tells); ``"log"``
        reads each option set's from its time-outs without a key (they end one timeout after the prompt).
    :param bootstrap: bootstrap refits behind the intervals (and forecast intervals); at least 2.
    :param level: the intervals' coverage (0.5 … 0.99).
    :param simulated: simulated callers per option set and kind for each likelihood evaluation.
    :param seed: the seed of the simulation and of the bootstrap.
    :raises ValueError: for a log without options, too few gathers, one outcome only, several option sets
        without ``by=`` or ``pooled=True``; a bad parameter.
    """
    if kinds is not None:
        check_int("kinds", kinds, 1, 2)
    check_int("bootstrap", bootstrap, 2, 1000)
    check_float("level", level, low=0.5, high=0.99)
    check_int("simulated", simulated, 1600, 10_000_000)
    check_int("seed", seed, 0, None)
    groups, notes, timing = read_groups(source, by, prompt_timing, prompt_seconds, pooled)
    fitted = {
        name: _fit_group(name, sets, notes, timing, kinds, bootstrap, level, simulated, seed)
        for name, sets in groups.items()
    }
    if by is None:
        return fitted["all"]
    return FittedGroups(fitted)


def _code_length(sets: list[OptionSetData]) -> tuple[int, int, list[str]]:
    reasons = np.concatenate([s.reasons for s in sets])
    digits = np.concatenate([s.digit_counts for s in sets])
    completed = digits[(reasons == _TERM) | (reasons == _MAX)]
    notes = []
    if len(completed):
        length = int(np.bincount(completed).argmax())
    else:
        typed = digits[(reasons == _TIMEOUT) & (digits > 0)]
        length = int(np.bincount(typed).argmax()) if len(typed) else 1
        notes.append(f"no gather was completed: the code length ({length}) is read from time-outs, a guess")
    length = max(1, min(length, 30))
    terminated = digits[reasons == _TERM]
    above = terminated[terminated > length] - length
    extra = int(np.bincount(above).argmax()) if len(above) >= max(5, 0.01 * len(terminated)) else 2
    return length, max(1, min(extra, 30 - length)), notes


def _fit_group(name: str, sets: list[OptionSetData], common: list[str], timing: str, kinds: int | None,
               bootstrap: int, level: float, simulated: int, seed: int) -> FittedMix:
    length, extra, notes = _code_length(sets)
    longest = max(max(s.spec.max_digits for s in sets), int(max(s.digit_counts.max() for s in sets)))
    width = min(64, longest + 1)
    for data in sets:
        data.build_cells(width)
    draws = RandomDraws.make(simulated, length + extra + 1, seed)
    counts = [s.counts for s in sets]
    total = sum(s.n for s in sets)
    fixed = unseen(sets, length)
    one = Model(sets, 1, length, extra, draws, fixed)
    theta, curvature, value = _climb(one, counts)
    model, tried = one, {1: value}
    deviance = model_deviance(one, theta, counts)
    cells = sum(len(o) - 1 for o in counts)
    inflation = 1 + total / (simulated * len(sets))
    # one kind is enough when what it leaves unexplained is what chance and the simulation leave
    misfit = deviance / inflation > cells + 3 * math.sqrt(2 * cells)
    if kinds == 2 or (kinds is None and total >= 1000 and misfit):
        two = Model(sets, 2, length, extra, draws, fixed)
        theta2, curvature2, value2 = two.maximise(_start_two(two, theta, counts), counts)
        tried[2] = value2
        # BIC, with the likelihood's simulation noise discounted (it inflates the gain of more kinds)
        gain = 2 * (value2 - value) / inflation
        if kinds == 2 or gain > (two.dim - one.dim) * math.log(total):
            model, theta, curvature = two, theta2, curvature2
    theta, curvature, names = _ordered(model, theta, curvature)
    jac = model.jacobian(theta, model.all_cells(theta))
    rng = np.random.default_rng(seed + 1)
    steps = []
    for _ in range(bootstrap):
        resampled = [rng.multinomial(round(o.sum()), o / o.sum()).astype(float) for o in counts]
        shift = rng.standard_normal(model.dim) * model.prior_sd
        steps.append(model.one_step(theta, curvature, jac, counts, resampled, shift))
    starts = np.where(model.free, np.array(steps), theta)  # what the log cannot show stays put
    simulations = simulation_spread(model, theta, counts, seed, starts)
    # each refit moves by the log's sampling (one step on resampled counts) plus the simulation's noise
    # (the fresh estimates' deviations in turn, with a random sign, scaled to their variance)
    noise = np.zeros_like(simulations)
    if len(simulations) > 1:
        scale = math.sqrt(len(simulations) / (len(simulations) - 1))  # deviations from their own mean
        noise = (simulations - simulations.mean(axis=0)) * scale
    replicates = [step + rng.choice((-1.0, 1.0)) * noise[b % len(noise)] for b, step in enumerate(steps)]
    details = FitDetails(name, sets, model, theta, np.array(replicates), names, level, timing,
                         [*common, *notes], tried, simulations=simulations)
    details.notes.extend(_identification_notes(details))
    mix_ = model.callers(theta, names)
    return FittedMix(mix_.parts, details)


#: Where the scoring may start: waits for the first key and gaps between keys (seconds). The likelihood
#: can have more than one hill (a slow first key and quick typing against the reverse), so the best of
#: these on the log is climbed.
START_FIRST_KEY = (0.5, 1.5, 4.0)
START_KEY_GAP = (0.3, 0.7, 1.6)
HILLS = 3  # starts climbed a little way
SHORT_CLIMB = 3  # scoring steps up each of them before the highest is climbed to the top


#: Estimates on fresh simulated callers (other random numbers) that measure the simulation's noise, and
#: the scoring steps each climbs from the estimate.
NOISE_REFITS = 2
NOISE_CLIMB = 3


def simulation_spread(model: Model, theta: np.ndarray, counts: list[np.ndarray], seed: int,
                      starts: np.ndarray, refits: int = NOISE_REFITS) -> np.ndarray:
    """The estimate as other simulated callers would have made it: ``theta``, and ``refits`` more, each
    climbed on fresh random numbers (the same log) from one of ``starts`` (bootstrap refits: a climb
    from elsewhere, as the fit's own climb came from its starting grid). Their spread is the
    simulation's noise in the estimate, measured rather than assumed: in theory gathers / simulated
    callers times the log's own variance, but where the simulated likelihood is rough (along a ridge, or
    where simulated callers cross a timeout one whole caller at a time) where a climb stops depends on
    the random numbers and on where it came from, and the spread is larger.

    :returns: (refits + 1, dim) parameter vectors, ``theta`` first.
    """
    size, width = len(model.draws.z_first), model.draws.z_gaps.shape[1] + 1
    fixed = frozenset(p for p, free in zip(PARAMETERS, model.free[:PER_KIND], strict=True) if not free)
    out = [theta]
    for r in range(refits):
        fresh = Model(model.sets, model.kinds, model.code_length, model.extra_keys,
                      RandomDraws.make(size, width, seed + 7919 * (r + 1)), fixed)
        refit, _, _ = fresh.maximise(starts[r % len(starts)].copy(), counts, iterations=NOISE_CLIMB,
                                     central_from=0, final_curvature=False)
        out.append(refit)
    return np.array(out)


def _climb(model: Model, counts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """The highest hill: a short climb from each of the :data:`HILLS` best starting timings, then the
    rest of the way from the highest of them."""
    model.allocate(model.prior)
    starts = []
    for first in START_FIRST_KEY:
        for gap in START_KEY_GAP:
            theta = model.prior.copy()
            theta[CONTINUOUS.index("first_key_median")] = math.log(first)
            theta[CONTINUOUS.index("key_gap_median")] = math.log(gap)
            value = model.log_likelihood(model.probabilities(theta, model.all_cells(theta)), counts)
            starts.append((value, theta))
    starts.sort(key=lambda item: -item[0])
    climbed = []
    for _, theta in starts[:HILLS]:
        model.allocate(model.prior)
        climbed.append(model.maximise(theta, counts, iterations=SHORT_CLIMB, central_from=SHORT_CLIMB))
    best = max(climbed, key=lambda item: item[2])
    return model.maximise(best[0], counts)


def _start_two(model: Model, one: np.ndarray, counts: list[np.ndarray]) -> np.ndarray:
    """The best start for two kinds: the one-kind fit split in two, or any two of the starting timings
    in one of a few proportions, with the one-kind fit's other parameters or the typical caller's (a
    single kind may have bent them to stand in for two: many barging in, say)."""
    first, gap = CONTINUOUS.index("first_key_median"), CONTINUOUS.index("key_gap_median")
    typical = model.prior[:PER_KIND].copy()
    hang = PARAMETERS.index("hang_up_rate")
    typical[hang] = one[hang]  # the hang-up rate is plain in any log
    candidates = [np.concatenate([one + _shift(-0.35), one + _shift(0.7), [math.log(0.3 / 0.7)]])]
    timings = [(math.log(f), math.log(g)) for f in START_FIRST_KEY for g in START_KEY_GAP]
    for base in (one, typical):
        for a, b in itertools.combinations(timings, 2):
            quick, slow = base.copy(), base.copy()
            quick[first], quick[gap] = a
            slow[first], slow[gap] = b
            for weight in (0.2, 0.5):
                candidates.append(np.concatenate([quick, slow, [math.log(weight / (1 - weight))]]))
    model.allocate(candidates[0])
    values = [model.log_likelihood(model.probabilities(c, model.all_cells(c)), counts) for c in candidates]
    return candidates[int(np.argmax(values))]


def _shift(size: float) -> np.ndarray:
    move = np.zeros(PER_KIND)
    move[CONTINUOUS.index("first_key_median")] = size
    move[CONTINUOUS.index("key_gap_median")] = size
    return move


def _ordered(model: Model, theta: np.ndarray, curvature: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Name the kinds; with two, the quicker one first (its blocks swapped, the weight's sign flipped)."""
    if model.kinds == 1:
        return theta, curvature, ["callers"]
    timing, _, _ = model.unpack(theta)
    pace = np.exp(timing[:, 0]) + model.code_length * np.exp(timing[:, 2])
    if pace[0] <= pace[1]:
        return theta, curvature, ["quick", "slow"]
    swap = np.zeros((model.dim, model.dim))
    order = [*range(PER_KIND, 2 * PER_KIND), *range(PER_KIND)]
    swap[np.arange(2 * PER_KIND), order] = 1.0
    swap[-1, -1] = -1.0
    return swap @ theta, swap @ curvature @ swap.T, ["quick", "slow"]


def unseen(sets: list[OptionSetData], length: int) -> frozenset[str]:
    """The yes/no rates these option sets cannot show at all, whatever the callers do."""
    out = set()
    if not any(length < s.spec.max_digits and s.spec.terminating_digits for s in sets):
        out.add("terminator_rate")  # maxDigits is reached first
    if not any(length < s.spec.max_digits for s in sets):
        out.add("extra_keys_rate")  # the gather ends at the code's last key
    if not any(s.spec.prompt_seconds > 0 for s in sets):
        out.add("barge_in")  # nothing to barge into
    return frozenset(out)


def _identification_notes(d: FitDetails) -> list[str]:
    notes = []
    sets, length = d.sets, d.model.code_length
    reasons = np.concatenate([s.reasons for s in sets])
    digits = np.concatenate([s.digit_counts for s in sets])
    said: set[str] = set()
    if not any(length < s.spec.max_digits and s.spec.terminating_digits for s in sets):
        maxima = sorted({s.spec.max_digits for s in sets})
        notes.append(
            f"terminator_rate: every caller reached maxDigits ({', '.join(map(str, maxima))}) with a code of "
            f"{length} digits before a terminating key could count, so the log cannot tell how many would "
            "press it; a forecast with a larger maxDigits guesses it (the typical caller's 40 %)"
        )
        said.add("terminator_rate")
    if not any(length < s.spec.max_digits for s in sets):
        notes.append("extra_keys_rate: no caller could press keys past the code before the gather ended, so "
                     "the log says nothing about extra keys")
        said.add("extra_keys_rate")
    if not any(s.spec.prompt_seconds > 0 for s in sets):
        notes.append("barge_in: no gather played a prompt, so barging in cannot be seen")
        said.add("barge_in")
    hung = int((reasons == _HUNG).sum())
    if hung == 0:
        notes.append("hang_up_rate: no gather was hung up; the rate is only bounded by its interval")
        said.add("hang_up_rate")
    between = int(((reasons == _TIMEOUT) & (digits > 0)).sum())
    if between < 20:
        notes.append(f"key_gap_sigma: only {between} gathers timed out between keys, so the slow tail of the "
                     "gaps between keys is a guess (a forecast with a longer inter-digit timeout leans "
                     "on it)")
        said.add("key_gap_sigma")
    before = int(((reasons == _TIMEOUT) & (digits == 0)).sum())
    if before < 20:
        notes.append(f"first_key_sigma: only {before} gathers timed out before the first key, so the slow "
                     "tail of the wait for the first key is a guess")
        said.add("first_key_sigma")
    for s in sets:
        if s.durations is None:
            notes.append(f"{s.label}: the log has no creation times, so no durations; timing is read "
                         "from the outcomes alone")
            continue
        idle = s.durations[(s.reasons == _TIMEOUT) & (s.digit_counts == 0)]
        expected = s.spec.prompt_seconds + s.spec.inter_digit_timeout
        if len(idle) >= 5 and abs(float(np.median(idle)) - expected) > 0.1:
            seen = float(np.median(idle))
            notes.append(
                f"{s.label}: time-outs without a key end {seen:.2f} s after creation, but the prompt timing "
                f"({d.prompt_timing}) gives {expected:.2f} s: the log's prompt plays about "
                f"{seen - s.spec.inter_digit_timeout:.2f} s; fit with prompt_seconds='log' to use the log's "
                "(and forecast with the same prompt timing)"
            )
    for kind, parameter in sorted(d._unsure()):
        if parameter not in said:
            notes.append(f"{parameter} of {kind}: the data say little about it (its interval is wide)")
    return notes


def forecast_shares(spec: GatherSpec, fitted: FittedMix, n: int, seed: int, level: float | None = None,
                    point: np.ndarray | None = None) -> pd.DataFrame:
    """Completed, timed-out and hung-up shares of ``n`` fitted callers on ``spec``, with intervals.

    Each bootstrap replicate of the fit plays the same callers (same seed); the interval is Student's,
    with the replicates' spread plus the sampling noise of ``n`` callers, and the degrees of freedom of
    that sum (Welch–Satterthwaite: the spread's are one fewer than the replicates, the noise is known).

    :param point: the reasons (index into :data:`analysis.REASONS`) of the run with the fitted mix itself.
    :returns: rows ``completed``, ``timed out``, ``hung up``; columns ``share``, ``low``, ``high``.
    """
    details = fitted.details
    from scipy.stats import t as student

    level = details.level if level is None else level
    size = min(n, REPLICATE_CALLERS)

    def shares(callers: CallerMix, count: int) -> np.ndarray:
        lines = build_timelines(draw(callers, count, seed), spec, 0.0)
        reasons = play(spec, lines)[0]
        return np.array([np.isin(reasons, codes).mean() for codes in SHARES.values()])

    main = shares(fitted, n) if point is None else np.array(
        [np.isin(point, codes).mean() for codes in SHARES.values()])
    spread = np.array([shares(mix_, size) for mix_ in details.mixes()]).std(axis=0, ddof=1)
    noise = np.sqrt(main * (1 - main) / n)
    total = spread**2 + noise**2
    refits = len(details.replicates) - 1
    with np.errstate(divide="ignore", invalid="ignore"):  # no spread: the noise alone, a normal interval
        df = np.where(spread > 0, total**2 / (spread**4 / refits), np.inf)
    half = np.asarray(student.ppf(0.5 + level / 2, np.maximum(df, 1.0)), dtype=float) * np.sqrt(total)
    return pd.DataFrame(
        {"share": main, "low": np.clip(main - half, 0, 1), "high": np.clip(main + half, 0, 1)},
        index=pd.Index(list(SHARES), name="outcome"))
