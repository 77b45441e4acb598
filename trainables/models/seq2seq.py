"""An encoder-decoder Transformer (``torch.nn.Transformer``, pre-norm) over token ids, with greedy
decoding. Token 0 is padding, 2 begins and 3 ends a target (``trainables.data.seq2seq``)."""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from trainables.models.text import sinusoidal_positions

PAD, BOS, EOS = 0, 2, 3


class Seq2SeqTransformer(nn.Module):
    def __init__(self, source_vocab: int, target_vocab: int, d_model: int, nhead: int, num_encoder_layers: int,
                 num_decoder_layers: int, dim_feedforward: int, dropout: float, max_length: int) -> None:
        super().__init__()
        self.scale = math.sqrt(d_model)
        self.source_embedding = nn.Embedding(source_vocab, d_model, padding_idx=PAD)
        self.target_embedding = nn.Embedding(target_vocab, d_model, padding_idx=PAD)
        self.position: torch.Tensor
        self.register_buffer("position", sinusoidal_positions(max_length, d_model))
        self.dropout = nn.Dropout(dropout)
        with warnings.catch_warnings():  # pre-norm layers cannot use nested tensors; nn.Transformer asks anyway
            warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
            self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                              dropout, batch_first=True, norm_first=True)
        self.head = nn.Linear(d_model, target_vocab)

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        return self.dropout(embedding(tokens) * self.scale + self.position[:, : tokens.shape[1]])

    def encode(self, source: torch.Tensor) -> torch.Tensor:
        return self.transformer.encoder(self._embed(self.source_embedding, source), src_key_padding_mask=source == PAD)

    def decode(self, memory: torch.Tensor, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Logits for the token after each position of ``target_in`` (which starts with BOS)."""
        length = target_in.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=target_in.device).triu(1)  # True: may not attend
        states = self.transformer.decoder(self._embed(self.target_embedding, target_in), memory, tgt_mask=causal,
                                          tgt_is_causal=True, tgt_key_padding_mask=target_in == PAD,
                                          memory_key_padding_mask=source == PAD)
        return self.head(states)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(source), source, target_in)


@torch.no_grad()
def greedy_decode(model: Seq2SeqTransformer, source: torch.Tensor, max_tokens: int) -> torch.Tensor:
    """(n, <= max_tokens + 1) ids, the most likely token at each step until every row has ended
    (EOS, then padding). The decoder reruns over the prefix each step: simple, and cheap at the
    lengths this is for."""
    model.eval()
    memory = model.encode(source)
    out = torch.full((len(source), 1), BOS, dtype=torch.long, device=source.device)
    done = torch.zeros(len(source), dtype=torch.bool, device=source.device)
    for _ in range(max_tokens + 1):
        following = model.decode(memory, source, out)[:, -1].argmax(-1)
        following = following.masked_fill(done, PAD)
        out = torch.cat([out, following.unsqueeze(1)], dim=1)
        done |= following == EOS
        if bool(done.all()):
            break
    return out[:, 1:]
