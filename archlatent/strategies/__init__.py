"""Search strategies over genotypes, one file each, registered by name in `STRATEGIES`: the baselines
(`random`, `rea`, `local`) and `latent` (a registered latent optimizer driven through an autoencoder)."""

from archlatent.registry import import_plugins
from archlatent.strategies.base import STRATEGIES, Strategy, Told

import_plugins(__name__, __path__)  # registers every file's strategy

__all__ = ["STRATEGIES", "Strategy", "Told"]
