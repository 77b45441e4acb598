"""Every registered scheduler through the same checks: its options and defaults, the Ray scheduler
it builds, how it names ended trials, its rungs; and a tiny real job per scheduler."""

import re
from pathlib import Path

import pandas as pd
import pytest
from ray import cloudpickle
from ray.tune.schedulers import TrialScheduler

from tune_jobs.ray_tune.space import param_space
from tune_jobs.results.schema import COMPLETED, STATUSES
from tune_jobs.schedulers import SCHEDULERS, JobContext, RungSurvival
from tune_jobs.spec import validate_spec

ROOT = Path(__file__).resolve().parents[1]
NAMES = [name for name in SCHEDULERS.names() if name != "auto"]  # auto is one of these once chosen (test below)
# What a job on the test trainable (a user function that checkpoints, searching x) must add.
JOB_OPTIONS = {"pbt": {"hyperparams": ["x"], "perturbation_interval": 3}}


def spec_data(name, tmp_path=None, **fields):
    data = {
        "name": "sched", "trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max",
        "config": {"steps": 9}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"num_samples": 8, "seed": 0, "max_concurrent": 2}, "scheduler": {"type": name},
        "failure": {"max_failures": 0}, "tensorboard": False,
    }
    if tmp_path is not None:
        data["storage"] = str(tmp_path / "results")
    data.update(fields)
    return data


@pytest.mark.parametrize("name", NAMES)
def test_conformance_defaults_build_status_rungs(name):
    spec = validate_spec(spec_data(name, trainable="digits_mlp", metric="val_accuracy", mode=None,
                                   config={"epochs": 9}, space={"lr": {"loguniform": [1e-3, 1e-1]}}))
    scheduler = spec.plan.scheduler
    assert scheduler.type == name
    assert scheduler.max_iterations in (None, 9)  # from config.epochs when the scheduler counts iterations
    built = scheduler.build(JobContext("val_accuracy", "max", "/tmp/conformance", 8, dict(spec.space),
                                       samplers=param_space({}, dict(spec.space))))
    assert isinstance(built, TrialScheduler)
    cloudpickle.loads(cloudpickle.dumps(built))  # Ray pickles the scheduler with the experiment
    assert scheduler.trial_status(scheduler.max_iterations or 9) == COMPLETED
    assert scheduler.trial_status(1) in STATUSES
    milestones = scheduler.milestones
    assert milestones == sorted(milestones) and all(m <= (scheduler.max_iterations or 10**9) for m in milestones)
    survival = scheduler.rungs([1, 3, 9, 9])
    assert survival is None or (isinstance(survival, RungSurvival) and survival.title and survival.explanation
                                and [r.iteration for r in survival.rungs] == milestones
                                and all(r.of == 4 for r in survival.rungs))
    again = validate_spec(spec.resolved())  # job.json's spec reads back to the same scheduler
    assert again.plan.scheduler == scheduler


@pytest.mark.parametrize("name", SCHEDULERS.names())
def test_unknown_options_are_refused(name):
    from tune_jobs.errors import SpecError

    with pytest.raises(SpecError) as info:
        validate_spec(spec_data(name, scheduler={"type": name, "bogus": 1, **JOB_OPTIONS.get(name, {})}))
    assert info.value.problems[0].startswith("scheduler.bogus: unknown key")


def test_no_module_outside_the_package_names_a_scheduler_type():
    outside = [p for p in (ROOT / "tune_jobs").rglob("*.py") if "schedulers" not in p.parts]
    outside += list((ROOT / "trainables").rglob("*.py")) + [ROOT / "tune_jobs" / "report" / "template.html.j2"]
    for name in NAMES:
        pattern = re.compile(rf"[\"']{name}[\"']|\b{name.capitalize()}\w*Scheduler\b")
        for path in outside:
            assert not pattern.search(path.read_text()), f"{path.relative_to(ROOT)} names the {name!r} scheduler"


@pytest.mark.parametrize("fields, chosen", [
    ({}, {"type": "asha", "max_t": 10, "reduction_factor": 3.0}),  # bayesopt (search auto) over 40 trials of 10 epochs
    ({"search": {"algorithm": "tpe", "num_samples": 40}}, {"type": "asha", "max_t": 10, "reduction_factor": 4.0}),
    ({"objectives": {"val_accuracy": "max", "latency_ms": "min"}, "search": {"algorithm": "tpe", "num_samples": 40}},
     {"type": "mo_asha", "max_t": 10}),
    ({"config": {"epochs": 5}}, {"type": "fifo"}),  # too few epochs for rungs
    ({"search": {"num_samples": 12}}, {"type": "fifo"}),  # too few trials to compare
    ({"trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max", "config": {"steps": 9}},
     {"type": "fifo"}),  # no epochs declared: no rungs to place
])
def test_auto_picks_successive_halving_for_long_enough_trials_and_enough_of_them(fields, chosen):
    data = {"name": "auto", "trainable": "digits_mlp", "metric": "val_accuracy", "space": {"lr": {"loguniform": [1e-3, 1e-1]}},
            "search": {"num_samples": 40}, "scheduler": {"type": "auto"}, **fields}
    if "objectives" in fields:
        del data["metric"]
    spec = validate_spec(data)
    recorded = spec.resolved()["scheduler"]
    assert {key: recorded[key] for key in chosen} == chosen  # job.json records the choice, never auto
    again = validate_spec({**spec.resolved(), "name": "auto"})
    assert again.plan.scheduler == spec.plan.scheduler and again.sha256() == spec.sha256()  # resumes as itself


def test_auto_is_simulated_as_its_choice():
    from tune_jobs.search import SEARCHES
    from tune_jobs.simulation import MFHartmann6, simulate

    search = SEARCHES.get("random").model_validate({"algorithm": "random", "seed": 0, "num_samples": 40})
    auto, asha = (simulate(MFHartmann6(epochs=9), search, SCHEDULERS.get(name).model_validate({"type": name}), workers=2)
                  for name in ("auto", "asha"))
    assert auto.results.equals(asha.results) and (auto.trials.status == "stopped").any()


def test_a_user_trainable_without_epochs_must_set_max_t():
    from tune_jobs.errors import SpecError

    with pytest.raises(SpecError) as info:
        validate_spec(spec_data("asha", config={"steps": 9}))
    assert info.value.problems == ["scheduler.max_t: required: the trainable declares no epochs to default it to "
                                   "(asha stops trials by their reported iterations)"]


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_each_scheduler_runs_a_job(ray_session, in_repo, tmp_path, name):
    from tune_jobs.runner import run_job

    options = {"type": name, **JOB_OPTIONS.get(name, {})}
    if "max_t" in SCHEDULERS.get(name).model_fields:
        options["max_t"] = 9
    spec = validate_spec(spec_data(name, tmp_path, scheduler=options))
    outcome = run_job(spec)
    trials = pd.read_parquet(Path(outcome.results_dir) / "trials.parquet")
    iterations = pd.read_parquet(Path(outcome.results_dir) / "iterations.parquet")
    assert len(trials) == 8 and set(trials.status) <= {"completed", "stopped"}
    assert (trials.iterations <= 9).all()
    short = trials[(trials.status == "completed") & (trials.iterations < 9)]
    if len(short):  # PBT may hand a trial a donor's checkpoint from its last step: nothing left to run
        events = pd.read_parquet(Path(outcome.results_dir) / "scheduler_events.parquet")
        finished_copies = events[(events.event == "exploited") & (events.copied_iteration == 9)]
        assert set(short.trial_id) <= set(finished_copies.trial_id), short
    assert not iterations.duplicated(["trial_id", "training_iteration"]).any()
    assert len(iterations) == trials.iterations.sum()
    if spec.plan.scheduler.milestones:
        assert (trials.status == "stopped").any()  # it compared trials and cut some


def test_pbt_mutations_stay_inside_the_space():
    from tune_jobs.schedulers.pbt import clip_to_space
    from tune_jobs.space import LogUniform, Ordinal, RandInt

    space = {"lr": LogUniform(loguniform=(1e-4, 1e-1)), "batch_size": Ordinal(ordinal=[16, 32, 64]),
             "layers": RandInt(randint=(1, 4))}
    mutated = {"lr": 0.1 * 1.2, "batch_size": 77, "layers": 0.2, "other": "kept"}
    assert clip_to_space(mutated, space) == {"lr": 0.1, "batch_size": 64, "layers": 1, "other": "kept"}


@pytest.mark.integration
def test_pbt_copies_checkpoints_and_the_mutated_config_is_what_the_trial_ran_with(ray_session, in_repo, tmp_path):
    from tune_jobs.runner import run_job

    spec = validate_spec(spec_data("pbt", tmp_path, trainable="digits_mlp", metric="val_accuracy", mode=None,
                                   config={"epochs": 6, "hidden": 16},
                                   space={"lr": {"loguniform": [1e-4, 1e-1]}, "weight_decay": {"loguniform": [1e-6, 1e-2]}},
                                   search={"num_samples": 4, "seed": 0},
                                   scheduler={"type": "pbt", "perturbation_interval": 2, "quantile_fraction": 0.5}))
    outcome = run_job(spec)
    events = pd.read_parquet(Path(outcome.results_dir) / "scheduler_events.parquet")
    trials = pd.read_parquet(Path(outcome.results_dir) / "trials.parquet").set_index("trial_id")
    iterations = pd.read_parquet(Path(outcome.results_dir) / "iterations.parquet")
    assert len(events) >= 1 and set(events.event) == {"exploited"}
    assert events["after/lr"].between(1e-4, 1e-1).all() and events["after/weight_decay"].between(1e-6, 1e-2).all()
    last = events.groupby("trial_id").tail(1).set_index("trial_id")
    for trial_id, event in last.iterrows():
        assert trials.loc[trial_id, "config/lr"] == pytest.approx(event["after/lr"])  # the row shows the mutated config
        after = iterations[(iterations.trial_id == trial_id) & (iterations.training_iteration > event["copied_iteration"])]
        assert list(after.lr) == pytest.approx([event["after/lr"]] * len(after))  # and the loop ran with it
    assert not iterations.duplicated(["trial_id", "training_iteration"]).any()


def test_promotion_pasha_pauses_at_its_top_rung_and_resumes_the_best_there_once_the_top_rises():
    from ray.tune.experiment import Trial

    from tune_jobs.schedulers import STATES

    class Controller:
        def __init__(self, trials):
            self.trials = trials

        def get_trials(self):
            return self.trials

    class Running:
        def __init__(self, trial_id):
            self.trial_id, self.status, self.last_result = trial_id, Trial.RUNNING, {}

    spec = SCHEDULERS.get("pasha_promotion").model_validate({"type": "pasha_promotion", "max_t": 8,
                                                             "reduction_factor": 2})
    job = JobContext("score", "max", "promotion-pasha-unit", 10, {})
    scheduler = spec.build(job)
    trials = {name: Running(name) for name in "abc"}

    def report(name, iteration, score):
        decision = scheduler.on_trial_result(None, trials[name], {"training_iteration": iteration, "score": score})
        if decision == TrialScheduler.PAUSE:
            trials[name].status = Trial.PAUSED
        return decision

    try:
        assert scheduler.ceiling == 2  # rungs 1, 2, 4 and max_t 8: the top starts at the second
        assert report("a", 1, 0.1) == TrialScheduler.CONTINUE  # the first at a rung goes on (eager, as ASHA)
        assert report("a", 2, 0.1) == TrialScheduler.PAUSE  # at the top rung: paused there, not ended
        assert report("b", 1, 0.2) == TrialScheduler.CONTINUE  # above a: above the cutoff
        assert report("b", 2, 0.2) == TrialScheduler.PAUSE
        assert scheduler.ceiling == 2  # both rungs rank b above a: no reason to train further
        assert report("c", 1, 0.9) == TrialScheduler.CONTINUE
        assert report("c", 2, 0.05) == TrialScheduler.PAUSE  # best at 1, worst at 2: the top rises to 4,
        assert scheduler.ceiling == 4  # and c, below the cutoff at rung 2, waits there
        resumed = scheduler.choose_trial_to_run(Controller(list(trials.values())))
        assert resumed is trials["b"]  # the best paused at rung 2, promoted now that rung 2 is not the top
        resumed.status = Trial.RUNNING
        assert report("b", 4, 0.3) == TrialScheduler.PAUSE  # at the new top rung
        trials["d"] = Running("d")
        assert report("d", 1, float("nan")) == TrialScheduler.PAUSE  # a diverged trial reaches no cutoff
        waiting = spec.model_copy(update={"eager": False}).build(JobContext("score", "max", "promotion-pasha-wait", 10, {}))
        assert waiting.on_trial_result(None, Running("d"), {"training_iteration": 1, "score": 0.5}) == TrialScheduler.PAUSE
    finally:
        STATES.pop(job.job_key, None)
        STATES.pop("promotion-pasha-wait", None)
