"""Constraints first: each ask's new cells are answered by their free costs (params, FLOPs, latency)
and those that break a constraint are dropped before any stage or the evaluator pays for them.

Costs are free, accuracy is not (`archlatent.constraints`): the evaluator's `costs` answers without
a query, as pymoo evaluates a problem's constraints beside its objectives and hands the algorithm
feasibility as its own signal (Deb's constrained domination). A dropped cell is told ``infeasible``
with its cost answers; the stage also lends the context `admits` (a cell meets the constraints) so
that later stages and rejection-sampling strategies propose only feasible cells, and `meets`, so
that the best of a run is the best feasible one. The cost answers are counted apart (``costed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archlatent.constraints import Constraint, ConstraintError, meets, parse_constraints
from archlatent.genotype import Genotype
from archlatent.stages.base import STAGES, Ask, Context, Stage


@STAGES.register("constraint")
class Constrain(Stage):
    """Drop the rows of an ask whose cells break a constraint; `evaluator`'s `costs` answer them.

    `constraints` are `Constraint` values or their texts (``"flops_m<=100"``). Costs are asked of
    the canonical cell (the one the search would evaluate) and kept by key, so each cell is answered once.
    """

    def __init__(self, evaluator: Any, constraints: Sequence[Constraint | str]) -> None:
        parsed = tuple(c if isinstance(c, Constraint) else parse_constraints([c])[0] for c in constraints)
        if not parsed:
            raise ConstraintError("the constraint stage needs at least one constraint")
        self.evaluator, self.constraints = evaluator, parsed
        self.answers: dict[str, dict[str, float]] = {}  # cost answers so far, by key

    def attach(self, ctx: Context) -> None:
        ctx.admits = lambda genotype: self.meets(self.costs([genotype], ctx)[0])
        ctx.meets = self.meets

    def meets(self, metrics: Mapping[str, float]) -> bool:
        """Whether `metrics` (cost answers, or a full answer) meet every constraint."""
        return meets(self.constraints, metrics)

    def costs(self, genotypes: Sequence[Genotype], ctx: Context) -> list[dict[str, float]]:
        """The cost answers of `genotypes`' canonical cells; new ones asked of the evaluator in one call."""
        cells = [ctx.space.canonicalize(g) for g in genotypes]
        fresh = list({g.key(): g for g in cells if g.key() not in self.answers}.values())
        if fresh:
            for g, costs in zip(fresh, self.evaluator.costs(fresh)):
                self.answers[g.key()] = costs
            ctx.costed += len(fresh)
        return [self.answers[g.key()] for g in cells]

    def __call__(self, ask: Ask, ctx: Context) -> Ask:
        rows = [i for i in ask.order if ask.genotypes[i] is not None and i not in ask.dropped
                and ask.genotypes[i].key() not in ctx.seen]  # type: ignore[union-attr]
        if not rows:
            return ask
        for i, costs in zip(rows, self.costs([ask.genotypes[i] for i in rows], ctx)):  # type: ignore[misc]
            if not self.meets(costs):
                ask.dropped.add(i)
                ask.infeasible[i] = costs
        return ask
