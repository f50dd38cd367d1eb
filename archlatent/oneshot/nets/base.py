"""What every one-shot network shares: the `Network` and `Supernet` bases, their registries, and counts.

`NETWORKS` (the standalone network a genotype stands for, trained from scratch) and `SUPERNETS`
(the weight-sharing supernet of a space) are keyed by the space's name, so a new space adds one
file that registers both; nothing here or in the training loops names a space.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError, InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.oneshot.nets.ops import BUILDERS
from archlatent.registry import Registry
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.restrict import restriction_of


def check_sizes(what: str, **sizes: Any) -> None:
    """ArchLatentError unless every size (channels, cells, classes) is a positive integer."""
    for name, value in sizes.items():
        if not is_int(value) or value < 1:
            raise ArchLatentError(f"{what}: {name} must be a positive integer, got {repr(value)[:200]}")


class Network(nn.Module, ABC):
    """A standalone network built from one genotype of its space (registered in `NETWORKS`).

    ``forward(x)`` returns logits ``[batch, classes]`` (networks with an auxiliary head return
    ``(logits, aux_logits)`` in training mode). ``drop_path_prob`` is annealed by `train_final`;
    networks without drop path ignore it.
    """

    name: str = ""
    #: The config key that counts cells (``N`` per stage, ``layers`` in all): the CLI's ``--depth``.
    depth: ClassVar[str]
    drop_path_prob: float = 0.0

    @classmethod
    def space(cls) -> Any:
        """The space this network's genotypes come from (typed loosely: each network uses its own API)."""
        return get_space(cls.name)

    @classmethod
    @abstractmethod
    def from_genotype(cls, genotype: Genotype, num_classes: int = 10, *, auxiliary: bool = False, **config: Any) -> Network:
        """The network of `genotype` (InvalidArchitecture if it is not of this space); `config` sizes it."""


class Supernet(nn.Module, ABC):
    """Base of the weight-sharing supernets (registered in `SUPERNETS` under their space's name).

    ``forward(x, genotype)`` returns the logits ``[batch, classes]`` of the single path `genotype`
    picks, so a training step on it updates only the weights on that path. `config` holds the
    keyword arguments that rebuild the supernet (saved in its checkpoint). Given a restricted
    `space` (`archlatent.spaces.restrict.RestrictedSpace`), only its allowed ops are built and a
    genotype outside it is refused; `base_space` is the unrestricted space either way.
    """

    name: str = ""
    #: The config key that counts cells, as in `Network.depth`.
    depth: ClassVar[str]
    space: SearchSpace

    def __init__(self, config: dict[str, int], space: SearchSpace | None = None) -> None:
        super().__init__()
        check_sizes(f"{self.name} supernet", **config)
        self.config = dict(config)
        self.base_space = get_space(self.name)
        if space is not None and (not isinstance(space, SearchSpace) or space.name != self.name):
            raise ArchLatentError(f"a {self.name} supernet takes a (restricted) {self.name} space, got {space!r:.200}")
        self.space = space if space is not None else self.base_space
        self.restriction = restriction_of(self.space)

    @property
    def space_name(self) -> str:
        """The name of the space whose genotypes this supernet runs."""
        return self.name

    def check(self, genotype: Genotype) -> None:
        """InvalidArchitecture unless `genotype` belongs to this supernet's (restricted) space."""
        if not isinstance(genotype, Genotype) or genotype.space != self.name:
            other = genotype.space if isinstance(genotype, Genotype) else type(genotype).__name__
            raise InvalidArchitecture(f"a {self.name} supernet cannot run a genotype of space {other!r}")
        if self.space is not self.base_space:
            self.space.validate(genotype)

    @abstractmethod
    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        """Logits of `genotype`'s path. Shapes: x [batch, 3, H, W] -> [batch, classes]."""


#: Standalone networks by space name, built through ``from_genotype``.
NETWORKS: Registry[Network] = Registry("network", provided=("genotype", "num_classes"), constructor="from_genotype")
#: Weight-sharing supernets by space name.
SUPERNETS: Registry[Supernet] = Registry("supernet")


def without_affine(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm2d inside it replaced by an ``affine=False`` one (in place)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.BatchNorm2d(child.num_features, affine=False))
        else:
            without_affine(child)
    return module


def search_op(name: str, C: int, stride: int, pool_bn: bool = False) -> nn.Module:
    """Candidate op `name` (see `archlatent.oneshot.nets.ops`) with affine-free BatchNorms.

    ``pool_bn`` follows a pooling op with an affine-free BatchNorm, as DARTS's ``MixedOp`` does.
    """
    op = BUILDERS[name](C, stride)
    if pool_bn and "pool" in name:
        op = nn.Sequential(op, nn.BatchNorm2d(C))
    return without_affine(op)


def count_params_mb(model: nn.Module, skip_auxiliary: bool = True) -> float:
    """Trainable-parameter count in millions, as the benchmarks report it ("MB" = 1e6 parameters).

    Counts every ``nn.Parameter`` (conv and linear weights and biases, BatchNorm affine weight and
    bias) and no buffers (BatchNorm running statistics). With `skip_auxiliary`, parameters whose name
    contains ``auxiliary`` are left out, as DARTS's ``utils.count_parameters_in_MB`` does.
    """
    return sum(p.numel() for name, p in model.named_parameters() if not (skip_auxiliary and "auxiliary" in name)) / 1e6


def count_flops_m(model: nn.Module, *args: Any, image_size: int = 32) -> float:
    """Multiply-accumulates (millions) of Conv2d and Linear layers for one ``3 x size x size`` image.

    Counts what actually runs, so ``count_flops_m(supernet, genotype)`` gives the path's cost. Runs in
    eval mode under ``no_grad`` and restores the module's mode.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * (kernel + (module.bias is not None))
        else:
            total += output.numel() * (module.in_features + (module.bias is not None))

    layers: list[Callable[[], None]] = [
        m.register_forward_hook(hook).remove for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, device=device), *args)
    finally:
        model.train(was_training)
        for remove in layers:
            remove()
    return total / 1e6
