"""A name -> implementation map, one per extension point (trainables, searches, schedulers).

The name is written next to the implementation with ``@REGISTRY.register("name")``; an unknown
name answers with the list of valid ones, so a typo never falls through silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

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
