"""Outside baselines in the library's own harness: Optuna's samplers over a space's raw encoding.

Run from the repository root (needs ``pip install 'archlatent[peers]'``, and ``[bench]`` for NB-Graph):

    ARCHLATENT_DATA=/path/to/tables .venv/bin/python benchmarks/peers.py --space nb201 --dataset cifar10 \\
        --sampler tpe --seeds 100 --budget 1000 --until-hit --out peers-nb201-cifar10
    .venv/bin/python benchmarks/peers.py --space nbgraph --dataset cora --sampler tpe --seeds 20 \\
        --budget 2000 --until-hit --out peers-cora

The sampler is Optuna's ``TPESampler(multivariate=True, seed=s)`` (its other settings Optuna's defaults)
wrapped as a search strategy (``optuna-tpe``, registered by this script only: nothing in the library
imports Optuna), so each seed is `archlatent.benchmark.run_benchmark`'s run: the same table, evaluator,
search loop and records as ``archlatent benchmark`` and ``benchmarks/nbgraph_protocol.py``. It searches
on validation accuracy over the raw encoding: NB-201's six edge ops as categorical choices; NB-Graph's
``links[i]`` (categorical in 0..i) and four ops from the dataset's op list (proteins: its five). A trial
that is no architecture of the space (the all-skip NB-Graph cell) is told Optuna as failed and costs
nothing; a trial whose architecture (by `Genotype.key`) was evaluated before is told its known value
and costs nothing: the budget counts distinct architectures, as for every method of the library.

Writes ``OUT/runs.jsonl`` (one record per seed: the keys in query order, the trajectories; a rerun
reuses it, ``--start`` adds seeds), ``summary.json`` and ``table.md``, and prints the table: on NB-201
the test accuracy of the best-by-validation cell at 10 / 25 / 50 / 100 queries; on NB-Graph the
protocol script's table. Both give the queries until the best-validation cell (``--until-hit``: runs
stop there, ``--budget`` is the cap).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from nbgraph_protocol import REGRET_AT, graph_table, mean_se, pm, run_dataset, space_oracle

from archlatent.bounds import flag
from archlatent.config import SearchConfig
from archlatent.errors import ArchLatentError, InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.spaces.base import SearchSpace
from archlatent.strategies import STRATEGIES, Strategy, Told

try:
    import optuna
except ImportError:  # the `peers` extra is not installed: main() says so
    optuna = None

NEEDS = "benchmarks/peers.py needs Optuna: pip install 'archlatent[peers]'"
#: NB-201 reports the test accuracy of the best-by-validation cell at these queries.
TEST_AT = (10, 25, 50, 100)
#: Trials asked in a row (repeats and invalid ones, all free) before an ask gives up on a new architecture.
TRIES = 1_000


class Encoding:
    """A space's raw encoding as Optuna distributions, and the genotype of a trial's parameters."""

    def __init__(self, space: SearchSpace, ops: Sequence[str] | None = None) -> None:
        self.space = space
        base = getattr(space, "base", space)  # a pool's own space (proteins)
        if base.name == "nb201":
            from archlatent.spaces.nb201 import OPS as NB201_OPS

            self.choices = {f"edge{i}": tuple(NB201_OPS) for i in range(6)}
            self._make = lambda p: base.from_ops([p[f"edge{i}"] for i in range(6)])
        elif base.name == "nbgraph":
            from archlatent.spaces.nbgraph import NODES, OPS

            ops = tuple(ops or OPS)
            self.choices = {**{f"link{i}": tuple(range(i + 1)) for i in range(1, NODES)},
                            **{f"op{i}": ops for i in range(NODES)}}
            self._make = lambda p: base.from_links([0, *(p[f"link{i}"] for i in range(1, NODES))],
                                                   [p[f"op{i}"] for i in range(NODES)])
        else:
            raise ArchLatentError(f"peers.py encodes nb201 and nbgraph, not {base.name!r}")
        self.distributions = {k: optuna.distributions.CategoricalDistribution(v) for k, v in self.choices.items()}

    def genotype(self, params: Mapping[str, Any]) -> Genotype:
        """The space's genotype of a trial (InvalidArchitecture where it is none, or outside a pool)."""
        return self.space.canonicalize(self._make(params))


class OptunaStrategy(Strategy):
    """One Optuna study as an ask/tell strategy: one new architecture per ask (see the module doc)."""

    multi_objective = True
    sampler: ClassVar[str] = ""

    def __init__(self, space: SearchSpace, *, objectives: Sequence[str] = ("valid_acc",), seed: int | None = None,
                 ops: Sequence[str] | None = None) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        self.encoding = Encoding(space, ops)
        self.study = optuna.create_study(sampler=self.make_sampler(seed), directions=["minimize"] * len(self.objectives))
        self.known: dict[str, list[float]] = {}  # key -> the losses told
        self.pending: Any = None
        self.repeats = self.invalid = 0

    def make_sampler(self, seed: int | None) -> Any:
        """The Optuna sampler of this strategy, seeded."""
        raise NotImplementedError

    def _tell(self, trial: Any, losses: Sequence[float] | None) -> None:
        if losses is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, losses[0] if len(losses) == 1 else list(losses))

    def ask(self) -> list[Genotype | None]:
        """The next trial whose architecture is new; invalid and repeated trials are told at once."""
        for _ in range(TRIES):
            trial = self.study.ask(self.encoding.distributions)
            try:
                genotype = self.encoding.genotype(trial.params)
            except InvalidArchitecture:
                self.invalid += 1
                self._tell(trial, None)
                continue
            known = self.known.get(genotype.key())
            if known is None:
                self.pending = trial
                return [genotype]
            self.repeats += 1
            self._tell(trial, known)
        return []  # the search loop's patience ends a run that finds nothing new

    def tell(self, told: Sequence[Told]) -> None:
        for t in told:
            losses = self.losses(t.metrics) if t.metrics is not None else None
            if losses is not None and t.genotype is not None:
                self.known[t.genotype.key()] = losses
            self._tell(self.pending, losses)
            self.pending = None


class OptunaTPE(OptunaStrategy):
    """``TPESampler(multivariate=True, seed=seed)``."""

    sampler = "tpe"

    def make_sampler(self, seed: int | None) -> Any:
        return optuna.samplers.TPESampler(multivariate=True, seed=seed)


class OptunaNSGA2(OptunaStrategy):
    """``NSGAIISampler(seed=seed)``."""

    sampler = "nsga2"

    def make_sampler(self, seed: int | None) -> Any:
        return optuna.samplers.NSGAIISampler(seed=seed)


#: --sampler -> (strategy name, class).
SAMPLERS: dict[str, tuple[str, type[OptunaStrategy]]] = {"tpe": ("optuna-tpe", OptunaTPE),
                                                          "nsga2": ("optuna-nsga2", OptunaNSGA2)}


def register() -> None:
    """File each sampler's strategy under its name (once per process; only this script does it)."""
    for name, cls in SAMPLERS.values():
        if name not in STRATEGIES:
            STRATEGIES.register(name)(cls)


def nb201_table(summary: Mapping[str, Any], oracle: Mapping[str, Any], cap: int) -> str:
    """NB-201: test of the best-by-validation cell at `TEST_AT`, queries until the best-validation cell."""
    budgets = [b for b in TEST_AT if b <= cap]
    head = "| method | " + " | ".join(f"test @{b}" for b in budgets) + " | queries until hit | missed |"
    cells = [*(pm(summary["test"][b]) for b in budgets), pm(summary["until_hit"], 1), f"{summary['missed']}/{summary['runs']}"]
    return (f"{head}\n|" + " --- |" * (len(budgets) + 3) + f"\n| {summary['name']} | " + " | ".join(cells) + " |\n\n"
            f"{oracle['dataset']}: best validation {oracle['best_valid_acc']:.3f}, its test {oracle['best_valid_test_acc']:.3f}, "
            f"best test {oracle['best_test_acc']:.3f}; random search's exact expectation until the hit "
            f"{oracle['random_expected_first_hit']:.1f} of {oracle['classes']} classes. Mean ± standard error over seeds; "
            f"a run that missed within the cap ({cap}) counts as {cap}. Queries: distinct architectures (repeats free).\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", choices=("nb201", "nbgraph"), required=True)
    p.add_argument("--dataset", required=True, help="nb201: cifar10, cifar100, imagenet16; nbgraph: cora, ... proteins")
    p.add_argument("--sampler", choices=sorted(SAMPLERS), default="tpe", help="Optuna sampler (default tpe)")
    p.add_argument("--seeds", type=flag("seeds"), default=100, help="search seeds (default 100)")
    p.add_argument("--start", type=flag("seed"), default=0, help="first search seed (default 0)")
    p.add_argument("--budget", type=flag("budget"), default=100, help="distinct architectures per run (default 100)")
    p.add_argument("--until-hit", action="store_true", help="stop a run once it evaluates the best-validation "
                                                            "cell (--budget is then the cap)")
    p.add_argument("--bench", help="the table file (default: $ARCHLATENT_DATA, or the installed package)")
    p.add_argument("--threads", type=flag("threads"), default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--objectives", default="valid_acc",
                   help="comma list; two or more (valid_acc,flops_m) score each run against the table's exact front")
    p.add_argument("--fronts-at", default="25,50,100,200,400",
                   help="queries at which a multi-objective run is scored (default 25,50,100,200,400; the last is the budget)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> str:
    """Every seed's run (resumed from OUT/runs.jsonl), summary.json and table.md; returns the table."""
    register()
    name = SAMPLERS[args.sampler][0]
    kwargs: dict[str, Any] = {}
    if args.space == "nbgraph":
        from archlatent.spaces.nbgraph import OPS, PROTEINS_OPS

        kwargs["ops"] = list(PROTEINS_OPS if args.dataset == "proteins" else OPS)
    bench = {"bench": args.bench} if args.bench else {}
    config = SearchConfig(space=args.space, dataset=args.dataset, strategy=name, strategy_kwargs=kwargs, screen="none",
                          budget=args.budget, threads=args.threads, evaluator_kwargs=bench)
    oracle = space_oracle(args.space, args.dataset, args.bench)
    nbgraph = args.space == "nbgraph"
    report = run_dataset(config, [name], args.seeds, args.out, oracle=oracle, first_seed=args.start,
                         at=REGRET_AT if nbgraph else TEST_AT, until_hit=args.until_hit, on_run=_ran)
    if nbgraph:
        text = graph_table(report["methods"], oracle, args.budget)
    else:
        text = nb201_table({**report["methods"][name], "name": name}, oracle, args.budget)
    (args.out / "summary.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "table.md").write_text(text)
    return text


def run_fronts(args: argparse.Namespace, objectives: tuple[str, ...]) -> str:
    """Multi-objective: each seed's run scored against the table's exact front (`archlatent.fronts`) at
    ``--fronts-at`` queries; OUT/fronts.jsonl (a line per seed, resumed), summary.json, table.md."""
    from archlatent.evaluators.base import EVALUATORS
    from archlatent.fronts import exact_front
    from archlatent.run import build, run_search
    from archlatent.spaces import get_space

    register()
    budgets = _budgets(args.fronts_at)
    name = f"{SAMPLERS[args.sampler][0]} ({','.join(objectives)})"
    config = SearchConfig(space=args.space, dataset=args.dataset, strategy=SAMPLERS[args.sampler][0], screen="none",
                          objectives=objectives, budget=budgets[-1], threads=args.threads,
                          evaluator_kwargs={"bench": args.bench} if args.bench else {})
    space = get_space(args.space)
    shared = EVALUATORS.create("tabular", space, dataset=args.dataset, seed=0, **config.evaluator_kwargs)
    front = exact_front(shared, objectives)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "fronts.jsonl"
    done = {r["seed"]: r for r in map(json.loads, path.read_text().splitlines())} if path.is_file() else {}
    with open(path, "a") as log:
        for seed in range(args.start, args.start + args.seeds):
            if seed in done:
                continue
            cfg = config.replace(seed=seed)
            evaluator = EVALUATORS.create("tabular", space, dataset=args.dataset, seed=seed, table=shared.table)
            result = run_search(cfg, parts=build(cfg, evaluator=evaluator))
            scores = {str(b): v for b, v in front.scores(list(result.metrics.values()), budgets).items()}  # in query order
            done[seed] = {"seed": seed, "keys": list(result.metrics), "seconds": result.seconds, "scores": scores}
            log.write(json.dumps(done[seed]) + "\n")
            log.flush()
    runs = [done[s] for s in range(args.start, args.start + args.seeds)]
    summary = {m: {b: mean_se([r["scores"][str(b)][m] for r in runs]) for b in budgets}
               for m in ("hv_ratio", "igd_plus")}
    text = front_table(name, summary, budgets, len(runs), args.dataset, len(front.front))
    (args.out / "summary.json").write_text(json.dumps({"method": name, "objectives": objectives, "budgets": budgets,
                                                       "seeds": [args.start, args.start + args.seeds - 1],
                                                       "scores": summary}, indent=1) + "\n")
    (args.out / "table.md").write_text(text)
    return text


def _budgets(text: str) -> list[int]:
    """The sorted positive query counts of ``--fronts-at``; ArchLatentError otherwise."""
    try:
        budgets = sorted({int(b) for b in text.split(",") if b.strip()})
    except ValueError:
        raise ArchLatentError(f"--fronts-at must be a comma list of query counts, got {text[:100]!r}") from None
    if not budgets or budgets[0] < 1 or budgets[-1] > 100_000:
        raise ArchLatentError(f"--fronts-at must be query counts in 1..100,000, got {text[:100]!r}")
    return budgets


def front_table(name: str, summary: Mapping[str, Any], budgets: Sequence[int], seeds: int, dataset: str,
                points: int) -> str:
    """HV ratio and IGD+ at each budget, mean ± standard error over seeds."""
    head = "| method | " + " | ".join(f"HV ratio @{b}" for b in budgets) + " | " + " | ".join(f"IGD+ @{b}" for b in budgets)
    cells = [pm(summary["hv_ratio"][b], 4) for b in budgets] + [pm(summary["igd_plus"][b], 4) for b in budgets]
    return (f"{head} |\n|" + " --- |" * (1 + 2 * len(budgets)) + f"\n| {name} | " + " | ".join(cells) + " |\n\n"
            f"{dataset}, {seeds} seeds: the found cells' hypervolume over the exact front's ({points} points; "
            "`archlatent.fronts.ExactFront`, scaled by the exact front's ideal and nadir), and IGD+ to it, after B distinct "
            "architectures; mean ± standard error.\n")


def _ran(record: dict[str, Any]) -> None:
    print(f"  seed {record['seed']}: hit at {record['first_hit']} ({record['seconds']:.1f} s)", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if optuna is None:
        print(f"error: {NEEDS}", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        objectives = tuple(o.strip() for o in args.objectives.split(",") if o.strip())
        print(run(args) if len(objectives) < 2 else run_fronts(args, objectives), flush=True)
    except ArchLatentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
