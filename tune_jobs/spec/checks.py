"""Checks of single values against a trainable's config model, and of where results can go: the
pieces of validation that are not a field's own type."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from trainables.loop.config import rule_error
from tune_jobs.core.values import show


def unusable_directory(path: Path) -> str | None:
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

def check_together(model: type[BaseModel], config: dict[str, Any], searched: set[str]) -> list[str]:
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

def check_value(model: type[BaseModel], key: str, value: Any, path: str, kind: str = "") -> list[str]:
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

