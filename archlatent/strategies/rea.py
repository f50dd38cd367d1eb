"""Regularized evolution (Real et al., "Regularized Evolution for Image Classifier Architecture
Search", AAAI 2019), with NAS-Bench-201's settings: population 10, tournament 3, one-edit mutation."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from archlatent.genotype import Genotype
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import STRATEGIES, Strategy


@STRATEGIES.register("rea")
class RegularizedEvolution(Strategy):
    """Aging evolution: the oldest member dies, the child of a tournament winner joins.

    Only new architectures join the population; a child that was evaluated before is redrawn up to
    `retries` times (then a random cell is proposed), so the budget goes to distinct architectures (as the benchmark protocol counts).
    """

    retries = 20

    def __init__(
        self, space: SearchSpace, seed: int | np.random.Generator | None = None, population: int = 10, tournament: int = 3
    ) -> None:
        super().__init__(space, seed)
        self.population_size = population
        self.tournament = tournament
        self.population: deque[tuple[Genotype, float]] = deque()
        self.seen: set[str] = set()

    def ask(self) -> list[Genotype | None]:
        if len(self.population) < self.population_size:
            return [self.space.sample(self.rng) for _ in range(self.population_size - len(self.population))]
        # children already evaluated are free but teach nothing: draw again (a few times)
        for _ in range(self.retries):
            picks = self.rng.choice(len(self.population), size=self.tournament, replace=False)
            parent = max((self.population[i] for i in picks), key=lambda member: member[1])[0]
            child = self.space.mutate(parent, self.rng)
            if child.key() not in self.seen:
                return [child]
        return [self.space.sample(self.rng)]  # the population's neighbourhood is exhausted

    def tell(
        self,
        genotypes: Sequence[Genotype | None],
        scores: Sequence[float | None],
        metrics: Sequence[Mapping[str, float] | None] | None = None,
    ) -> None:
        for genotype, score in zip(genotypes, scores):
            if genotype is None or score is None or genotype.key() in self.seen:
                continue
            self.seen.add(genotype.key())
            self.population.append((genotype, score))
            if len(self.population) > self.population_size:
                self.population.popleft()
