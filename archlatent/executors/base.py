"""The `Executor` contract and the default `local` executor.

An executor evaluates the new architectures of one ask and yields each result as it completes,
as ``(index, metrics)``; the search loop journals each one at once and tells the strategy only
when the whole batch is in, in ask order, so a seed gives the same history on any executor.
An evaluation that fails yields ``(index, error)``: the loop stops there with one clear error,
keeping everything finished before it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

from archlatent.evaluators.base import Evaluator
from archlatent.genotype import Genotype
from archlatent.registry import Registry

Outcome = tuple[int, "dict[str, float] | BaseException"]


class Executor(ABC):
    """Runs `evaluate` calls for the search loop; owns its workers (if any) until `close`."""

    name: str = ""

    @abstractmethod
    def run(self, evaluator: Evaluator, genotypes: Sequence[Genotype]) -> Iterator[Outcome]:
        """Evaluate each genotype; yield (its index, its metrics or the error) in completion order."""

    def close(self) -> None:
        """Release workers; the default has none."""

    @classmethod
    def check(cls) -> None:
        """Raise one ArchLatentError when this executor cannot run here (a missing extra); starts nothing.

        The CLI calls it before it writes a run folder, so a missing dependency leaves nothing behind.
        """


EXECUTORS: Registry[Executor] = Registry("executor")


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """Evaluates in this process, one architecture after the other (the default)."""

    def run(self, evaluator: Evaluator, genotypes: Sequence[Genotype]) -> Iterator[Outcome]:
        for i, genotype in enumerate(genotypes):
            try:
                yield i, evaluator.evaluate([genotype])[0]
            except Exception as err:  # noqa: BLE001  (any evaluator failure is reported with its architecture)
                yield i, err
                return
