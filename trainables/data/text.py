"""Text classification data: a CSV/Parquet file with text and label columns, or a generated
dataset (synthetic, for tests and examples), tokenised with a simple built-in tokenizer."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from trainables.data.splits import TEST_FRACTION, three_way_split
from trainables.loop.config import ConfigError, LoopConfig

PAD, UNK = 0, 1
_WORD = re.compile(r"[a-z0-9']+")


class TextDataConfig(LoopConfig):
    data: str = Field("synthetic", description="'synthetic' (generated), or a .csv/.parquet file")
    text_column: str = "text"
    label_column: str = "label"
    max_length: int = Field(64, ge=4, le=4096, description="tokens kept per text")
    vocab_size: int = Field(10_000, ge=16, description="most frequent training words kept")
    val_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = TEST_FRACTION
    synthetic_samples: int = Field(2000, ge=50)

    @model_validator(mode="after")
    def _data_source(self) -> TextDataConfig:
        if self.data != "synthetic" and Path(self.data).suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(f"data must be 'synthetic' or a .csv/.parquet file, got {self.data!r}")
        return self


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def synthetic_texts(samples: int, classes: int = 4, seed: int = 0) -> tuple[list[str], list[int]]:
    """Generated "reviews": each class has its own topic words, mixed with shared filler words
    and 10% label noise. Learnable, not trivial; not real language."""
    import numpy as np

    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(300)]
    topics = [[f"c{c}t{i}" for i in range(25)] for c in range(classes)]
    texts, labels = [], []
    for _ in range(samples):
        label = int(rng.integers(classes))
        length = int(rng.integers(12, 48))
        words = [str(rng.choice(topics[label])) if rng.random() < 0.15 else str(rng.choice(filler)) for _ in range(length)]
        texts.append(" ".join(words))
        labels.append(label if rng.random() > 0.1 else int(rng.integers(classes)))
    return texts, labels


def data_key(settings: TextDataConfig) -> str:
    """What the encoded data depends on: trials that agree on these share one copy."""
    source = settings.data if settings.data == "synthetic" else str(Path(settings.data).expanduser().resolve())
    return (f"text:{source}:{settings.text_column}:{settings.label_column}:{settings.max_length}:{settings.vocab_size}:"
            f"{settings.val_fraction}:{settings.test_fraction}:{settings.synthetic_samples}")


def load_texts(settings: TextDataConfig) -> tuple[list[str], list[Any]]:
    if settings.data == "synthetic":
        return synthetic_texts(settings.synthetic_samples)
    import pandas as pd

    path = Path(settings.data).expanduser()
    if not path.is_file():
        raise ConfigError(f"config.data: no file {path} (relative paths are read from the trial's working directory)")
    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    for key in ("text_column", "label_column"):
        column = getattr(settings, key)
        if column not in frame.columns:
            raise ConfigError(f"config.{key}: column {column!r} not in {path.name}; columns: {', '.join(map(str, frame.columns))}")
    return frame[settings.text_column].astype(str).tolist(), frame[settings.label_column].tolist()


def build_vocabulary(texts: list[str], size: int) -> dict[str, int]:
    counts = Counter(word for text in texts for word in tokenize(text))
    return {word: index + 2 for index, (word, _) in enumerate(counts.most_common(size - 2))}


def encode(texts: list[str], vocabulary: dict[str, int], max_length: int) -> Any:
    import torch

    out = torch.full((len(texts), max_length), PAD, dtype=torch.long)
    for row, text in enumerate(texts):
        ids = [vocabulary.get(word, UNK) for word in tokenize(text)[:max_length]] or [UNK]
        out[row, : len(ids)] = torch.tensor(ids)
    return out


def text_splits(settings: TextDataConfig) -> tuple[Any, Any, Any, int, int]:
    """(train, val, test or None, vocabulary size, classes); the vocabulary comes from the training split only."""
    import torch

    from trainables.loop.fit import Split

    texts, raw_labels = load_texts(settings)
    classes = sorted(set(raw_labels), key=str)
    labels = [classes.index(label) for label in raw_labels]
    parts = three_way_split(texts, labels, settings.val_fraction, settings.test_fraction)
    vocabulary = build_vocabulary(parts[0][0], settings.vocab_size)

    def encoded(part: tuple[Any, Any]) -> Split:
        return Split(encode(part[0], vocabulary, settings.max_length), torch.tensor(part[1]))

    test = None if parts[2] is None else encoded(parts[2])
    return encoded(parts[0]), encoded(parts[1]), test, len(vocabulary) + 2, len(classes)
