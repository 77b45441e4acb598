"""tune-jobs: hyperparameter tuning of PyTorch models on Ray Tune, from one YAML job spec.

The Python API (``run``, ``validate``, ``load``, ``JobResult``, ``SpecError``, ``UserError``,
``JobFailed``) lives in
``tune_jobs.api`` and is loaded on first use, so that the CLI starts without pandas.
"""

from typing import Any

__version__ = "0.1.0"

_API = ("Best", "JobFailed", "JobResult", "SpecError", "UserError", "load", "run", "validate")


def __getattr__(name: str) -> Any:
    if name in _API:
        from tune_jobs import api

        return getattr(api, name)
    raise AttributeError(f"module 'tune_jobs' has no attribute {name!r}")


__all__ = ["__version__", *_API]
