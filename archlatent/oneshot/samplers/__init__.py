"""Samplers that choose each supernet step's path, registered by name in `SAMPLERS`.

``uniform`` (SPOS), ``ddas`` (DDAS as its paper defines it, the default DDAS) and ``ddas-cost``
(this library's earlier DDAS variant with cost in the reward).
"""

from archlatent.oneshot.samplers import (
    ddas,  # noqa: F401  (registers)
    ddas_cost,  # noqa: F401  (registers)
    uniform,  # noqa: F401  (registers)
)
from archlatent.oneshot.samplers.base import SAMPLERS, Sampler
from archlatent.oneshot.samplers.ddas import DDASSampler
from archlatent.oneshot.samplers.ddas_cost import DDASCostSampler
from archlatent.oneshot.samplers.uniform import UniformSampler

__all__ = ["SAMPLERS", "DDASCostSampler", "DDASSampler", "Sampler", "UniformSampler"]
