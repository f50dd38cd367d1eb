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
from archlatent.strategies.cheap import Calibration, CheapAnswers


@STRATEGIES.register("latent")
class LatentStrategy(Strategy):
    """Drives a registered `Optimizer` through a model's `reconstruct` (latent -> genotype) and `embed`.

    Proposals that decode to nothing valid, or that the loop did not evaluate (budget spent), are
    rejected (infeasible). Cells that break a constraint are told infeasible at their
    latent points (`Optimizer.tell`'s feasibility). Repeats are told their measured objectives, as TNAO scores remapped
    particles; an optimizer that sets ``reject_repeats`` (NAO) has them rejected instead, so it
    widens its steps. Proposals a screen answered only cheaply (``screened``) go as `cheap_answers`
    says (`archlatent.strategies.cheap`): ``reject`` (infeasible, as before 0.8.0), ``drop``
    (withdrawn: neither feasible nor rejected), ``calibrate`` (feasible, the cheap answer mapped onto
    the full metric's scale) or ``pessimistic`` (calibrated, then one residual worse). The rows stages add to an ask (``extra``) that were evaluated seed the
    optimizer at their latent points (with a calibrated answer, the screened ones too). `model` is
    one autoencoder (a `Portfolio` of one is unwrapped); `optimizer_seed` seeds the optimizer's own
    stream (default: drawn from `seed`).
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
        cheap_answers: CheapAnswers = "reject",
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        self.cheap = Calibration(self.objectives, cheap_answers)
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
        self.cheap.learn(told)
        answers = [self._answer(t) for t in own]
        withdrawn = [r for r, a in enumerate(answers) if a is Calibration.WITHDRAW]
        if withdrawn:
            self.optimizer.withdraw(withdrawn)
        kept = [r for r, a in enumerate(answers) if isinstance(a, Mapping)]
        rejected = [r for r, a in enumerate(answers) if a is None]
        if rejected:
            self.optimizer.reject(rejected)
        if kept:
            u = self.standard([own[r].genotype for r in kept]) if self.remap else self.u[kept]  # type: ignore[misc]
            feasible = torch.tensor([own[r].status != "infeasible" for r in kept], dtype=torch.bool)
            f = torch.tensor([self.losses(answers[r]) if ok else [0.0] * len(self.objectives)  # type: ignore[arg-type]
                              for r, ok in zip(kept, feasible.tolist())], dtype=torch.float32)
            self.optimizer.tell(u, f, feasible)
        self.u = None
        learned = [(t.genotype, m) for t in extra if t.status in ("new", "screened") and (m := self.cheap.seed(t))]
        if learned:
            self.seed_with([g for g, _ in learned], [m for _, m in learned])  # type: ignore[misc]

    def _answer(self, told: Told) -> Mapping[str, float] | object | None:
        """What the optimizer is told of one own row: objectives (feasible), None (rejected) or
        `Calibration.WITHDRAW`."""
        if told.status == "screened":
            return self.cheap.answer(told.metrics)  # type: ignore[arg-type]
        if told.metrics is None or (told.status == "repeat" and self.rejects_repeats):
            return None
        return told.metrics

    def seed_with(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Architectures evaluated elsewhere enter the optimizer at their latent points."""
        f = torch.tensor([self.losses(m) for m in metrics], dtype=torch.float32)
        self.optimizer.seed(self.standard(genotypes), f)

    def warm_start(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Labelled architectures (those that hold every objective) seed the optimizer."""
        self.cheap.learn([Told(g, m, "new") for g, m in zip(genotypes, metrics)])
        usable = [(g, m) for g, m in zip(genotypes, metrics) if all(o in m for o in self.objectives)]
        if usable:
            self.seed_with([g for g, _ in usable], [m for _, m in usable])
