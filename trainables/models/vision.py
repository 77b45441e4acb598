"""Image models for small inputs: a per-batch preprocessing module, torchvision's ResNet-18 and
VGG-11-BN adapted to 8-32 px images (no stride-2 stem or early max-pool; no pooling below 1 px;
a global-pool head instead of VGG's 4096-wide one)."""

from __future__ import annotations

import torch
from torch import nn


class Preprocess(nn.Module):
    """uint8 -> normalised float, padded to ``pad_to``; while training, a random shift of up to 1/8 of
    the size (4 px at 32 px) and, if asked, horizontal flips."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], pad_to: int, augment: bool, flip: bool) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.pad_to, self.augment, self.flip = pad_to, augment, flip
        self.mean: torch.Tensor
        self.std: torch.Tensor

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() / 255.0 - self.mean) / self.std
        if x.shape[-1] < self.pad_to:
            margin = (self.pad_to - x.shape[-1]) // 2
            x = nn.functional.pad(x, (margin, margin, margin, margin))
        if self.training and self.augment:
            size = x.shape[-1]
            shift = max(1, size // 8)  # 4 px at 32 px, 1 px at 8 px
            padded = nn.functional.pad(x, (shift, shift, shift, shift))
            dy, dx = (int(v) for v in torch.randint(0, 2 * shift + 1, (2,)))
            x = padded[..., dy : dy + size, dx : dx + size]  # one shift per batch: cheap, still varied
            if self.flip:
                flips = torch.rand(x.shape[0], device=x.device) < 0.5
                x = torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)
        return x


def resnet18_small(channels: int, classes: int) -> nn.Module:
    from torchvision.models import resnet18

    model = resnet18(num_classes=classes)
    model.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def vgg11_bn_small(channels: int, classes: int, size: int, dropout: float) -> nn.Module:
    from torchvision.models import vgg11_bn

    model = vgg11_bn(num_classes=classes)
    features = list(model.features)
    features[0] = nn.Conv2d(channels, 64, 3, padding=1)
    for index, layer in enumerate(features):
        if isinstance(layer, nn.MaxPool2d):
            if size >= 2:
                size //= 2
            else:
                features[index] = nn.Identity()
    model.features = nn.Sequential(*features)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(512, classes))
    return model
