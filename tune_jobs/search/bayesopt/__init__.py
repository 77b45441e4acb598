"""``bayesopt``: Gaussian-process Bayesian optimisation on bayesian-optimization 3.x.

Options are checked here, before anything starts; the algorithm itself is
``tune_jobs.search.bayesopt.model.BayesOpt`` (which imports bayes_opt, scikit-learn and SciPy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from tune_jobs.core.values import is_finite_number
from tune_jobs.results.files import TRIALS_FILE
from tune_jobs.results.schema import SUCCEEDED, config_of
from tune_jobs.search.base import SEARCHES, SearchSpec
from tune_jobs.search.bayesopt.options import BayesOptOptions
from tune_jobs.space import Param

if TYPE_CHECKING:
    from tune_jobs.search.bayesopt.model import BayesOpt


@SEARCHES.register("bayesopt")
class BayesOptSearch(SearchSpec):
    algorithm: Literal["bayesopt"] = "bayesopt"
    options: BayesOptOptions = BayesOptOptions()

    @property
    def owns_space(self) -> bool:
        return True

    def check_space(self, space: dict[str, Param]) -> list[str]:
        problems = self.refuse_grid(space, why=" (the GP chooses every value)")
        if not space:
            problems.append("space: bayesopt needs at least one searched key")
        if self.options.warm_start is not None:
            problems += check_warm_start(self.options.warm_start)
        return problems

    def build(self, space: dict[str, Param], metric: str, mode: str, rungs: list[int] | None = None) -> BayesOpt:
        from tune_jobs.search.bayesopt.model import BayesOpt

        searcher = BayesOpt(space, mode=mode, options=self.options, seed=self.seed, trials=self.trials, rungs=rungs)
        if self.options.warm_start is not None:
            for config, value in earlier_observations(self.options.warm_start, metric):
                searcher.register_config(config, value)
        return searcher


def check_warm_start(directory: str) -> list[str]:
    from tune_jobs.results.store import ResultsStore

    try:
        found = ResultsStore(directory).exists(TRIALS_FILE)
    except (OSError, ValueError) as error:  # an unreachable or malformed object-store URI
        return [f"search.options.warm_start: cannot read {directory}: {error}"]
    if not found:
        return [f"search.options.warm_start: no {TRIALS_FILE} in {directory}; give an earlier job's results directory"]
    return []


def earlier_observations(directory: str, metric: str) -> list[tuple[dict[str, Any], float]]:
    """(config, last value of ``metric``) of every successful trial of an earlier job."""

    from tune_jobs.results.store import ResultsStore

    rows = ResultsStore(directory).read_table(TRIALS_FILE).to_pylist()
    found = []
    for row in rows:
        value = row.get(metric)
        if row.get("status") in SUCCEEDED and is_finite_number(value):
            found.append((config_of(row), float(value)))
    return found
