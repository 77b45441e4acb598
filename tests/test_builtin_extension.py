"""A built-in model is one module: a config, a set-up function and one ``register_classifier``
call. This test's throwaway model is picked up by the registry, validated in a spec, trained by
the shared loop in a real job and scored by ``evaluate``'s classifier hook."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

import tune_jobs
from trainables.loop.config import LoopConfig, parse_config
from trainables.loop.register import register_classifier
from trainables.loop.state import CLASSIFIER_METRICS
from trainables.registry import TRAINABLES


class SoftmaxConfig(LoopConfig):
    scale: float = Field(1.0, gt=0)


def softmax_classifier(config: dict[str, Any]) -> Any:
    """Logistic regression on the bundled digits: the smallest model the loop can train."""
    import torch

    from trainables.builtin.digits_mlp import load_digits_splits
    from trainables.loop.fit import Classifier

    settings = parse_config(SoftmaxConfig, config)
    train, val, _ = load_digits_splits(0.25, seed=0)
    torch.manual_seed(settings.seed)
    return Classifier(torch.nn.Linear(64, 10), train, val, settings)


@pytest.fixture
def softmax():
    register_classifier("test_softmax", config=SoftmaxConfig, classifier=softmax_classifier,
                        description="logistic regression on digits (a test's model)")
    yield TRAINABLES.get("test_softmax")
    TRAINABLES.remove("test_softmax")


def test_a_model_registered_in_one_call_is_a_trainable_like_the_built_ins(softmax):
    builtin = TRAINABLES.get("digits_mlp")
    assert softmax.metrics == CLASSIFIER_METRICS == builtin.metrics and softmax.accepts_checkpoint
    assert softmax.description == "logistic regression on digits (a test's model)"
    assert softmax.defaults()["scale"] == 1.0 and softmax.classifier is softmax_classifier
    with pytest.raises(tune_jobs.SpecError, match=r"^config.scale: "):
        tune_jobs.validate({"name": "bad", "trainable": "test_softmax", "metric": "val_accuracy",
                            "config": {"scale": 0}, "space": {"lr": {"loguniform": [1e-3, 1e-1]}}})


def test_a_model_registered_in_one_call_trains_in_a_real_job(ray_session, softmax, tmp_path):
    result = tune_jobs.run({"name": "softmax", "trainable": "test_softmax", "metric": "val_accuracy",
                            "config": {"epochs": 2, "batch_size": 128}, "space": {"lr": {"loguniform": [1e-2, 1e-1]}},
                            "search": {"num_samples": 2, "seed": 0}, "storage": str(tmp_path), "tensorboard": False})
    assert result.trials.status.tolist() == ["completed", "completed"]
    assert result.iterations.groupby("trial_id").size().tolist() == [2, 2]
    assert (result.trials.best_val_accuracy > 0.5).all()
