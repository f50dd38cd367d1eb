"""Regularized evolution (Real et al., "Regularized Evolution for Image Classifier Architecture
Search", AAAI 2019), with NAS-Bench-201's settings: population 10, tournament 3, one-edit mutation."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import STRATEGIES, Strategy, Told


@STRATEGIES.register("rea")
class RegularizedEvolution(Strategy):
    """Aging evolution: the oldest member dies, the child of a tournament winner joins.

    Only new architectures join the population; a child the search has evaluated before is redrawn
    up to `retries` times (then a random cell is proposed), so the budget goes to distinct
    architectures (as the benchmark protocol counts). Under constraints the same rejection keeps
    infeasible children and samples out (no query is spent on them).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        population: int = 10,
        tournament: int = 3,
        retries: int = 20,
        objectives: Sequence[str] = ("valid_acc",),
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        if not 1 <= tournament <= population:
            raise ArchLatentError(f"rea: need 1 <= tournament <= population, got {tournament} and {population}")
        self.population_size, self.tournament, self.retries = population, tournament, retries
        self.population: deque[tuple[Genotype, float]] = deque()

    def ask(self) -> list[Genotype | None]:
        if len(self.population) < self.population_size:
            return [self.sample_admitted() for _ in range(self.population_size - len(self.population))]
        for _ in range(self.retries):  # children already evaluated are free but teach nothing
            picks = self.rng.choice(len(self.population), size=self.tournament, replace=False)
            parent = min((self.population[i] for i in picks), key=lambda member: member[1])[0]
            child = self.space.mutate(parent, self.rng)
            if not self.is_seen(child) and self.admits(child):
                return [child]
        return [self.sample_admitted()]  # the population's (feasible) neighbourhood is exhausted

    def tell(self, told: Sequence[Told]) -> None:
        for t in told:
            if t.status == "new":
                self.population.append((t.genotype, self.loss(t.metrics)))  # type: ignore[arg-type]
                if len(self.population) > self.population_size:
                    self.population.popleft()
