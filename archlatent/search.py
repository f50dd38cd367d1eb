"""`search()`: the one loop where a space, a strategy and an evaluator meet.

ask -> canonicalize -> dedupe by key -> evaluate only new architectures -> tell -> journal. The
budget counts distinct architectures evaluated, including the labelled ones a model was trained on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import Evaluator
from archlatent.genotype import Genotype
from archlatent.journal import Journal
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import Strategy

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    """What a search found and what it cost."""

    best: dict[str, Any]
    history: list[dict[str, Any]]
    queries: int
    label_queries: int
    repeats: int = 0
    invalid: int = 0
    stopped: str = "budget"
    seconds: float = 0.0
    #: Every architecture evaluated (labels included) and its metrics, by key.
    evaluated: dict[str, Genotype] = field(default_factory=dict, repr=False)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (without the genotype objects and per-key metric dicts)."""
        out = asdict(self)
        out.pop("evaluated")
        out.pop("metrics")
        return out


class SearchError(ArchLatentError):
    """The search could not go on (bad budget, a failing evaluator); the journal keeps what was done."""


def search(
    space: SearchSpace,
    strategy: Strategy,
    evaluator: Evaluator,
    budget: int,
    *,
    metric: str = "valid_acc",
    report: str = "test_acc",
    labelled: Mapping[Genotype, Mapping[str, float]] | None = None,
    journal: Journal | None = None,
    patience: int = 100,
    progress: Callable[[SearchResult], None] | None = None,
) -> SearchResult:
    """Run `strategy` until `budget` distinct architectures are evaluated (maximizing `metric`).

    `labelled` holds architectures already paid for (e.g. a score head's training labels): they count
    against the budget, seed the strategy and can be the best. `journal` entries are reused without
    calling the evaluator, so a resumed run pays for nothing twice. The search stops early when the
    strategy proposes no new architecture in `patience` consecutive asks.
    """
    labelled = dict(labelled or {})
    if budget <= len(labelled):
        raise SearchError(f"budget {budget} leaves nothing to search after {len(labelled)} labelled architectures")
    start = time.perf_counter()
    replay = {r["key"]: r["metrics"] for r in journal.records()} if journal else {}
    result = SearchResult(best={}, history=[], queries=0, label_queries=len(labelled))
    cache = result.metrics

    def record(g: Genotype, metrics: Mapping[str, float], label: bool) -> None:
        key = g.key()
        cache[key] = dict(metrics)
        result.evaluated[key] = g
        result.queries += 1
        entry = {"query": result.queries, "arch": space.format(g), "key": key, "label": label}
        entry.update({m: metrics[m] for m in (metric, report) if m in metrics})
        if not result.best or metrics[metric] > result.best[metric]:
            result.best = {"arch": entry["arch"], "key": key, **metrics}
        entry["best_" + metric] = result.best[metric]
        if report in result.best:
            entry["best_" + report] = result.best[report]
        result.history.append(entry)

    for g, metrics in labelled.items():
        if space.canonicalize(g).key() not in cache:
            record(space.canonicalize(g), metrics, label=True)
    if labelled:
        strategy.warm_start(list(result.evaluated.values()), [cache[k][metric] for k in result.evaluated])

    idle = 0
    while result.queries < budget:
        proposals = strategy.ask()
        genotypes: list[Genotype | None] = []
        answers: list[dict[str, float] | None] = []
        fresh = False
        for proposal in proposals:
            g = None if proposal is None else space.canonicalize(proposal)
            key = None if g is None else g.key()
            if g is None:
                result.invalid += 1
            elif key in cache:
                result.repeats += 1
            elif result.queries < budget:  # once the budget is spent nothing more is evaluated
                record(g, replay[key] if key in replay else _evaluate(evaluator, space, g, journal), label=False)
                fresh = True
            genotypes.append(g)
            answers.append(cache.get(key) if key else None)
        strategy.tell(genotypes, [None if a is None else a[metric] for a in answers], answers)
        if progress is not None:
            progress(result)
        idle = 0 if fresh else idle + 1
        if idle >= patience:
            if not result.queries:
                raise SearchError(f"the strategy proposed no valid new architecture in {patience} asks "
                                  f"({result.invalid} invalid decodes); is its model trained for this space?")
            result.stopped = "stalled"
            log.warning("strategy proposed no new architecture in %d asks; stopping at %d queries", patience, result.queries)
            break
    result.seconds = time.perf_counter() - start
    return result


def _evaluate(evaluator: Evaluator, space: SearchSpace, g: Genotype, journal: Journal | None) -> dict[str, float]:
    """Evaluate one new architecture and journal it before anything else happens."""
    text = space.format(g)
    try:
        metrics = evaluator.evaluate([g])[0]
    except Exception as err:
        saved = f"; the {len(journal.records())} evaluations before it are saved in {journal.path}" if journal else ""
        raise SearchError(f"evaluating {text} failed: {err}{saved}") from err
    if journal is not None:
        journal.append(g.key(), text, metrics)
    return metrics
