"""A Ray Tune ``Searcher`` over bayesian-optimization 3.x (Ray's own ``BayesOptSearch`` needs the
1.x API and floats only).

Call order (Ray's): ``set_search_properties`` -> ``suggest(trial_id)`` ... ->
``on_trial_complete(trial_id, result, error)``; ``save``/``restore`` around interruptions.

- Every spec type: floats, log floats (searched in log space), ints, log ints, categoricals.
- Pending trials get a constant lie (the worst value seen) so parallel suggestions spread out.
- Failed trials and non-finite results are never registered; an ASHA-stopped trial registers its
  last reported value (what Ray hands over on completion): it looked that bad when it was stopped.
- Speed: the kernel's hyperparameters are refit only when the observations have grown by
  ``refit_every`` (on at most ``max_fit_points`` of them); between refits the GP is refit with the
  kernel fixed (one Cholesky), and the acquisition is maximised over fewer random candidates with
  a short local search on the float dimensions instead of differential evolution.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bayes_opt import BayesianOptimization, SequentialDomainReductionTransformer, acquisition
from bayes_opt.parameter import wrap_kernel
from bayes_opt.target_space import TargetSpace
from ray import cloudpickle
from ray.tune.search import Searcher
from scipy.optimize import minimize

from tune_jobs.search.bayesopt import BayesOptOptions
from tune_jobs.search.kernels import space_kernel
from tune_jobs.space import Choice, LogRandInt, LogUniform, Param, RandInt, Uniform

CANDIDATES = 1000  # random points the acquisition is scored on per suggestion (stock: 10,000)


class _Encoding:
    """One spec parameter <-> its bayes_opt bound and value (log ranges as floats in log space)."""

    def __init__(self, param: Param) -> None:
        # Every numeric dimension is mapped to [0, 1] (log ranges through their logs); ints are
        # rounded on the way back; a choice is a bayes_opt categorical over its indices.
        self.param = param
        self.bound: Any
        self.decode: Callable[[Any], Any]
        self.encode: Callable[[Any], Any]
        if isinstance(param, (Uniform, LogUniform)):
            log = isinstance(param, LogUniform)
            low, high = (math.log(b) for b in param.bounds) if log else map(float, param.bounds)
            span = high - low
            self.bound = (0.0, 1.0)
            raw = param.bounds

            def decode(x: Any) -> float:
                value = low + float(x) * span
                return float(min(max(math.exp(value) if log else value, raw[0]), raw[1]))

            self.decode = decode
            self.encode = lambda v: ((math.log(v) if log else float(v)) - low) / span
        elif isinstance(param, RandInt):
            low, high = param.bounds
            span = (high - low) or 1
            self.bound = (0.0, 1.0)
            self.decode = lambda x: int(min(max(round(low + float(x) * span), low), high))
            self.encode = lambda v: (int(v) - low) / span
        elif isinstance(param, LogRandInt):
            low, high = param.bounds
            log_low, log_span = math.log(low), math.log(high) - math.log(low) or 1.0
            self.bound = (0.0, 1.0)
            self.decode = lambda x: int(min(max(round(math.exp(log_low + float(x) * log_span)), low), high))
            self.encode = lambda v: (math.log(v) - log_low) / log_span
        elif isinstance(param, Choice):
            options = param.options
            # Labels, not ints: bayes_opt reads a two-element numeric list as float bounds.
            self.bound = [str(i) for i in range(len(options))]
            self.decode = lambda i: options[int(i)]
            self.encode = lambda v: str(options.index(v))
        else:
            raise TypeError(f"bayesopt cannot search {param.kind}")


def _make_acquisition(options: BayesOptOptions, seed: int | None) -> acquisition.AcquisitionFunction:
    if options.acquisition == "ucb":
        return acquisition.UpperConfidenceBound(kappa=options.kappa or 2.576, random_state=seed)
    if options.acquisition == "ei":
        return acquisition.ExpectedImprovement(xi=0.01 if options.xi is None else options.xi, random_state=seed)
    if options.acquisition == "poi":
        return acquisition.ProbabilityOfImprovement(xi=0.01 if options.xi is None else options.xi, random_state=seed)
    return acquisition.GPHedge(base_acquisitions=[
        acquisition.UpperConfidenceBound(random_state=seed),
        acquisition.ExpectedImprovement(xi=0.01, random_state=seed),
        acquisition.ProbabilityOfImprovement(xi=0.01, random_state=seed),
    ])


class _CandidateSpace(TargetSpace):
    """The space the acquisition is maximised over: its random candidates are part uniform and
    part perturbations of the best points so far (floats jittered, a choice sometimes swapped),
    where the acquisition's maximum usually is."""

    LOCAL_FRACTION, TOP, SCALE = 0.3, 5, 0.06
    incumbents: np.ndarray | None = None

    def random_sample(self, n_samples: int = 0, random_state: Any = None) -> Any:
        samples = super().random_sample(n_samples, random_state=random_state)
        local = int(n_samples * self.LOCAL_FRACTION)
        observed = self.incumbents
        if local == 0 or observed is None or len(observed) == 0:
            return samples
        rng = random_state if isinstance(random_state, np.random.RandomState) else np.random.RandomState(random_state)
        points = observed[rng.randint(len(observed), size=local)].copy()
        floats = self.continuous_dimensions
        points[:, floats] += rng.normal(0.0, self.SCALE, size=(local, int(floats.sum())))
        for key, mask in self.masks.items():
            if not self.params_config[key].is_continuous and mask.sum() > 1:  # a categorical, one-hot
                swap = rng.rand(local) < 0.25
                points[np.ix_(swap, mask)] = np.eye(int(mask.sum()))[rng.randint(int(mask.sum()), size=int(swap.sum()))]
        samples[-local:] = np.clip(points, self.bounds[:, 0], self.bounds[:, 1])
        return samples


class BayesOptSearcher(Searcher):
    def __init__(
        self,
        space: dict[str, Param],
        metric: str | None = None,
        mode: str | None = None,
        options: BayesOptOptions | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.options = options or BayesOptOptions()
        self.encodings = {key: _Encoding(param) for key, param in space.items()}
        self.rng = np.random.RandomState(seed)
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
                acquisition_function=_make_acquisition(self.options, seed), random_state=self.rng,
                verbose=0, allow_duplicate_points=True, bounds_transformer=transformer,
            )
        self.transformer = transformer
        # Every numeric dimension lives on [0, 1], so one length scale fits them all; per-dimension
        # length scales (ARD) overfitted at 30-60 evaluations in bench/bayesopt_quality.py.
        self.optimizer.set_gp_params(kernel=wrap_kernel(
            space_kernel(~self.optimizer.space.continuous_dimensions),
            transform=self.optimizer.space.kernel_transform,
        ))
        self.pending: dict[str, np.ndarray] = {}
        self.kernel_fitted_at = 0
        self.kernel: Any = None
        self.last_results: dict[str, float] = {}
        self.seen: set[str] = set()  # configs already observed, by ``_key``

    # -- Ray's Searcher interface ------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        space = self.optimizer.space
        initial = self.options.initial_points or max(5, 2 * len(self.encodings))
        # Random points until `initial` are observed or on their way; warm-start observations count.
        if len(space) + len(self.pending) < initial or len(space) == 0:
            x = space.random_sample(random_state=self.rng)
        else:
            x = self._model_suggestion()
        x = self._avoid_duplicates(x)
        self.pending[trial_id] = x
        return self._decode(x)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get(self._metric) if self._metric else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.last_results[trial_id] = float(value)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        x = self.pending.pop(trial_id, None)
        last = self.last_results.pop(trial_id, None)
        if x is None or error:
            return
        value = (result or {}).get(self._metric) if self._metric else None
        if value is None:
            value = last
        if not isinstance(value, (int, float)) or not math.isfinite(value) or (result or {}).get("tune_jobs_error"):
            return
        self.register(x, float(value))

    def save(self, checkpoint_path: str) -> None:
        """Everything: observations, pending trials, the fitted kernel and the random state."""
        Path(checkpoint_path).write_bytes(cloudpickle.dumps(self.__getstate__()))

    def restore(self, checkpoint_path: str) -> None:
        self.__setstate__(cloudpickle.loads(Path(checkpoint_path).read_bytes()))

    def __getstate__(self) -> dict[str, Any]:
        # bayes_opt's wrapped kernels pickle as the kernel they were built from, dropping the
        # fitted hyperparameters; carry those (theta) separately.
        state = dict(self.__dict__)
        state["kernel_theta"] = None if self.kernel is None else self.kernel.theta.copy()
        state["kernel"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        theta = state.pop("kernel_theta", None)
        self.__dict__.update(state)
        if theta is not None:
            self.kernel = self.optimizer._gp.kernel.clone_with_theta(theta)

    # -- observations ------------------------------------------------------------------------
    def register(self, x: np.ndarray, value: float) -> None:
        """Record an observation; bayes_opt maximises, so ``min`` metrics are negated."""
        self.optimizer.register(params=x, target=value if self._mode != "min" else -value)
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

    # -- internals ---------------------------------------------------------------------------
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

    def _key(self, x: np.ndarray) -> str:
        """Identity of the config a point decodes to (ints rounded, choices resolved)."""
        return repr(sorted(self._decode(x).items()))

    def _avoid_duplicates(self, x: np.ndarray) -> np.ndarray:
        taken = self.seen | {self._key(p) for p in self.pending.values()}
        for _ in range(32):
            if self._key(x) not in taken:
                return x
            x = self.optimizer.space.random_sample(random_state=self.rng)
        return x  # a small discrete space may be exhausted: repeat rather than stall

    def _model_suggestion(self) -> np.ndarray:
        space = self.optimizer.space
        observed_x, observed_y = space.params, space.target
        pending = list(self.pending.values())
        gp = self.optimizer._gp
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            work = _CandidateSpace(None, pbounds={k: space.params_config[k] for k in space.keys},  # type: ignore[misc]
                                   allow_duplicate_points=True)
            work._params = np.vstack([observed_x, *pending]) if pending else observed_x.copy()
            work._target = np.concatenate([observed_y, np.full(len(pending), observed_y.min())])  # constant liar
            work._bounds = space.bounds.copy()
            work.incumbents = observed_x[np.argsort(-observed_y)[: _CandidateSpace.TOP]]
            self._fit_gp(gp, work)
            acq = self.optimizer.acquisition_function
            continuous = bool(np.all(space.continuous_dimensions))
            x = acq.suggest(gp=gp, target_space=work, n_random=CANDIDATES if continuous else 3 * CANDIDATES,
                            n_smart=2 if continuous else 0, fit_gp=False, random_state=self.rng)
            if not continuous and np.any(space.continuous_dimensions) and not isinstance(acq, acquisition.GPHedge):
                x = self._refine_floats(acq, gp, work, x)
        return np.clip(x, space.bounds[:, 0], space.bounds[:, 1])

    def _fit_gp(self, gp: Any, work: TargetSpace) -> None:
        n = len(self.optimizer.space)
        if self.kernel is None or n >= self.kernel_fitted_at * self.options.refit_every:
            x, y = work.params[:n], work.target[:n]
            if n > self.options.max_fit_points:  # the best half and a random rest
                order = np.argsort(-y)
                keep = order[: self.options.max_fit_points // 2]
                rest = self.rng.choice(order[self.options.max_fit_points // 2 :],
                                       self.options.max_fit_points - len(keep), replace=False)
                x, y = x[np.concatenate([keep, rest])], y[np.concatenate([keep, rest])]
            gp.optimizer, gp.n_restarts_optimizer = "fmin_l_bfgs_b", 2
            gp.fit(x, y)
            self.kernel, self.kernel_fitted_at = gp.kernel_, n
        gp.kernel, gp.optimizer = self.kernel, None
        gp.fit(work.params, work.target)

    def _refine_floats(self, acq: Any, gp: Any, work: TargetSpace, x: np.ndarray) -> np.ndarray:
        """A short L-BFGS-B on the float dimensions, the discrete ones held at the best candidate."""
        dims = work.continuous_dimensions
        function = acq._get_acq(gp=gp)
        start = x.copy()

        def on_floats(values: np.ndarray) -> Any:
            point = start.copy()
            point[dims] = values
            return function(point)

        result = minimize(on_floats, start[dims], bounds=work.bounds[dims], method="L-BFGS-B", options={"maxiter": 20})
        if result.success and np.squeeze(result.fun) < np.squeeze(function(x)):
            x = start.copy()
            x[dims] = result.x
        return x
