"""The `Evaluator` interface shared by tabular benchmarks and supernets, its cost counter and registry.

Evaluators answer; they do not remember. Which architectures a search has already paid for is
known in one place, the `search()` loop, which calls an evaluator only for new ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archlatent.errors import ArchLatentError, InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.registry import Registry
from archlatent.spaces.base import SearchSpace


@dataclass
class Cost:
    """What evaluations have cost so far: architectures answered and the seconds they stand for.

    ``seconds`` is the training time a table records for the answered cells (what the query would
    have cost for real), or the wall-clock time a supernet spent on them.
    """

    queries: int = 0
    seconds: float = 0.0

    def charge(self, seconds: float) -> None:
        """Count one answered architecture that cost `seconds`."""
        self.queries += 1
        self.seconds += float(seconds)

    def as_dict(self) -> dict[str, float]:
        """JSON-able summary."""
        return {"queries": self.queries, "seconds": self.seconds}


class Evaluator(ABC):
    """Maps genotypes to metric dicts (``valid_acc``, ``test_acc``, costs, ...) and counts the cost.

    Plugins register with ``@EVALUATORS.register("name")`` and build from keyword arguments through
    `from_config`, so a `SearchConfig`'s ``[evaluator]`` table reaches them unchanged.
    """

    name: str = ""
    #: The search space this evaluator answers for.
    space_name: str = ""

    def __init__(self) -> None:
        self.cost = Cost()

    @classmethod
    @abstractmethod
    def from_config(cls, space: SearchSpace, *, dataset: str, seed: int = 0, **kwargs: Any) -> Evaluator:
        """Build for `space` and `dataset` from a config's keyword arguments (UnknownName-style errors)."""

    @abstractmethod
    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        """One metric dict per genotype; raises an ArchLatentError for a genotype it cannot answer."""

    @property
    @abstractmethod
    def metrics(self) -> tuple[str, ...]:
        """Names of the metrics every answer holds (what a search may name as an objective)."""

    def check(self, genotypes: Sequence[Genotype]) -> None:
        """InvalidArchitecture naming the first genotype that is not of this evaluator's space (called
        before any work, so a bad batch costs nothing)."""
        for genotype in genotypes:
            if not isinstance(genotype, Genotype) or genotype.space != self.space_name:
                other = genotype.space if isinstance(genotype, Genotype) else type(genotype).__name__
                raise InvalidArchitecture(
                    f"evaluator {self.name!r} answers for space {self.space_name!r}, not for a genotype of {other!r}"
                )

    @property
    def free_metrics(self) -> tuple[str, ...]:
        """The metrics of `metrics` a user has without training (params, FLOPs, latency:
        `archlatent.constraints.is_cost`), which `costs` answers without a query; none by default."""
        return ()

    def costs(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        """The `free_metrics` of each genotype: not a query, not charged (costs are free, accuracy is not)."""
        raise ArchLatentError(f"evaluator {self.name!r} answers no cost without a query")

    def fidelities(self, metric: str) -> tuple[str, ...]:
        """Cheap short-training versions of `metric` this evaluator can screen with, cheapest first."""
        return ()

    def fidelity(self, metric: str) -> tuple[Evaluator, float]:
        """A cheap evaluator answering `metric` (a short-training fidelity) and the share of one of this
        evaluator's answers that each of its answers costs; for a `Screen`. Only tables have one."""
        raise ArchLatentError(f"evaluator {self.name!r} has no cheap fidelity {metric!r} to screen with "
                              "(short-training columns come with a benchmark table: the tabular evaluator)")

    def answer_seconds(self, genotypes: Sequence[Genotype]) -> list[float] | None:
        """The seconds a full answer of each genotype costs, where known without answering (a table's
        recorded training time), so a cheap answer can be charged as a share of it; None elsewhere."""
        return None

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the answers come from (file, sha256, ...), for results and checkpoints."""
        return {}


EVALUATORS: Registry[Evaluator] = Registry("evaluator", provided=("space", "dataset", "seed", "table"), constructor="from_config")
