"""`SearchConfig`: everything one search run needs, typed, validated, and round-tripped to TOML/JSON.

The library takes explicit arguments; this is the one place where user-written settings (a TOML
file, flags, a resumed run's ``config.json``) become them. Plugin settings live in their own table,
named by ``name``::

    space = "nb201"
    budget = 100
    objectives = ["valid_acc"]
    [strategy]
    name = "latent"
    remap = true
    [optimizer]
    name = "nao"
    top_k = 20
    [evaluator]
    name = "tabular"
    bench = "data/nasbench201.csv.gz"

A plugin table may also be given as just its name (``strategy = "rea"``).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from archlatent.bounds import BoundError, check_all
from archlatent.checks import is_int
from archlatent.constraints import ConstraintError, parse_constraints
from archlatent.errors import ArchLatentError

#: Config keys whose value is a plugin: a name, or a table with ``name`` and the plugin's settings.
PLUGINS = ("strategy", "optimizer", "evaluator", "executor")
#: Field metadata of the settings a resumed run may change (they do not change what is evaluated).
_RESUMABLE = {"resumable": True}


class ConfigError(ArchLatentError):
    """A config file or value is malformed (wrong type, unknown key, out of range)."""


@dataclass
class SearchConfig:
    """One search run: space, dataset, strategy (+ optimizer), model, evaluator, budget, seed, objectives.

    ``strategy_kwargs`` / ``optimizer_kwargs`` / ``evaluator_kwargs`` / ``executor_kwargs`` are the
    plugins' own settings (the executor runs the evaluations: ``local``, or ``ray`` on a cluster);
    ``pretrain`` overrides the encoder preset's settings when the run pretrains its own model (and
    ``pretrain.members`` the number of autoencoders, `archlatent.encoders.members` by default);
    ``labels`` labelled architectures train the score head (they count as queries). ``screen`` names
    a cheap metric (``valid_acc_12ep``) that answers each ask's new architectures first, so that only
    the best ``screen_keep`` share of them is evaluated (`archlatent.stages.screen`); ``auto`` (the default)
    screens with the objective's shortest-training column when the evaluator has one (NAS-Bench-201),
    ``none`` never. ``out`` is the
    run folder (journal, pretrained model); ``threads`` the torch intra-op threads the run uses (1 by
    default, 0 for torch's own setting; set for the call and restored afterwards: `archlatent.threads`).
    ``constraints`` bound free costs (``"hw_latency_ms_pixel3<=5"``: `archlatent.constraints`): the
    best is the best cell meeting them all, and no other cell is queried for accuracy.
    ``recipe`` is the space's recipe (`archlatent.recipes`) as `build` recorded it: a config that
    carries another one is refused. Only the fields marked resumable (`RESUMABLE`) may change
    when a run is resumed.
    """

    space: str
    dataset: str = "cifar10"
    strategy: str = "latent"
    strategy_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "nao"
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    evaluator: str = "tabular"
    evaluator_kwargs: dict[str, Any] = field(default_factory=dict)
    executor: str = field(default="local", metadata=_RESUMABLE)
    executor_kwargs: dict[str, Any] = field(default_factory=dict, metadata=_RESUMABLE)
    encoder: str = "transformer"
    checkpoint: str | None = None
    pretrain: dict[str, Any] = field(default_factory=dict)
    labels: int = 0
    labels_file: str | None = None
    screen: str = "auto"
    screen_keep: float = 1 / 3
    budget: int = field(default=100, metadata=_RESUMABLE)
    seed: int = 0
    objectives: tuple[str, ...] = ("valid_acc",)
    constraints: tuple[str, ...] = ()
    allow_test_objective: bool = False
    report: str = "test_acc"
    out: str | None = field(default=None, metadata=_RESUMABLE)
    threads: int | None = field(default=1, metadata=_RESUMABLE)
    recipe: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _check(self)

    # -- round trips -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-shaped dict (plugins as ``{"name": ..., **settings}`` tables); `from_dict` inverts it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_kwargs") or (f.name == "constraints" and not value):
                continue  # no constraints: written as before they existed, so older runs resume unchanged
            if f.name in PLUGINS:
                value = {"name": value, **getattr(self, f.name + "_kwargs")}
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config") -> SearchConfig:
        """A config from a `to_dict`-shaped mapping; ConfigError names `source` and the bad key."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source} must be a table of settings, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls) if not f.name.endswith("_kwargs")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source} has unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
        values = dict(data)
        for plugin in PLUGINS:
            if plugin in values:
                values[plugin], values[plugin + "_kwargs"] = _plugin(values[plugin], plugin, source)
        if "objectives" in values:
            values["objectives"] = _objectives(values["objectives"], source)
        if "constraints" in values:
            values["constraints"] = _constraints(values["constraints"], source)
        if "space" not in values:
            raise ConfigError(f"{source} names no space (set `space`, or pass --space)")
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> SearchConfig:
        """Read a TOML file; `overrides` (e.g. flags the user typed) win over the file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read config {path}: {err}") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config {path} is not valid TOML: {err}") from None
        return cls.from_dict(merge(data, overrides), source=f"config {path}")

    def replace(self, **changes: Any) -> SearchConfig:
        """A copy with `changes` (validated)."""
        return dataclasses.replace(self, **changes)


#: The config keys (as `SearchConfig.to_dict` writes them) that a resumed run may change.
RESUMABLE: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(SearchConfig) if f.metadata.get("resumable") and not f.name.endswith("_kwargs")
)


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` on top; plugin tables merge setting by setting (a new name resets them).
    An override table without a name for a plugin `base` does not name (only ``bench`` typed, say)
    is the default plugin's."""
    out = dict(base)
    for key, value in overrides.items():
        if key in PLUGINS and key not in out and isinstance(value, Mapping) and "name" not in value:
            out[key] = {"name": SearchConfig.__dataclass_fields__[key].default, **value}
        elif key in PLUGINS and key in out:
            old, new = (v if isinstance(v, Mapping) else {"name": v} for v in (out[key], value))
            keep = {} if "name" in new and new.get("name") != old.get("name") else old
            out[key] = {**keep, **new}
        else:
            out[key] = value
    return out


def _plugin(value: Any, key: str, source: str) -> tuple[str, dict[str, Any]]:
    if isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return value["name"], {k: v for k, v in value.items() if k != "name"}
    raise ConfigError(f"{source}: `{key}` must be a name or a table with a `name`, got {value!r:.200}")


def _objectives(value: Any, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{source}: `objectives` must be a list of metric names, got {value!r:.200}")
    return tuple(v.strip() for v in value)


def _constraints(value: Any, source: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{source}: `constraints` must be a list of texts such as ['flops_m<=100'], got {value!r:.200}")
    return tuple(value)


_TYPES: dict[str, tuple[type, ...]] = {
    "space": (str,), "dataset": (str,), "strategy": (str,), "optimizer": (str,), "evaluator": (str,),
    "encoder": (str,), "checkpoint": (str, type(None)), "labels_file": (str, type(None)), "report": (str,),
    "out": (str, type(None)), "pretrain": (dict,), "strategy_kwargs": (dict,), "optimizer_kwargs": (dict,),
    "evaluator_kwargs": (dict,), "executor": (str,), "executor_kwargs": (dict,), "allow_test_objective": (bool,),
    "screen": (str,), "screen_keep": (int, float), "recipe": (dict, type(None)),
}


def _check(config: SearchConfig) -> None:
    """ConfigError unless every field has its type and range."""
    for name, types in _TYPES.items():
        value = getattr(config, name)
        if not isinstance(value, types):
            want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ConfigError(f"`{name}` must be a {want}, got {value!r:.200}")
    for name, low in (("budget", 1), ("seed", 0), ("labels", 0), ("threads", 0)):
        value = getattr(config, name)
        if value is None and name == "threads":
            continue
        if not is_int(value) or value < low:
            raise ConfigError(f"`{name}` must be an integer >= {low}, got {value!r:.200}")
    try:  # upper bounds, and the integer settings of the plugin and pretrain tables, from one table
        check_all({k: getattr(config, k) for k in ("budget", "seed", "labels", "threads")}, "`")
        for table in ("pretrain", "strategy_kwargs", "optimizer_kwargs", "executor_kwargs"):
            check_all(getattr(config, table), f"`{table.removesuffix('_kwargs')}.")
    except BoundError as err:
        raise ConfigError(str(err).replace(" must", "` must", 1)) from None
    if isinstance(config.screen_keep, bool) or not 0 < config.screen_keep <= 1:
        raise ConfigError(f"`screen_keep` must be a share in (0, 1], got {config.screen_keep!r:.200}")
    if config.labels >= config.budget:
        raise ConfigError(f"`labels` ({config.labels}) must be below `budget` ({config.budget}): labels count as queries")
    config.objectives = _objectives(config.objectives, "config")
    try:
        config.constraints = tuple(c.text for c in parse_constraints(_constraints(config.constraints, "config")))
    except ConstraintError as err:
        raise ConfigError(f"`constraints`: {err}") from None
