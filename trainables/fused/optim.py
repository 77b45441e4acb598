"""The loop's optimizers (sgd with momentum/nesterov, adam, adamw, rmsprop) on stacked parameters.

One ``torch.optim`` optimizer over a stack would give every member the same learning rate,
weight decay and momentum; here each is a per-member tensor broadcast along the stack's first
dimension, and the arithmetic is ``torch.optim``'s single-tensor code, step for step, so a member
follows the trajectory it would follow alone (tests compare the two). State is kept per parameter
name with the member along the first dimension, in ``torch.optim``'s own buffer names, so a
member's slice is its optimizer state as the plain loop saves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ADAM_BETAS = (0.9, 0.999)  # torch.optim's defaults, which the plain loop uses
ADAM_EPS = 1e-8
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8

# Buffers each optimizer keeps per parameter, as torch.optim names them ("step" is per member).
STATE_KEYS = {
    "sgd": ("momentum_buffer",),
    "adam": ("step", "exp_avg", "exp_avg_sq"),
    "adamw": ("step", "exp_avg", "exp_avg_sq"),
    "rmsprop": ("step", "square_avg", "momentum_buffer"),
}


@dataclass(frozen=True)
class MemberHyperparameters:
    """Per-member values, each a tensor with one entry per member."""

    weight_decay: torch.Tensor
    momentum: torch.Tensor


def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(members,) -> broadcastable against a stacked tensor (members, ...)."""
    return values.to(like.dtype).reshape((-1,) + (1,) * (like.dim() - 1))


class StackedOptimizer:
    def __init__(self, kind: str, nesterov: bool, params: dict[str, torch.Tensor],
                 hyper: MemberHyperparameters, state: dict[str, dict[str, torch.Tensor]]) -> None:
        if kind not in STATE_KEYS:
            raise ValueError(f"fused execution has no {kind!r} optimizer; known: {', '.join(STATE_KEYS)}")
        self.kind, self.nesterov, self.params, self.hyper, self.state = kind, nesterov, params, hyper, state

    @staticmethod
    def empty_state(kind: str, param: torch.Tensor) -> dict[str, torch.Tensor]:
        """A fresh member's buffers for one (unstacked) parameter; zeros are what torch.optim's
        first step amounts to (a momentum buffer of zeros times momentum, plus the update)."""
        return {key: torch.zeros((), dtype=torch.float32) if key == "step" else torch.zeros_like(param)
                for key in STATE_KEYS[kind]}

    @torch.no_grad()
    def step(self, grads: dict[str, torch.Tensor], lr: torch.Tensor) -> None:
        """One update of every member; ``lr`` holds each member's rate for this step."""
        for name, param in self.params.items():
            getattr(self, f"_{self.kind}")(param, grads[name], self.state[name], lr)

    def _sgd(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], lr: torch.Tensor) -> None:
        d_p = grad + _per_member(self.hyper.weight_decay, param) * param
        momentum = _per_member(self.hyper.momentum, param)
        buf = state["momentum_buffer"]
        buf.mul_(momentum).add_(d_p)
        d_p = d_p + momentum * buf if self.nesterov else buf
        param.sub_(_per_member(lr, param) * d_p)

    def _adam(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], lr: torch.Tensor,
              decoupled: bool = False) -> None:
        beta1, beta2 = ADAM_BETAS
        weight_decay = _per_member(self.hyper.weight_decay, param)
        rate = _per_member(lr, param)
        if decoupled:
            param.mul_(1 - rate * weight_decay)
        else:
            grad = grad + weight_decay * param
        state["step"] += 1
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = state["step"].double()  # torch.optim computes the corrections in Python floats
        step_size = _per_member((lr.double() / (1 - beta1**step)), param)
        correction2_sqrt = _per_member((1 - beta2**step).sqrt(), param)
        denom = (exp_avg_sq.sqrt() / correction2_sqrt).add_(ADAM_EPS)
        param.sub_(step_size * (exp_avg / denom))

    def _adamw(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], lr: torch.Tensor) -> None:
        self._adam(param, grad, state, lr, decoupled=True)

    def _rmsprop(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor], lr: torch.Tensor) -> None:
        state["step"] += 1
        grad = grad + _per_member(self.hyper.weight_decay, param) * param
        square_avg = state["square_avg"]
        square_avg.mul_(RMSPROP_ALPHA).addcmul_(grad, grad, value=1 - RMSPROP_ALPHA)
        avg = square_avg.sqrt().add_(RMSPROP_EPS)
        momentum = _per_member(self.hyper.momentum, param)
        buf = state["momentum_buffer"]
        # torch.optim skips the buffer when momentum is 0; a zero buffer times 0 plus grad/avg is the same step.
        buf.mul_(momentum).addcdiv_(grad, avg)
        param.sub_(_per_member(lr, param) * buf)
