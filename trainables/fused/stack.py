"""Which models can share a stack, and the stacked forward pass.

A stack is a flat ``nn.Sequential`` of layers that ``torch.func.vmap`` maps over members
(``Linear``, ``Conv2d``, pooling, element-wise activations, ``Flatten``, and ``BatchNorm``, whose
running statistics are stacked buffers updated in place per member, as each member's own module
would) plus ``Dropout``, which is applied by hand:
each member draws its masks from its own generator with the same call ``nn.Dropout`` makes on the
CPU (``bernoulli_(1 - p)`` on a tensor of the input's shape), so a member seeded like the plain
loop sees the same masks, and members may differ in ``p``. Models with other layers (attention,
recurrent cells, LayerNorm) or nested modules (the ResNets) are not fused yet: ``architecture``
says why, and the trial runs alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

MAPPED_LAYERS = (nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.ReLU, nn.GELU, nn.Tanh,
                 nn.SiLU, nn.Flatten, nn.Identity)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)  # their buffers are stacked per member


def architecture(model: nn.Module) -> tuple[tuple[str, tuple[tuple[int, ...], ...]], ...] | str:
    """What must be equal for two models to share a stack (layer types and parameter shapes), or
    the reason this model cannot be fused."""
    if not isinstance(model, nn.Sequential):
        return f"{type(model).__name__} is not an nn.Sequential"
    for layer in model:
        if not isinstance(layer, (*MAPPED_LAYERS, *BATCH_NORMS, nn.Dropout)):
            return f"{type(layer).__name__} layers are not fused"
    if any(True for layer in model if not isinstance(layer, BATCH_NORMS) for _ in layer.buffers()):
        return "models with buffers outside BatchNorm are not fused"
    return tuple((type(layer).__name__, tuple(tuple(p.shape) for p in [*layer.parameters(), *layer.buffers()]))
                 for layer in model)


def dropout_rates(model: nn.Sequential) -> list[float]:
    return [float(layer.p) for layer in model if isinstance(layer, nn.Dropout)]


def stacked_forward(template: nn.Sequential, params: dict[str, torch.Tensor], inputs: torch.Tensor,
                    dropout: Sequence[Sequence[float]] | None = None,
                    generators: Sequence[torch.Generator] | None = None) -> torch.Tensor:
    """``inputs`` (members, batch, ...) -> outputs (members, batch, ...). ``params``: stacked
    parameters and buffers by name (BatchNorm updates its buffers in place when ``template`` is in
    training mode). ``dropout[m]`` is member m's rate per Dropout layer; with ``generators``
    (training) masks are drawn, else none."""
    x = inputs
    dropout_index = 0
    for index, layer in enumerate(template):
        if isinstance(layer, nn.Dropout):
            if generators is not None and dropout is not None:
                x = x * _dropout_noise(x, [rates[dropout_index] for rates in dropout], generators)
            dropout_index += 1
            continue
        prefix = f"{index}."
        layer_params = {name[len(prefix):]: value for name, value in params.items() if name.startswith(prefix)}
        if layer_params:
            x = vmap(lambda p, xi, layer=layer: functional_call(layer, p, (xi,)))(layer_params, x)
        else:
            x = vmap(layer)(x)
    return x


def _dropout_noise(x: torch.Tensor, rates: list[float], generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Each member's scaled keep-mask, drawn as ``nn.Dropout`` draws it on the CPU."""
    noise = torch.ones_like(x)
    for member, (rate, generator) in enumerate(zip(rates, generators, strict=True)):
        if rate > 0:
            mask = torch.empty(x.shape[1:], dtype=x.dtype).bernoulli_(1 - rate, generator=generator)
            noise[member] = mask.div_(1 - rate).to(x.device)
    return noise
