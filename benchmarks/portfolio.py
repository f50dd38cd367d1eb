"""A portfolio of latent NAO searches, one per autoencoder, sharing every evaluation (issue 13 prototype).

Measured idea, not yet a library strategy: K autoencoders pretrained with different seeds (the
default preset, about 10 s each here), one latent NAO search in each (`top_k` starts each, so K x
top_k proposals per round, as many as one NAO's 20 for K = 3); each member is told its own
proposals' fates and, through ``warm_start``, the other members' new evaluations, so every member's
predictor learns from every query. Queries are counted once, by the search loop, as for any
strategy. Portfolio P uses the models of pretraining seeds P, P + stride, P + 2 stride, ...
(distinct across portfolios). Protocol as BENCHMARKS.md section 2 (NB201 CIFAR-10, search on
validation, test of the best-by-validation architecture, search seeds 0..N-1).

    .venv/bin/python benchmarks/portfolio.py --portfolios 0,1,2,3,4 --members 3 --seeds 20 --out portfolio
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Container, Sequence
from pathlib import Path

import numpy as np
import torch

from archlatent import get_space
from archlatent.encoders import load, preset, pretrain, save
from archlatent.evaluators.tables import load_table
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.genotype import Genotype
from archlatent.search import search
from archlatent.spaces import SearchSpace
from archlatent.strategies import STRATEGIES
from archlatent.strategies.base import Strategy, Told


class Portfolio(Strategy):
    """One latent NAO strategy per model; asks are concatenated, every new evaluation reaches every member."""

    def __init__(self, space: SearchSpace, models: Sequence[torch.nn.Module], seed: int, top_k: int) -> None:
        super().__init__(space, seed=seed)
        self.members = [STRATEGIES.create("latent", space, model=m, optimizer="nao", optimizer_kwargs={"top_k": top_k},
                                          seed=seed * len(models) + i) for i, m in enumerate(models)]
        self._sizes: list[int] = []

    def attach(self, seen: Container[str]) -> None:
        super().attach(seen)
        for member in self.members:
            member.attach(seen)

    def ask(self) -> list[Genotype | None]:
        asks = [member.ask() for member in self.members]
        self._sizes = [len(a) for a in asks]
        return [g for a in asks for g in a]

    def tell(self, told: Sequence[Told]) -> None:
        ends = np.cumsum(self._sizes)
        parts = [list(told[e - n : e]) for e, n in zip(ends, self._sizes)]
        for j, member in enumerate(self.members):
            member.tell(parts[j])
            others = [t for p, part in enumerate(parts) if p != j for t in part if t.status == "new" and t.metrics]
            if others:
                member.warm_start([t.genotype for t in others], [t.metrics for t in others])


def model(seed: int, folder: Path) -> torch.nn.Module:
    """The default NB201 transformer of pretraining `seed`, pretrained once and kept under `folder`."""
    if not (folder / "model.json").is_file():
        result = pretrain("nb201", "transformer", seed=seed, **preset("nb201", "transformer"))
        save(result.model, folder, metrics=result.metrics)
    return load(folder, space="nb201")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--portfolios", default="0,1,2,3,4", help="comma-separated portfolio ids P")
    p.add_argument("--members", type=int, default=3, help="autoencoders per portfolio")
    p.add_argument("--stride", type=int, default=5, help="member j of portfolio P is pretraining seed P + j * stride")
    p.add_argument("--top-k", type=int, default=7, help="NAO starts per member")
    p.add_argument("--seeds", type=int, default=20, help="search seeds 0..N-1")
    p.add_argument("--budget", type=int, default=150)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    space, table = get_space("nb201"), load_table("nb201")
    best, _ = TabularEvaluator(table, "cifar10").best("valid_acc")
    for pid in (int(x) for x in args.portfolios.split(",")):
        seeds = [pid + j * args.stride for j in range(args.members)]
        models = [model(s, args.out / "models" / f"seed-{s}") for s in seeds]
        runs = args.out / f"portfolio-{pid}.jsonl"
        done = {json.loads(line)["seed"] for line in runs.open()} if runs.is_file() else set()
        for seed in sorted(set(range(args.seeds)) - done):
            result = search(space, Portfolio(space, models, seed, args.top_k), TabularEvaluator(table, "cifar10"),
                            budget=args.budget)
            tests = [entry["best_test_acc"] for entry in result.history]
            first = next((i + 1 for i, e in enumerate(result.history) if e["key"] == best.key()), None)
            record = {"portfolio": pid, "models": seeds, "seed": seed, "tests": tests, "first_hit": first,
                      "seconds": result.seconds}
            with runs.open("a") as f:
                f.write(json.dumps(record) + "\n")
        rows = [r for r in {r["seed"]: r for r in map(json.loads, runs.open())}.values() if r["seed"] < args.seeds]
        tests = np.array([r["tests"] for r in rows])
        hit = np.mean([r["first_hit"] is not None and r["first_hit"] <= args.budget for r in rows])
        print(f"| portfolio {pid} (seeds {seeds}) | " + " | ".join(f"{tests[:, q - 1].mean():.2f}" for q in (50, 100, 150))
              + f" | {100 * hit:.0f} % | {np.mean([r['seconds'] for r in rows]):.1f} s |", flush=True)


if __name__ == "__main__":
    main()
