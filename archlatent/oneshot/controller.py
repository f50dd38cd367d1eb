"""A REINFORCE controller over a restricted edge-op space (Williams, Machine Learning 8, 1992), for RADARS.

RADARS's abstract says only that RL prunes undesired candidates; the controller is our choice. It is
a factorized policy, not ENAS's LSTM: independent softmaxes over the ops of every (cell, edge) and,
on DARTS, over the inputs of every intermediate node (two drawn without replacement). Factorized
logits rate every candidate op directly (its probability on its edge), which is what pruning reads,
and they train in a few hundred steps on the CPU. The update is REINFORCE with a moving-average
baseline (ENAS's: ``b <- b - (1 - decay) (b - r)``) and a small entropy bonus, Adam on the logits.
All sampling draws from the controller's own torch Generator; tie-breaks in `prune` from its numpy one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.distributions import Categorical

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.oneshot.runtime import check_positive
from archlatent.spaces import darts
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.restrict import RestrictedSpace, restriction_of


class Controller:
    """REINFORCE (moving-average baseline) over the genotypes of a (restricted) DARTS or NB201 space."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        lr: float = 0.05,
        baseline_decay: float = 0.9,
        entropy_weight: float = 1e-3,
        seed: int = 0,
    ) -> None:
        check_positive(lr=lr)
        if not 0.0 <= baseline_decay < 1.0 or entropy_weight < 0:
            raise ArchLatentError("controller baseline_decay must be in [0, 1) and entropy_weight >= 0")
        self.space = restriction_of(space)
        lay = self.space.layout
        self.op_logits = torch.zeros(lay.cells, lay.edges, len(lay.ops), requires_grad=True)
        self.input_logits = torch.zeros(lay.cells, lay.edges, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.op_logits, self.input_logits], lr=lr)
        self.baseline_decay, self.entropy_weight = baseline_decay, entropy_weight
        self.baseline: float | None = None
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)

    def restrict(self, space: SearchSpace) -> None:
        """Sample from `space` (a subspace of the current one) from now on; the logits carry over."""
        self.space = restriction_of(space)

    def _mask(self) -> torch.Tensor:
        return torch.from_numpy(self.space.mask())

    def _draw(self, logits: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
        """One index from softmax(`logits`) (-inf = forbidden) with its log-probability and the entropy."""
        dist = Categorical(logits=logits)
        k = int(torch.multinomial(dist.probs.detach(), 1, generator=self.generator))
        return k, dist.log_prob(torch.tensor(k)), dist.entropy()

    def sample(self) -> tuple[Genotype, torch.Tensor, torch.Tensor]:
        """A genotype of the space, its log-probability under the policy and the policy's entropy."""
        mask, ops = self._mask(), self.space.layout.ops
        op_logits = self.op_logits.masked_fill(~mask, float("-inf"))
        terms: list[tuple[torch.Tensor, torch.Tensor]] = []

        def op_on(c: int, e: int) -> str:
            k, logp, ent = self._draw(op_logits[c, e])
            terms.append((logp, ent))
            return ops[k]

        if self.space.name == "nb201":
            genotype = self.space.base.from_ops([op_on(0, e) for e in range(self.space.layout.edges)])
        else:
            cells = []
            for c in range(self.space.layout.cells):
                pairs = []
                for node in range(2, 2 + darts.N_STEPS):
                    rows = [darts.edge_index(node, j) for j in range(node)]
                    logits = self.input_logits[c, rows].masked_fill(~mask[c, rows].any(1), float("-inf"))
                    first, logp, ent = self._draw(logits)
                    second, logp2, _ = self._draw(logits.masked_fill(torch.arange(node) == first, float("-inf")))
                    terms.append((logp + logp2, ent))
                    pairs += [(op_on(c, rows[j]), j) for j in (first, second)]
                cells.append(pairs)
            genotype = self.space.base.from_pairs(*cells)
        log_prob = torch.stack([t[0] for t in terms]).sum()
        return genotype, log_prob, torch.stack([t[1] for t in terms]).sum()

    def update(self, log_probs: list[torch.Tensor], entropies: list[torch.Tensor], rewards: list[float]) -> float:
        """One REINFORCE step on sampled architectures with their `rewards`; returns the mean advantage."""
        for r in rewards:
            self.baseline = r if self.baseline is None else self.baseline - (1 - self.baseline_decay) * (self.baseline - r)
        advantages = [r - self.baseline for r in rewards]
        loss = -sum(a * lp + self.entropy_weight * h for a, lp, h in zip(advantages, log_probs, entropies))
        self.optimizer.zero_grad()
        (loss / len(rewards)).backward()
        self.optimizer.step()
        return float(np.mean(advantages))

    def op_probs(self) -> np.ndarray:
        """``[cells, edges, ops]``: each allowed op's probability on its edge (0 where not allowed)."""
        with torch.no_grad():
            return torch.softmax(self.op_logits.masked_fill(~self._mask(), float("-inf")), -1).numpy()

    def best(self) -> Genotype:
        """The policy's mode: the likeliest op per edge and, on DARTS, the two likeliest inputs per node."""
        probs = self.op_probs()
        if self.space.name == "nb201":
            return self.space.base.from_ops([self.space.layout.ops[int(k)] for k in probs[0].argmax(1)])
        with torch.no_grad():
            inputs = self.input_logits.masked_fill(~self._mask().any(2), float("-inf")).numpy()
        cells = []
        for c in range(len(probs)):
            pairs = []
            for node in range(2, 2 + darts.N_STEPS):
                rows = [darts.edge_index(node, j) for j in range(node)]
                for j in np.argsort(-inputs[c, rows], kind="stable")[:2]:
                    pairs.append((self.space.layout.ops[int(probs[c, rows[j]].argmax())], int(j)))
            cells.append(pairs)
        return self.space.base.from_pairs(*cells)

    def prune(self, keep_fraction: float) -> RestrictedSpace:
        """The subspace keeping, on every edge, the ``ceil(keep_fraction * n)`` ops the policy rates highest.

        ``n`` is the edge's allowed ops; at least one op stays on every open edge. Ties (e.g. edges
        the controller never sampled) are broken at random, not by vocabulary order.
        """
        if not 0.0 < keep_fraction < 1.0:
            raise ArchLatentError(f"keep_fraction must be in (0, 1), got {keep_fraction}")
        probs, mask = self.op_probs(), self.space.mask()
        kept = np.zeros_like(mask)
        for c, e in np.ndindex(*mask.shape[:2]):
            n = int(mask[c, e].sum())
            if n:
                order = np.lexsort((self.rng.random(len(probs[c, e])), -np.where(mask[c, e], probs[c, e], -1.0)))
                kept[c, e, order[: max(1, math.ceil(keep_fraction * n))]] = True
        return RestrictedSpace.from_mask(self.space.base, kept)

    def state_dict(self) -> dict[str, Any]:
        return {
            "op_logits": self.op_logits.detach().clone(),
            "input_logits": self.input_logits.detach().clone(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
            "generator": self.generator.get_state(),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.op_logits.copy_(state["op_logits"])
            self.input_logits.copy_(state["input_logits"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.generator.set_state(state["generator"])
        self.rng.bit_generator.state = state["rng"]
