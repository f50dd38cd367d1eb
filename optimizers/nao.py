"""Luo et al., "Neural Architecture Optimization", NeurIPS 2018: gradient steps on a learned performance predictor.

Every told point is kept. A small MLP f_hat(z) is fitted to the feasible ones (standardized targets,
`fit_steps` full-batch Adam steps, warm-started, at the first ask after tells or seeds that brought new
feasible data: one fit however many seeds a portfolio's round brings).
Each ask moves the `top_k` best feasible points ("starts") along the predictor's descent direction,
z' = z - eta_s * grad f_hat(z), one row per start; rows without a start (no fitted predictor yet, or
fewer usable starts than top_k) are N(0, I) samples. The first ask (no predictor yet) holds `n_init`
such samples (default: top_k).

Step growth, as NAO grows eta until the decoded architecture is new: a start whose proposal comes back
infeasible or rejected (`reject(rows)`: the latent strategy rejects proposals that decode to an
architecture the search has seen, since ``reject_repeats`` is set) gets its eta multiplied by `growth`,
up to `eta_max`; failing again at `eta_max` retires the start. A proposal that beats its start resets
that start's eta to `eta`; a withdrawn one (`withdraw`: answered by a screen only) leaves it as it is.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from archlatent.checks import is_int

from .base import OPTIMIZERS, Optimizer, OptimizerError


@OPTIMIZERS.register("nao")
class NAO(Optimizer):
    """Predictor-gradient latent optimizer (single objective)."""

    reject_repeats = True
    batch_setting = "top_k"

    def __init__(
        self,
        dim: int,
        *,
        n_obj: int = 1,
        seed: int | np.random.Generator | None = None,
        top_k: int = 20,
        n_init: int | None = None,
        eta: float = 4.0,
        growth: float = 2.0,
        eta_max: float = 32.0,
        hidden: int = 64,
        fit_steps: int = 100,
        lr: float = 1e-2,
    ) -> None:
        super().__init__(dim, n_obj=n_obj, seed=seed)
        n_init = top_k if n_init is None else n_init
        for label, value in (("top_k", top_k), ("n_init", n_init), ("hidden", hidden), ("fit_steps", fit_steps)):
            if not is_int(value) or value < 1:
                raise OptimizerError(f"nao: {label} must be a positive int, got {value!r}")
        if not (0.0 < eta <= eta_max and growth > 1.0 and lr > 0.0):
            raise OptimizerError(
                f"nao: need 0 < eta <= eta_max, growth > 1 and lr > 0; got eta={eta!r}, eta_max={eta_max!r}, "
                f"growth={growth!r}, lr={lr!r}"
            )
        self.top_k, self.n_init, self.eta, self.growth, self.eta_max, self.fit_steps = top_k, n_init, eta, growth, eta_max, fit_steps
        layers = [nn.utils.skip_init(nn.Linear, a, b) for a, b in ((dim, hidden), (hidden, hidden), (hidden, 1))]
        with torch.no_grad():  # init from the own generator (nn.Linear's default init would use the global one)
            for layer in layers:
                bound = layer.in_features**-0.5
                layer.weight.uniform_(-bound, bound, generator=self.generator)
                layer.bias.uniform_(-bound, bound, generator=self.generator)
        self.model = nn.Sequential(layers[0], nn.SiLU(), layers[1], nn.SiLU(), layers[2])
        self._adam = torch.optim.Adam(self.model.parameters(), lr=lr, fused=True)
        self._fitted = False
        self._stale = False  # feasible data arrived since the last fit (fitted at the next ask)
        self._eta: dict[int, float] = {}  # grown step sizes by start (history index)
        self._retired: set[int] = set()
        self._starts: Tensor | None = None  # the pending ask's start per row [k], -1 for a random row
        self._n_old = 0  # history length at the pending ask

    @property
    def step_sizes(self) -> dict[int, float]:
        """The grown step sizes by start (history index); starts not listed use `eta` (retired ones are left out)."""
        return dict(self._eta)

    @property
    def retired(self) -> frozenset[int]:
        """Starts (history indices) retired after failing at `eta_max`; they are no longer moved."""
        return frozenset(self._retired)

    def _ask(self) -> Tensor:
        """Shapes: returns [top_k, dim] ([n_init, dim] before the predictor is fitted)."""
        self._refresh()
        z, f, feasible = self._history()
        self._n_old = z.shape[0]
        starts: list[int] = []
        k = self.top_k if self._fitted else self.n_init
        if self._fitted:
            order = torch.argsort(torch.where(feasible, f[:, 0], torch.inf), stable=True)
            starts = [i for i in order[feasible[order]].tolist() if i not in self._retired][:k]
        rows = [torch.randn(k - len(starts), self.dim, generator=self.generator)]
        if starts:
            idx = torch.tensor(starts)
            with torch.enable_grad():
                z0 = z[idx].clone().requires_grad_(True)
                (grad,) = torch.autograd.grad(self.model(z0).sum(), z0)
            eta = torch.tensor([self._eta.get(s, self.eta) for s in starts])
            rows.insert(0, z[idx] - eta[:, None] * grad)
        self._starts = torch.tensor(starts + [-1] * (k - len(starts)), dtype=torch.long)
        return torch.cat(rows)

    def predict(self, z: Tensor) -> Tensor | None:
        """f_hat(z) in standardized units, None before the predictor is fitted. Shapes: z [n, dim] -> [n]."""
        self._refresh()
        if not self._fitted:
            return None
        with torch.no_grad():
            return self.model(z.to(torch.float32))[:, 0]

    def _tell(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Shapes: z [k, dim], f [k, 1] (+inf where infeasible or rejected), feasible [k] (k rows asked)."""
        starts, self._starts = self._starts, None
        assert starts is not None
        old_f = self._history()[1][: self._n_old, 0]
        for row, start in enumerate(starts.tolist()):
            if start < 0 or self.withdrawn[row]:  # a withdrawn row says nothing of its step
                continue
            if not feasible[row]:
                self._grow(start)
            elif f[row, 0] < old_f[start]:
                self._eta.pop(start, None)
        self._stale |= bool(feasible.any())

    def _seed(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Seeded points only feed the predictor. Shapes: z [n, dim], f [n, 1], feasible [n]."""
        self._stale |= bool(feasible.any())

    def _grow(self, start: int) -> None:
        eta = self._eta.get(start, self.eta)
        if eta >= self.eta_max:
            self._retired.add(start)
            self._eta.pop(start, None)
        else:
            self._eta[start] = min(eta * self.growth, self.eta_max)

    def _refresh(self) -> None:
        """Fit the predictor if feasible data arrived since the last fit."""
        if self._stale:
            self._fit()

    def _fit(self) -> None:
        """Warm-started Adam steps on the standardized feasible targets (needs two feasible points)."""
        self._stale = False
        z, f, feasible = self._history()
        z, y = z[feasible], f[feasible, 0]
        if y.numel() < 2:
            return
        y = (y - y.mean()) / y.std().clamp_min(1e-8)
        with torch.enable_grad():
            for _ in range(self.fit_steps):
                self._adam.zero_grad()
                loss = nn.functional.mse_loss(self.model(z)[:, 0], y)
                loss.backward()
                self._adam.step()
        self._fitted = True
