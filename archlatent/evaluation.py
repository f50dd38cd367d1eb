"""`Answers`: the metrics of architectures, from a run's journal when it has them, else evaluated (and
journaled as each arrives). The search loop and the screen both get their answers through one."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import Evaluator
from archlatent.executors.base import Executor
from archlatent.genotype import Genotype
from archlatent.journal import Journal
from archlatent.spaces.base import SearchSpace


class SearchError(ArchLatentError):
    """The search could not go on (bad budget, a failing evaluator); the journal keeps what was done."""


class Answers:
    """`evaluator`'s answers through `executor`; the ones `journal` holds (a resumed run) are replayed."""

    def __init__(self, space: SearchSpace, evaluator: Evaluator, executor: Executor, journal: Journal | None) -> None:
        self.space, self.evaluator, self.executor, self.journal = space, evaluator, executor, journal
        self.replay: Mapping[str, Mapping[str, float]] = {r["key"]: r["metrics"] for r in journal.records()} if journal else {}

    def __call__(self, genotypes: Sequence[Genotype]) -> dict[str, Mapping[str, float]]:
        """Metrics by key of `genotypes` (new to this run): replayed, or evaluated and journaled."""
        out: dict[str, Mapping[str, float]] = {g.key(): self.replay[g.key()] for g in genotypes if g.key() in self.replay}
        missing = [g for g in genotypes if g.key() not in self.replay]
        if missing:
            out.update(self._evaluate(missing))
        return out

    def source(self, key: str) -> str:
        """Where the answer for `key` came from, for an error message."""
        return f"journal {self.journal.path}" if self.journal is not None and key in self.replay else "the evaluator"

    def _evaluate(self, genotypes: list[Genotype]) -> dict[str, dict[str, float]]:
        """Evaluate new architectures; each result is checked and journaled as soon as it arrives."""
        out: dict[str, dict[str, float]] = {}
        journal = self.journal
        for index, outcome in self.executor.run(self.evaluator, genotypes):
            text = self.space.format(genotypes[index])
            if isinstance(outcome, BaseException):
                saved = f"; the {len(journal.records())} evaluations before it are saved in {journal.path}" if journal else ""
                raise SearchError(f"evaluating {text[:200]} failed: {outcome}{saved}") from outcome
            bad = sorted(k for k, v in outcome.items() if not (isinstance(v, (int, float)) and math.isfinite(v)))
            if bad:
                raise SearchError(f"the evaluator answered {text[:200]} with non-finite {bad}; nothing was recorded for it")
            if journal is not None:
                journal.append(genotypes[index].key(), text, outcome)
            out[genotypes[index].key()] = outcome
        return out
