"""Samplers that choose each supernet step's path, registered by name in `SAMPLERS`."""

from archlatent.oneshot.samplers import (
    ddas,  # noqa: F401  (registers)
    uniform,  # noqa: F401  (registers)
)
from archlatent.oneshot.samplers.base import SAMPLERS, Sampler
from archlatent.oneshot.samplers.ddas import DDASSampler
from archlatent.oneshot.samplers.uniform import UniformSampler

__all__ = ["SAMPLERS", "DDASSampler", "Sampler", "UniformSampler"]
