"""DDAS, Deep Deterministic Architecture Sampling, as its paper defines it (Mills et al., "Exploring Neural
Architecture Search Space via Deep Deterministic Sampling", IEEE Access 9, 2021, doi:10.1109/ACCESS.2021.3101975).

From the paper: a DDPG agent (`archlatent.oneshot.samplers.ddpg`) whose action is one sigmoid score
per (cell, edge, op), ``none`` included (2 x 14 x 8 = 224 on DARTS), discretized by DARTS's rule;
the state is the previous discrete architecture; each action fine-tunes the supernet on its path
for M = 25 minibatches and is then scored on the validation split; the reward is
``r = (dAcc + dL) / 2`` with ``dAcc = Acc(arch) - Acc(one-shot model)`` (the warmed supernet with
every op on) and ``dL = L_V(previous) - L_V(now)``; 500 uniform random actions explore before the
actor and critic learn; noise NL (uniform +-1e-5), G (Gaussian, std 0.05) or 4S
(Ornstein-Uhlenbeck bursts after 32 similar steps, "similar" = fewer than 6 of the 16 active
(edge, op) pairs differ); actor and critic 3 x 256 MLPs, Adam 1e-4 / 1e-3, tau 1e-3, gamma 0.99,
replay batch 64; the accuracy-vs-FLOPs Pareto front of every sampled architecture.

Our choices where the paper is silent: accuracies enter the reward as fractions (percent / 100) so
both terms have a like scale; "3 x 256" is three hidden layers of 256; the first state is the
one-shot model's (every candidate on) and its loss is the first L_V(previous); replay of 100,000;
one agent update per action; default noise G; 4S bursts last 16 actions of OU noise (theta 0.15,
sigma 0.2, reset per burst) over the NL noise; "similar" scales as 6/16 of the active pairs
(NB201: fewer than 3 of 6). `archlatent.oneshot.ddas_search.run_ddas` runs the paper's protocol
(warm-up, M minibatches, validation split, front re-scored after the run); inside
`train_supernet` the sampler holds each action for M steps and learns from the one validation
batch that loop reports, with dL = 0 and a reference accuracy of 0 (no warm-up there).
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.oneshot.samplers.base import SAMPLERS, Cost
from archlatent.oneshot.samplers.ddpg import DDPGSampler, check_settings
from archlatent.spaces.base import SearchSpace

NOISES = ("nl", "g", "4s")


@SAMPLERS.register("ddas")
class DDASSampler(DDPGSampler):
    """DDAS (Mills et al., IEEE Access 2021) with the paper's reward, state, exploration and noises.

    ``sample()`` returns the current action's path, drawing a new action every `finetune_batches`
    calls; ``feedback(genotype, accuracy, loss)`` after the last of them completes the transition
    (reward, replay, one DDPG update once `explore` actions are done). `set_reference` gives the
    warmed one-shot model's validation accuracy and loss. `front` records every path fed back.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        cost: Cost | None = None,
        finetune_batches: int = 25,
        explore: int = 500,
        noise: str = "g",
        hidden: int = 256,
        layers: int = 3,
        actor_lr: float = 1e-4,
        critic_lr: float = 1e-3,
        tau: float = 1e-3,
        gamma: float = 0.99,
        batch_size: int = 64,
        buffer_size: int = 100_000,
        sigma: float = 0.05,
        nl_scale: float = 1e-5,
        similar_steps: int = 32,
        similar_fraction: float = 6 / 16,
        burst_steps: int = 16,
        ou_theta: float = 0.15,
        ou_sigma: float = 0.2,
    ) -> None:
        if noise not in NOISES:
            raise ArchLatentError(f"unknown DDAS noise {str(noise)[:200]!r}; known: {', '.join(NOISES)}")
        inf = float("inf")
        check_settings(
            finetune_batches=(finetune_batches, 1, inf), explore=(explore, 0, inf), layers=(layers, 1, inf),
            sigma=(sigma, 0.0, inf), nl_scale=(nl_scale, 0.0, inf), similar_steps=(similar_steps, 1, inf),
            similar_fraction=(similar_fraction, 0.0, 1.0), burst_steps=(burst_steps, 1, inf),
            ou_theta=(ou_theta, 0.0, 1.0), ou_sigma=(ou_sigma, 0.0, inf),
        )  # fmt: skip
        super().__init__(
            space, seed=seed, cost=cost, state_extra=0, hidden=(hidden,) * layers, squash=nn.Sigmoid(),
            actor_lr=actor_lr, critic_lr=critic_lr, gamma=gamma, tau=tau, buffer_size=buffer_size,
            batch_size=batch_size,
        )  # fmt: skip
        self.wants_feedback = True
        self.finetune_batches, self.explore, self.noise = finetune_batches, explore, noise
        self.sigma, self.nl_scale, self.ou_theta, self.ou_sigma = sigma, nl_scale, ou_theta, ou_sigma
        self.similar_steps, self.burst_steps = similar_steps, burst_steps
        n_active = len(self.codec.active(space.sample(np.random.default_rng(0))))
        #: Consecutive architectures are similar when fewer than this many active choices differ.
        self.similar_below = math.ceil(similar_fraction * n_active)
        self.reference_accuracy, self.previous_loss = 0.0, None
        self.state = self.codec.mask.astype(np.float32).ravel()  # the one-shot model: every candidate on
        self.actions = 0
        self.history: list[dict[str, float]] = []
        self._pending: tuple[Genotype, np.ndarray] | None = None
        self._held = 0
        self._similar, self._burst = 0, 0
        self._ou = np.zeros(self.codec.dim, np.float32)
        self._last: set | None = None

    def set_reference(self, accuracy: float, loss: float | None) -> None:
        """The warmed one-shot model's validation accuracy (percent) and loss: Acc and the first L_V(previous)."""
        self.reference_accuracy, self.previous_loss = float(accuracy), loss

    def sample(self) -> Genotype:
        """The current action's path; a new action every `finetune_batches` calls."""
        if self._pending is not None and self._held < self.finetune_batches:
            self._held += 1
            return self._pending[0]
        if self.actions < self.explore:
            action = self.rng.uniform(0.0, 1.0, self.codec.dim).astype(np.float32)
        else:
            action = np.clip(self.act(self.state) + self._noise(), 0.0, 1.0).astype(np.float32)
        self.actions += 1
        self._pending, self._held = (self.codec.decode(action), action), 1
        return self._pending[0]

    def _noise(self) -> np.ndarray:
        dim = self.codec.dim
        if self.noise == "g":
            return self.rng.normal(0.0, self.sigma, dim).astype(np.float32)
        small = self.rng.uniform(-self.nl_scale, self.nl_scale, dim).astype(np.float32)
        if self.noise == "nl" or self._burst == 0:
            return small
        self._burst -= 1
        self._ou += -self.ou_theta * self._ou + self.ou_sigma * self.rng.standard_normal(dim).astype(np.float32)
        return small + self._ou

    def reward(self, accuracy: float, loss: float | None) -> tuple[float, float, float]:
        """``(r, dAcc, dL)`` for a path scoring `accuracy` (percent) and `loss` (None: dL = 0)."""
        d_acc = (accuracy - self.reference_accuracy) / 100.0
        d_loss = self.previous_loss - loss if loss is not None and self.previous_loss is not None else 0.0
        return (d_acc + d_loss) / 2.0, d_acc, d_loss

    def feedback(self, genotype: Genotype, accuracy: float, loss: float | None = None) -> None:
        """`genotype`'s validation accuracy (percent) and loss; the last of an action's calls completes it."""
        action = self.check_pending(self._pending, genotype)
        super().feedback(genotype, accuracy)
        if self._held < self.finetune_batches:
            return
        self._pending = None
        reward, d_acc, d_loss = self.reward(accuracy, loss)
        if loss is not None:
            self.previous_loss = loss
        next_state = self.codec.encode(genotype)
        self.remember(self.state, action, reward, next_state)
        self.state = next_state
        self._track(genotype)
        self.history.append(
            {"accuracy": float(accuracy), "loss": loss, "reward": reward, "d_acc": d_acc, "d_loss": d_loss,
             "explored": self.actions <= self.explore, "burst": self._burst > 0}
        )  # fmt: skip
        if self.actions >= self.explore and self.stored >= self.batch_size:
            self.learn()

    def _track(self, genotype: Genotype) -> None:
        """Count consecutive similar architectures; 4S starts an OU burst after `similar_steps` of them."""
        active = self.codec.active(genotype)
        similar = self._last is not None and len(active - self._last) < self.similar_below
        self._similar = self._similar + 1 if similar else 0
        self._last = active
        if self.noise == "4s" and self._similar >= self.similar_steps and self._burst == 0:
            self._burst, self._similar = self.burst_steps, 0
            self._ou[:] = 0.0
