"""Trainables by name: each declares its config keys (a pydantic model with defaults) and metrics.

Light on purpose: registering imports neither torch nor Ray, so ``tune-jobs validate`` stays fast.
A trainable is ``train(config, report, checkpoint=None)``; see ``trainables.api``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from tune_jobs.core.registry import Registry, UnknownNameError

Mode = Literal["max", "min"]
TrainFunction = Callable[..., None]


@dataclass(frozen=True)
class TrainableDef:
    name: str
    function: TrainFunction
    config: type[BaseModel] | None = None  # None: a user function that accepts any keys
    metrics: dict[str, Mode] = field(default_factory=dict)
    description: str = ""
    classifier: Callable[[dict[str, Any]], Any] | None = None  # config -> trainables.loop.Classifier
    # (config, checkpoint) -> scores by split ("train", "validation", "test"): how `tune-jobs evaluate`
    # measures a trainable that is not a classifier
    evaluator: Callable[[dict[str, Any], Any], dict[str, dict[str, float]]] | None = None
    fusable: bool = False  # its models are stackable (trainables.fused): execution.fuse may train trials together
    fusion_blocker: Callable[[dict[str, Any]], str | None] | None = None  # fixed config -> why it cannot be fused

    @property
    def accepts_checkpoint(self) -> bool:
        return "checkpoint" in inspect.signature(self.function).parameters

    def defaults(self) -> dict[str, Any]:
        if self.config is None:
            return {}
        return {name: f.get_default(call_default_factory=True) for name, f in self.config.model_fields.items()}


TRAINABLES: Registry[TrainableDef] = Registry("trainable")


def register_trainable(
    name: str, *, config: type[BaseModel], metrics: dict[str, Mode], description: str = "",
    classifier: Callable[[dict[str, Any]], Any] | None = None,
    evaluator: Callable[[dict[str, Any], Any], dict[str, dict[str, float]]] | None = None, fusable: bool = False,
    fusion_blocker: Callable[[dict[str, Any]], str | None] | None = None,
) -> Callable[[TrainFunction], TrainFunction]:
    """``classifier``: the config -> ``Classifier`` set-up the function trains, for ensembles and
    evaluate; ``evaluator``: scores by split from a checkpoint, for evaluate, when not a classifier."""
    def add(function: TrainFunction) -> TrainFunction:
        TRAINABLES.register(name)(
            TrainableDef(name, function, config, dict(metrics), description or (function.__doc__ or "").strip(), classifier,
                         evaluator, fusable, fusion_blocker)
        )
        return function

    return add


REFERENCE_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"  # package.module:name
_REFERENCE = re.compile(REFERENCE_PATTERN)


def import_function(reference: str) -> Callable[..., Any]:
    """``package.module:function``, imported from the working directory; ``ValueError`` saying why not."""
    module_name, function_name = reference.split(":")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name == module_name.split(".")[0]:
            hint = (f" (modules are imported from the working directory, {cwd}: run from the directory that holds "
                    f"{exc.name}/ or {exc.name}.py, or add that directory to PYTHONPATH)")
        raise ValueError(f"cannot import {module_name!r}: {exc}{hint}") from None
    except Exception as exc:  # the user's module itself is broken: say where, without a traceback
        raise ValueError(f"cannot import {module_name!r}: {type(exc).__name__}: {_where(exc)}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"{module_name!r} has no function {function_name!r}")
    return function


def _where(exc: Exception) -> str:
    """The message and the place in the user's code: the file and line of a syntax error, or the
    last frame of the traceback outside the import machinery."""
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} ({exc.filename}:{exc.lineno})"
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{exc}{where}"


# Functions handed to ``tune_jobs.run`` as Python objects, by the reference they were given.
IN_PROCESS_PREFIX = "python:"
_IN_PROCESS: dict[str, TrainFunction] = {}


def register_function(function: TrainFunction) -> str:
    """A reference for a function passed as an object (a notebook's, a script's): it resolves in
    this process only, and Ray ships the function itself (cloudpickle) to the workers."""
    name = getattr(function, "__qualname__", None) or type(function).__name__
    reference = f"{IN_PROCESS_PREFIX}{getattr(function, '__module__', None) or 'unknown'}.{name}"
    _IN_PROCESS[reference] = function
    return reference


def _check_signature(reference: str, function: Callable[..., Any]) -> None:
    parameters = list(inspect.signature(function).parameters)
    if len(parameters) < 2:
        raise ValueError(f"{reference} must take (config, report), takes ({', '.join(parameters)})")


def resolve_trainable(reference: str) -> TrainableDef:
    """A registered name, ``package.module:function`` imported from the working directory, or a
    function passed to ``tune_jobs.run`` in this process."""
    import trainables  # noqa: F401  (registers the built-ins)

    if reference.startswith(IN_PROCESS_PREFIX):
        if reference not in _IN_PROCESS:
            raise ValueError(f"{reference} was a Python function passed to tune_jobs.run in another process; "
                             "pass it again, or name it as 'package.module:function'")
        _check_signature(reference, _IN_PROCESS[reference])
        return TrainableDef(reference, _IN_PROCESS[reference])
    if ":" not in reference:
        return TRAINABLES.get(reference)
    if not _REFERENCE.match(reference):
        raise ValueError(f"expected a registered name or 'package.module:function', got {reference!r}")
    function = import_function(reference)
    _check_signature(reference, function)
    return TrainableDef(reference, function)


def code_fingerprint(trainable: TrainableDef) -> dict[str, str]:
    """What a job's results depend on besides its spec: the trainable's code. A user function by
    the sha256 of its module's file (``package.module:function``: a helper it calls in that file
    counts) or of its own source (a function passed to ``tune_jobs.run``); a built-in by the
    version of tune-jobs. ``what`` names it for a message."""
    import hashlib
    from importlib import metadata

    function = trainable.function
    if trainable.name.startswith(IN_PROCESS_PREFIX):
        try:
            source = inspect.getsource(function).encode()
        except (OSError, TypeError):  # defined where no source is kept (a REPL): its bytecode
            code = function.__code__
            source = code.co_code + repr(code.co_consts).encode()
        what = f"the source of {function.__qualname__}"
    elif ":" in trainable.name:
        module = sys.modules[function.__module__]
        path = inspect.getsourcefile(module) or str(module.__file__)
        source = Path(path).read_bytes()
        what = _shown_path(path)
    else:
        try:
            version = metadata.version("tune-jobs")
        except metadata.PackageNotFoundError:
            version = "unknown"
        source, what = f"tune-jobs {version}".encode(), f"tune-jobs {version}"
    return {"trainable": trainable.name, "sha256": hashlib.sha256(source).hexdigest(), "what": what}


def _shown_path(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


__all__ = ["IN_PROCESS_PREFIX", "REFERENCE_PATTERN", "TRAINABLES", "Mode", "TrainableDef", "UnknownNameError", "code_fingerprint",
           "register_function",
           "register_trainable", "resolve_trainable"]
