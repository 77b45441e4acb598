"""``tabular_mlp``: an MLP on a table: one of scikit-learn's bundled datasets (offline), or the
user's CSV/Parquet file with the label in ``target``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from trainables.data.splits import TEST_FRACTION, three_way_split
from trainables.loop.config import ConfigError, LoopConfig, parse_config
from trainables.loop.register import register_classifier
from trainables.shared_data import shared

BUNDLED = ("breast_cancer", "wine", "iris", "digits")


class TabularMLPConfig(LoopConfig):
    data: str = Field("breast_cancer", description=f"{', '.join(BUNDLED)}, or a .csv/.parquet file")
    target: str | None = Field(None, description="label column of a file")
    hidden: int = Field(64, ge=1)
    layers: int = Field(2, ge=1, le=16)
    activation: Literal["relu", "gelu", "tanh", "silu"] = "relu"
    dropout: float = Field(0.1, ge=0, lt=1)
    val_fraction: float = Field(0.25, gt=0, lt=1)
    test_fraction: float = TEST_FRACTION

    @model_validator(mode="after")
    def _data_source(self) -> TabularMLPConfig:
        if self.data not in BUNDLED:
            if Path(self.data).suffix.lower() not in (".csv", ".parquet"):
                raise ValueError(f"data must be one of {', '.join(BUNDLED)} or a .csv/.parquet file, got {self.data!r}")
            if self.target is None:
                raise ValueError(f"target (the label column) is needed with a data file ({self.data})")
        return self


def load_table(data: str, target: str | None) -> tuple[Any, Any]:
    """Features (float array) and labels (int codes); one-line ``ConfigError`` for bad files."""
    import numpy as np
    import pandas as pd

    if data in BUNDLED:
        import sklearn.datasets as datasets

        bunch = getattr(datasets, f"load_{data}")()
        return np.asarray(bunch.data, dtype=np.float32), np.asarray(bunch.target)
    path = Path(data).expanduser()
    if not path.is_file():
        raise ConfigError(f"config.data: no file {path} (relative paths are read from the trial's working directory)")
    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    if target not in frame.columns:
        raise ConfigError(f"config.target: column {target!r} not in {path.name}; columns: {', '.join(map(str, frame.columns))}")
    labels = frame.pop(target).astype("category").cat.codes.to_numpy()
    features = pd.get_dummies(frame, dummy_na=False).astype("float32").fillna(0.0)  # categoricals one-hot
    return features.to_numpy(), labels


def classifier(config: dict[str, Any]) -> Any:
    import torch
    from sklearn.preprocessing import StandardScaler
    from torch import nn

    from trainables.loop.fit import Classifier, Split

    settings = parse_config(TabularMLPConfig, config)
    source = settings.data if settings.data in BUNDLED else str(Path(settings.data).expanduser().resolve())
    (x, y), data_time = shared(f"table:{source}:{settings.target}", lambda: load_table(settings.data, settings.target),
                               settings.share_data)
    parts = three_way_split(x, y, settings.val_fraction, settings.test_fraction)
    scaler = StandardScaler().fit(parts[0][0])  # fitted on the training split only

    def scaled(part: tuple[Any, Any]) -> Split:
        return Split(torch.tensor(scaler.transform(part[0]), dtype=torch.float32), torch.tensor(part[1], dtype=torch.long))

    train, val, test = scaled(parts[0]), scaled(parts[1]), None if parts[2] is None else scaled(parts[2])
    activation = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}[settings.activation]
    torch.manual_seed(settings.seed)
    blocks: list[nn.Module] = []
    width = x.shape[1]
    for _ in range(settings.layers):
        blocks += [nn.Linear(width, settings.hidden), activation(), nn.Dropout(settings.dropout)]
        width = settings.hidden
    blocks.append(nn.Linear(width, int(y.max()) + 1))
    return Classifier(nn.Sequential(*blocks), train, val, settings, data_time, test)


train = register_classifier(
    "tabular_mlp", config=TabularMLPConfig, classifier=classifier, fusable=True,
    description="MLP classifier on a table (scikit-learn's bundled datasets, or a CSV/Parquet file).")
