"""Sentence pairs for sequence-to-sequence training: a TSV/CSV/Parquet file with source and target
columns, or the generated offline task ``numbers``: a number written out in one language and in
another with ``num2words`` (English to French by default).

The generated task is a deterministic rewrite, not natural language, but it is not a lookup:
French reorders and regroups what English says ("seventy-one" is "soixante et onze", 60 + 11;
"ninety-seven" is "quatre-vingt-dix-sept") and agrees in number ("deux cents" but "deux cent un",
"quatre-vingts" but "quatre-vingt mille"), and the validation numbers are ones training never saw.

Tokens are words and punctuation (``tokens: word``) or characters (``char``); each side has its
own vocabulary, built from the training split only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from trainables.data.splits import TEST_FRACTION, three_way_rows
from trainables.loop.config import ConfigError, LoopConfig

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = 4
NUMBERS = "numbers"
NUMBER_LIMIT = 100_000  # the generated task writes out 0 .. 99,999
_WORD = re.compile(r"\w+|[^\w\s]")
_GLUED_BOTH = {"-", "'", "’", "/"}
_GLUED_LEFT = {",", ".", ";", ":", "!", "?", ")", "]", "%"}
_GLUED_RIGHT = {"(", "["}


class Seq2SeqDataConfig(LoopConfig):
    data: str = Field(NUMBERS, description="'numbers' (generated with num2words), or a .tsv/.csv/.parquet file of pairs")
    source_column: str = "source"
    target_column: str = "target"
    source_language: str = Field("en", description="numbers: num2words language written on the source side")
    target_language: str = Field("fr", description="numbers: num2words language written on the target side")
    synthetic_samples: int = Field(6000, ge=50, le=NUMBER_LIMIT, description="numbers: distinct numbers generated")
    tokens: Literal["word", "char"] = Field("word", description="word: words and punctuation; char: every character")
    vocab_size: int = Field(8000, ge=8, description="most frequent training tokens kept per side")
    max_source_length: int = Field(48, ge=2, le=1024, description="source tokens kept")
    max_target_length: int = Field(48, ge=2, le=1024, description="target tokens kept (and most tokens decoded)")
    val_fraction: float = Field(0.15, gt=0, lt=1)
    test_fraction: float = TEST_FRACTION

    @model_validator(mode="after")
    def _data_source(self) -> Seq2SeqDataConfig:
        if self.data != NUMBERS:
            if Path(self.data).suffix.lower() not in (".tsv", ".csv", ".parquet"):
                raise ValueError(f"data: must be 'numbers' or a .tsv/.csv/.parquet file, got {self.data!r}")
            return self
        from num2words import CONVERTER_CLASSES

        for key in ("source_language", "target_language"):
            if getattr(self, key) not in CONVERTER_CLASSES:
                raise ValueError(f"{key}: num2words has no language {getattr(self, key)!r} "
                                 "(some it has: en, fr, de, es, it, nl, pt, ru, ja)")
        return self


def tokenize(text: str, kind: str) -> list[str]:
    return list(text) if kind == "char" else _WORD.findall(text)


def detokenize(tokens: list[str], kind: str) -> str:
    """The text back from tokens: exact for characters; for words, spaces between words except
    around hyphens and apostrophes, before closing and after opening punctuation (what the generated task and
    most Latin-script text need; BLEU's own tokenizer evens out the rest)."""
    if kind == "char":
        return "".join(tokens)
    out: list[str] = []
    for token in tokens:
        if out and not (token in _GLUED_BOTH or token in _GLUED_LEFT or out[-1] in _GLUED_BOTH or out[-1] in _GLUED_RIGHT):
            out.append(" ")
        out.append(token)
    return "".join(out)


def numbers_task(samples: int, source_language: str, target_language: str, seed: int = 0) -> list[tuple[str, str]]:
    """``samples`` distinct numbers below 100,000, every order of magnitude about equally likely
    (so the small irregular ones are all there), each written out in both languages."""
    import numpy as np
    from num2words import num2words

    rng = np.random.default_rng(seed)
    magnitude = np.floor(np.log10(np.maximum(np.arange(NUMBER_LIMIT), 1)))
    weights = 1.0 / np.bincount(magnitude.astype(int))[magnitude.astype(int)]
    numbers = rng.choice(NUMBER_LIMIT, size=samples, replace=False, p=weights / weights.sum())
    return [(num2words(int(n), lang=source_language), num2words(int(n), lang=target_language)) for n in numbers]


def load_pairs(settings: Seq2SeqDataConfig) -> list[tuple[str, str]]:
    if settings.data == NUMBERS:
        return numbers_task(settings.synthetic_samples, settings.source_language, settings.target_language)
    import pandas as pd

    path = Path(settings.data).expanduser()
    if not path.is_file():
        raise ConfigError(f"config.data: no file {path} (relative paths are read from the trial's working directory)")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", quoting=3 if suffix == ".tsv" else 0,
                            keep_default_na=False)
    for key in ("source_column", "target_column"):
        column = getattr(settings, key)
        if column not in frame.columns:
            raise ConfigError(f"config.{key}: column {column!r} not in {path.name}; columns: {', '.join(map(str, frame.columns))}")
    pairs = list(zip(frame[settings.source_column].astype(str), frame[settings.target_column].astype(str), strict=True))
    if len(pairs) < 20:
        raise ConfigError(f"config.data: {path.name} has {len(pairs)} pairs; at least 20 are needed to split off validation")
    return pairs


@dataclass(frozen=True)
class Vocabulary:
    tokens: list[str]  # index i + SPECIALS is tokens[i]

    @classmethod
    def build(cls, texts: list[str], kind: str, size: int) -> Vocabulary:
        counts = Counter(token for text in texts for token in tokenize(text, kind))
        return cls([token for token, _ in counts.most_common(max(size - SPECIALS, 1))])

    def __len__(self) -> int:
        return len(self.tokens) + SPECIALS

    @cached_property
    def _index(self) -> dict[str, int]:
        return {token: i + SPECIALS for i, token in enumerate(self.tokens)}

    def ids(self, tokens: list[str]) -> list[int]:
        return [self._index.get(token, UNK) for token in tokens]

    def words(self, ids: list[int]) -> list[str]:
        """Tokens of ids up to the first end-of-sequence; padding and other specials dropped."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i >= SPECIALS:
                out.append(self.tokens[i - SPECIALS])
            elif i == UNK:
                out.append("<unk>")
        return out


@dataclass(frozen=True)
class PairSplit:
    """Token ids of one split: ``source`` (n, S) padded; ``target`` (n, T) as BOS, tokens, EOS,
    padding (S and T: the longest row, within the configured maxima); ``references``: the target texts as written, for BLEU."""

    source: Any
    target: Any
    references: list[str]

    def __len__(self) -> int:
        return len(self.references)

    def to(self, device: Any) -> PairSplit:
        return PairSplit(self.source.to(device), self.target.to(device), self.references)


@dataclass(frozen=True)
class Seq2SeqData:
    train: PairSplit
    val: PairSplit
    test: PairSplit | None
    source_vocabulary: Vocabulary
    target_vocabulary: Vocabulary


def data_key(settings: Seq2SeqDataConfig) -> str:
    """What the encoded data depends on: trials that agree on these share one copy."""
    source = settings.data if settings.data == NUMBERS else str(Path(settings.data).expanduser().resolve())
    return (f"seq2seq:{source}:{settings.source_column}:{settings.target_column}:{settings.source_language}:"
            f"{settings.target_language}:{settings.synthetic_samples}:{settings.tokens}:{settings.vocab_size}:"
            f"{settings.max_source_length}:{settings.max_target_length}:{settings.val_fraction}:{settings.test_fraction}")


def _encode(texts: list[str], vocabulary: Vocabulary, kind: str, length: int, framed: bool) -> Any:
    import torch

    rows = [vocabulary.ids(tokenize(text, kind)[:length]) or [UNK] for text in texts]
    if framed:
        rows = [[BOS, *ids, EOS] for ids in rows]
    out = torch.full((len(rows), max(map(len, rows), default=1)), PAD, dtype=torch.long)  # as wide as the longest
    for row, ids in enumerate(rows):
        out[row, : len(ids)] = torch.tensor(ids)
    return out


def seq2seq_splits(settings: Seq2SeqDataConfig) -> Seq2SeqData:
    pairs = load_pairs(settings)
    train, val, test = three_way_rows(pairs, settings.val_fraction, settings.test_fraction)
    source_vocabulary = Vocabulary.build([s for s, _ in train], settings.tokens, settings.vocab_size)
    target_vocabulary = Vocabulary.build([t for _, t in train], settings.tokens, settings.vocab_size)

    def encoded(part: list[tuple[str, str]]) -> PairSplit:
        return PairSplit(_encode([s for s, _ in part], source_vocabulary, settings.tokens, settings.max_source_length, False),
                         _encode([t for _, t in part], target_vocabulary, settings.tokens, settings.max_target_length, True),
                         [t for _, t in part])

    return Seq2SeqData(encoded(train), encoded(val), None if test is None else encoded(test), source_vocabulary,
                       target_vocabulary)
