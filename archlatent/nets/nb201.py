"""NAS-Bench-201 network (Dong & Yang, "NAS-Bench-201", ICLR 2020).

Follows the reference ``TinyNetwork`` / ``InferCell`` / ``ResNetBasicblock`` of D-X-Y's AutoDL-Projects
(``xautodl/models/cell_infers``, ``xautodl/models/cell_operations.py``): stem conv3x3 + BN, three
stages of N cells at C, 2C, 4C channels joined by stride-2 residual blocks, BN + ReLU, global average
pooling and a linear classifier. Its parameter count equals the benchmark's ``params`` column.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archlatent.nets.ops import OPS, ReLUConvBN, check_ops

#: The NB201 op vocabulary.
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The cell's edges (from node, to node) in arch-string order.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


class NB201Cell(nn.Module):
    """4-node cell: node j sums its in-edges' ops applied to earlier nodes; node 3 is the output."""

    def __init__(self, ops: Sequence[str], C: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(OPS[name](C, 1) for name in ops)

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


class NB201Network(nn.Module):
    """NAS-Bench-201 network (Dong & Yang, ICLR 2020) for a cell given as its 6 edge ops.

    ``ops`` are in arch-string order: edges (0->1), (0->2), (1->2), (0->3), (1->3), (2->3). Every
    cell shares that genotype; ``N`` cells per stage, ``C`` channels in the first stage.
    """

    def __init__(self, ops: Sequence[str], C: int = 16, N: int = 5, num_classes: int = 10) -> None:
        super().__init__()
        ops = tuple(ops)
        if len(ops) != len(EDGES):
            raise ValueError(f"an NB201 cell has {len(EDGES)} edge ops, got {len(ops)}")
        check_ops(ops, NB201_OPS, "NB201")
        self.ops = ops
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        for stage in range(3):
            C_stage = C * 2**stage
            if stage > 0:
                cells.append(ResNetBasicBlock(C_stage // 2, C_stage))
            cells += [NB201Cell(ops, C_stage) for _ in range(N)]
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * C, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch, num_classes]`` for images ``[batch, 3, H, W]``."""
        out = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(out), 1))
