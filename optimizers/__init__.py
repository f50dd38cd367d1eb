"""Optimizers over latent points (ask/tell, minimization), one file each, registered by name."""

from __future__ import annotations

import numpy as np

from archlatent.registry import import_plugins

from .base import OPTIMIZERS, Optimizer, OptimizerError

import_plugins(__name__, __path__)  # registers every file's optimizer

__all__ = ["OPTIMIZERS", "Optimizer", "OptimizerError", "get_optimizer"]


def get_optimizer(
    name: str, dim: int, *, n_obj: int = 1, seed: int | np.random.Generator | None = None, **hyper: object
) -> Optimizer:
    """A fresh optimizer registered as `name` over R^dim; an unknown setting is one clear error."""
    return OPTIMIZERS.create(name, dim, n_obj=n_obj, seed=seed, **hyper)
