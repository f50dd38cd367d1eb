"""Neighbours of the incumbent: each ask gains the best-predicted unseen neighbours (one edit away;
in pool mode the nearest pool members) of the best architecture evaluated so far.

Latent steps from the incumbent can stay blind to a better cell one edit away; local search
(White et al., "Local search is state of the art for NAS benchmarks", 2020) shows how much sits
there. The neighbours are ranked by the strategy's predictor (random order while it has none).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.objectives import signed
from archlatent.stages.base import STAGES, Ask, Context, Stage
from archlatent.strategies.base import Told


@STAGES.register("neighbours")
class Neighbours(Stage):
    """Add `count` unseen neighbours of the incumbent to every ask, best predicted first.

    The predictions of the ask's own rows are computed with them (one call) and kept on the ask
    (``Ask.scores``) for a `Rank` stage after this one.
    """

    def __init__(self, count: int = 2) -> None:
        if not is_int(count) or count < 0:
            raise ArchLatentError(f"neighbours: count must be an int >= 0, got {count!r}")
        self.count = count
        self.best: tuple[float, Genotype] | None = None  # (loss, genotype) of the best told so far

    def __call__(self, ask: Ask, ctx: Context) -> Ask:
        ring = self._ring(ask, ctx)
        if not ring:
            return ask
        valid = [i for i, g in enumerate(ask.genotypes) if g is not None]
        scores = ctx.predict([ask.genotypes[i] for i in valid] + ring) if ctx.predict is not None else None  # type: ignore[misc]
        if scores is None:  # no predictor yet: random neighbours, and nothing to rank by
            picked = ctx.rng.permutation(len(ring)).tolist()[: self.count]
            ask.scores = torch.full((len(ask.genotypes) + len(picked),), torch.inf)
        else:
            picked = scores[len(valid) :].argsort(stable=True).tolist()[: self.count]
            ask.scores = torch.full((len(ask.genotypes) + len(picked),), torch.inf)
            ask.scores[valid] = scores[: len(valid)]
            ask.scores[len(ask.genotypes) :] = scores[len(valid) :][picked]
        ask.add([ring[i] for i in picked])
        return ask

    def _ring(self, ask: Ask, ctx: Context) -> list[Genotype]:
        """The unseen neighbours of the incumbent that the ask does not hold yet (and that meet the
        constraints, where a `Constrain` stage lent `Context.admits`)."""
        if not self.count or self.best is None:
            return []
        taken = {g.key() for g in ask.genotypes if g is not None}
        return list({g.key(): g for g in ctx.space.neighbours(self.best[1])
                     if g.key() not in ctx.seen and g.key() not in taken and ctx.admits(g)}.values())

    def tell(self, told: Sequence[Told], ctx: Context) -> None:
        for t in told:
            if t.status in ("new", "repeat") and t.metrics is not None and t.genotype is not None:  # evaluated
                loss = signed(ctx.objectives[0], t.metrics[ctx.objectives[0]])
                if self.best is None or loss < self.best[0]:
                    self.best = (loss, t.genotype)
