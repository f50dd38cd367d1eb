"""PyTorch networks built from genotypes: NAS-Bench-201 and DARTS evaluation networks."""

from __future__ import annotations

from torch import nn

from archlatent.nets.darts import DartsNetwork
from archlatent.nets.nb201 import NB201Network


def count_params_mb(model: nn.Module, skip_auxiliary: bool = True) -> float:
    """Trainable-parameter count in millions, as the benchmarks report it ("MB" = 1e6 parameters).

    Counts every ``nn.Parameter`` (conv and linear weights and biases, BatchNorm affine weight and
    bias) and no buffers (BatchNorm running statistics). With `skip_auxiliary`, parameters whose name
    contains ``auxiliary`` are left out, as DARTS's ``utils.count_parameters_in_MB`` does.
    """
    return sum(p.numel() for name, p in model.named_parameters() if not (skip_auxiliary and "auxiliary" in name)) / 1e6


__all__ = ["DartsNetwork", "NB201Network", "count_params_mb"]
