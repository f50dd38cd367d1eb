"""Candidate ops shared by the NB201 and DARTS networks and supernets.

Both reference codes (D-X-Y ``xautodl/models/cell_operations.py``, quark0/darts ``cnn/operations.py``)
build their final (infer / train-from-scratch) networks with BatchNorm ``affine=True`` and
``track_running_stats=True`` and bias-free convolutions, so one set of modules serves both; every
BatchNorm here is ``nn.BatchNorm2d``'s default. Every ReLU that opens an op is out-of-place, because
several ops read the same input tensor.

`BUILDERS` maps an op name to a builder ``(C, stride) -> nn.Module`` that keeps the channel count
``C``. Which ops a network may use is its space's vocabulary (``archlatent.spaces.<space>.OPS``),
never restated here; `check_ops` holds a network to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from archlatent.errors import InvalidArchitecture


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm: NB201's ``nor_conv_kxk`` and DARTS's 1x1 preprocessing."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out),
        )


class DilConv(nn.Sequential):
    """ReLU -> depthwise (dilated) conv -> pointwise conv -> BatchNorm (DARTS ``dil_conv_kxk``)."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=C_in, bias=False
            ),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out),
        )


class SepConv(nn.Sequential):
    """DARTS ``sep_conv_kxk``: two stacked undilated separable blocks, only the first one strided."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__(
            DilConv(C_in, C_in, kernel_size, stride, padding, dilation=1),
            DilConv(C_in, C_out, kernel_size, 1, padding, dilation=1),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two stride-2 1x1 convs on offset grids, concatenated, BN."""

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the (strided) input, still attached to the graph."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


def avg_pool_3x3(stride: int) -> nn.AvgPool2d:
    """3x3 average pooling that averages over real pixels only (``count_include_pad=False``)."""
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


def max_pool_3x3(stride: int) -> nn.MaxPool2d:
    """3x3 max pooling, padding 1."""
    return nn.MaxPool2d(3, stride=stride, padding=1)


def skip_connect(C: int, stride: int) -> nn.Module:
    """Identity, or `FactorizedReduce` where the edge halves the resolution."""
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C)


#: Op name -> builder ``(C, stride) -> module`` mapping C channels to C channels.
BUILDERS: dict[str, Callable[[int, int], nn.Module]] = {
    "none": lambda C, stride: Zero(stride),
    "skip_connect": skip_connect,
    "avg_pool_3x3": lambda C, stride: avg_pool_3x3(stride),
    "max_pool_3x3": lambda C, stride: max_pool_3x3(stride),
    "nor_conv_1x1": lambda C, stride: ReLUConvBN(C, C, 1, stride, 0),
    "nor_conv_3x3": lambda C, stride: ReLUConvBN(C, C, 3, stride, 1),
    "sep_conv_3x3": lambda C, stride: SepConv(C, C, 3, stride, 1),
    "sep_conv_5x5": lambda C, stride: SepConv(C, C, 5, stride, 2),
    "dil_conv_3x3": lambda C, stride: DilConv(C, C, 3, stride, 2, dilation=2),
    "dil_conv_5x5": lambda C, stride: DilConv(C, C, 5, stride, 4, dilation=2),
}


def check_ops(names: Iterable[str], allowed: tuple[str, ...], space: str) -> None:
    """Raise InvalidArchitecture naming the first op of `names` that is not in `allowed`."""
    for name in names:
        if name not in allowed:
            raise InvalidArchitecture(f"unknown {space} op {str(name)[:200]!r}; expected one of {allowed}")
