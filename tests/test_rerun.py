"""A rerun of a job whose results exist: grows, shows or is refused before Ray starts (no Ray here)."""

import json

import pytest

from tests.test_spec import spec_with
from tune_jobs.errors import SpecError
from tune_jobs.rerun import CLI_WORDS, check_rerun
from tune_jobs.results.files import JOB_FILE
from tune_jobs.results.store import ResultsStore
from tune_jobs.spec import validate_spec

NO_GRID = {"lr": {"loguniform": [1e-4, 1e-1]}, "dropout": {"uniform": [0.0, 0.5]}}


def finished_job(tmp_path, stack_size=1, **changes):
    first = validate_spec(spec_with(storage=str(tmp_path), **{"space": dict(NO_GRID), **changes}))
    store = ResultsStore(first.results_dir)
    store.make()
    store.write_json(JOB_FILE, {"spec": first.resolved(), "spec_sha256": first.sha256(), "status": "finished",
                                "stack_size": stack_size})
    return first, store


def rerun_with(tmp_path, store, words=None, **changes):
    spec = validate_spec(spec_with(storage=str(tmp_path), **{"space": dict(NO_GRID), **changes}))
    return check_rerun(spec, store, restart=False, resume_changed_code=False, **({"words": words} if words else {}))


def refusal(tmp_path, store, words=None, **changes):
    with pytest.raises(SpecError) as info:
        rerun_with(tmp_path, store, words, **changes)
    [line] = info.value.problems
    return line


def test_the_same_spec_on_a_finished_job_only_shows_it(tmp_path):
    _, store = finished_job(tmp_path)
    rerun = rerun_with(tmp_path, store)
    assert rerun.finished and rerun.growth is None


def test_more_samples_or_a_longer_time_budget_grow_a_finished_job(tmp_path):
    _, store = finished_job(tmp_path)
    rerun = rerun_with(tmp_path, store, search__num_samples=10)
    assert not rerun.finished and rerun.ended_before and rerun.growth.changes == ["search.num_samples: 4 -> 10"]
    rerun = rerun_with(tmp_path, store, search__num_samples=6, stop__time_budget_s=120)
    assert rerun.growth.changes == ["search.num_samples: 4 -> 6", "stop.time_budget_s: 60 -> 120"]
    assert rerun_with(tmp_path, store, stop__time_budget_s=None).growth.changes == ["stop.time_budget_s: 60 -> null"]


def test_any_other_change_is_refused_naming_every_changed_field_in_the_callers_words(tmp_path):
    _, store = finished_job(tmp_path)
    line = refusal(tmp_path, store, search__num_samples=10, config={"epochs": 5})
    assert line == (f"storage: results of job 'digits' in {store} come from a different spec (config.epochs: 4 -> 5; "
                    "search.num_samples: 4 -> 10); pass restart=True to replace them, or choose another name (a rerun "
                    "can only raise search.num_samples or stop.time_budget_s)")
    assert "pass --restart to replace them" in refusal(tmp_path, store, CLI_WORDS, config={"epochs": 5})
    # Shrinking is a change like any other.
    assert "(search.num_samples: 4 -> 2; stop.time_budget_s: 60 -> 30)" in refusal(
        tmp_path, store, search__num_samples=2, stop__time_budget_s=30)


def test_jobs_whose_trials_ray_draws_up_front_cannot_grow(tmp_path):
    grid = {"batch_size": {"choice": [32, 64]}}
    _, store = finished_job(tmp_path, search={"algorithm": "grid", "num_samples": 1}, space=grid)
    line = refusal(tmp_path, store, search={"algorithm": "grid", "num_samples": 2}, space=grid)
    assert line.startswith("search.num_samples: job 'digits' cannot grow: grid search with the asha scheduler draws "
                           "every trial up front (Ray's variant generator); pass restart=True")
    _, fused = finished_job(tmp_path / "fused", stack_size=4)
    line = refusal(tmp_path / "fused", fused, search__num_samples=8)
    assert line.startswith("search.num_samples: job 'digits' cannot grow: it ran as fused stacks of 4 (execution.fuse)")


def test_restart_ignores_the_earlier_results(tmp_path):
    _, store = finished_job(tmp_path)
    spec = validate_spec(spec_with(storage=str(tmp_path), config={"epochs": 5}, space=dict(NO_GRID)))
    assert check_rerun(spec, store, restart=True, resume_changed_code=False).growth is None


def test_validate_says_what_run_would_do_with_the_results_there(tmp_path, in_repo):
    import yaml
    from typer.testing import CliRunner

    from tune_jobs.cli import app

    _, store = finished_job(tmp_path)
    path = tmp_path / "job.yaml"

    def validate(**changes):
        path.write_text(yaml.safe_dump(spec_with(storage=str(tmp_path), space=dict(NO_GRID), **changes)))
        result = CliRunner().invoke(app, ["validate", str(path)])
        return result.exit_code, result.output

    code, output = validate(search__num_samples=10)
    assert code == 0 and f"run grows job digits in {store}: search.num_samples: 4 -> 10" in output
    code, output = validate()
    assert code == 0 and "job digits finished in" in output and "run shows its results" in output
    code, output = validate(config={"epochs": 5})
    assert code == 2 and "come from a different spec (config.epochs: 4 -> 5); pass --restart" in output
    assert "valid (" not in output
    assert json.loads((tmp_path / "digits" / JOB_FILE).read_text())["status"] == "finished"  # validate wrote nothing
