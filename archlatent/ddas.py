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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archlatent.errors import ArchLatentError, InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.nets.supernet import DARTS_EDGES, darts_edge_index
from archlatent.spaces import darts, nb201
from archlatent.spaces.base import SearchSpace

NOISES = ("gaussian", "ou")


# -- Pareto front ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrontPoint:
    """One sampled architecture with its latest accuracy (percent) and its cost (e.g. MFLOPs)."""

    genotype: Genotype
    accuracy: float
    cost: float


def non_dominated(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (accuracy, cost) points no other point dominates (higher accuracy, lower cost)."""
    keep = []
    for i, (acc, cost) in enumerate(points):
        if not any(a >= acc and c <= cost and (a > acc or c < cost) for a, c in points):
            keep.append(i)
    return keep


def hypervolume(points: Sequence[tuple[float, float]], ref_cost: float, ref_accuracy: float = 0.0) -> float:
    """Area (accuracy x cost) dominated by `points` and bounded by the reference point.

    Accuracy is maximized, cost minimized; points beyond the reference add nothing.
    """
    inside = [(a, c) for a, c in points if a > ref_accuracy and c < ref_cost]
    front = sorted((inside[i] for i in non_dominated(inside)), key=lambda p: p[1])
    area = 0.0
    for k, (acc, cost) in enumerate(front):
        upper = front[k + 1][1] if k + 1 < len(front) else ref_cost
        area += (upper - cost) * (acc - ref_accuracy)
    return area


def normalized_hypervolume(points: Sequence[tuple[float, float]], max_cost: float) -> float:
    """`hypervolume` of (accuracy %, cost) points scaled to accuracy / 100 and cost / `max_cost`, ref (0, 1.1)."""
    return hypervolume([(acc / 100.0, cost / max_cost) for acc, cost in points], ref_cost=1.1)


class ParetoFront:
    """Every architecture reported so far (latest accuracy each), its cost, and the non-dominated ones."""

    def __init__(self, cost: Callable[[Genotype], float]) -> None:
        self.cost = cost
        self._costs: dict[str, float] = {}
        self._points: dict[str, FrontPoint] = {}

    def cost_of(self, genotype: Genotype) -> float:
        """`cost` of `genotype`, computed once per architecture."""
        key = genotype.key()
        if key not in self._costs:
            self._costs[key] = float(self.cost(genotype))
        return self._costs[key]

    def add(self, genotype: Genotype, accuracy: float) -> FrontPoint:
        """Record `genotype`'s accuracy (replacing an earlier one)."""
        point = FrontPoint(genotype, float(accuracy), self.cost_of(genotype))
        self._points[genotype.key()] = point
        return point

    def points(self) -> list[FrontPoint]:
        return list(self._points.values())

    def front(self) -> list[FrontPoint]:
        """The non-dominated points, cheapest first."""
        points = self.points()
        keep = non_dominated([(p.accuracy, p.cost) for p in points])
        return sorted((points[i] for i in keep), key=lambda p: (p.cost, p.accuracy))

    def cost_range(self) -> tuple[float, float]:
        """Smallest and largest cost seen (0, 0 before any)."""
        costs = self._costs.values()
        return (min(costs), max(costs)) if costs else (0.0, 0.0)


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


def _codec(space: SearchSpace) -> _NB201Codec | _DartsCodec:
    if isinstance(space, nb201.NB201Space):
        return _NB201Codec(space)
    if isinstance(space, darts.DartsSpace):
        return _DartsCodec(space)
    raise InvalidArchitecture(f"DDAS samples nb201 and darts architectures, not {space.name!r}")


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


# -- the sampler -------------------------------------------------------------------------------------------------
class DDASSampler:
    """DDAS (Mills et al., IEEE Access 2021): DDPG-driven architecture sampling for supernet training.

    Use as ``train_supernet(..., sampler=DDASSampler(space, cost))``: ``sample()`` proposes the next
    path, ``feedback(genotype, accuracy)`` (accuracy in percent on a validation batch) rewards it with
    ``accuracy / 100 - lam * normalized cost`` (cost normalized by the range seen so far) and trains
    the agent once the replay buffer holds a batch. The first ``warmup`` actions are uniform noise.
    `front` is the Pareto front (accuracy vs cost) of every architecture sampled. All randomness is
    the sampler's own: a numpy Generator and torch weights built under ``fork_rng``.
    """

    wants_feedback = True

    def __init__(
        self,
        space: SearchSpace,
        cost: Callable[[Genotype], float],
        *,
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
        seed: int = 0,
    ) -> None:
        if noise not in NOISES:
            raise ArchLatentError(f"unknown DDAS noise {noise!r}; known: {', '.join(NOISES)}")
        self.space = space
        self.codec = _codec(space)
        self.front = ParetoFront(cost)
        self.lam, self.gamma, self.tau = lam, gamma, tau
        self.batch_size, self.warmup = batch_size, warmup
        self.noise, self.sigma, self.sigma_min, self.sigma_decay, self.ou_theta = (
            noise,
            sigma,
            sigma_min,
            sigma_decay,
            ou_theta,
        )
        self.rng = np.random.default_rng(seed)
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
