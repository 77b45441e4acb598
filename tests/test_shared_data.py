"""What trials share goes through the object store and comes back the same: tensors, splits,
numpy arrays and plain values, in tuples and lists."""

import numpy as np
import torch

from trainables.loop.fit import Split
from trainables.ray_adapter import _from_store, _to_store
from trainables.shared_data import shared


def test_every_kind_of_loaded_data_round_trips():
    split = Split(torch.arange(6.0).reshape(3, 2), torch.tensor([0, 1, 0]))
    value = ((split, split), (np.ones((4, 3), dtype=np.float32), np.array([1, 0, 1, 1])), [torch.zeros(2), 7, "x"])
    back = _from_store(_to_store(value))
    assert torch.equal(back[0][0].inputs, split.inputs) and torch.equal(back[0][1].targets, split.targets)
    assert isinstance(back[1][0], np.ndarray) and np.array_equal(back[1][1], [1, 0, 1, 1])
    assert torch.equal(back[2][0], torch.zeros(2)) and back[2][1:] == [7, "x"]


def test_without_a_provider_each_process_loads_once_per_key():
    calls = []
    first, _ = shared("k1", lambda: calls.append(1) or "data")
    again, _ = shared("k1", lambda: calls.append(1) or "data")
    assert first == again == "data" and len(calls) == 1
    shared("k1", lambda: calls.append(1) or "data", enabled=False)
    assert len(calls) == 2
