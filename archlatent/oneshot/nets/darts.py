"""DARTS network and supernet (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019).

The network follows ``NetworkCIFAR`` of quark0/darts (``cnn/model.py``, ``cnn/operations.py``): stem
conv3x3 to 3C channels + BN, ``layers`` cells with reduction cells (stride 2, channels doubled) at
layers//3 and 2*layers//3, each cell concatenating its 4 intermediate nodes, optional auxiliary head
after cell 2*layers//3, drop path on non-identity ops during training, global pooling and a linear
classifier. The supernet is ``model_search.Network``'s skeleton with every op of
`archlatent.spaces.darts.OPS` on each of a cell's 14 edges, running one sampled path.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archlatent.errors import ArchLatentError, InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.oneshot.nets.base import NETWORKS, SUPERNETS, Network, Supernet, check_sizes, search_op, without_affine
from archlatent.oneshot.nets.ops import BUILDERS, FactorizedReduce, ReLUConvBN, check_ops
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.darts import N_STEPS, OPS

#: Ops a standalone DARTS cell may use: the space's, plus ``none`` (the zero op of DARTS's
#: ``PRIMITIVES``, which derivation never picks) so that hand-written reference cells build.
PRIMITIVES = ("none", *OPS)
#: Edges of a DARTS search cell: every intermediate node reads every earlier state.
DARTS_EDGES = sum(node + 2 for node in range(N_STEPS))


def darts_edge_index(node: int, source: int) -> int:
    """Position of edge (state `source` -> intermediate node `node`, 0-based) among a cell's 14 edges."""
    return node * (node + 3) // 2 + source


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability `drop_prob`, rescaling the kept ones by 1 / (1 - drop_prob).

    Shapes: x [batch, C, H, W].
    """
    keep_prob = 1.0 - drop_prob
    mask = x.new_empty(x.size(0), 1, 1, 1).bernoulli_(keep_prob)
    return x / keep_prob * mask


def _check_pairs(pairs: Sequence[tuple[str, int]], kind: str) -> tuple[tuple[str, int], ...]:
    pairs = tuple((str(name), int(index)) for name, index in pairs)
    if len(pairs) != 2 * N_STEPS:
        raise InvalidArchitecture(f"a DARTS {kind} cell has {2 * N_STEPS} (op, input) pairs, got {len(pairs)}")
    check_ops((name for name, _ in pairs), PRIMITIVES, "DARTS")
    for k, (_, index) in enumerate(pairs):
        if not 0 <= index < k // 2 + 2:
            raise InvalidArchitecture(
                f"{kind} pair {k} reads state {index}; node {k // 2 + 2} can read states 0..{k // 2 + 1}"
            )
    return pairs


def _plan(C: int, layers: int) -> list[tuple[int, int, int, bool, bool]]:
    """Per cell, as DARTS wires them: (C_prev_prev, C_prev, C, reduction, reduction_prev)."""
    C_prev_prev, C_prev, C_curr = 3 * C, 3 * C, C
    plan, reduction_prev = [], False
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            C_curr *= 2
        plan.append((C_prev_prev, C_prev, C_curr, reduction, reduction_prev))
        reduction_prev = reduction
        C_prev_prev, C_prev = C_prev, N_STEPS * C_curr
    return plan


def _stem(C: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))


def _preprocess(C_prev_prev: int, C_prev: int, C: int, reduction_prev: bool) -> tuple[nn.Module, nn.Module]:
    """The 1x1 convs (or a factorized reduce) that bring both cell inputs to C channels."""
    pre0 = FactorizedReduce(C_prev_prev, C) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
    return pre0, ReLUConvBN(C_prev, C, 1, 1, 0)


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
        self.preprocess0, self.preprocess1 = _preprocess(C_prev_prev, C_prev, C, reduction_prev)
        self.indices = tuple(index for _, index in genotype)
        self.edges = nn.ModuleList(BUILDERS[name](C, 2 if reduction and index < 2 else 1) for name, index in genotype)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for step in range(N_STEPS):
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


@NETWORKS.register("darts")
class DartsNetwork(Network):
    """DARTS CIFAR network (Liu et al., ICLR 2019) built from a genotype's normal and reduce cells.

    ``normal`` / ``reduce`` list 8 (op, input) pairs, two per intermediate node; input 0 is c_{k-2},
    1 is c_{k-1}, 2..5 the intermediate nodes; the cell output concatenates nodes 2..5.
    ``drop_path_prob`` is a plain attribute (training scripts anneal it per epoch); drop path only
    acts in training mode. In training mode with ``auxiliary`` the forward returns ``(logits,
    aux_logits)``, otherwise just the logits. The auxiliary head lives in ``auxiliary_head``, so
    `count_params_mb` skips it as DARTS's ``utils.count_parameters_in_MB`` does.
    """

    depth = "layers"

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
        check_sizes("DARTS network", C=C, layers=layers, num_classes=num_classes)
        self.normal = _check_pairs(normal, "normal")
        self.reduce = _check_pairs(reduce, "reduce")
        self.drop_path_prob = drop_path_prob
        self.aux_index = 2 * layers // 3
        plan = _plan(C, layers)
        self.stem = _stem(C)
        self.cells = nn.ModuleList(
            DartsCell(self.reduce if reduction else self.normal, C_pp, C_p, C_c, reduction, reduction_prev)
            for C_pp, C_p, C_c, reduction, reduction_prev in plan
        )
        self.auxiliary_head = AuxiliaryHeadCIFAR(N_STEPS * plan[self.aux_index][2], num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(N_STEPS * plan[-1][2], num_classes)

    @classmethod
    def from_genotype(
        cls,
        genotype: Genotype,
        num_classes: int = 10,
        *,
        auxiliary: bool = False,
        C: int = 36,
        layers: int = 20,
        drop_path_prob: float = 0.0,
    ) -> DartsNetwork:
        normal, reduce = cls.space().pairs(genotype)
        return cls(normal, reduce, C, layers, num_classes, auxiliary, drop_path_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits; ``(logits, aux_logits)`` when training with the auxiliary head.

        Shapes: x [batch, 3, H, W] -> [batch, num_classes] (each of the pair).
        """
        logits_aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.global_pooling(s1), 1))
        return logits if logits_aux is None else (logits, logits_aux)


class _DartsSearchCell(nn.Module):
    """DARTS search cell: the allowed ops (every op of the space by default) on each of its 14 edges."""

    def __init__(
        self,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        allowed: Sequence[Sequence[str]] = (OPS,) * DARTS_EDGES,
    ) -> None:
        super().__init__()
        pre0, pre1 = _preprocess(C_prev_prev, C_prev, C, reduction_prev)
        self.preprocess0, self.preprocess1 = without_affine(pre0), without_affine(pre1)
        self.edges = nn.ModuleList(
            nn.ModuleDict(
                {op: search_op(op, C, 2 if reduction and j < 2 else 1, pool_bn=True) for op in allowed[e]}
            )
            for e, (node, j) in enumerate((node, j) for node in range(N_STEPS) for j in range(node + 2))
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, pairs: list[tuple[str, int]]) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(N_STEPS):
            chosen = pairs[2 * node : 2 * node + 2]
            states.append(sum(self.edges[darts_edge_index(node, j)][op](states[j]) for op, j in chosen))
        return torch.cat(states[2:], dim=1)


@SUPERNETS.register("darts")
class DartsSupernet(Supernet):
    """DARTS supernet (Liu, Simonyan & Yang, ICLR 2019): the search network with every op on every edge.

    ``layers`` cells (reduction cells at layers//3 and 2*layers//3), ``C`` initial channels, stem of
    3C channels, as DARTS's ``model_search.Network``; a genotype runs its 2 (op, input) pairs per node.
    A restricted `space` builds only its allowed ops (normal cells the normal ones, reduction cells
    the reduce ones).
    """

    depth = "layers"

    def __init__(self, C: int = 16, layers: int = 8, num_classes: int = 10, space: SearchSpace | None = None) -> None:
        super().__init__({"C": C, "layers": layers, "num_classes": num_classes}, space)
        if layers < 3:
            raise ArchLatentError(f"a DARTS supernet needs at least 3 cells (two reductions), got layers={layers}")
        plan = _plan(C, layers)
        self.stem = _stem(C)
        self.reductions = tuple(reduction for *_, reduction, _ in plan)
        allowed = self.restriction.allowed
        self.cells = nn.ModuleList(_DartsSearchCell(*cell, allowed[int(cell[3])]) for cell in plan)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(N_STEPS * plan[-1][2], num_classes)

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        self.check(genotype)
        normal, reduce = self.base_space.pairs(genotype)
        s0 = s1 = self.stem(x)
        for cell, reduction in zip(self.cells, self.reductions):
            s0, s1 = s1, cell(s0, s1, reduce if reduction else normal)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))
