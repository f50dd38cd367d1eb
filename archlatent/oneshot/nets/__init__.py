"""One-shot networks keyed by space: standalone networks (`NETWORKS`) and weight-sharing supernets (`SUPERNETS`).

`standalone_network` and `build_supernet` look the space up in those registries; a new space adds
one module here that registers its network and supernet.
"""

from __future__ import annotations

from typing import Any

import torch

from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.oneshot.nets import (
    darts,  # noqa: F401  (registers)
    nb201,  # noqa: F401  (registers)
)
from archlatent.oneshot.nets.base import (
    NETWORKS,
    SUPERNETS,
    Network,
    Supernet,
    count_flops_m,
    count_params_mb,
    without_affine,
)
from archlatent.oneshot.nets.darts import DartsNetwork, DartsSupernet
from archlatent.oneshot.nets.nb201 import NB201Network, NB201Supernet


def build_supernet(space: str, seed: int = 0, **config: Any) -> Supernet:
    """The supernet of `space` with `config` (C, N / layers, num_classes), initialized from `seed`.

    UnknownName for a space without a supernet; ArchLatentError for a config it does not take.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SUPERNETS.create(space, **config)


def standalone_network(genotype: Genotype, num_classes: int = 10, **config: Any) -> Network:
    """The network `genotype` stands for, trained from scratch (its space's `NETWORKS` entry).

    `config` overrides the published sizes (NB201: C=16, N=5; DARTS: C=36, layers=20) and DARTS's
    ``auxiliary`` / ``drop_path_prob``. Weights come from the global torch RNG: seed inside
    ``torch.random.fork_rng`` for a reproducible build.
    """
    if not isinstance(genotype, Genotype):
        raise InvalidArchitecture(f"expected a Genotype, got {type(genotype).__name__}")
    return NETWORKS.create(genotype.space, genotype, num_classes, **config)


__all__ = [
    "NETWORKS",
    "SUPERNETS",
    "DartsNetwork",
    "DartsSupernet",
    "NB201Network",
    "NB201Supernet",
    "Network",
    "Supernet",
    "build_supernet",
    "count_flops_m",
    "count_params_mb",
    "standalone_network",
    "without_affine",
]
