"""A spec from where users write it: a YAML file, ``--set key=value`` overrides, a dict; every
problem at once as ``SpecError`` lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tune_jobs.core.registry import Registry
from tune_jobs.errors import SpecError, format_validation_error
from tune_jobs.schedulers import SCHEDULERS, SchedulerSpec
from tune_jobs.search import SEARCHES
from tune_jobs.spec.job import SCHEDULER_MEMBER, JobSpec
from tune_jobs.spec.yaml_file import DuplicateKeyError, load_yaml


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
    return SCHEDULER_MEMBER.validate(data, None)  # type: ignore[no-any-return]


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



__all__ = ["apply_override", "load_spec", "parse_override", "parse_scheduler", "read_spec_file", "set_dotted", "validate_spec"]
