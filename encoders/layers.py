"""Building blocks shared by the encoders: space resolution, masked pooling, MLPs, checked hyperparameters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from archlatent.checks import is_int, is_number
from archlatent.errors import ArchLatentError
from archlatent.spaces import SearchSpace, get_space


def resolve_space(space: SearchSpace | str) -> SearchSpace:
    """A space instance from an instance or a registered name."""
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, str):
        return get_space(space)
    raise ArchLatentError(f"expected a SearchSpace or a space name, got {type(space).__name__}")


def masked_mean(x: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of node features over real nodes (all nodes if mask is None). Shapes: x [B, N, F], mask [B, N] -> [B, F]."""
    if mask is None:
        return x.mean(1)
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


def mlp(sizes: Sequence[int], *, last_bias: bool = True) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    mods: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        last = k == len(sizes) - 2
        mods.append(nn.Linear(sizes[k], sizes[k + 1], bias=last_bias or not last))
        if not last:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def positive_int(name: str, value: Any) -> int:
    if not is_int(value, numpy=True) or value < 1:
        raise ArchLatentError(f"encoder hyperparameter {name} must be a positive integer, got {value!r}")
    return int(value)


def nonneg_float(name: str, value: Any) -> float:
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise ArchLatentError(f"encoder hyperparameter {name} must be a finite number >= 0, got {value!r}")
    return float(value)
