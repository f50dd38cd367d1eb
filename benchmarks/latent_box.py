"""Share of a latent search's asks that decode to valid (and new) architectures, per space and encoder.

A latent optimizer works in standardized coordinates u and the latent strategy asks the model at
z = loc + scale * u (the model's stored statistics of its training set's posterior means). This
script measures, for pretrained checkpoints, the share of proposals that decode to a valid
architecture (and to a valid, not yet evaluated one) over a search of `--proposals` proposals, with
the standardized box and with the old behaviour (z = u, the N(0, I) prior), side by side.

The objective is a fixed random linear function of `space.features` (no benchmark data is needed,
so DARTS and the full NB101 space can be measured): what is measured is where the asks land, not
how good the architectures are.

    .venv/bin/python benchmarks/latent_box.py --checkpoints ckpt/nb101-gin ckpt/darts-gin --out box.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np
import torch

from archlatent.encoders import load, read_metadata
from archlatent.evaluators.base import Evaluator
from archlatent.genotype import Genotype
from archlatent.search import search
from archlatent.spaces import get_space
from archlatent.strategies import STRATEGIES


class LinearScore(Evaluator):
    """valid_acc = a fixed random linear function of the space's features (a data-free objective)."""

    def __init__(self, space, seed: int = 0) -> None:
        super().__init__()
        self.space = space
        self.w = np.random.default_rng(seed).standard_normal(space.feature_size)

    @classmethod
    def from_config(cls, space, *, dataset, seed=0):  # pragma: no cover - not registered
        return cls(space, seed)

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("valid_acc",)

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        f = self.space.features(list(genotypes)) @ self.w
        return [{"valid_acc": float(v)} for v in f]


def measure(checkpoint: str, optimizer: str, proposals: int, seed: int, box: bool) -> dict[str, float]:
    space = get_space(read_metadata(checkpoint)["space"])
    model = load(checkpoint, space=space)
    strategy = STRATEGIES.create("latent", space, model=model, optimizer=optimizer, seed=seed)  # no stages: the decodes alone
    if not box:
        strategy.loc, strategy.scale = torch.zeros_like(strategy.loc), torch.ones_like(strategy.scale)
    result = search(space, strategy, LinearScore(space, seed), budget=10**6, stop=lambda r: r.proposals >= proposals,
                    patience=10**6, threads=0)  # threads: as --threads set them
    return {"proposals": result.proposals, "valid": result.valid_share,
            "valid_new": result.queries / result.proposals if result.proposals else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="+", required=True)
    parser.add_argument("--optimizers", nargs="+", default=["nao", "cso", "bo"])
    parser.add_argument("--proposals", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="latent_box.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for ckpt in args.checkpoints:
        meta = read_metadata(ckpt)
        for optimizer in args.optimizers:
            for box in (True, False):
                runs = [measure(ckpt, optimizer, args.proposals, s, box) for s in range(args.seeds)]
                row = {"checkpoint": ckpt, "space": meta["space"], "encoder": meta["encoder"],
                       "pretrain_seed": meta["hparams"].get("seed"), "optimizer": optimizer,
                       "asks": "standardized box" if box else "N(0, I) prior",
                       "valid": float(np.mean([r["valid"] for r in runs])),
                       "valid_new": float(np.mean([r["valid_new"] for r in runs])), "search_seeds": args.seeds}
                rows.append(row)
                print(json.dumps(row), flush=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
