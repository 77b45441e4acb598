"""A job on a simulated clock: ``workers`` trials run at once; each reports its curve's epochs
at the times the curve's seconds say; the search algorithm asks and is told exactly as under Ray
(``ray_tune.searcher``), and the scheduler is the Ray scheduler object the real job builds, fed
the same results in the same order. A scheduler that pauses trials (``asha_promotion``,
``pasha_promotion``) picks, whenever a worker frees up, which paused trial resumes, from the trials
and their status as Ray's controller lists them; a resumed trial pays the start-up again (a process
restored from its checkpoint). Schedulers that clone trials (PBT) are not simulated. Each result
carries the value the run reported and the configuration's ``expected`` value (its mean over the
benchmark's repeated runs), on which methods are fairly scored. With several ``objectives`` (the
benchmark's metric first, then metrics a table carries beside it, such as ``latency_ms``), the
search is the multi-objective one a job builds and each result carries every objective, reported
and expected, as a multi-objective job's results do."""

from __future__ import annotations

import heapq
import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tune_jobs.core.values import is_finite_number
from tune_jobs.results.pareto import TrialBests
from tune_jobs.schedulers import STATES, JobContext, SchedulerSpec
from tune_jobs.search import SearchSpec
from tune_jobs.search.base import AskTell, MultiAskTell
from tune_jobs.simulation.benchmarks import Benchmark

STOP, PAUSE = "STOP", "PAUSE"  # Ray TrialScheduler decisions
RUNNING, PAUSED, TERMINATED = "RUNNING", "PAUSED", "TERMINATED"  # Ray's Trial statuses


@dataclass(eq=False)
class _Trial:
    """What Ray's schedulers read of a trial: its id, its status and its last result."""

    trial_id: str
    status: str = RUNNING
    last_result: dict[str, Any] = field(default_factory=dict)


class _Controller:
    """What a pausing scheduler asks of Ray's controller: the trials, and to stop a paused one;
    and how many trials have each status, counted as they change (read at every event)."""

    def __init__(self, stop: Any) -> None:
        self.trials: dict[str, _Trial] = {}
        self.counts: Counter[str] = Counter()
        self.stop = stop

    def add(self, trial: _Trial) -> None:
        self.trials[trial.trial_id] = trial
        self.counts[trial.status] += 1

    def move(self, trial: _Trial, status: str) -> None:
        self.counts[trial.status] -= 1
        self.counts[status] += 1
        trial.status = status

    def get_trials(self) -> list[_Trial]:
        return list(self.trials.values())

    def stop_trial(self, trial: _Trial) -> None:
        self.stop(trial)


@dataclass
class SimulationResult:
    """Every reported result (``time`` in simulated seconds) and each trial's end."""

    results: pd.DataFrame  # time, trial_id, epoch, value, expected (and <objective>, expected:<objective> for the others)
    trials: pd.DataFrame  # trial_id, config, epochs, last, status ("completed" or "stopped")
    mode: str
    workers: int
    elapsed_s: float

    def best_by(self, time_s: float, column: str = "value") -> float:
        """The best ``value`` (or ``expected`` value) any trial reported by ``time_s`` (nan before the first result)."""
        seen = self.results[self.results.time <= time_s][column]
        if seen.empty:
            return math.nan
        return float(seen.max() if self.mode == "max" else seen.min())

    def time_to(self, target: float, column: str = "value") -> float:
        """When a reported ``value`` (or ``expected`` value) first reached ``target`` (inf if never)."""
        values = self.results[column]
        reached = self.results[values >= target] if self.mode == "max" else self.results[values <= target]
        return float(reached.time.min()) if not reached.empty else math.inf

    @property
    def epochs_run(self) -> int:
        return int(self.trials.epochs.sum())


@dataclass(order=True)
class _Event:
    time: float
    order: int  # ties: the earlier-started event first, so runs are deterministic
    trial_id: str = field(compare=False)
    epoch: int = field(compare=False)


class _OneObjective:
    """An ask/tell algorithm told each trial's last finite value, as ``RaySearcher`` tells it."""

    def __init__(self, algorithm: AskTell, metric: str) -> None:
        self.algorithm, self.metric = algorithm, metric

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        return self.algorithm.ask(trial_id)

    def result(self, trial_id: str, epoch: int, result: dict[str, Any]) -> None:
        value = result[self.metric]
        if is_finite_number(value):
            self.algorithm.observe(trial_id, epoch, value)

    def end(self, trial_id: str, last: float | None) -> None:
        self.algorithm.tell(trial_id, last)


class _SeveralObjectives:
    """A multi-objective algorithm told each trial's best value of each objective, as ``RayMultiSearcher``."""

    def __init__(self, algorithm: MultiAskTell, objectives: dict[str, str]) -> None:
        self.algorithm, self.bests = algorithm, TrialBests(objectives, [])

    def ask(self, trial_id: str) -> dict[str, Any] | None:
        return self.algorithm.ask(trial_id)

    def result(self, trial_id: str, epoch: int, result: dict[str, Any]) -> None:
        self.bests.update(trial_id, result)

    def end(self, trial_id: str, last: float | None) -> None:
        point = self.bests.finish(trial_id)
        if point is None:
            self.algorithm.tell(trial_id, None)
        else:
            self.algorithm.tell(trial_id, *point)


def simulate(benchmark: Benchmark, search: SearchSpec, scheduler: SchedulerSpec, *, workers: int = 4,
             trials: int | None = None, budget_s: float | None = None, seed: int = 0,
             startup_s: float = 0.0, objectives: dict[str, str] | None = None) -> SimulationResult:
    """Run ``search`` with ``scheduler`` on ``benchmark`` until ``trials`` trials have ended (default:
    the search's ``num_samples``) or the simulated clock passes ``budget_s``. ``startup_s``: what a
    trial costs before its first epoch (a real job's process start and data loading), which a
    table's epoch times leave out and which weighs on methods that start many short trials.

    ``search`` and ``scheduler`` are validated spec models (``SEARCHES.get(name).model_validate``);
    an ``auto`` search is resolved here as a job's validation resolves it, and the scheduler gets
    its ``max_t`` from the benchmark's epochs."""
    space = dict(benchmark.space)
    objectives = dict(objectives or {benchmark.metric: benchmark.mode})
    # resolved in the order a job's validation resolves them: the search, then the scheduler it runs with
    search = search.resolve(space, model_based=not scheduler.needs_variant_generator, objectives=len(objectives))
    scheduler = scheduler.choose(benchmark.epochs, trials if trials is not None else search.trials, len(objectives),
                                 search.algorithm)
    if not scheduler.replays_results:
        raise ValueError(f"scheduler.type: {scheduler.type} clones trials; the simulator runs only schedulers that "
                         "stop, pause or resume them")
    several = len(objectives) > 1
    problems = _objective_problems(benchmark, objectives, search, scheduler) if several else []
    problems += search.check_space(space)
    scheduler, found = scheduler.with_defaults(benchmark.epochs)
    if problems or found:
        raise ValueError("; ".join(problems + found))
    total = trials if trials is not None else search.trials
    told: _OneObjective | _SeveralObjectives
    if several:
        told = _SeveralObjectives(search.build_multi(space, list(objectives.values()), 0), objectives)
    else:
        told = _OneObjective(search.build(space, benchmark.metric, benchmark.mode, rungs=scheduler.milestones),
                             benchmark.metric)
    job_key = f"simulation-{uuid.uuid4().hex}"  # a pausing scheduler's state is kept by job key: one per run
    context = JobContext(benchmark.metric, benchmark.mode, job_key, total, space,
                         objectives=objectives if several else None)
    ray_scheduler = scheduler.build(context)
    ray_scheduler.set_search_properties(benchmark.metric, benchmark.mode)

    rng = np.random.RandomState(seed)
    global_state = np.random.get_state()  # Ray's Hyperband places trials in brackets with NumPy's global generator
    np.random.seed(seed)
    try:
        return _run(benchmark, told, ray_scheduler, rng, workers, total, budget_s, startup_s,
                    [key for key in objectives if key != benchmark.metric])
    finally:
        np.random.set_state(global_state)
        STATES.pop(job_key, None)


def _objective_problems(benchmark: Benchmark, objectives: dict[str, str], search: SearchSpec,
                        scheduler: SchedulerSpec) -> list[str]:
    first = next(iter(objectives))
    carried = getattr(benchmark, "other_metrics", ())
    problems = [f"objectives: the first must be the benchmark's metric {benchmark.metric}, got {first}"] \
        if first != benchmark.metric else []
    problems += [f"objectives.{key}: {benchmark.name} does not carry it (it has {', '.join(carried) or 'none'})"
                 for key in objectives if key != benchmark.metric and key not in carried]
    if not search.multi_objective:
        problems.append(f"search.algorithm: {search.algorithm} optimises one metric")
    if not scheduler.multi_objective:
        problems.append(f"scheduler.type: {scheduler.type} compares one metric")
    return problems


def _run(benchmark: Benchmark, told: _OneObjective | _SeveralObjectives, ray_scheduler: Any, rng: np.random.RandomState,
         workers: int, total: int, budget_s: float | None, startup_s: float, others: list[str]) -> SimulationResult:
    """``others``: the objectives besides the benchmark's metric, which each result also carries."""
    clock, order = 0.0, 0
    events: list[_Event] = []
    live: dict[str, tuple[dict[str, Any], list[tuple[float, float]], list[float]]] = {}  # running or paused
    reported: dict[str, tuple[list[dict[str, float]], list[dict[str, float]]]] = {}  # others: per epoch, run and expected
    started = 0
    results: list[tuple[Any, ...]] = []
    ended_rows: list[dict[str, Any]] = []
    last: dict[str, float] = {}
    taken: set[int] = set()  # the table's rows already run

    def run_epoch(trial_id: str, epoch: int, delay: float) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, _Event(clock + delay + live[trial_id][1][epoch - 1][1], order, trial_id, epoch))

    def start_one() -> bool:
        nonlocal started
        trial_id = f"sim_{started:05d}"
        config = told.ask(trial_id)
        if config is None:
            return False
        started += 1
        placed = benchmark.place(config, taken)
        run_seed = int(rng.randint(0, 2**31 - 1))
        live[trial_id] = (placed, benchmark.curve(placed, run_seed), benchmark.expected(placed))
        if others:
            reported[trial_id] = (benchmark.reported(placed, run_seed), benchmark.expected_reported(placed))  # type: ignore[attr-defined]
        controller.add(trial := _Trial(trial_id))
        ray_scheduler.on_trial_add(controller, trial)
        run_epoch(trial_id, 1, startup_s)
        return True

    def next_trial() -> bool:
        """A paused trial the scheduler resumes, else a new one."""
        chosen = ray_scheduler.choose_trial_to_run(controller) if controller.counts[PAUSED] else None
        if chosen is not None and chosen.status == PAUSED:
            controller.move(chosen, RUNNING)
            run_epoch(chosen.trial_id, int(chosen.last_result["training_iteration"]) + 1, startup_s)
            return True
        return started < total and start_one()

    def end(trial: _Trial, status: str) -> None:
        controller.move(trial, TERMINATED)
        config, _, _ = live.pop(trial.trial_id)
        reported.pop(trial.trial_id, None)
        value = last.pop(trial.trial_id, None)
        told.end(trial.trial_id, value)
        ended_rows.append({"trial_id": trial.trial_id, "config": config,
                           "epochs": trial.last_result["training_iteration"], "last": value, "status": status})

    def stopped_while_paused(trial: _Trial) -> None:
        ray_scheduler.on_trial_remove(controller, trial)
        end(trial, "stopped")

    controller = _Controller(stopped_while_paused)
    while True:
        while controller.counts[RUNNING] < workers and (budget_s is None or clock < budget_s):
            if not next_trial():
                break
        if not events:
            break
        event = heapq.heappop(events)
        if budget_s is not None and event.time > budget_s:
            clock = budget_s
            break
        clock = event.time
        _, curve, expected = live[event.trial_id]
        trial = controller.trials[event.trial_id]
        value = curve[event.epoch - 1][0]
        result = {"training_iteration": event.epoch, benchmark.metric: value, "time_total_s": clock}
        row: tuple[Any, ...] = (clock, event.trial_id, event.epoch, value, expected[event.epoch - 1])
        if others:
            run, mean = (found[event.epoch - 1] for found in reported[event.trial_id])
            result.update({key: run[key] for key in others})
            row += tuple(run[key] for key in others) + tuple(mean[key] for key in others)
        results.append(row)
        trial.last_result = result
        if is_finite_number(value):
            last[event.trial_id] = value
        told.result(event.trial_id, event.epoch, result)
        decision = ray_scheduler.on_trial_result(controller, trial, result)
        if event.epoch >= len(curve) or decision == STOP:
            ray_scheduler.on_trial_complete(controller, trial, result)
            end(trial, "completed" if event.epoch >= len(curve) else "stopped")
        elif decision == PAUSE:
            controller.move(trial, PAUSED)
        else:
            run_epoch(event.trial_id, event.epoch + 1, 0.0)
    columns = ["time", "trial_id", "epoch", "value", "expected", *others, *(f"expected:{key}" for key in others)]
    return SimulationResult(pd.DataFrame(results, columns=columns),
                            pd.DataFrame(ended_rows, columns=["trial_id", "config", "epochs", "last", "status"]),
                            benchmark.mode, workers, clock)
