"""DARTS evaluation network (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019).

Follows ``NetworkCIFAR`` of quark0/darts (``cnn/model.py``, ``cnn/operations.py``): stem conv3x3 to 3C
channels + BN, ``layers`` cells with reduction cells (stride 2, channels doubled) at layers//3 and
2*layers//3, each cell concatenating its 4 intermediate nodes, optional auxiliary head after cell
2*layers//3, drop path on non-identity ops during training, global pooling and a linear classifier.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archlatent.nets.ops import OPS, FactorizedReduce, ReLUConvBN, check_ops

#: The DARTS op vocabulary.
DARTS_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: Intermediate nodes per cell; each takes two (op, input) pairs and all are concatenated.
STEPS = 4


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability `drop_prob`, rescaling the kept ones by 1 / (1 - drop_prob)."""
    keep_prob = 1.0 - drop_prob
    mask = x.new_empty(x.size(0), 1, 1, 1).bernoulli_(keep_prob)
    return x / keep_prob * mask


def _check_genotype(pairs: Sequence[tuple[str, int]], kind: str) -> tuple[tuple[str, int], ...]:
    pairs = tuple((str(name), int(index)) for name, index in pairs)
    if len(pairs) != 2 * STEPS:
        raise ValueError(f"a DARTS {kind} cell has {2 * STEPS} (op, input) pairs, got {len(pairs)}")
    check_ops((name for name, _ in pairs), DARTS_OPS, "DARTS")
    for k, (_, index) in enumerate(pairs):
        if not 0 <= index < k // 2 + 2:
            raise ValueError(f"{kind} pair {k} reads state {index}; node {k // 2 + 2} can read states 0..{k // 2 + 1}")
    return pairs


class DartsCell(nn.Module):
    """A normal or reduction cell: inputs c_{k-2}, c_{k-1} preprocessed to C channels, 4 nodes, concat."""

    def __init__(
        self,
        genotype: Sequence[tuple[str, int]],
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.preprocess0 = FactorizedReduce(C_prev_prev, C) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        self.indices = tuple(index for _, index in genotype)
        self.edges = nn.ModuleList(OPS[name](C, 2 if reduction and index < 2 else 1) for name, index in genotype)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for step in range(STEPS):
            node = 0
            for k in (2 * step, 2 * step + 1):
                op = self.edges[k]
                h = op(states[self.indices[k]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                node = node + h
            states.append(node)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """Auxiliary classifier on the 8x8 feature map after cell 2*layers//3 (DARTS / NASNet CIFAR head)."""

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),  # out-of-place: its input also feeds the next cells
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # 8x8 -> 2x2
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsNetwork(nn.Module):
    """DARTS CIFAR network (Liu et al., ICLR 2019) built from a genotype's normal and reduce cells.

    ``normal`` / ``reduce`` list 8 (op, input) pairs, two per intermediate node; input 0 is c_{k-2},
    1 is c_{k-1}, 2..5 the intermediate nodes; the cell output concatenates nodes 2..5.
    ``drop_path_prob`` is a plain attribute (training scripts anneal it per epoch); drop path only
    acts in training mode. In training mode with ``auxiliary`` the forward returns ``(logits,
    aux_logits)``, otherwise just the logits. The auxiliary head lives in ``auxiliary_head``, so
    `count_params_mb` skips it as DARTS's ``utils.count_parameters_in_MB`` does.
    """

    def __init__(
        self,
        normal: Sequence[tuple[str, int]],
        reduce: Sequence[tuple[str, int]],
        C: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"a DARTS network needs at least one cell, got layers={layers}")
        self.normal = _check_genotype(normal, "normal")
        self.reduce = _check_genotype(reduce, "reduce")
        self.drop_path_prob = drop_path_prob
        self.aux_index = 2 * layers // 3
        C_curr = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            genotype = self.reduce if reduction else self.normal
            self.cells.append(DartsCell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev))
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, STEPS * C_curr
            if i == self.aux_index:
                C_aux = C_prev
        self.auxiliary_head = AuxiliaryHeadCIFAR(C_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[batch, num_classes]``; ``(logits, aux_logits)`` when training with the auxiliary head."""
        logits_aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.global_pooling(s1), 1))
        return logits if logits_aux is None else (logits, logits_aux)
