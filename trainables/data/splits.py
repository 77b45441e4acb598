"""Train / validation / test rows of a built-in dataset, fixed by the data seed.

The test rows are set aside first, so the validation split that ranks the trials never contains
them and no trial trains on them; ``tune-jobs evaluate`` measures the chosen models there once.
With ``test_fraction`` 0 the train/validation split is exactly what it was before test splits
existed (same rows, same seed).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

TEST_FRACTION = Field(0.0, ge=0, lt=1, description="rows held out for `tune-jobs evaluate` before the train/validation "
                      "split (fixed by the data seed; never trained on or ranked by); val_fraction is of the rest")


def three_way_split(features: Any, labels: Any, val_fraction: float, test_fraction: float,
                    seed: int = 0) -> tuple[tuple[Any, Any], tuple[Any, Any], tuple[Any, Any] | None]:
    """((x, y) train, validation, test or None), each stratified by label."""
    from sklearn.model_selection import train_test_split

    test = None
    if test_fraction > 0:
        features, x_test, labels, y_test = train_test_split(features, labels, test_size=test_fraction, random_state=seed,
                                                            stratify=labels)
        test = (x_test, y_test)
    x_train, x_val, y_train, y_val = train_test_split(features, labels, test_size=val_fraction, random_state=seed,
                                                      stratify=labels)
    return (x_train, y_train), (x_val, y_val), test


def three_way_rows(rows: list[Any], val_fraction: float, test_fraction: float,
                   seed: int = 0) -> tuple[list[Any], list[Any], list[Any] | None]:
    """(train, validation, test or None) for rows without a label to stratify by (sentence pairs)."""
    from sklearn.model_selection import train_test_split

    test = None
    if test_fraction > 0:
        rows, test = train_test_split(rows, test_size=test_fraction, random_state=seed)
    train, val = train_test_split(rows, test_size=val_fraction, random_state=seed)
    return train, val, test
