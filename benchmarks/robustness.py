"""BENCHMARKS.md section 2 in one command: the latent search protocol over several pretraining seeds.

A user pretrains once, with whatever seed; this measures how much a latent optimizer's quality
depends on that seed. For each pretraining seed S it runs ``archlatent benchmark --seed S`` (which
pretrains the default models with seed S: a portfolio of three NB201 transformers, member 0
pretrained with seed S itself; then searches with search seeds 0..N-1) into
``OUT/pretrain-S``; methods that use no model (``rea``, ``local``, ...) run once, in
``OUT/baselines``. Every benchmark is resumable (``--resume`` is passed when a folder exists), so
an interrupted run continues. The markdown table (per method and pretraining seed: mean test
accuracy at 50 / 100 / 150 queries, hit rate of the best validation architecture at 150) is
printed and written to ``OUT/table.md``; the figures to ``OUT/robustness.json``.

    .venv/bin/python benchmarks/robustness.py --pretrain-seeds 0,1,2,3,4 --seeds 100 \\
        --methods nao,bo,cso,lamcts --baselines rea,local --out robust
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from archlatent.benchmark import resolve_method

BUDGETS = ("50", "100", "150")


def benchmark(out: Path, methods: list[str], seeds: int, pretrain_seed: int, extra: list[str]) -> dict[str, Any]:
    """Run (or resume) one `archlatent benchmark`; its summary.json's per-method budgets."""
    cmd = [sys.executable, "-m", "archlatent", "benchmark", "--space", "nb201", "--dataset", "cifar10",
           "--methods", ",".join(methods), "--budget", "150", "--seeds", str(seeds), "--seed", str(pretrain_seed),
           "--out", str(out), *extra]
    if (out / "runs.jsonl").is_file():
        cmd.append("--resume")
    subprocess.run(cmd, check=True)
    return json.loads((out / "summary.json").read_text())["budgets"]


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per (method, pretraining seed), then each latent method's mean over seeds. A
    screened method also gets its screen's cost (in full evaluations) and its test accuracy at the
    same total cost (queries plus screen), at 50 / 100 / 150."""
    screened = any("screen_cost" in b["50"] for by_seed in results.values() for b in by_seed.values())
    head = ["method", "pretraining seed", *BUDGETS, "hit @150"]
    if screened:
        head += [f"screen cost @{q}" for q in BUDGETS] + [f"total cost {q}" for q in BUDGETS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]

    def extra(rows: list[dict[str, Any]]) -> list[str]:
        """Screen cost and same-cost accuracy, averaged over `rows` (an unscreened method: 0 and its own)."""
        if not screened:
            return []
        cost = [sum(b[q].get("screen_cost", 0.0) for b in rows) / len(rows) for q in BUDGETS]
        same = [sum(b[q].get("mean_test_acc_same_cost", b[q]["mean_test_acc"]) for b in rows) / len(rows) for q in BUDGETS]
        return [f"{c:.1f}" for c in cost] + [f"{a:.2f}" for a in same]

    for method, by_seed in results.items():
        rows = list(by_seed.items())
        for seed, b in rows:
            cells = [f"{b[q]['mean_test_acc']:.2f}" for q in BUDGETS]
            lines.append(f"| {method} | {seed} | {' | '.join(cells)} | {100 * b['150']['hit_rate']:.0f} % |"
                         + "".join(f" {c} |" for c in extra([b])))
        if len(rows) > 1:
            means = [sum(b[q]["mean_test_acc"] for _, b in rows) / len(rows) for q in BUDGETS]
            low = min(b["100"]["mean_test_acc"] for _, b in rows)
            hit = [100 * b["150"]["hit_rate"] for _, b in rows]
            lines.append(f"| **{method}** | mean (lowest @100: {low:.2f}) | {' | '.join(f'{m:.2f}' for m in means)} "
                         f"| {min(hit):.0f}-{max(hit):.0f} % |" + "".join(f" {c} |" for c in extra([b for _, b in rows])))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretrain-seeds", default="0,1,2,3,4", help="comma-separated pretraining seeds")
    p.add_argument("--seeds", type=int, default=100, help="search seeds per benchmark (0..N-1)")
    p.add_argument("--methods", default="nao,bo,cso", help="latent methods (rerun per pretraining seed)")
    p.add_argument("--baselines", default="rea,local", help="methods without a model (run once); '' for none")
    p.add_argument("--config", type=Path, help="a SearchConfig TOML passed to every benchmark (optimizer settings)")
    p.add_argument("--screen", help="passed to every benchmark: none, auto (the default) or a cheap metric")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    latent = [m for m in args.methods.split(",") if m]
    baselines = [m for m in args.baselines.split(",") if m]
    for m in latent + baselines:
        resolve_method(m)  # an unknown name fails here, before any run
    extra = (["--config", str(args.config)] if args.config else []) + (["--screen", args.screen] if args.screen else [])
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    if baselines:
        budgets = benchmark(args.out / "baselines", baselines, args.seeds, 0, extra)
        for m in baselines:
            results[m] = {"-": budgets[m]}
    for s in (int(x) for x in args.pretrain_seeds.split(",")):
        budgets = benchmark(args.out / f"pretrain-{s}", latent, args.seeds, s, extra)
        for m in latent:
            results.setdefault(m, {})[str(s)] = budgets[m]
    (args.out / "robustness.json").write_text(json.dumps(results, indent=1))
    text = table(results)
    (args.out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
