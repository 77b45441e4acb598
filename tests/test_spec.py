import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tune_jobs.errors import SpecError
from tune_jobs.schedulers import SCHEDULERS
from tune_jobs.spec import load_spec, parse_override, validate_spec

ROOT = Path(__file__).resolve().parents[1]
BASE = {
    "name": "digits",
    "trainable": "digits_mlp",
    "metric": "val_accuracy",
    "mode": "max",
    "config": {"epochs": 4},
    "space": {
        "lr": {"loguniform": [1e-4, 1e-1]},
        "hidden": {"randint": [32, 512]},
        "dropout": {"uniform": [0.0, 0.5]},
        "batch_size": {"choice": [32, 64, 128]},
        "optimizer": {"grid": ["sgd", "adam"]},
    },
    "search": {"algorithm": "random", "num_samples": 4, "seed": 0, "max_concurrent": 2, "options": {}},
    "scheduler": {"type": "asha", "max_t": 4, "grace_period": 1, "reduction_factor": 3},
    "resources": {"cpu": 1, "gpu": 0.25},
    "stop": {"time_budget_s": 60},
    "failure": {"max_failures": 1},
    "storage": "results",
}


def spec_with(**changes):
    data = {key: (dict(value) if isinstance(value, dict) else value) for key, value in BASE.items()}
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return data


DELETE = object()


def problems(**changes):
    with pytest.raises(SpecError) as info:
        validate_spec(spec_with(**changes))
    return info.value.problems


def test_the_full_example_is_valid():
    spec = validate_spec(spec_with())
    assert spec.search.trials == 4 and spec.plan.scheduler.type == "asha"
    assert spec.resources.gpu == 0.25


def test_planned_trials_count_every_grid_combination():
    assert validate_spec(spec_with()).planned_trials == 8  # 4 samples x 2 optimizers
    grid = spec_with(search={"algorithm": "grid"}, space={"batch_size": {"choice": [32, 64, 128]},
                                                          "optimizer": {"grid": ["sgd", "adam"]}})
    assert validate_spec(grid).planned_trials == 6


def test_the_default_sample_count_is_not_a_spec_field():
    assert problems(search__default_num_samples=3) == [
        "search.default_num_samples: unknown key; valid keys: algorithm, num_samples, seed, max_concurrent, options"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"space__lr": {"loguniform": [0, 0.1]}}, "space.lr: loguniform lower bound must be > 0, got 0"),
        ({"space__lr": {"loguniform": [-1, 0.1]}}, "space.lr: loguniform lower bound must be > 0, got -1"),
        ({"space__hidden": {"lograndint": [0, 8]}}, "space.hidden: lograndint lower bound must be > 0, got 0"),
        ({"space__dropout": {"uniform": [0.5, 0.1]}},
         "space.dropout: uniform lower bound 0.5 must be below upper bound 0.1"),
        ({"space__hidden": {"randint": [512, 32]}}, "space.hidden: randint lower bound 512 is above upper bound 32"),
        ({"space__batch_size": {"choice": []}}, "space.batch_size: choice needs at least one value, got []"),
        ({"space__optimizer": {"grid": []}}, "space.optimizer: grid needs at least one value, got []"),
        ({"space__dropout": {"uniform": [0.5]}}, "space.dropout: uniform needs [low, high], got [0.5]"),
        ({"space__dropout": {"normal": [0, 1]}},
         "space.dropout: expected one of {uniform, loguniform, randint, lograndint, choice, grid, ordinal} with its values, "
         "got {'normal': [0, 1]}"),
        ({"space__hidden": {"randint": [1.5, 8]}}, "space.hidden.randint[0]: input should be a valid integer, got 1.5"),
        ({"name": "Digits MLP"}, "name: must match [a-z0-9_-]+, got 'Digits MLP'"),
        ({"name": DELETE}, "name: required"),
        ({"metric": DELETE}, "metric: required"),
        ({"colour": "blue"}, "colour: unknown key; valid keys: name, trainable, metric, mode, objectives, constraints, config, space, "
                             "search, scheduler, resources, stop, failure, execution, storage, runtime_env, tensorboard, outputs, stages"),
        ({"mode": "maximise"}, "mode: input should be 'max' or 'min', got 'maximise'"),
        ({"trainable": "resnet9000"},
         "trainable: unknown trainable 'resnet9000'; valid: custom_model, digits_cnn, digits_mlp, image_cnn, lightning, resnet18, "
         "seq2seq_transformer, tabular_mlp, text_rnn, text_transformer, vgg11_bn"),
        ({"search__algorithm": "hyperopt"},
         "search.algorithm: unknown search algorithm 'hyperopt'; valid: auto, bayesopt, forest, grid, nsga2, optuna_gp, random, tpe"),
        ({"search__num_samples": 0}, "search.num_samples: input should be greater than or equal to 1, got 0"),
        ({"search__options": {"kappa": 2}}, "search.options.kappa: unknown key; nothing can be set here"),
        ({"scheduler__type": "median"}, f"scheduler.type: unknown scheduler 'median'; valid: {', '.join(SCHEDULERS.names())}"),
        ({"scheduler__grace_period": 9}, "scheduler.grace_period: must be <= max_t (4), got 9"),
        ({"scheduler__reduction_factor": 1}, "scheduler.reduction_factor: input should be greater than 1, got 1"),
        ({"resources__cpu": 0}, "resources.cpu: input should be greater than 0, got 0"),
        ({"resources__cpu": -2}, "resources.cpu: input should be greater than 0, got -2"),
        ({"resources__gpu": -1}, "resources.gpu: must be auto or >= 0, got -1"),
        ({"resources__gpu": 1.5}, "resources.gpu: a trial above one GPU must use whole GPUs, got 1.5"),
        ({"failure__max_failures": -1}, "failure.max_failures: input should be greater than or equal to 0, got -1"),
        ({"stop__time_budget_s": 0}, "stop.time_budget_s: input should be greater than 0, got 0"),
        ({"config__lr": 0.1}, "space.lr: also set in config; a key is either fixed (config) or searched (space)"),
        ({"space__width": {"lograndint": [16, 256]}},
         "space.width: digits_mlp does not accept 'width'; accepted: lr, batch_size, epochs, optimizer, momentum, "
         "nesterov, weight_decay, schedule, step_size, gamma, warmup_epochs, grad_clip, label_smoothing, patience, "
         "patience_metric, device, seed, cv_folds, dynamics, dynamics_histograms, share_data, hidden, layers, dropout, "
         "val_fraction, test_fraction"),
        ({"metric": "accuracy"},
         "metric: digits_mlp does not report 'accuracy'; did you mean 'val_accuracy'? "
         "it reports train_loss, train_accuracy, val_loss, val_accuracy, params, latency_ms, peak_memory_mb, train_time_s"),
        ({"config__epochs": "ten"},
         "config.epochs: 'ten' not accepted: input should be a valid integer"),
        ({"space__optimizer": {"choice": ["sgd", "adamm"]}},
         "space.optimizer: choice value 'adamm' not accepted: input should be 'sgd', 'adam', 'adamw' or 'rmsprop'"),
    ],
)
def test_each_bad_input_is_one_line_naming_field_and_value(changes, expected):
    assert problems(**changes) == [expected]


def test_all_field_problems_are_reported_at_once():
    found = problems(space__lr={"loguniform": [0, 1]}, resources__cpu=0, name="Bad!")
    assert found == [
        "name: must match [a-z0-9_-]+, got 'Bad!'",
        "space.lr: loguniform lower bound must be > 0, got 0",
        "resources.cpu: input should be greater than 0, got 0",
    ]


def test_grid_search_refuses_continuous_ranges():
    found = problems(search__algorithm="grid")
    assert "space.lr: grid search needs listed values, got loguniform; use grid, choice or ordinal, " \
           "or search.algorithm random" in found
    assert len(found) == 3  # lr, hidden, dropout


def test_mode_comes_from_the_trainable_declaration():
    assert validate_spec(spec_with(mode=DELETE, metric="val_loss")).plan.mode == "min"


def test_user_function_needs_a_mode(in_repo):
    found = problems(trainable="tests.user_trainables:quadratic", mode=DELETE, space={"x": {"uniform": [0, 2]}},
                     config={})
    assert found == ["mode: required (max or min): tests.user_trainables:quadratic declares no metrics"]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("tests.user_trainables:missing", "trainable: 'tests.user_trainables' has no function 'missing'"),
        ("no_such_pkg.mod:train", "trainable: cannot import 'no_such_pkg.mod': No module named 'no_such_pkg' (modules are "
         f"imported from the working directory, {ROOT}: run from the directory that holds no_such_pkg/ or "
         "no_such_pkg.py, or add that directory to PYTHONPATH)"),
        ("bad reference:x", "trainable: expected a registered name or 'package.module:function', got 'bad reference:x'"),
    ],
)
def test_user_function_references(in_repo, reference, expected):
    assert problems(trainable=reference, space={}, config={}) == [expected]


def test_asha_max_t_defaults_to_epochs_and_checks_grace_period():
    spec = validate_spec(spec_with(scheduler={"type": "asha"}, config={"epochs": 7}))
    assert spec.plan.scheduler.max_t == 7
    assert problems(scheduler={"type": "asha", "grace_period": 9}, config={"epochs": 7}) == [
        "scheduler.grace_period: must be <= max_t (config.epochs = 7), got 9"
    ]


def test_validation_decides_once_in_the_plan_and_leaves_the_spec_as_written():
    spec = validate_spec(spec_with(mode=None, search={"algorithm": "auto", "num_samples": 6},
                                   scheduler={"type": "asha"}, config={"epochs": 7}))
    assert (spec.mode, spec.search.algorithm, spec.scheduler.max_t) == (None, "auto", None)  # as written
    plan = spec.plan
    assert plan.mode == "max" and plan.scheduler.max_t == 7 and plan.trainable.name == "digits_mlp"
    assert plan.chosen_by == "auto" and plan.search.algorithm != "auto" and spec.search_label == f"auto: {plan.search.algorithm}"
    recorded = spec.resolved()  # what job.json keeps: the plan's choices, which validate back to the same plan
    assert (recorded["mode"], recorded["search"]["algorithm"], recorded["scheduler"]["max_t"]) == ("max", plan.search.algorithm, 7)
    again = validate_spec(recorded)
    assert (again.plan.search, again.plan.scheduler, again.plan.mode) == (plan.search, plan.scheduler, plan.mode)
    assert again.sha256() == spec.sha256()


def test_overrides_are_yaml_and_validated_the_same(tmp_path):
    path = tmp_path / "job.yaml"
    import yaml

    path.write_text(yaml.safe_dump(BASE))
    spec = load_spec(path, ["search.num_samples=9", "space.lr={loguniform: [0.001, 0.01]}", "config.epochs=2"])
    assert spec.search.num_samples == 9 and spec.space["lr"].bounds == (0.001, 0.01)
    with pytest.raises(SpecError) as info:
        load_spec(path, ["space.lr={loguniform: [0, 0.01]}"])
    assert info.value.problems == ["space.lr: loguniform lower bound must be > 0, got 0"]
    with pytest.raises(SpecError) as info:
        parse_override("search.num_samples")
    assert info.value.problems[0].startswith("--set search.num_samples: expected key=value")


def test_file_problems_are_one_line(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "absent.yaml")
    assert info.value.problems == [f"{tmp_path / 'absent.yaml'}: no such file"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nspace: {lr: [1, 2\n")
    with pytest.raises(SpecError) as info:
        load_spec(broken)
    assert info.value.problems[0].startswith(f"{broken}:3:1: not valid YAML")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(SpecError) as info:
        load_spec(listed)
    assert "a job spec is a mapping" in info.value.problems[0]


def test_resolved_spec_round_trips_and_hashes_stably():
    spec = validate_spec(spec_with())
    again = validate_spec(spec.resolved())
    assert again.resolved() == spec.resolved() and again.sha256() == spec.sha256()


def test_spec_results_reader_and_trainables_import_without_ray():
    code = textwrap.dedent("""
        import sys
        import tune_jobs.spec, tune_jobs.results.reader, tune_jobs.results.sink, trainables.builtin.digits_mlp
        from tune_jobs.spec import validate_spec
        assert "ray" not in sys.modules, "ray imported"
        assert "torch" not in sys.modules, "torch imported"
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_problem_is_reported_in_one_pass_with_a_hint_for_near_misses():
    """Six typos were reported three, then three; a misspelt key got a 26-key list."""
    with pytest.raises(SpecError) as info:
        validate_spec({"name": "Typos", "trainable": "digits_mlp", "metric": "val_acuracy",
                       "config": {"epochz": 5, "hiden": 64}, "space": {"lr": {"loguniform": [0, 0.1]}},
                       "search": {"algorithm": "bayesop"}, "scheduler": {"type": "asha", "grace_period": 20},
                       "resources": {"cpu": 0}})
    assert info.value.problems == [
        "name: must match [a-z0-9_-]+, got 'Typos'",
        "space.lr: loguniform lower bound must be > 0, got 0",
        "search.algorithm: unknown search algorithm 'bayesop'; did you mean 'bayesopt'? "
        "valid: auto, bayesopt, forest, grid, nsga2, optuna_gp, random, tpe",
        "resources.cpu: input should be greater than 0, got 0",
        "metric: digits_mlp does not report 'val_acuracy'; did you mean 'val_accuracy'? "
        "it reports train_loss, train_accuracy, val_loss, val_accuracy, params, latency_ms, peak_memory_mb, train_time_s",
        "config.epochz: digits_mlp does not accept 'epochz'; did you mean 'epochs'? "
        "(`tune-jobs trainables digits_mlp` lists its keys)",
        "config.hiden: digits_mlp does not accept 'hiden'; did you mean 'hidden'? "
        "(`tune-jobs trainables digits_mlp` lists its keys)",
        "scheduler.grace_period: must be <= max_t (config.epochs = 10), got 20",
    ]


def test_a_bad_epochs_value_is_one_problem_not_also_a_missing_max_t():
    with pytest.raises(SpecError) as info:
        validate_spec(spec_with(config__epochs="ten", scheduler={"type": "asha"}))
    assert info.value.problems == ["config.epochs: 'ten' not accepted: input should be a valid integer"]


def test_switching_the_scheduler_type_drops_the_keys_the_new_type_does_not_take(tmp_path):
    """`--set scheduler.type=fifo` on an ASHA spec failed with `scheduler.grace_period: unknown key`."""
    import yaml

    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(BASE))
    notes: list[str] = []
    job = load_spec(path, ["scheduler.type=fifo"], notes)
    assert job.plan.scheduler.type == "fifo"
    assert notes == ["--set scheduler.type=fifo: dropped scheduler.grace_period, scheduler.max_t, "
                     "scheduler.reduction_factor (fifo does not take them)"]
    notes.clear()
    job = load_spec(path, ["scheduler.type=hyperband"], notes)  # takes every key ASHA's section has: all kept
    assert (job.plan.scheduler.type, job.plan.scheduler.max_t, job.plan.scheduler.grace_period) == ("hyperband", 4, 1) and notes == []
    with pytest.warns(UserWarning, match="override scheduler.type=fifo: dropped scheduler.grace_period, scheduler.max_t"):
        import tune_jobs

        assert tune_jobs.validate(str(path), scheduler__type="fifo").scheduler.type == "fifo"
