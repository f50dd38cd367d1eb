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

#: Random cells drawn for a repeat whose neighbourhood holds no unseen feasible cell.
_DRAWS = 100


@STAGES.register("repair")
class Repair(Stage):
    """Replace each repeating proposal by an unseen neighbour (or one two edits away, else a random cell);
    under constraints (`Context.admits`) only by feasible ones, and rows dropped before are left alone."""

    def __call__(self, ask: Ask, ctx: Context) -> Ask:
        if ctx.rejects_repeats:
            return ask
        taken: set[str] = set()
        ask.genotypes[: ask.asked] = [g if i in ask.dropped else self._unseen(g, taken, ctx)
                                      for i, g in enumerate(ask.genotypes[: ask.asked])]
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
                if hop[i].key() not in ctx.seen and hop[i].key() not in taken and ctx.admits(hop[i]):
                    taken.add(hop[i].key())
                    return hop[i]
        for _ in range(_DRAWS):  # a random cell; under constraints a feasible one (else the repeat, free)
            drawn = ctx.space.sample(ctx.rng)
            if ctx.admits(drawn):
                return drawn
        return g
