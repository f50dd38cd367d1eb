"""SPOS uniform sampling (Guo et al., "Single Path One-Shot NAS with Uniform Sampling", ECCV 2020)."""

from __future__ import annotations

from archlatent.genotype import Genotype
from archlatent.oneshot.samplers.base import SAMPLERS, Sampler


@SAMPLERS.register("uniform")
class UniformSampler(Sampler):
    """SPOS (Guo et al., ECCV 2020): every step trains a path drawn from the space's own `sample`.

    Any space. Given a `cost` function it also asks for feedback and keeps the accuracy-vs-cost
    Pareto front of what it sampled (the random-sampling baseline of DDAS); it never learns from it.
    """

    def sample(self) -> Genotype:
        return self.space.sample(self.rng)
