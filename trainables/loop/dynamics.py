"""Training dynamics, per epoch: how large the gradients are, how far a step moves the weights,
and what the activations look like, so a curve that stalls or blows up can be told apart.

Off by default (``dynamics: true`` turns it on). What it costs per measured epoch: the global
gradient norm of every fourth step (one pass over the gradients, kept on the device: no sync;
every step, and free, when ``grad_clip`` computes it anyway), a copy of the weights before the
epoch's last step, and one forward pass of a fixed probe batch (the first rows of the validation
split) with hooks on the activation layers. The cost is held under ``BUDGET`` of the training
time: when the measurements so far took more, the next epoch goes unmeasured (its dynamics
columns are empty), so epochs of a few milliseconds are measured every few epochs and longer
ones every epoch. The first epoch is always measured.

- ``grad_norm`` / ``grad_norm_max``: the mean and largest global gradient norm over the steps measured.
- ``grad_depth_ratio``: the gradient norm of the first weight tensor over the last one's, at the
  epoch's last step (far below 1: the gradient fades on its way back through the layers).
- ``weight_norm``: the global norm of the parameters at the epoch's end.
- ``update_ratio`` (median over the weight tensors), ``update_ratio_min``, ``update_ratio_max``:
  ||step|| / ||weights|| of the epoch's last step, per weight tensor (the usual healthy value is
  around 1e-3 for SGD, up to about 1e-2 under Adam).
- ``dynamics_time_s``: what the measurements took in this epoch (histograms not counted).
- ``activation_std_min``: the smallest standard deviation of any activation layer's output on the
  probe batch (a signal dying out in depth); ``dead_unit_fraction``: the share of ReLU units that are
  zero for every probe example.

With a ``histogram_dir`` (``dynamics_histograms: true``) each measured epoch also writes TensorBoard
histograms of every weight tensor, its gradient at the epoch's last step and every activation
layer's output on the probe batch (outside the budget: histograms cost what they cost).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

PROBE_ROWS = 128
NORM_EVERY = 4  # steps between gradient norms (every step when grad_clip computes it anyway)
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.Mish)
DEAD_CAN_BE = (nn.ReLU, nn.ReLU6)  # exactly zero for every input below their threshold
BUDGET = 0.03  # the share of training time the measurements may take


class DynamicsProbe:
    def __init__(self, model: nn.Module, probe_inputs: torch.Tensor, histogram_dir: str | None = None) -> None:
        self.model = model
        self.probe_inputs = probe_inputs[:PROBE_ROWS]
        self.norms: list[torch.Tensor] = []
        self.before: dict[str, torch.Tensor] = {}
        self.depth_ratio: float | None = None
        self.steps = 0
        self.measuring = True  # this epoch
        self.spent = 0.0  # seconds the measurements took, over the run
        self.trained = 0.0  # seconds of everything else, over the run
        self.epoch_started = time.perf_counter()
        self.spent_at_epoch_start = 0.0
        self.histogram_dir = histogram_dir
        self.writer: Any = None
        self.gradients: dict[str, torch.Tensor] = {}  # for histograms

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.spent += time.perf_counter() - started

    def start_epoch(self) -> None:
        self.epoch_started, self.spent_at_epoch_start = time.perf_counter(), self.spent

    def gradients_ready(self, clipped_norm: torch.Tensor | None = None) -> None:
        """After ``backward`` (and clipping, whose returned pre-clip norm is reused)."""
        if not self.measuring:
            return
        self.steps += 1
        if clipped_norm is not None:
            self.norms.append(clipped_norm.detach().float().reshape(1))
            return
        if (self.steps - 1) % NORM_EVERY:
            return
        with self._timed():
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            if grads:  # per-tensor norms only (one kernel); the global norm is taken at the epoch's end
                self.norms.append(torch.stack(torch._foreach_norm(grads)).float())

    def before_last_step(self) -> None:
        """Before the epoch's last optimizer step (its gradients are in place)."""
        if not self.measuring:
            return
        with self._timed():
            weights = [(name, p) for name, p in self.model.named_parameters() if p.dim() >= 2]
            self.before = {name: p.detach().clone() for name, p in weights}
            graded = [p.grad for _, p in weights if p.grad is not None]
            if len(graded) >= 2:
                self.depth_ratio = float(graded[0].norm() / max(float(graded[-1].norm()), 1e-30))
        if self.histogram_dir is not None:
            self.gradients = {name: p.grad.detach().float().cpu() for name, p in self.model.named_parameters()
                              if p.grad is not None}

    def epoch_metrics(self, autocast: Any, epoch: int) -> dict[str, float]:
        """The epoch's figures ({} for an unmeasured epoch); decides whether the next epoch is measured."""
        metrics: dict[str, float] = {}
        writing = 0.0  # histograms: neither measurement nor training
        if self.measuring:
            outputs: dict[str, torch.Tensor] = {}
            with self._timed():
                metrics = self._measured(autocast, outputs)
            metrics["dynamics_time_s"] = self.spent - self.spent_at_epoch_start
            if self.histogram_dir is not None:
                started = time.perf_counter()
                self._write_histograms(epoch, outputs)
                writing = time.perf_counter() - started
            self.gradients = {}
        elapsed = time.perf_counter() - self.epoch_started - writing
        self.trained += max(elapsed - (self.spent - self.spent_at_epoch_start), 0.0)
        self.measuring = self.spent <= BUDGET * self.trained
        return metrics

    def _measured(self, autocast: Any, outputs: dict[str, torch.Tensor]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.norms:
            norms = torch.linalg.vector_norm(torch.stack(self.norms), dim=1)  # (steps, tensors) -> per step
            metrics["grad_norm"], metrics["grad_norm_max"] = float(norms.mean()), float(norms.max())
        with torch.no_grad():
            params = [p.detach() for p in self.model.parameters()]
            metrics["weight_norm"] = float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(params))))
            ratios = [float(torch.linalg.vector_norm(p.detach() - self.before[name]) / max(float(self.before[name].norm()), 1e-12))
                      for name, p in self.model.named_parameters() if name in self.before]
        if ratios:
            metrics["update_ratio"] = float(torch.tensor(ratios).median())
            metrics["update_ratio_min"], metrics["update_ratio_max"] = min(ratios), max(ratios)
        if self.depth_ratio is not None:
            metrics["grad_depth_ratio"] = self.depth_ratio
        metrics.update(self._activations(autocast, outputs))
        self.norms, self.before, self.depth_ratio = [], {}, None
        return {k: v for k, v in metrics.items() if math.isfinite(v) or k.startswith("grad_norm")}

    def _write_histograms(self, epoch: int, activations: dict[str, torch.Tensor]) -> None:
        """One event per measured epoch, on disk when this returns: tensorboardX's SummaryWriter
        queues events for a thread, and its ``flush`` does not wait for them, so the last epochs
        of a trial that ends (or is stopped) right after could be lost."""
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.summary import histogram

        assert self.histogram_dir is not None
        if self.writer is None:
            os.makedirs(self.histogram_dir, exist_ok=True)
            self.writer = EventsWriter(os.path.join(self.histogram_dir, "events"))
        arrays = {**{f"weights/{name}": p.detach().float().cpu().numpy() for name, p in self.model.named_parameters()},
                  **{f"gradients/{name}": grad.numpy() for name, grad in self.gradients.items()},
                  **{f"activations/{name}": values.cpu().numpy() for name, values in activations.items()}}
        summary = Summary(value=[value for tag, array in arrays.items() for value in histogram(tag, array, "auto").value])
        self.writer.write_event(Event(wall_time=time.time(), step=epoch, summary=summary))
        self.writer.flush()

    def _activations(self, autocast: Any, outputs: dict[str, torch.Tensor]) -> dict[str, float]:
        """Statistics of each activation layer's output on the probe batch; the outputs themselves
        go into ``outputs`` (by module name) when histograms are written."""
        stds: list[float] = []
        dead, units = 0, 0
        names = {module: name for name, module in self.model.named_modules()}

        def record(module: nn.Module, _: Any, output: Any) -> None:
            nonlocal dead, units
            if not isinstance(output, torch.Tensor) or output.numel() == 0:
                return
            values = output.detach().float()
            if self.histogram_dir is not None:
                outputs[names.get(module, type(module).__name__)] = values
            stds.append(float(values.std()))
            if isinstance(module, DEAD_CAN_BE):
                # A unit is a channel of a feature map (N, C, H, W), else a feature of the last dimension.
                per_unit = values.transpose(0, 1).flatten(1) if values.dim() == 4 else values.reshape(-1, values.shape[-1]).T
                dead += int((per_unit.abs().amax(dim=1) == 0).sum())
                units += per_unit.shape[0]

        hooks = [m.register_forward_hook(record) for m in self.model.modules() if isinstance(m, ACTIVATIONS)]
        training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), autocast:
                self.model(self.probe_inputs)
        finally:
            for hook in hooks:
                hook.remove()
            self.model.train(training)
        found: dict[str, float] = {}
        if stds:
            found["activation_std_min"] = min(stds)
        if units:
            found["dead_unit_fraction"] = dead / units
        return found
