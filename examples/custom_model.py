"""Bring your own model and data: two plain functions, no tune-jobs or Ray imports.

Used by examples/custom_model.yaml (trainable: custom_model). Every config key reaches both
functions, so `width` and `depth` below can be searched like the loop's own knobs.
"""

import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn


def load_data(config):
    x, y = load_wine(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return as_tensor(scaler.transform(x_train)), torch.tensor(y_train), as_tensor(scaler.transform(x_val)), torch.tensor(y_val)


def build_model(config):
    width, depth = int(config.get("width", 32)), int(config.get("depth", 2))
    layers, inputs = [], 13
    for _ in range(depth):
        layers += [nn.Linear(inputs, width), nn.GELU()]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, 3))
