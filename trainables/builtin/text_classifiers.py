"""``text_rnn`` (LSTM/GRU) and ``text_transformer``: text classifiers on a CSV/Parquet file with
text and label columns, or on a generated synthetic dataset (the offline default)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from trainables.data.text import TextDataConfig, data_key
from trainables.loop.config import parse_config
from trainables.loop.register import register_classifier
from trainables.shared_data import shared


class TextRNNConfig(TextDataConfig):
    cell: Literal["lstm", "gru"] = "lstm"
    embedding_dim: int = Field(64, ge=1)
    hidden_size: int = Field(64, ge=1)
    layers: int = Field(1, ge=1, le=8)
    bidirectional: bool = True
    dropout: float = Field(0.1, ge=0, lt=1)


class TextTransformerConfig(TextDataConfig):
    d_model: int = Field(64, ge=2)
    nhead: int = Field(4, ge=1)
    dim_feedforward: int = Field(128, ge=1)
    layers: int = Field(2, ge=1, le=24)
    dropout: float = Field(0.1, ge=0, lt=1)
    positional: Literal["sinusoidal", "learned"] = "sinusoidal"

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TextTransformerConfig:
        if self.d_model % self.nhead:
            raise ValueError(f"nhead ({self.nhead}) must divide d_model ({self.d_model})")
        if self.positional == "sinusoidal" and self.d_model % 2:
            raise ValueError(f"sinusoidal positions need an even d_model, got {self.d_model}")
        return self


def _classifier(settings: TextDataConfig, build: Any) -> Any:
    """Shared data, then ``build(vocabulary size, classes)``."""
    import torch

    from trainables.data.text import text_splits
    from trainables.loop.fit import Classifier

    (train, val, test, vocab, classes), data_time = shared(data_key(settings), lambda: text_splits(settings),
                                                           settings.share_data)
    torch.manual_seed(settings.seed)
    return Classifier(build(vocab, classes), train, val, settings, data_time, test)


def rnn_classifier(config: dict[str, Any]) -> Any:
    from trainables.models.text import RecurrentClassifier

    s = parse_config(TextRNNConfig, config)
    return _classifier(s, lambda vocab, classes: RecurrentClassifier(vocab, classes, s.cell, s.embedding_dim, s.hidden_size,
                                                                     s.layers, s.bidirectional, s.dropout))


def transformer_classifier(config: dict[str, Any]) -> Any:
    from trainables.models.text import TransformerClassifier

    s = parse_config(TextTransformerConfig, config)
    return _classifier(s, lambda vocab, classes: TransformerClassifier(vocab, classes, s.d_model, s.nhead, s.dim_feedforward,
                                                                       s.layers, s.dropout, s.positional, s.max_length))


train_rnn = register_classifier(
    "text_rnn", config=TextRNNConfig, classifier=rnn_classifier,
    description="LSTM/GRU text classifier (CSV/Parquet text + label, or a generated synthetic dataset).")


train_transformer = register_classifier(
    "text_transformer", config=TextTransformerConfig, classifier=transformer_classifier, fusable=True,
    description="Transformer-encoder text classifier (CSV/Parquet text + label, or a generated synthetic dataset).")
