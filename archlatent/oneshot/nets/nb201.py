"""NAS-Bench-201 network and supernet (Dong & Yang, "NAS-Bench-201", ICLR 2020).

Follows the reference ``TinyNetwork`` / ``InferCell`` / ``ResNetBasicblock`` of D-X-Y's AutoDL-Projects
(``xautodl/models/cell_infers``, ``xautodl/models/cell_operations.py``): stem conv3x3 + BN, three
stages of N cells at C, 2C, 4C channels joined by stride-2 residual blocks, BN + ReLU, global average
pooling and a linear classifier. The standalone network's parameter count equals the benchmark's
``params`` column; the supernet puts every op of `archlatent.spaces.nb201.OPS` on every edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from archlatent.errors import ArchLatentError, InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.oneshot.nets.base import NETWORKS, SUPERNETS, Network, Supernet, check_sizes, search_op
from archlatent.oneshot.nets.ops import BUILDERS, ReLUConvBN, check_ops
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.nb201 import EDGES, OPS


class NB201Cell(nn.Module):
    """4-node cell: node j sums its in-edges' ops applied to earlier nodes; node 3 is the output."""

    def __init__(self, ops: Sequence[str], C: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(BUILDERS[name](C, 1) for name in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, 4):
            nodes.append(sum(op(nodes[src]) for op, (src, dst) in zip(self.edges, EDGES) if dst == node))
        return nodes[-1]


class ResNetBasicBlock(nn.Module):
    """Stride-2 reduction block: two ReLU-Conv3x3-BN plus an avg-pool + conv1x1 shortcut."""

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(C_in, C_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def _build_skeleton(net: nn.Module, C: int, N: int, num_classes: int, cell: Callable[[int], nn.Module]) -> None:
    """Give `net` the NB201 macro skeleton around a cell factory: stem, 3 stages of `N` cells, head.

    The network and the supernet build it alike, in the same order, so their shared parts initialize
    the same way and their state-dict keys (``stem``, ``cells.<i>``, ``lastact``, ``classifier``) agree.
    """
    net.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
    cells: list[nn.Module] = []
    for stage in range(3):
        C_stage = C * 2**stage
        if stage > 0:
            cells.append(ResNetBasicBlock(C_stage // 2, C_stage))
        cells += [cell(C_stage) for _ in range(N)]
    net.cells = nn.ModuleList(cells)
    net.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(inplace=True))
    net.global_pooling = nn.AdaptiveAvgPool2d(1)
    net.classifier = nn.Linear(4 * C, num_classes)


def _head(net: nn.Module, out: torch.Tensor) -> torch.Tensor:
    """Logits from the last stage's features. Shapes: out [batch, 4C, h, w] -> [batch, classes]."""
    return net.classifier(torch.flatten(net.global_pooling(net.lastact(out)), 1))


@NETWORKS.register("nb201")
class NB201Network(Network):
    """NAS-Bench-201 network (Dong & Yang, ICLR 2020) for a cell given as its 6 edge ops.

    ``ops`` are in arch-string order: edges (0->1), (0->2), (1->2), (0->3), (1->3), (2->3). Every
    cell shares that genotype; ``N`` cells per stage, ``C`` channels in the first stage.
    """

    depth = "N"

    def __init__(self, ops: Sequence[str], C: int = 16, N: int = 5, num_classes: int = 10) -> None:
        super().__init__()
        ops = tuple(ops)
        if len(ops) != len(EDGES):
            raise InvalidArchitecture(f"an NB201 cell has {len(EDGES)} edge ops, got {len(ops)}")
        check_ops(ops, OPS, "NB201")
        check_sizes("NB201 network", C=C, N=N, num_classes=num_classes)
        self.ops = ops
        _build_skeleton(self, C, N, num_classes, lambda C_stage: NB201Cell(ops, C_stage))

    @classmethod
    def from_genotype(
        cls, genotype: Genotype, num_classes: int = 10, *, auxiliary: bool = False, C: int = 16, N: int = 5
    ) -> NB201Network:
        if auxiliary:
            raise ArchLatentError("the NB201 network has no auxiliary head (use auxiliary_weight=0)")
        return cls(cls.space().edge_ops(genotype), C=C, N=N, num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images. Shapes: x [batch, 3, H, W] -> [batch, num_classes]."""
        out = self.stem(x)
        for cell in self.cells:
            out = cell(out)
        return _head(self, out)


class _NB201SearchCell(nn.Module):
    """NB201 cell with the allowed ops (all 5 by default) on each of its 6 edges; `ops` picks one per edge.

    Each edge is a ModuleDict keyed by the op's index in `OPS` (``"0"``..``"4"``), so the state-dict
    names (``edges.<edge>.<op index>``) are those of the unrestricted supernet.
    """

    def __init__(self, C: int, allowed: Sequence[Sequence[str]] = (OPS,) * len(EDGES)) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleDict({str(OPS.index(op)): search_op(op, C, 1) for op in allowed[e]}) for e in range(len(EDGES))
        )

    def forward(self, x: torch.Tensor, ops: Sequence[str]) -> torch.Tensor:
        nodes = [x]
        for node in range(1, 4):
            edges = [(e, src) for e, (src, dst) in enumerate(EDGES) if dst == node]
            nodes.append(sum(self.edges[e][str(OPS.index(ops[e]))](nodes[src]) for e, src in edges))
        return nodes[-1]


@SUPERNETS.register("nb201")
class NB201Supernet(Supernet):
    """NAS-Bench-201 supernet (Dong & Yang, ICLR 2020): the NB201 macro skeleton, every op on every edge.

    Stem, stride-2 residual blocks, head and classifier as `NB201Network` (affine BatchNorms there);
    ``N`` search cells per stage at ``C``, 2C, 4C channels, all cells sharing the sampled genotype.
    A restricted `space` builds only its allowed ops on each edge.
    """

    depth = "N"

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, space: SearchSpace | None = None) -> None:
        super().__init__({"C": C, "N": N, "num_classes": num_classes}, space)
        allowed = self.restriction.allowed[0]
        _build_skeleton(self, C, N, num_classes, lambda C_stage: _NB201SearchCell(C_stage, allowed))

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        self.check(genotype)
        ops = self.base_space.edge_ops(genotype)
        out = self.stem(x)
        for cell in self.cells:
            out = cell(out, ops) if isinstance(cell, _NB201SearchCell) else cell(out)
        return _head(self, out)

