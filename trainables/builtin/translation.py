"""``seq2seq_transformer``: an encoder-decoder Transformer that translates, on a file of sentence
pairs or the generated ``numbers`` task (``trainables.data.seq2seq``).

Trained with teacher forcing and the loop's optimizers, clipping, label smoothing and schedules,
plus ``inverse_sqrt`` (linear warmup over ``warmup_steps`` optimizer steps, then 1/sqrt(step)).
Each epoch it greedily decodes the first ``bleu_sentences`` validation sentences (the slow part:
one decoder pass per output token) and scores them with sacreBLEU: ``val_bleu`` (13a tokenizer)
and ``val_chrf``; ``val_accuracy`` is the teacher-forced next-token accuracy on every validation
pair and ``val_exact`` the share of decoded sentences that match their reference exactly.
Checkpoints hold the model, optimizer, epoch and early-stopping state, so resume is exact.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field, model_validator

from trainables.api import Report
from trainables.data.seq2seq import Seq2SeqDataConfig, data_key
from trainables.loop.config import ConfigError, parse_config
from trainables.loop.state import epoch_seed
from trainables.registry import register_trainable

METRICS = {"train_loss": "min", "val_loss": "min", "val_accuracy": "max", "val_bleu": "max", "val_chrf": "max",
           "val_exact": "max"}


class Seq2SeqConfig(Seq2SeqDataConfig):
    d_model: int = Field(64, ge=2)
    nhead: int = Field(4, ge=1)
    num_encoder_layers: int = Field(2, ge=1, le=24)
    num_decoder_layers: int = Field(2, ge=1, le=24)
    dim_feedforward: int = Field(128, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(12, ge=1)
    schedule: Literal["constant", "step", "exponential", "cosine", "inverse_sqrt"] = "inverse_sqrt"  # type: ignore[assignment]
    warmup_steps: int = Field(200, ge=1, description="inverse_sqrt: optimizer steps of linear warmup to lr")
    bleu_sentences: int = Field(200, ge=1, description="validation sentences decoded per epoch for val_bleu/val_chrf")
    patience_metric: Literal["val_loss", "val_accuracy", "val_bleu", "val_chrf"] = "val_loss"  # type: ignore[assignment]

    @model_validator(mode="after")
    def _supported(self) -> Seq2SeqConfig:
        if self.d_model % self.nhead:
            raise ValueError(f"nhead ({self.nhead}) must divide d_model ({self.d_model})")
        if self.d_model % 2:
            raise ValueError(f"d_model must be even (sinusoidal positions), got {self.d_model}")
        for key in ("cv_folds", "dynamics"):
            if getattr(self, key):
                raise ValueError(f"{key}: not supported by seq2seq_transformer")
        return self


def _sequence_loss(logits: Any, targets: Any, label_smoothing: float, reduction: str = "mean") -> Any:
    from torch import nn

    from trainables.data.seq2seq import PAD

    return nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=PAD,
                                       label_smoothing=label_smoothing, reduction=reduction)


def _teacher_forced(model: Any, split: Any, batch_size: int, device: Any) -> tuple[float, float]:
    """(loss per target token, next-token accuracy) over every pair of ``split``."""
    import torch

    from trainables.data.seq2seq import PAD
    from trainables.loop.fit import autocast_for

    model.eval()
    loss_sum, correct, tokens = 0.0, 0, 0
    chunk = max(batch_size, 256)
    with torch.no_grad(), autocast_for(device):
        for start in range(0, len(split), chunk):
            source, target = split.source[start : start + chunk], split.target[start : start + chunk]
            logits = model(source, target[:, :-1])
            wanted = target[:, 1:]
            real = wanted != PAD
            loss_sum += float(_sequence_loss(logits, wanted, 0.0, reduction="sum"))
            correct += int(((logits.argmax(-1) == wanted) & real).sum())
            tokens += int(real.sum())
    return loss_sum / tokens, correct / tokens


def translate(model: Any, source: Any, vocabulary: Any, kind: str, max_tokens: int, batch_size: int = 256) -> list[str]:
    """Greedy translations of the source rows, as text."""
    from trainables.data.seq2seq import detokenize
    from trainables.loop.fit import autocast_for
    from trainables.models.seq2seq import greedy_decode

    out: list[str] = []
    with autocast_for(source.device):
        for start in range(0, len(source), batch_size):
            ids = greedy_decode(model, source[start : start + batch_size], max_tokens)
            out += [detokenize(vocabulary.words(row), kind) for row in ids.tolist()]
    return out


def translation_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU (sacreBLEU, 13a), chrF, and the share of sentences translated exactly."""
    import sacrebleu

    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
            "exact": sum(h == r for h, r in zip(hypotheses, references, strict=True)) / len(references)}


def build_model(settings: Seq2SeqConfig, data: Any) -> Any:
    """The untrained model, its initial weights fixed by ``seed``."""
    import torch

    from trainables.models.seq2seq import Seq2SeqTransformer

    torch.manual_seed(settings.seed)
    return Seq2SeqTransformer(len(data.source_vocabulary), len(data.target_vocabulary), settings.d_model, settings.nhead,
                              settings.num_encoder_layers, settings.num_decoder_layers, settings.dim_feedforward,
                              settings.dropout, max(settings.max_source_length, settings.max_target_length + 2))


EVALUATED_TRAIN_PAIRS = 2000  # training pairs decoded by split_scores: enough for the bias reading


def split_scores(config: dict[str, Any], checkpoint: dict[str, Any],
                 splits: tuple[str, ...] = ("train", "validation", "test")) -> dict[str, dict[str, float]]:
    """``translation_scores`` and ``sentences`` (how many) by split, of a trained model (a checkpoint
    this trainable wrote): the first 2,000 training pairs, every validation pair and every test pair
    (``test_fraction``: pairs no trial trained on or was ranked by). For ``tune-jobs evaluate``."""
    from trainables.data.seq2seq import seq2seq_splits
    from trainables.loop.fit import pick_device

    settings = parse_config(Seq2SeqConfig, config)
    data = seq2seq_splits(settings)
    if data.test is None:
        raise ConfigError("config.test_fraction: 0, so there are no test pairs; set it above 0 before training")
    device = pick_device(settings.device)
    model = build_model(settings, data).to(device)
    model.load_state_dict(checkpoint["model"])
    longest = data.train.target.shape[1] - 1
    found = {}
    for name, split, rows in (("train", data.train, EVALUATED_TRAIN_PAIRS), ("validation", data.val, None),
                              ("test", data.test, None)):
        if name not in splits:
            continue
        source = split.source[:rows].to(device)
        hypotheses = translate(model, source, data.target_vocabulary, settings.tokens, longest)
        found[name] = {**translation_scores(hypotheses, split.references[: len(source)]), "sentences": len(source)}
    return found


def held_out_scores(config: dict[str, Any], checkpoint: dict[str, Any]) -> dict[str, float]:
    """The test split's scores only (decoding the others would be wasted), as ``test_*``."""
    test = split_scores(config, checkpoint, splits=("test",))["test"]
    return {f"test_{key}": value for key, value in test.items() if key != "sentences"}


def fit_seq2seq(settings: Seq2SeqConfig, report: Report, checkpoint: dict[str, Any] | None = None) -> None:
    import torch

    from trainables.data.seq2seq import seq2seq_splits
    from trainables.loop.fit import EarlyStopping, autocast_for, gpu_memory, make_optimizer, pick_device, restore_optimizer
    from trainables.loop.schedules import inverse_sqrt_factor, lr_factor
    from trainables.shared_data import shared

    data, data_time = shared(data_key(settings), lambda: seq2seq_splits(settings), settings.share_data)
    device = pick_device(settings.device)
    model = build_model(settings, data).to(device)
    optimizer = make_optimizer(settings, model.parameters())
    stopping = EarlyStopping(settings.patience, settings.patience_metric)
    first_epoch = 1
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        restore_optimizer(optimizer, checkpoint["optimizer"], settings)
        stopping = EarlyStopping(settings.patience, settings.patience_metric, checkpoint.get("early_stopping"))
        first_epoch = int(checkpoint["epoch"]) + 1
    train, val = data.train.to(device), data.val.to(device)
    scored = val.source[: settings.bleu_sentences]
    references = val.references[: settings.bleu_sentences]
    longest_target = train.target.shape[1] - 1  # tokens and EOS: no reference in training was longer
    steps_per_epoch = -(-len(train) // settings.batch_size)
    generator = torch.Generator()
    for epoch in range(first_epoch, settings.epochs + 1):
        epoch_factor = lr_factor(epoch, settings.epochs, settings.schedule, settings.warmup_epochs, settings.step_size,
                                 settings.gamma) if settings.schedule != "inverse_sqrt" else 1.0
        generator.manual_seed(epoch_seed(settings.seed, epoch))  # same batch order on a resumed run,
        torch.manual_seed(epoch_seed(settings.seed, epoch))  # and the same dropout masks
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        token_count = 0
        for step, start in enumerate(range(0, len(train), settings.batch_size), start=(epoch - 1) * steps_per_epoch + 1):
            factor = inverse_sqrt_factor(step, settings.warmup_steps) if settings.schedule == "inverse_sqrt" else epoch_factor
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * factor
            index = order[start : start + settings.batch_size]
            source, target = train.source[index], train.target[index]
            optimizer.zero_grad(set_to_none=True)
            with autocast_for(device):
                loss = _sequence_loss(model(source, target[:, :-1]), target[:, 1:], settings.label_smoothing)
            loss.backward()
            if settings.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            real = int((target[:, 1:] != 0).sum())
            loss_sum += loss.detach() * real
            token_count += real
        train_time = time.perf_counter() - started
        val_loss, val_accuracy = _teacher_forced(model, val, settings.batch_size, device)
        decoding = time.perf_counter()
        hypotheses = translate(model, scored, data.target_vocabulary, settings.tokens, longest_target)
        metrics = {
            "epoch": epoch, "train_loss": float(loss_sum) / token_count, "val_loss": val_loss, "val_accuracy": val_accuracy,
            **{f"val_{key}": value for key, value in translation_scores(hypotheses, references).items()},
            "lr": optimizer.param_groups[0]["lr"], "epoch_time_s": time.perf_counter() - started,
            "decode_time_s": time.perf_counter() - decoding, "samples_per_s": len(train) / train_time,
            "data_time_s": data_time,
        }
        if device.type == "cuda":
            metrics.update(gpu_memory(device))
        stop = stopping.update(metrics)
        metrics["early_stopped"] = int(stop)
        report(metrics, checkpoint={"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                                    "early_stopping": stopping.state()})
        if stop:
            return


@register_trainable("seq2seq_transformer", config=Seq2SeqConfig, metrics=METRICS,  # type: ignore[arg-type]
                    evaluator=split_scores)
def train(config: dict[str, Any], report: Report, checkpoint: dict[str, Any] | None = None) -> None:
    """Encoder-decoder Transformer translating sentence pairs (TSV/CSV/Parquet) or generated numbers (en -> fr)."""
    fit_seq2seq(parse_config(Seq2SeqConfig, config), report, checkpoint)
