"""SMS-EMOA over genotypes (Beume, Naujoks & Emmerich, "SMS-EMOA: Multiobjective selection based on
dominated hypervolume", European Journal of Operational Research 181(3), 2007): the multi-objective
evolution baseline of the benchmark, steady state with one-edit mutation as `rea` mutates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.pareto import hypervolume_at, nondominated
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import STRATEGIES, Strategy, Told


@STRATEGIES.register("sms_emoa")
class SMSEMOA(Strategy):
    """A population of `population` evaluated architectures (random ones first); each step mutates a
    uniformly chosen member (one edit, a child the search has not evaluated, redrawn up to `retries`
    times, else a random cell) and, once the child is evaluated, drops the member of the worst
    nondominated rank that adds least hypervolume to that rank (objectives scaled by the
    population's own range, reference point 1.1), so the population keeps its best front.
    """

    multi_objective = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population: int = 20,
        retries: int = 20,
        objectives: Sequence[str] = ("valid_acc",),
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        if not is_int(population) or not 2 <= population <= 10_000:
            raise ArchLatentError(f"sms_emoa: population must be an int in 2..10000, got {population!r}")
        if not is_int(retries) or not 1 <= retries <= 1_000:
            raise ArchLatentError(f"sms_emoa: retries must be an int in 1..1000, got {retries!r}")
        self.population_size, self.retries = population, retries
        self.members: list[Genotype] = []
        self.losses_of: list[list[float]] = []

    def ask(self) -> list[Genotype | None]:
        if len(self.members) < self.population_size:
            return [self.space.sample(self.rng) for _ in range(self.population_size - len(self.members))]
        for _ in range(self.retries):
            child = self.space.mutate(self.members[int(self.rng.integers(len(self.members)))], self.rng)
            if not self.is_seen(child):
                return [child]
        return [self.space.sample(self.rng)]  # the population's neighbourhood is exhausted

    def tell(self, told: Sequence[Told]) -> None:
        for t in told:
            if t.status == "new":
                self.members.append(t.genotype)  # type: ignore[arg-type]
                self.losses_of.append(self.losses(t.metrics))  # type: ignore[arg-type]
                if len(self.members) > self.population_size:
                    drop = self._worst()
                    del self.members[drop], self.losses_of[drop]

    def _worst(self) -> int:
        """The member of the last nondominated rank whose removal loses least hypervolume."""
        f = np.array(self.losses_of, dtype=np.float64)
        left = np.arange(len(f))
        while True:  # peel ranks until the last one
            mask = nondominated(f[left])
            if mask.all():
                break
            left = left[~mask]
        if len(left) == 1:
            return int(left[0])
        low, high = f.min(0), f.max(0)
        scaled = (f[left] - low) / np.where(high > low, high - low, 1.0)
        ref = np.full(f.shape[1], 1.1)
        whole = hypervolume_at(scaled, ref)
        loss = [whole - hypervolume_at(np.delete(scaled, i, axis=0), ref) for i in range(len(left))]
        return int(left[int(np.argmin(loss))])
