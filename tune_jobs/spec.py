"""The YAML job spec, parsed once into typed models and fully validated before Ray starts.

``load_spec(path, overrides)`` returns a ``JobSpec`` or raises ``SpecError`` whose lines each name
a field and the bad value. Nothing here imports Ray or torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from trainables.loop.config import rule_error
from trainables.registry import TrainableDef, resolve_trainable
from tune_jobs.core.model import StrictModel
from tune_jobs.core.registry import Registry, UnknownNameError, close_match, did_you_mean
from tune_jobs.core.tokens import TOKEN_VARIABLES
from tune_jobs.core.values import show
from tune_jobs.errors import SpecError, format_validation_error
from tune_jobs.schedulers import DEFAULT_SCHEDULER, SCHEDULERS, SchedulerSpec
from tune_jobs.search import DEFAULT_SEARCH, SEARCHES, SearchSpec
from tune_jobs.space import Grid, Param, SpaceParam
from tune_jobs.spec_yaml import DuplicateKeyError, load_yaml


def _tagged_union(registry: Registry[Any], key: str, default: str | None) -> Any:
    """A pydantic union of the registry's models, chosen by ``key`` (``default`` when absent)."""

    def tag(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return getattr(value, key)
        if isinstance(value, dict):
            return value.get(key, default)
        return None

    members = tuple(Annotated[model, Tag(name)] for name, model in registry)
    unknown = Discriminator(
        tag,
        custom_error_type=f"unknown_tag:{key}",
        custom_error_message=f"unknown {registry.kind}; valid: {', '.join(registry.names())}",
    )
    return Annotated[Union[members], unknown]  # type: ignore[valid-type]


if TYPE_CHECKING:  # the registries' unions are built at run time; checkers see the base classes
    SearchUnion = SearchSpec
    SchedulerUnion = SchedulerSpec
else:
    SearchUnion = _tagged_union(SEARCHES, "algorithm", default=DEFAULT_SEARCH)
    SchedulerUnion = _tagged_union(SCHEDULERS, "type", default=None)


class Resources(StrictModel):
    """Per trial. Fractional GPUs pack trials onto one device (``gpu: 0.25`` -> four per GPU)."""

    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, gpu: float) -> float:
        if gpu > 1 and not float(gpu).is_integer():
            raise ValueError(f"a trial above one GPU must use whole GPUs, got {show(gpu)}")
        return gpu


class Stop(StrictModel):
    time_budget_s: float | None = Field(None, gt=0)


AUTO_STACK_LIMIT = 16  # fuse: auto stacks at most this many: a model-based searcher suggests a whole stack blind


class Execution(StrictModel):
    fuse: int | Literal["auto"] = Field(1, description="trials per stack: up to this many trials of one architecture "
                                        "trained together in one process as one stacked model (1: a process per trial; "
                                        "auto: fused when the job allows it, in as many stacks as run at once)")

    @field_validator("fuse")
    @classmethod
    def _stack_size(cls, fuse: int | str) -> int | str:
        if isinstance(fuse, int) and not 1 <= fuse <= 512:
            raise ValueError(f"must be auto or 1 to 512, got {fuse}")
        return fuse


class Failure(StrictModel):
    max_failures: int = Field(1, ge=0, description="retries of a crashed trial, from its last checkpoint")


class RuntimeEnv(StrictModel):
    """What a submitted job installs and sets on the cluster (``tune-jobs submit`` only)."""

    pip: list[str] = Field(default_factory=list)
    env_vars: dict[str, str] = Field(default_factory=dict)

    @field_validator("env_vars")
    @classmethod
    def _no_secrets(cls, env_vars: dict[str, str]) -> dict[str, str]:
        for key in env_vars:
            if key in TOKEN_VARIABLES:
                raise ValueError(f"{key} must not travel in env_vars (the job's runtime_env is shown to anyone "
                                 "who can list jobs); the cluster has its own token")
        return env_vars


class Stage(StrictModel):
    """One stage of a coarse-to-fine job. The first searches the spec's space; each later one
    searches the space narrowed from the stage before (as ``tune-jobs narrow``), with BayesOpt
    warm-started from it."""

    name: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=40)
    trials: int = Field(ge=1)
    top_fraction: float = Field(0.25, gt=0, le=1, description="later stages: narrow around this share of the best trials")
    min_importance: float = Field(0.05, ge=0, lt=1, description="later stages: fix keys less important than this")


# Where results go, what a cluster installs, what else is written: not part of a job's identity.
OUTPUT_ONLY = ("storage", "runtime_env", "tensorboard")


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `true` is not a number

    name: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=100)
    trainable: str
    metric: str = Field(min_length=1)
    mode: Literal["max", "min"] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, SpaceParam] = Field(default_factory=dict)
    search: SearchUnion = Field(default_factory=lambda: SEARCHES.get(DEFAULT_SEARCH).model_validate({}))
    scheduler: SchedulerUnion = Field(default_factory=lambda: SCHEDULERS.get(DEFAULT_SCHEDULER).model_validate({}))
    resources: Resources = Field(default_factory=Resources)
    stop: Stop = Field(default_factory=Stop)
    failure: Failure = Field(default_factory=Failure)
    execution: Execution = Field(default_factory=Execution)
    storage: str = Field("results", min_length=1)
    runtime_env: RuntimeEnv = Field(default_factory=RuntimeEnv)
    tensorboard: bool = Field(True, description="per-trial event files in <results>/tensorboard (local storage)")
    stages: list[Stage] | None = Field(None, description="coarse-to-fine: each stage is a job named <name>-<stage>")

    _trainable: TrainableDef | None = PrivateAttr(None)
    _chosen_by: str | None = PrivateAttr(None)  # "auto" when that picked the search

    @field_validator("storage")
    @classmethod
    def _storage_scheme(cls, storage: str) -> str:
        from tune_jobs.results.store import URI_SCHEMES, is_uri

        if is_uri(storage):
            scheme = storage.split("://", 1)[0]
            if scheme not in URI_SCHEMES:
                raise ValueError(f"a directory or an {' / '.join(s + '://' for s in URI_SCHEMES)} URI, got {show(storage)}")
            if not storage.split("://", 1)[1].split("?")[0].strip("/"):
                raise ValueError(f"the URI names no bucket, got {show(storage)}")
        else:
            problem = _unusable_directory(Path(storage).expanduser())
            if problem:
                raise ValueError(f"{problem}, got {show(storage)}")
        return storage

    @field_validator("name", mode="before")
    @classmethod
    def _name_rule(cls, name: Any) -> Any:
        if isinstance(name, str) and (not name or not all(c.isascii() and (c.islower() or c.isdigit() or c in "_-") for c in name)):
            raise ValueError(f"must match [a-z0-9_-]+, got {show(name)}")
        return name

    @model_validator(mode="after")
    def _cross_checks(self) -> JobSpec:
        problems: list[str] = []
        from tune_jobs.results.store import is_uri

        if not is_uri(self.storage) and Path(self.results_dir).is_file():
            problems.append(f"name: {self.results_dir} is a file; the job's results go in a directory of that name")
        for key in sorted(set(self.config) & set(self.space)):
            problems.append(f"space.{key}: also set in config; a key is either fixed (config) or searched (space)")
        try:
            self._trainable = resolve_trainable(self.trainable)
        except (UnknownNameError, ValueError) as exc:
            problems.append(f"trainable: {exc}")
        if self._trainable is not None:
            problems += self._check_against_trainable(self._trainable)
        chosen = self.search.resolve(dict(self.space), model_based=not self.scheduler.needs_variant_generator)
        if chosen is not self.search:
            self._chosen_by, self.search = self.search.algorithm, chosen
        problems += self.search.check_space(dict(self.space))
        problems += self._check_stages()
        problems += self._check_fusion()
        problems += self.scheduler.check(dict(self.space), self.search.algorithm)
        epochs = self.config.get("epochs", self._trainable.defaults().get("epochs")) if self._trainable else None
        # A value that is not a whole number is reported as config.epochs, not again as a max_t it cannot default.
        if self._trainable is not None and (epochs is None or (isinstance(epochs, int) and not isinstance(epochs, bool))):
            self.scheduler, found = self.scheduler.with_defaults(epochs)
            problems += found
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _check_stages(self) -> list[str]:
        if self.stages is None:
            return []
        problems = []
        if len(self.stages) < 2:
            problems.append(f"stages: a coarse-to-fine job needs at least 2 stages, got {len(self.stages)}")
        names = [stage.name for stage in self.stages]
        for index, name in enumerate(names):
            if name in names[:index]:
                problems.append(f"stages[{index}].name: {name!r} is used by an earlier stage")
        if self.search.num_samples is not None:
            problems.append("search.num_samples: not used with stages; each stage sets its own trials")
        if not self.space:
            problems.append("stages: the space is empty; later stages narrow searched keys")
        return problems

    def _check_fusion(self) -> list[str]:
        """Only an explicit stack size is refused; ``auto`` falls back to a process per trial."""
        if self.execution.fuse in (1, "auto"):
            return []
        return self.fusion_problems()

    def stack_size(self, slots: int) -> int:
        """Trials per stack when ``slots`` trials (stacks) run at once: ``fuse``, or for ``auto`` the
        trials spread over the slots (at most ``AUTO_STACK_LIMIT``), 1 when they cannot be fused."""
        fuse = self.execution.fuse
        if fuse != "auto":
            return int(fuse)
        if self.fusion_problems():
            return 1
        return max(1, min(AUTO_STACK_LIMIT, math.ceil(self.search.trials / max(slots, 1))))

    def fusion_problems(self) -> list[str]:
        """Why this job's trials cannot share stacks, one ``execution.fuse: ...`` line each."""
        if self._trainable is None:
            return []
        from trainables.fused import PER_MEMBER_KEYS, unfused_options

        where = "execution.fuse"
        if not self._trainable.fusable:
            from trainables.registry import TRAINABLES

            fusable = ", ".join(name for name in TRAINABLES.names() if TRAINABLES.get(name).fusable)
            return [f"{where}: {self._trainable.name} cannot be fused; fusable trainables: {fusable}; or set fuse: 1"]
        blocker = self._trainable.fusion_blocker(self.config) if self._trainable.fusion_blocker else None
        problems = [f"{where}: {blocker}"] if blocker else []
        problems += [f"{where}: {line}" for line in unfused_options(self.config)]
        problems += [f"{where}: space.{key} would give members different models, data or batches; fused members "
                     f"may differ only in {', '.join(PER_MEMBER_KEYS)}" for key in self.space if key not in PER_MEMBER_KEYS]
        if not self.scheduler.decides_per_result:
            problems.append(f"{where}: scheduler {self.scheduler.type} cannot stop members one by one; use fifo or asha")
        if self.search.variant_generated or any(isinstance(param, Grid) for param in self.space.values()):
            problems.append(f"{where}: grid keys and grid search draw trials without a searcher; use random, tpe or bayesopt")
        if self.stages is not None:
            problems.append(f"{where}: not with stages yet")
        return problems

    def _check_against_trainable(self, trainable: TrainableDef) -> list[str]:
        problems: list[str] = []
        if trainable.metrics:
            if self.metric not in trainable.metrics:
                problems.append(f"metric: {trainable.name} does not report {self.metric!r}; "
                                f"{did_you_mean(self.metric, trainable.metrics)}it reports {', '.join(trainable.metrics)}")
            elif self.mode is None:
                self.mode = trainable.metrics[self.metric]
        elif self.mode is None:
            problems.append(f"mode: required (max or min): {trainable.name} declares no metrics")
        if trainable.config is None:
            return problems
        fields = trainable.config.model_fields
        accepted = ", ".join(fields)
        open_keys = trainable.config.model_config.get("extra") == "allow"  # it passes unknown keys on
        for section, keys in (("config", self.config), ("space", self.space)):
            for key in keys:
                if key not in fields and not open_keys:
                    match = close_match(key, fields)
                    hint = (f"did you mean {match!r}? (`tune-jobs trainables {trainable.name}` lists its keys)" if match
                            else f"accepted: {accepted}")
                    problems.append(f"{section}.{key}: {trainable.name} does not accept {key!r}; {hint}")
        for key, value in self.config.items():
            if key in fields:
                problems += _check_value(trainable.config, key, value, f"config.{key}")
        for key, param in self.space.items():
            if key in fields:
                bad_values = (_check_value(trainable.config, key, v, f"space.{key}", param.kind) for v in param.values())
                problems += next((found for found in bad_values if found), [])
        if not problems:
            problems += _check_together(trainable.config, self.config, set(self.space))
        return problems

    @property
    def search_label(self) -> str:
        """``bayesopt``, or ``auto: bayesopt`` when ``auto`` chose it."""
        return f"{self._chosen_by}: {self.search.algorithm}" if self._chosen_by else self.search.algorithm

    @property
    def trainable_def(self) -> TrainableDef:
        assert self._trainable is not None, "validated specs always resolve their trainable"
        return self._trainable

    @property
    def planned_trials(self) -> int:
        return sum(stage.trials for stage in self.stages) if self.stages else self.search.planned_trials(dict(self.space))

    @property
    def uses_variant_generator(self) -> bool:
        """Ray's variant generator draws every trial (grid search, grid keys, PBT): no Searcher to go on with."""
        return (self.search.variant_generated or self.scheduler.needs_variant_generator
                or any(isinstance(param, Grid) for param in self.space.values()))

    @property
    def results_dir(self) -> str:
        """``<storage>/<name>``: an absolute local path, or an object-store URI."""
        from tune_jobs.results.store import join_location

        return join_location(self.storage, self.name)

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in, as plain JSON-able data."""
        data: dict[str, Any] = self.model_dump(mode="json")
        data["space"] = {key: param.written() for key, param in self.space.items()}
        return data

    def sha256(self) -> str:
        """The job's identity for resuming: ``OUTPUT_ONLY`` is left out, so a spec run locally
        resumes when submitted (with its storage made absolute) and back."""
        identity = {k: v for k, v in self.resolved().items() if k not in OUTPUT_ONLY}
        if identity["execution"] == Execution().model_dump(mode="json"):
            del identity["execution"]  # jobs from before fused execution existed keep their identity
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _unusable_directory(path: Path) -> str | None:
    """Why results cannot be written under ``path`` (without creating anything), or None."""
    import os

    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory" if existing == path else f"cannot create it: {existing} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no permission to write in {existing}"
    return None


def _check_together(model: type[BaseModel], config: dict[str, Any], searched: set[str]) -> list[str]:
    """Rules across keys (``warmup_epochs < epochs``) for the fixed values, the rest at defaults.
    A rule that names a searched key is left to the trial, which sees the drawn value."""
    try:
        model.model_validate(config)
    except ValidationError as exc:
        found = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if not error["loc"] and not any(re.search(rf"\b{re.escape(key)}\b", message) for key in searched):
                found.append(rule_error(model, message))
        return found
    return []


def _check_value(model: type[BaseModel], key: str, value: Any, path: str, kind: str = "") -> list[str]:
    """Does ``model`` accept ``value`` for ``key``? (Numbers are checked per bound.)"""
    field = model.model_fields[key]
    try:
        annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        TypeAdapter(annotation).validate_python(value, strict=True)  # type: ignore[arg-type]
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        what = f"{kind} value {show(value)}" if kind else show(value)
        return [f"{path}: {what} not accepted: {reason[:1].lower() + reason[1:]}"]
    return []


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


_TYPE_KEYS: dict[tuple[str, str], Registry[Any]] = {("scheduler", "type"): SCHEDULERS, ("search", "algorithm"): SEARCHES}


def apply_override(data: dict[str, Any], dotted: str, value: Any) -> str | None:
    """``--set dotted=value``. Switching a section's type (``scheduler.type``, ``search.algorithm``)
    drops the keys of the section that the new type does not take (``grace_period`` for fifo),
    and the returned note says which; otherwise None."""
    section, _, leaf = dotted.partition(".")
    registry = _TYPE_KEYS.get((section, leaf))
    block = data.get(section)
    before = block.get(leaf) if isinstance(block, dict) else None
    set_dotted(data, dotted, value)
    if registry is None or not isinstance(value, str) or value == before or value not in registry.names():
        return None
    block = data[section]
    takes = registry.get(value).model_fields
    dropped = [key for key in block if key not in takes or (key == "options" and block[key])]
    for key in dropped:
        del block[key]
    shown = ", ".join(f"{section}.{key}" for key in dropped)
    return f"--set {dotted}={value}: dropped {shown} ({value} does not take them)" if dropped else None


def parse_override(text: str) -> tuple[str, Any]:
    """``search.num_samples=8`` -> (``search.num_samples``, 8); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise SpecError([f"--set {text}: expected key=value with a dotted key, e.g. search.num_samples=8"])
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def read_spec_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise SpecError([f"{path}: is a directory; give the job spec's YAML file"]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                         "a job spec is a YAML file"]) from None
    except OSError as exc:
        raise SpecError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        data = load_yaml(text)
    except DuplicateKeyError as exc:
        raise SpecError([f"{path}:{exc.line}: {exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError([f"{path}{where}: not valid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{path}: a job spec is a mapping of keys (name, trainable, ...), got {type(data).__name__}"])
    return data


def parse_scheduler(data: dict[str, Any]) -> SchedulerSpec:
    """A scheduler as ``job.json`` records it; pydantic's ``ValidationError`` when it cannot be read."""
    return TypeAdapter(SchedulerUnion).validate_python(data)  # type: ignore[no-any-return]


def validate_spec(data: dict[str, Any]) -> JobSpec:
    """The spec, or ``SpecError`` with every problem at once: the checks across fields run also
    when some fields are bad (pydantic skips them then), on the fields that are good."""
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        problems = format_validation_error(exc, JobSpec)
        bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        raise SpecError(problems + _cross_field_problems(data, bad, problems)) from None


def _cross_field_problems(data: dict[str, Any], bad: set[str], known: list[str]) -> list[str]:
    """The cross-field checks with the bad top-level fields left at their defaults; problems that
    name a bad field (they only follow from it) and ones already reported are left out."""
    required = {name for name, field in JobSpec.model_fields.items() if field.is_required()} - {"name"}
    if not bad or bad & required:  # no trainable or metric to check the others against
        return []
    rest = {k: v for k, v in data.items() if k not in bad}
    if "name" in bad:
        rest["name"] = "spec-with-errors"  # a bad name changes none of the other checks
    try:
        JobSpec.model_validate(rest)
    except ValidationError as exc:
        again = format_validation_error(exc, JobSpec)
        return [line for line in again if line not in known and line.split(":")[0].split(".")[0].split("[")[0] not in bad]
    return []


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = (), notes: list[str] | None = None) -> JobSpec:
    """``notes`` collects what the overrides changed besides their own key (see ``apply_override``)."""
    data = read_spec_file(Path(path))
    for text in overrides:
        key, value = parse_override(text)
        note = apply_override(data, key, value)
        if note is not None and notes is not None:
            notes.append(note)
    return validate_spec(data)



__all__ = ["JobSpec", "Param", "SchedulerSpec", "SearchSpec", "SpecError", "load_spec", "validate_spec"]
