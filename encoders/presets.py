"""Pretraining settings tuned per space and encoder: what `archlatent pretrain` uses by default.

Each preset is a flat dict of `pretrain` keyword arguments (samples, epochs, batch_size, lr) and
encoder hyperparameters (hidden, layers, ...). They were tuned on a 2-core CPU so that held-out
exact reconstruction reaches >= 99.9 % on NB201 and >= 99 % on NB101 and DARTS
(`benchmarks/encoders.py` measures this; BENCHMARKS.md has the figures).
"""

from __future__ import annotations

from typing import Any

from archlatent.bounds import check_all

#: NB201 is small (8,765 distinct cells): a narrow model, small batches, the whole space. A decoder of
#: width 128 reconstructs as well and decodes ~1.4x faster, but its latent space searched worse
#: (10 seeds, 100 queries: bo 94.13 vs 94.32, nao 94.10 vs 94.37), so the default 256 stays.
_NB201 = {"epochs": 8, "batch_size": 64, "lr": 3e-3, "hidden": 32, "layers": 2}
#: NB101 and DARTS need wider models and more data (variable adjacency; DARTS has two 15-node cells).
#: NB101's sampler (nasbench's) rarely gives 7-node cells: 300k draws give ~28k keys.
_NB101 = {"samples": 300_000, "epochs": 15, "batch_size": 128, "lr": 3e-3, "hidden": 128, "layers": 3,
          "latent_dim": 32, "dec_hidden": 512}
_DARTS = {"samples": 20_000, "epochs": 30, "batch_size": 128, "lr": 2e-3, "hidden": 128, "layers": 3,
          "latent_dim": 64, "dec_hidden": 512}

#: NAS-Bench-Graph: the whole space (26,206 classes, 3x NB201's), so half NB201's epochs for ~1.5x its
#: steps; both encoders reconstruct every held-out class from epoch 3 (BENCHMARKS.md section 10).
_NBGRAPH = {"epochs": 4, "batch_size": 64, "lr": 3e-3, "hidden": 32, "layers": 2}

PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("nb201", "gin"): _NB201,
    ("nb201", "transformer"): {**_NB201, "heads": 2},
    ("nb101", "gin"): _NB101,
    ("nb101", "transformer"): {**_NB101, "epochs": 20, "lr": 1.5e-3},  # at lr 3e-3 it collapsed once, ending at 98.7 %
    ("darts", "gin"): _DARTS,
    ("darts", "transformer"): _DARTS,
    ("nbgraph", "gin"): _NBGRAPH,
    ("nbgraph", "transformer"): {**_NBGRAPH, "heads": 2},
}


#: Autoencoders a search pretrains by default (a `Portfolio` when above one; see encoders/portfolio.py).
#: NB201 + transformer: three, measured in BENCHMARKS.md 2b. Elsewhere one: portfolios are unmeasured
#: there, and a DARTS model takes minutes to pretrain.
MEMBERS: dict[tuple[str, str], int] = {("nb201", "transformer"): 3}


#: Free training targets (issue 25, `archlatent.encoders.targets`), opt-in: `archlatent pretrain --targets free`, or
#: ``preset("nb201", "transformer", targets=FREE_TARGETS["nb201"])``. They make the latent mean rank
#: architectures better under a linear probe (the arch2vec use case), but not the default: on NB201
#: the default search reached the best cell later with them. Weight 0.5, as weight 1 cost held-out
#: reconstruction on one NB201 seed. The figures are in BENCHMARKS.md 2c.
FREE_TARGETS: dict[str, dict[str, float]] = {
    "nb201": {"params": 0.5, "flops": 0.5, "ops": 0.5, "depth": 0.5, "paths": 0.5, "extremes": 0.5},
    "darts": {"params": 0.5, "flops": 0.5, "ops": 0.5, "depth": 0.5, "paths": 0.5, "extremes": 0.5},
}


def members(space: str, encoder: str) -> int:
    """How many autoencoders `archlatent search` / `pretrain` train by default for `encoder` on `space`."""
    return MEMBERS.get((space, encoder), 1)


def preset(space: str, encoder: str, **overrides: Any) -> dict[str, Any]:
    """The tuned settings for `encoder` on `space` (empty: the encoder's own defaults), with
    `overrides` on top; an override of None counts as not given (an unset command-line flag). An
    override outside `archlatent.bounds` (``hidden = 10**6``) is refused before anything is trained."""
    given = {k: v for k, v in overrides.items() if v is not None}
    check_all(given, "pretraining setting ")
    return {**PRESETS.get((space, encoder), {}), **given}
