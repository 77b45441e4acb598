"""Coarse-to-fine jobs (``stages:``): each stage is an ordinary job named ``<name>-<stage>``, so it
resumes, reports and narrows like any other. A later stage's spec is built only when the stage
before has finished, from its results; the same results give the same spec, so a rerun resumes
every stage where it stopped."""

from __future__ import annotations

from tune_jobs.analysis.follow_up import follow_up_spec
from tune_jobs.analysis.job_results import load_results
from tune_jobs.analysis.narrow import NarrowOptions, narrow_space
from tune_jobs.spec import JobSpec, validate_spec


def stage_name(spec: JobSpec, index: int) -> str:
    assert spec.stages is not None
    return f"{spec.name}-{spec.stages[index].name}"


def first_stage_spec(spec: JobSpec) -> JobSpec:
    assert spec.stages is not None
    data = spec.resolved()
    data.pop("stages")
    data["name"] = stage_name(spec, 0)
    data["search"]["num_samples"] = spec.stages[0].trials
    return validate_spec(data)


def next_stage_spec(spec: JobSpec, index: int, previous_results: str) -> JobSpec:
    """Stage ``index`` (>= 1), narrowed from the results of the stage before."""
    assert spec.stages is not None and index >= 1
    stage = spec.stages[index]
    results = load_results(previous_results)
    narrowed = narrow_space(results, NarrowOptions(top_fraction=stage.top_fraction, min_importance=stage.min_importance))
    data = follow_up_spec(results, narrowed, stage_name(spec, index), stage.trials)
    data["storage"] = spec.storage
    return validate_spec(data)
