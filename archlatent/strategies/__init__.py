"""Search strategies over genotypes, one file each, registered by name in `STRATEGIES`: the baselines
(`random`, `rea`, `local`) and `latent` (a registered latent optimizer driven through an autoencoder)."""

from archlatent.strategies import lanas, latent, local, random, rea  # noqa: F401  (registers)
from archlatent.strategies.base import STRATEGIES, Strategy, Told

__all__ = ["STRATEGIES", "Strategy", "Told"]
