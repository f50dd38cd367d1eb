"""Name -> class registries that drive the CLI's listings and the conformance tests (timm/PyG style)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from archlatent.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plugin classes, filled by the `register` decorator at import time."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: file the class under `name` (which must be new)."""

        def wrap(cls: type[T]) -> type[T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = cls
            cls.name = name  # type: ignore[attr-defined]
            return cls

        return wrap

    def get(self, name: str) -> type[T]:
        """The class filed under `name`; an UnknownName error lists the known names otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
