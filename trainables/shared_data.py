"""Data loaded once and shared by the trials that need it, instead of once per trial.

A trainable wraps its loading in ``shared(key, load)``. Under Ray, ``trainables.ray_adapter``
installs a provider that keeps the loaded data in Ray's object store (the first trial loads and
publishes it; the others read it, zero-copy for arrays, once per node); the same process also
keeps it for the next trial it runs. Without a provider (tests, plain Python) ``load()`` runs.
No Ray import here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Provider = Callable[[str, Callable[[], Any]], Any]
_provider: Provider | None = None
_in_process: dict[str, Any] = {}


def install(provider: Provider | None) -> None:
    global _provider
    _provider = provider


def shared(key: str, load: Callable[[], Any], enabled: bool = True) -> tuple[Any, float]:
    """(the data, seconds spent getting it)."""
    started = time.perf_counter()
    if not enabled:
        return load(), time.perf_counter() - started
    if key not in _in_process:
        _in_process.clear()  # one dataset per process at a time: trials of one job share one
        _in_process[key] = _provider(key, load) if _provider is not None else load()
    return _in_process[key], time.perf_counter() - started
