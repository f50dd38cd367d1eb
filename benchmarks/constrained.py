"""Constrained search on NAS-Bench-201 (issue 26): queries until the best feasible cell, against random search.

For each cost metric (``flops_m``, ``hw_latency_ms_pixel3``, ``hw_latency_ms_fpga``,
``hw_latency_ms_raspi4``) and each budget at the 10th, 25th and 50th percentile of that metric over the
table's 15,625 cells, runs ``archlatent benchmark --until-hit --constraint METRIC<=V`` (one shared
pretraining, seed 0; search seeds 0..N-1) and prints, per budget, the mean queries until the best feasible
cell by CIFAR-10 validation accuracy is evaluated (± standard error; a run that missed within the cap
counts as the cap, said as ``missed``), random search's exact expected figure for that target
(`archlatent.benchmark.random_first_hit` over the feasible cells) and their ratio (goal: at most 1/50).
One JSON line per budget goes to OUT/rows.jsonl as it finishes (a rerun skips those already there), and
a markdown table to stdout at the end::

    ARCHLATENT_DATA=/work/shared/data .venv/bin/python benchmarks/constrained.py --seeds 20 --out /tmp/constrained
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("hw_latency_ms_pixel3", "hw_latency_ms_fpga", "hw_latency_ms_raspi4", "flops_m")
PERCENTILES = (10, 25, 50)


def budgets(metrics: tuple[str, ...], percentiles: tuple[int, ...]) -> list[tuple[str, int, float]]:
    """(metric, percentile, value) of every budget: percentiles of each metric over the table's cells."""
    from archlatent.evaluators.tables import load_table

    columns = load_table("nb201").metrics("cifar10")
    return [(m, p, float(np.percentile(columns[m], p))) for p in percentiles for m in metrics]  # tightest first


def expectations(metrics: tuple[str, ...], percentiles: tuple[int, ...]) -> list[dict[str, Any]]:
    """Per budget, without any search: the best feasible cell by CIFAR-10 validation (the until-hit target),
    the feasible cells, and random search's exact expected queries until it (what a run is compared with)."""
    from archlatent.benchmark import random_first_hit, target
    from archlatent.constraints import parse_constraints
    from archlatent.evaluators.tables import load_table
    from archlatent.evaluators.tabular import TabularEvaluator
    from archlatent.spaces import get_space

    space, evaluator = get_space("nb201"), TabularEvaluator(load_table("nb201"), "cifar10")
    out = []
    for metric, pct, value in budgets(metrics, percentiles):
        best, valid, cells = target(space, evaluator, "valid_acc", parse_constraints([f"{metric}<={value!r}"]))
        out.append({"metric": metric, "percentile": pct, "value": value, "target": space.format(best),
                    "target_valid": valid, "feasible_cells": len(cells or []),
                    "random_expected": random_first_hit(space, best.key(), cells)})
    return out


def shared_model(out: Path, threads: int) -> Path:
    """The default NB201 pretraining (seed 0), written once to OUT/model and read by every run."""
    from archlatent import SearchConfig
    from archlatent.encoders import holds_model
    from archlatent.run import build

    if not holds_model(out / "model"):
        build(SearchConfig(space="nb201", seed=0, out=str(out), threads=threads))
    return out / "model"


def measure(metric: str, value: float, method: str, seeds: int, cap: int, model: Path, threads: int,
            runs: Path, screen: str = "auto") -> dict[str, Any]:
    """One budget's until-hit benchmark of `method`: mean queries ± s.e., random's expectation, ratio.
    Each run's record is appended to `runs` as it finishes, and the records already there are reused."""
    from archlatent import SearchConfig
    from archlatent.benchmark import run_benchmark

    config = SearchConfig(space="nb201", budget=cap, checkpoint=str(model), threads=threads,
                          constraints=(f"{metric}<={value!r}",), screen=screen)
    done = {(r["method"], r["seed"]): r for r in map(json.loads, runs.read_text().splitlines())} if runs.is_file() else {}
    with open(runs, "a") as f:
        def on_run(record: dict[str, Any]) -> None:
            f.write(json.dumps(record) + "\n")
            f.flush()

        result = run_benchmark(config, [method], seeds, until_hit=True, done=done, on_run=on_run)
    hits = np.array([r["first_hit"] if r["first_hit"] is not None else cap for r in result.runs], dtype=float)
    expected = result.oracle["random_expected_first_hit"]
    return {"metric": metric, "value": value, "method": method, "seeds": seeds, "cap": cap,
            "mean": float(hits.mean()), "se": float(hits.std(ddof=1) / np.sqrt(len(hits))),
            "median": float(np.median(hits)), "missed": int(sum(r["first_hit"] is None for r in result.runs)),
            "random_expected": expected, "ratio": float(hits.mean() / expected),
            "screened": float(np.mean([r.get("screened", 0) for r in result.runs])),
            "target": result.oracle["best_valid_arch"], "target_valid": result.oracle["best_valid_acc"],
            "seconds": float(sum(r["seconds"] for r in result.runs))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--cap", type=int, default=300, help="queries at most per run (a miss counts as the cap)")
    parser.add_argument("--method", default="nao", help="a benchmark method (default nao: the default latent search)")
    parser.add_argument("--metrics", default=",".join(METRICS))
    parser.add_argument("--percentiles", default=",".join(map(str, PERCENTILES)))
    parser.add_argument("--screen", default="auto", help="the runs' screen (auto: the NB201 default; none: off)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("constrained"))
    parser.add_argument("--expectations", action="store_true", help="only print each budget's target and random "
                                                                     "search's expected queries (no search)")
    args = parser.parse_args()
    metrics, percentiles = tuple(args.metrics.split(",")), tuple(int(p) for p in args.percentiles.split(","))
    if args.expectations:
        for row in expectations(metrics, percentiles):
            print(json.dumps(row), flush=True)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"
    done = {(r["metric"], r["percentile"], r["method"]) for r in map(json.loads, rows_path.read_text().splitlines())} \
        if rows_path.is_file() else set()
    model = shared_model(args.out, args.threads)
    for metric, pct, value in budgets(metrics, percentiles):
        method = args.method if args.screen == "auto" else f"{args.method}-screen-{args.screen}"
        if (metric, pct, method) in done:
            continue
        runs = args.out / f"runs-{metric}-{pct}-{method}.jsonl"
        row = {"percentile": pct, **measure(metric, value, args.method, args.seeds, args.cap, model, args.threads, runs,
                                            args.screen), "method": method}
        with open(rows_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    print("| metric | percentile | budget | method | queries until hit (mean ± s.e.) | missed | random expected | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['metric']} | {r['percentile']} | <= {r['value']:.4g} | {r['method']} | {r['mean']:.1f} ± {r['se']:.1f} "
              f"| {r['missed']}/{r['seeds']} | {r['random_expected']:.1f} | 1/{r['random_expected'] / r['mean']:.1f} |")


if __name__ == "__main__":
    main()
