"""The library's front door: assemble a configured run (`build`) and run it (`run_search`).

    from archlatent import SearchConfig, run_search
    result = run_search(SearchConfig(space="nb201", optimizer="nao", budget=100))
    print(result.best["arch"], result.best["test_acc"])

`build` is the only code that knows every plugin family: it looks each part up in its registry
by the name the config gives and hands it the config's settings. The CLI turns flags into a
`SearchConfig`, draws progress and writes files; it assembles nothing itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlatent.config import RESUMABLE, SearchConfig
from archlatent.constraints import check_constraints, parse_constraints
from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.evaluators import EVALUATORS, Evaluator
from archlatent.evaluators.proxy_fidelity import ProxyFidelity
from archlatent.executors import EXECUTORS
from archlatent.genotype import Genotype
from archlatent.journal import Journal
from archlatent.labels import read_labels
from archlatent.objectives import check_objectives, is_test_metric
from archlatent.plugin_settings import check_config
from archlatent.recipes import Recipe, check_recipe, recipe
from archlatent.run_notes import PretrainWatch, report_note, screen_off_note
from archlatent.search import SearchResult, search
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.pool import PoolSpace
from archlatent.stages import STAGES, Stage
from archlatent.stages.screen import Screen
from archlatent.strategies import STRATEGIES, Strategy
from archlatent.threads import scoped_threads

log = logging.getLogger(__name__)

__all__ = ["RESUMABLE", "Parts", "build", "identity", "run_search"]


@dataclass
class Parts:
    """The assembled pieces of one run; `build` returns them, `run_search` runs them."""

    config: SearchConfig
    space: SearchSpace
    evaluator: Evaluator
    strategy: Strategy
    model: Any = None
    labelled: dict[Genotype, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)

    @property
    def screen(self) -> Screen | None:
        """The screen stage, if the run has one."""
        return next((s for s in self.stages if isinstance(s, Screen)), None)


@scoped_threads
def build(
    config: SearchConfig,
    *,
    model: Any = None,
    labelled: Mapping[Genotype, Mapping[str, float]] | None = None,
    evaluator: Evaluator | None = None,
    pretrain_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Parts:
    """The space, evaluator, model and strategy `config` names, ready for `search`.

    `model`, `labelled` and `evaluator` reuse parts built before (the benchmark harness shares one
    table and one pretrained model across its runs). A tabular evaluator whose table does not cover
    the space restricts the search to the table's cells (pool mode, said in `Parts.notes`). Every
    plugin setting is checked before any work (`archlatent.plugin_settings`).
    """
    check_config(config)
    base = get_space(config.space)
    check_recipe(config.recipe, base.name)
    rules = recipe(base.name)
    config = config.replace(recipe=rules.to_dict())  # recorded whole
    if evaluator is None:
        evaluator = EVALUATORS.create(
            config.evaluator, base, dataset=config.dataset, seed=config.seed, **config.evaluator_kwargs
        )
    objectives = check_objectives(config.objectives, evaluator.metrics, allow_test=config.allow_test_objective)
    parts = Parts(config, base, evaluator, strategy=None)  # type: ignore[arg-type]
    parts.notes += filter(None, [report_note(config.report, evaluator)])
    first = _constrain(parts)  # before the model: a constraint no cell meets is refused before pretraining
    screen = _screen(parts, objectives)
    pool = getattr(evaluator, "pool", None)
    if pool is not None:
        parts.space = PoolSpace(base, pool)
        parts.notes.append(f"pool mode: the table holds {len(parts.space)} distinct {base.name} cells, so the "
                           "search is restricted to them (latent decodes snap to the nearest pool member)")
    cls = STRATEGIES.get(parts.config.strategy)
    kwargs: dict[str, Any] = {**(rules.strategy if cls.needs_model else {}), **parts.config.strategy_kwargs}
    name = parts.config.strategy
    if cls.needs_model:
        parts.stages = _latent_stages(rules, kwargs, objectives)
        if model is None:
            watch = PretrainWatch(pretrain_progress)
            model, labelled = _model(parts.config, base, evaluator, watch)
            parts.notes += filter(None, [watch.note(parts.config.encoder)])
        if parts.config.checkpoint is not None and getattr(model, "name", parts.config.encoder) != parts.config.encoder:
            parts.config = parts.config.replace(encoder=model.name)  # record what the checkpoint holds
        kwargs.update(model=model, optimizer=parts.config.optimizer, optimizer_kwargs=_optimizer_settings(parts, rules, screen))
        if name == "latent" and isinstance(model, Sequence) and len(model) > 1:
            name = "portfolio"  # one latent strategy per autoencoder, sharing every answer
    parts.stages = first + parts.stages + ([screen] if screen is not None else [])
    parts.model, parts.labelled = model, {g: dict(m) for g, m in (labelled or {}).items()}
    parts.strategy = STRATEGIES.create(name, parts.space, objectives=objectives, seed=parts.config.seed, **kwargs)
    return parts


def _constrain(parts: Parts) -> list[Stage]:
    """The constraint stage, first of every strategy's stages, when the config has constraints (each
    checked against the evaluator's free costs and, over a table, against its cells)."""
    constraints = parse_constraints(parts.config.constraints)
    if not constraints:
        return []
    check_constraints(constraints, parts.evaluator)
    parts.notes.append(f"constraints {', '.join(c.text for c in constraints)}: each proposal's costs are answered "
                       "free first and cells that break one are never queried for accuracy (told infeasible, "
                       "counted apart); the best is the best feasible cell")
    return [STAGES.create("constraint", evaluator=parts.evaluator, constraints=constraints)]


def _screen(parts: Parts, objectives: tuple[str, ...]) -> Screen | None:
    """The config's screen (``auto``: the objective's cheapest fidelity, recorded in the config)."""
    config, evaluator = parts.config, parts.evaluator
    if config.screen == "auto":
        short = evaluator.fidelities(objectives[0]) if len(objectives) == 1 else ()
        config = parts.config = config.replace(screen=short[0] if short else "none")  # record what it chose
        if short:
            parts.notes.append(f"screen: each ask's new architectures are answered by {short[0]} first and only the "
                               f"best {config.screen_keep:.0%} evaluated (cheap answers counted apart; --screen none "
                               "turns it off)")
        elif len(objectives) == 1:
            parts.notes += filter(None, [screen_off_note(evaluator, objectives[0])])
    if config.screen == "none":
        return None
    if is_test_metric(config.screen) and not config.allow_test_objective:
        raise ArchLatentError(f"screen {config.screen!r} is a test-set metric; screen on a validation metric")
    if config.screen.startswith("zc_"):  # a zero-cost proxy (unknown ones are refused by name)
        parts.notes.append(f"screen: each ask's new architectures are scored by {config.screen} at initialization "
                           f"first and only the best {config.screen_keep:.0%} evaluated; each score is charged its "
                           "measured seconds over the cell's recorded training time (0 where the evaluator records "
                           "none; screen_seconds in the records)")
        proxy = ProxyFidelity(parts.space, evaluator, config.screen, seed=config.seed)
        return Screen(proxy, config.screen, config.screen_keep, 0.0)
    cheap, share = evaluator.fidelity(config.screen)
    return Screen(cheap, config.screen, config.screen_keep, share)


#: Strategy settings that are a latent strategy's stages (``[strategy] neighbours = 0``, ``--no-rank``).
STAGE_SETTINGS = ("repair", "neighbours", "rank")


def _latent_stages(rules: Recipe, kwargs: dict[str, Any], objectives: tuple[str, ...]) -> list[Stage]:
    """The recipe's stages, as the strategy settings `repair`, `neighbours` and `rank` (taken out of
    `kwargs`) switch them; neighbours default to none for several objectives."""
    switches = {k: kwargs.pop(k) for k in STAGE_SETTINGS if k in kwargs}
    for key in ("repair", "rank"):
        if not isinstance(switches.get(key, True), bool):
            raise ArchLatentError(f"latent: {key} must be true or false, got {switches[key]!r}")
    stages = []
    for name, settings in rules.stages:
        settings = dict(settings)
        if name == "neighbours":
            settings["count"] = switches.get("neighbours", settings["count"] if len(objectives) == 1 else 0)
        elif switches.get(name, True) is False:
            continue
        stages.append(STAGES.create(name, **settings))
        if name == "neighbours" and settings["count"] and len(objectives) > 1:
            raise ArchLatentError("latent: neighbours (of the best architecture) needs a single objective")
    return stages


def _optimizer_settings(parts: Parts, rules: Recipe, screen: Screen | None) -> dict[str, Any]:
    """The config's optimizer settings; under a screen, the recipe's screened settings for the
    optimizer fill in the ones not given (said in `Parts.notes`)."""
    given = dict(parts.config.optimizer_kwargs)
    if screen is None:
        return given
    extra = {k: v for k, v in rules.screened.get(parts.config.optimizer, {}).items() if k not in given}
    if extra:
        said = ", ".join(f"{k} {v}" for k, v in extra.items())
        parts.notes.append(f"{parts.config.optimizer}: {said} under the screen (the {rules.space} recipe)")
    return {**extra, **given}


@scoped_threads
def run_search(
    config: SearchConfig,
    *,
    progress: Callable[[SearchResult], None] | None = None,
    pretrain_progress: Callable[[dict[str, Any]], None] | None = None,
    parts: Parts | None = None,
    stop: Callable[[SearchResult], bool] | None = None,
) -> SearchResult:
    """Build and run `config`; journaled (and resumable) in ``config.out`` when it is set.

    The result carries the evaluator's provenance, the notes of `build` and, for several
    objectives, the Pareto front of everything evaluated (`SearchResult.pareto`). Torch runs on
    ``config.threads`` intra-op threads during the call (`archlatent.threads`).
    """
    parts = parts or build(config, pretrain_progress=pretrain_progress)
    journal = None
    if config.out is not None:
        journal = Journal(Path(config.out) / "journal.sqlite", identity(parts))
        if parts.screen is not None:
            parts.screen.journal = Journal(Path(config.out) / "screen.sqlite", identity(parts))
    executor = EXECUTORS.create(config.executor, **config.executor_kwargs)
    try:
        result = search(parts.space, parts.strategy, parts.evaluator, config.budget, report=config.report,
                        labelled=parts.labelled, journal=journal, progress=progress, stop=stop, executor=executor,
                        stages=parts.stages)
    finally:
        executor.close()
        for opened in (journal, parts.screen and parts.screen.journal):
            if opened is not None:
                opened.close()
    result.provenance = dict(parts.evaluator.provenance)
    result.notes = list(parts.notes)
    result.constraints = list(config.constraints)
    if len(result.objectives) > 1:
        from archlatent.evaluators.tabular import TabularEvaluator
        from archlatent.fronts import class_metrics
        from archlatent.pareto import front_report

        everything = class_metrics(parts.evaluator) if isinstance(parts.evaluator, TabularEvaluator) else None
        result.pareto = front_report(list(result.metrics.values()), everything, result.objectives)
        keys = list(result.metrics)
        result.pareto["front"] = [
            {"arch": parts.space.format(result.evaluated[keys[i]]), **result.metrics[keys[i]]} for i in result.pareto["front"]
        ]
    return result


def identity(parts: Parts) -> dict[str, Any]:
    """What pins a journal to its run: the config (its recipe included) less what a resume may change,
    plus the model's weights."""
    ident = {k: v for k, v in parts.config.to_dict().items() if k not in RESUMABLE}
    if parts.model is not None:
        ident["model_weights"] = getattr(parts.model, "weights_sha256", None)
    return ident


def _model(
    config: SearchConfig, space: SearchSpace, evaluator: Evaluator, progress: Callable[[dict[str, Any]], None] | None
) -> tuple[Any, dict[Genotype, dict[str, float]]]:
    """(model, labelled metrics): the checkpoint, the run folder's own model (a resume), or pretrained
    here. The model is a `Portfolio` (of one, or of ``pretrain.members`` autoencoders)."""
    from archlatent.encoders import (
        Portfolio,
        holds_model,
        load_portfolio,
        member_folders,
        member_seeds,
        pretrain,
        read_metadata,
        save_portfolio,
    )

    own = Path(config.out) / "model" if config.out else None
    source = config.checkpoint or (str(own) if own is not None and holds_model(own) else None)
    if source is not None:
        model = load_portfolio(source, space=space)
        metas = [read_metadata(folder) for folder in member_folders(source)]
        if config.checkpoint is None and metas[0].get("encoder") != config.encoder:
            raise CheckpointError(f"{source} holds a {metas[0].get('encoder')!r} model, but the run asks for {config.encoder!r}")
        texts = [t for meta in metas for t in (meta.get("metrics") or {}).get("labelled") or []]
    else:
        labels, budget = _labels(config, space, evaluator)
        rules = recipe(space.name)
        given = {k: v for k, v in config.pretrain.items() if v is not None}
        settings = {**rules.presets.get(config.encoder, {}), **given}
        count = settings.pop("members", None)
        count = rules.members.get(config.encoder, 1) if count is None else count
        results = [pretrain(space, config.encoder, labels=labels, label_budget=budget, seed=s,
                            progress=_member_progress(progress, j, count), **settings)
                   for j, s in enumerate(member_seeds(config.seed, count))]
        model = Portfolio([r.model for r in results])
        texts = [t for r in results for t in r.metrics["labelled"]]
        if own is not None:
            save_portfolio(model, own, metrics=[r.metrics for r in results], table_sha256=evaluator.provenance.get("sha256"))
            for member, folder in zip(model, member_folders(own)):
                member.weights_sha256 = read_metadata(folder)["weights_sha256"]
    genotypes = list({g.key(): g for g in map(space.parse, texts)}.values())  # members may share labels
    labelled = dict(zip(genotypes, evaluator.evaluate(genotypes))) if genotypes else {}
    return model, labelled


def _member_progress(
    progress: Callable[[dict[str, Any]], None] | None, j: int, count: int
) -> Callable[[dict[str, Any]], None] | None:
    """`progress` with each pretraining record tagged ``member`` "j+1/count" (a portfolio's epochs
    restart per member)."""
    if progress is None or count == 1:
        return progress
    return lambda record: progress(dict(record, member=f"{j + 1}/{count}"))


def _labels(config: SearchConfig, space: SearchSpace, evaluator: Evaluator) -> tuple[dict | None, int | None]:
    """Labels for the score head: a labels file, or `labels` cells of the evaluator's table."""
    if config.labels_file:
        labels = read_labels(config.labels_file, space, config.objectives[0])
        return labels, len(labels)
    if not config.labels:
        return None, None
    table = getattr(evaluator, "table", None)
    if table is None:
        raise ArchLatentError("`labels` needs a benchmark table (the tabular evaluator) or a `labels_file`")
    return dict(zip(table.genotypes, table.metrics(config.dataset)[config.objectives[0]])), config.labels
