"""One epoch for a set of members trained as one stacked model.

A member enters with the plain loop's state (its freshly built model, or a checkpoint the plain
loop or an earlier stack saved) and leaves each epoch with its own metrics and a checkpoint in
that same format, so stopping, pausing, retrying or resuming a member never touches the others,
and a member can continue alone. The stack is rebuilt from the members every epoch (a copy of the
parameters, small next to an epoch of training), so members may join and leave between epochs
and may be at different epochs: each follows its own learning-rate schedule, data order and
early stopping.

On a GPU the epoch is built to keep the device busy: a step is the same few kernel launches
whatever the member count (one stacked forward, one gradient, one clip, one optimizer update,
dropout masks drawn in one batch on the device) and nothing in it waits for the device; metrics
and the members' new states leave the device once, at the epoch's end, in one copy each. The data
order is the plain loop's, per member, drawn on the host once per epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainables.fused.flat import FlatLayout
from trainables.fused.optim import STATE_KEYS, MemberHyperparameters, StackedOptimizer
from trainables.fused.randomness import MemberDraws
from trainables.fused.stack import architecture, dropout_rates, stacked_forward
from trainables.loop.config import LoopConfig
from trainables.loop.fit import Classifier, EarlyStopping, Split, autocast_for, gpu_memory, pick_device
from trainables.loop.schedules import lr_factor
from trainables.loop.state import epoch_seed

EVAL_CHUNK = 512  # validation rows per forward pass, as the plain loop's evaluation
FLAT = "flat"  # the optimizer's one tensor: every parameter of every member (``FlatLayout``)


@dataclass
class Member:
    """One trial inside a stack: its model, optimizer state and progress."""

    trial_id: str
    classifier: Classifier
    epoch: int = 0  # epochs finished
    optimizer_state: dict[str, Any] | None = None  # torch.optim's state_dict format
    stopping: EarlyStopping | None = None
    # Its optimizer state as flat rows (``FlatLayout``), kept from its last fused epoch: the next
    # epoch stacks these instead of flattening ``optimizer_state`` again, parameter by parameter.
    state_rows: dict[str, torch.Tensor] | None = None

    @classmethod
    def start(cls, trial_id: str, classifier: Classifier, checkpoint: dict[str, Any] | None = None) -> Member:
        """A member as the plain loop would start (or resume) it: same weights, same data order."""
        settings = classifier.settings
        member = cls(trial_id, classifier, stopping=EarlyStopping(settings.patience, settings.patience_metric))
        if checkpoint is not None:
            classifier.model.load_state_dict(checkpoint["model"])
            member.epoch = int(checkpoint["epoch"])
            member.optimizer_state = checkpoint["optimizer"]
            member.stopping = EarlyStopping(settings.patience, settings.patience_metric, checkpoint.get("early_stopping"))
        return member

    @property
    def settings(self) -> LoopConfig:
        return self.classifier.settings

    @property
    def finished(self) -> bool:
        return self.epoch >= self.settings.epochs

    def checkpoint(self) -> dict[str, Any]:
        assert self.stopping is not None
        return {"model": self.classifier.model.state_dict(), "optimizer": self.optimizer_state, "epoch": self.epoch,
                "early_stopping": self.stopping.state()}


def stack_key(member: Member) -> tuple[Any, ...] | str:
    """Members with equal keys can share a stack; a string says why this one cannot be fused."""
    shape = architecture(member.classifier.model)
    if isinstance(shape, str):
        return shape
    s = member.settings
    train = member.classifier.train
    return (type(s).__name__, shape, tuple(train.inputs.shape), s.batch_size, s.optimizer, s.nesterov, s.device)


def train_epoch(members: list[Member]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Train every member one epoch (its next one); (metrics, checkpoint) per member, in order."""
    keys = {repr(stack_key(m)) for m in members}
    if len(keys) != 1 or isinstance(stack_key(members[0]), str):
        raise ValueError(f"members cannot share a stack: {sorted(keys)}")
    first = members[0]
    _check_same_data(members)
    device = pick_device(first.settings.device)
    train, val = first.classifier.train.to(device), first.classifier.val.to(device)
    template = first.classifier.model
    layout = FlatLayout.of(template)
    names = list(layout.names)
    flat = layout.flatten([torch.stack([m.classifier.model.get_parameter(name).detach() for m in members])
                           for name in names]).to(device).requires_grad_()
    buffers = {name: torch.stack([m.classifier.model.get_buffer(name).detach() for m in members]).to(device)
               for name, _ in template.named_buffers()}  # BatchNorm's running statistics, per member
    kind = first.settings.optimizer
    rows_by_member = [_state_rows(m, kind, layout) for m in members]
    optimizer = StackedOptimizer(
        kind, first.settings.nesterov, {FLAT: flat},
        MemberHyperparameters(_tensor([m.settings.weight_decay for m in members], device),
                              _tensor([m.settings.momentum for m in members], device)),
        {FLAT: {key: torch.stack([rows[key] for rows in rows_by_member]).to(device) for key in STATE_KEYS[kind]}})
    epochs = [m.epoch + 1 for m in members]
    lrs = [m.settings.lr * lr_factor(e, m.settings.epochs, m.settings.schedule, m.settings.warmup_epochs,
                                      m.settings.step_size, m.settings.gamma) for m, e in zip(members, epochs, strict=True)]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    loss_sum, correct = _train_pass(members, template, layout, flat, buffers, optimizer, train, epochs,
                                    _tensor(lrs, device), device)
    train_time = time.perf_counter() - started
    val_loss, val_accuracy = _evaluate(template, {**layout.views(flat.detach()), **buffers}, val,
                                       max(first.settings.batch_size, EVAL_CHUNK),
                                       device)
    epoch_time = time.perf_counter() - started
    memory = gpu_memory(device) if device.type == "cuda" else {}
    # One copy off the device per tensor, then each member's slices on the host (not a copy per
    # member and parameter, each of which would wait for the device).
    params = flat.detach().cpu()
    buffers = {name: stacked.cpu() for name, stacked in buffers.items()}
    state_rows = {key: value.cpu() for key, value in optimizer.state[FLAT].items()}
    train_losses, train_correct, val_losses, val_accuracies = (loss_sum.tolist(), correct.tolist(), val_loss.tolist(),
                                                               val_accuracy.tolist())
    outcomes = []
    for index, member in enumerate(members):
        for param, value in zip(member.classifier.model.parameters(), layout.row_views(params[index]).values(),
                                strict=True):
            param.data.copy_(value)
        for name, stacked in buffers.items():
            member.classifier.model.get_buffer(name).copy_(stacked[index])
        member.state_rows = {key: rows[index].clone() for key, rows in state_rows.items()}
        member.optimizer_state = _optimizer_state(member, layout)
        member.epoch = epochs[index]
        metrics = {
            "epoch": member.epoch,
            "train_loss": train_losses[index] / len(train),
            "train_accuracy": train_correct[index] / len(train),
            "val_loss": val_losses[index],
            "val_accuracy": val_accuracies[index],
            "lr": lrs[index],
            "epoch_time_s": epoch_time,
            "samples_per_s": len(train) / train_time if train_time > 0 else float("nan"),
            "data_time_s": member.classifier.data_time_s,
            "fused_members": len(members),
        }
        metrics.update(memory)  # the stack's, as a plain trial reports its process's
        assert member.stopping is not None
        metrics["early_stopped"] = int(member.stopping.update(metrics))
        outcomes.append((metrics, member.checkpoint()))
    return outcomes


def _train_pass(members: list[Member], template: nn.Module, layout: FlatLayout, flat: torch.Tensor,
                buffers: dict[str, torch.Tensor], optimizer: StackedOptimizer, train: Split, epochs: list[int],
                lrs: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    batch_size = members[0].settings.batch_size
    orders = torch.stack([_order(m, e, len(train)) for m, e in zip(members, epochs, strict=True)]).to(device)
    smoothing = _tensor([m.settings.label_smoothing for m in members], device)
    clipped = any(m.settings.grad_clip for m in members)  # known before the epoch: no per-step check on the device
    clip = _tensor([m.settings.grad_clip or float("inf") for m in members], device)
    draws = MemberDraws.for_epoch([epoch_seed(m.settings.seed, e) for m, e in zip(members, epochs, strict=True)],
                                  [dropout_rates(m.classifier.model) for m in members], device)
    # A model mapped whole draws its masks from vmap's randomness, i.e. torch's generator: seeded
    # per epoch too, so a resumed stack draws what an uninterrupted one would.
    torch.manual_seed(epoch_seed(members[0].settings.seed, epochs[0]))
    loss_sum = torch.zeros(len(members), device=device)
    correct = torch.zeros(len(members), device=device, dtype=torch.long)
    template.train()  # BatchNorm: batch statistics, running statistics updated
    for step, start in enumerate(range(0, len(train), batch_size)):
        index = orders[:, start : start + batch_size]
        x, y = train.inputs[index], train.targets[index]
        with autocast_for(device):
            logits = stacked_forward(template, {**layout.views(flat), **buffers}, x, draws.at(step)).float()
        losses = _member_losses(logits, y, smoothing)
        (grad,) = torch.autograd.grad(losses.sum(), [flat])
        optimizer.step({FLAT: _clip(grad, layout, clip) if clipped else grad}, lrs)
        loss_sum += losses.detach() * y.shape[1]
        correct += (logits.argmax(-1) == y).sum(1)
    return loss_sum.cpu(), correct.cpu()


def _member_losses(logits: torch.Tensor, targets: torch.Tensor, smoothing: torch.Tensor) -> torch.Tensor:
    """Each member's mean cross-entropy with its own label smoothing (``nn.CrossEntropyLoss``'s
    formula: (1 - e) * nll + e * mean over classes of -log p)."""
    log_p = torch.log_softmax(logits, dim=-1)
    nll = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean(1)
    uniform = -log_p.mean(-1).mean(1)
    return (1 - smoothing) * nll + smoothing * uniform


def _clip(grad: torch.Tensor, layout: FlatLayout, max_norm: torch.Tensor) -> torch.Tensor:
    """``clip_grad_norm_`` per member: each member's global norm (the norm of its parameters'
    norms, as torch computes it) over its row of the flat gradient; no bound (inf) leaves it as it is."""
    norms = torch.stack([part.norm(dim=1) for part in grad.split(layout.sizes, dim=1)]).norm(dim=0)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    return grad * scale.unsqueeze(1)


@torch.no_grad()
def _evaluate(template: nn.Module, params: dict[str, torch.Tensor], split: Split, chunk: int,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    members = next(iter(params.values())).shape[0]
    template.eval()  # BatchNorm: running statistics
    loss_sum = torch.zeros(members, device=device)
    correct = torch.zeros(members, device=device, dtype=torch.long)
    for start in range(0, len(split), chunk):
        x, y = split.inputs[start : start + chunk], split.targets[start : start + chunk]
        with autocast_for(device):
            logits = stacked_forward(template, params, x.expand(members, *x.shape)).float()
        flat = logits.reshape(-1, logits.shape[-1])
        loss_sum += nn.functional.cross_entropy(flat, y.repeat(members), reduction="none").reshape(members, -1).sum(1)
        correct += (logits.argmax(-1) == y).sum(1)
    return (loss_sum / len(split)).cpu(), (correct.double() / len(split)).cpu()


def _order(member: Member, epoch: int, size: int) -> torch.Tensor:
    """The plain loop's batch order for this member and epoch."""
    generator = torch.Generator().manual_seed(epoch_seed(member.settings.seed, epoch))
    return torch.randperm(size, generator=generator)


def _state_rows(member: Member, kind: str, layout: FlatLayout) -> dict[str, torch.Tensor]:
    """The member's optimizer buffers as flat rows (zeros where it has none yet); ``step``, which
    torch.optim keeps per parameter but advances for all of a member's at once, as one scalar."""
    if member.state_rows is not None:
        return member.state_rows
    saved = (member.optimizer_state or {}).get("state", {})
    rows = {}
    for key in STATE_KEYS[kind]:
        if key == "step":
            step = next((state["step"] for state in saved.values() if state.get("step") is not None), 0.0)
            rows[key] = torch.as_tensor(step, dtype=torch.float32).detach().cpu().clone().reshape(())
            continue
        parts = []
        for position, (name, size) in enumerate(zip(layout.names, layout.sizes, strict=True)):
            value = saved.get(position, {}).get(key)
            parts.append(torch.zeros(size) if value is None
                         else torch.as_tensor(value, dtype=torch.float32).detach().cpu().reshape(-1))
            assert parts[-1].numel() == size, f"{name}: optimizer state of {parts[-1].numel()} values, not {size}"
        rows[key] = torch.cat(parts)
    return rows


def _optimizer_state(member: Member, layout: FlatLayout) -> dict[str, Any]:
    """The member's optimizer state as the plain loop's optimizer saves it, less ``param_groups``
    (which ``restore_optimizer`` takes from the optimizer it loads into: making a torch.optim
    optimizer here would cost the first one's import of torch._dynamo, seconds, for nothing).
    Each buffer is a view of the member's own rows; ``step`` a copy per parameter, as torch.optim
    advances each parameter's in place."""
    assert member.state_rows is not None
    views = {key: layout.row_views(row) for key, row in member.state_rows.items() if key != "step"}
    momentum_used = member.settings.momentum > 0
    per_parameter: dict[int, dict[str, Any]] = {}
    for position, name in enumerate(layout.names):
        buffers: dict[str, Any] = {key: by_name[name] for key, by_name in views.items()}
        if "step" in member.state_rows:
            buffers["step"] = member.state_rows["step"].clone()
        if "momentum_buffer" in buffers and not momentum_used:
            if member.settings.optimizer == "sgd":
                buffers["momentum_buffer"] = None
            else:
                del buffers["momentum_buffer"]
        per_parameter[position] = buffers
    return {"state": per_parameter, "param_groups": None}


def _check_same_data(members: list[Member]) -> None:
    first = members[0].classifier
    for member in members[1:]:
        other = member.classifier
        for a, b in ((first.train, other.train), (first.val, other.val)):
            if a.inputs is not b.inputs and not (torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)):
                raise ValueError(f"member {member.trial_id} trains on other data than {members[0].trial_id}")


def _tensor(values: list[float], device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)
