"""``ddas-cost``: a DDAS variant with cost in the reward (after Mills et al., "Exploring Neural Architecture
Search Space via Deep Deterministic Sampling", IEEE Access 9, 2021, doi:10.1109/ACCESS.2021.3101975).

This library's first DDAS, kept as a named option beside the paper's (`ddas`): one action per
supernet step, state = the previous architecture (one-hot) with its accuracy and normalized cost,
reward ``accuracy / 100 - lam * normalized cost``, tanh actions, decaying Gaussian or
Ornstein-Uhlenbeck noise. None of these choices is the paper's; they are the defaults below.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.oneshot.samplers.base import SAMPLERS, Cost
from archlatent.oneshot.samplers.ddpg import DDPGSampler, check_settings
from archlatent.spaces.base import SearchSpace

NOISES = ("gaussian", "ou")


@SAMPLERS.register("ddas-cost")
class DDASCostSampler(DDPGSampler):
    """DDAS with a cost term (variant of Mills et al., IEEE Access 2021): DDPG sampling rewarded by accuracy minus cost.

    ``sample()`` proposes the next path, ``feedback(genotype, accuracy)`` (accuracy in percent on a
    validation batch) rewards it with ``accuracy / 100 - lam * normalized cost`` (cost normalized by
    the range seen so far) and trains the agent once the replay buffer holds a batch. The first
    ``warmup`` actions are uniform noise. `front` is the Pareto front (accuracy vs cost) of every
    architecture sampled. Drives the nb201 and darts spaces (restricted ones too); needs `cost`.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        cost: Cost | None = None,
        lam: float = 0.5,
        hidden: int = 128,
        gamma: float = 0.5,
        tau: float = 0.01,
        actor_lr: float = 1e-3,
        critic_lr: float = 1e-3,
        buffer_size: int = 10_000,
        batch_size: int = 32,
        warmup: int = 32,
        noise: str = "gaussian",
        sigma: float = 0.4,
        sigma_min: float = 0.05,
        sigma_decay: float = 0.995,
        ou_theta: float = 0.15,
    ) -> None:
        if noise not in NOISES:
            raise ArchLatentError(f"unknown DDAS noise {str(noise)[:200]!r}; known: {', '.join(NOISES)}")
        inf = float("inf")
        check_settings(
            lam=(lam, 0.0, inf), warmup=(warmup, 0, inf), sigma=(sigma, 0.0, inf), sigma_min=(sigma_min, 0.0, inf),
            sigma_decay=(sigma_decay, 0.0, 1.0), ou_theta=(ou_theta, 0.0, 1.0),
        )  # fmt: skip
        super().__init__(
            space, seed=seed, cost=cost, state_extra=2, hidden=(hidden, hidden), squash=nn.Tanh(),
            actor_lr=actor_lr, critic_lr=critic_lr, gamma=gamma, tau=tau, buffer_size=buffer_size,
            batch_size=batch_size,
        )  # fmt: skip
        self.lam, self.warmup = lam, warmup
        self.noise, self.sigma, self.sigma_min, self.sigma_decay, self.ou_theta = (
            noise, sigma, sigma_min, sigma_decay, ou_theta
        )  # fmt: skip
        self.state = np.zeros(self.codec.dim + 2, np.float32)
        self._ou = np.zeros(self.codec.dim, np.float32)
        self._pending: tuple[Genotype, np.ndarray] | None = None
        self.history: list[dict[str, float]] = []

    def sample(self) -> Genotype:
        """The next architecture: the actor's action plus exploration noise (uniform during warm-up)."""
        dim = self.codec.dim
        if len(self.history) < self.warmup:
            action = self.rng.uniform(-1.0, 1.0, dim).astype(np.float32)
        else:
            action = np.clip(self.act(self.state) + self._explore(dim), -1.0, 1.0).astype(np.float32)
        genotype = self.codec.decode(action)
        self._pending = (genotype, action)
        return genotype

    def _explore(self, dim: int) -> np.ndarray:
        step = self.rng.standard_normal(dim).astype(np.float32) * self.sigma
        if self.noise == "gaussian":
            return step
        self._ou = self._ou - self.ou_theta * self._ou + step
        return self._ou

    def feedback(self, genotype: Genotype, accuracy: float, loss: float | None = None) -> None:
        """Reward the architecture last sampled with its `accuracy` (percent) and learn from it (`loss` unused)."""
        action = self.check_pending(self._pending, genotype)
        self._pending = None
        point = self.front.add(genotype, accuracy)
        low, high = self.front.cost_range()
        cost = (point.cost - low) / (high - low) if high > low else 0.0
        reward = accuracy / 100.0 - self.lam * cost
        next_state = np.concatenate([self.codec.encode(genotype), [accuracy / 100.0, cost]]).astype(np.float32)
        self.remember(self.state, action, reward, next_state)
        self.state = next_state
        self.history.append({"accuracy": float(accuracy), "cost": point.cost, "reward": float(reward)})
        if len(self.history) > self.warmup:
            self.sigma = max(self.sigma_min, self.sigma * self.sigma_decay)
        if self.stored >= self.batch_size:
            self.learn()
