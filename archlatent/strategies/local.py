"""Local search (White, Nolen, Savani, "Exploring the Loss Landscape in Neural Architecture Search",
UAI 2021): move to the best neighbour while one improves; restart from a random cell at a local optimum."""

from __future__ import annotations

from collections.abc import Sequence

from archlatent.genotype import Genotype
from archlatent.strategies.base import STRATEGIES, Strategy, Told


@STRATEGIES.register("local")
class LocalSearch(Strategy):
    """First a random start, then its whole neighbourhood per ask (in random order); under constraints
    only feasible starts and neighbours are proposed (rejection, no query spent)."""

    current: tuple[Genotype, float] | None = None

    def ask(self) -> list[Genotype | None]:
        if self.current is not None:
            neighbours = [g for g in self.space.neighbours(self.current[0]) if self.admits(g)]
            if neighbours:
                return [neighbours[i] for i in self.rng.permutation(len(neighbours))]
            self.current = None  # no feasible neighbour: restart
        return [self.sample_admitted()]

    def tell(self, told: Sequence[Told]) -> None:
        scored = [(t.genotype, self.loss(t.metrics)) for t in told  # type: ignore[arg-type]
                  if t.status in ("new", "repeat") and t.genotype is not None and t.metrics is not None]
        if self.current is None:
            self.current = scored[0] if scored else None
            return
        best = min(scored, key=lambda pair: pair[1], default=None)
        # a local optimum (nothing better around): restart from a random cell
        self.current = best if best is not None and best[1] < self.current[1] else None
