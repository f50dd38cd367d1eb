"""Latent-space search (He et al., TNAO, IJCNN 2023): a tensor optimizer's points, decoded by a
pretrained autoencoder, become architectures; their signed objectives go back to it.

The optimizer works in standardized coordinates u: a latent point is ``z = loc + scale * u`` with
the model's stored statistics of its training set's posterior means (``latent_loc``,
``latent_scale``), so an optimizer's N(0, I) start lands where the architectures are, whatever the
scale of the model's latent space. With ``remap`` each decoded point is replaced by its
architecture's own latent point before the optimizer sees it (TNAO's remapping), so the swarm or
population sits on real architectures.

Given a `Portfolio` of autoencoders (issue 13), the strategy runs one optimizer in each member's
latent space (settings from `Optimizer.member_settings`, so a round asks about as much as one
optimizer); an ask is the members' asks in order, and every member learns every new evaluation:
its own proposals through `tell`, the other members' through `seed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.optimizers import OPTIMIZERS, Optimizer
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import STRATEGIES, Strategy, Told

if TYPE_CHECKING:
    from archlatent.encoders.portfolio import Portfolio


@dataclass
class _Member:
    """One autoencoder with its optimizer, its standardization and its pending ask (u, rows)."""

    model: torch.nn.Module
    optimizer: Optimizer
    loc: Tensor
    scale: Tensor
    u: Tensor | None = None
    rows: int = 0

    def to_latent(self, u: Tensor) -> Tensor:
        """Latent points of standardized ones. Shapes: u [k, d] -> z [k, d]."""
        return self.loc + self.scale * u

    def to_standard(self, z: Tensor) -> Tensor:
        """Standardized coordinates of latent points. Shapes: z [k, d] -> u [k, d]."""
        return (z - self.loc) / self.scale

    def standard(self, genotypes: Sequence[Genotype]) -> Tensor:
        """The standardized latent points (posterior means) of `genotypes`. Shapes: -> [n, d]."""
        return self.to_standard(self.model.embed(list(genotypes)).cpu().float())


@STRATEGIES.register("latent")
class LatentStrategy(Strategy):
    """Drives a registered `Optimizer` through a model's `reconstruct` (latent -> genotype) and `embed`.

    Proposals that decode to nothing valid, or that the loop did not evaluate (budget spent), are
    rejected (infeasible). Repeats are told their measured objectives, as TNAO scores remapped
    particles; an optimizer that sets ``reject_repeats`` (NAO) has them rejected instead, so it
    widens its steps. Otherwise, with ``repair``, a decode that repeats a known architecture is moved
    to an unseen neighbour (so a converging swarm keeps paying for new architectures). `model` is one
    autoencoder or a `Portfolio` of them (one optimizer each). `neighbours` adds that many unseen
    neighbours (`space.neighbours`: one edit away; in pool mode the nearest pool members) of the best
    architecture evaluated so far to every ask, best first by the members' mean
    prediction (`Optimizer.predict`; random order without one): latent steps from the incumbent can
    stay blind to a better cell one edit away (on NB201, most runs that missed the optimum ended one
    edit from it; BENCHMARKS.md 2b). Default: 2 for a single objective, 0 (none) for several. With
    `rank` an ask is returned best first by the members' mean prediction (undecodable rows last; the
    members' order while none predicts), so a budget that ends inside a round is spent on its most
    promising proposals; each optimizer is still told its own rows in its own order.
    """

    needs_model = True
    multi_objective = True  # as far as the optimizer is (it refuses n_obj > 1 otherwise)

    def __init__(
        self,
        space: SearchSpace,
        *,
        model: torch.nn.Module | Portfolio,
        optimizer: str = "nao",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        remap: bool = True,
        repair: bool = True,
        neighbours: int | None = None,
        rank: bool = True,
        objectives: Sequence[str] = ("valid_acc",),
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        if neighbours is None:
            neighbours = 2 if len(self.objectives) == 1 else 0
        if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 0:
            raise ArchLatentError(f"latent: neighbours must be an int >= 0, got {neighbours!r}")
        if neighbours and len(self.objectives) > 1:
            raise ArchLatentError("latent: neighbours (of the best architecture) needs a single objective")
        if not isinstance(rank, bool):
            raise ArchLatentError(f"latent: rank must be true or false, got {rank!r}")
        self.remap, self.repair, self.neighbours, self.rank = remap, repair, neighbours, rank
        self._order: list[int] = []  # the pending ask's rows, as returned: asked row j is proposal _order[j]
        self._best: tuple[float, Genotype] | None = None  # (loss, genotype) of the best evaluated so far
        models = list(model) if isinstance(model, Sequence) else [model]  # a Portfolio
        # an int seed seeds the optimizer's own stream too (a Generator is split, not shared); members
        # of a portfolio get streams spawned from it
        own = int(seed.integers(2**63)) if isinstance(seed, np.random.Generator) else seed
        seeds = [own] if len(models) == 1 else [np.random.default_rng(s) for s in np.random.SeedSequence(own).spawn(len(models))]
        settings = OPTIMIZERS.get(optimizer).member_settings(optimizer_kwargs or {}, len(models))
        self.members = [
            _Member(m, OPTIMIZERS.create(optimizer, m.latent_dim, n_obj=len(self.objectives), seed=s, **settings),
                    m.latent_loc.detach().cpu().float(), m.latent_scale.detach().cpu().float().clamp_min(1e-6))
            for m, s in zip(models, seeds)
        ]

    @property
    def model(self) -> torch.nn.Module:
        """The (first member's) autoencoder."""
        return self.members[0].model

    @property
    def optimizer(self) -> Optimizer:
        """The (first member's) optimizer."""
        return self.members[0].optimizer

    def ask(self) -> list[Genotype | None]:
        snap = getattr(self.space, "snap", None)  # a pool space: decodes snap to its members
        taken: set[str] = set()
        proposals: list[Genotype | None] = []
        for member in self.members:
            member.u = member.optimizer.ask()
            z = member.to_latent(member.u)
            decoded = snap(z, member.model) if snap is not None else list(member.model.reconstruct(z))
            if self.repair and not member.optimizer.reject_repeats:
                decoded = [self._unseen(g, taken) for g in decoded]
            member.rows = len(decoded)
            proposals += decoded
        ring = self._ring({g.key() for g in proposals if g is not None})
        valid = [i for i, g in enumerate(proposals) if g is not None] if self.rank else []
        scored = [proposals[i] for i in valid] + ring
        scores = self._predict(scored) if scored else None  # type: ignore[arg-type]
        picked: list[int] = []
        if ring:  # the best-predicted neighbours of the incumbent (random ones while no member predicts)
            order = scores[len(valid):].argsort(stable=True).tolist() if scores is not None else self.rng.permutation(len(ring)).tolist()
            picked = order[: self.neighbours]
        asked = proposals + [ring[i] for i in picked]
        self._order = list(range(len(asked)))
        if self.rank and scores is not None:  # best-predicted first, undecodable rows last
            key = torch.full((len(asked),), torch.inf)
            key[valid] = scores[: len(valid)]
            key[len(proposals):] = scores[len(valid):][picked]
            self._order = key.argsort(stable=True).tolist()
        return [asked[i] for i in self._order]

    def _ring(self, taken: set[str]) -> list[Genotype]:
        """The unseen neighbours of the best architecture so far that this ask does not propose yet."""
        if not self.neighbours or self._best is None:
            return []
        return list({g.key(): g for g in self.space.neighbours(self._best[1])
                     if not self.is_seen(g) and g.key() not in taken}.values())

    def _predict(self, genotypes: Sequence[Genotype]) -> Tensor | None:
        """The members' mean prediction (`Optimizer.predict`, lower is better) for `genotypes`; None
        while no member predicts. Shapes: -> [n]."""
        scores = [p for m in self.members if (p := m.optimizer.predict(m.standard(genotypes))) is not None]
        return torch.stack(scores).mean(0) if scores else None

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
        if len(told) != len(self._order):
            raise ArchLatentError(f"latent: tell() got {len(told)} answers for an ask of {len(self._order)} rows")
        told = [t for _, t in sorted(zip(self._order, told), key=lambda pair: pair[0])]  # back in ask order
        parts, start = [], 0
        for member in self.members:
            assert member.u is not None, "tell() before ask()"
            parts.append(list(told[start : start + member.rows]))
            start += member.rows
        polished = list(told[start:])
        for t in told:
            if t.metrics is not None and t.genotype is not None:
                self._note(t.genotype, t.metrics)
        for j, (member, part) in enumerate(zip(self.members, parts)):
            self._tell(member, part)
            others = [t for i, p in enumerate([*parts, polished]) if i != j for t in p if t.status == "new" and t.metrics]
            if others:
                self._seed(member, [t.genotype for t in others], [t.metrics for t in others])  # type: ignore[misc]

    def _note(self, genotype: Genotype, metrics: Mapping[str, float]) -> None:
        """Keep the best architecture seen (for `neighbours`)."""
        loss = self.loss(metrics)
        if self._best is None or loss < self._best[0]:
            self._best = (loss, genotype)

    def _tell(self, member: _Member, told: Sequence[Told]) -> None:
        """Answer `member`'s pending ask."""
        rejected, kept = [], []
        for row, t in enumerate(told):
            unusable = t.metrics is None or (t.status == "repeat" and member.optimizer.reject_repeats)
            (rejected if unusable else kept).append(row)
        if rejected:
            member.optimizer.reject(rejected)
        if kept:
            assert member.u is not None
            u = member.standard([told[r].genotype for r in kept]) if self.remap else member.u[kept]  # type: ignore[misc]
            f = torch.tensor([self.losses(told[r].metrics) for r in kept], dtype=torch.float32)  # type: ignore[arg-type]
            member.optimizer.tell(u, f, torch.ones(len(kept), dtype=torch.bool))
        member.u = None

    def _seed(self, member: _Member, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Labelled architectures enter `member`'s optimizer at their latent points."""
        f = torch.tensor([self.losses(m) for m in metrics], dtype=torch.float32)
        member.optimizer.seed(member.standard(genotypes), f)

    def warm_start(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Labelled architectures seed every member's optimizer (those that hold every objective)."""
        usable = [(g, m) for g, m in zip(genotypes, metrics) if all(o in m for o in self.objectives)]
        for g, m in usable:
            self._note(g, m)
        if usable:
            for member in self.members:
                self._seed(member, [g for g, _ in usable], [m for _, m in usable])
