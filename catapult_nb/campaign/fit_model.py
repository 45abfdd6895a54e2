"""The caller model's likelihood of a log, simulated on the vectorised gather engine, and its maximum.

For each kind of caller the four yes/no traits (barges in, presses the terminating key, presses extra
keys, hangs up) split the callers into 16 groups; each group is played through
:func:`catapult_nb.engine_vectorised.play` with the same random numbers every time (common random
numbers), so the simulated share of each cell of the log changes smoothly with the timing parameters.
The yes/no rates and the kinds' weights enter the cell probabilities exactly (a polynomial in them), so
their derivatives are exact. The log-likelihood of the observed cell counts is maximised by Fisher
scoring (Gauss–Newton on the multinomial likelihood, with the timing derivatives by finite differences),
under a weak prior that keeps what the data cannot see at the typical caller's values. See
``docs/fitting.md``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from catapult_nb import analysis
from catapult_nb import engine_vectorised as vectorised
from catapult_nb.campaign.callers import Caller, CallerMix
from catapult_nb.campaign.fit_data import OptionSetData

__all__ = ["CONTINUOUS", "PARAMETERS", "RATES", "Model", "RandomDraws", "model_deviance"]

#: Timing parameters (fitted on the log scale) and yes/no rates (on the logit scale) of each kind.
CONTINUOUS = ("first_key_median", "first_key_sigma", "key_gap_median", "key_gap_sigma")
RATES = ("barge_in", "terminator_rate", "extra_keys_rate", "hang_up_rate")
PARAMETERS = CONTINUOUS + RATES
PER_KIND = len(PARAMETERS)
#: The prior's centre (the typical caller) and its spread, in log / logit units.
PRIOR_CENTRE = Caller.typical(extra_keys_rate=0.02, hang_up_rate=0.02)
PRIOR_SD = 2.0
#: The spreads' prior is narrower: a lognormal spread of 0.1 … 2.2 (two prior deviations) covers how
#: people wait and type, and a log that cuts the slow tail off (short timeouts) cannot tell it otherwise.
PRIOR_SD_SPREAD = 0.75
#: The fewest simulated callers of a yes/no group, however rare it is.
MIN_GROUP = 64
#: A bootstrap step that lowers its own counts' log-likelihood by more than this (well beyond the
#: simulation's noise) overshot where the likelihood is no parabola: it is shortened.
OVERSHOOT = 3.0
REALLOCATE = (2, 4)  # scoring iterations that share the simulated callers anew (then fixed: CRN)
# The timing parameters' derivatives are central differences over ±_STEP (log units): wide, because the
# simulated shares move by whole callers and a difference's noise falls with its width; central, because
# along a ridge (a slow first key and quick typing against the reverse) the derivatives nearly cancel and
# a one-sided difference's error does not.
_STEP = 0.1
_SIGMA = (0.02, 3.0)  # a lognormal spread the Caller accepts
_RATE = 1e-4  # rates stay this far from 0 and 1 (logit finite)
COMBOS = np.array(list(itertools.product((0, 1), repeat=len(RATES))), dtype=float)  # (16, 4)
_TO_TABLE = np.array([analysis.REASONS.index(r.value) for r in vectorised.REASONS], dtype=np.int64)


@dataclass(frozen=True)
class RandomDraws:
    """The random numbers every simulated caller group reuses (common random numbers)."""

    z_first: np.ndarray  # (n,) standard normal: the wait before the first key
    z_gaps: np.ndarray  # (n, width-1) standard normal: the gaps between keys
    barge_at: np.ndarray  # (n,) uniform: where in the prompt a barging caller presses
    hang_at: np.ndarray  # (n,) uniform: where before the last key a quitter hangs up

    @classmethod
    def make(cls, n: int, width: int, seed: int) -> RandomDraws:
        rng = np.random.default_rng(seed)
        return cls(rng.standard_normal(n), rng.standard_normal((n, max(width - 1, 1))),
                   rng.random(n), rng.random(n))


def _logit(p: float) -> float:
    p = min(max(p, _RATE), 1 - _RATE)
    return math.log(p / (1 - p))


def prior_vector(kinds: int) -> np.ndarray:
    c = PRIOR_CENTRE
    one = [math.log(c.first_key_median), math.log(c.first_key_sigma), math.log(c.key_gap_median),
           math.log(c.key_gap_sigma), *(_logit(getattr(c, r)) for r in RATES)]
    return np.array(one * kinds + [0.0] * (kinds - 1))


class Model:
    """The simulated cell probabilities of a mix of ``kinds`` kinds for some option sets."""

    def __init__(self, sets: list[OptionSetData], kinds: int, code_length: int, extra_keys: int,
                 draws: RandomDraws, fixed: frozenset[str] = frozenset()) -> None:
        self.sets = sets
        self.kinds = kinds
        self.code_length = code_length
        self.extra_keys = extra_keys
        self.draws = draws
        self.dim = kinds * PER_KIND + kinds - 1
        self.prior = prior_vector(kinds)
        spread = [PRIOR_SD_SPREAD if p.endswith("sigma") else PRIOR_SD for p in PARAMETERS]
        self.prior_sd = np.array(spread * kinds + [PRIOR_SD] * (kinds - 1))
        #: parameters the log cannot show at all (see :func:`unseen`) stay at the prior's centre
        self.free = np.array([p not in fixed for _ in range(kinds) for p in PARAMETERS]
                             + [True] * (kinds - 1))
        self._cache: dict[tuple[float, ...], list[np.ndarray]] = {}
        self.allocation: np.ndarray | None = None  # (kinds, 16) simulated callers per yes/no group

    # -- parameters -------------------------------------------------------------------------------

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Timing parameters (kinds, 4) on the log scale, rates (kinds, 4), weights (kinds,)."""
        per = theta[: self.kinds * PER_KIND].reshape(self.kinds, PER_KIND)
        rates = 1 / (1 + np.exp(-per[:, len(CONTINUOUS):]))
        rates = np.clip(rates, _RATE, 1 - _RATE)
        eta = np.concatenate([[0.0], theta[self.kinds * PER_KIND:]])
        weights = np.exp(eta - eta.max())
        return per[:, : len(CONTINUOUS)], rates, weights / weights.sum()

    def callers(self, theta: np.ndarray, names: list[str]) -> CallerMix:
        """The :class:`CallerMix` of a parameter vector."""
        timing, rates, weights = self.unpack(theta)
        parts = []
        for k in range(self.kinds):
            fk_med, fk_sig, gap_med, gap_sig = np.exp(timing[k])
            caller = Caller(
                name=names[k], code_length=self.code_length, extra_keys=self.extra_keys,
                first_key_median=float(fk_med), first_key_sigma=float(np.clip(fk_sig, *_SIGMA)),
                key_gap_median=float(gap_med), key_gap_sigma=float(np.clip(gap_sig, *_SIGMA)),
                barge_in=float(rates[k, 0]), terminator_rate=float(rates[k, 1]),
                extra_keys_rate=float(rates[k, 2]), hang_up_rate=float(rates[k, 3]),
            )
            parts.append((caller, float(weights[k])))
        return CallerMix(tuple(parts))

    # -- simulation -------------------------------------------------------------------------------

    def allocate(self, theta: np.ndarray) -> bool:
        """Share the simulated callers of each kind among its yes/no groups in proportion to their weight
        at ``theta`` (at least :data:`MIN_GROUP` each): a stratified sample, as precise as a plain one.

        :returns: whether the allocation changed (the cached cells are then dropped).
        """
        _, rates, _ = self.unpack(theta)
        n = len(self.draws.z_first)
        alloc = np.array([np.maximum(MIN_GROUP, np.round(n * self._combo_weights(rates[k]))).astype(int)
                          for k in range(self.kinds)])
        alloc = np.minimum(alloc, n)
        if self.allocation is not None and np.array_equal(alloc, self.allocation):
            return False
        self.allocation = alloc
        self._cache.clear()
        return True

    def kind_cells(self, timing: np.ndarray, kind: int, draws: RandomDraws | None = None) -> list[np.ndarray]:
        """Per option set, the (16, cells) shares of each yes/no group of one kind with these timings."""
        if self.allocation is None:
            raise RuntimeError("allocate() first")
        use_cache = draws is None
        alloc = self.allocation[kind]
        key = (*np.round(timing, 12).tolist(), *alloc.tolist())
        if use_cache and key in self._cache:
            return self._cache[key]
        draws = draws or self.draws
        fk_med, fk_sig, gap_med, gap_sig = np.exp(timing)
        fk_sig, gap_sig = np.clip(fk_sig, *_SIGMA), np.clip(gap_sig, *_SIGMA)
        length, extra = self.code_length, self.extra_keys
        width = length + extra + 1
        combo = np.repeat(np.arange(len(COMBOS)), alloc)
        row = np.concatenate([np.arange(a) for a in alloc])  # each group reuses the first draws
        half = row % 2
        per_half = np.stack([(alloc + 1) // 2, alloc // 2])  # (2, 16) callers of each group in each half
        barge, term, more, quits = (COMBOS[combo, i].astype(bool) for i in range(len(RATES)))
        gaps = gap_med * np.exp(gap_sig * draws.z_gaps[row, : width - 1])
        offsets = np.concatenate([np.zeros((len(row), 1)), np.cumsum(gaps, axis=1)], axis=1)
        wait = fk_med * np.exp(fk_sig * draws.z_first[row])
        digits = length + np.where(more, extra, 0)
        count = digits + term
        enders = np.flatnonzero(term)
        last = count - 1
        out = []
        for data in self.sets:
            spec = data.spec
            prompt = spec.prompt_seconds
            first = prompt + wait
            if prompt > 0:
                first = np.where(barge, draws.barge_at[row] * prompt, first)
            times = first[:, None] + offsets
            keys = np.full(times.shape, ord("0"), dtype=np.uint8)
            keys[enders, digits[enders]] = ord((spec.terminating_digits or "#")[0])
            ends_at = times[np.arange(len(row)), last]
            hang = np.where(quits, draws.hang_at[row] * ends_at, np.nan)
            outcome = vectorised.play(spec, times, keys, count, hang)
            rows, cells, weights = data.soft_cells(
                _TO_TABLE[outcome.reason], outcome.n_digits,
                outcome.completed_at if data.durations is not None else None)
            size = len(data.counts)
            # two halves of the simulated callers (alternate rows of each group), counted apart: two
            # independent estimates of every derivative, whose product has no noise term (information)
            group = half[rows] * len(COMBOS) + combo[rows]
            counts = np.bincount(group * size + cells, weights, minlength=2 * len(COMBOS) * size)
            out.append(counts.reshape(2, len(COMBOS), size) / per_half[:, :, None])
        if use_cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = out
        return out

    def all_cells(self, theta: np.ndarray, draws: RandomDraws | None = None) -> list[list[np.ndarray]]:
        timing, _, _ = self.unpack(theta)
        return [self.kind_cells(timing[k], k, draws) for k in range(self.kinds)]

    @staticmethod
    def _combo_weights(rates: np.ndarray) -> np.ndarray:
        weights: np.ndarray = np.prod(np.where(COMBOS == 1, rates, 1 - rates), axis=1)  # (16,)
        return weights

    def halves(self, theta: np.ndarray, cells: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Per option set, each cell's probability under the mix from each half of the callers: (2, cells)."""
        _, rates, weights = self.unpack(theta)
        out = []
        for s in range(len(self.sets)):
            p = sum(weights[k] * (self._combo_weights(rates[k]) @ cells[k][s]) for k in range(self.kinds))
            out.append(np.asarray(p))
        return out

    def probabilities(self, theta: np.ndarray, cells: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Per option set, each cell's probability under the mix."""
        return [both.mean(axis=0) for both in self.halves(theta, cells)]

    # -- likelihood -------------------------------------------------------------------------------

    def floor(self) -> float:
        """The smallest probability a cell is given: half a simulated caller."""
        return 0.5 / len(self.draws.z_first)

    def log_likelihood(self, probs: list[np.ndarray], counts: list[np.ndarray]) -> float:
        floor = self.floor()
        return float(sum(o @ np.log(np.maximum(p, floor)) for p, o in zip(probs, counts, strict=True)))

    def log_prior(self, theta: np.ndarray) -> float:
        return float(-0.5 * np.sum(((theta - self.prior) / self.prior_sd) ** 2))

    def jacobian(self, theta: np.ndarray, cells: list[list[np.ndarray]], central: bool = True,
                 ) -> list[np.ndarray]:
        """Per option set, d p / d theta from each half of the simulated callers: (2, cells, dim).

        :param central: central differences for the timings (else one-sided: half the simulations, for
            the first steps of a climb, where only the direction matters)."""
        timing, rates, weights = self.unpack(theta)
        probs = self.halves(theta, cells)
        columns: list[list[np.ndarray]] = [[] for _ in self.sets]
        for k in range(self.kinds):
            combo = self._combo_weights(rates[k])
            for i in range(len(CONTINUOUS)):
                up, down = timing[k].copy(), timing[k].copy()
                up[i] += _STEP
                down[i] -= _STEP if central else 0.0
                above, below = self.kind_cells(up, k), self.kind_cells(down, k)
                width = up[i] - down[i]
                for s in range(len(self.sets)):
                    columns[s].append(weights[k] * combo @ (above[s] - below[s]) / width)
            for i in range(len(RATES)):
                d_combo = combo * (COMBOS[:, i] - rates[k, i])  # d pi / d logit(rate)
                for s in range(len(self.sets)):
                    columns[s].append(weights[k] * d_combo @ cells[k][s])
        for k in range(1, self.kinds):
            for s in range(len(self.sets)):
                own = self._combo_weights(rates[k]) @ cells[k][s]
                columns[s].append(weights[k] * (own - probs[s]))
        return [np.stack(cols, axis=-1) for cols in columns]

    def information(self, probs: list[np.ndarray], jac: list[np.ndarray], totals: list[float]) -> np.ndarray:
        """The Fisher information of the cells, sum of n J' diag(1/p) J, with J from one half of the
        simulated callers on one side and the other half on the other: a derivative's simulation noise
        would otherwise add information the log does not hold (J' J is biased up by the noise's variance,
        most along the directions the log hardly sees)."""
        # a cell that few simulated callers reach has a noisy derivative: its tiny share must not scale it
        floor = 10 * self.floor()
        info = np.zeros((self.dim, self.dim))
        for p, j, n in zip(probs, jac, totals, strict=True):
            cross = n * (j[0].T / np.maximum(p, floor)) @ j[1]
            info += (cross + cross.T) / 2
        values, vectors = np.linalg.eigh(info)
        positive: np.ndarray = (vectors * np.maximum(values, 0.0)) @ vectors.T  # no negative information
        return positive

    def score(self, theta: np.ndarray, probs: list[np.ndarray], jac: list[np.ndarray],
              counts: list[np.ndarray]) -> np.ndarray:
        floor = self.floor()
        grad = sum((o / np.maximum(p, floor)) @ j.mean(axis=0)
                   for p, j, o in zip(probs, jac, counts, strict=True))
        score: np.ndarray = np.asarray(grad) - (theta - self.prior) / self.prior_sd**2
        return score

    def maximise(self, theta: np.ndarray, counts: list[np.ndarray], iterations: int = 15,
                 central_from: int = 2, final_curvature: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
        """Fisher scoring from ``theta`` with Levenberg–Marquardt damping.

        :param central_from: the first iteration with central differences (one-sided before: the first
            steps only need a direction, the last ones the curvature).
        :param final_curvature: measure the curvature at the top (else the last step's is returned).

        :returns: the estimate, the curvature there (information plus prior), its log posterior.
        """
        totals = [float(o.sum()) for o in counts]
        self.allocate(theta)
        cells = self.all_cells(theta)
        probs = self.probabilities(theta, cells)
        value = self.log_likelihood(probs, counts) + self.log_prior(theta)
        curvature = self._curvature(np.zeros((self.dim, self.dim)))
        damping = 0.1
        for iteration in range(iterations):
            if iteration in REALLOCATE and self.allocate(theta):  # the groups' weights moved: follow them
                cells = self.all_cells(theta)
                probs = self.probabilities(theta, cells)
                value = self.log_likelihood(probs, counts) + self.log_prior(theta)
            jac = self.jacobian(theta, cells, central=iteration >= central_from)
            curvature = self._curvature(self.information(probs, jac, totals))
            score = self.score(theta, probs, jac, counts)
            free = np.ix_(self.free, self.free)
            # Levenberg–Marquardt: a step that does not climb is retried shorter and nearer the gradient
            while damping < 1e4:
                damped = curvature[free] + damping * np.diag(np.diag(curvature[free]))
                step = np.zeros(self.dim)
                step[self.free] = np.linalg.solve(damped, score[self.free])
                step = np.clip(step, -0.5, 0.5)  # a median moves 1.6-fold at most: one hill at a time
                trial = theta + step
                trial_cells = self.all_cells(trial)
                trial_probs = self.probabilities(trial, trial_cells)
                trial_value = self.log_likelihood(trial_probs, counts) + self.log_prior(trial)
                if trial_value > value:
                    break
                damping *= 8
            else:
                if iteration >= central_from:
                    break  # nothing climbs: at the maximum as far as the simulation can tell
                damping = 0.1
                continue  # one-sided differences may point nowhere: look again with central ones
            damping = max(damping / 4, 1e-4)
            theta, cells, probs = trial, trial_cells, trial_probs
            gain, value = trial_value - value, trial_value
            spread = np.sqrt(np.maximum(np.diag(np.linalg.inv(curvature)), 1e-12))
            if iteration >= central_from and (np.max(np.abs(step) / spread) < 0.05 or gain < 0.05):
                break
        if final_curvature and iterations > central_from:  # the curvature at the top, central differences
            curvature = self._curvature(self.information(probs, self.jacobian(theta, cells), totals))
        return theta, curvature, value

    def _curvature(self, information: np.ndarray) -> np.ndarray:
        """Information plus the prior's; a fixed parameter keeps the prior's alone."""
        out = information.copy()
        out[~self.free, :] = 0.0
        out[:, ~self.free] = 0.0
        return out + np.diag(1 / self.prior_sd**2)

    def one_step(self, theta: np.ndarray, curvature: np.ndarray, jac: list[np.ndarray],
                 counts: list[np.ndarray], resampled: list[np.ndarray], prior_shift: np.ndarray
                 ) -> np.ndarray:
        """A bootstrap refit: one scoring step from the estimate ``theta`` (fitted to ``counts``) on
        ``resampled`` counts and a prior moved by ``prior_shift`` (one step from a consistent estimate is
        as good as iterating to the maximum, to first order).

        The counts' change moves the estimate as the log's sampling would (the simulation's noise is
        measured apart: ``catapult_nb.campaign.fit.simulation_spread``). Moving the prior's centre
        by a draw from the prior makes what the data cannot see vary across refits as much as the prior
        lets it, instead of not at all. Where the log-likelihood is far from
        a parabola a full step can overshoot into what the resampled counts reject (their log-likelihood
        falls by more than :data:`OVERSHOOT`): the step is then shortened to a half or a quarter.

        :param jac: :meth:`jacobian` at ``theta``.
        """
        floor = self.floor()
        probs = self.probabilities(theta, self.all_cells(theta))
        change = sum(((r - o) / np.maximum(p, floor)) @ j.mean(axis=0)
                     for p, j, o, r in zip(probs, jac, counts, resampled, strict=True))
        change = np.where(self.free, np.asarray(change), 0.0)
        step = np.linalg.solve(curvature, change + prior_shift / self.prior_sd**2)
        fixed, free = np.where(self.free, 0.0, step), np.where(self.free, step, 0.0)
        centre = self.prior + prior_shift

        def climbed(x: np.ndarray, values: list[np.ndarray]) -> float:
            penalty = 0.5 * np.sum((((x - centre) / self.prior_sd) ** 2)[self.free])
            return self.log_likelihood(values, resampled) - float(penalty)

        start = climbed(theta, probs)
        best_t, best = 1.0, -np.inf
        for t in (1.0, 0.5, 0.25):
            x = theta + fixed + t * free
            value = climbed(x, self.probabilities(x, self.all_cells(x)))
            if value > best:
                best_t, best = t, value
            if best >= start - OVERSHOOT:
                break
        return theta + fixed + best_t * free


def model_deviance(model: Model, theta: np.ndarray, counts: list[np.ndarray]) -> float:
    """The G statistic of the observed cell counts against the model's: 2 Σ O log(O / E)."""
    probs = model.probabilities(theta, model.all_cells(theta))
    out = 0.0
    for o, p in zip(counts, probs, strict=True):
        seen = o > 0
        expected = np.maximum(p[seen], model.floor()) * o.sum()
        out += 2 * float(o[seen] @ np.log(o[seen] / expected))
    return out
