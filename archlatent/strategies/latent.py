"""Latent-space search (He et al., TNAO, IJCNN 2023): a tensor optimizer's points, decoded by a
pretrained autoencoder, become architectures; their signed objectives go back to it.

The optimizer works in standardized coordinates u: a latent point is ``z = loc + scale * u`` with
the model's stored statistics of its training set's posterior means (``latent_loc``,
``latent_scale``), so an optimizer's N(0, I) start lands where the architectures are, whatever the
scale of the model's latent space. With ``remap`` each decoded point is replaced by its
architecture's own latent point before the optimizer sees it (TNAO's remapping), so the swarm or
population sits on real architectures. What happens to an ask before the evaluator (repair of
repeats, neighbours of the incumbent, ranking by `predict`) is the search's stages
(`archlatent.stages`); several autoencoders are a `PortfolioStrategy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.optimizers import OPTIMIZERS, Optimizer
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import STRATEGIES, Strategy, Told


@STRATEGIES.register("latent")
class LatentStrategy(Strategy):
    """Drives a registered `Optimizer` through a model's `reconstruct` (latent -> genotype) and `embed`.

    Proposals that decode to nothing valid, or that the loop did not evaluate (budget spent, screened
    out), are rejected (infeasible). Cells that break a constraint are told infeasible at their latent
    points (`Optimizer.tell`'s feasibility: each optimizer ranks them below every feasible point). Repeats are told their measured objectives, as TNAO scores
    remapped particles; an optimizer that sets ``reject_repeats`` (NAO) has them rejected instead, so
    it widens its steps. The rows stages add to an ask (``extra``) that were evaluated seed the
    optimizer at their latent points. `model` is one autoencoder (a `Portfolio` of one is
    unwrapped); `optimizer_seed` seeds the optimizer's own stream (default: drawn from `seed`).
    """

    needs_model = True
    multi_objective = True  # as far as the optimizer is (it refuses n_obj > 1 otherwise)
    takes_extra_rows = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        model: torch.nn.Module,
        optimizer: str = "nao",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        remap: bool = True,
        objectives: Sequence[str] = ("valid_acc",),
        seed: int | np.random.Generator | None = None,
        optimizer_seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        if isinstance(model, Sequence):  # a Portfolio
            if len(model) != 1:
                raise ArchLatentError(f"latent: one autoencoder per strategy, got {len(model)} (see PortfolioStrategy)")
            model = model[0]
        if optimizer_seed is None:  # an int seed seeds the optimizer's own stream too (a Generator is split, not shared)
            optimizer_seed = int(seed.integers(2**63)) if isinstance(seed, np.random.Generator) else seed
        self.model, self.remap = model, remap
        self.optimizer: Optimizer = OPTIMIZERS.create(optimizer, model.latent_dim, n_obj=len(self.objectives),
                                                      seed=optimizer_seed, **(optimizer_kwargs or {}))
        self.loc = model.latent_loc.detach().cpu().float()
        self.scale = model.latent_scale.detach().cpu().float().clamp_min(1e-6)
        self.u: Tensor | None = None  # the pending ask's standardized points
        self.rows = 0

    @property
    def rejects_repeats(self) -> bool:
        """Whether repeats are to be told (and rejected), not repaired (`archlatent.stages.repair`)."""
        return self.optimizer.reject_repeats

    def standard(self, genotypes: Sequence[Genotype]) -> Tensor:
        """The standardized latent points (posterior means) of `genotypes`. Shapes: -> [n, d]."""
        return (self.model.embed(list(genotypes)).cpu().float() - self.loc) / self.scale

    def predict(self, genotypes: Sequence[Genotype]) -> Tensor | None:
        """The optimizer's predicted losses for `genotypes` (`Optimizer.predict`; None without a
        surrogate). Shapes: -> [n]."""
        return self.optimizer.predict(self.standard(genotypes))

    def ask(self) -> list[Genotype | None]:
        self.u = self.optimizer.ask()
        z = self.loc + self.scale * self.u
        snap = getattr(self.space, "snap", None)  # a pool space: decodes snap to its members
        decoded = snap(z, self.model) if snap is not None else list(self.model.reconstruct(z))
        self.rows = len(decoded)
        return decoded

    def tell(self, told: Sequence[Told]) -> None:
        if self.u is None:
            raise ArchLatentError("latent: tell() before ask()")
        if len(told) < self.rows:
            raise ArchLatentError(f"latent: tell() got {len(told)} answers for an ask of {self.rows} rows")
        own, extra = told[: self.rows], told[self.rows :]
        kept = [r for r, t in enumerate(own) if t.status in ("new", "infeasible")
                or (t.status == "repeat" and not self.rejects_repeats)]
        rejected = [r for r in range(len(own)) if r not in set(kept)]
        if rejected:
            self.optimizer.reject(rejected)
        if kept:
            u = self.standard([own[r].genotype for r in kept]) if self.remap else self.u[kept]  # type: ignore[misc]
            feasible = torch.tensor([own[r].status != "infeasible" for r in kept], dtype=torch.bool)
            f = torch.tensor([self.losses(own[r].metrics) if ok else [0.0] * len(self.objectives)  # type: ignore[arg-type]
                              for r, ok in zip(kept, feasible.tolist())], dtype=torch.float32)
            self.optimizer.tell(u, f, feasible)
        self.u = None
        learned = [t for t in extra if t.status == "new" and t.metrics]
        if learned:
            self.seed_with([t.genotype for t in learned], [t.metrics for t in learned])  # type: ignore[misc]

    def seed_with(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Architectures evaluated elsewhere enter the optimizer at their latent points."""
        f = torch.tensor([self.losses(m) for m in metrics], dtype=torch.float32)
        self.optimizer.seed(self.standard(genotypes), f)

    def warm_start(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Labelled architectures (those that hold every objective) seed the optimizer."""
        usable = [(g, m) for g, m in zip(genotypes, metrics) if all(o in m for o in self.objectives)]
        if usable:
            self.seed_with([g for g, _ in usable], [m for _, m in usable])
