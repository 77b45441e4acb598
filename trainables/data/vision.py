"""Image classification data: scikit-learn's digits (bundled), or MNIST, FashionMNIST and CIFAR-10
through torchvision from ``data_dir`` (``download: true`` fetches them where the network allows).

Images stay uint8 in memory (CIFAR-10 is 150 MB that way, 600 MB as floats); scaling,
normalisation, padding and augmentation run per batch inside the model (``Preprocess``), on the
trial's device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from trainables.loop.config import ConfigError, LoopConfig

Dataset = Literal["digits", "mnist", "fashion_mnist", "cifar10"]
# channels, size, classes, mean, std, the folder torchvision looks for
SHAPES: dict[str, tuple[int, int, int, tuple[float, ...], tuple[float, ...], str]] = {
    "digits": (1, 8, 10, (0.30,), (0.37,), ""),
    "mnist": (1, 28, 10, (0.1307,), (0.3081,), "MNIST/raw"),
    "fashion_mnist": (1, 28, 10, (0.2860,), (0.3530,), "FashionMNIST/raw"),
    "cifar10": (3, 32, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "cifar-10-batches-py"),
}


class VisionDataConfig(LoopConfig):
    dataset: Dataset = "digits"
    data_dir: str = Field("data", description="where torchvision datasets are (or are downloaded to)")
    download: bool = False
    augment: bool = Field(False, description="random shifts (4 px at 32 px) and, for CIFAR-10, horizontal flips")
    train_subset: int | None = Field(None, ge=10, description="use only this many training images (quick sweeps)")
    test_fraction: float = Field(0.0, ge=0, lt=1, description="held out for `tune-jobs evaluate`, never trained on or "
                                 "ranked by: of digits, before its 25% validation split; of MNIST/FashionMNIST/CIFAR-10's "
                                 "official test images, which are otherwise the validation split")


Images = tuple[Any, Any]  # uint8 (N, C, H, W), int64 labels


def load_images(settings: VisionDataConfig) -> tuple[Images, Images, Images | None]:
    """(train, validation, test or None). Digits: stratified 25% validation, ``test_fraction`` held
    out first. The torchvision datasets: their training images train; their official test images
    validate, ``test_fraction`` of them (stratified, fixed seed) held out as the test split."""
    import torch

    from trainables.data.splits import three_way_split

    if settings.dataset == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images * 255 / 16, dtype=torch.uint8).unsqueeze(1)
        labels = torch.tensor(digits.target)
        train, val, test = three_way_split(images, labels, 0.25, settings.test_fraction)
        return _subset(*train, settings.train_subset), val, test
    import torchvision

    root = Path(settings.data_dir).expanduser().resolve()
    folder = SHAPES[settings.dataset][5]
    cls = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST,
           "cifar10": torchvision.datasets.CIFAR10}[settings.dataset]
    try:
        train, val = (cls(root=str(root), train=flag, download=settings.download) for flag in (True, False))
    except RuntimeError as error:
        if settings.download:
            raise ConfigError(f"config.download: fetching {settings.dataset} into {root} failed: {error}") from None
        raise ConfigError(f"config.data_dir: {settings.dataset} not found in {root} (looked for {root / folder}); set "
                          "download: true where the network allows, or point data_dir at a copy") from None

    def as_tensors(dataset: Any) -> tuple[Any, Any]:
        data = torch.as_tensor(dataset.data)
        images = data.permute(0, 3, 1, 2) if data.ndim == 4 else data.unsqueeze(1)  # NHWC (CIFAR) or NHW
        return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.long)

    official_test = as_tensors(val)
    held_out = None
    if settings.test_fraction > 0:
        from sklearn.model_selection import train_test_split

        x_val, x_test, y_val, y_test = train_test_split(*official_test, test_size=settings.test_fraction, random_state=0,
                                                        stratify=official_test[1])
        official_test, held_out = (x_val, y_val), (x_test, y_test)
    return _subset(*as_tensors(train), settings.train_subset), official_test, held_out


def _subset(images: Any, labels: Any, size: int | None) -> Images:
    return (images[:size], labels[:size]) if size else (images, labels)
