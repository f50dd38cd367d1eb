"""Plugin settings checked against the plugin's constructor before any work starts.

A config's ``[strategy]``, ``[optimizer]``, ``[evaluator]`` and ``[executor]`` tables (and
``[pretrain]``) reach a plugin only once it is built, which for a latent strategy's optimizer is
after pretraining. `check_config` reads each plugin's constructor signature instead: a setting it
does not take, a value whose type does not fit the annotation (``population = "big"`` where an
``int`` is expected) or several objectives for a single-objective strategy or optimizer is one
ConfigError naming the setting, in well under a second. Ranges stay the plugins' own checks.
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from archlatent.config import ConfigError, SearchConfig
from archlatent.registry import Registry

_UNKNOWN = object()  # an annotation this module does not check


def check_config(config: SearchConfig) -> None:
    """ConfigError for the first plugin setting of `config` its plugin cannot take (see module doc)."""
    from archlatent.evaluators.base import EVALUATORS
    from archlatent.executors import EXECUTORS
    from archlatent.optimizers import OPTIMIZERS
    from archlatent.strategies import STRATEGIES

    strategy = STRATEGIES.get(config.strategy)
    settings = dict(config.strategy_kwargs)
    if strategy.needs_model:  # its stage switches are the stages' settings, checked as `build` makes them
        from archlatent.run import STAGE_SETTINGS

        settings = {k: v for k, v in settings.items() if k not in STAGE_SETTINGS}
    check_settings(STRATEGIES, config.strategy, settings, "strategy")
    check_settings(EVALUATORS, config.evaluator, config.evaluator_kwargs, "evaluator")
    check_settings(EXECUTORS, config.executor, config.executor_kwargs, "executor")
    if strategy.needs_model:
        check_settings(OPTIMIZERS, config.optimizer, config.optimizer_kwargs, "optimizer")
        if config.checkpoint is None:
            check_pretrain(config.encoder, config.pretrain)
    if len(config.objectives) > 1:
        _check_objective_count(config, strategy, OPTIMIZERS)


def check_settings(registry: Registry[Any], name: str, settings: Mapping[str, Any], table: str) -> None:
    """ConfigError unless plugin `name` of `registry` takes every one of `settings` with a value of its
    annotated type; `table` is the config table they came from (said in the message)."""
    factory = registry._factory(registry.get(name))
    params = _params([factory], exclude=registry.provided)
    unknown = sorted(set(settings) - set(params))
    if unknown and not _takes_var_kwargs(factory):
        known = ", ".join(sorted(params)) or "none"
        raise ConfigError(f"{registry.kind} {name!r} has no setting(s) {unknown}; it has: {known}")
    _check_types(settings, params, f"{registry.kind} {name!r}", table)


def check_pretrain(encoder: str, settings: Mapping[str, Any]) -> None:
    """ConfigError unless `settings` (``[pretrain]``) are `pretrain`'s or encoder `encoder`'s settings,
    or ``members``, each of its annotated type."""
    from archlatent.encoders import ENCODERS, pretrain

    cls = ENCODERS.get(encoder)
    inits = [k.__init__ for k in cls.__mro__ if "__init__" in vars(k) and k.__module__.startswith("archlatent")]
    skip = ("space", "encoder_name", "labels", "label_budget", "progress", "data", "device", "seed", "stop_at", "threads")
    params = _params([inspect.unwrap(pretrain), *inits], exclude=skip)
    params["members"] = int
    unknown = sorted(set(settings) - set(params))
    if unknown:
        raise ConfigError(f"[pretrain] has no setting(s) {unknown} for encoder {encoder!r}; it has: "
                          f"{', '.join(sorted(params))}")
    _check_types(settings, params, f"pretraining a {encoder!r} model", "pretrain")


def _check_objective_count(config: SearchConfig, strategy: type, optimizers: Registry[Any]) -> None:
    """Several objectives need a multi-objective strategy and, for the latent one, optimizer."""
    many = [n for n in optimizers.names() if optimizers.get(n).multi_objective]
    if not strategy.multi_objective:
        raise ConfigError(f"strategy {config.strategy!r} is single-objective, but objectives are "
                          f"{list(config.objectives)}: use the latent strategy with {' or '.join(many)}")
    if strategy.needs_model and not optimizers.get(config.optimizer).multi_objective:
        raise ConfigError(f"optimizer {config.optimizer!r} is single-objective, but objectives are "
                          f"{list(config.objectives)}: use optimizer {' or '.join(many)}")


def _params(functions: Sequence[Callable[..., Any]], exclude: Sequence[str]) -> dict[str, Any]:
    """Keyword parameter -> resolved annotation (`_UNKNOWN` where it does not resolve), first function first."""
    out: dict[str, Any] = {}
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for function in functions:
        namespace = getattr(inspect.unwrap(function), "__globals__", {})
        for p in inspect.signature(function).parameters.values():
            if p.kind in kinds and p.name not in ("self", "cls", *exclude) and p.name not in out:
                out[p.name] = _resolve(p.annotation, namespace)
    return out


def _resolve(annotation: Any, namespace: Mapping[str, Any]) -> Any:
    if annotation is inspect.Parameter.empty:
        return _UNKNOWN
    if isinstance(annotation, str):
        try:
            return eval(annotation, dict(namespace))  # as typing.get_type_hints does, one annotation at a time
        except (NameError, AttributeError, TypeError, SyntaxError):  # a name imported for type checkers only
            return _UNKNOWN
    return annotation


def _check_types(settings: Mapping[str, Any], params: Mapping[str, Any], owner: str, table: str) -> None:
    for key, value in settings.items():
        hint = params.get(key, _UNKNOWN)
        if _fits(value, hint) is False:
            raise ConfigError(f"[{table}] {key} = {value!r:.80} is not {_describe(hint)} (a setting of {owner})")


def _fits(value: Any, hint: Any) -> bool | None:
    """Whether `value` fits `hint`; None where this module cannot tell (then it is let through)."""
    if hint is _UNKNOWN or hint is Any:
        return None
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        answers = [_fits(value, a) for a in args]
        return True if True in answers else (None if None in answers else False)
    if origin is typing.Literal:
        return value in args
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if hint is os.PathLike or origin is os.PathLike:
        return isinstance(value, (str, os.PathLike))
    if origin in (list, tuple, Sequence, typing.Sequence):
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) is not False for v in value) if args else None
    if origin in (dict, Mapping, typing.Mapping):
        return isinstance(value, Mapping)
    return None


_SCALARS: dict[Any, Callable[[Any], bool]] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}
_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null", None: "null"}


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(a) for a in args))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (list, tuple, Sequence, typing.Sequence):
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if hint is os.PathLike or origin is os.PathLike:
        return "a path"
    if origin in (dict, Mapping, typing.Mapping):
        return "a table"
    return _WORDS.get(hint, getattr(hint, "__name__", str(hint)))


def _takes_var_kwargs(function: Callable[..., Any]) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(function).parameters.values())
