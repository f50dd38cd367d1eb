"""Name -> class registries that drive the CLI's listings and the conformance tests (timm/PyG style)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from archlatent.errors import ArchLatentError, UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plugin classes, filled by the `register` decorator at import time."""

    def __init__(self, kind: str, provided: tuple[str, ...] = (), constructor: str = "__init__") -> None:
        self.kind = kind
        #: The class's method that `create` calls (``__init__``, or a classmethod such as ``from_config``).
        self.constructor = constructor
        #: Constructor arguments the library supplies itself (not user settings), e.g. ``space``, ``seed``.
        self.provided = provided
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
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        """An instance of `name` built with `kwargs`; an unknown keyword argument is one clear error.

        This is how user-written settings (TOML tables, flags) reach a plugin: a typo names the
        plugin and lists the settings it has, instead of a TypeError traceback.
        """
        cls = self.get(name)
        unknown = sorted(set(kwargs) - set(self.settings(name)) - set(self.provided))
        if unknown and not _takes_var_kwargs(self._factory(cls)):
            known = ", ".join(self.settings(name)) or "none"
            raise ArchLatentError(f"{self.kind} {name!r} has no setting(s) {unknown}; it has: {known}")
        make = cls if self.constructor == "__init__" else getattr(cls, self.constructor)
        try:
            inspect.signature(make).bind(*args, **kwargs)
        except TypeError as err:  # a required setting is missing
            raise ArchLatentError(f"{self.kind} {name!r}: {err}") from None
        return make(*args, **kwargs)

    def settings(self, name: str) -> list[str]:
        """The keyword arguments the plugin's constructor takes, less those the library provides."""
        params = inspect.signature(self._factory(self.get(name))).parameters.values()
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [p.name for p in params if p.kind in kinds and p.name not in ("self", *self.provided)]

    def _factory(self, cls: type) -> Callable[..., Any]:
        return getattr(cls, self.constructor)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def _takes_var_kwargs(function: Callable[..., Any]) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(function).parameters.values())


def import_plugins(package: str, path: Iterable[str]) -> None:
    """Import every module of `package` (its ``__path__``), so that each file's plugins are registered
    when the package is: a new plugin is one new file, and no registry is filled by side effect of
    another module."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")
