"""Fused execution: members of a stack train exactly as they would alone (same seeds), on the CPU;
with dropout, as another sample of the same configuration (their masks are drawn in one batch)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from trainables.api import Recorder
from trainables.builtin import digits_cnn, digits_mlp
from trainables.builtin import image_classifiers as vision
from trainables.builtin import text_classifiers as text
from trainables.fused.members import Member, stack_key, train_epoch
from trainables.fused.optim import MemberHyperparameters, StackedOptimizer
from trainables.fused.randomness import MemberDraws
from trainables.fused.stack import architecture
from trainables.loop.fit import Classifier, fit_classifier

COMPARED = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
BASE = {"epochs": 3, "hidden": 24, "layers": 2, "share_data": False, "device": "cpu"}
# Members differ in every per-member knob but dropout (whose masks a stack draws its own way: the
# tests with dropout below): rate, decay, momentum, smoothing, clipping, schedule, seed.
MEMBERS = [
    {"lr": 0.01, "dropout": 0.0, "seed": 1},
    {"lr": 0.003, "dropout": 0.0, "weight_decay": 1e-3, "momentum": 0.8, "seed": 2},
    {"lr": 0.02, "dropout": 0.0, "label_smoothing": 0.1, "grad_clip": 0.5, "schedule": "cosine", "warmup_epochs": 1,
     "seed": 3},
]


def configs(optimizer: str, **changes: object) -> list[dict]:
    scale = 0.1 if optimizer == "rmsprop" else 1.0
    return [{**BASE, **member, "optimizer": optimizer, "nesterov": optimizer == "sgd", "lr": member["lr"] * scale, **changes}
            for member in MEMBERS]


def alone(config: dict, checkpoint: dict | None = None) -> Recorder:
    recorder = Recorder()
    fit_classifier(digits_mlp.classifier(config), recorder, checkpoint)
    return recorder


def fused(config_list: list[dict], epochs: int) -> tuple[list[list[dict]], list[Member]]:
    members = [Member.start(str(i), digits_mlp.classifier(c)) for i, c in enumerate(config_list)]
    rows: list[list[dict]] = [[] for _ in members]
    for _ in range(epochs):
        for index, (metrics, _) in enumerate(train_epoch(members)):
            rows[index].append(metrics)
    return rows, members


def assert_same(fused_rows: list[dict], alone_rows: list[dict], tolerance: float = 1e-5, samples: int = 0) -> None:
    """Losses within ``tolerance``; accuracies within ``samples`` examples of the splits (1347 / 450)."""
    assert [r["epoch"] for r in fused_rows] == [r["epoch"] for r in alone_rows]
    for mine, theirs in zip(fused_rows, alone_rows, strict=True):
        for key in COMPARED:
            allowed = max(tolerance, samples / 450) if "accuracy" in key else tolerance
            assert mine[key] == pytest.approx(theirs[key], abs=allowed), (mine["epoch"], key)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_every_member_trains_as_it_would_alone(optimizer: str) -> None:
    """Same initial weights, data order and per-member hyperparameters: the same metrics epoch
    after epoch, not just at the first."""
    config_list = configs(optimizer)
    rows, _ = fused(config_list, epochs=3)
    # RMSprop divides by the root of a running mean of squared gradients, which starts near zero:
    # the last-bit differences of a batched matmul grow to about 3e-4 in the loss there, and move an
    # example or two across a decision boundary (its step itself is exact: the test below).
    tolerance, samples = (1e-3, 3) if optimizer == "rmsprop" else (1e-5, 0)
    for config, member_rows in zip(config_list, rows, strict=True):
        assert_same(member_rows, alone(config).rows, tolerance, samples)
    assert {r["fused_members"] for member_rows in rows for r in member_rows} == {3}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_convolutions_and_batchnorm_train_as_they_would_alone(optimizer: str) -> None:
    """digits_cnn (conv, BatchNorm with its running statistics, pooling): batch statistics per
    member in training, each member's running statistics in evaluation."""
    base = {"epochs": 2, "channels": 4, "depth": 2, "share_data": False, "device": "cpu", "optimizer": optimizer}
    config_list = [{**base, **member, "lr": member["lr"] * 0.5, "nesterov": False} for member in MEMBERS]
    members = [Member.start(str(i), digits_cnn.classifier(c)) for i, c in enumerate(config_list)]
    assert len({repr(stack_key(m)) for m in members}) == 1
    rows: list[list[dict]] = [[] for _ in members]
    for _ in range(2):
        for index, (metrics, _) in enumerate(train_epoch(members)):
            rows[index].append(metrics)
    for config, member, member_rows in zip(config_list, members, rows, strict=True):
        recorder = Recorder()
        fit_classifier(digits_cnn.classifier(config), recorder)
        assert_same(member_rows, recorder.rows, 1e-4, 1)
        expected = recorder.checkpoint["model"]
        for name, value in member.classifier.model.state_dict().items():
            # Running statistics too. Adam's steps divide by the gradient's own size, so the last-bit
            # differences of batched convolutions move a weight by up to 3e-4 in two epochs (as RMSprop above).
            assert torch.allclose(value.float(), expected[name].float(), atol=1e-3), name


@pytest.mark.parametrize("trainable, config, tolerance", [
    (vision.cnn_classifier, {"channels": 4, "depth": 2, "dropout": 0.0}, 1e-4),
    # SGD: Adam's first steps divide by the gradient's own size, so the last-bit differences of
    # batched convolutions in ResNet's near-zero gradients become steps of about lr (as RMSprop above).
    # Epoch 1 agrees to 1e-6; 20 layers of BatchNorm over 64 images carry the last bits further.
    (vision.resnet18_classifier, {"train_subset": 64, "optimizer": "sgd"}, 1e-3),
    # Attention with a padding mask, pre-norm LayerNorm, embeddings and the sinusoidal table (a buffer).
    (text.transformer_classifier, {"data": "synthetic", "d_model": 16, "nhead": 2, "dim_feedforward": 32, "layers": 2,
                                   "dropout": 0.0, "max_length": 24, "vocab_size": 200, "synthetic_samples": 300}, 1e-4),
], ids=["image_cnn", "resnet18", "text_transformer"])
def test_models_mapped_whole_train_as_they_would_alone(trainable, config: dict, tolerance: float) -> None:
    """Nested modules and residual blocks (Preprocess + CNN, ResNet-18 with BatchNorm), vmapped whole."""
    base = {"epochs": 2, "share_data": False, "device": "cpu", "batch_size": 32, **config}
    config_list = [{**base, "lr": lr, "seed": seed, "weight_decay": decay}
                   for lr, seed, decay in ((3e-3, 1, 0.0), (1e-3, 2, 1e-4))]
    members = [Member.start(str(i), trainable(c)) for i, c in enumerate(config_list)]
    assert stack_key(members[0])[1][0] == "whole"  # type: ignore[index]
    rows: list[list[dict]] = [[] for _ in members]
    for _ in range(2):
        for index, (metrics, _) in enumerate(train_epoch(members)):
            rows[index].append(metrics)
    for config_one, member_rows in zip(config_list, rows, strict=True):
        recorder = Recorder()
        fit_classifier(trainable(config_one), recorder)
        assert_same(member_rows, recorder.rows, tolerance, 2)


def test_dropout_in_a_model_mapped_whole_draws_masks_per_member() -> None:
    config = {"channels": 4, "depth": 2, "dropout": 0.5, "epochs": 1, "share_data": False, "device": "cpu"}
    twins = [Member.start(name, vision.cnn_classifier(config)) for name in ("a", "b")]  # same seed, same weights
    first, second = (metrics for metrics, _ in train_epoch(twins))
    assert first["train_loss"] != second["train_loss"]  # their own masks, not one shared draw
    assert abs(first["train_loss"] - second["train_loss"]) < 0.5


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_a_stacked_step_is_torch_optims_step(optimizer: str) -> None:
    """Given the same gradients, each member's parameters move as under its own torch.optim
    optimizer, to the last bit or so, over steps of gradients shrinking a hundredfold."""
    torch.manual_seed(0)
    start = torch.randn(3, 5, 4)
    rates, decays, momenta = [1e-3, 3e-3, 1e-2], [0.0, 1e-3, 1e-2], [0.0, 0.8, 0.9]
    singles = [start[i].clone().requires_grad_() for i in range(3)]
    reference = [{"adam": torch.optim.Adam([p], lr=lr, weight_decay=wd),
                  "adamw": torch.optim.AdamW([p], lr=lr, weight_decay=wd),
                  "sgd": torch.optim.SGD([p], lr=lr, momentum=m, weight_decay=wd),
                  "rmsprop": torch.optim.RMSprop([p], lr=lr, momentum=m, weight_decay=wd)}[optimizer]
                 for p, lr, wd, m in zip(singles, rates, decays, momenta, strict=True)]
    stacked = start.clone()
    fresh = StackedOptimizer.empty_state(optimizer, start[0])
    state = {"w": {key: torch.stack([value] * 3) for key, value in fresh.items()}}
    step = StackedOptimizer(optimizer, False, {"w": stacked}, MemberHyperparameters(torch.tensor(decays), torch.tensor(momenta)),
                            state)
    for power in range(4):
        gradient = torch.randn(3, 5, 4) * 10.0**-power
        for single, member_optimizer, member_gradient in zip(singles, reference, gradient, strict=True):
            single.grad = member_gradient.clone()
            member_optimizer.step()
        step.step({"w": gradient}, torch.tensor(rates))
    for index, single in enumerate(singles):
        assert torch.allclose(stacked[index], single.detach(), rtol=0, atol=1e-6)
    assert not torch.equal(stacked, start)


def test_members_with_dropout_train_within_the_spread_of_their_configuration_alone() -> None:
    """A member's dropout masks are not the plain loop's: its curve is another sample of its
    configuration, inside the spread of five seeds of it trained alone (its own, whose initial
    weights and data order it shares, and four others), epoch by epoch."""
    config_list = [{**BASE, "lr": 0.01, "optimizer": "adam", "dropout": rate, "seed": seed}
                   for rate, seed in ((0.3, 1), (0.5, 2))]
    rows, _ = fused(config_list, epochs=3)
    for config, member_rows in zip(config_list, rows, strict=True):
        seeds = [alone({**config, "seed": seed}).rows for seed in (config["seed"], 10, 11, 12, 13)]
        for epoch, row in enumerate(member_rows):
            for key in ("train_loss", "val_loss", "val_accuracy"):
                values = [seed_rows[epoch][key] for seed_rows in seeds]
                margin = (max(values) - min(values)) / 2
                assert min(values) - margin <= row[key] <= max(values) + margin, (config["dropout"], epoch, key, values)
    without, _ = fused([{**config_list[1], "dropout": 0.0}], epochs=1)
    assert rows[1][0]["train_loss"] > without[0][0]["train_loss"] + 0.01  # the masks are applied


def test_a_members_masks_do_not_depend_on_the_stack_it_trains_in() -> None:
    config_list = [{**BASE, "lr": 0.01, "optimizer": "adam", "dropout": 0.3, "seed": seed} for seed in (1, 2, 3)]
    together, _ = fused(config_list, epochs=2)
    (by_itself,), _ = fused(config_list[1:2], epochs=2)
    assert_same(together[1], by_itself)


def test_member_draws_keep_each_rate_and_scale_as_dropout() -> None:
    draws = MemberDraws.for_epoch([11, 12, 13], [[0.0, 0.5], [0.3, 0.5], [0.6, 0.5]], torch.device("cpu"))
    like = torch.ones(3, 400, 250)
    first = draws.at(7).scale(0, like)
    for member, rate in enumerate((0.0, 0.3, 0.6)):
        values = first[member]
        assert values.unique().tolist() == ([1.0] if rate == 0 else [0.0, pytest.approx(1 / (1 - rate))])
        assert float((values == 0).float().mean()) == pytest.approx(rate, abs=0.005)
    second_layer, next_step = draws.at(7).scale(1, like), draws.at(8).scale(1, like)
    assert not torch.equal(second_layer[1], second_layer[2])  # same rate, other member: other masks
    assert not torch.equal(second_layer[1], next_step[1])  # other step
    alone_draws = MemberDraws.for_epoch([12], [[0.3, 0.5]], torch.device("cpu"))
    assert torch.equal(alone_draws.at(7).scale(1, like[:1])[0], second_layer[1])  # whoever else is drawn with


def test_a_fused_epoch_is_the_same_operator_calls_at_32_members_as_at_4_and_never_waits_on_a_value() -> None:
    """What keeps a GPU busy, checked on the CPU with torch.profiler: a step's operator calls do not
    grow with the members (batched masks, one flat optimizer update), the per-member work at the
    epoch's end is a few calls each, and no value is read back inside the epoch (``.item()``,
    ``nonzero``: each a host sync on a GPU) but the metrics, once, at its end."""
    def operator_calls(count: int) -> tuple[int, int]:
        members = [Member.start(str(i), digits_mlp.classifier({**BASE, "dropout": 0.2, "seed": i, "lr": 0.01}))
                   for i in range(count)]
        train_epoch(members)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
            train_epoch(members)
        calls = [event for event in profiler.events() if event.name.startswith("aten::")]
        reads = [event for event in calls if event.name in ("aten::_local_scalar_dense", "aten::item", "aten::nonzero")]
        return sum(1 for event in calls if event.cpu_parent is None), len(reads)

    (four, reads_at_four), (thirty_two, reads_at_thirty_two) = operator_calls(4), operator_calls(32)
    assert thirty_two <= 1.5 * four, (four, thirty_two)
    assert reads_at_four == reads_at_thirty_two == 0


def test_members_join_at_different_epochs() -> None:
    early, late = configs("adam")[:2]
    members = [Member.start("early", digits_mlp.classifier(early))]
    early_rows = [train_epoch(members)[0][0]]
    members.append(Member.start("late", digits_mlp.classifier(late)))
    late_rows = []
    for _ in range(2):
        (first, _), (second, _) = train_epoch(members)
        early_rows.append(first)
        late_rows.append(second)
    assert_same(early_rows, alone(early).rows)
    assert_same(late_rows, alone(late).rows[:2])


def test_a_member_checkpoint_resumes_in_the_plain_loop() -> None:
    """A member leaves the stack after two epochs and finishes alone: the same run as never fused
    (dropout off, as the plain loop's masks are not a stack's)."""
    config = {**configs("sgd", dropout=0.0)[1], "epochs": 4}
    rows, members = fused([config], epochs=2)
    checkpoint = copy.deepcopy(members[0].checkpoint())
    uninterrupted = alone(config).rows
    assert_same(rows[0] + alone(config, checkpoint).rows, uninterrupted)


def test_only_compatible_members_share_a_stack() -> None:
    adam, sgd = digits_mlp.classifier(configs("adam")[0]), digits_mlp.classifier(configs("sgd")[0])
    wider = digits_mlp.classifier({**configs("adam")[0], "hidden": 32})
    keys = {repr(stack_key(Member.start(name, c))) for name, c in (("a", adam), ("b", sgd), ("c", wider))}
    assert len(keys) == 3
    with pytest.raises(ValueError, match="cannot share a stack"):
        train_epoch([Member.start("a", adam), Member.start("b", sgd)])


def test_models_the_stack_cannot_map_say_why() -> None:
    nested = architecture(nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))))
    assert nested[0] == "whole" and nested[-1] == (0.2,)  # mapped whole; members share its dropout rates
    assert isinstance(architecture(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))), tuple)  # BatchNorm is fused
    assert architecture(nn.LSTM(4, 4)) == "LSTM layers are not fused"
    augmented = vision.cnn_classifier({"augment": True, "share_data": False}).model
    assert architecture(augmented) == "random augmentation is drawn once per batch, not per member: set augment: false to fuse"
    classifier = digits_mlp.classifier(configs("adam")[0])
    member = Member.start("x", Classifier(nn.Sequential(nn.Linear(64, 10), nn.GRU(10, 10)), classifier.train,
                                          classifier.val, classifier.settings))
    assert stack_key(member) == "GRU layers are not fused"


def test_members_on_other_data_are_refused() -> None:
    config = configs("adam")[0]
    other = digits_mlp.classifier(config)
    shuffled = Classifier(other.model, type(other.train)(other.train.inputs.flip(0), other.train.targets.flip(0)),
                          other.val, other.settings)
    with pytest.raises(ValueError, match="other data"):
        train_epoch([Member.start("a", digits_mlp.classifier(config)), Member.start("b", shuffled)])
    assert torch.equal(other.train.inputs, digits_mlp.classifier(config).train.inputs)
