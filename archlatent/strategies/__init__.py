"""Search strategies over genotypes: baselines (one file each) and the latent-space adapter."""

from archlatent.strategies import local, random, rea  # noqa: F401  (registers)
from archlatent.strategies.base import STRATEGIES, Strategy

__all__ = ["STRATEGIES", "Strategy"]
