"""`Strategy`: proposes genotypes and learns from what became of them; the search loop drives it.

One sign convention for every strategy: the objectives are named once (accuracy first, then costs)
and each is turned into a quantity to minimize by `archlatent.objectives.signed` (accuracies
negated, costs as they are). Latent optimizers minimize too, so nothing else flips a sign.
What has been seen is known in one place, the search loop: it tells the strategy the fate of every
proposal (`Told.status`) and lends it a read-only view of the evaluated keys (`is_seen`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.objectives import signed
from archlatent.registry import Registry
from archlatent.spaces.base import SearchSpace

Status = Literal["new", "repeat", "invalid", "skipped", "screened", "infeasible"]


@dataclass(frozen=True)
class Told:
    """The fate of one proposal: ``new`` (evaluated now), ``repeat`` (evaluated before: metrics are
    the earlier ones), ``invalid`` (no valid architecture; no genotype), ``skipped`` (valid and new
    but not evaluated: the budget was spent, or a stage left it out unanswered; no metrics), ``screened``
    (valid and new, answered only by a screen's cheap fidelity: metrics hold that answer by its name),
    ``infeasible`` (it breaks a constraint, so it was not evaluated: metrics are its free cost answers only)."""

    genotype: Genotype | None
    metrics: Mapping[str, float] | None
    status: Status


class Strategy(ABC):
    """Ask/tell over genotypes, minimizing the signed objectives.

    Subclasses write `ask` and `tell`; `warm_start` (labelled architectures known before the search)
    is optional. ``needs_model`` strategies get the pretrained autoencoder as ``model=``;
    ``multi_objective`` ones accept more than one objective.
    """

    name: ClassVar[str] = ""
    needs_model: ClassVar[bool] = False
    multi_objective: ClassVar[bool] = False
    #: Whether `tell` also takes the rows stages added to an ask (`archlatent.stages`), after its own.
    takes_extra_rows: ClassVar[bool] = False

    def __init__(
        self, space: SearchSpace, *, objectives: Sequence[str] = ("valid_acc",), seed: int | np.random.Generator | None = None
    ) -> None:
        self.space = space
        self.objectives = tuple(objectives)
        if not self.objectives:
            raise ArchLatentError(f"strategy {self.name!r} needs at least one objective")
        if len(self.objectives) > 1 and not self.multi_objective:
            raise ArchLatentError(
                f"strategy {self.name!r} is single-objective; got objectives {list(self.objectives)} "
                "(use the latent strategy with a multi-objective optimizer such as nsga2)"
            )
        self.rng = np.random.default_rng(seed)
        self._seen: Container[str] = frozenset()
        self.admits: Callable[[Genotype], bool] = lambda genotype: True

    def attach(self, seen: Container[str], admits: Callable[[Genotype], bool] | None = None) -> None:
        """The search loop's read-only view of evaluated keys and, under constraints, whether a cell meets
        them (`admits`, answered from free costs; called once, before the first ask)."""
        self._seen = seen
        if admits is not None:
            self.admits = admits

    def sample_admitted(self, tries: int = 1000) -> Genotype:
        """A uniform cell of the space that meets the constraints (rejection sampling, up to `tries`
        draws; the first draw where there are none)."""
        for _ in range(tries):
            drawn = self.space.sample(self.rng)
            if self.admits(drawn):
                return drawn
        raise ArchLatentError(f"strategy {self.name!r}: none of {tries} uniform cells met the constraints; feasible "
                              "cells are too rare for rejection sampling (loosen the constraints, or search with "
                              "lanas or a latent optimizer, which steer by the infeasible cells they are told)")

    def is_seen(self, genotype: Genotype) -> bool:
        """Whether the search has evaluated `genotype` (by key) already."""
        return genotype.key() in self._seen

    def loss(self, metrics: Mapping[str, float]) -> float:
        """The first objective as a quantity to minimize."""
        return signed(self.objectives[0], metrics[self.objectives[0]])

    def losses(self, metrics: Mapping[str, float]) -> list[float]:
        """Every objective as a quantity to minimize."""
        return [signed(o, metrics[o]) for o in self.objectives]

    @abstractmethod
    def ask(self) -> list[Genotype | None]:
        """Next proposals (None where a proposal decoded to no valid architecture)."""

    @abstractmethod
    def tell(self, told: Sequence[Told]) -> None:
        """What became of the last proposals, in order, one `Told` per proposal (then, with
        ``takes_extra_rows``, one per row the stages added)."""

    def warm_start(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Architectures evaluated before the search began (labels); baselines ignore them."""


STRATEGIES: Registry[Strategy] = Registry("search strategy")
