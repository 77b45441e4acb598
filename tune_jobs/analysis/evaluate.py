"""``tune-jobs evaluate``: the chosen models measured once on rows no trial trained on or was
ranked by (the built-in datasets' ``test_fraction`` split), next to their training and validation
figures, with the bias/variance reading those gaps give.

The best trial and the top-``k`` ensemble are rebuilt from their configs and the checkpoints where
their metric peaked (as ``tune-jobs ensemble`` does). The validation figure of the best trial is
optimistic: it is the maximum over every trial of the job on that split. The test figure is not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tune_jobs.analysis.ensemble import accuracy_of, best_state, classifier_trainable, nll_of, predicted_probabilities, restored_model
from tune_jobs.analysis.job_results import JobResults
from tune_jobs.errors import UserError
from tune_jobs.results.files import EVALUATION_FILE
from tune_jobs.results.store import ResultsStore

SPLITS = ("train", "validation", "test")
HIGH_BIAS_ERROR = 0.10  # training error above this: the model does not fit even the rows it learns from
HIGH_VARIANCE_GAP = 0.05  # validation error this much above training error
OPTIMISM_GAP = 0.02  # test error this much above validation error


CLASSIFIER_FIGURES = ("accuracy", "loss")  # loss: mean negative log-likelihood
TRANSLATION_FIGURES = ("bleu", "chrf", "exact")  # exact: the share of sentences translated exactly


@dataclass(frozen=True)
class Evaluated:
    name: str  # a trial id, or "ensemble of k"
    epoch: int | None
    scores: dict[str, dict[str, float]]  # by split, then figure
    members: list[str] = field(default_factory=list)  # an ensemble's trials, best first


@dataclass(frozen=True)
class Evaluation:
    metric: str
    best: Evaluated
    ensemble: Evaluated | None
    samples: dict[str, int]
    reading: list[str]
    figures: tuple[str, ...] = CLASSIFIER_FIGURES  # what scores holds; the first is the headline

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_job(results: JobResults, top: int, include_stopped: bool = False) -> Evaluation:
    import torch

    from trainables.registry import resolve_trainable

    try:
        evaluator = resolve_trainable(results.spec["trainable"]).evaluator
    except ValueError:
        evaluator = None  # classifier_trainable says why, in one line
    if evaluator is not None:
        return _evaluate_best_trial(results, evaluator)
    trainable = classifier_trainable(results, "evaluate and ensembles")
    scored = results.candidates(include_stopped)
    if not len(scored):
        hint = "" if include_stopped else " that ran to the end; --include-stopped adds the trials the scheduler stopped early"
        raise UserError([f"{results.directory}: no successful trial to evaluate{hint}"])
    store = ResultsStore(results.directory)
    probabilities: dict[str, list[Any]] = {split: [] for split in SPLITS}
    targets: dict[str, Any] = {}
    members: list[Evaluated] = []
    for _, row in scored.head(max(top, 1)).iterrows():
        classifier = trainable.classifier(results.config_of(row))
        if classifier.test is None:
            raise UserError([f"{results.directory}: the job held out no test rows; run it with config.test_fraction "
                             "(for example 0.2) to evaluate on rows no trial has seen"])
        model, device, epoch = restored_model(results, store, classifier, row["trial_id"])
        scores = {}
        for split, data in zip(SPLITS, (classifier.train, classifier.val, classifier.test), strict=True):
            if split not in targets:
                targets[split] = data.targets.cpu()
            elif not torch.equal(targets[split], data.targets.cpu()):
                raise UserError([f"{results.directory}: trial {row['trial_id']} has other {split} rows than the best "
                                 "trial (is a data key such as val_fraction searched?); its predictions cannot be averaged"])
            probs = predicted_probabilities(model, data.inputs.to(device)).cpu()
            probabilities[split].append(probs)
            scores[split] = _scores(probs, targets[split])
        members.append(Evaluated(str(row["trial_id"]), epoch, scores))
    ensemble = None
    if len(members) >= 2:
        ensemble = Evaluated(f"ensemble of {len(members)}", None,
                             {split: _scores(torch.stack(p).mean(0), targets[split]) for split, p in probabilities.items()},
                             [m.name for m in members])
    best = members[0]
    return Evaluation(results.metric, best, ensemble, {split: len(targets[split]) for split in SPLITS}, reading(best))


def _evaluate_best_trial(results: JobResults, evaluator: Any) -> Evaluation:
    """A trainable that is not a classifier (a translator): its best trial, scored by its own
    evaluator; no ensemble (averaging models while decoding is not built)."""
    scored = results.scored()
    if not len(scored):
        raise UserError([f"{results.directory}: no successful trial to evaluate"])
    row = scored.iloc[0]
    state = best_state(results, ResultsStore(results.directory), row["trial_id"])
    try:
        scores = evaluator(results.config_of(row), state)
    except ValueError as error:  # ConfigError: no test pairs held out
        raise UserError([f"{results.directory}: {error}"]) from None
    samples = {split: int(figures.pop("sentences")) for split, figures in scores.items()}
    best = Evaluated(str(row["trial_id"]), int(state["epoch"]), scores)
    return Evaluation(results.metric, best, None, samples, reading(best, "exact", "sentences are translated wrongly"),
                      TRANSLATION_FIGURES)


def _scores(probs: Any, targets: Any) -> dict[str, float]:
    return {"accuracy": accuracy_of(probs, targets), "loss": nll_of(probs, targets)}


def reading(model: Evaluated, figure: str = "accuracy", wrong: str = "rows are misclassified") -> list[str]:
    """The bias/variance reading of train -> validation -> test errors (1 - accuracy, or 1 - the
    share of sentences translated exactly)."""
    train, val, test = (1 - model.scores[split][figure] for split in SPLITS)
    found = [f"errors (1 - {figure}): train {train:.4f}, validation {val:.4f}, test {test:.4f}"]
    if train > HIGH_BIAS_ERROR:
        found.append(f"high bias: {train:.1%} of the training {wrong}; more capacity (width, depth), more epochs or a "
                     "higher learning rate")
    if val - train > HIGH_VARIANCE_GAP:
        found.append(f"high variance: validation error is {val - train:.1%} above training error; more regularisation "
                     "(dropout, weight_decay), more data or fewer epochs")
    if test - val > OPTIMISM_GAP:
        found.append(f"the validation figure was optimistic by {test - val:.1%}: picking the best of many trials on one "
                     "split fits that split; the test figure is the one to expect")
    if len(found) == 1:
        found.append("no large gap: the model fits the training rows and carries over to unseen ones")
    return found


def write_evaluation(results: JobResults, evaluation: Evaluation) -> str:
    ResultsStore(results.directory).write_json(EVALUATION_FILE, evaluation.as_json())
    return f"{results.directory}/{EVALUATION_FILE}"
