"""Latent-space search (He et al., TNAO, IJCNN 2023): a tensor optimizer's points, decoded by a
pretrained autoencoder, become architectures; their scores go back as minimization targets.

With ``remap`` each decoded point is replaced by its architecture's own latent point before the
optimizer sees it (TNAO's remapping), so the swarm or population sits on real architectures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from archlatent.genotype import Genotype
from archlatent.optimizers.base import Optimizer
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import Strategy


class LatentStrategy(Strategy):
    """Drives an `Optimizer` through a model's `reconstruct` (latent -> genotype) and `embed` (back).

    Objectives: the first of `objectives` is maximized (accuracy), the others minimized (costs).
    Rows that decode to nothing valid, or that the loop could not evaluate (budget spent), are
    rejected (infeasible). Rows decoding to known architectures are told their measured score, as
    TNAO scores remapped particles; when the optimizer sets ``reject_repeats`` (NAO), rows decoding to architectures it has seen are rejected
    too, so it widens its steps. Otherwise, with ``repair``, such a decode is moved to an unseen
    neighbour of it (so a converging swarm keeps paying for new architectures), and without it the
    row is told its measured score.
    """

    def __init__(
        self,
        space: SearchSpace,
        model: torch.nn.Module,
        optimizer: Optimizer,
        *,
        remap: bool = True,
        objectives: Sequence[str] = ("valid_acc",),
        repair: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed)
        if len(objectives) != optimizer.n_obj:
            raise ValueError(f"{len(objectives)} objectives for an optimizer of {optimizer.n_obj}")
        self.model, self.optimizer, self.remap = model, optimizer, remap
        self.objectives = tuple(objectives)
        self.repair = repair
        self._z: Tensor | None = None
        self._seen: set[str] = set()

    def ask(self) -> list[Genotype | None]:
        self._z = self.optimizer.ask()
        decoded = list(self.model.reconstruct(self._z))
        if self.repair and not getattr(self.optimizer, "reject_repeats", False):
            decoded = [self._unseen_neighbour(g) for g in decoded]
        return decoded

    def _unseen_neighbour(self, g: Genotype | None) -> Genotype | None:
        """A decode that repeats a known architecture moves to an unseen neighbour (or one two edits
        away); where the whole neighbourhood is known, to a random cell."""
        if g is None or g.key() not in self._seen:
            return g
        ring = self.space.neighbours(g)
        for hop in (ring, self.space.neighbours(ring[int(self.rng.integers(len(ring)))]) if ring else []):
            for i in self.rng.permutation(len(hop)):
                if hop[i].key() not in self._seen:
                    return hop[i]
        return self.space.sample(self.rng)

    def tell(
        self,
        genotypes: Sequence[Genotype | None],
        scores: Sequence[float | None],
        metrics: Sequence[Mapping[str, float] | None] | None = None,
    ) -> None:
        assert self._z is not None, "tell() before ask()"
        metrics = metrics or [None] * len(genotypes)
        reject_repeats = getattr(self.optimizer, "reject_repeats", False)
        rejected, kept, values = [], [], []
        for row, (g, m) in enumerate(zip(genotypes, metrics)):
            if g is None or m is None or (reject_repeats and g.key() in self._seen):
                rejected.append(row)
            else:
                kept.append(row)
                values.append(self._objectives(m))
        if rejected:
            self.optimizer.reject(rejected)
        if kept:
            z = self.model.embed([genotypes[r] for r in kept]).cpu() if self.remap else self._z[kept]
            f = torch.tensor(values, dtype=torch.float32)
            self.optimizer.tell(z.float(), f, torch.ones(len(kept), dtype=torch.bool))
        self._seen.update(g.key() for g in genotypes if g is not None)

    def warm_start(self, genotypes: Sequence[Genotype], scores: Sequence[float]) -> None:
        """Labelled architectures seed the optimizer at their latent points (single objective)."""
        if not genotypes or self.optimizer.n_obj != 1:
            return
        f = -torch.tensor(scores, dtype=torch.float32)[:, None]
        self.optimizer.seed(self.model.embed(list(genotypes)).cpu().float(), f)
        self._seen.update(g.key() for g in genotypes)

    def _objectives(self, metrics: Mapping[str, float]) -> list[float]:
        first, *costs = self.objectives
        return [-float(metrics[first]), *(float(metrics[c]) for c in costs)]
