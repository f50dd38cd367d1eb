"""`search()`: the one loop where a space, a strategy and an evaluator meet.

ask -> stages -> canonicalize -> dedupe by key -> evaluate only new architectures (journaled) -> tell. The budget
counts distinct architectures evaluated, including the labelled ones a model was trained on.
Stages (`archlatent.stages`: constraint, repair, neighbours, rank, screen) reshape each ask on its way;
a screen's cheap answers are counted (and charged) apart, and so are a constraint stage's free cost
answers (it drops infeasible cells first: told ``infeasible``, never the best). This loop is the one
place that knows what was seen: it tells the strategy the fate of each proposal and lends it a read-only view of the
evaluated keys. The bookkeeping (records, the best, budget, patience, stop) lives in `Ledger` and
`Guard`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from archlatent.checks import is_int
from archlatent.evaluation import Answers, SearchError
from archlatent.evaluators.base import Evaluator
from archlatent.executors.base import Executor, LocalExecutor
from archlatent.genotype import Genotype
from archlatent.journal import Journal
from archlatent.objectives import signed
from archlatent.spaces.base import SearchSpace
from archlatent.stages.base import Ask, Context, Stage
from archlatent.strategies.base import Strategy, Told
from archlatent.threads import scoped_threads

__all__ = ["SearchError", "SearchResult", "search"]

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
    #: Free cost answers under constraints (not queries, not charged) and the proposals told
    #: infeasible (never evaluated); the constraints, as written.
    costed: int = 0
    infeasible: int = 0
    constraints: list[str] = field(default_factory=list)
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



class Ledger:
    """The run's records: every evaluation (labels included) in order, the best so far and the counts."""

    def __init__(self, space: SearchSpace, objectives: tuple[str, ...], report: str, answers: Answers, cheap: bool,
                 meets: Callable[[Mapping[str, float]], bool] = lambda metrics: True) -> None:
        self.space, self.objectives, self.report, self.answers, self.cheap = space, objectives, report, answers, cheap
        self.meets = meets  # whether an answer meets the run's constraints: only those can be the best
        self.result = SearchResult(best={}, history=[], queries=0, label_queries=0, objectives=objectives)

    def record(self, g: Genotype, metrics: Mapping[str, float], label: bool) -> None:
        """Add one evaluation to the history (and the best, when it is better)."""
        metric, result, key = self.objectives[0], self.result, g.key()
        if metric not in metrics:
            raise SearchError(f"{self.answers.source(key)} gives no {metric!r} for {self.space.format(g)[:200]}; "
                              f"it gives {sorted(metrics)}")
        result.metrics[key] = dict(metrics)
        result.evaluated[key] = g
        result.queries += 1
        entry = {"query": result.queries, "arch": self.space.format(g), "key": key, "label": label}
        entry.update({m: metrics[m] for m in dict.fromkeys((*self.objectives, self.report)) if m in metrics})
        better = not result.best or signed(metric, metrics[metric]) < signed(metric, result.best[metric])
        if better and self.meets(metrics):
            result.best = {"arch": entry["arch"], "key": key, **metrics}
        if result.best:  # none yet only while every labelled cell broke a constraint
            entry["best_" + metric] = result.best[metric]
        if self.report in result.best:
            entry["best_" + self.report] = result.best[self.report]
        if self.cheap:
            entry.update(screened=result.screened, screen_cost=result.screen_cost)
        result.history.append(entry)

    def told(self, ask: Ask, new: Mapping[str, Genotype]) -> list[Told]:
        """The fate of every row of `ask` (in the strategy's order, then the extra rows); a key's first
        row in evaluation order is ``new`` (with a stage's cheap answer beside its metrics), its others
        ``repeat``; a row a stage left out with a cheap answer is ``screened``, a row a constraint
        dropped ``infeasible`` with its cost answers."""
        told: list[Told | None] = [None] * len(ask.genotypes)
        fresh, cache = set(new), self.result.metrics
        for i in ask.order:
            g = ask.genotypes[i]
            key = None if g is None else g.key()
            if g is None:
                self.result.invalid += 1
                told[i] = Told(None, None, "invalid")
            elif key in fresh:
                fresh.discard(key)
                told[i] = Told(g, {**ask.cheap[key], **cache[key]} if key in ask.cheap else cache[key], "new")
            elif key in cache:
                self.result.repeats += 1
                told[i] = Told(g, cache[key], "repeat")
            elif i in ask.dropped and key in ask.cheap:
                told[i] = Told(g, ask.cheap[key], "screened")
            elif i in ask.infeasible:
                self.result.infeasible += 1
                told[i] = Told(g, ask.infeasible[i], "infeasible")
            else:  # left out by a stage, or the budget is spent: nothing more is evaluated
                told[i] = Told(g, None, "skipped")
        return told  # type: ignore[return-value]


@dataclass
class Guard:
    """When the loop ends: the budget spent, `stop(result)` holding, or `patience` asks without a new one.

    Under constraints an ask that evaluated nothing but found cells infeasible the search had not met
    before still counts as idle, yet a strategy that steers by them (lanas, a latent optimizer) gets
    `DRY` times the patience of such asks in a row before the search stops."""

    budget: int
    patience: int
    stop: Callable[[SearchResult], bool] | None = None
    idle: int = 0
    dry: int = 0
    DRY = 10

    def going(self, result: SearchResult) -> bool:
        return result.queries < self.budget and not self.stopped(result)

    def stopped(self, result: SearchResult) -> bool:
        return self.stop is not None and self.stop(result)

    def stalled(self, new: bool, result: SearchResult, learned: bool = False) -> bool:
        """Count an ask; True once `patience` asks in a row brought nothing new (`learned`: it found cells
        infeasible that the search had not met, see the class doc)."""
        self.idle = 0 if new else self.idle + 1
        self.dry = 0 if new or not learned else self.dry + 1
        if self.idle < self.patience or (learned and self.dry < self.DRY * self.patience):
            return False
        if not result.queries:
            raise SearchError(f"the strategy proposed no valid new architecture in {self.idle} asks "
                              f"({result.invalid} invalid decodes, {result.infeasible} infeasible under the "
                              "constraints); is its model trained for this space, can it meet the constraints?")
        log.warning("strategy proposed no new architecture in %d asks; stopping at %d queries", self.patience, result.queries)
        return True


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
    stages: Sequence[Stage] = (),
    screen: Stage | None = None,
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
    new architectures (default: here, in order; `archlatent.executors`). `stages` reshape each ask
    in order (`archlatent.stages`); `screen` is one more, last. Torch runs on `threads` intra-op
    threads during the call (0: torch's own; `archlatent.threads`).
    """
    labelled = dict(labelled or {})
    if not is_int(budget) or budget <= len(labelled):
        raise SearchError(f"budget {budget!r} leaves nothing to search after {len(labelled)} labelled architectures")
    start = time.perf_counter()
    stages = [*stages, *([screen] if screen is not None else [])]
    executor = executor or LocalExecutor()
    answers = Answers(space, evaluator, executor, journal)
    ledger = Ledger(space, strategy.objectives, report, answers, cheap=any(s.cheap for s in stages))
    result = ledger.result
    ctx = Context(space, result.metrics.keys(), strategy.objectives, strategy.rng, executor,
                  getattr(strategy, "predict", None), getattr(strategy, "rejects_repeats", False))
    for stage in stages:
        stage.attach(ctx)
    strategy.attach(result.metrics.keys(), ctx.admits)
    ledger.meets = ctx.meets
    met: set[str] = set()  # keys told infeasible so far
    _warm_start(space, strategy, stages, ledger, labelled, ctx)
    guard = Guard(budget, patience, stop)
    while guard.going(result):
        ask = Ask.of(strategy.ask())
        for stage in stages:
            ask = stage(ask, ctx)
        ask.genotypes = [None if g is None else space.canonicalize(g) for g in ask.genotypes]
        result.proposals += len(ask.genotypes)
        result.screened, result.screen_cost, result.costed = ctx.screened, ctx.screen_cost, ctx.costed
        new = dict(list(ask.new(result.metrics).items())[: budget - result.queries])
        metrics = answers(list(new.values())) if new else {}
        for key, g in new.items():  # in evaluation order: a ranked or screened ask's best first
            ledger.record(g, metrics[key], label=False)
        told = ledger.told(ask, new)
        strategy.tell(told if strategy.takes_extra_rows else told[: ask.asked])
        for stage in stages:
            stage.tell(told, ctx)
        if progress is not None:
            progress(result)
        fresh = {t.genotype.key() for t in told if t.status == "infeasible"} - met  # type: ignore[union-attr]
        met |= fresh
        if guard.stalled(bool(new), result, learned=bool(fresh)):
            result.stopped = "stalled"
            break
    if guard.stopped(result):
        result.stopped = "stop"
    result.seconds = time.perf_counter() - start
    return result


def _warm_start(
    space: SearchSpace, strategy: Strategy, stages: Sequence[Stage], ledger: Ledger,
    labelled: Mapping[Genotype, Mapping[str, float]], ctx: Context,
) -> None:
    """Record the labelled architectures (they count as queries) and teach them to the strategy and the stages."""
    for g, metrics in labelled.items():
        g = space.canonicalize(g)
        if g.key() not in ledger.result.metrics:
            ledger.record(g, metrics, label=True)
    ledger.result.label_queries = len(labelled)
    if labelled:
        genotypes, metrics = list(ledger.result.evaluated.values()), list(ledger.result.metrics.values())
        strategy.warm_start(genotypes, metrics)
        usable = [Told(g, m, "new") for g, m in zip(genotypes, metrics) if all(o in m for o in strategy.objectives)]
        for stage in stages:
            stage.tell(usable, ctx)
