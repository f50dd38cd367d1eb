"""Genotypes: frozen, hashable cells (node-labelled DAGs) with an isomorphism-invariant key.

Every space stores its architectures in this one form. Edge-labelled spaces (NB201, DARTS) turn
each op edge into a node, so the encoders and the key see node labels only. The key is a
Weisfeiler-Lehman hash of the pruned cells, the refinement NAS-Bench-101's module hash
(``graph_util.hash_module``) runs, over (out-degree, in-degree, label): relabelling vertices never
changes it. Its digests differ from nasbench's (`NB101Space.nasbench_hash` computes those); its
classes match brute-force isomorphism on the NB101 sample and give NB201's known 8,765 (tests check
both). A space's `representative` picks one genotype per key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from archlatent.errors import InvalidArchitecture

#: Node labels that carry no signal: such nodes (and their edges) are dropped by `Cell.pruned`.
ZERO_OPS = frozenset({"none", "zero"})


def md5_hex(text: str) -> str:
    """Hex md5 of a string's UTF-8 bytes (the digest both our key and nasbench's hash are built from)."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Cell:
    """A DAG in topological order: ``ops[i]`` labels node i, ``edges`` holds pairs (i, j) with i < j.

    Sources are the nodes labelled ``input`` or ``input*``; the sink is the node labelled ``output``.
    """

    ops: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        n = len(self.ops)
        for i, j in self.edges:
            if not (0 <= i < j < n):
                raise InvalidArchitecture(
                    f"edge ({i}, {j}) is not a forward edge of a {n}-node cell (cycle or bad index)"
                )
        if len(set(self.edges)) != len(self.edges) or list(self.edges) != sorted(self.edges):
            raise InvalidArchitecture(f"cell edges must be sorted and distinct, got {self.edges}")

    @classmethod
    def from_matrix(cls, ops: tuple[str, ...] | list[str], matrix: list[list[int]]) -> Cell:
        """Build from a square 0/1 adjacency matrix; anything on or below the diagonal is a cycle."""
        n = len(ops)
        if len(matrix) != n or any(len(row) != n for row in matrix):
            raise InvalidArchitecture(f"adjacency must be {n}x{n} for {n} ops")
        edges = []
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if v not in (0, 1):
                    raise InvalidArchitecture(f"adjacency entry ({i}, {j}) is {repr(v)[:40]}, not 0 or 1")
                if v and j <= i:
                    raise InvalidArchitecture(
                        f"adjacency entry ({i}, {j}) is below the diagonal: not a DAG in topological order"
                    )
                if v:
                    edges.append((i, j))
        return cls(tuple(ops), tuple(edges))

    def matrix(self) -> list[list[int]]:
        """The square 0/1 adjacency matrix."""
        n = len(self.ops)
        m = [[0] * n for _ in range(n)]
        for i, j in self.edges:
            m[i][j] = 1
        return m

    def pruned(self) -> Cell:
        """Drop zero ops and every node not on a source -> sink path (nasbench's pruning).

        A cell with no such path prunes to the empty cell (no nodes).
        """
        n = len(self.ops)
        alive = [op not in ZERO_OPS for op in self.ops]
        succ: list[list[int]] = [[] for _ in range(n)]
        pred: list[list[int]] = [[] for _ in range(n)]
        for i, j in self.edges:
            if alive[i] and alive[j]:
                succ[i].append(j)
                pred[j].append(i)
        fwd = [False] * n
        for v in range(n):
            if alive[v] and (self.ops[v].startswith("input") or any(fwd[u] for u in pred[v])):
                fwd[v] = True
        bwd = [False] * n
        for v in range(n - 1, -1, -1):
            if alive[v] and (self.ops[v] == "output" or any(bwd[w] for w in succ[v])):
                bwd[v] = True
        keep = [v for v in range(n) if fwd[v] and bwd[v]]
        if not any(self.ops[v] == "output" for v in keep):
            return Cell((), ())
        index = {v: k for k, v in enumerate(keep)}
        edges = tuple(sorted((index[i], index[j]) for i, j in self.edges if i in index and j in index))
        return Cell(tuple(self.ops[v] for v in keep), edges)

    def wl_hash(self) -> str:
        """Weisfeiler-Lehman hash of this cell as it stands (prune first for the canonical one).

        The refinement of NAS-Bench-101's module hash: start from (out-degree, in-degree, op), then
        repeatedly label each node by (its label, sorted predecessor labels, sorted successor labels).
        Labels are renumbered by the rank of their signature among the cell's distinct signatures,
        and the digest covers every round's sorted list of signatures, so equal digests mean equal WL
        histories (no per-node md5 as in nasbench: ~30 us rather than ~150 us per NB201 cell). Rounds stop once
        the partition of nodes stops refining: later rounds add nothing a digest could tell apart.
        """
        n = len(self.ops)
        if n == 0:
            return md5_hex("empty")
        pred: list[list[int]] = [[] for _ in range(n)]
        succ: list[list[int]] = [[] for _ in range(n)]
        for i, j in self.edges:
            succ[i].append(j)
            pred[j].append(i)
        signature: list[tuple] = [(len(succ[v]), len(pred[v]), self.ops[v]) for v in range(n)]
        history: list[list[tuple]] = []
        classes = 0
        for _ in range(n + 1):
            history.append(sorted(signature))
            distinct = sorted(set(signature))
            if len(distinct) == classes:
                break
            classes = len(distinct)
            rank = {s: r for r, s in enumerate(distinct)}
            label = [rank[s] for s in signature]
            get = label.__getitem__
            signature = [(label[v], tuple(sorted(map(get, pred[v]))), tuple(sorted(map(get, succ[v])))) for v in range(n)]
        return md5_hex(repr(history))


@dataclass(frozen=True)
class Genotype:
    """An architecture of one search space: its space's name and one or more cells.

    Build genotypes through a space (`parse`, `sample`, `from_tensors`, ...), which validates them.
    """

    space: str
    cells: tuple[Cell, ...]

    @cached_property
    def canonical_cells(self) -> tuple[Cell, ...]:
        """The cells with zero ops and dead nodes pruned."""
        return tuple(c.pruned() for c in self.cells)

    def key(self) -> str:
        """Isomorphism-invariant identity: equal for genotypes that compute the same function."""
        return self._key

    @cached_property
    def _key(self) -> str:
        return md5_hex(self.space + ":" + ":".join(c.wl_hash() for c in self.canonical_cells))
