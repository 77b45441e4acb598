"""``stages:``: a coarse stage, then a fine stage narrowed from it and warm-started, in one run."""

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tune_jobs.cli import app
from tune_jobs.spec import load_spec

pytestmark = pytest.mark.integration


def test_two_stages_run_in_one_job_and_resume(ray_session, in_repo, tmp_path):
    spec = {
        "name": "quad", "trainable": "tests.user_trainables:quadratic", "metric": "score", "mode": "max",
        "config": {"steps": 2}, "space": {"x": {"uniform": [0.0, 10.0]}, "y": {"choice": ["a", "b"]}},
        "search": {"algorithm": "random", "seed": 0},
        "stages": [{"name": "coarse", "trials": 10}, {"name": "fine", "trials": 4, "top_fraction": 0.3}],
        "storage": str(tmp_path / "results"),
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "stage quad-coarse:" in result.output and "best score over all stages:" in result.output
    coarse = pd.read_parquet(tmp_path / "results" / "quad-coarse" / "trials.parquet")
    fine = pd.read_parquet(tmp_path / "results" / "quad-fine" / "trials.parquet")
    assert len(coarse) == 10 and len(fine) == 4
    fine_job = load_spec_from_record(tmp_path / "results" / "quad-fine")
    low, high = fine_job["space"]["x"]["uniform"]
    top = coarse.sort_values("best_score", ascending=False).head(3)["config/x"]
    assert 0 <= low <= top.min() and top.max() <= high <= 10 and high - low < 10
    assert fine_job["search"]["algorithm"] == "bayesopt"
    assert fine_job["search"]["options"]["warm_start"] == str(tmp_path / "results" / "quad-coarse")
    assert fine["config/x"].between(low, high).all()

    again = CliRunner().invoke(app, ["run", str(path)])  # both stages resume: nothing is run twice
    assert again.exit_code == 0, again.output
    assert len(pd.read_parquet(tmp_path / "results" / "quad-fine" / "iterations.parquet")) == 8


def load_spec_from_record(directory):
    import json

    return json.loads((directory / "job.json").read_text())["spec"]


def test_stages_validate_with_one_line_per_problem(tmp_path, in_repo):
    base = {"name": "s", "trainable": "digits_mlp", "metric": "val_accuracy", "space": {"lr": {"loguniform": [1e-4, 0.1]}}}
    cases = [
        ({"stages": [{"name": "only", "trials": 4}]}, "stages: a coarse-to-fine job needs at least 2 stages, got 1"),
        ({"stages": [{"name": "a", "trials": 4}, {"name": "a", "trials": 2}]}, "stages[1].name: 'a' is used by an earlier stage"),
        ({"stages": [{"name": "a", "trials": 4}, {"name": "b", "trials": 2}], "search": {"num_samples": 8}},
         "search.num_samples: not used with stages; each stage sets its own trials"),
        ({"stages": [{"name": "a", "trials": 4}, {"name": "b", "trials": 2, "top_fraction": 0}]},
         "stages[1].top_fraction: input should be greater than 0, got 0"),
    ]
    for extra, expected in cases:
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump({**base, **extra}))
        result = CliRunner().invoke(app, ["validate", str(path)])
        assert result.exit_code == 2 and result.output.strip() == expected, (extra, result.output)
    path.write_text(yaml.safe_dump({**base, "stages": [{"name": "coarse", "trials": 6}, {"name": "fine", "trials": 3}]}))
    assert load_spec(path).planned_trials == 9
