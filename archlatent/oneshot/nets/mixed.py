"""Mixed-op supernets (DARTS: Liu, Simonyan & Yang, ICLR 2019): every candidate op on every edge at once.

Each edge computes ``sum_k softmax(alpha[cell, edge])_k * op_k(x)`` over its candidate ops: the
space's allowed ops plus, on DARTS, the zero op ``none`` (DARTS's ``PRIMITIVES``; it takes softmax
mass but adds nothing, so it is never computed: an exact shortcut that saves its activation). The
mixed vocabulary of a space is `VOCABS` (``none`` first); alpha, scores and masks are shaped
``[cells, edges, len(vocab)]``. The modules are the single-path supernets' (`DartsSupernet`,
`NB201Supernet`), so ``forward(x, genotype)`` still runs one path and weights trained either way
load into the other (`inherit_weights`).

`derive` turns scores into a genotype by DARTS's rule: DARTS keeps, per intermediate node, the two
inputs whose strongest non-``none`` op scores highest, with that op; NB201 keeps the strongest op of
each edge (``none`` included, as NB201's DARTS baselines derive). DDAS discretizes its actions the
same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from archlatent.genotype import Genotype
from archlatent.oneshot.nets.base import SUPERNETS, Supernet
from archlatent.oneshot.nets.darts import PRIMITIVES, DartsSupernet, darts_edge_index
from archlatent.oneshot.nets.nb201 import NB201Supernet, _head, _NB201SearchCell
from archlatent.registry import Registry
from archlatent.spaces import darts, nb201
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.restrict import restriction_of

#: Candidate ops of a mixed edge per space, ``none`` first.
VOCABS: dict[str, tuple[str, ...]] = {"darts": PRIMITIVES, "nb201": nb201.OPS}


def candidate_mask(space: SearchSpace) -> np.ndarray:
    """Boolean ``[cells, edges, len(vocab)]``: the candidates of each mixed edge (DARTS: ``none`` always)."""
    restriction = restriction_of(space)
    vocab = VOCABS[restriction.name]
    mask = np.array([[[op in ops for op in vocab] for ops in cell] for cell in restriction.allowed], dtype=bool)
    if "none" not in restriction.layout.ops:
        mask[..., vocab.index("none")] = True
    return mask


def onehot(space: SearchSpace, genotype: Genotype) -> np.ndarray:
    """``[cells, edges, len(vocab)]`` float32 with a 1 at each (cell, edge, op) choice of `genotype`."""
    restriction = restriction_of(space)
    vocab = VOCABS[restriction.name]
    out = np.zeros(candidate_mask(restriction).shape, dtype=np.float32)
    for c, e, op in restriction.active(genotype):
        out[c, e, vocab.index(op)] = 1.0
    return out


def derive(space: SearchSpace, scores: np.ndarray) -> Genotype:
    """The genotype DARTS's rule picks from `scores` (higher is stronger) within `space`'s candidates.

    Shapes: scores [cells, edges, len(vocab)] (softmaxed alpha, or any per-candidate score).
    Ties go to the lower input index and the earlier op, as DARTS's stable sort does.
    """
    restriction = restriction_of(space)
    vocab = VOCABS[restriction.name]
    mask = candidate_mask(restriction)
    if restriction.name == "darts":
        mask[..., vocab.index("none")] = False
    s = np.where(mask, np.asarray(scores, dtype=np.float64), -np.inf)
    if restriction.name == "nb201":
        genotype = restriction.base.from_ops([vocab[int(k)] for k in s[0].argmax(1)])
    else:
        cells = []
        for c in range(len(s)):
            pairs = []
            for node in range(2, 2 + darts.N_STEPS):
                rows = [darts.edge_index(node, j) for j in range(node)]
                strength = s[c, rows].max(1)
                best = [j for j in np.argsort(-strength, kind="stable") if np.isfinite(strength[j])][:2]
                pairs += [(vocab[int(s[c, rows[j]].argmax())], int(j)) for j in best]
            cells.append(pairs)
        genotype = restriction.base.from_pairs(*cells)
    restriction.validate(genotype)
    return genotype


def _mixed_edge(edge: nn.ModuleDict, x: torch.Tensor, w: torch.Tensor, index: dict[str, int]) -> torch.Tensor | None:
    """``sum_k w_k op_k(x)`` over the edge's ops but ``none`` (vocabulary index 0); None when that
    leaves nothing. `index` maps the edge's module keys to vocabulary indices. Shapes: w [len(vocab)]."""
    terms = [w[index[key]] * op(x) for key, op in edge.items() if index[key] != 0]
    return sum(terms[1:], terms[0]) if terms else None


def _node(terms: list[torch.Tensor | None], like: torch.Tensor) -> torch.Tensor:
    """The sum of a node's incoming edge outputs (zeros shaped like `like` when all are zero ops)."""
    live = [t for t in terms if t is not None]
    return sum(live[1:], live[0]) if live else torch.zeros_like(like)


class MixedSupernet(Supernet):
    """What the mixed-op supernets add to their single-path bases: alpha, mixing weights, derivation.

    ``alpha`` (an ``nn.Parameter`` ``[cells, edges, len(vocab)]``, DARTS's ``1e-3 * randn`` init)
    lives in the module, so it moves and saves with it; `weight_parameters` are the rest.
    ``forward(x)`` mixes by ``softmax(alpha)``, ``forward(x, weights=w)`` by given weights (DDAS's
    warm-up passes uniform ones), ``forward(x, genotype)`` runs one path.
    """

    vocab: tuple[str, ...]
    candidates: torch.Tensor

    #: How the single-path modules key an edge's ops: by name (DARTS) or by index in the vocabulary (NB201).
    keyed_by_index: bool = False

    def _init_alpha(self) -> None:
        self.vocab = VOCABS[self.name]
        self._index = {str(k) if self.keyed_by_index else op: k for k, op in enumerate(self.vocab)}
        mask = torch.from_numpy(candidate_mask(self.restriction))
        self.register_buffer("candidates", mask, persistent=False)
        self.alpha = nn.Parameter(1e-3 * torch.randn(mask.shape))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def mix_weights(self, alpha: torch.Tensor | None = None) -> torch.Tensor:
        """Softmax of `alpha` (default: the module's) over each edge's candidates; 0 elsewhere."""
        alpha = self.alpha if alpha is None else alpha
        return torch.softmax(alpha.float().masked_fill(~self.candidates, float("-inf")), dim=-1)

    def uniform_weights(self) -> torch.Tensor:
        """The mixing weights of ``alpha = 1`` everywhere: uniform over each edge's candidates."""
        return self.mix_weights(torch.ones_like(self.alpha))

    def genotype(self) -> Genotype:
        """DARTS's derivation (`derive`) from the current softmaxed alpha."""
        return derive(self.space, self.mix_weights().detach().cpu().numpy())

    def forward(
        self, x: torch.Tensor, genotype: Genotype | None = None, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of one path (`genotype`) or of the mixture. Shapes: x [batch, 3, H, W] -> [batch, classes]."""
        if genotype is not None:
            return super().forward(x, genotype)  # type: ignore[safe-super]
        return self.mixed(x, self.mix_weights() if weights is None else weights)

    def mixed(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The mixture's logits. Shapes: weights [cells, edges, len(vocab)]."""
        raise NotImplementedError


#: Mixed-op supernets by space name (same sizes as `SUPERNETS`, plus an optional restricted ``space``).
MIXED_SUPERNETS: Registry[MixedSupernet] = Registry("mixed-op supernet")


@MIXED_SUPERNETS.register("darts")
class MixedDartsSupernet(MixedSupernet, DartsSupernet):
    """DARTS (Liu et al., ICLR 2019) search network: 8 candidates (``none`` + 7 ops) mixed on each of 14 edges."""

    def __init__(self, C: int = 16, layers: int = 8, num_classes: int = 10, space: SearchSpace | None = None) -> None:
        DartsSupernet.__init__(self, C, layers, num_classes, space)
        self._init_alpha()

    def mixed(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell, reduction in zip(self.cells, self.reductions):
            w = weights[int(reduction)]
            states = [cell.preprocess0(s0), cell.preprocess1(s1)]
            for node in range(darts.N_STEPS):
                rows = [darts_edge_index(node, j) for j in range(node + 2)]
                terms = [_mixed_edge(cell.edges[e], states[j], w[e], self._index) for j, e in enumerate(rows)]
                states.append(_node(terms, states[-1]))
            s0, s1 = s1, torch.cat(states[2:], dim=1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


@MIXED_SUPERNETS.register("nb201")
class MixedNB201Supernet(MixedSupernet, NB201Supernet):
    """NAS-Bench-201 (Dong & Yang, ICLR 2020) supernet with the 5 ops mixed on each edge (DARTS-style)."""

    keyed_by_index = True

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, space: SearchSpace | None = None) -> None:
        NB201Supernet.__init__(self, C, N, num_classes, space)
        self._init_alpha()

    def mixed(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        w = weights[0]
        out = self.stem(x)
        for cell in self.cells:
            if not isinstance(cell, _NB201SearchCell):
                out = cell(out)
                continue
            nodes = [out]
            for node in range(1, 4):
                into = [(e, src) for e, (src, dst) in enumerate(nb201.EDGES) if dst == node]
                nodes.append(_node([_mixed_edge(cell.edges[e], nodes[src], w[e], self._index) for e, src in into], out))
            out = nodes[-1]
        return _head(self, out)


def _build(registry: Registry, space: str | SearchSpace, seed: int, config: dict[str, Any]) -> Any:
    name = space if isinstance(space, str) else space.name
    settings = {} if isinstance(space, str) else {"space": space}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return registry.create(name, **settings, **config)


def build_mixed(space: str | SearchSpace, seed: int = 0, **config: Any) -> MixedSupernet:
    """The mixed-op supernet of `space` (a name, or a possibly restricted space), initialized from `seed`."""
    return _build(MIXED_SUPERNETS, space, seed, config)


def build_single_path(space: str | SearchSpace, seed: int = 0, **config: Any) -> Supernet:
    """The single-path supernet (`SUPERNETS`) of `space`, a name or a possibly restricted space."""
    return _build(SUPERNETS, space, seed, config)


def inherit_weights(target: nn.Module, source: nn.Module) -> int:
    """Copy every tensor of `source`'s state that `target` has under the same name and shape; returns how many."""
    own = target.state_dict()
    shared = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
    target.load_state_dict(shared, strict=False)
    return len(shared)


__all__ = [
    "MIXED_SUPERNETS",
    "VOCABS",
    "MixedDartsSupernet",
    "MixedNB201Supernet",
    "MixedSupernet",
    "build_mixed",
    "build_single_path",
    "candidate_mask",
    "derive",
    "inherit_weights",
    "onehot",
]
