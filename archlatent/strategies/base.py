"""`Strategy`: proposes genotypes and learns from their scores; the search loop drives it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np

from archlatent.genotype import Genotype
from archlatent.registry import Registry
from archlatent.spaces.base import SearchSpace


class Strategy(ABC):
    """Ask/tell over genotypes. Scores are maximized (validation accuracy); None = no valid architecture.

    `tell` always answers the previous `ask`, in order, one score per proposal.
    """

    def __init__(self, space: SearchSpace, seed: int | np.random.Generator | None = None) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def ask(self) -> list[Genotype | None]:
        """Next proposals (None where a proposal decoded to no valid architecture)."""

    @abstractmethod
    def tell(
        self,
        genotypes: Sequence[Genotype | None],
        scores: Sequence[float | None],
        metrics: Sequence[Mapping[str, float] | None] | None = None,
    ) -> None:
        """Scores (and full metric dicts) of the last proposals, as canonical genotypes.

        A score is None where the proposal was invalid or not evaluated (budget spent).
        """

    def warm_start(self, genotypes: Sequence[Genotype], scores: Sequence[float]) -> None:
        """Architectures evaluated before the search began (labels); baselines ignore them."""


STRATEGIES: Registry[Strategy] = Registry("search strategy")
