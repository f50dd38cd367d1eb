"""Latent-space search (He et al., TNAO, IJCNN 2023): a tensor optimizer's points, decoded by a
pretrained autoencoder, become architectures; their signed objectives go back to it.

The optimizer works in standardized coordinates u: a latent point is ``z = loc + scale * u`` with
the model's stored statistics of its training set's posterior means (``latent_loc``,
``latent_scale``), so an optimizer's N(0, I) start lands where the architectures are, whatever the
scale of the model's latent space. With ``remap`` each decoded point is replaced by its
architecture's own latent point before the optimizer sees it (TNAO's remapping), so the swarm or
population sits on real architectures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from archlatent.genotype import Genotype
from archlatent.optimizers import OPTIMIZERS, Optimizer
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import STRATEGIES, Strategy, Told


@STRATEGIES.register("latent")
class LatentStrategy(Strategy):
    """Drives a registered `Optimizer` through a model's `reconstruct` (latent -> genotype) and `embed`.

    Proposals that decode to nothing valid, or that the loop did not evaluate (budget spent), are
    rejected (infeasible). Repeats are told their measured objectives, as TNAO scores remapped
    particles; an optimizer that sets ``reject_repeats`` (NAO) has them rejected instead, so it
    widens its steps. Otherwise, with ``repair``, a decode that repeats a known architecture is moved
    to an unseen neighbour (so a converging swarm keeps paying for new architectures).
    """

    needs_model = True
    multi_objective = True  # as far as the optimizer is (it refuses n_obj > 1 otherwise)

    def __init__(
        self,
        space: SearchSpace,
        *,
        model: torch.nn.Module,
        optimizer: str = "nao",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        remap: bool = True,
        repair: bool = True,
        objectives: Sequence[str] = ("valid_acc",),
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        self.model, self.remap, self.repair = model, remap, repair
        # an int seed seeds the optimizer's own stream too (a Generator is split, not shared)
        own = int(seed.integers(2**63)) if isinstance(seed, np.random.Generator) else seed
        self.optimizer: Optimizer = OPTIMIZERS.create(
            optimizer, model.latent_dim, n_obj=len(self.objectives), seed=own, **dict(optimizer_kwargs or {})
        )
        self.loc = model.latent_loc.detach().cpu().float()
        self.scale = model.latent_scale.detach().cpu().float().clamp_min(1e-6)
        self._u: Tensor | None = None

    def to_latent(self, u: Tensor) -> Tensor:
        """Latent points of standardized ones. Shapes: u [k, d] -> z [k, d]."""
        return self.loc + self.scale * u

    def to_standard(self, z: Tensor) -> Tensor:
        """Standardized coordinates of latent points. Shapes: z [k, d] -> u [k, d]."""
        return (z - self.loc) / self.scale

    def ask(self) -> list[Genotype | None]:
        self._u = self.optimizer.ask()
        z = self.to_latent(self._u)
        snap = getattr(self.space, "snap", None)  # a pool space: decodes snap to its members
        decoded = snap(z, self.model) if snap is not None else list(self.model.reconstruct(z))
        if self.repair and not self.optimizer.reject_repeats:
            taken: set[str] = set()
            decoded = [self._unseen(g, taken) for g in decoded]
        return decoded

    def _unseen(self, g: Genotype | None, taken: set[str]) -> Genotype | None:
        """`g`, or an unseen neighbour of it (or one two edits away, else a random cell) when the
        search has evaluated `g` or this ask already proposes it."""
        if g is None:
            return None
        if not self.is_seen(g) and g.key() not in taken:
            taken.add(g.key())
            return g
        ring = self.space.neighbours(g)
        for hop in (ring, self.space.neighbours(ring[int(self.rng.integers(len(ring)))]) if ring else []):
            for i in self.rng.permutation(len(hop)):
                if not self.is_seen(hop[i]) and hop[i].key() not in taken:
                    taken.add(hop[i].key())
                    return hop[i]
        return self.space.sample(self.rng)

    def tell(self, told: Sequence[Told]) -> None:
        assert self._u is not None, "tell() before ask()"
        rejected, kept = [], []
        for row, t in enumerate(told):
            unusable = t.metrics is None or (t.status == "repeat" and self.optimizer.reject_repeats)
            (rejected if unusable else kept).append(row)
        if rejected:
            self.optimizer.reject(rejected)
        if kept:
            if self.remap:
                u = self.to_standard(self.model.embed([told[r].genotype for r in kept]).cpu().float())
            else:
                u = self._u[kept]
            f = torch.tensor([self.losses(told[r].metrics) for r in kept], dtype=torch.float32)
            self.optimizer.tell(u, f, torch.ones(len(kept), dtype=torch.bool))
        self._u = None

    def warm_start(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Labelled architectures seed the optimizer at their latent points (when they hold every objective)."""
        usable = [(g, m) for g, m in zip(genotypes, metrics) if all(o in m for o in self.objectives)]
        if not usable:
            return
        u = self.to_standard(self.model.embed([g for g, _ in usable]).cpu().float())
        f = torch.tensor([self.losses(m) for _, m in usable], dtype=torch.float32)
        self.optimizer.seed(u, f)
