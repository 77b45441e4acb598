"""A name -> implementation map, one per extension point (trainables, searches, schedulers).

The name is written next to the implementation with ``@REGISTRY.register("name")``; an unknown
name answers with the list of valid ones, so a typo never falls through silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def close_match(name: str, valid: Iterable[str]) -> str | None:
    """The valid name a typo most likely meant (``hiden`` -> ``hidden``), or None."""
    import difflib

    found = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.75)
    return found[0] if found else None


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``"did you mean 'hidden'? "`` for a near miss, else nothing: the start of a hint."""
    match = close_match(name, valid)
    return f"did you mean {match!r}? " if match else ""


class UnknownNameError(KeyError):
    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        super().__init__(name)
        self.kind, self.name, self.valid = kind, name, valid

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r}; {did_you_mean(self.name, self.valid)}valid: {', '.join(self.valid)}"


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def remove(self, name: str) -> None:
        """Unregister ``name`` (a test's throwaway extension)."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))


def import_members(package: str, path: Iterable[str]) -> None:
    """Import every module of a package (its ``__name__`` and ``__path__``), so that a new
    member of an extension point is one file that registers itself, with no list to edit."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(list(path)):
        importlib.import_module(f"{package}.{module.name}")


class RegistryMember:
    """A model field holding one member of a registry of models, chosen by the value's ``key``
    (``default`` when absent) when the field is validated, not when the model class is built: a
    member registered after import (a plugin's, a test's) is accepted like a built-in.

    Use as ``Annotated[SerializeAsAny[Base], member, WrapValidator(member.validate)]``. Errors
    carry the member's name in their path, as pydantic's tagged unions do, so that messages can
    name the member's own keys (``tune_jobs.errors`` follows it through ``member_for``)."""

    def __init__(self, registry: Registry[Any], key: str, default: str | None) -> None:
        self.registry, self.key, self.default = registry, key, default
        self._adapters: dict[tuple[str, ...], Any] = {}

    def member_for(self, name: Any) -> Any:
        return self.registry.get(name) if isinstance(name, str) and name in self.registry.names() else None

    def validate(self, value: Any, handler: Any) -> Any:
        names = tuple(self.registry.names())
        if names not in self._adapters:
            self._adapters = {names: self._union_adapter()}
        return self._adapters[names].validate_python(value)

    def _union_adapter(self) -> Any:
        from typing import Annotated, Union

        from pydantic import BaseModel, Discriminator, Tag, TypeAdapter

        key, default = self.key, self.default

        def tag(value: Any) -> Any:
            if isinstance(value, BaseModel):
                return getattr(value, key)
            if isinstance(value, dict):
                return value.get(key, default)
            return None

        members = tuple(Annotated[model, Tag(name)] for name, model in self.registry)
        unknown = Discriminator(tag, custom_error_type=f"unknown_tag:{key}",
                                custom_error_message=f"unknown {self.registry.kind}; valid: {', '.join(self.registry.names())}")
        return TypeAdapter(Annotated[Union[members], unknown])  # type: ignore[valid-type,arg-type]
