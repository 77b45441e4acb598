"""``report``, TensorBoard files and ``narrow`` on one small real digits job (shared by the tests)."""

import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import ROOT
from tune_jobs.cli import app
from tune_jobs.spec import load_spec

pytestmark = pytest.mark.integration
TRIALS, EPOCHS = 10, 6


def run_cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def digits_job(ray_session, tmp_path_factory):
    """The quickstart example, smaller: digits_mlp, random search + ASHA."""
    storage = tmp_path_factory.mktemp("report")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code, output = run_cli("run", "examples/digits_mlp.yaml", "--storage", storage,
                               "--set", f"search.num_samples={TRIALS // 2}", "--set", f"config.epochs={EPOCHS}",
                               "--set", "scheduler.grace_period=1")
    finally:
        os.chdir(cwd)
    assert code == 0, output
    return storage / "digits-mlp"


def test_report_is_one_self_contained_page_with_every_section(digits_job, tmp_path):
    target = tmp_path / "report.html"
    code, output = run_cli("report", digits_job, "-o", target)
    assert code == 0, output
    page = target.read_text()
    for section in ("At a glance", "Best trials", "Learning curves", "Which hyperparameters matter", "functional ANOVA",
                    "against each hyperparameter", "Parallel coordinates", "ASHA rung survival", "Diagnosis of the top trials"):
        assert section in page, section
    assert page.count('src="data:image/png;base64,') >= 6  # curves, importance, params, parallel, rungs, diagnosis
    assert "http://" not in page and "https://" not in page  # opens offline: nothing fetched
    assert not list(tmp_path.glob(".report.html.*"))  # written atomically


def test_report_defaults_into_the_results_directory_and_refuses_bad_input(digits_job, tmp_path):
    code, output = run_cli("report", digits_job)
    assert code == 0 and (digits_job / "report.html").is_file(), output
    code, output = run_cli("report", tmp_path)
    assert code == 2 and output.strip() == f"{tmp_path}: not a tune-jobs results directory (no job.json)"
    code, output = run_cli("report", digits_job, "-o", tmp_path / "missing" / "r.html")
    assert code == 2 and output.strip().startswith("--output: directory") and "Traceback" not in output


def _chromium():
    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)


@pytest.mark.skipif(_chromium() is None, reason="no Chromium here (.ci/run installs Debian's chromium)")
def test_report_renders_in_headless_chromium(digits_job, tmp_path):
    from PIL import Image

    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    assert run_cli("report", digits_job, "-o", page)[0] == 0
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1280,4800",
                    f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[:2] == (4800, 1280)
    header = image[:150]
    assert (header.mean(axis=(0, 1)) < 80).all()  # the dark header was styled by the page's CSS
    body = image[200:4800:400]
    coloured = (np.ptp(body, axis=2) > 60).mean()  # chart colours, not only text on white
    assert coloured > 0.005, coloured


def read_scalars(directory):
    """(tag, step, value) from tensorboardX event files: TFRecord frames of Event protos."""
    from tensorboardX.proto.event_pb2 import Event

    found = []
    for path in directory.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            found += [(v.tag, event.step, v.simple_value) for v in event.summary.value if v.HasField("simple_value")]
    return found


def test_every_trial_has_tensorboard_curves_matching_the_parquet(digits_job):
    import pandas as pd

    iterations = pd.read_parquet(digits_job / "iterations.parquet")
    runs = sorted(p.name for p in (digits_job / "tensorboard").iterdir())
    assert runs == sorted(iterations.trial_id.unique())
    trial = iterations.trial_id.iloc[0]
    scalars = read_scalars(digits_job / "tensorboard" / trial)
    accuracy = sorted((step, value) for tag, step, value in scalars if tag == "val_accuracy")
    expected = iterations[iterations.trial_id == trial].sort_values("training_iteration")
    assert [s for s, _ in accuracy] == expected.training_iteration.tolist()  # each step once
    assert np.allclose([v for _, v in accuracy], expected.val_accuracy, atol=1e-6)
    assert {"train_loss", "val_loss", "lr"} <= {tag for tag, _, _ in scalars}


def test_narrow_writes_a_valid_commented_spec_that_runs_warm_started(digits_job, tmp_path, in_repo):
    import pandas as pd

    target = tmp_path / "narrowed.yaml"
    code, output = run_cli("narrow", digits_job, "-o", target, "--top-fraction", "0")
    assert code == 2 and output.strip() == "--top-fraction: must be in (0, 1], got 0" and not target.exists()
    code, output = run_cli("narrow", digits_job, "-o", target, "--top-fraction", "0.3", "--trials", "3")
    assert code == 0, output
    text = target.read_text()
    assert text.startswith("# Narrowed from digits-mlp") and "# was " in text
    spec = load_spec(target, [f"storage={tmp_path}"])
    original = load_spec(ROOT / "examples" / "digits_mlp.yaml")
    assert spec.plan.search.algorithm == "bayesopt" and spec.plan.search.options.warm_start == str(digits_job)
    for key, param in spec.space.items():
        if param.is_numeric:
            assert original.space[key].bounds[0] <= param.bounds[0] < param.bounds[1] <= original.space[key].bounds[1]
    data = yaml.safe_load(text)
    for key in data["config"]:
        assert key in original.config or key in original.space
    code, output = run_cli("run", target, "--storage", tmp_path)
    assert code == 0, output
    trials = pd.read_parquet(tmp_path / "digits-mlp-narrowed" / "trials.parquet")
    assert len(trials) == 3


def test_ensemble_averages_the_best_checkpoints_of_the_top_trials(digits_job):
    import json

    import pandas as pd

    code, output = run_cli("ensemble", digits_job, "--top", "3")
    assert code == 0, output
    assert "ensemble accuracy" in output and "vs best single" in output
    found = json.loads((digits_job / "ensemble.json").read_text())
    assert len(found["members"]) == 3 and 0.5 < found["accuracy"] <= 1 and found["validation_samples"] == 450
    assert found["best_single_accuracy"] == max(m["accuracy"] for m in found["members"])
    iterations = pd.read_parquet(digits_job / "iterations.parquet")
    trials = pd.read_parquet(digits_job / "trials.parquet").set_index("trial_id")
    for member in found["members"]:  # each member is its best epoch's checkpoint, scoring what the job recorded
        history = iterations[iterations.trial_id == member["trial_id"]].set_index("training_iteration").val_accuracy
        assert history[member["epoch"]] == trials.loc[member["trial_id"], "best_val_accuracy"]
        assert abs(member["accuracy"] - history[member["epoch"]]) < 1e-6


def test_evaluate_needs_held_out_rows(digits_job):
    code, output = run_cli("evaluate", digits_job)
    assert code == 2 and len(output.strip().splitlines()) == 1
    assert "held out no test rows" in output and "config.test_fraction" in output
    assert not (digits_job / "evaluation.json").exists()


def test_ensemble_refuses_what_it_cannot_rebuild(digits_job, tmp_path, in_repo):
    code, output = run_cli("ensemble", digits_job, "--top", "1")
    assert code == 2 and output.strip() == "--top: an ensemble needs at least 2 members, got 1"
    spec = tmp_path / "quad.yaml"
    spec.write_text(yaml.safe_dump({"name": "quad", "trainable": "tests.user_trainables:quadratic", "metric": "score",
                                    "mode": "max", "config": {"steps": 1}, "space": {"x": {"uniform": [0, 2]}},
                                    "search": {"num_samples": 2}, "storage": str(tmp_path)}))
    assert run_cli("run", spec)[0] == 0
    code, output = run_cli("ensemble", tmp_path / "quad")
    assert code == 2 and "is not a built-in classifier" in output and len(output.strip().splitlines()) == 1
