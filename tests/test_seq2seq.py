"""seq2seq_transformer: the generated numbers task, tokenizers, training that learns, exact resume,
the inverse-square-root schedule, pair files, and one-line errors."""

import json
import math

import pytest
from typer.testing import CliRunner

from trainables.api import Recorder
from trainables.builtin.translation import METRICS, Seq2SeqConfig, train, translation_scores
from trainables.data.seq2seq import (
    BOS,
    EOS,
    PAD,
    UNK,
    Vocabulary,
    detokenize,
    numbers_task,
    seq2seq_splits,
    tokenize,
)
from trainables.loop.config import ConfigError, parse_config
from trainables.loop.schedules import inverse_sqrt_factor
from tune_jobs.cli import app

TINY = {"synthetic_samples": 400, "d_model": 32, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1,
        "dim_feedforward": 64, "bleu_sentences": 40, "batch_size": 32, "warmup_steps": 20, "lr": 3e-3, "share_data": False}


def test_numbers_task_is_fixed_distinct_and_covers_every_magnitude():
    pairs = numbers_task(600, "en", "fr")
    assert pairs == numbers_task(600, "en", "fr")
    assert len(set(pairs)) == 600
    assert ("seventy-one", "soixante et onze") in pairs  # all two-digit numbers are drawn: small ones are irregular
    lengths = [len(source.split()) for source, _ in pairs]
    assert min(lengths) == 1 and max(lengths) == 6  # "fifty-seven thousand, three hundred and two"


@pytest.mark.parametrize("text", ["quatre-vingt-dix-sept mille deux cents", "fifty-seven thousand, three hundred and two",
                                  "l'homme (vieux) dit: oui!"])
def test_word_and_char_tokens_detokenize_to_the_text(text):
    assert detokenize(tokenize(text, "char"), "char") == text
    assert detokenize(tokenize(text, "word"), "word") == text
    assert tokenize("quatre-vingts", "word") == ["quatre", "-", "vingts"]


def test_vocabulary_comes_from_the_training_split_and_splits_are_disjoint():
    settings = parse_config(Seq2SeqConfig, {"synthetic_samples": 300, "test_fraction": 0.1})
    data = seq2seq_splits(settings)
    train, val, test = (set(split.references) for split in (data.train, data.val, data.test))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(data.train) + len(data.val) + len(data.test) == 300
    assert (data.train.target[:, 0] == BOS).all() and ((data.train.target == EOS).sum(1) == 1).all()
    known = set(data.target_vocabulary.tokens)
    unseen = {token for ref in data.val.references for token in tokenize(ref, "word")} - known
    if unseen:  # a validation-only word is unknown, not a leak
        assert data.target_vocabulary.ids([next(iter(unseen))]) == [UNK]
    assert data.train.source.shape[1] == max(len(tokenize(text, "word")) for text in
                                             [s for s, _ in numbers_task(300, "en", "fr")])  # padded to the longest


def test_vocabulary_words_stop_at_the_end_of_the_sentence():
    vocabulary = Vocabulary(["deux", "cents"])
    assert vocabulary.words([4, 5, EOS, 4, PAD]) == ["deux", "cents"]
    assert vocabulary.words([4, UNK, PAD]) == ["deux", "<unk>"]


def test_translation_scores_are_sacrebleu_figures():
    sentences = ["deux mille trois cent quatre-vingts", "vingt et un mille deux cent un"]
    scores = translation_scores(sentences, sentences)
    assert scores == {"bleu": pytest.approx(100.0), "chrf": pytest.approx(100.0), "exact": 1.0}
    assert translation_scores(["un"], ["deux cents"])["exact"] == 0.0


def test_inverse_sqrt_warms_up_linearly_then_decays():
    assert inverse_sqrt_factor(1, 100) == pytest.approx(0.01)
    assert inverse_sqrt_factor(100, 100) == pytest.approx(1.0)
    assert inverse_sqrt_factor(400, 100) == pytest.approx(0.5)


def test_it_learns_and_reports_every_metric_each_epoch():
    recorder = Recorder()
    train({**TINY, "epochs": 4}, recorder)
    rows = recorder.rows
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    for row in rows:
        assert set(METRICS) <= set(row) and all(math.isfinite(row[m]) for m in METRICS)
    assert rows[-1]["val_loss"] < 0.7 * rows[0]["val_loss"]
    assert rows[-1]["val_accuracy"] > rows[0]["val_accuracy"] + 0.1 and rows[-1]["val_chrf"] > 10  # decodes real words
    steps = math.ceil(340 / 32)  # 85% of 400 pairs train
    assert rows[0]["lr"] == pytest.approx(3e-3 * inverse_sqrt_factor(steps, 20))  # the epoch's last step
    assert rows[-1]["lr"] == pytest.approx(3e-3 * inverse_sqrt_factor(4 * steps, 20))


class _Killed(Exception):
    pass


def _killed_after(recorder, epochs):
    """A report that ends the run after ``epochs`` epochs, as a killed trial would."""
    def report(metrics, checkpoint=None):
        recorder(metrics, checkpoint)
        if metrics["epoch"] >= epochs:
            raise _Killed

    return report


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run():
    config = {**TINY, "epochs": 3, "schedule": "cosine", "warmup_epochs": 1}
    whole = Recorder()
    train(config, whole)
    first = Recorder()
    with pytest.raises(_Killed):
        train(config, _killed_after(first, 2))
    rest = Recorder()
    train(config, rest, checkpoint=first.checkpoint)
    assert [row["epoch"] for row in rest.rows] == [3]
    assert rest.rows[0]["val_loss"] == pytest.approx(whole.rows[-1]["val_loss"], rel=1e-5)
    assert rest.rows[0]["val_bleu"] == pytest.approx(whole.rows[-1]["val_bleu"])


def test_pairs_from_a_tsv_file(tmp_path):
    rows = [f"{' '.join(w)}\t{' '.join(reversed(w))}" for w in
            [[f"w{(i * 7 + j) % 13}" for j in range(1 + i % 4)] for i in range(80)]]
    (tmp_path / "pairs.tsv").write_text("source\ttarget\n" + "\n".join(rows) + "\n")
    recorder = Recorder()
    train({**TINY, "data": str(tmp_path / "pairs.tsv"), "epochs": 1}, recorder)
    assert math.isfinite(recorder.rows[0]["val_loss"])
    with pytest.raises(ConfigError, match=r"^config.target_column: column 'tgt' not in pairs.tsv; columns: source, target$"):
        train({**TINY, "data": str(tmp_path / "pairs.tsv"), "target_column": "tgt"}, Recorder())


@pytest.mark.parametrize("config, message", [
    ({"nhead": 3}, "config: nhead (3) must divide d_model (64)"),
    ({"source_language": "xx"}, "config.source_language: num2words has no language 'xx'"),
    ({"data": "pairs.txt"}, "config.data: must be 'numbers' or a .tsv/.csv/.parquet file, got 'pairs.txt'"),
    ({"cv_folds": 3}, "config.cv_folds: not supported by seq2seq_transformer"),
    ({"schedule": "inverse_sqrt", "warmup_steps": 0}, "config.warmup_steps: Input should be greater than or equal to 1"),
])
def test_bad_config_is_one_line(config, message):
    with pytest.raises(ConfigError) as info:
        parse_config(Seq2SeqConfig, config)
    assert str(info.value).startswith(message)


@pytest.fixture(scope="module")
def translation_job(ray_session, tmp_path_factory):
    storage = tmp_path_factory.mktemp("seq2seq")
    spec = storage / "job.yaml"
    spec.write_text(json.dumps({
        "name": "numbers", "trainable": "seq2seq_transformer", "metric": "val_bleu", "mode": "max",
        "config": {**TINY, "epochs": 3, "test_fraction": 0.1},
        "space": {"dropout": {"uniform": [0.0, 0.2]}}, "search": {"algorithm": "random", "num_samples": 2, "seed": 0},
        "storage": str(storage)}))
    result = CliRunner().invoke(app, ["run", str(spec)])
    assert result.exit_code == 0, result.output
    return storage / "numbers"


@pytest.mark.integration
def test_a_translation_job_is_evaluated_on_pairs_nobody_ranked(translation_job):
    import pandas as pd

    iterations = pd.read_parquet(translation_job / "iterations.parquet")
    assert len(iterations) == 6 and {"val_bleu", "val_chrf", "val_exact", "decode_time_s"} <= set(iterations.columns)
    result = CliRunner().invoke(app, ["evaluate", str(translation_job)])
    assert result.exit_code == 0, result.output
    found = json.loads((translation_job / "evaluation.json").read_text())
    assert found["figures"] == ["bleu", "chrf", "exact"] and found["ensemble"] is None
    assert found["samples"] == {"train": 306, "validation": 54, "test": 40}
    trials = pd.read_parquet(translation_job / "trials.parquet").sort_values("best_val_bleu", ascending=False)
    assert found["best"]["name"] == trials.trial_id.iloc[0]
    for split in ("train", "validation", "test"):
        assert 0 <= found["best"]["scores"][split]["bleu"] <= 100 and 0 < found["best"]["scores"][split]["chrf"] <= 100
    assert found["reading"][0].startswith("errors (1 - exact): train ")
    assert "bleu (chrf, exact)" in " ".join(result.output.split())
    report = CliRunner().invoke(app, ["report", str(translation_job)])
    assert report.exit_code == 0, report.output
    assert "chrF and the share of sentences translated exactly" in (translation_job / "report.html").read_text()


@pytest.mark.integration
def test_evaluate_without_held_out_pairs_is_one_line(ray_session, tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text(json.dumps({
        "name": "no-test", "trainable": "seq2seq_transformer", "metric": "val_loss", "config": {**TINY, "epochs": 1},
        "space": {"dropout": {"uniform": [0.0, 0.2]}}, "search": {"algorithm": "random", "num_samples": 1},
        "storage": str(tmp_path)}))
    assert CliRunner().invoke(app, ["run", str(spec)]).exit_code == 0
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "no-test")])
    assert result.exit_code == 2
    assert result.output.strip().endswith("config.test_fraction: 0, so there are no test pairs; set it above 0 before training")


def test_held_out_scores_are_the_test_split_scores():
    config = {**TINY, "epochs": 1, "test_fraction": 0.1}
    recorder = Recorder()
    train(config, recorder)
    from trainables.builtin.translation import held_out_scores, split_scores

    every = split_scores(config, recorder.checkpoint)
    assert held_out_scores(config, recorder.checkpoint) == {f"test_{k}": v for k, v in every["test"].items()
                                                            if k != "sentences"}
    assert set(split_scores(config, recorder.checkpoint, splits=("test",))) == {"test"}
