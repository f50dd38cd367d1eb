"""The `Sampler` interface: which architecture each single-path supernet step trains, and its registry.

A sampler is built by name with keyword arguments (``SAMPLERS.create("ddas-cost", space, seed=0,
cost=flops, lam=0.5)``); ``space``, ``seed`` and ``cost`` are what the training code supplies, the
rest are the sampler's own settings. The loop (`archlatent.oneshot.train.train_supernet`) calls
``sample()`` once per step and, when ``wants_feedback`` is true, ``feedback(genotype, accuracy)``
with that path's accuracy on a held-out batch right after the step. All randomness is the
sampler's own, drawn from `seed`, so equal seeds (and equal feedback) give equal sequences.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.pareto import ParetoFront
from archlatent.registry import Registry
from archlatent.spaces.base import SearchSpace

Cost = Callable[[Genotype], float]


class Sampler(ABC):
    """Chooses each supernet step's architecture; may learn from the accuracy of what it chose.

    Subclasses write `sample` and, if they learn, `feedback` (calling ``super().feedback`` keeps the
    front). Class attributes: `spaces` (the space names it can drive; None for any) and
    `requires_cost` (whether it needs a `cost` function, e.g. FLOPs, to work at all).

    Given `cost`, every sampler records the accuracy-vs-cost Pareto front of the paths it was told
    about (`front`), so samplers can be compared on equal terms; without one, `front` is None.
    """

    name: str = ""
    spaces: ClassVar[tuple[str, ...] | None] = None
    requires_cost: ClassVar[bool] = False

    def __init__(self, space: SearchSpace, *, seed: int = 0, cost: Cost | None = None) -> None:
        if self.spaces is not None and space.name not in self.spaces:
            raise ArchLatentError(f"sampler {self.name!r} drives {', '.join(self.spaces)} spaces, not {space.name!r}")
        if self.requires_cost and cost is None:
            raise ArchLatentError(f"sampler {self.name!r} needs a cost function (e.g. path FLOPs)")
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.front = ParetoFront(cost) if cost is not None else None
        #: Whether the training loop should report each sampled path's accuracy back.
        self.wants_feedback = cost is not None

    @abstractmethod
    def sample(self) -> Genotype:
        """The architecture the next training step runs."""

    def feedback(self, genotype: Genotype, accuracy: float, loss: float | None = None) -> None:
        """`genotype`'s accuracy (percent) and, where the loop measures it, validation `loss`, just
        after the step that trained it (`train_supernet` reports one held-out batch, no loss)."""
        if self.front is not None:
            self.front.add(genotype, accuracy)


#: Samplers by name; ``space``, ``seed`` and ``cost`` come from the training code.
SAMPLERS: Registry[Sampler] = Registry("sampler", provided=("space", "seed", "cost"))
