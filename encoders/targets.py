"""Free training targets: quantities every architecture has without data or labels, for the target head.

Pretraining may ask the latent mean to predict, through one linear head, a few numbers of each
architecture beside its reconstruction (`LatentAutoencoder.loss`), so that a linear read-out of the
latent space (a user's ridge regressor, `benchmarks/latent_tau.py`) finds them. Nothing of a
benchmark's accuracy is used. Targets, by name (``targets = {"params": 1.0, ...}`` in a preset; the
weight multiplies that target's mean squared error on standardized values):

- ``params`` / ``flops``: log of the parameter count / multiply-accumulates of the architecture's
  standalone network (`archlatent.oneshot.nets`, published sizes: NB201 C=16, N=5; DARTS C=36, 20
  cells, 32x32 input). NB201 and DARTS: there each edge's op is a module of its own whose size
  depends only on where it sits, so both are a base plus one term per edge op, counted once per
  process from a few whole networks (exact; the tests compare with whole networks). NB201: per
  (edge, op), 25 networks. DARTS: per (normal cell, op) and per (reduce cell, stride, op) (an op in
  a reduction cell that reads one of the cell's two inputs has stride 2), 22 networks.
- ``ops``: how many nodes carry each op (ops that lie on no path, such as NB201's ``none``, left out).
- ``depth``: the most op nodes on one input -> output path.
- ``paths``: per op, the number of input -> output paths through a node of that op, and the number
  of input -> output paths (counts, not their logs: on NB201 a ridge probe of the counts per op
  ranks at tau 0.649 with 100 labels, of their logs at 0.641; one-hot: 0.562).
- ``extremes``: per op, the fewest and the most nodes of that op on one input -> output path.

Graph targets are read from the tensor form (`SearchSpace.to_tensors`), so they exist for every
space; nodes labelled ``none`` count as absent. Columns are standardized over the training set.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from archlatent.batch import ArchBatch
from archlatent.checks import is_number
from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.spaces import SearchSpace

#: Largest weight a target may have (a weight of 10**6 would drown reconstruction).
MAX_WEIGHT = 100.0
#: Labels that are not ops: padding, a cell's inputs and output, DARTS's sum node, NB201's absent edge.
_NOT_OPS = ("<pad>", "none")


def _is_source(label: str) -> bool:
    return label.startswith("input")


def op_labels(space: SearchSpace) -> list[int]:
    """Indices (in `space.node_labels`) of the labels that count as ops."""
    return [i for i, name in enumerate(space.node_labels) if name not in _NOT_OPS and not _is_source(name)
            and name != "output"]


def _alive(space: SearchSpace, batch: ArchBatch) -> tuple[np.ndarray, np.ndarray]:
    """(labels [B, N], adjacency [B, N, N] among real nodes that are not ``none``)."""
    ops = batch.ops.cpu().numpy()
    alive = batch.mask.cpu().numpy().astype(bool)
    if "none" in space.node_labels:
        alive &= ops != space.node_labels.index("none")
    adj = (batch.adj.cpu().numpy() > 0.5) & alive[:, :, None] & alive[:, None, :]
    return ops, adj


def _graph(space: SearchSpace, batch: ArchBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(adjacency among live nodes [B, N, N], op one-hot [B, N, K], sources [B, N], sinks [B, N]).

    Sources are the nodes labelled ``input*``, sinks those labelled ``output``.
    """
    ops, adj = _alive(space, batch)
    onehot = np.stack([ops == k for k in op_labels(space)], -1).astype(np.float64)
    source = np.isin(ops, [i for i, name in enumerate(space.node_labels) if _is_source(name)])
    return adj, onehot, source, ops == space.node_labels.index("output")


def _extreme(adj: np.ndarray, weights: np.ndarray, source: np.ndarray, sink: np.ndarray, pick: Any) -> np.ndarray:
    """The largest (`pick` np.max) or smallest (np.min) sum of node `weights` [B, N, C] over the
    source -> sink paths, per column [B, C] (0 without a path). Nodes come in topological order (edges
    i -> j have i < j in every space's tensor form)."""
    b, n, c = weights.shape
    none = -np.inf if pick is np.max else np.inf
    best = np.full((b, n, c), none)
    for j in range(n):
        reach = pick(np.where(adj[:, :j, j, None], best[:, :j], none), axis=1) if j else np.full((b, c), none)
        reach = np.where(source[:, j, None], 0.0, reach)
        best[:, j] = reach + weights[:, j]
    out = pick(np.where(sink[:, :, None], best, none), axis=1)
    return np.where(np.isfinite(out), out, 0.0)


def _count(adj: np.ndarray, keep: np.ndarray, source: np.ndarray, sink: np.ndarray) -> np.ndarray:
    """Number of source -> sink paths through `keep` nodes only [B] (topological node order)."""
    b, n = keep.shape
    count = np.zeros((b, n))
    for j in range(n):
        count[:, j] = (source[:, j] + (adj[:, :j, j] * count[:, :j]).sum(1)) * keep[:, j]
    return (count * sink).sum(1)


@functools.lru_cache(maxsize=4)
def _nb201_costs() -> tuple[float, np.ndarray, float, np.ndarray]:
    """(params of the all-``none`` network, params added by op k on edge e [6, 5], the same for flops)."""
    from archlatent.oneshot.nets import standalone_network
    from archlatent.spaces import get_space
    from archlatent.spaces.nb201 import OPS

    space = get_space("nb201")

    def counts(ops: Sequence[str]) -> tuple[float, float]:
        p, f = _counts(standalone_network(space.from_ops(ops)))
        return p, f

    base_p, base_f = counts(["none"] * 6)
    add_p, add_f = np.zeros((6, len(OPS))), np.zeros((6, len(OPS)))
    for e in range(6):
        for k, op in enumerate(OPS[1:], start=1):
            p, f = counts([op if i == e else "none" for i in range(6)])
            add_p[e, k], add_f[e, k] = p - base_p, f - base_f
    return base_p, add_p, base_f, add_f


def nb201_cost(space: SearchSpace, genotypes: Sequence[Genotype]) -> tuple[np.ndarray, np.ndarray]:
    """Parameter count (millions) and multiply-accumulates (millions) of NB201 standalone networks."""
    from archlatent.spaces.nb201 import OPS

    base_p, add_p, base_f, add_f = _nb201_costs()
    codes = np.array([[OPS.index(op) for op in space.edge_ops(g)] for g in genotypes], dtype=np.int64).reshape(-1, 6)
    edges = np.arange(6)
    return base_p + add_p[edges, codes].sum(1), base_f + add_f[edges, codes].sum(1)


def _counts(net: Any) -> np.ndarray:
    """(params, flops) of a network, millions."""
    from archlatent.oneshot.nets import count_flops_m, count_params_mb

    return np.array([count_params_mb(net), count_flops_m(net)])


@functools.lru_cache(maxsize=4)
def _darts_costs() -> tuple[np.ndarray, np.ndarray]:
    """(params and flops of the network whose every edge is ``none`` [2], the (params, flops) an op adds
    [3, 7, 2]: in a normal cell, in a reduce cell at stride 2 (it reads input 0 or 1), at stride 1)."""
    from archlatent.oneshot.nets.darts import DartsNetwork
    from archlatent.spaces.darts import N_STEPS, OPS

    empty = [("none", 0)] * (2 * N_STEPS)

    def counts(normal: list[tuple[str, int]], reduce: list[tuple[str, int]]) -> np.ndarray:
        with torch.random.fork_rng(devices=[]):  # the weights do not matter; keep the caller's RNG
            return _counts(DartsNetwork(normal, reduce))

    base = counts(empty, empty)
    add = np.zeros((3, len(OPS), 2))
    for k, op in enumerate(OPS):
        add[0, k] = counts([(op, 0), *empty[1:]], empty) - base
        add[1, k] = counts(empty, [(op, 0), *empty[1:]]) - base
        add[2, k] = counts(empty, [*empty[:2], (op, 2), *empty[3:]]) - base  # pair 2 is node 3's: it may read node 2
    return base, add


def darts_cost(space: SearchSpace, genotypes: Sequence[Genotype]) -> tuple[np.ndarray, np.ndarray]:
    """Parameter count (millions) and multiply-accumulates (millions, one 32x32 image) of DARTS standalone
    networks (C=36, 20 cells, no auxiliary head), exact."""
    from archlatent.spaces.darts import OPS

    base, add = _darts_costs()
    out = np.tile(base, (len(genotypes), 1))
    for row, g in enumerate(genotypes):
        normal, reduce = space.pairs(g)
        out[row] += sum(add[0, OPS.index(op)] for op, _ in normal)
        out[row] += sum(add[1 if j < 2 else 2, OPS.index(op)] for op, j in reduce)
    return out[:, 0], out[:, 1]


#: Space name -> (params, flops) of its standalone networks, for the ``params`` and ``flops`` targets.
COSTS: dict[str, Callable[[SearchSpace, Sequence[Genotype]], tuple[np.ndarray, np.ndarray]]] = {
    "nb201": nb201_cost,
    "darts": darts_cost,
}


def _params(space: SearchSpace, genotypes: Sequence[Genotype], batch: ArchBatch) -> np.ndarray:
    return np.log(COSTS[space.name](space, genotypes)[0])[:, None]


def _flops(space: SearchSpace, genotypes: Sequence[Genotype], batch: ArchBatch) -> np.ndarray:
    return np.log(COSTS[space.name](space, genotypes)[1])[:, None]


def _ops(space: SearchSpace, genotypes: Sequence[Genotype], batch: ArchBatch) -> np.ndarray:
    ops, _ = _alive(space, batch)
    mask = batch.mask.cpu().numpy().astype(bool)
    return np.stack([((ops == k) & mask).sum(1) for k in op_labels(space)], -1).astype(np.float64)


def _depth(space: SearchSpace, genotypes: Sequence[Genotype], batch: ArchBatch) -> np.ndarray:
    adj, onehot, source, sink = _graph(space, batch)
    return _extreme(adj, onehot.sum(-1, keepdims=True), source, sink, np.max)


def _extremes(space: SearchSpace, genotypes: Sequence[Genotype], batch: ArchBatch) -> np.ndarray:
    adj, onehot, source, sink = _graph(space, batch)
    return np.concatenate([_extreme(adj, onehot, source, sink, np.min), _extreme(adj, onehot, source, sink, np.max)], 1)


def _paths(space: SearchSpace, genotypes: Sequence[Genotype], batch: ArchBatch) -> np.ndarray:
    adj, onehot, source, sink = _graph(space, batch)
    live = batch.mask.cpu().numpy().astype(bool)
    total = _count(adj, live, source, sink)
    through = [total - _count(adj, live & (onehot[:, :, k] == 0), source, sink) for k in range(onehot.shape[2])]
    return np.stack([*through, total], 1)


Target = Callable[[SearchSpace, Sequence[Genotype], ArchBatch], np.ndarray]
#: name -> (function of (space, genotypes, their tensor form) -> [B, k], spaces it needs or None for all).
TARGETS: dict[str, tuple[Target, tuple[str, ...] | None]] = {
    "params": (_params, tuple(COSTS)),
    "flops": (_flops, tuple(COSTS)),
    "ops": (_ops, None),
    "depth": (_depth, None),
    "paths": (_paths, None),
    "extremes": (_extremes, None),
}


def check_targets(space: SearchSpace, targets: Any) -> dict[str, float]:
    """`targets` as a plain {name: weight} dict (None: none); one ArchLatentError naming the fault when
    it is not a mapping of known target names that `space` has to finite weights in 0..MAX_WEIGHT."""
    if targets is None:
        return {}
    if not isinstance(targets, Mapping):
        raise ArchLatentError(f"targets must be a mapping of target name to weight, got {type(targets).__name__}")
    out: dict[str, float] = {}
    for name, weight in targets.items():
        if name not in TARGETS:
            raise ArchLatentError(f"unknown target {str(name)[:40]!r}; known: {', '.join(TARGETS)}")
        spaces = TARGETS[name][1]
        if spaces is not None and space.name not in spaces:
            raise ArchLatentError(f"target {name!r} exists for {', '.join(spaces)}, not space {space.name!r}")
        if isinstance(weight, bool) or not is_number(weight) or not math.isfinite(weight) \
                or not 0 <= weight <= MAX_WEIGHT:
            raise ArchLatentError(f"target {name!r}: weight must be a number in 0..{MAX_WEIGHT:g}, got {weight!r}")
        out[str(name)] = float(weight)
    return out


def target_widths(space: SearchSpace, targets: Mapping[str, float]) -> dict[str, int]:
    """Columns per target for `space` (what the head predicts), in the order of `targets`."""
    n_ops = len(op_labels(space))
    width = {"params": 1, "flops": 1, "ops": n_ops, "depth": 1, "paths": n_ops + 1, "extremes": 2 * n_ops}
    return {name: width[name] for name in targets}


def target_values(space: SearchSpace, genotypes: Sequence[Genotype], targets: Mapping[str, float]) -> np.ndarray:
    """Raw (unstandardized) target columns of `genotypes`, targets in the order of `targets`. [B, T]."""
    genotypes = list(genotypes)
    batch = space.to_tensors(genotypes)
    parts = [TARGETS[name][0](space, genotypes, batch) for name in targets]
    return np.concatenate(parts, 1) if parts else np.zeros((len(genotypes), 0))


def standardize(values: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit std (a constant column becomes 0)."""
    std = values.std(0)
    return (values - values.mean(0)) / np.where(std > 1e-12, std, 1.0)


def column_weights(space: SearchSpace, targets: Mapping[str, float]) -> np.ndarray:
    """Per column: its target's weight divided by the target's column count (a target's weight
    applies to the mean of its columns' squared errors)."""
    widths = target_widths(space, targets)
    return np.concatenate([np.full(w, targets[name] / w) for name, w in widths.items()]) if widths else np.zeros(0)

