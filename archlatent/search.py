"""`search()`: the one loop where a space, a strategy and an evaluator meet.

ask -> canonicalize -> dedupe by key -> evaluate only new architectures -> tell -> journal. The
budget counts distinct architectures evaluated, including the labelled ones a model was trained on.
With a `Screen`, each ask's new architectures get a cheap answer first and only the best of them
the full evaluation; the cheap answers are counted (and charged) apart. This loop is the one place
that knows what was seen: it tells the strategy the fate of each proposal and lends it a read-only
view of the evaluated keys.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import Evaluator
from archlatent.executors.base import Executor, LocalExecutor
from archlatent.genotype import Genotype
from archlatent.journal import Journal
from archlatent.objectives import signed
from archlatent.screen import Screen
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import Strategy, Told
from archlatent.threads import scoped_threads

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    """What a search found and what it cost.

    ``proposals`` counts every architecture the strategy proposed, ``invalid`` those that were no
    valid architecture of the space and ``repeats`` those evaluated before (free).
    """

    best: dict[str, Any]
    history: list[dict[str, Any]]
    queries: int
    label_queries: int
    objectives: tuple[str, ...] = ("valid_acc",)
    proposals: int = 0
    repeats: int = 0
    invalid: int = 0
    stopped: str = "budget"
    seconds: float = 0.0
    #: Cheap answers of a `Screen` (not queries) and what they cost, in full evaluations.
    screened: int = 0
    screen_cost: float = 0.0
    #: Where the answers came from (the evaluator's provenance), what assembling the run noted, and
    #: for several objectives the Pareto front of everything evaluated (set by `run_search`).
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pareto: dict[str, Any] | None = None
    #: Every architecture evaluated (labels included) and its metrics, by key.
    evaluated: dict[str, Genotype] = field(default_factory=dict, repr=False)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    @property
    def valid_share(self) -> float:
        """Share of the proposals that were valid architectures (1.0 before any proposal)."""
        return 1.0 - self.invalid / self.proposals if self.proposals else 1.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (without the genotype objects and per-key metric dicts)."""
        out = asdict(self)
        out.pop("evaluated")
        out.pop("metrics")
        out["objectives"] = list(self.objectives)
        out["valid_share"] = self.valid_share
        return out


class SearchError(ArchLatentError):
    """The search could not go on (bad budget, a failing evaluator); the journal keeps what was done."""


@scoped_threads
def search(
    space: SearchSpace,
    strategy: Strategy,
    evaluator: Evaluator,
    budget: int,
    *,
    report: str = "test_acc",
    labelled: Mapping[Genotype, Mapping[str, float]] | None = None,
    journal: Journal | None = None,
    patience: int = 100,
    progress: Callable[[SearchResult], None] | None = None,
    executor: Executor | None = None,
    stop: Callable[[SearchResult], bool] | None = None,
    screen: Screen | None = None,
    threads: int | None = 1,
) -> SearchResult:
    """Run `strategy` until `budget` distinct architectures are evaluated.

    The best architecture is the best by the strategy's first objective (``strategy.objectives``:
    the objective is named once, on the strategy); `report` is carried along for each best
    (the test accuracy of the best-by-validation architecture). `labelled` holds architectures
    already paid for (e.g. a score head's training labels): they count against the budget, seed the
    strategy and can be the best. `journal` entries are reused without calling the evaluator, so a
    resumed run pays for nothing twice. The search stops early when the strategy proposes no new
    architecture in `patience` consecutive asks, or once `stop(result)` holds (say, the target
    architecture was found). `progress` is called after every ask. `executor` evaluates each ask's
    new architectures (default: here, in order; `archlatent.executors`). `screen` answers each
    ask's new architectures cheaply first and sends only its best share on to `evaluator`. Torch
    runs on `threads` intra-op threads during the call (0: torch's own; `archlatent.threads`).
    """
    labelled = dict(labelled or {})
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= len(labelled):
        raise SearchError(f"budget {budget!r} leaves nothing to search after {len(labelled)} labelled architectures")
    start = time.perf_counter()
    executor = executor or LocalExecutor()
    metric = strategy.objectives[0]
    replay = {r["key"]: r["metrics"] for r in journal.records()} if journal else {}
    cheap: dict[str, float] = {}  # the screen's answers, by key
    screen_replay = {r["key"]: r["metrics"] for r in screen.journal.records()} if screen and screen.journal else {}
    result = SearchResult(best={}, history=[], queries=0, label_queries=len(labelled), objectives=strategy.objectives)
    cache = result.metrics
    strategy.attach(cache.keys())

    def record(g: Genotype, metrics: Mapping[str, float], label: bool) -> None:
        if metric not in metrics:
            where = f"journal {journal.path}" if journal is not None and g.key() in replay else "the evaluator"
            raise SearchError(f"{where} gives no {metric!r} for {space.format(g)[:200]}; it gives {sorted(metrics)}")
        key = g.key()
        cache[key] = dict(metrics)
        result.evaluated[key] = g
        result.queries += 1
        entry = {"query": result.queries, "arch": space.format(g), "key": key, "label": label}
        entry.update({m: metrics[m] for m in dict.fromkeys((*strategy.objectives, report)) if m in metrics})
        if not result.best or signed(metric, metrics[metric]) < signed(metric, result.best[metric]):
            result.best = {"arch": entry["arch"], "key": key, **metrics}
        entry["best_" + metric] = result.best[metric]
        if report in result.best:
            entry["best_" + report] = result.best[report]
        if screen is not None:
            entry.update(screened=result.screened, screen_cost=result.screen_cost)
        result.history.append(entry)

    for g, metrics in labelled.items():
        g = space.canonicalize(g)
        if g.key() not in cache:
            record(g, metrics, label=True)
    if labelled:
        strategy.warm_start(list(result.evaluated.values()), list(cache.values()))

    idle = 0
    while result.queries < budget and not (stop is not None and stop(result)):
        asked = [None if p is None else space.canonicalize(p) for p in strategy.ask()]
        result.proposals += len(asked)
        pending: dict[str, Genotype] = {}  # new keys of this ask, in ask order (best cheap answer first with a screen)
        for g in asked:
            if g is not None and g.key() not in cache and g.key() not in pending:
                pending[g.key()] = g
        if screen is not None and pending:
            pending = _screened(screen, space, pending, cheap, screen_replay, result, executor)
        pending = dict(list(pending.items())[: budget - result.queries])  # within the budget
        metrics = {k: replay[k] for k in pending if k in replay}
        missing = [g for k, g in pending.items() if k not in replay]
        if missing:
            metrics.update(_evaluate(executor, evaluator, space, missing, journal))
        for key, g in pending.items():  # recorded in evaluation order: a screened ask's best cheap answer first
            record(g, metrics[key], label=False)
        told: list[Told] = []
        fresh = set(pending)
        for g in asked:
            key = None if g is None else g.key()
            if g is None:
                result.invalid += 1
                told.append(Told(None, None, "invalid"))
            elif key in fresh:
                fresh.discard(key)
                told.append(Told(g, cache[key], "new"))
            elif key in cache:
                result.repeats += 1
                told.append(Told(g, cache[key], "repeat"))
            else:  # screened out, or the budget is spent: nothing more is evaluated
                told.append(Told(g, None, "skipped"))
        strategy.tell(told)
        if progress is not None:
            progress(result)
        idle = 0 if pending else idle + 1
        if idle >= patience:
            if not result.queries:
                raise SearchError(f"the strategy proposed no valid new architecture in {patience} asks "
                                  f"({result.invalid} invalid decodes); is its model trained for this space?")
            result.stopped = "stalled"
            log.warning("strategy proposed no new architecture in %d asks; stopping at %d queries", patience, result.queries)
            break
    if stop is not None and stop(result):
        result.stopped = "stop"
    result.seconds = time.perf_counter() - start
    return result


def _screened(
    screen: Screen,
    space: SearchSpace,
    pending: dict[str, Genotype],
    cheap: dict[str, float],
    replay: Mapping[str, Mapping[str, float]],
    result: SearchResult,
    executor: Executor,
) -> dict[str, Genotype]:
    """The best `screen.kept` of `pending` by the screen's answer, best first; architectures without
    a cheap answer get one (from the screen's journal when a resumed run has it, else paid for). An
    ask that would keep all of its candidates (a single one, say) is not screened: nothing to choose."""
    if screen.kept(len(pending)) >= len(pending):
        return pending
    fresh = [g for k, g in pending.items() if k not in cheap]
    answers = {k: replay[k] for k in (g.key() for g in fresh) if k in replay}
    missing = [g for g in fresh if g.key() not in replay]
    if missing:
        answers.update(_evaluate(executor, screen.evaluator, space, missing, screen.journal))
    for g in fresh:
        if screen.metric not in answers[g.key()]:
            raise SearchError(f"the screen gives no {screen.metric!r} for {space.format(g)[:200]}")
        cheap[g.key()] = answers[g.key()][screen.metric]
        result.screened += 1
        result.screen_cost += screen.share
    order = sorted(pending, key=lambda k: signed(screen.metric, cheap[k]))  # stable: ties keep ask order
    return {k: pending[k] for k in order[: screen.kept(len(pending))]}


def _evaluate(
    executor: Executor, evaluator: Evaluator, space: SearchSpace, genotypes: list[Genotype], journal: Journal | None
) -> dict[str, dict[str, float]]:
    """Evaluate new architectures; each result is checked and journaled as soon as it arrives."""
    out: dict[str, dict[str, float]] = {}
    for index, outcome in executor.run(evaluator, genotypes):
        text = space.format(genotypes[index])
        if isinstance(outcome, BaseException):
            saved = f"; the {len(journal.records())} evaluations before it are saved in {journal.path}" if journal else ""
            raise SearchError(f"evaluating {text[:200]} failed: {outcome}{saved}") from outcome
        bad = sorted(k for k, v in outcome.items() if not (isinstance(v, (int, float)) and math.isfinite(v)))
        if bad:
            raise SearchError(f"the evaluator answered {text[:200]} with non-finite {bad}; nothing was recorded for it")
        if journal is not None:
            journal.append(genotypes[index].key(), text, outcome)
        out[genotypes[index].key()] = outcome
    return out
