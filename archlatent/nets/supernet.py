"""One-shot weight-sharing supernets (SPOS: Guo et al., "Single Path One-Shot Neural Architecture Search
with Uniform Sampling", ECCV 2020) for the NB201 and DARTS spaces, plus standalone networks and FLOPs.

A supernet holds every candidate op on every edge; ``forward(x, genotype)`` runs only the path the
genotype picks (one op per NB201 edge; the 2 chosen (op, input) pairs per DARTS node), so training a
sampled path updates only the weights on it. Candidate ops are those of `archlatent.nets.ops`, with
their BatchNorms made ``affine=False`` as the NAS-Bench-201 and DARTS search networks do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.nets.darts import STEPS, DartsNetwork
from archlatent.nets.nb201 import EDGES, NB201_OPS, NB201Network, ResNetBasicBlock
from archlatent.nets.ops import OPS, FactorizedReduce, ReLUConvBN
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.darts import OPS as DARTS_OPS
from archlatent.spaces.darts import DartsSpace
from archlatent.spaces.nb201 import NB201Space


def without_affine(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm2d inside it replaced by an ``affine=False`` one (in place)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.BatchNorm2d(child.num_features, affine=False))
        else:
            without_affine(child)
    return module


def search_op(name: str, C: int, stride: int, pool_bn: bool = False) -> nn.Module:
    """Candidate op `name` of `archlatent.nets.ops.OPS` with affine-free BatchNorms.

    ``pool_bn`` follows a pooling op with an affine-free BatchNorm, as DARTS's ``MixedOp`` does.
    """
    op = OPS[name](C, stride)
    if pool_bn and "pool" in name:
        op = nn.Sequential(op, nn.BatchNorm2d(C))
    return without_affine(op)


class Supernet(nn.Module):
    """Base of the weight-sharing supernets: one space, a config that rebuilds it, single-path forward.

    ``forward(x, genotype)`` returns the logits ``[batch, classes]`` of the path `genotype` picks.
    """

    space_name: str = ""
    space: SearchSpace

    def __init__(self, config: dict[str, int]) -> None:
        super().__init__()
        self.config = dict(config)

    def check(self, genotype: Genotype) -> None:
        """InvalidArchitecture unless `genotype` belongs to this supernet's space."""
        if not isinstance(genotype, Genotype) or genotype.space != self.space_name:
            other = genotype.space if isinstance(genotype, Genotype) else type(genotype).__name__
            raise InvalidArchitecture(f"a {self.space_name} supernet cannot run a genotype of space {other!r}")


class _NB201SearchCell(nn.Module):
    """NB201 cell with all 5 ops on each of its 6 edges; `choice` picks one op index per edge."""

    def __init__(self, C: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(search_op(op, C, 1) for op in NB201_OPS) for _ in EDGES)

    def forward(self, x: torch.Tensor, choice: tuple[int, ...]) -> torch.Tensor:
        nodes = [x]
        for node in range(1, 4):
            inputs = [self.edges[e][choice[e]](nodes[src]) for e, (src, dst) in enumerate(EDGES) if dst == node]
            nodes.append(sum(inputs))
        return nodes[-1]


class NB201Supernet(Supernet):
    """NAS-Bench-201 supernet (Dong & Yang, ICLR 2020): the NB201 macro skeleton, every op on every edge.

    Stem, stride-2 residual blocks, head and classifier as `NB201Network` (affine BatchNorms there);
    ``N`` search cells per stage at ``C``, 2C, 4C channels, all cells sharing the sampled genotype.
    """

    space_name = "nb201"

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10) -> None:
        super().__init__({"C": C, "N": N, "num_classes": num_classes})
        self.space: NB201Space = get_space("nb201")  # type: ignore[assignment]
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        for stage in range(3):
            C_stage = C * 2**stage
            if stage > 0:
                cells.append(ResNetBasicBlock(C_stage // 2, C_stage))
            cells += [_NB201SearchCell(C_stage) for _ in range(N)]
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * C, num_classes)

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        self.check(genotype)
        choice = tuple(NB201_OPS.index(op) for op in self.space.edge_ops(genotype))
        out = self.stem(x)
        for cell in self.cells:
            out = cell(out, choice) if isinstance(cell, _NB201SearchCell) else cell(out)
        out = self.lastact(out)
        return self.classifier(torch.flatten(self.global_pooling(out), 1))


#: Edges of a DARTS search cell: every intermediate node reads every earlier state.
DARTS_EDGES = sum(node + 2 for node in range(STEPS))


def darts_edge_index(node: int, source: int) -> int:
    """Position of edge (state `source` -> intermediate node `node`, 0-based) among a cell's 14 edges."""
    return node * (node + 3) // 2 + source


class _DartsSearchCell(nn.Module):
    """DARTS search cell: every op of the space on each of its 14 edges (all predecessors of every node)."""

    def __init__(self, C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        pre0 = FactorizedReduce(C_prev_prev, C) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess0 = without_affine(pre0)
        self.preprocess1 = without_affine(ReLUConvBN(C_prev, C, 1, 1, 0))
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: search_op(op, C, 2 if reduction and j < 2 else 1, pool_bn=True) for op in DARTS_OPS})
            for node in range(STEPS)
            for j in range(node + 2)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, pairs: list[tuple[str, int]]) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(STEPS):
            chosen = pairs[2 * node : 2 * node + 2]
            states.append(sum(self.edges[darts_edge_index(node, j)][op](states[j]) for op, j in chosen))
        return torch.cat(states[2:], dim=1)


class DartsSupernet(Supernet):
    """DARTS supernet (Liu, Simonyan & Yang, ICLR 2019): the search network with every op on every edge.

    ``layers`` cells (reduction cells at layers//3 and 2*layers//3), ``C`` initial channels, stem of
    3C channels, as DARTS's ``model_search.Network``; a genotype runs its 2 (op, input) pairs per node.
    """

    space_name = "darts"

    def __init__(self, C: int = 16, layers: int = 8, num_classes: int = 10) -> None:
        super().__init__({"C": C, "layers": layers, "num_classes": num_classes})
        if layers < 3:
            raise ValueError(f"a DARTS supernet needs at least 3 cells (two reductions), got layers={layers}")
        self.space: DartsSpace = get_space("darts")  # type: ignore[assignment]
        C_curr = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.reductions = tuple(i in (layers // 3, 2 * layers // 3) for i in range(layers))
        self.cells = nn.ModuleList()
        reduction_prev = False
        for reduction in self.reductions:
            if reduction:
                C_curr *= 2
            self.cells.append(_DartsSearchCell(C_prev_prev, C_prev, C_curr, reduction, reduction_prev))
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, STEPS * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        self.check(genotype)
        normal, reduce = self.space.pairs(genotype)
        s0 = s1 = self.stem(x)
        for cell, reduction in zip(self.cells, self.reductions):
            s0, s1 = s1, cell(s0, s1, reduce if reduction else normal)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


SUPERNETS: dict[str, type[Supernet]] = {"nb201": NB201Supernet, "darts": DartsSupernet}


def build_supernet(space: str, seed: int = 0, **config: Any) -> Supernet:
    """The supernet of `space` with `config` (C, N / layers, num_classes), initialized from `seed`."""
    if space not in SUPERNETS:
        raise InvalidArchitecture(f"no supernet for space {space!r}; supernets exist for {', '.join(SUPERNETS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SUPERNETS[space](**config)


def standalone_network(genotype: Genotype, num_classes: int = 10, **config: Any) -> nn.Module:
    """The network a genotype stands for, trained from scratch: `NB201Network` or `DartsNetwork`.

    `config` overrides the published sizes (NB201: C=16, N=5; DARTS: C=36, layers=20) and DARTS's
    ``auxiliary`` / ``drop_path_prob``. Weights come from the global torch RNG: seed inside
    ``torch.random.fork_rng`` for a reproducible build.
    """
    space = get_space(genotype.space)
    if isinstance(space, NB201Space):
        return NB201Network(space.edge_ops(genotype), num_classes=num_classes, **config)
    if isinstance(space, DartsSpace):
        normal, reduce = space.pairs(genotype)
        return DartsNetwork(normal, reduce, num_classes=num_classes, **config)
    raise InvalidArchitecture(f"no network is defined for space {genotype.space!r} (only nb201 and darts)")


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
