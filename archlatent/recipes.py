"""Recipes: the defaults of a space, one named, frozen value per space.

A recipe is the default path of a search in one place: the autoencoders' pretraining presets and how
many are pretrained (a portfolio), the stages a latent strategy's asks go through
(`archlatent.stages`) with their settings, and the optimizer settings that apply under a screen.
`archlatent list recipes` prints them; `build` writes the space's recipe whole into the run's config
(``SearchConfig.recipe``), and a config that carries a different one (a run resumed after the
defaults changed) is refused naming the field. The measurements behind each value are in
BENCHMARKS.md (section 2: the stages and the screened lamcts; 2b: three autoencoders).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from archlatent.config import ConfigError


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v for k, v in mapping.items()})


@dataclass(frozen=True)
class Recipe:
    """The defaults of space `space`.

    ``presets``: encoder -> pretraining settings (`archlatent.encoders.presets`); ``members``:
    encoder -> autoencoders pretrained (one latent strategy each; 1 where absent); ``stages``: the
    latent strategies' stages in order, each with its settings (the screen, when on, comes last);
    ``screened``: optimizer -> the settings it gets under a screen (a user's settings win);
    ``strategy``: the latent strategy's settings (a user's ``[strategy]`` settings win), such as
    what it makes of the screen's cheap answers (``cheap_answers``, `archlatent.strategies.cheap`).
    """

    space: str
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    members: Mapping[str, int] = field(default_factory=dict)
    stages: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    screened: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    strategy: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("presets", "members", "screened", "strategy"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "stages", tuple((n, _frozen(s)) for n, s in self.stages))

    def stage(self, name: str) -> Mapping[str, Any] | None:
        """The settings of stage `name`, or None when the recipe has no such stage."""
        return next((settings for n, settings in self.stages if n == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped (the form a run's config records)."""
        return _plain({"space": self.space, "presets": self.presets, "members": self.members,
                       "stages": [{"name": n, **s} for n, s in self.stages], "screened": self.screened,
                       "strategy": self.strategy})


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


#: The stages of a latent strategy's asks (issue 13: repair, two ranked neighbours of the incumbent
#: per round, each round best predicted first).
_LATENT_STAGES = (("repair", {}), ("neighbours", {"count": 2}), ("rank", {}))


def _presets(space: str) -> dict[str, Any]:
    from archlatent.encoders.presets import PRESETS

    return {encoder: settings for (s, encoder), settings in PRESETS.items() if s == space}


def _members(space: str) -> dict[str, int]:
    from archlatent.encoders.presets import MEMBERS

    return {encoder: n for (s, encoder), n in MEMBERS.items() if s == space}


def _recipe(space: str, **changes: Any) -> Recipe:
    return Recipe(space, presets=_presets(space), members=_members(space), stages=_LATENT_STAGES, **changes)


#: lamcts under the NB201 screen asks 4 cells a round and explores with Cp 1 (0.6.0, issue 10): the
#: screen keeps a third of each ask, so one cell a round (the reference's batch) leaves it nothing to choose.
#: The latent strategy's optimizer is told the cells the screen left out as infeasible (``reject``): of the
#: four ways measured on CIFAR-10 none reached the best cell sooner by 2 standard errors (0.8.0, issue 27).
RECIPES: dict[str, Recipe] = {
    "nb201": _recipe("nb201", screened={"lamcts": {"batch": 4, "cp": 1.0}}, strategy={"cheap_answers": "reject"}),
    "nb101": _recipe("nb101"),
    "darts": _recipe("darts"),
}


def recipe(space: str) -> Recipe:
    """The recipe of `space` (a space without one of its own gets the latent stages and nothing else)."""
    return RECIPES.get(space) or _recipe(space)


def check_recipe(recorded: Any, space: str, source: str = "the config") -> None:
    """ConfigError unless `recorded` (a run's recorded recipe) is `space`'s recipe; names the field
    that differs."""
    if recorded is None:
        return
    where = _difference(recorded, recipe(space).to_dict(), "recipe")
    if where is not None:
        path, then, now = where
        raise ConfigError(f"{source} was written with another recipe of {space} ({path}: {then!r:.100}, now "
                          f"{now!r:.100}); resume it with the archlatent that wrote it, or start a new run")


def _difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any] | None:
    """(dotted path, a's value, b's value) of the first difference between two JSON-shaped values."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            found = _difference(a.get(key), b.get(key), f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _difference(x, y, f"{path}[{i}]"))), None)
    return None if a == b else (path, a, b)
