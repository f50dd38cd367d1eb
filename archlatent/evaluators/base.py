"""The `Evaluator` interface shared by tabular benchmarks and supernets, with its cost counter."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from archlatent.genotype import Genotype

log = logging.getLogger(__name__)


@dataclass
class Cost:
    """What evaluations have cost so far: distinct architectures paid for, free repeats, seconds."""

    queries: int = 0
    repeats: int = 0
    simulated_seconds: float = 0.0
    seen: set[str] = field(default_factory=set, repr=False)

    def charge(self, identity: str, seconds: float) -> bool:
        """Count one query of `identity`; True when it is new (and so paid for)."""
        if identity in self.seen:
            self.repeats += 1
            log.debug("repeat query of %s (free)", identity)
            return False
        self.seen.add(identity)
        self.queries += 1
        self.simulated_seconds += seconds
        return True

    def as_dict(self) -> dict[str, float]:
        """JSON-able summary."""
        return {"queries": self.queries, "repeats": self.repeats, "simulated_seconds": self.simulated_seconds}


class Evaluator(ABC):
    """Maps genotypes to metric dicts (``valid_acc``, ``test_acc``, costs, ...) and counts the cost."""

    #: The search space this evaluator answers for.
    space_name: str = ""

    def __init__(self) -> None:
        self.cost = Cost()

    @abstractmethod
    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        """One metric dict per genotype; raises an ArchLatentError for a genotype it cannot answer."""

    @property
    def provenance(self) -> dict[str, str]:
        """Where the answers come from (file, sha256, ...), for results and checkpoints."""
        return {}
