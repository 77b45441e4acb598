"""``tune-jobs ensemble``: average the predicted probabilities of the top trials' best checkpoints.

Each member is rebuilt from its config by its trainable's ``classifier`` set-up, loaded from the
checkpoint where its metric peaked, and run on the validation split. The ensemble and the best
single member are measured on the same split, the one the trials were ranked on, so both share
that optimism; the difference between them is the honest figure.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow.fs as pafs

from trainables.ray_adapter import STATE_FILE
from tune_jobs.analysis.job_results import JobResults
from tune_jobs.errors import SpecError, UserError
from tune_jobs.results.files import EXPERIMENT_DIR
from tune_jobs.results.store import ResultsStore

ENSEMBLE_FILE = "ensemble.json"


@dataclass(frozen=True)
class EnsembleMember:
    trial_id: str
    epoch: int
    accuracy: float
    nll: float


@dataclass(frozen=True)
class EnsembleResult:
    metric: str
    members: list[EnsembleMember]
    accuracy: float
    nll: float
    best_single_accuracy: float
    validation_samples: int

    @property
    def gain(self) -> float:
        return self.accuracy - self.best_single_accuracy

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "gain": self.gain}


def _checkpoint_states(store: ResultsStore, trial_id: str) -> list[dict[str, Any]]:
    """The trial's saved states; a fused trial's are its slices of its stack's checkpoints."""
    from trainables.fused.run import stack_of

    states = _states_under(store, trial_id)
    stack = stack_of(trial_id)
    if states or stack is None:
        return states
    return [state["members"][trial_id] for state in _states_under(store, stack)
            if isinstance(state, dict) and trial_id in state.get("members", {})]


def _states_under(store: ResultsStore, trial_id: str) -> list[Any]:
    import torch

    selector = pafs.FileSelector(f"{store.path}/{EXPERIMENT_DIR}/{trial_id}", allow_not_found=True)
    states = []
    for info in store.filesystem.get_file_info(selector):
        if info.type == pafs.FileType.Directory and info.base_name.startswith("checkpoint_"):
            path = f"{info.path}/{STATE_FILE}"
            if store.filesystem.get_file_info(path).type == pafs.FileType.File:
                with store.filesystem.open_input_stream(path) as stream:
                    states.append(torch.load(io.BytesIO(stream.read()), map_location="cpu", weights_only=False))
    return states


def best_state(results: JobResults, store: ResultsStore, trial_id: str) -> dict[str, Any]:
    """The checkpoint of this trial whose epoch scored best on the job's metric."""
    history = results.history(trial_id).set_index("training_iteration")[results.metric]
    found = _checkpoint_states(store, trial_id)
    if any(isinstance(s, dict) and "folds" in s for s in found):
        raise UserError([f"{results.directory}: trial {trial_id} was cross-validated (cv_folds): it keeps a model per "
                         "fold, not one model; train the chosen config without cv_folds to ensemble or evaluate it"])
    states = [s for s in found if isinstance(s, dict) and "model" in s and "epoch" in s]
    if not states:
        raise UserError([f"{results.directory}: trial {trial_id} has no checkpoint left under {EXPERIMENT_DIR}/"])
    sign = 1.0 if results.mode == "max" else -1.0

    def score(state: dict[str, Any]) -> float:
        value = history.get(int(state["epoch"]))
        return sign * float(value) if value is not None and math.isfinite(value) else -math.inf

    return max(states, key=score)


def classifier_trainable(results: JobResults, use: str) -> Any:
    """The job's trainable, when it can rebuild its models (a built-in classifier); ``use`` says
    what needs it, for the one-line refusal."""
    from trainables.registry import resolve_trainable

    try:
        trainable = resolve_trainable(results.spec["trainable"])
    except ValueError as error:
        raise SpecError([f"trainable: {error}"]) from None
    if trainable.classifier is None:
        raise UserError([f"{results.directory}: {trainable.name} is not a built-in classifier; {use} rebuild models "
                         "through the built-in trainables (digits_mlp, image_cnn, resnet18, text_rnn, ...)"])
    return trainable


def restored_model(results: JobResults, store: ResultsStore, classifier: Any, trial_id: str) -> tuple[Any, Any, int]:
    """(model in eval mode, its device, epoch): the trial's model at the checkpoint where its metric peaked."""
    from trainables.loop.fit import pick_device

    state = best_state(results, store, trial_id)
    device = pick_device(classifier.settings.device)
    model = classifier.model.to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, device, int(state["epoch"])


def predicted_probabilities(model: Any, inputs: Any) -> Any:
    import torch

    with torch.no_grad():
        return torch.cat([torch.softmax(model(inputs[i:i + 1024]).float(), dim=1) for i in range(0, len(inputs), 1024)])


def build_ensemble(results: JobResults, top: int, include_stopped: bool = False) -> EnsembleResult:
    import torch

    trainable = classifier_trainable(results, "ensembles")
    scored = results.candidates(include_stopped)
    if len(scored) < 2:
        hint = "" if include_stopped else "; --include-stopped adds the trials the scheduler stopped early"
        raise UserError([f"{results.directory}: {len(scored)} trial(s) ran to the end; an ensemble needs at least 2{hint}"])
    store = ResultsStore(results.directory)
    members, probabilities, targets = [], [], None
    for _, row in scored.head(top).iterrows():
        classifier = trainable.classifier(results.config_of(row))  # members of one job load their data once (shared)
        model, device, epoch = restored_model(results, store, classifier, row["trial_id"])
        val = classifier.val.to(device)
        if targets is None:
            targets = val.targets
        elif not torch.equal(targets, val.targets):
            raise UserError([f"{results.directory}: trial {row['trial_id']} was validated on a different split "
                             "(is a data key such as val_fraction searched?); its predictions cannot be averaged"])
        probs = predicted_probabilities(model, val.inputs)
        probabilities.append(probs)
        members.append(EnsembleMember(row["trial_id"], epoch, accuracy_of(probs, targets), nll_of(probs, targets)))
    assert targets is not None
    mean = torch.stack(probabilities).mean(dim=0)
    return EnsembleResult(results.metric, members, accuracy_of(mean, targets), nll_of(mean, targets),
                          max(m.accuracy for m in members), len(targets))


def accuracy_of(probs: Any, targets: Any) -> float:
    return float((probs.argmax(dim=1) == targets).float().mean())


def nll_of(probs: Any, targets: Any) -> float:
    picked = probs[range(len(targets)), targets].clamp_min(1e-12)
    return float(-picked.log().mean())


def write_ensemble(results: JobResults, ensemble: EnsembleResult) -> str:
    ResultsStore(results.directory).write_json(ENSEMBLE_FILE, ensemble.as_json())
    return f"{results.directory}/{ENSEMBLE_FILE}"
