"""``auto``: the scheduler chosen from what validation knows before anything runs: how long a
trial is (the trainable's epochs), how many trials the job plans, its objectives and its search.
The rule and its evidence (README, Schedulers): successive halving pays once a trial has enough
epochs for rungs and the job enough trials to compare (random+ASHA 3.58x random+FIFO's time to
target on the median curve table, 1.28x on real digits runs); with TPE, keeping the top quarter
at each rung instead of a third is better still (3.86x FIFO, 1.28x ASHA, worst 0.99x ASHA over 20
seeds); with several objectives MO-ASHA reaches random+FIFO's hypervolume 2.72x sooner on the
median table. Otherwise FIFO. The job records the scheduler chosen, never ``auto``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from tune_jobs.schedulers.base import SCHEDULERS, SchedulerSpec

MIN_EPOCHS = 9  # rungs at 1, 3 and 9 epochs (grace period 1, reduction factor 3): fewer leave little to stop
MIN_TRIALS = 20  # fewer trials: too few reach a rung to compare them, and every one of them counts


@SCHEDULERS.register("auto")
class AutoScheduler(SchedulerSpec):
    type: Literal["auto"] = "auto"
    multi_objective: ClassVar[bool] = True  # it chooses mo_asha or fifo then

    @property
    def decides_per_result(self) -> bool:
        return True  # each choice does

    def choose(self, epochs: int | None, trials: int, objectives: int, search_algorithm: str) -> SchedulerSpec:
        options: dict[str, Any]
        if epochs is None or epochs < MIN_EPOCHS or trials < MIN_TRIALS:
            name, options = "fifo", {}
        elif objectives > 1:
            name, options = "mo_asha", {}
        elif search_algorithm == "tpe":
            name, options = "asha", {"reduction_factor": 4}
        else:
            name, options = "asha", {}
        return SCHEDULERS.get(name).model_validate({"type": name, **options})
