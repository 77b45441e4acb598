"""compat.lean_controller: the shortcuts through Ray's trial loop (bench/scale.py many) choose what
Ray itself chooses, and are gone after the fit."""


class _Trial:
    def __init__(self, status: str, name: str = "t") -> None:
        self.status, self.stub, self.trainable_name = status, False, name


class _Controller:
    def __init__(self, trials: list) -> None:
        self.trials = trials

    def get_trials(self) -> list:
        return self.trials


def test_the_lean_trial_scan_picks_what_rays_full_scan_picks_as_trials_end_and_arrive():
    """The scan from the first unfinished trial (compat.lean_controller) against Ray's own
    FIFO scan, step by step over a job whose trials start, pause, end and keep arriving."""
    import random

    from ray.tune.experiment import Trial
    from ray.tune.schedulers import FIFOScheduler

    from tune_jobs.ray_tune.compat import lean_controller

    full_scan = FIFOScheduler.choose_trial_to_run
    rng = random.Random(0)
    statuses = [Trial.PENDING, Trial.RUNNING, Trial.PAUSED, Trial.TERMINATED, Trial.ERROR]
    controller, scheduler = _Controller([]), FIFOScheduler()
    with lean_controller():
        assert FIFOScheduler.choose_trial_to_run is not full_scan
        for _ in range(3000):
            controller.trials.extend(_Trial(Trial.PENDING) for _ in range(rng.randrange(3)))
            for trial in rng.sample(controller.trials, min(3, len(controller.trials))):
                if trial.status not in (Trial.TERMINATED, Trial.ERROR):  # ended is final
                    trial.status = rng.choice(statuses)
            assert scheduler.choose_trial_to_run(controller) is full_scan(scheduler, controller)
    assert FIFOScheduler.choose_trial_to_run is full_scan


def test_the_trainable_class_is_looked_up_once_per_name_inside_a_fit_only():
    from ray.tune.experiment import Trial

    from tune_jobs.ray_tune.compat import lean_controller

    lookups = []
    original = Trial.get_trainable_cls

    def counted(self):
        lookups.append(self.trainable_name)
        return f"class of {self.trainable_name}"

    Trial.get_trainable_cls = counted
    try:
        with lean_controller():
            found = [Trial.get_trainable_cls(_Trial("PENDING", name)) for name in ["a", "b", "a", "a", "b"]]
        assert found == ["class of a", "class of b", "class of a", "class of a", "class of b"]
        assert lookups == ["a", "b"]
        assert Trial.get_trainable_cls is counted  # restored on exit
    finally:
        Trial.get_trainable_cls = original
