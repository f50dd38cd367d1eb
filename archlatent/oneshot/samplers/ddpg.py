"""DDPG (Lillicrap et al., "Continuous control with deep reinforcement learning", ICLR 2016) for the DDAS samplers.

What both DDAS variants (`ddas`, the paper's; `ddas-cost`, cost in the reward) share: an actor
that maps a state to one score per (cell, edge, candidate op), a critic scoring (state, action),
soft-updated target copies, a replay buffer and one update step (`DDPGSampler.learn`). Actions are
read as DARTS reads alpha (`ActionCodec`, over the mixed-op vocabulary of
`archlatent.oneshot.nets.mixed`, so DARTS actions include ``none``: 2 x 14 x 8 = 224 numbers) and
respect a restricted space. Weights are built under ``torch.random.fork_rng`` from the seed and the
replay draws from the sampler's own numpy Generator, so no global RNG is touched.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.oneshot.nets.mixed import VOCABS, candidate_mask, derive, onehot
from archlatent.oneshot.samplers.base import Cost, Sampler
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.restrict import restriction_of


class ActionCodec:
    """Actions ``[cells, edges, len(vocab)]`` flattened: decoded by DARTS's rule, genotypes encoded one-hot."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = restriction_of(space)
        self.vocab = VOCABS[space.name]
        self.mask = candidate_mask(self.space)
        self.shape = self.mask.shape
        self.dim = int(self.mask.size)

    def decode(self, action: np.ndarray) -> Genotype:
        return derive(self.space, np.asarray(action).reshape(self.shape))

    def encode(self, genotype: Genotype) -> np.ndarray:
        return onehot(self.space, genotype).ravel()

    def active(self, genotype: Genotype) -> set[tuple[int, int, str]]:
        """The (cell, edge, op) choices of `genotype`."""
        return set(self.space.active(genotype))


def mlp(inputs: int, hidden: Sequence[int], outputs: int) -> nn.Sequential:
    """Linear + ReLU per hidden width, then a linear output layer."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, outputs))


def check_settings(**ranges: tuple[float, float, float]) -> None:
    """ArchLatentError naming the first DDAS setting outside its closed range (value, low, high)."""
    for name, (value, low, high) in ranges.items():
        if not low <= value <= high:
            allowed = f">= {low}" if high == float("inf") else f"in [{low}, {high}]"
            raise ArchLatentError(f"DDAS setting {name} must be {allowed}, got {repr(value)[:200]}")


class DDPGSampler(Sampler):
    """A sampler driven by a DDPG agent: ``actor = Sequential(mlp, squash)``, a critic, targets, replay.

    Subclasses choose the state, the squashing (sigmoid or tanh), the reward and when to `learn`.
    """

    spaces = tuple(VOCABS)
    requires_cost = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int,
        cost: Cost | None,
        state_extra: int,
        hidden: Sequence[int],
        squash: nn.Module,
        actor_lr: float,
        critic_lr: float,
        gamma: float,
        tau: float,
        buffer_size: int,
        batch_size: int,
    ) -> None:
        inf = float("inf")
        check_settings(
            gamma=(gamma, 0.0, 1.0), tau=(tau, 0.0, 1.0), actor_lr=(actor_lr, 0.0, inf),
            critic_lr=(critic_lr, 0.0, inf), batch_size=(batch_size, 1, inf), buffer_size=(buffer_size, batch_size, inf),
            **{f"hidden[{i}]": (h, 1, inf) for i, h in enumerate(hidden)},
        )  # fmt: skip
        super().__init__(space, seed=seed, cost=cost)
        self.codec = ActionCodec(space)
        dim, state_dim = self.codec.dim, self.codec.dim + state_extra
        self.gamma, self.tau, self.batch_size = gamma, tau, batch_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = nn.Sequential(mlp(state_dim, hidden, dim), squash)
            self.critic = mlp(state_dim + dim, hidden, 1)
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

    def act(self, state: np.ndarray) -> np.ndarray:
        """The actor's action for `state` (no exploration noise)."""
        with torch.no_grad():
            return self.actor(torch.from_numpy(np.asarray(state, np.float32))[None])[0].numpy()

    def remember(self, state: np.ndarray, action: np.ndarray, reward: float, next_state: np.ndarray) -> None:
        """Store one transition (the oldest is overwritten once the buffer is full)."""
        slot = self.stored % len(self.buffer["reward"])
        for name, value in (("state", state), ("action", action), ("reward", reward), ("next", next_state)):
            self.buffer[name][slot] = value
        self.stored += 1

    def learn(self) -> None:
        """One DDPG update of critic and actor on a replay batch, then soft target updates (rate tau)."""
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

    def check_pending(self, pending: tuple[Genotype, np.ndarray] | None, genotype: Genotype) -> np.ndarray:
        """The action of the pending sample; ArchLatentError unless `genotype` is what sample() returned."""
        if pending is None or pending[0].key() != genotype.key():
            raise ArchLatentError("DDAS feedback must follow sample() and name the genotype it returned")
        return pending[1]
