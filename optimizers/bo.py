"""Bayesian optimization in a learned latent space (Snoek et al., "Practical Bayesian Optimization of
Machine Learning Algorithms", NeurIPS 2012; in an architecture latent space as in arch2vec, Yan et al.,
NeurIPS 2020).

A Gaussian process (RBF kernel, length scale by the median heuristic over the told points, targets
standardized) models f over the told points; each ask screens a few thousand candidate points (prior
N(0, I) draws and Gaussian perturbations of the best told points) and returns the `batch` with the
lowest lower confidence bound mu - beta * sigma (minimization). Before `n_init` feasible points are
known it asks N(0, I) samples. With a remapping search loop, the told points are the latent points of
real architectures, so the GP models the architectures' own embedding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from archlatent.checks import is_int

from .base import OPTIMIZERS, Optimizer, OptimizerError


@OPTIMIZERS.register("bo")
class BO(Optimizer):
    """GP lower-confidence-bound search over R^dim (single objective)."""

    def __init__(
        self,
        dim: int,
        *,
        n_obj: int = 1,
        seed: int | np.random.Generator | None = None,
        batch: int = 1,
        n_init: int = 10,
        beta: float = 2.0,
        candidates: int = 2000,
        local_scale: float = 0.3,
        noise: float = 1e-2,
    ) -> None:
        super().__init__(dim, n_obj=n_obj, seed=seed)
        for label, value in (("batch", batch), ("n_init", n_init), ("candidates", candidates)):
            if not is_int(value) or value < 1:
                raise OptimizerError(f"bo: {label} must be a positive int, got {value!r}")
        if not (beta >= 0.0 and local_scale > 0.0 and noise > 0.0):
            raise OptimizerError(f"bo: need beta >= 0, local_scale > 0, noise > 0; got {beta}, {local_scale}, {noise}")
        self.batch, self.n_init, self.beta = batch, n_init, float(beta)
        self.candidates, self.local_scale, self.noise = candidates, float(local_scale), float(noise)

    def _ask(self) -> Tensor:
        """Shapes: returns [batch, dim]."""
        z, f, feasible = self._history()
        z, f = z[feasible].double(), f[feasible, 0].double()
        if z.shape[0] < self.n_init:
            return torch.randn(self.batch, self.dim, generator=self.generator)
        pool = self._pool(z, f)
        mu, sd = self._posterior(z, f, pool)
        lcb = mu - self.beta * sd
        return pool[torch.argsort(lcb)[: self.batch]].float()

    def predict(self, z: Tensor) -> Tensor | None:
        """The GP's posterior mean once `n_init` feasible points are known. Shapes: z [m, dim] -> [m]."""
        hz, hf, feasible = self._history()
        if int(feasible.sum()) < self.n_init:
            return None
        return self._posterior(hz[feasible].double(), hf[feasible, 0].double(), z.double())[0].float()

    def _tell(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """The GP is refit from the history at each ask; nothing else to keep."""

    def _pool(self, z: Tensor, f: Tensor) -> Tensor:
        """Candidates: half prior draws, half perturbations of the ten best told points.

        Shapes: z [n, dim], f [n] -> [candidates, dim].
        """
        half = self.candidates // 2
        prior = torch.randn(self.candidates - half, self.dim, generator=self.generator, dtype=torch.float64)
        best = z[torch.argsort(f)[:10]]
        centres = best[torch.randint(best.shape[0], (half,), generator=self.generator)]
        local = centres + self.local_scale * torch.randn(half, self.dim, generator=self.generator, dtype=torch.float64)
        return torch.cat([prior, local])

    def _posterior(self, z: Tensor, f: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """GP posterior mean and standard deviation at `x`. Shapes: z [n, d], f [n], x [m, d] -> [m], [m]."""
        dist = torch.cdist(z, z)
        scale = dist[dist > 0].median() if bool((dist > 0).any()) else torch.tensor(1.0, dtype=z.dtype)
        mean, std = f.mean(), f.std().clamp_min(1e-9) if f.numel() > 1 else torch.tensor(1.0, dtype=f.dtype)
        k = torch.exp(-0.5 * (dist / scale) ** 2) + self.noise * torch.eye(z.shape[0], dtype=z.dtype)
        chol = torch.linalg.cholesky(k)
        alpha = torch.cholesky_solve(((f - mean) / std)[:, None], chol)
        ks = torch.exp(-0.5 * (torch.cdist(x, z) / scale) ** 2)
        mu = (ks @ alpha).squeeze(1)
        var = (1.0 - (ks * torch.cholesky_solve(ks.T, chol).T).sum(1)).clamp_min(1e-12)
        return mu * std + mean, var.sqrt() * std
