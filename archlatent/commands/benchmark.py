"""CLI ``benchmark``: the field's protocol over many seeds, with a summary, a table and regret curves.

Search on validation accuracy, report the test accuracy of the best-by-validation architecture at
budgets 50/100/150/300 (those within --budget), the hit rate of the table's best validation
architecture, and mean regret against queries. Latent optimizers share one pretrained model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from archlatent.cli import command, emit
from archlatent.commands.search import ALIASES, _model, _needs_model, _resolve, _setup_common, build_defaults, run_one
from archlatent.errors import ArchLatentError
from archlatent.evaluators.tables import load_table
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.spaces import get_space

BUDGETS = (50, 100, 150, 300)


def _setup(p: argparse.ArgumentParser) -> None:
    _setup_common(p)
    p.add_argument("--optimizers", default="random,rea,local,nao,cso", help="comma list of optimizers")
    p.add_argument("--seeds", type=int, default=100, help="runs per optimizer (seeds 0..N-1)")


@command("benchmark", "run the benchmark protocol over seeds; writes summary.json, table.md, regret.png", _setup)
def run_benchmark(args: argparse.Namespace) -> int:
    if args.out is None:
        raise ArchLatentError("--out DIR is required")
    config = _resolve(args, vars(build_defaults("benchmark")))
    config.update(evaluator="tabular", supernet=None, seed=0)
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    if args.seeds < 1:
        raise ArchLatentError(f"--seeds must be >= 1, got {args.seeds}")
    needs_model = _needs_model(names)
    space = get_space(config["space"])
    table = load_table(space.name, config.get("bench"))
    oracle = TabularEvaluator(table, config["dataset"])
    best_valid, _ = oracle.best("valid_acc")
    _, best_test = oracle.best("test_acc")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model, labelled = _model(config, space, table, config["dataset"], out) if needs_model else (None, {})
    budgets = sorted({b for b in BUDGETS if b <= config["budget"]} | {config["budget"]})
    curves: dict[str, np.ndarray] = {}
    summary: dict[str, dict[str, dict[str, float]]] = {}
    mean_seconds: dict[str, float] = {}
    from tqdm import tqdm

    bar = tqdm(total=len(names) * args.seeds, desc="benchmark", unit="run", file=sys.stderr, disable=None)
    with open(out / "runs.jsonl", "w") as runs:
        for name in names:
            tests = np.zeros((args.seeds, config["budget"]))
            hits = np.zeros((args.seeds, config["budget"]), dtype=bool)
            seconds = []
            for seed in range(args.seeds):
                doc = run_one({**config, "optimizer": name, "seed": seed}, None, table, model, labelled, progress=False)
                tests[seed], hits[seed] = _trajectory(doc["history"], config["budget"], best_valid.key())
                seconds.append(doc["seconds"])
                runs.write(json.dumps({"optimizer": name, "seed": seed, "best": doc["best"]["arch"],
                                       "test_acc": doc["best"].get("test_acc"), "queries": doc["queries"],
                                       "seconds": doc["seconds"], "stopped": doc["stopped"]}) + "\n")
                runs.flush()
                bar.update()
            curves[name] = best_test - tests.mean(0)
            summary[name] = {
                str(b): {
                    "mean_test_acc": float(tests[:, b - 1].mean()),
                    "std_test_acc": float(tests[:, b - 1].std()),
                    "hit_rate": float(hits[:, b - 1].mean()),
                }
                for b in budgets
            }
            mean_seconds[name] = float(np.mean(seconds))
    bar.close()
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "table.md").write_text(_table(summary, mean_seconds, budgets, config, args.seeds, best_test))
    _plot(curves, out / "regret.png", f"{space.name} {config['dataset']}: mean regret of test accuracy ({args.seeds} seeds)")
    run_info = {**config, "optimizers": names, "seeds": args.seeds, "mean_seconds_per_run": mean_seconds}
    (out / "config.json").write_text(json.dumps(run_info, indent=2) + "\n")
    emit(summary)
    return 0


def _trajectory(history: list[dict[str, Any]], budget: int, best_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Test accuracy of the best-by-validation architecture after each query, and whether it is the
    table's best validation architecture (a run that stopped early keeps its last value)."""
    tests, hits = np.full(budget, np.nan), np.zeros(budget, dtype=bool)
    found = False
    for i, entry in enumerate(history[:budget]):
        tests[i] = entry["best_test_acc"]
        found = found or entry["key"] == best_key
        hits[i] = found
    last = len(history[:budget])
    if 0 < last < budget:
        tests[last:], hits[last:] = tests[last - 1], hits[last - 1]
    return tests, hits


def _table(summary: dict[str, Any], seconds: dict[str, float], budgets: list[int], config: dict[str, Any], seeds: int,
           oracle: float) -> str:
    head = "| optimizer | " + " | ".join(f"{b} queries" for b in budgets) + f" | hit rate @{budgets[-1]} | s/run |\n"
    rule = "|---" * (len(budgets) + 3) + "|\n"
    rows = "".join(
        f"| {ALIASES.get(name, name)} | "
        + " | ".join(f"{s[str(b)]['mean_test_acc']:.2f} ± {s[str(b)]['std_test_acc']:.2f}" for b in budgets)
        + f" | {s[str(budgets[-1])]['hit_rate']:.0%} | {seconds[name]:.1f} |\n"
        for name, s in summary.items()
    )
    note = (f"\n{config['space']} {config['dataset']}, {seeds} seeds, search on valid_acc, test_acc of the best-by-validation "
            f"architecture (mean ± std); oracle test {oracle:.2f}; labels counted as queries.\n")
    return head + rule + rows + note


def _plot(curves: dict[str, np.ndarray], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, regret in curves.items():
        ax.plot(np.arange(1, len(regret) + 1), np.maximum(regret, 1e-3), label=name)
    ax.set(xlabel="queries (distinct architectures)", ylabel="regret of test accuracy (%)", yscale="log", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
