"""The YAML job spec, parsed once into typed models and fully validated before Ray starts.

``tune_jobs.spec.load.load_spec(path, overrides)`` returns a ``JobSpec`` or raises ``SpecError`` whose lines each name
a field and the bad value. Nothing here imports Ray or torch.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    WrapValidator,
    field_validator,
    model_validator,
)

from trainables.registry import TrainableDef, resolve_trainable
from tune_jobs.core.model import StrictModel
from tune_jobs.core.registry import RegistryMember, UnknownNameError, close_match, did_you_mean
from tune_jobs.core.tokens import TOKEN_VARIABLES
from tune_jobs.core.values import show
from tune_jobs.schedulers import DEFAULT_SCHEDULER, SCHEDULERS, SchedulerSpec
from tune_jobs.search import DEFAULT_SEARCH, SEARCHES, SearchSpec
from tune_jobs.space import Grid, SpaceParam
from tune_jobs.spec.checks import check_together, check_value, unusable_directory
from tune_jobs.spec.plan import JobPlan

SEARCH_MEMBER = RegistryMember(SEARCHES, "algorithm", default=DEFAULT_SEARCH)
SCHEDULER_MEMBER = RegistryMember(SCHEDULERS, "type", default=None)
# Looked up when a spec is validated, so an algorithm registered after import is accepted too.
SearchField = Annotated[SerializeAsAny[SearchSpec], SEARCH_MEMBER, WrapValidator(SEARCH_MEMBER.validate)]
SchedulerField = Annotated[SerializeAsAny[SchedulerSpec], SCHEDULER_MEMBER, WrapValidator(SCHEDULER_MEMBER.validate)]


class Resources(StrictModel):
    """Per trial. Fractional GPUs pack trials onto one device (``gpu: 0.25`` -> four per GPU);
    ``gpu: auto`` sizes the share from the memory trials measure (``tune_jobs.gpu_sizing``)."""

    cpu: float = Field(1.0, gt=0)
    gpu: float | Literal["auto"] = Field(0.0, description="GPUs per trial, a fraction to share one, or auto")
    gpu_memory_target: float = Field(0.9, gt=0, le=1, description="gpu: auto: the share of a GPU's memory to fill")
    max_trials_per_gpu: int = Field(16, ge=1, description="gpu: auto: at most this many trials on one GPU")

    @field_validator("gpu", mode="before")
    @classmethod
    def _number_or_auto(cls, gpu: Any) -> Any:
        if isinstance(gpu, str) and gpu != "auto":
            raise ValueError(f"must be a number of GPUs or auto, got {gpu!r}")
        return gpu

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, gpu: float | str) -> float | str:
        if isinstance(gpu, str):
            return gpu
        if gpu < 0:
            raise ValueError(f"must be auto or >= 0, got {show(gpu)}")
        if gpu > 1 and not float(gpu).is_integer():
            raise ValueError(f"a trial above one GPU must use whole GPUs, got {show(gpu)}")
        return gpu

    @property
    def gpu_auto(self) -> bool:
        return self.gpu == "auto"

    @property
    def gpu_to_start(self) -> float:
        """GPUs a trial starts with: ``auto`` starts with a whole one, to measure its need."""
        return 1.0 if isinstance(self.gpu, str) else float(self.gpu)


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


def tracking_uri_problem(uri: str) -> str | None:
    """Why an MLflow tracking URI will not do, or None."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.username or parts.password:
        return ("put credentials in MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME and _PASSWORD), not in the URI: "
                "it is recorded in job.json")
    if parts.scheme in ("", "file"):
        return f"MLflow 3.13+ refuses a file store; give sqlite:///path/mlflow.db or an http(s):// tracking server, got {show(uri)}"
    return None


class MlflowOutput(StrictModel):
    """The job as an MLflow parent run and its trials as child runs (``results.listeners.mlflow_runs``)."""

    tracking_uri: str | None = Field(None, min_length=1, description="default: MLFLOW_TRACKING_URI, else MLflow's "
                                     "default (sqlite:///mlflow.db in the working directory)")
    experiment: str | None = Field(None, min_length=1, description="default: the job's name")

    @field_validator("tracking_uri")
    @classmethod
    def _usable_uri(cls, uri: str | None) -> str | None:
        problem = tracking_uri_problem(uri) if uri is not None else None
        if problem:
            raise ValueError(problem)
        return uri

    @model_validator(mode="after")
    def _installed(self) -> MlflowOutput:
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:
            raise ValueError("needs MLflow, which is not installed: pip install 'tune-jobs[mlflow]'")
        return self


class Outputs(StrictModel):
    """Where a job's results go besides its Parquet files and TensorBoard."""

    mlflow: MlflowOutput | None = None


def _not_reported(field: str, metric: str, trainable: TrainableDef) -> str:
    return (f"{field}: {trainable.name} does not report {metric!r}; "
            f"{did_you_mean(metric, trainable.metrics)}it reports {', '.join(trainable.metrics)}")


COST_METRICS = ("params", "latency_ms", "peak_memory_mb", "train_time_s")  # the built-in loop's, per model


# Where results go, what a cluster installs, what else is written: not part of a job's identity.
OUTPUT_ONLY = ("storage", "runtime_env", "tensorboard", "outputs")


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `true` is not a number

    name: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=100)
    trainable: str
    metric: str = Field(min_length=1)
    mode: Literal["max", "min"] | None = None
    objectives: dict[str, Literal["max", "min"]] | None = Field(None, min_length=1, description="several metrics at once "
                                                               "({val_accuracy: max, latency_ms: min}); the first is the metric")
    constraints: list[str] = Field(default_factory=list, description="'latency_ms <= 5': trials that break one are infeasible")
    config: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, SpaceParam] = Field(default_factory=dict)
    search: SearchField = Field(default_factory=lambda: SEARCHES.get(DEFAULT_SEARCH).model_validate({}))
    scheduler: SchedulerField = Field(default_factory=lambda: SCHEDULERS.get(DEFAULT_SCHEDULER).model_validate({}))
    resources: Resources = Field(default_factory=Resources)
    stop: Stop = Field(default_factory=Stop)
    failure: Failure = Field(default_factory=Failure)
    execution: Execution = Field(default_factory=Execution)
    storage: str = Field("results", min_length=1)
    runtime_env: RuntimeEnv = Field(default_factory=RuntimeEnv)
    tensorboard: bool = Field(True, description="per-trial event files in <results>/tensorboard (local storage)")
    outputs: Outputs = Field(default_factory=Outputs)
    stages: list[Stage] | None = Field(None, description="coarse-to-fine: each stage is a job named <name>-<stage>")

    _plan: JobPlan | None = PrivateAttr(None)

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
            problem = unusable_directory(Path(storage).expanduser())
            if problem:
                raise ValueError(f"{problem}, got {show(storage)}")
        return storage

    @model_validator(mode="before")
    @classmethod
    def _metric_from_objectives(cls, data: Any) -> Any:
        """With ``objectives``, ``metric`` and ``mode`` default to the first one."""
        if isinstance(data, dict) and isinstance(data.get("objectives"), dict) and data["objectives"]:
            first, direction = next(iter(data["objectives"].items()))
            data = {**data, "metric": data.get("metric", first)}
            if data["metric"] == first and data.get("mode") is None:
                data["mode"] = direction
        return data

    @field_validator("constraints")
    @classmethod
    def _constraints_parse(cls, constraints: list[str]) -> list[str]:
        from tune_jobs.results.pareto import parse_constraint

        problems = []
        for index, text in enumerate(constraints):
            try:
                parse_constraint(text)
            except ValueError as error:
                problems.append(f"[{index}]: {error}")
        if problems:
            raise ValueError("; ".join(problems))
        return constraints

    @property
    def objective_directions(self) -> dict[str, str]:
        """Every objective and its direction: the metric alone for a single-objective job."""
        return dict(self.objectives) if self.objectives else {self.metric: self.plan.mode}

    @property
    def parsed_constraints(self) -> list[Any]:
        from tune_jobs.results.pareto import parse_constraint

        return [parse_constraint(text) for text in self.constraints]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives or {}) > 1

    @field_validator("name", mode="before")
    @classmethod
    def _name_rule(cls, name: Any) -> Any:
        if isinstance(name, str) and (not name or not all(c.isascii() and (c.islower() or c.isdigit() or c in "_-") for c in name)):
            raise ValueError(f"must match [a-z0-9_-]+, got {show(name)}")
        return name

    @model_validator(mode="after")
    def _cross_checks(self) -> JobSpec:
        """Every check across fields, and the plan (``spec.plan``): the spec itself is left as written."""
        problems: list[str] = []
        from tune_jobs.results.store import is_uri

        if not is_uri(self.storage) and Path(self.results_dir).is_file():
            problems.append(f"name: {self.results_dir} is a file; the job's results go in a directory of that name")
        for key in sorted(set(self.config) & set(self.space)):
            problems.append(f"space.{key}: also set in config; a key is either fixed (config) or searched (space)")
        trainable: TrainableDef | None = None
        try:
            trainable = resolve_trainable(self.trainable)
        except (UnknownNameError, ValueError) as exc:
            problems.append(f"trainable: {exc}")
        mode = self.mode
        if trainable is not None:
            problems += self._check_against_trainable(trainable)
            if mode is None:
                mode = trainable.metrics.get(self.metric)
        objectives = len(self.objectives or {})
        search = self.search.resolve(dict(self.space), model_based=not self.scheduler.needs_variant_generator,
                                     objectives=2 if objectives > 1 or self.constraints else 1)  # auto: one that steers by both
        problems += search.check_space(dict(self.space))
        problems += self._objective_problems(trainable, search)
        problems += self._check_stages()
        epochs = self.config.get("epochs", trainable.defaults().get("epochs")) if trainable else None
        scheduler = self.scheduler.choose(epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
                                          search.trials, max(objectives, 1), search.algorithm)
        if trainable is not None and self.execution.fuse not in (1, "auto"):  # auto falls back to a process per trial
            problems += self._fusion_problems(trainable, search, scheduler)
        problems += scheduler.check(dict(self.space), search.algorithm)
        # A value that is not a whole number is reported as config.epochs, not again as a max_t it cannot default.
        if trainable is not None and (epochs is None or (isinstance(epochs, int) and not isinstance(epochs, bool))):
            scheduler, found = scheduler.with_defaults(epochs)
            problems += found
        if problems:
            raise ValueError("\n".join(problems))
        assert trainable is not None and mode is not None  # else a problem was reported above
        self._plan = JobPlan(trainable, mode, search, scheduler, None if search is self.search else self.search.algorithm)
        return self

    @property
    def plan(self) -> JobPlan:
        assert self._plan is not None, "a validated spec always has its plan"
        return self._plan

    def _objective_problems(self, trainable: TrainableDef | None, search: SearchSpec) -> list[str]:
        from tune_jobs.results.pareto import parse_constraint

        problems = []
        objectives = self.objectives or {}
        if objectives:
            first, direction = next(iter(objectives.items()))
            if self.metric != first:
                problems.append(f"metric: with objectives the job's metric is the first objective ({first}), got {self.metric!r}; "
                                "drop metric or list it first")
            elif self.mode not in (None, direction):
                problems.append(f"mode: the first objective {first} is {direction}, got {self.mode}")
        reported = trainable.metrics if trainable is not None else {}
        named = [(f"objectives.{m}", m) for m in objectives]
        for index, text in enumerate(self.constraints):
            named.append((f"constraints[{index}]", parse_constraint(text).metric))
        for field, metric in named:
            if reported and metric not in reported and trainable is not None:
                problems.append(_not_reported(field, metric, trainable))
        if len(objectives) > 1:
            if not search.multi_objective:
                problems.append(f"search.algorithm: {search.algorithm} optimises one metric; with {len(objectives)} objectives "
                                "use tpe, nsga2 or random")
            if not self.scheduler.multi_objective:
                problems.append(f"scheduler.type: {self.scheduler.type} compares trials on one metric; with "
                                f"{len(objectives)} objectives use mo_asha or fifo")
        elif self.constraints and not search.multi_objective:
            problems.append(f"constraints: {search.algorithm} cannot steer by constraints; use tpe, nsga2 or random "
                            "(infeasible trials are still left out of the results' Pareto set)")
        return problems

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
        if len(self.objectives or {}) > 1 or self.constraints:
            problems.append("stages: later stages narrow around the best trials of one metric; a job with several "
                            "objectives or constraints cannot be staged (run it, then `tune-jobs narrow --objective`)")
        return problems

    def stack_size(self, slots: int) -> int:
        """Trials per stack when ``slots`` trials (stacks) run at once: ``fuse``, or for ``auto`` the
        trials spread over the slots (at most ``AUTO_STACK_LIMIT``), 1 when they cannot be fused."""
        fuse = self.execution.fuse
        if fuse != "auto":
            return int(fuse)
        if self.fusion_problems():
            return 1
        return max(1, min(AUTO_STACK_LIMIT, math.ceil(self.plan.search.trials / max(slots, 1))))

    def fusion_problems(self) -> list[str]:
        """Why this job's trials cannot share stacks, one ``execution.fuse: ...`` line each."""
        return self._fusion_problems(self.plan.trainable, self.plan.search, self.plan.scheduler)

    def _fusion_problems(self, trainable: TrainableDef, search: SearchSpec, scheduler: SchedulerSpec) -> list[str]:
        from trainables.fused import PER_MEMBER_KEYS, unfused_options


        where = "execution.fuse"
        if not trainable.fusable:
            from trainables.registry import TRAINABLES

            fusable = ", ".join(name for name in TRAINABLES.names() if TRAINABLES.get(name).fusable)
            return [f"{where}: {trainable.name} cannot be fused; fusable trainables: {fusable}; or set fuse: 1"]
        blocker = trainable.fusion_blocker(self.config) if trainable.fusion_blocker else None
        problems = [f"{where}: {blocker}"] if blocker else []
        problems += [f"{where}: {line}" for line in unfused_options(self.config)]
        problems += [f"{where}: space.{key} would give members different models, data or batches; fused members "
                     f"may differ only in {', '.join(PER_MEMBER_KEYS)}" for key in self.space if key not in PER_MEMBER_KEYS]
        if not scheduler.decides_per_result:
            problems.append(f"{where}: scheduler {scheduler.type} cannot stop members one by one; use fifo or asha")
        if search.variant_generated or any(isinstance(param, Grid) for param in self.space.values()):
            problems.append(f"{where}: grid keys and grid search draw trials without a searcher; use random, tpe or bayesopt")
        if self.stages is not None:
            problems.append(f"{where}: not with stages yet")
        costs = sorted({*(self.objectives or {}), *(c.metric for c in self.parsed_constraints)} & set(COST_METRICS))
        if costs:
            problems.append(f"{where}: a stack's members do not report {', '.join(costs)} (one model each) yet; set fuse: 1")
        return problems

    def _check_against_trainable(self, trainable: TrainableDef) -> list[str]:
        problems: list[str] = []
        if trainable.metrics:
            if self.metric not in trainable.metrics:
                problems.append(_not_reported("metric", self.metric, trainable))
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
                problems += check_value(trainable.config, key, value, f"config.{key}")
        for key, param in self.space.items():
            if key in fields:
                bad_values = (check_value(trainable.config, key, v, f"space.{key}", param.kind) for v in param.values())
                problems += next((found for found in bad_values if found), [])
        if not problems:
            problems += check_together(trainable.config, self.config, set(self.space))
        return problems

    @property
    def search_label(self) -> str:
        return self.plan.search_label

    @property
    def trainable_def(self) -> TrainableDef:
        return self.plan.trainable

    @property
    def planned_trials(self) -> int:
        return sum(stage.trials for stage in self.stages) if self.stages else self.plan.search.planned_trials(dict(self.space))

    @property
    def uses_variant_generator(self) -> bool:
        """Ray's variant generator draws every trial (grid search, grid keys, PBT): no Searcher to go on with."""
        return (self.plan.search.variant_generated or self.plan.scheduler.needs_variant_generator
                or any(isinstance(param, Grid) for param in self.space.values()))

    @property
    def results_dir(self) -> str:
        """``<storage>/<name>``: an absolute local path, or an object-store URI."""
        from tune_jobs.results.store import join_location

        return join_location(self.storage, self.name)

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in and the plan's choices in place of what it left
        open (the search ``auto`` chose, the mode, scheduler defaults), as plain JSON-able data:
        what job.json records, and what validates back to the same plan."""
        data: dict[str, Any] = self.model_dump(mode="json")
        data.update(mode=self.plan.mode, search=self.plan.search.model_dump(mode="json"),
                    scheduler=self.plan.scheduler.model_dump(mode="json"))
        data["space"] = {key: param.written() for key, param in self.space.items()}
        for key, default in (("objectives", None), ("constraints", [])):
            if data[key] == default:
                del data[key]  # a single-objective job's record and identity are as before objectives existed
        return data

    def sha256(self) -> str:
        """The job's identity for resuming: ``OUTPUT_ONLY`` is left out, so a spec run locally
        resumes when submitted (with its storage made absolute) and back."""
        identity = {k: v for k, v in self.resolved().items() if k not in OUTPUT_ONLY}
        if identity["execution"] == Execution().model_dump(mode="json"):
            del identity["execution"]  # jobs from before fused execution existed keep their identity
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

