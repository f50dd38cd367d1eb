"""DDAS, Deep Deterministic Architecture Sampling (Mills et al., "Exploring Neural Architecture Search Space
via Deep Deterministic Sampling", IEEE Access 9, 2021, doi:10.1109/ACCESS.2021.3101975): a DDPG agent that
picks the architecture the supernet trains on each step, and the accuracy-vs-cost Pareto front of all it sampled.

The agent follows DDPG (Lillicrap et al., ICLR 2016): an actor maps the state to a continuous action,
one score per (edge, op); a critic scores (state, action); both have target copies updated softly;
transitions go to a replay buffer; exploration adds Gaussian or Ornstein-Uhlenbeck noise. An action is
discretized as DARTS derives a cell: the best-scoring op per edge (NB201), and per DARTS node the two
inputs whose best op scores highest. The state is the previous architecture (one-hot, the shape of an
action) with its accuracy and normalized cost; the reward is ``accuracy - lambda * normalized cost``.
Network sizes, state, gamma and noise schedule are our choices (the defaults here), not the paper's.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.oneshot.nets.darts import DARTS_EDGES, darts_edge_index
from archlatent.oneshot.samplers.base import SAMPLERS, Cost, Sampler
from archlatent.spaces import darts, nb201
from archlatent.spaces.base import SearchSpace

NOISES = ("gaussian", "ou")


# -- actions <-> architectures -----------------------------------------------------------------------------------
class _NB201Codec:
    """NB201 actions: 6 edges x 5 op scores; the best op wins each edge."""

    def __init__(self, space: nb201.NB201Space) -> None:
        self.space = space
        self.shape = (len(nb201.EDGES), len(nb201.OPS))
        self.dim = int(np.prod(self.shape))

    def decode(self, action: np.ndarray) -> Genotype:
        return self.space.from_ops([nb201.OPS[i] for i in action.reshape(self.shape).argmax(1)])

    def encode(self, genotype: Genotype) -> np.ndarray:
        onehot = np.zeros(self.shape, dtype=np.float32)
        for e, op in enumerate(self.space.edge_ops(genotype)):
            onehot[e, nb201.OPS.index(op)] = 1.0
        return onehot.ravel()


class _DartsCodec:
    """DARTS actions: 2 cells x 14 edges x 7 op scores; per node the two inputs with the best op scores."""

    def __init__(self, space: darts.DartsSpace) -> None:
        self.space = space
        self.shape = (2, DARTS_EDGES, len(darts.OPS))
        self.dim = int(np.prod(self.shape))

    def decode(self, action: np.ndarray) -> Genotype:
        cells = []
        for scores in action.reshape(self.shape):
            pairs = []
            for node in range(darts.N_STEPS):
                rows = [darts_edge_index(node, j) for j in range(node + 2)]
                best = np.argsort(-scores[rows].max(1), kind="stable")[:2]
                pairs += [(darts.OPS[int(scores[rows[j]].argmax())], int(j)) for j in best]
            cells.append(pairs)
        return self.space.from_pairs(*cells)

    def encode(self, genotype: Genotype) -> np.ndarray:
        onehot = np.zeros(self.shape, dtype=np.float32)
        for c, pairs in enumerate(self.space.pairs(genotype)):
            for p, (op, j) in enumerate(pairs):
                onehot[c, darts_edge_index(p // 2, j), darts.OPS.index(op)] = 1.0
        return onehot.ravel()


#: How DDAS reads and writes the architectures of each space it drives.
_CODECS = {"nb201": _NB201Codec, "darts": _DartsCodec}


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


def _check_settings(**ranges: tuple[float, float, float]) -> None:
    """ArchLatentError naming the first setting outside its closed range (value, low, high)."""
    for name, (value, low, high) in ranges.items():
        if not low <= value <= high:
            allowed = f">= {low}" if high == float("inf") else f"in [{low}, {high}]"
            raise ArchLatentError(f"DDAS setting {name} must be {allowed}, got {repr(value)[:200]}")


# -- the sampler -------------------------------------------------------------------------------------------------
@SAMPLERS.register("ddas")
class DDASSampler(Sampler):
    """DDAS (Mills et al., IEEE Access 2021): DDPG-driven architecture sampling for supernet training.

    ``sample()`` proposes the next path, ``feedback(genotype, accuracy)`` (accuracy in percent on a
    validation batch) rewards it with ``accuracy / 100 - lam * normalized cost`` (cost normalized by
    the range seen so far) and trains the agent once the replay buffer holds a batch. The first
    ``warmup`` actions are uniform noise. `front` is the Pareto front (accuracy vs cost) of every
    architecture sampled. All randomness is the sampler's own: a numpy Generator and torch weights
    built under ``fork_rng``, both from `seed`. Drives the nb201 and darts spaces; needs `cost`.
    """

    spaces = tuple(_CODECS)
    requires_cost = True

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
        _check_settings(
            lam=(lam, 0.0, inf), hidden=(hidden, 1, inf), gamma=(gamma, 0.0, 1.0), tau=(tau, 0.0, 1.0),
            actor_lr=(actor_lr, 0.0, inf), critic_lr=(critic_lr, 0.0, inf), batch_size=(batch_size, 1, inf),
            buffer_size=(buffer_size, batch_size, inf), warmup=(warmup, 0, inf), sigma=(sigma, 0.0, inf),
            sigma_min=(sigma_min, 0.0, inf), sigma_decay=(sigma_decay, 0.0, 1.0), ou_theta=(ou_theta, 0.0, 1.0),
        )  # fmt: skip
        super().__init__(space, seed=seed, cost=cost)
        self.codec = _CODECS[space.name](space)
        self.lam, self.gamma, self.tau = lam, gamma, tau
        self.batch_size, self.warmup = batch_size, warmup
        self.noise, self.sigma, self.sigma_min, self.sigma_decay, self.ou_theta = (
            noise,
            sigma,
            sigma_min,
            sigma_decay,
            ou_theta,
        )
        dim, state_dim = self.codec.dim, self.codec.dim + 2
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = nn.Sequential(_mlp(state_dim, hidden, dim), nn.Tanh())
            self.critic = _mlp(state_dim + dim, hidden, 1)
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=critic_lr)
        self.buffer = {
            "state": np.zeros((buffer_size, state_dim), np.float32),
            "action": np.zeros((buffer_size, dim), np.float32),
            "reward": np.zeros(buffer_size, np.float32),
            "next": np.zeros((buffer_size, state_dim), np.float32),
        }
        self.stored = 0
        self.state = np.zeros(state_dim, np.float32)
        self._ou = np.zeros(dim, np.float32)
        self._pending: tuple[str, np.ndarray] | None = None
        self.history: list[dict[str, float]] = []

    def sample(self) -> Genotype:
        """The next architecture: the actor's action plus exploration noise (uniform during warm-up)."""
        dim = self.codec.dim
        if len(self.history) < self.warmup:
            action = self.rng.uniform(-1.0, 1.0, dim).astype(np.float32)
        else:
            with torch.no_grad():
                action = self.actor(torch.from_numpy(self.state)[None])[0].numpy()
            action = np.clip(action + self._explore(dim), -1.0, 1.0).astype(np.float32)
        genotype = self.codec.decode(action)
        self._pending = (genotype.key(), action)
        return genotype

    def _explore(self, dim: int) -> np.ndarray:
        step = self.rng.standard_normal(dim).astype(np.float32) * self.sigma
        if self.noise == "gaussian":
            return step
        self._ou = self._ou - self.ou_theta * self._ou + step
        return self._ou

    def feedback(self, genotype: Genotype, accuracy: float) -> None:
        """Reward the architecture last sampled with its `accuracy` (percent) and learn from it."""
        if self._pending is None or self._pending[0] != genotype.key():
            raise ArchLatentError("DDAS feedback must follow sample() and name the genotype it returned")
        action = self._pending[1]
        self._pending = None
        point = self.front.add(genotype, accuracy)
        low, high = self.front.cost_range()
        cost = (point.cost - low) / (high - low) if high > low else 0.0
        reward = accuracy / 100.0 - self.lam * cost
        next_state = np.concatenate([self.codec.encode(genotype), [accuracy / 100.0, cost]]).astype(np.float32)
        slot = self.stored % len(self.buffer["reward"])
        for name, value in (("state", self.state), ("action", action), ("reward", reward), ("next", next_state)):
            self.buffer[name][slot] = value
        self.stored += 1
        self.state = next_state
        self.history.append({"accuracy": float(accuracy), "cost": point.cost, "reward": float(reward)})
        if len(self.history) > self.warmup:
            self.sigma = max(self.sigma_min, self.sigma * self.sigma_decay)
        if self.stored >= self.batch_size:
            self._learn()

    def _learn(self) -> None:
        """One DDPG update of critic and actor on a replay batch, then soft target updates."""
        idx = self.rng.integers(min(self.stored, len(self.buffer["reward"])), size=self.batch_size)
        s, a, r, s2 = (torch.from_numpy(self.buffer[k][idx]) for k in ("state", "action", "reward", "next"))
        with torch.no_grad():
            target = r[:, None] + self.gamma * self.critic_target(torch.cat([s2, self.actor_target(s2)], 1))
        critic_loss = F.mse_loss(self.critic(torch.cat([s, a], 1)), target)
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        actor_loss = -self.critic(torch.cat([s, self.actor(s)], 1)).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        with torch.no_grad():
            for net, target_net in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
                for p, tp in zip(net.parameters(), target_net.parameters()):
                    tp.lerp_(p, self.tau)
