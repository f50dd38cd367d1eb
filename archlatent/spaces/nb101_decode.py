"""Decoding NAS-Bench-101 logits under the space's rules (used by `NB101Space.decode_logits`).

Plain argmax decoding of a latent point can give a cell with a padding label inside it, no input ->
output path, or more than 9 edges once dead vertices are pruned. This reads the same logits as the
nearest cell that obeys the rules: the vertices are the prefix of non-padding predictions (input
first, output last, interior vertices the best-scoring op), edges with a positive logit, then, where
needed, the highest-scoring input -> output path is added and the weakest edges off it dropped until
at most 9 remain after pruning.
"""

from __future__ import annotations

import numpy as np
import torch

from archlatent.batch import ArchBatch
from archlatent.genotype import Cell
from archlatent.spaces.base import SearchSpace

MAX_EDGES = 9


def best_path(logits: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The input (0) -> output (k-1) path with the largest summed edge logit. Shapes: logits [k, k]."""
    score, back = np.full(k, -np.inf), np.zeros(k, dtype=int)
    score[0] = 0.0
    for j in range(1, k):
        cand = score[:j] + logits[:j, j]
        back[j] = int(np.argmax(cand))
        score[j] = cand[back[j]]
    path, v = [], k - 1
    while v != 0:
        path.append((int(back[v]), v))
        v = back[v]
    return path[::-1]


def repair(ops: tuple[str, ...], logits: np.ndarray) -> Cell:
    """The cell on `ops` whose edges are the positive logits, repaired to have a path and <= 9 live edges."""
    k = len(ops)
    edges = {(i, j) for i in range(k) for j in range(i + 1, k) if logits[i, j] > 0}
    cell = Cell(ops, tuple(sorted(edges)))
    pruned = cell.pruned()
    if pruned.ops and len(pruned.edges) <= MAX_EDGES:
        return cell
    path = set(best_path(logits, k))
    edges |= path
    for edge in sorted(edges - path, key=lambda e: logits[e]):  # weakest first
        cell = Cell(ops, tuple(sorted(edges)))
        if len(cell.pruned().edges) <= MAX_EDGES:
            break
        edges.discard(edge)
    return Cell(ops, tuple(sorted(edges)))


def decode(space: SearchSpace, op_logits: torch.Tensor, adj_logits: torch.Tensor) -> ArchBatch:
    """See the module docstring. Shapes: op_logits [B, 7, labels], adj_logits [B, 7, 7] -> ArchBatch."""
    from archlatent.spaces.nb101 import OPS

    labels = space.node_labels
    interior = [space._label_index[o] for o in OPS]
    raw = op_logits.argmax(-1).cpu().numpy()
    interior_best = np.array(interior)[op_logits[:, :, interior].argmax(-1).cpu().numpy()]
    adj = adj_logits.detach().float().cpu().numpy()
    n = space.max_nodes
    out_ops = np.zeros((len(raw), n), dtype=np.int64)
    out_adj = np.zeros((len(raw), n, n), dtype=np.float32)
    for row in range(len(raw)):
        k = max(2, int((raw[row] != 0).sum()))
        ops = ("input", *(labels[i] for i in interior_best[row, 1 : k - 1]), "output")
        cell = repair(ops, adj[row, :k, :k])
        out_ops[row, :k] = [space._label_index[o] for o in cell.ops]
        for i, j in cell.edges:
            out_adj[row, i, j] = 1.0
    ops_t = torch.from_numpy(out_ops).to(op_logits.device)
    return ArchBatch(ops_t, torch.from_numpy(out_adj).to(op_logits.device), ops_t != 0)
