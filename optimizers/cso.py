"""Cheng & Jin, "A Competitive Swarm Optimizer for Large Scale Optimization", IEEE Trans. Cybernetics 45(2), 2015.

A swarm of `swarm_size` particles (positions and velocities). Each generation pairs the particles at
random; in each pair the winner (lower f; infeasible always loses; ties go by the optimizer's rng) stays
put and the loser learns from it:

    v_l <- r1 * v_l + r2 * (x_w - x_l) + phi * r3 * (mean(x) - x_l),    x_l <- x_l + v_l

with r1, r2, r3 ~ U(0, 1)^dim drawn per loser. The first ask returns the initial swarm, N(0, I) samples
(minus the particles seeded before it); every later ask returns only the moved losers (swarm_size / 2
rows), and their told f and z (possibly remapped) replace the losers' old ones.

`phi` (the pull toward the swarm mean) defaults to 0: the authors' reference code uses phi = 0 below
500 dimensions (0.05 from 500, 0.1 from 1000, 0.2 from 2000), and latent spaces are small.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from archlatent.checks import is_int

from .base import OPTIMIZERS, Optimizer, OptimizerError


@OPTIMIZERS.register("cso")
class CSO(Optimizer):
    """Competitive Swarm Optimizer over R^dim (single objective)."""

    batch_setting = "swarm_size"

    @classmethod
    def _round_batch(cls, n: int) -> int:
        return max(2, n + n % 2)  # pairs compete: an even swarm of at least one pair

    def __init__(
        self,
        dim: int,
        *,
        n_obj: int = 1,
        seed: int | np.random.Generator | None = None,
        swarm_size: int = 20,
        phi: float = 0.0,
    ) -> None:
        super().__init__(dim, n_obj=n_obj, seed=seed)
        if not is_int(swarm_size) or swarm_size < 2 or swarm_size % 2:
            raise OptimizerError(f"cso: swarm_size must be an even int >= 2, got {swarm_size!r}")
        if not phi >= 0.0:
            raise OptimizerError(f"cso: phi must be >= 0, got {phi!r}")
        self.swarm_size = swarm_size
        self.phi = float(phi)
        self.x = torch.empty(0, dim)  # positions [n, dim], n < swarm_size only before the swarm is complete
        self.v = torch.empty(0, dim)  # velocities [n, dim]
        self.fx = torch.empty(0)  # objective [n], +inf where infeasible
        self._moving: tuple[Tensor, Tensor] | None = None  # the pending ask's losers [m/2] and new velocities

    def _ask(self) -> Tensor:
        """Shapes: returns [swarm_size - n_seeded, dim] at first, then [swarm_size / 2, dim]."""
        missing = self.swarm_size - self.x.shape[0]
        if missing > 0:
            return torch.randn(missing, self.dim, generator=self.generator)
        losers, winners = self._compete()
        half = losers.shape[0]
        r1, r2, r3 = torch.rand(3, half, self.dim, generator=self.generator)
        x_l = self.x[losers]
        v = r1 * self.v[losers] + r2 * (self.x[winners] - x_l) + self.phi * r3 * (self.x.mean(0) - x_l)
        self._moving = losers, v
        return x_l + v

    def _compete(self) -> tuple[Tensor, Tensor]:
        """Random pairs and their outcome. Shapes: returns losers [m/2], winners [m/2] (particle indices)."""
        half = self.swarm_size // 2
        perm = torch.randperm(self.swarm_size, generator=self.generator)
        a, b = perm[:half], perm[half:]
        coin = torch.rand(half, generator=self.generator) < 0.5
        a_loses = (self.fx[a] > self.fx[b]) | ((self.fx[a] == self.fx[b]) & coin)
        return torch.where(a_loses, a, b), torch.where(a_loses, b, a)

    def _tell(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Shapes: z [k, dim], f [k, 1] (+inf where infeasible), feasible [k]."""
        if self._moving is None:  # the initial swarm
            self.x = torch.cat([self.x, z])
            self.v = torch.cat([self.v, torch.zeros_like(z)])
            self.fx = torch.cat([self.fx, f[:, 0]])
            return
        losers, v = self._moving
        self._moving = None
        self.x[losers], self.v[losers], self.fx[losers] = z, v, f[:, 0]

    def _seed(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Seeded points fill the swarm, then replace its worst particles when better (with zero velocity).

        Shapes: z [n, dim], f [n, 1] (+inf where infeasible), feasible [n].
        """
        pool_x, pool_f = torch.cat([self.x, z]), torch.cat([self.fx, f[:, 0]])
        pool_v = torch.cat([self.v, torch.zeros_like(z)])
        keep = torch.argsort(pool_f, stable=True)[: self.swarm_size].sort().values  # ties: old particles first
        self.x, self.v, self.fx = pool_x[keep], pool_v[keep], pool_f[keep]
