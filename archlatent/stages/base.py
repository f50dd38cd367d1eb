"""`Stage`: one step between a strategy's ask and the evaluator (PyG's transforms, pymoo's repair).

The search loop hands each ask through its stages in order; a stage sees the `Ask` and a small
`Context` (the space, the keys evaluated so far, the strategy's predictor if it has one, its random
stream, the executor) and returns the ask: with rows replaced (repair), rows added (neighbours),
rows reordered (rank) or rows left out (screen). Rows are as the strategy and the stages made them
(keys are the same for every form of a cell); the loop canonicalizes them after the last stage, and
a stage that evaluates canonicalizes what it evaluates. A stage never imports the loop. After the loop has
told the strategy, each stage is told too (`Stage.tell`), in the strategy's order.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from torch import Tensor

from archlatent.executors.base import Executor
from archlatent.genotype import Genotype
from archlatent.registry import Registry
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import Told


@dataclass
class Ask:
    """One round's proposals on their way to the evaluator.

    ``genotypes`` are the strategy's proposals in its order (the first ``asked``), then the rows
    stages added (``extra``); ``order`` is the evaluation order (a permutation of their indices);
    ``dropped`` the indices a stage left out (told ``screened`` where a stage answered them cheaply,
    ``infeasible`` where ``infeasible`` holds their cost answers (`archlatent.stages.constraint`), else
    ``skipped``); ``cheap`` the cheap answers a stage gave, by key ({metric: value}: the search tells
    them with the left-out rows and beside the full answer of the others); ``scores`` the predicted
    losses of the rows where a stage computed them (lower is better; ``inf`` where none).
    """

    genotypes: list[Genotype | None]
    asked: int
    order: list[int] = field(default_factory=list)
    dropped: set[int] = field(default_factory=set)
    cheap: dict[str, dict[str, float]] = field(default_factory=dict)
    scores: Tensor | None = None
    infeasible: dict[int, Mapping[str, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, proposals: Sequence[Genotype | None]) -> Ask:
        """A strategy's proposals, in its order."""
        return cls(list(proposals), len(proposals), list(range(len(proposals))))

    def add(self, genotypes: Sequence[Genotype]) -> None:
        """Append rows (evaluated after the others until a stage reorders them)."""
        self.order += range(len(self.genotypes), len(self.genotypes) + len(genotypes))
        self.genotypes += genotypes

    @property
    def extra(self) -> list[Genotype | None]:
        """The rows stages added."""
        return self.genotypes[self.asked :]

    def new(self, seen: Container[str]) -> dict[str, Genotype]:
        """The rows not seen before and not left out, first occurrence of each key, in evaluation order."""
        out: dict[str, Genotype] = {}
        for i in self.order:
            g = self.genotypes[i]
            if g is not None and i not in self.dropped and g.key() not in seen and g.key() not in out:
                out[g.key()] = g
        return out


@dataclass
class Context:
    """What a stage may look at: the space, the evaluated keys (read-only), the objectives, the
    strategy's random stream and predictor (``predict(genotypes)``: predicted losses or None), whether
    the strategy wants repeats told (not repaired), the executor, and the cheap answers' tally; and,
    under constraints (a `Constrain` stage sets them), ``admits(genotype)``: whether a cell meets them
    (answered from its free costs, ``costed`` counts those answers), ``meets(metrics)``: whether
    metrics do."""

    space: SearchSpace
    seen: Container[str]
    objectives: tuple[str, ...]
    rng: np.random.Generator
    executor: Executor
    predict: Callable[[Sequence[Genotype]], Tensor | None] | None = None
    rejects_repeats: bool = False
    screened: int = 0
    screen_cost: float = 0.0
    admits: Callable[[Genotype], bool] = field(default=lambda genotype: True)
    meets: Callable[[Mapping[str, float]], bool] = field(default=lambda metrics: True)
    costed: int = 0


class Stage:
    """A step of the pipeline: ``stage(ask, ctx) -> ask``; ``tell`` learns what became of the ask.

    ``cheap`` stages answer architectures with a cheap fidelity (counted apart in the run records).
    """

    name: ClassVar[str] = ""
    cheap: ClassVar[bool] = False

    def __init__(self) -> None:
        """A stage without settings (subclasses take theirs as keyword arguments)."""

    def __call__(self, ask: Ask, ctx: Context) -> Ask:
        raise NotImplementedError

    def attach(self, ctx: Context) -> None:
        """Called once with the run's context, before the first ask (a stage may lend it a predicate)."""

    def tell(self, told: Sequence[Told], ctx: Context) -> None:
        """What became of every row of the last ask (the strategy's rows, then the extra ones)."""


STAGES: Registry[Stage] = Registry("stage")
