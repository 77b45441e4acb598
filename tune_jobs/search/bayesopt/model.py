"""``bayesopt``'s algorithm, an ``AskTell`` (no Ray) over bayesian-optimization 3.x (Ray's own
``BayesOptSearch`` needs the 1.x API and floats only).

Call order: ``ask(trial_id)`` ... -> ``observe(trial_id, iteration, value)`` ... ->
``tell(trial_id, value)``; it pickles whole (the fitted kernel included) around interruptions.

- Every spec type: floats, log floats (searched in log space), ints, log ints, ordered lists
  (``ordinal``, and numeric ``choice`` lists unless ``numeric_choices: categorical``), categoricals.
- The first points are a Latin hypercube over the keys (every key's range covered evenly), then
  the GP: fitted to the results, or to their ranks (a Gaussian copula) when some result is far
  worse than the typical one, so a diverged trial does not flatten the model; with a noise term.
- The acquisition is maximised over configurations that can actually run: random and near-best
  candidates snapped to valid values, then a local search over single-key moves (the next listed
  value, another category, a nudge of a float), never a configuration already tried or pending
  while an untried one remains.
- Pending trials count as scoring what the GP predicts there plus one standard deviation (an
  optimistic kriging believer) and are never suggested again, so parallel suggestions stay near
  what looks best without repeating what is running.
- Failed trials and non-finite results are never registered; a trial a scheduler stopped registers
  its last reported value (it looked that bad when it was stopped). Under a rung-based scheduler
  (ASHA, Hyperband) the GP is fitted to the results at the highest rung that enough trials have
  reached, as BOHB does, rather than to a mix of fidelities.
- Speed: the kernel's hyperparameters are refit only when the observations have grown by
  ``refit_every`` (on at most ``max_fit_points`` of them); between refits the GP is refit with the
  kernel fixed (one Cholesky), on at most ``max_gp_points`` results (the best half and a random
  rest), so a suggestion costs about the same at 10,000 trials as at 1,000.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from bayes_opt import BayesianOptimization, SequentialDomainReductionTransformer, acquisition
from bayes_opt.parameter import wrap_kernel
from scipy.optimize import minimize
from scipy.stats import qmc
from sklearn.base import clone
from sklearn.gaussian_process.kernels import Kernel

from tune_jobs.search.bayesopt.compat import gp_of, hedge_pick, hedge_update
from tune_jobs.search.bayesopt.encoding import Encoding
from tune_jobs.search.bayesopt.kernels import space_kernel
from tune_jobs.search.bayesopt.options import BayesOptOptions
from tune_jobs.search.bayesopt.targets import make_acquisition, transform_targets
from tune_jobs.space import Param

CANDIDATES = 1000  # random candidates the acquisition is scored on per suggestion (stock: 10,000)
LOCAL_SEARCH_ROUNDS = 8


def default_initial_points(keys: int, trials: int | None) -> int:
    """Space-filling points before the GP: enough to see each key vary, few enough to leave most
    of a small budget to the model (a quarter of it at most, at least 4)."""
    budget_share = math.ceil((trials or 10) / 4)
    return max(4, min(keys + 1, budget_share, 10))


class BayesOpt:
    def __init__(
        self,
        space: dict[str, Param],
        mode: str = "max",
        options: BayesOptOptions | None = None,
        seed: int | None = None,
        trials: int | None = None,
        rungs: list[int] | None = None,
    ) -> None:
        self.mode = mode
        self.options = options or BayesOptOptions()
        ordered = self.options.numeric_choices == "ordinal"
        self.encodings = {key: Encoding(param, ordered) for key, param in space.items()}
        self.rng = np.random.RandomState(seed)
        self.initial_points = self.options.initial_points or default_initial_points(len(space), trials)
        self.design = qmc.LatinHypercube(d=len(space), seed=self.rng.randint(2**31)).random(self.initial_points)
        self.design_used = 0
        reduction = self.options.domain_reduction
        transformer = None
        if reduction is not None and reduction.enabled:
            transformer = SequentialDomainReductionTransformer(
                gamma_osc=reduction.gamma_osc, gamma_pan=reduction.gamma_pan, eta=reduction.eta,
                minimum_window=reduction.minimum_window,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "non-float parameters are experimental"
            self.optimizer = BayesianOptimization(
                f=None, pbounds={key: enc.bound for key, enc in self.encodings.items()},
                acquisition_function=make_acquisition(self.options, seed), random_state=self.rng,
                verbose=0, allow_duplicate_points=True, bounds_transformer=transformer,
            )
        self.transformer = transformer
        # Every numeric dimension lives on [0, 1], so one length scale fits them all; per-dimension
        # length scales (ARD) did worse at 30 trials on bench/search_suite.py (worst problem 1.57x
        # random's vs 1.20x) at twice the cost.
        self.optimizer.set_gp_params(kernel=wrap_kernel(
            space_kernel(~self.optimizer.space.continuous_dimensions, noise=self.options.noise),
            transform=self.optimizer.space.kernel_transform,
        ))
        self.pending: dict[str, np.ndarray] = {}
        self.kernel_fitted_at = 0
        self.kernel: Any = None
        self.seen: set[bytes] = set()  # configs already observed, by ``_key``
        self.failed: set[bytes] = set()  # configs whose trial failed or left no usable value
        # Under a rung-based scheduler: each trial's value at each rung, and its point.
        self.rungs = sorted(set(rungs or []))
        self.at_rungs: dict[str, dict[int, float]] = {}
        self.points: dict[str, np.ndarray] = {}

    # -- ask/tell ----------------------------------------------------------------------------
    def ask(self, trial_id: str) -> dict[str, Any] | None:
        space = self.optimizer.space
        x = None
        # Space-filling points first. The GP starts once `initial_points` results are in (warm-start ones count; under a rung
        # scheduler, enough results at one rung do too). Parallel workers asking before that get
        # more untried points: a model on two or three results and a crowd of pending guesses did
        # worse than random at max_concurrent 4 (bench/search_suite.py, 30 trials, 20 seeds:
        # 1.06x random's regret in the median problem, now 0.90x; 1.29x its sequential regret,
        # now 1.11x).
        at_rung = self._rung_observations()
        if len(space) >= self.initial_points or at_rung is not None:
            x = self._model_suggestion(at_rung)
        elif self.design_used < len(self.design):
            x = self._from_unit(self.design[self.design_used])
            self.design_used += 1
        if x is None or self._key(x) in self._taken():
            x = self._untried_random_point()
        self.pending[trial_id] = x
        return self._decode(x)

    def observe(self, trial_id: str, iteration: int, value: float) -> None:
        if iteration in self.rungs and trial_id in self.pending:
            self.at_rungs.setdefault(trial_id, {})[int(iteration)] = value if self.mode != "min" else -value
            self.points[trial_id] = self.pending[trial_id]

    def tell(self, trial_id: str, value: float | None) -> None:
        x = self.pending.pop(trial_id, None)
        if x is None:
            return
        if value is None or not math.isfinite(value):
            self.failed.add(self._key(x))  # not an observation, but not suggested again while others remain
            return
        self.register(x, float(value))

    def __getstate__(self) -> dict[str, Any]:
        # bayes_opt's wrapped kernels pickle as the kernel they were built from, dropping the
        # fitted hyperparameters; carry those separately, as they are (theta, their logarithms,
        # would not round-trip to the last bit).
        state = dict(self.__dict__)
        state["kernel_params"] = None if self.kernel is None else {
            name: value for name, value in self.kernel.get_params(deep=True).items() if not isinstance(value, Kernel)}
        state["kernel"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        params = state.pop("kernel_params", None)
        self.__dict__.update(state)
        if params is not None:
            self.kernel = clone(gp_of(self.optimizer).kernel).set_params(**params)

    # -- observations ------------------------------------------------------------------------
    def register(self, x: np.ndarray, value: float) -> None:
        """Record an observation; bayes_opt maximises, so ``min`` metrics are negated."""
        self.optimizer.register(params=x, target=value if self.mode != "min" else -value)
        self.seen.add(self._key(x))
        if self.transformer is not None and len(self.optimizer.space) >= 2:
            self.optimizer.set_bounds(self.transformer.transform(self.optimizer.space))  # type: ignore[arg-type]

    def register_config(self, config: dict[str, Any], value: float) -> bool:
        """Register an earlier trial (warm start); False when its config does not fit this space."""
        x = self._encode(config)
        if x is None:
            return False
        self.register(x, value)
        return True

    # -- encoding ----------------------------------------------------------------------------
    def _decode(self, x: np.ndarray) -> dict[str, Any]:
        params = self.optimizer.space.array_to_params(x)
        return {key: enc.decode(params[key]) for key, enc in self.encodings.items()}

    def _encode(self, config: dict[str, Any]) -> np.ndarray | None:
        try:
            params = {key: enc.encode(config[key]) for key, enc in self.encodings.items()}
            x = self.optimizer.space.params_to_array(params)
        except (KeyError, ValueError, TypeError):
            return None
        bounds = self.optimizer.space.bounds
        if not np.all((x >= bounds[:, 0] - 1e-9) & (x <= bounds[:, 1] + 1e-9)):
            return None
        return x

    def _from_unit(self, u: np.ndarray) -> np.ndarray:
        """A point of the unit cube (one coordinate per key) -> a valid point of the space."""
        params: dict[str, Any] = {}
        for (key, enc), coordinate in zip(self.encodings.items(), u, strict=True):
            if enc.is_categorical:
                params[key] = enc.bound[min(int(coordinate * len(enc.bound)), len(enc.bound) - 1)]
            else:
                low, high = self.optimizer.space.bounds[self.optimizer.space.keys.index(key)]
                params[key] = float(enc.snap(np.array([low + coordinate * (high - low)]))[0])
        return self.optimizer.space.params_to_array(params)

    def _snap(self, points: np.ndarray) -> np.ndarray:
        """Candidates -> points that decode and encode to themselves (valid, comparable)."""
        space = self.optimizer.space
        points = np.clip(points, space.bounds[:, 0], space.bounds[:, 1])
        for key, enc in self.encodings.items():
            columns = space.masks[key]
            if enc.is_categorical:
                block = points[:, columns]
                points[:, columns] = np.eye(block.shape[1])[np.argmax(block, axis=1)]
            else:
                column = int(np.flatnonzero(columns)[0])
                points[:, column] = enc.snap(points[:, column])
        return points

    def _key(self, x: np.ndarray) -> bytes:
        """Identity of the config a point decodes to (ints rounded, lists and choices resolved)."""
        return bytes(np.round(self._snap(np.atleast_2d(np.array(x, dtype=float)))[0], 9).tobytes())

    def _taken(self) -> set[bytes]:
        return self.seen | self.failed | {self._key(p) for p in self.pending.values()}

    def _untried_random_point(self) -> np.ndarray:
        taken = self._taken()
        x = self.optimizer.space.random_sample(random_state=self.rng)
        for _ in range(64):
            if self._key(x) not in taken:
                return x
            x = self.optimizer.space.random_sample(random_state=self.rng)
        return x  # a small discrete space may be exhausted: repeat rather than stall

    # -- the model ---------------------------------------------------------------------------
    def _rung_observations(self) -> tuple[np.ndarray, np.ndarray, set[str]] | None:
        """BOHB's rule: the results at the highest rung that enough trials have reached (one
        fidelity, not a mix), or None when no rung has enough yet."""
        enough = max(4, len(self.encodings) + 1)
        for rung in reversed(self.rungs):
            trials = [t for t, values in self.at_rungs.items() if rung in values]
            if len(trials) >= enough:
                values = np.array([self.at_rungs[t][rung] for t in trials])
                return np.array([self.points[t] for t in trials]), values, set(trials)
        return None

    def _model_suggestion(self, at_rung: tuple[np.ndarray, np.ndarray, set[str]] | None) -> np.ndarray | None:
        space = self.optimizer.space
        observed_x, observed_y = space.params, space.target
        observed_trials: set[str] = set()
        if at_rung is not None:
            observed_x, observed_y, observed_trials = at_rung
        targets = transform_targets(observed_y, self.options.output_transform)
        # The GP's cost grows with the cube of its rows: past max_gp_points it models the best half
        # and a random rest (a 10,000-trial job with every row took 1.4 s a suggestion at 2,700).
        observed_x, targets = self._subsample(observed_x, targets, self.options.max_gp_points)
        pending = [x for trial, x in self.pending.items() if trial not in observed_trials]
        gp = gp_of(self.optimizer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Running trials are assumed to score what the GP predicts there plus one standard
            # deviation: optimistic lies draw parallel suggestions toward (not away from) regions
            # that look promising but are not yet known. bench/search_suite.py, max_concurrent 4, its
            # 10 HPOBench/HPOLib problems, two independent seed sets (0-19 / 20-59), regret relative
            # to sequential in the median problem: the prediction itself (a kriging believer) 1.29x /
            # 1.17x, plus one deviation 1.15x / 1.09x, minus one 1.27x on 20-59 (pushing trials apart).
            # The mean so far as the lie was worse still (HPOLib 0.26x / 0.27x random's regret vs
            # 0.19x / 0.14x for the believer).
            if pending and self.options.pending != "mean":
                self._fit_gp(gp, observed_x, targets, observed=len(observed_x))
                mean, deviation = gp.predict(np.vstack(pending), return_std=True)
                lies = mean + deviation if self.options.pending == "optimistic" else mean
            else:
                lies = np.full(len(pending), targets.mean())
            fit_x = np.vstack([observed_x, *pending]) if pending else observed_x.copy()
            fit_y = np.concatenate([targets, lies])
            self._fit_gp(gp, fit_x, fit_y, observed=len(observed_x))
            incumbents = observed_x[np.argsort(-targets)[:5]]
            acq = self.optimizer.acquisition_function
            if isinstance(acq, acquisition.GPHedge):
                return self._hedge(acq, gp, fit_y, incumbents)
            return self._maximise(acq, gp, fit_y, incumbents)

    def _score(self, acq: Any, gp: Any, best: float) -> Callable[[np.ndarray], np.ndarray]:
        acq.y_max = best

        def score(points: np.ndarray) -> np.ndarray:
            mean, std = gp.predict(points, return_std=True)
            return np.asarray(acq.base_acq(mean, np.maximum(std, 1e-9)))

        return score

    def _maximise(self, acq: Any, gp: Any, fit_y: np.ndarray, incumbents: np.ndarray) -> np.ndarray | None:
        """The untried valid point where the acquisition is highest: scored random and near-best
        candidates, then hill-climbing over single-key moves from the best few."""
        score = self._score(acq, gp, float(fit_y.max()))
        taken = self._taken()
        candidates = self._unique(self._snap(self._candidates(incumbents)), taken)
        if len(candidates) == 0:
            return None
        values = score(candidates)
        order = np.argsort(-values)
        best_x, best_value = candidates[order[0]], float(values[order[0]])
        starts = [candidates[i] for i in order[:3]]
        for _ in range(LOCAL_SEARCH_ROUNDS):
            moves = self._unique(np.vstack([self._moves(x) for x in starts]), taken)
            if len(moves) == 0:
                break
            move_values = score(moves)
            top = int(np.argmax(move_values))
            if move_values[top] <= best_value:
                break
            best_x, best_value = moves[top], float(move_values[top])
            starts = [best_x]
        if any(enc.is_float for enc in self.encodings.values()):
            best_x = self._polish_floats(score, best_x, best_value)
        return best_x

    def _hedge(self, acq: Any, gp: Any, fit_y: np.ndarray, incumbents: np.ndarray) -> np.ndarray | None:
        """bayes_opt's GP-Hedge: each base acquisition proposes, one is drawn by its past gains."""
        if acq.previous_candidates is not None:
            hedge_update(acq, gp)
        proposals = [self._maximise(base, gp, fit_y, incumbents) for base in acq.base_acquisitions]
        if any(p is None for p in proposals):
            return None
        acq.previous_candidates = np.array(proposals)
        return hedge_pick(acq, proposals, self.rng)

    def _candidates(self, incumbents: np.ndarray) -> np.ndarray:
        space = self.optimizer.space
        # Scoring a candidate costs O(observations^2) (the GP's variance): past 250 observations
        # fewer uniform ones are drawn; the near-best candidates and the hill-climb do the rest.
        uniform = space.random_sample(CANDIDATES * 250 // max(250, len(space)), random_state=self.rng)
        near = incumbents[self.rng.randint(len(incumbents), size=CANDIDATES // 3)].copy()
        for key, enc in self.encodings.items():
            columns = space.masks[key]
            if enc.is_categorical:
                swap = self.rng.rand(len(near)) < 0.2
                near[np.ix_(swap, columns)] = np.eye(int(columns.sum()))[self.rng.randint(int(columns.sum()), size=int(swap.sum()))]
            else:
                near[:, columns] += self.rng.normal(0.0, 0.1, size=(len(near), 1))
        moves = [self._moves(x) for x in incumbents]
        return np.vstack([uniform, near, *moves])

    def _moves(self, x: np.ndarray) -> np.ndarray:
        """Every point one single-key move away from ``x``."""
        space = self.optimizer.space
        found = []
        for key, enc in self.encodings.items():
            columns = np.flatnonzero(space.masks[key])
            if enc.is_categorical:
                for column in columns:
                    if x[column] < 0.5:
                        point = x.copy()
                        point[columns] = 0.0
                        point[column] = 1.0
                        found.append(point)
            else:
                for u in enc.neighbours(float(x[columns[0]])):
                    point = x.copy()
                    point[columns[0]] = u
                    found.append(point)
        return self._snap(np.array(found)) if found else np.empty((0, len(x)))

    def _unique(self, points: np.ndarray, taken: set[bytes]) -> np.ndarray:
        keys = [bytes(np.round(p, 9).tobytes()) for p in points]
        keep, seen = [], set(taken)
        for index, key in enumerate(keys):
            if key not in seen:
                seen.add(key)
                keep.append(index)
        return points[keep]

    def _polish_floats(self, score: Callable[[np.ndarray], np.ndarray], x: np.ndarray, value: float) -> np.ndarray:
        """A short L-BFGS-B on the float dimensions, the others held where they are."""
        space = self.optimizer.space
        columns = np.array([int(np.flatnonzero(space.masks[k])[0]) for k, e in self.encodings.items() if e.is_float])

        step = 1e-6

        def negative_and_gradient(values: np.ndarray) -> tuple[float, np.ndarray]:
            # One GP prediction for the point and its forward differences, not one per coordinate:
            # the solve against the observations dominates and costs the same for a few points.
            points = np.repeat(x[None, :], len(columns) + 1, axis=0)
            points[:, columns] = values
            points[np.arange(1, len(columns) + 1), columns] += step
            scores = score(points)
            return -float(scores[0]), -(scores[1:] - scores[0]) / step

        result = minimize(negative_and_gradient, x[columns], jac=True, bounds=space.bounds[columns], method="L-BFGS-B",
                          options={"maxiter": 20})
        if result.success and -result.fun > value:
            x = x.copy()
            x[columns] = result.x
        return x

    def _subsample(self, x: np.ndarray, y: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """At most ``limit`` rows: all of them, or the best half and a random rest (the model
        stays sharp where the optimum is likely and keeps a sketch of everywhere else)."""
        if len(y) <= limit:
            return x, y
        order = np.argsort(-y)
        rows = np.concatenate([order[: limit // 2], self.rng.choice(order[limit // 2 :], limit - limit // 2, replace=False)])
        return x[rows], y[rows]

    def _fit_gp(self, gp: Any, x: np.ndarray, y: np.ndarray, observed: int) -> None:
        """Fit ``gp`` to ``x``/``y``, whose first ``observed`` rows are results and the rest
        running trials' lies; the kernel's hyperparameters are refit from the results alone (at
        most ``max_fit_points`` of them) only as the observations grow by ``refit_every``."""
        n = len(self.optimizer.space)  # every result so far: when to refit
        if self.kernel is None or n >= self.kernel_fitted_at * self.options.refit_every:
            # Subsampled from the rows fitted here, which under a rung scheduler are one rung's
            # results and can be far fewer than n (sampling by n crashed a 400-trial ASHA job).
            fit_x, fit_y = self._subsample(x[:observed], y[:observed], self.options.max_fit_points)
            gp.optimizer, gp.n_restarts_optimizer = "fmin_l_bfgs_b", 2
            gp.fit(fit_x, fit_y)
            self.kernel, self.kernel_fitted_at = gp.kernel_, n
        gp.kernel, gp.optimizer = self.kernel, None
        gp.fit(x, y)
