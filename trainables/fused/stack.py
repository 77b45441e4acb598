"""Which models can share a stack, and the stacked forward pass.

A stack is a flat ``nn.Sequential`` of layers that ``torch.func.vmap`` maps over members
(``Linear``, ``Conv2d``, pooling, element-wise activations, ``Flatten``, and ``BatchNorm``, whose
running statistics are stacked buffers updated in place per member, as each member's own module
would) plus ``Dropout``, which is applied by hand: every member's masks in one batched draw on the
stack's device from per-member seeds (``randomness``), and members may differ in ``p``. Any other model (nested modules,
residual blocks, attention and LayerNorm: ``image_cnn``, ResNet, VGG, the text Transformer) is
mapped whole by ``vmap``, BatchNorm included; its members share dropout rates and draw their masks
from ``vmap``'s per-member randomness. Recurrent cells are not fused: ``architecture`` says why.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from trainables.fused.randomness import MemberDraws

MAPPED_LAYERS = (nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.ReLU, nn.GELU, nn.Tanh,
                 nn.SiLU, nn.Flatten, nn.Identity)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)  # their buffers are stacked per member
ELEMENTWISE = (nn.ReLU, nn.GELU, nn.Tanh, nn.SiLU, nn.Identity)  # applied to the whole stack as they are


Shape = tuple[object, ...]
UNMAPPABLE = (nn.RNNBase,)  # torch has no batching rule for its fused LSTM/GRU kernels


def is_flat(model: nn.Module) -> bool:
    """A flat ``nn.Sequential`` of layers mapped one by one (dropout masks exactly as alone)."""
    return (isinstance(model, nn.Sequential) and all(isinstance(layer, (*MAPPED_LAYERS, *BATCH_NORMS, nn.Dropout))
                                                     for layer in model)
            and not any(True for layer in model if not isinstance(layer, BATCH_NORMS) for _ in layer.buffers()))


def architecture(model: nn.Module) -> Shape | str:
    """What must be equal for two models to share a stack, or the reason this model cannot be fused.

    A flat ``nn.Sequential`` is keyed by its layers and their tensors' shapes. Any other model
    (residual blocks, nested modules) is mapped whole: keyed by its tensors' shapes and its dropout
    rates (members of a whole-mapped stack share them; their masks are drawn per member by
    ``vmap``, not as the plain loop draws them)."""
    if is_flat(model):
        return tuple((type(layer).__name__, tuple(tuple(p.shape) for p in [*layer.parameters(), *layer.buffers()]))
                     for layer in model.children())
    for module in model.modules():
        if isinstance(module, UNMAPPABLE):
            return f"{type(module).__name__} layers are not fused"
        if getattr(module, "augment", False):
            return "random augmentation is drawn once per batch, not per member: set augment: false to fuse"
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return ("whole", type(model).__name__, tuple((name, tuple(t.shape)) for name, t in tensors), tuple(dropout_rates(model)))


def dropout_rates(model: nn.Module) -> list[float]:
    return [float(module.p) for module in model.modules() if isinstance(module, nn.Dropout)]


def stacked_forward(template: nn.Module, params: dict[str, torch.Tensor], inputs: torch.Tensor,
                    draws: MemberDraws | None = None) -> torch.Tensor:
    """``inputs`` (members, batch, ...) -> outputs (members, batch, ...). ``params``: stacked
    parameters and buffers by name (BatchNorm updates its buffers in place when ``template`` is in
    training mode). With ``draws`` (training) dropout masks are drawn, else none."""
    if not is_flat(template):
        randomness = "different" if draws is not None else "error"
        # Attention as plain matrix products: the fused attention kernels (and the encoder
        # layer's inference fast path) have no batching rule, so vmap would run them member by member.
        fast_path = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with sdpa_kernel(SDPBackend.MATH):
                return vmap(lambda p, xi: functional_call(template, p, (xi,)), randomness=randomness)(params, inputs)
        finally:
            torch.backends.mha.set_fastpath_enabled(fast_path)
    x = inputs
    dropout_index = 0
    for index, layer in enumerate(template.children()):
        if isinstance(layer, nn.Dropout):
            if draws is not None:
                x = x * draws.scale(dropout_index, x)
            dropout_index += 1
            continue
        if isinstance(layer, ELEMENTWISE):
            x = layer(x)  # the same function of each element, whatever member it belongs to
            continue
        prefix = f"{index}."
        layer_params = {name[len(prefix):]: value for name, value in params.items() if name.startswith(prefix)}
        if isinstance(layer, nn.Linear):
            x = _stacked_linear(x, layer_params["weight"], layer_params.get("bias"))
        elif layer_params:
            x = vmap(lambda p, xi, layer=layer: functional_call(layer, p, (xi,)))(layer_params, x)
        else:
            x = vmap(layer)(x)
    return x


def _stacked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Each member's ``nn.Linear`` as one batched matrix product (what ``vmap`` of ``F.linear``
    computes, without its per-call dispatch)."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    if bias is None:
        out = torch.bmm(flat, weight.transpose(1, 2))
    else:
        out = torch.baddbmm(bias.unsqueeze(1), flat, weight.transpose(1, 2))
    return out.reshape(*x.shape[:-1], weight.shape[1])
