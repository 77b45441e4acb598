"""``image_cnn``, ``resnet18``, ``vgg11_bn``: image classifiers on digits (bundled, offline),
MNIST, FashionMNIST or CIFAR-10 (torchvision, from ``data_dir``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trainables.data.vision import SHAPES, VisionDataConfig
from trainables.loop.config import parse_config
from trainables.loop.register import register_classifier


class ImageCNNConfig(VisionDataConfig):
    channels: int = Field(32, ge=1, le=512)
    depth: int = Field(3, ge=1, le=8)
    dropout: float = Field(0.1, ge=0, lt=1)


class ResNetConfig(VisionDataConfig):
    pass


class VGGConfig(VisionDataConfig):
    dropout: float = Field(0.3, ge=0, lt=1)


def _classifier(settings: VisionDataConfig, build: Any) -> Any:
    from pathlib import Path

    import torch
    from torch import nn

    from trainables.data.vision import load_images
    from trainables.loop.fit import Classifier, Split
    from trainables.models.vision import Preprocess
    from trainables.shared_data import shared

    key = (f"images:{settings.dataset}:{Path(settings.data_dir).expanduser().resolve()}:{settings.train_subset}:"
           f"{settings.test_fraction}")
    ((x_train, y_train), (x_val, y_val), test), data_time = shared(key, lambda: load_images(settings), settings.share_data)
    channels, size, classes, mean, std, _ = SHAPES[settings.dataset]
    pad_to = 32 if size == 28 else size  # MNIST-sized images padded to 32 so the deep nets keep a spatial map
    torch.manual_seed(settings.seed)
    model = nn.Sequential(Preprocess(mean, std, pad_to, settings.augment, flip=settings.dataset == "cifar10"),
                          build(channels, classes, pad_to))
    return Classifier(model, Split(x_train, y_train), Split(x_val, y_val), settings, data_time,
                      None if test is None else Split(*test))


def augmentation_blocks_fusion(config: dict[str, Any]) -> str | None:
    if config.get("augment"):
        return "config.augment: the random shift is drawn once per batch, not per member; set augment: false to fuse"
    return None


def cnn_classifier(config: dict[str, Any]) -> Any:
    from trainables.models.cnn import build_cnn

    s = parse_config(ImageCNNConfig, config)
    return _classifier(s, lambda c, k, size: build_cnn(c, k, size, s.channels, s.depth, s.dropout))


def resnet18_classifier(config: dict[str, Any]) -> Any:
    from trainables.models.vision import resnet18_small

    return _classifier(parse_config(ResNetConfig, config), lambda c, k, size: resnet18_small(c, k))


def vgg11_bn_classifier(config: dict[str, Any]) -> Any:
    from trainables.models.vision import vgg11_bn_small

    s = parse_config(VGGConfig, config)
    return _classifier(s, lambda c, k, size: vgg11_bn_small(c, k, size, s.dropout))


train_cnn = register_classifier(
    "image_cnn", config=ImageCNNConfig, classifier=cnn_classifier, fusable=True, fusion_blocker=augmentation_blocks_fusion,
    description="Small CNN on digits / MNIST / FashionMNIST / CIFAR-10.")


train_resnet18 = register_classifier(
    "resnet18", config=ResNetConfig, classifier=resnet18_classifier, fusable=True, fusion_blocker=augmentation_blocks_fusion,
    description="torchvision ResNet-18 for small images, on digits / MNIST / FashionMNIST / CIFAR-10.")


train_vgg11_bn = register_classifier(
    "vgg11_bn", config=VGGConfig, classifier=vgg11_bn_classifier, fusable=True, fusion_blocker=augmentation_blocks_fusion,
    description="torchvision VGG-11 with batch norm for small images, on digits / MNIST / FashionMNIST / CIFAR-10.")
