"""Repair of repeats: a proposal the search has evaluated, or that the ask already holds, becomes an
unseen neighbour of it, so a converging swarm keeps paying for new architectures.

TNAO (He et al., IJCNN 2023) remaps each decoded particle onto a real architecture; this repairs
a remapped particle that lands on a known one, the way pymoo's ``Repair`` mends an infeasible
offspring. Strategies that want their repeats told (NAO widens its steps when told one) are left
alone.
"""

from __future__ import annotations

from archlatent.genotype import Genotype
from archlatent.stages.base import STAGES, Ask, Context, Stage


@STAGES.register("repair")
class Repair(Stage):
    """Replace each repeating proposal by an unseen neighbour (or one two edits away, else a random cell)."""

    def __call__(self, ask: Ask, ctx: Context) -> Ask:
        if ctx.rejects_repeats:
            return ask
        taken: set[str] = set()
        ask.genotypes[: ask.asked] = [self._unseen(g, taken, ctx) for g in ask.genotypes[: ask.asked]]
        return ask

    @staticmethod
    def _unseen(g: Genotype | None, taken: set[str], ctx: Context) -> Genotype | None:
        """`g`, or an unseen neighbour of it when the search has evaluated it or the ask holds it."""
        if g is None:
            return None
        if g.key() not in ctx.seen and g.key() not in taken:
            taken.add(g.key())
            return g
        ring = ctx.space.neighbours(g)
        for hop in (ring, ctx.space.neighbours(ring[int(ctx.rng.integers(len(ring)))]) if ring else []):
            for i in ctx.rng.permutation(len(hop)):
                if hop[i].key() not in ctx.seen and hop[i].key() not in taken:
                    taken.add(hop[i].key())
                    return hop[i]
        return ctx.space.sample(ctx.rng)
