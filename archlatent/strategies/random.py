"""Random search: uniform samples from the space (Li & Talwalkar, "Random Search and Reproducibility
for Neural Architecture Search", UAI 2019)."""

from __future__ import annotations

from collections.abc import Sequence

from archlatent.genotype import Genotype
from archlatent.strategies.base import STRATEGIES, Strategy, Told


@STRATEGIES.register("random")
class RandomSearch(Strategy):
    """Proposes 16 uniform samples per ask (a fixed batch, not a setting) and learns nothing from their scores;
    under constraints, uniform feasible ones (rejection: an infeasible draw is redrawn, free)."""

    batch = 16
    multi_objective = True  # it samples, whatever the objectives

    def ask(self) -> list[Genotype | None]:
        return [self.sample_admitted() for _ in range(self.batch)]

    def tell(self, told: Sequence[Told]) -> None:
        """Random search learns nothing from scores."""
