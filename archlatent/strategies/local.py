"""Local search (White, Nolen, Savani, "Exploring the Loss Landscape in Neural Architecture Search",
UAI 2021): move to the best neighbour while one improves; restart from a random cell at a local optimum."""

from __future__ import annotations

from collections.abc import Sequence

from archlatent.genotype import Genotype
from archlatent.strategies.base import STRATEGIES, Strategy, Told


@STRATEGIES.register("local")
class LocalSearch(Strategy):
    """First a random start, then its whole neighbourhood per ask (in random order)."""

    current: tuple[Genotype, float] | None = None

    def ask(self) -> list[Genotype | None]:
        if self.current is None:
            return [self.space.sample(self.rng)]
        neighbours = self.space.neighbours(self.current[0])
        return [neighbours[i] for i in self.rng.permutation(len(neighbours))]

    def tell(self, told: Sequence[Told]) -> None:
        scored = [(t.genotype, self.loss(t.metrics)) for t in told  # evaluated rows (a screened row's answer is cheap)
                  if t.status in ("new", "repeat") and t.genotype is not None and t.metrics is not None]
        if self.current is None:
            self.current = scored[0] if scored else None
            return
        best = min(scored, key=lambda pair: pair[1], default=None)
        # a local optimum (nothing better around): restart from a random cell
        self.current = best if best is not None and best[1] < self.current[1] else None
