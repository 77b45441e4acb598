"""Bad input becomes one line per problem: ``field.path: what is wrong, got VALUE``.

The CLI prints these lines and exits 2; nothing else in the package prints validation errors.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from tune_jobs.core.errors import SpecError, UserError
from tune_jobs.core.registry import RegistryMember, did_you_mean
from tune_jobs.core.values import show
from tune_jobs.space import PARAM_TYPES


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _strip(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _tag_member(tp: Any, tag: Any) -> Any:
    """The member of a tagged union whose tag is ``tag`` (a ``Literal`` field or a space kind)."""
    if tag in PARAM_TYPES:
        return PARAM_TYPES[tag]
    for member in get_args(tp):
        member = _strip(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            for field in member.model_fields.values():
                if get_origin(field.annotation) is typing.Literal and tag in get_args(field.annotation):
                    return member
    return None


def _walk(root: Any, loc: tuple[Any, ...]) -> tuple[Any, list[str]]:
    """Follow ``loc`` through the model types; return the type reached and the readable path.

    Union tags that pydantic puts into ``loc`` are consumed here and left out of the path.
    """
    tp: Any = root
    path: list[str] = []
    for part in loc:
        if isinstance(tp, RegistryMember):  # a registry-backed field: the next part names its member
            member = tp.member_for(part)
            if member is not None:
                tp = member
                continue
            tp = None
        tp = _strip(tp)
        if _is_union(tp):
            member = _tag_member(tp, part)
            if member is not None:
                tp = member
                continue
            args = [a for a in get_args(tp) if a is not type(None)]
            tp = _strip(args[0]) if len(args) == 1 else None
        if isinstance(part, int):
            path[-1:] = [f"{path[-1]}[{part}]"] if path else [f"[{part}]"]
        else:
            path.append(str(part))
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            registered = next((m for m in field.metadata if isinstance(m, RegistryMember)), None) if field else None
            tp = registered or (field.annotation if field else None)
        elif get_origin(tp) in (dict, typing.Mapping):
            tp = get_args(tp)[1] if get_args(tp) else None
        elif get_origin(tp) in (list, tuple):
            args = [a for a in get_args(tp) if a is not Ellipsis]
            tp = args[0] if args else None
        else:
            tp = None
    return _strip(tp), path


def _message(error: Any, parent: Any) -> str:
    kind = error["type"]
    msg: str = error["msg"]
    value = error.get("input")
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        valid: list[str] = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        hint = did_you_mean(str(error["loc"][-1]), valid)
        return "unknown key" + (f"; {hint}valid keys: {', '.join(valid)}" if valid else "; nothing can be set here")
    if kind == "missing":
        return "required"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown value {show(ctx.get('tag'))}; valid: {ctx.get('expected_tags', '').replace(chr(39), '')}"
    if kind.startswith("unknown_tag:"):
        key = kind.partition(":")[2]
        tag = value.get(key) if isinstance(value, dict) else value
        head, _, listing = msg.partition("; ")
        hint = did_you_mean(str(tag), listing.removeprefix("valid: ").split(", "))
        return f"{head} {show(tag)}; {hint}{listing}" if tag is not None else f"required; {listing}"
    if kind == "union_tag_not_found":
        return msg[:1].lower() + msg[1:]
    text = msg[:1].lower() + msg[1:]
    if isinstance(value, (dict, list)) and len(str(value)) > 80:
        return text
    return f"{text}, got {show(value)}"


def format_validation_error(error: ValidationError, root: type[BaseModel], prefix: str = "") -> list[str]:
    """One line per pydantic error, field path first; root-level lines pass through as written."""
    lines: list[str] = []
    for item in error.errors():
        loc = tuple(item["loc"])
        if not loc and item["type"] == "value_error":
            # Cross-field checks raise their problems pre-formatted, one per line.
            lines.extend(item["msg"].removeprefix("Value error, ").splitlines())
            continue
        is_extra = item["type"] == "extra_forbidden"
        parent, path = _walk(root, loc[:-1] if is_extra else loc)
        if is_extra:
            path.append(str(loc[-1]))
        if item["type"].startswith("unknown_tag:"):
            path.append(item["type"].partition(":")[2])
        dotted = ".".join(p for p in ([prefix] if prefix else []) + path) or "spec"
        lines.append(f"{dotted}: {_message(item, parent)}")
    return lines


__all__ = ["SpecError", "UserError", "format_validation_error"]
