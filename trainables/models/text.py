"""Text classifiers over padded token ids (0 = padding): a recurrent one (LSTM/GRU) and a
Transformer encoder; both pool over the real tokens only."""

from __future__ import annotations

import math

import torch
from torch import nn


def _masked_mean(states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    mask = (tokens != 0).unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def sinusoidal_positions(max_length: int, d_model: int) -> torch.Tensor:
    """(1, max_length, d_model) position table, as in "Attention is all you need" (even d_model)."""
    position = torch.arange(max_length).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10_000.0) / d_model))
    table = torch.zeros(1, max_length, d_model)
    table[0, :, 0::2] = torch.sin(position * frequency)
    table[0, :, 1::2] = torch.cos(position * frequency[: d_model // 2])
    return table


class RecurrentClassifier(nn.Module):
    def __init__(self, vocab: int, classes: int, cell: str, embedding_dim: int, hidden_size: int, layers: int,
                 bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding_dim, padding_idx=0)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(embedding_dim, hidden_size, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embedding(tokens))
        return self.head(self.dropout(_masked_mean(states, tokens)))


class TransformerClassifier(nn.Module):
    def __init__(self, vocab: int, classes: int, d_model: int, nhead: int, dim_feedforward: int, layers: int,
                 dropout: float, positional: str, max_length: int) -> None:
        super().__init__()
        self.scale = math.sqrt(d_model)
        self.embedding = nn.Embedding(vocab, d_model, padding_idx=0)
        if positional == "learned":
            self.position = nn.Parameter(torch.zeros(1, max_length, d_model))
            nn.init.normal_(self.position, std=0.02)
        else:
            self.register_buffer("position", sinusoidal_positions(max_length, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens) * self.scale + self.position[:, : tokens.shape[1]]
        states = self.encoder(x, src_key_padding_mask=tokens == 0)
        return self.head(self.dropout(_masked_mean(states, tokens)))
