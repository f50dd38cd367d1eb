"""A portfolio of latent strategies: one per autoencoder of a `Portfolio` (issue 13), sharing every
answer.

Each member runs its own optimizer in its own latent space (settings from
`Optimizer.member_settings`, so a round asks about as much as one optimizer); an ask is the
members' asks in order, and every member learns every new evaluation: its own proposals through
`tell`, the other members' (and the stages' extra rows) as seeds; the portfolio's predictor is the
members' mean. Each member is TNAO's latent search (He et al., IJCNN 2023); why several
(one pretraining seed is a gamble) is measured in BENCHMARKS.md 2b.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from archlatent.genotype import Genotype
from archlatent.optimizers import OPTIMIZERS
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import STRATEGIES, Strategy, Told
from archlatent.strategies.cheap import CheapAnswers
from archlatent.strategies.latent import LatentStrategy

if TYPE_CHECKING:
    from archlatent.encoders.portfolio import Portfolio


@STRATEGIES.register("portfolio")
class PortfolioStrategy(Strategy):
    """One `LatentStrategy` per autoencoder of `model`; each member's optimizer gets a stream spawned
    from `seed`, and a portfolio of one is that one latent strategy's behaviour; `cheap_answers`
    is every member's (`archlatent.strategies.cheap`)."""

    needs_model = True
    multi_objective = True
    takes_extra_rows = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        model: Portfolio | torch.nn.Module,
        optimizer: str = "nao",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        remap: bool = True,
        objectives: Sequence[str] = ("valid_acc",),
        seed: int | np.random.Generator | None = None,
        cheap_answers: CheapAnswers = "reject",
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        models = list(model) if isinstance(model, Sequence) else [model]
        own = int(seed.integers(2**63)) if isinstance(seed, np.random.Generator) else seed
        seeds = [own] if len(models) == 1 else [np.random.default_rng(s) for s in np.random.SeedSequence(own).spawn(len(models))]
        settings = OPTIMIZERS.get(optimizer).member_settings(optimizer_kwargs or {}, len(models))
        self.members = [LatentStrategy(space, model=m, optimizer=optimizer, optimizer_kwargs=settings, remap=remap,
                                       objectives=objectives, seed=self.rng, optimizer_seed=s, cheap_answers=cheap_answers)
                        for m, s in zip(models, seeds)]

    @property
    def rejects_repeats(self) -> bool:
        return self.members[0].rejects_repeats

    def attach(self, seen: Any, admits: Any = None) -> None:
        super().attach(seen, admits)
        for member in self.members:
            member.attach(seen, admits)

    def predict(self, genotypes: Sequence[Genotype]) -> Tensor | None:
        """The members' mean predicted loss (None while no member predicts). Shapes: -> [n]."""
        scores = [p for m in self.members if (p := m.predict(genotypes)) is not None]
        return torch.stack(scores).mean(0) if scores else None

    def ask(self) -> list[Genotype | None]:
        return [g for member in self.members for g in member.ask()]

    def tell(self, told: Sequence[Told]) -> None:
        parts, start = [], 0
        for member in self.members:
            parts.append(list(told[start : start + member.rows]))
            start += member.rows
        parts.append(list(told[start:]))  # the stages' extra rows
        for j, member in enumerate(self.members):
            member.tell(parts[j] + [t for i, p in enumerate(parts) if i != j for t in p])

    def warm_start(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        for member in self.members:
            member.warm_start(genotypes, metrics)
