"""The Python API: what the CLI does, for notebooks and scripts.

    import tune_jobs
    result = tune_jobs.run("examples/digits_mlp.yaml", search__num_samples=4)
    result.best, result.trials, result.iterations

Overrides are keyword arguments with ``__`` for the dots of ``--set`` (``search__num_samples=4``
is ``--set search.num_samples=4``). Bad input raises ``SpecError``, whose message is the lines the
CLI prints; nothing starts before the spec is valid. A problem outside the spec (storage that
refuses us, a job already running, a directory that holds no results) raises ``UserError``, of
which ``SpecError`` is one kind. A job that ran but had no successful trial
raises ``JobFailed``, whose ``result`` holds the trials and their errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tune_jobs.analysis.job_results import JobResults, load_results
from tune_jobs.errors import SpecError, UserError
from tune_jobs.results.schema import searched_part
from tune_jobs.spec import JobSpec, apply_override, read_spec_file, validate_spec

SpecLike = str | Path | Mapping[str, Any] | JobSpec


@dataclass(frozen=True)
class Best:
    trial_id: str
    config: dict[str, Any]  # the searched keys' values (every key when nothing was searched)
    value: float


class JobResult:
    """One job's results as the files hold them: ``trials.parquet``, ``iterations.parquet``, ``job.json``."""

    def __init__(self, results: JobResults) -> None:
        self._results = results

    def __repr__(self) -> str:
        best = self.best
        shown = f", best {self.metric} {best.value:.6g} ({best.trial_id})" if best else ""
        return f"JobResult({self.directory!r}, {self.status}, {len(self.trials)} trials{shown})"

    @property
    def directory(self) -> str:
        return self._results.directory

    @property
    def spec(self) -> dict[str, Any]:
        """The spec as it ran, every default filled in (``auto`` shows the algorithm it chose)."""
        return self._results.spec

    @property
    def status(self) -> str:
        """``finished``, ``interrupted``, ``failed`` or ``running``, as ``job.json`` says."""
        return str(self._results.record.get("status", "unknown"))

    @property
    def metric(self) -> str:
        return self._results.metric

    @property
    def mode(self) -> str:
        return self._results.mode

    @property
    def trials(self) -> pd.DataFrame:
        return self._results.trials

    @property
    def iterations(self) -> pd.DataFrame:
        return self._results.iterations

    @property
    def best(self) -> Best | None:
        """The successful trial with the best value of the metric over its iterations."""
        scored = self._results.scored()
        if scored.empty:
            return None
        row = scored.iloc[0]
        config = self._results.config_of(row)
        return Best(str(row["trial_id"]), searched_part(config, self._results.space),
                    float(row[self._results.best_column]))

    def history(self, trial_id: str) -> pd.DataFrame:
        """One trial's iterations in order."""
        return self._results.history(trial_id)

    def report(self, path: str | Path | None = None) -> Path:
        """The HTML report (``report.html`` in the results directory by default); its path."""
        from tune_jobs.report.build import write_report
        from tune_jobs.results.store import is_uri

        if path is None and is_uri(self.directory):
            raise SpecError([f"path: required for results in an object store ({self.directory})"])
        target = Path(path) if path is not None else Path(self.directory) / "report.html"
        write_report(self._results, target)
        return target

    def narrow(self, *, top_fraction: float = 0.25, min_importance: float = 0.05, trials: int | None = None,
               name: str | None = None, objective: str | None = None) -> dict[str, Any]:
        """A follow-up spec (a dict for ``run``): ranges shrunk around the best trials, the keys
        that mattered little fixed, BayesOpt warm-started from this job; as ``tune-jobs narrow``.
        ``objective``: which one ranks the trials, required for a job with several."""
        from tune_jobs.analysis.follow_up import follow_up_spec
        from tune_jobs.analysis.narrow import NarrowOptions, narrow_space

        results = self._results.ranked_by(objective)
        narrowed = narrow_space(results, NarrowOptions(top_fraction=top_fraction, min_importance=min_importance))
        spec = follow_up_spec(results, narrowed, name or f"{results.name}-narrowed", trials or len(self.trials))
        validate_spec(spec)
        return spec


class JobFailed(Exception):
    """The job ran but no trial succeeded (every trial failed, or the job itself did): not bad
    input. ``result`` is what it wrote: its ``trials`` table has each trial's ``error``."""

    def __init__(self, result: JobResult) -> None:
        errors = result.trials["error"].dropna().astype(str) if "error" in result.trials else pd.Series(dtype=str)
        reasons = "; ".join(f"{n} x {message}" for message, n in list(errors.value_counts().items())[:3])
        super().__init__(f"job {result.spec.get('name')!r} had no successful trial"
                         + (f": {reasons}" if reasons else ""))
        self.result = result


def spec_data(spec: SpecLike, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as plain data with the overrides applied; a Python function as the trainable
    becomes an in-process reference (see ``trainables.registry.register_function``)."""
    from trainables.registry import register_function

    if isinstance(spec, JobSpec):
        data = spec.resolved()
    elif isinstance(spec, Mapping):
        data = _copy(spec)
    elif isinstance(spec, (str, Path)):
        data = read_spec_file(Path(spec))
    else:
        raise SpecError([f"spec: a path, a dict or a JobSpec, got {type(spec).__name__}"])
    for key, value in overrides.items():
        note = apply_override(data, key.replace("__", "."), value)
        if note is not None:
            warnings.warn(note.replace("--set ", "override ", 1), stacklevel=3)
    if callable(data.get("trainable")):
        data["trainable"] = register_function(data["trainable"])
    return data


def _copy(value: Any) -> Any:
    """Nested dicts and lists copied (overrides must not change the caller's dict), leaves kept."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def validate(spec: SpecLike, **overrides: Any) -> JobSpec:
    """The validated spec; ``SpecError`` with one line per problem otherwise."""
    return validate_spec(spec_data(spec, overrides))


def run(
    spec: SpecLike,
    *,
    address: str | None = None,
    restart: bool = False,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    resume_changed_code: bool = False,
    **overrides: Any,
) -> JobResult:
    """Run the job (or resume it, as the CLI does) and return its results. ``address``: None for
    an embedded Ray, ``"auto"`` for a cluster started with ``ray start --head``. A staged spec
    returns the last stage's results. ``JobFailed`` (carrying the results) when no trial
    succeeded. Ctrl-C (KeyboardInterrupt) leaves the job resumable. A rerun whose trainable code
    changed since the results were written raises ``SpecError`` unless ``restart`` (start over)
    or ``resume_changed_code`` (go on, recorded in job.json)."""
    from trainables.registry import IN_PROCESS_PREFIX
    from tune_jobs.runner import run_job, run_stages

    job = validate(spec, **overrides)
    if job.trainable.startswith(IN_PROCESS_PREFIX) and address not in (None, "auto", "local"):
        raise SpecError([f"trainable: a Python function runs on an embedded Ray or a cluster joined from this machine "
                         f"(address None or 'auto'), not on {address}; name it as 'package.module:function' in a "
                         "module the cluster can import, and use `tune-jobs submit`"])
    if job.stages:
        done = run_stages(job, address=address, restart=restart, num_cpus=num_cpus, num_gpus=num_gpus,
                          resume_changed_code=resume_changed_code)
    else:
        done = [(job, run_job(job, address=address, restart=restart, num_cpus=num_cpus, num_gpus=num_gpus,
                              resume_changed_code=resume_changed_code))]
    if job.outputs.mlflow is not None:
        from tune_jobs.exports import finish_outputs

        for stage_job, stage_outcome in done:
            finish_outputs(stage_job, stage_outcome)
    outcome = done[-1][1]
    result = load(outcome.results_dir)
    if outcome.exit_code != 0:
        raise JobFailed(result)
    return result


def load(directory: str | Path) -> JobResult:
    """A job's results from its directory (``<storage>/<name>``) or object-store URI."""
    return JobResult(load_results(str(directory)))


__all__ = ["Best", "JobFailed", "JobResult", "SpecError", "UserError", "load", "run", "validate"]
