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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import archlatent.evaluators.supernet
import archlatent.evaluators.tabular
import archlatent.evaluators.zerocost  # noqa: F401
from archlatent.config import SearchConfig
from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.evaluators.base import EVALUATORS, Evaluator
from archlatent.executors import EXECUTORS
from archlatent.genotype import Genotype
from archlatent.journal import Journal
from archlatent.labels import read_labels
from archlatent.objectives import check_objectives, is_test_metric
from archlatent.optimizers import OPTIMIZERS
from archlatent.plugin_settings import check_config
from archlatent.run_notes import PretrainWatch, report_note, screen_off_note
from archlatent.screen import Screen
from archlatent.search import SearchResult, search
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.pool import PoolSpace
from archlatent.strategies import STRATEGIES, Strategy
from archlatent.threads import scoped_threads

log = logging.getLogger(__name__)

#: Config keys that may change between a run and its resume (they do not change what is evaluated).
RESUMABLE = ("budget", "out", "threads", "executor")


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
    screen: Screen | None = None
    screened_settings: dict[str, Any] = field(default_factory=dict)  # optimizer defaults the screen filled in


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
    if evaluator is None:
        evaluator = EVALUATORS.create(
            config.evaluator, base, dataset=config.dataset, seed=config.seed, **config.evaluator_kwargs
        )
    objectives = check_objectives(config.objectives, evaluator.metrics, allow_test=config.allow_test_objective)
    parts = Parts(config, base, evaluator, strategy=None)  # type: ignore[arg-type]
    parts.notes += filter(None, [report_note(config.report, evaluator)])
    if config.screen == "auto":
        short = evaluator.fidelities(objectives[0]) if len(objectives) == 1 else ()
        config = parts.config = config.replace(screen=short[0] if short else "none")  # record what it chose
        if short:
            parts.notes.append(f"screen: each ask's new architectures are answered by {short[0]} first and only the "
                               f"best {config.screen_keep:.0%} evaluated (cheap answers counted apart; --screen none "
                               "turns it off)")
        elif len(objectives) == 1:
            parts.notes += filter(None, [screen_off_note(evaluator, objectives[0])])
    if config.screen != "none":
        if is_test_metric(config.screen) and not config.allow_test_objective:
            raise ArchLatentError(f"screen {config.screen!r} is a test-set metric; screen on a validation metric")
        cheap, share = evaluator.fidelity(config.screen)
        parts.screen = Screen(cheap, config.screen, config.screen_keep, share)
    pool = getattr(evaluator, "pool", None)
    if pool is not None:
        parts.space = PoolSpace(base, pool)
        parts.notes.append(f"pool mode: the table holds {len(parts.space)} distinct {base.name} cells, so the "
                           "search is restricted to them (latent decodes snap to the nearest pool member)")
    cls = STRATEGIES.get(config.strategy)
    kwargs: dict[str, Any] = dict(config.strategy_kwargs)
    if cls.needs_model:
        if model is None:
            watch = PretrainWatch(pretrain_progress)
            model, labelled = _model(config, base, evaluator, watch)
            parts.notes += filter(None, [watch.note(config.encoder)])
        if config.checkpoint is not None and getattr(model, "name", config.encoder) != config.encoder:
            config = parts.config = config.replace(encoder=model.name)  # record what the checkpoint holds
        kwargs.update(model=model, optimizer=config.optimizer, optimizer_kwargs=_optimizer_settings(parts))
    parts.model, parts.labelled = model, {g: dict(m) for g, m in (labelled or {}).items()}
    parts.strategy = STRATEGIES.create(config.strategy, parts.space, objectives=objectives, seed=config.seed, **kwargs)
    return parts


def _optimizer_settings(parts: Parts) -> dict[str, Any]:
    """The config's optimizer settings; under a screen, the optimizer's `screened_settings` fill in the
    ones not given (said in `Parts.notes`)."""
    given = dict(parts.config.optimizer_kwargs)
    if parts.screen is None:
        return given
    extra = {k: v for k, v in OPTIMIZERS.get(parts.config.optimizer).screened_settings.items() if k not in given}
    if extra:
        said = ", ".join(f"{k} {v}" for k, v in extra.items())
        parts.notes.append(f"{parts.config.optimizer}: {said} under the screen (its screened defaults)")
    parts.screened_settings = extra
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
                        screen=parts.screen)
    finally:
        executor.close()
        for opened in (journal, parts.screen and parts.screen.journal):
            if opened is not None:
                opened.close()
    result.provenance = dict(parts.evaluator.provenance)
    result.notes = list(parts.notes)
    if len(result.objectives) > 1:
        from archlatent.pareto import front_report

        everything = getattr(parts.evaluator, "all_metrics", lambda: None)()
        result.pareto = front_report(list(result.metrics.values()), everything, result.objectives)
        keys = list(result.metrics)
        result.pareto["front"] = [
            {"arch": parts.space.format(result.evaluated[keys[i]]), **result.metrics[keys[i]]} for i in result.pareto["front"]
        ]
    return result


def identity(parts: Parts) -> dict[str, Any]:
    """What pins a journal to its run: the config less what a resume may change, plus the model's weights
    and any optimizer defaults the screen filled in (a run journaled before they changed is not resumed
    with other ones)."""
    ident = {k: v for k, v in parts.config.to_dict().items() if k not in RESUMABLE}
    if parts.screened_settings:
        ident["screened_settings"] = dict(parts.screened_settings)
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
        members,
        preset,
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
        settings = preset(space.name, config.encoder, **config.pretrain)
        count = settings.pop("members", None)
        count = members(space.name, config.encoder) if count is None else count
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
