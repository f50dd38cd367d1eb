"""Issue 24's NAS-Bench-Graph protocol: every method until it finds the best-validation class, per dataset.

Run from the repository root (needs ``pip install 'archlatent[bench]'``):

    .venv/bin/python benchmarks/nbgraph_protocol.py --datasets cora,pubmed,arxiv \\
        --methods latent,rea,local,random,lanas,lamcts,nao --seeds 100 --cap 2000 --out nbg

Each (dataset, method) is `archlatent.benchmark.run_benchmark` with ``until_hit``: a run stops once it
evaluates the best-validation class, or at ``--cap`` distinct classes. One pretrained model serves every
dataset (the space is the same; pretraining seed 0, the library's preset for ``--encoder``), written to
``OUT/pretrained/model`` and read back by later datasets and later invocations. Per dataset the script
writes ``OUT/<dataset>/runs.jsonl`` (one line per run as it finishes; a rerun reuses them, so an
interrupted run goes on where it stopped), ``summary.json`` and ``table.md``, and prints the table:

- queries until the hit, mean ± standard error over seeds (a run that missed counts as the cap, so the
  mean is then a lower bound: ``missed`` says how often), and random search's exact expectation over
  it (`archlatent.benchmark.random_first_hit` over the space, or proteins' pool);
- validation regret of the best found (the best validation accuracy minus the run's best so far, in
  points) at 10 / 25 / 50 / 100 / 200 queries, mean ± s.e.;
- test accuracy of the best-by-validation cell at 200 queries (or the cap), mean ± s.e. Validation and
  test disagree on this benchmark (the best-validation cell ranks in the thousands by test on pubmed,
  physics, computers and proteins): the validation figures are the ones that decide.

`benchmarks/peers.py` prints its rows (Optuna's samplers) in the same form.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archlatent.benchmark import random_first_hit, resolve_method, run_benchmark, tied
from archlatent.bounds import flag
from archlatent.config import SearchConfig
from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import EVALUATORS
from archlatent.spaces import get_space
from archlatent.spaces.pool import PoolSpace
from archlatent.strategies import STRATEGIES

DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")
#: Queries at which validation regret (NB-Graph) or test accuracy (NB-201) is reported.
REGRET_AT = (10, 25, 50, 100, 200)
WARNING = ("Validation and test disagree on NAS-Bench-Graph (the best-validation cell ranks in the thousands by "
           "test on pubmed, physics, computers and proteins): the queries until the hit and the validation "
           "regret decide; the test column is for reference.")


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for one value)."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else 0.0


def summarize(runs: Sequence[Mapping[str, Any]], oracle: Mapping[str, Any], cap: int, at: Sequence[int]) -> dict[str, Any]:
    """One method's figures over its runs: until-hit (missed runs count as `cap`), validation regret
    and test of the best-by-validation cell at each budget of `at` (those within `cap`)."""
    hits = [r["first_hit"] if r["first_hit"] is not None else cap for r in runs]
    out: dict[str, Any] = {"runs": len(runs), "missed": sum(r["first_hit"] is None for r in runs),
                           "until_hit": mean_se(hits), "regret": {}, "test": {}}
    for b in (b for b in at if b <= cap):
        out["regret"][b] = mean_se([oracle["best_valid_acc"] - r["valids"][b - 1] for r in runs])
        out["test"][b] = mean_se([r["tests"][b - 1] for r in runs])
    return out


def pm(pair: Sequence[float], digits: int = 2) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def graph_table(summaries: Mapping[str, Mapping[str, Any]], oracle: Mapping[str, Any], cap: int) -> str:
    """The NB-Graph table of issue 24: until-hit and its ratio to random, validation regret, test."""
    budgets = [b for b in REGRET_AT if b <= cap]
    last = budgets[-1] if budgets else None
    head = ("| method | queries until hit | missed | random / it | "
            + " | ".join(f"regret @{b}" for b in budgets) + (f" | test @{last} |" if last else " |"))
    lines = [head, "|" + " --- |" * (4 + len(budgets) + bool(last))]
    random = oracle["random_expected_first_hit"]
    for name, s in summaries.items():
        ratio = f"{'≤ ' if s['missed'] else ''}{random / s['until_hit'][0]:.1f}"  # a missed run counts as the cap
        cells = [name, pm(s["until_hit"], 1), f"{s['missed']}/{s['runs']}", ratio]
        cells += [pm(s["regret"][b], 3) for b in budgets] + ([pm(s["test"][last])] if last else [])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + oracle_note(oracle, cap) + " " + WARNING + "\n"


def oracle_note(oracle: Mapping[str, Any], cap: int) -> str:
    """What the table measures against: the best-validation cell and random search's expectation."""
    return (f"{oracle['dataset']}: best validation {oracle['best_valid_acc']:.3f} ({oracle['best_valid_arch']}), its "
            f"test {oracle['best_valid_test_acc']:.3f}, best test {oracle['best_test_acc']:.3f}; random search's exact "
            f"expectation until the hit {oracle['random_expected_first_hit']:.1f} of {oracle['classes']} classes. "
            f"Mean ± standard error over seeds; a run that missed within the cap ({cap}) counts as {cap} (so the "
            "mean is a lower bound, the ratio an upper bound, marked ≤).")


def space_oracle(space_name: str, dataset: str, bench: str | None = None) -> dict[str, Any]:
    """The best-validation class of `dataset` (and any class tied with it up to rounding) and random search's
    exact expectation until one of them, over the space or, where the table holds only some classes
    (proteins), over its pool."""
    base = get_space(space_name)
    evaluator = EVALUATORS.create("tabular", base, dataset=dataset, **({"bench": bench} if bench else {}))
    pool = evaluator.pool
    space = base if pool is None else PoolSpace(base, pool)
    best, valid = evaluator.best("valid_acc")
    return {"dataset": dataset, "best_valid_arch": base.format(best), "best_valid_acc": valid,
            "best_valid_test_acc": evaluator.evaluate([best])[0]["test_acc"],
            "best_test_acc": evaluator.best("test_acc")[1],
            "classes": len({space.canonicalize(g).key() for g in space.enumerate()}),
            "best_valid_classes": len(keys := tied(evaluator, "valid_acc", valid)),
            "random_expected_first_hit": random_first_hit(space, keys)}


def read_runs(path: Path, cap: int) -> dict[tuple[str, int], dict[str, Any]]:
    """Finished runs in `path` (same cap) by (method, seed); a last line cut short by a kill is dropped."""
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if not path.is_file():
        return done
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            key, budget = (record["method"], int(record["seed"])), len(record["tests"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines):
                continue
            raise ArchLatentError(f"{path} line {number} is not a benchmark run record") from None
        if budget != cap:
            raise ArchLatentError(f"{path} line {number} was run with cap {budget}, not {cap}: use another --out")
        done[key] = record
    return done


def run_dataset(config: SearchConfig, methods: Sequence[str], seeds: int, folder: Path, *, oracle: Mapping[str, Any],
                first_seed: int = 0, at: Sequence[int] = REGRET_AT, until_hit: bool = True,
                on_run: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Every method's runs on `config`'s dataset (resumed from ``folder/runs.jsonl``), summarized at the
    budgets `at` (`summarize`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "runs.jsonl"
    done = read_runs(path, config.budget)
    with open(path, "a") as log:

        def write(record: dict[str, Any]) -> None:
            log.write(json.dumps(record) + "\n")
            log.flush()
            if on_run is not None:
                on_run(record)

        runs_as = aliases(methods, config.optimizer)
        result = run_benchmark(config, list(dict.fromkeys(runs_as.values())), seeds, done=done, on_run=write, until_hit=until_hit,
                               first_seed=first_seed)
    summaries = {m: summarize([r for r in result.runs if r["method"] == runs_as[m]], oracle, config.budget, at)
                 for m in methods}
    seconds = {m: mean_se([r.get("seconds", 0.0) for r in result.runs if r["method"] == runs_as[m]]) for m in methods}
    return {"oracle": dict(oracle), "cap": config.budget, "seeds": [first_seed, first_seed + seeds - 1],
            "methods": summaries, "seconds_per_run": seconds, "runs_as": runs_as}


def aliases(methods: Sequence[str], optimizer: str) -> dict[str, str]:
    """Each method -> the first of `methods` that runs the same (``latent`` runs the default optimizer,
    `optimizer`: with nao the default, ``latent`` and ``nao`` are one run, reported under both names)."""
    runs = {m: (s, o or optimizer) for m, (s, o) in ((m, resolve_method(m)) for m in methods)}
    return {m: next(first for first in methods if runs[first] == runs[m]) for m in methods}


def shared_model(out: Path, config: SearchConfig, progress: Callable[[dict[str, Any]], None] | None) -> str:
    """The one pretrained model of every dataset: ``out/pretrained/model``, pretrained here (seed 0, the
    recipe's preset for ``config.encoder``) unless an earlier invocation left it."""
    from archlatent.encoders import holds_model
    from archlatent.run import build

    folder = out / "pretrained"
    if not holds_model(folder / "model"):
        build(config.replace(strategy="latent", seed=0, out=str(folder)), pretrain_progress=progress)
    return str(folder / "model")


def _progress(record: dict[str, Any]) -> None:
    print(f"  pretrain {json.dumps(record)}", file=sys.stderr, flush=True)


def _ran(record: dict[str, Any]) -> None:
    print(f"  {record['method']} seed {record['seed']}: hit at {record['first_hit']} ({record['seconds']:.1f} s)",
          file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cora,pubmed,arxiv", help="comma list (default: the development three)")
    p.add_argument("--methods", default="latent,rea,local,random,lanas,lamcts,nao",
                   help="strategies and latent optimizers, as `archlatent benchmark --methods` takes them")
    p.add_argument("--seeds", type=flag("seeds"), default=100, help="search seeds per method (default 100)")
    p.add_argument("--first-seed", type=flag("seed"), default=0, help="first search seed (default 0)")
    p.add_argument("--cap", type=flag("budget"), default=2000, help="distinct classes a run may evaluate at most (default 2000)")
    p.add_argument("--encoder", default="transformer", help="the shared pretrained model's encoder (default transformer)")
    p.add_argument("--threads", type=flag("threads"), default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        unknown = sorted(set(datasets) - set(DATASETS))
        if unknown or not datasets:
            raise ArchLatentError(f"--datasets names {unknown or 'nothing'}; known: {', '.join(DATASETS)}")
        resolved = [resolve_method(m) for m in methods]
        config = SearchConfig(space="nbgraph", dataset=datasets[0], budget=args.cap, encoder=args.encoder,
                              threads=args.threads)
        if any(STRATEGIES.get(s).needs_model for s, _ in resolved):
            config = config.replace(checkpoint=shared_model(args.out, config, _progress))
        for dataset in datasets:
            report = run_dataset(config.replace(dataset=dataset), methods, args.seeds, args.out / dataset,
                                 first_seed=args.first_seed, oracle=space_oracle("nbgraph", dataset), on_run=_ran)
            text = graph_table(report["methods"], report["oracle"], args.cap)
            (args.out / dataset / "summary.json").write_text(json.dumps(report, indent=1) + "\n")
            (args.out / dataset / "table.md").write_text(text)
            print(f"\n## {dataset}\n\n{text}", flush=True)
    except ArchLatentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
