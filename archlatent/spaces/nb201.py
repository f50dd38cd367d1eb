"""NAS-Bench-201 cell space (Dong & Yang, "NAS-Bench-201", ICLR 2020).

A 4-node cell whose 6 edges (0->1, 0->2, 1->2, 0->3, 1->3, 2->3) each carry one of 5 ops. As a
node-labelled DAG each edge becomes an op node: node 0 is the input, nodes 1..6 the edges in
arch-string order, node 7 the output. The wiring is fixed, so a genotype is its 6 ops.

Two forms per cell: `canonicalize` turns dead edges into ``none`` and keeps the cell's benchmark
row (searches evaluate it, published figures depend on it); `representative` also merges cells that
are isomorphic (e.g. nodes 1 and 2 swapped when edge 1->2 is ``none``): one genotype per key.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from archlatent.batch import ArchBatch
from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Cell, Genotype
from archlatent.spaces.base import SPACES, SearchSpace, quote

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The cell's edges (from node, to node) in arch-string order.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
_TOKEN = re.compile(r"([a-z0-9_]+)~([0-9]+)", re.ASCII)


def _wiring() -> tuple[tuple[int, int], ...]:
    """Edges of the op-node graph: op node a feeds op node b when edge a ends where edge b starts."""
    wires = []
    for a, (src, dst) in enumerate(EDGES, start=1):
        if src == 0:
            wires.append((0, a))
        if dst == 3:
            wires.append((a, 7))
        wires += [(a, b) for b, (src2, _) in enumerate(EDGES, start=1) if src2 == dst]
    return tuple(sorted(wires))


WIRING = _wiring()


@SPACES.register("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201: 5 ops on each of 6 edges, 15,625 cells; text form is the official arch string."""

    node_labels = ("<pad>", "input", "output", *OPS)
    max_cell_nodes = 8
    #: Official strings have at most 120 characters.
    max_text_length = 1_000
    #: One-hot op per edge: 6 edges x 5 ops.
    feature_size = len(EDGES) * len(OPS)

    def __init__(self) -> None:
        super().__init__()
        self._op_ids = np.array([self._label_index[op] for op in OPS])
        self._io_ids = (self._label_index["input"], self._label_index["output"])
        # at most 15,625 genotypes: reuse them so each key is computed once per space instance
        self._made: dict[tuple[str, ...], Genotype] = {}

    # -- construction ------------------------------------------------------------------------
    def from_ops(self, ops: Sequence[str]) -> Genotype:
        """The genotype whose 6 edges carry `ops` (arch-string order)."""
        ops = tuple(ops)
        genotype = self._made.get(ops)
        if genotype is None:
            genotype = self._made[ops] = self.make([Cell(("input", *ops, "output"), WIRING)])
        return genotype

    def edge_ops(self, genotype: Genotype) -> tuple[str, ...]:
        """The 6 edge ops of a genotype, in arch-string order."""
        self.validate(genotype)
        return genotype.cells[0].ops[1:7]

    def validate_cells(self, cells: tuple[Cell, ...]) -> None:
        cell = cells[0]
        if len(cell.ops) != 8:
            raise InvalidArchitecture(f"nb201 cell must have 8 nodes (input, 6 edge ops, output), got {len(cell.ops)}")
        if cell.ops[0] != "input" or cell.ops[7] != "output":
            raise InvalidArchitecture("nb201 cell must start with 'input' and end with 'output'")
        for op in cell.ops[1:7]:
            if op not in OPS:
                raise InvalidArchitecture(f"unknown nb201 op {quote(op)}; known: {', '.join(OPS)}")
        if cell.edges != WIRING:
            raise InvalidArchitecture("nb201 cell wiring differs from the fixed 4-node cell")

    # -- text form ------------------------------------------------------------------------------
    def parse_text(self, text: str) -> Genotype:
        """Read ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

        A node may list its edges in any order, as the official ``str2structure`` allows; each
        earlier node must feed it exactly once.
        """
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise InvalidArchitecture(f"nb201 arch string needs 3 '+'-separated nodes, got {len(nodes)}: {quote(text)}")
        ops: dict[tuple[int, int], str] = {}
        for dst, node in enumerate(nodes, start=1):
            if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
                raise InvalidArchitecture(f"nb201 node {dst} must be enclosed in '|': {quote(node)}")
            tokens = node[1:-1].split("|")
            if len(tokens) != dst:
                raise InvalidArchitecture(f"nb201 node {dst} needs {dst} input edge(s), got {len(tokens)}: {quote(node)}")
            for token in tokens:
                match = _TOKEN.fullmatch(token)
                if match is None:
                    raise InvalidArchitecture(f"malformed nb201 edge {quote(token)} (expected 'op~index')")
                op, src = match.group(1), int(match.group(2))  # at most max_text_length digits
                if op not in OPS:
                    raise InvalidArchitecture(f"unknown nb201 op {quote(op)} into node {dst}; known: {', '.join(OPS)}")
                if src >= dst:
                    raise InvalidArchitecture(
                        f"nb201 edge {quote(token)} into node {dst} must come from an earlier node 0..{dst - 1}"
                    )
                if (src, dst) in ops:
                    raise InvalidArchitecture(f"nb201 node {dst} names source node {src} twice: {quote(node)}")
                ops[src, dst] = op
        return self.from_ops([ops[edge] for edge in EDGES])

    def format(self, genotype: Genotype) -> str:
        ops = self.edge_ops(genotype)
        return "+".join(
            "|" + "|".join(f"{ops[e]}~{src}" for e, (src, dst) in enumerate(EDGES) if dst == node) + "|"
            for node in (1, 2, 3)
        )

    def ops_code(self, genotype: Genotype) -> str:
        """The benchmark tables' 6-digit code: one op index per edge in arch-string order."""
        return "".join(str(OPS.index(op)) for op in self.edge_ops(genotype))

    def from_code(self, code: str) -> Genotype:
        """Inverse of `ops_code`."""
        if len(code) != 6 or any(c not in "01234" for c in code):
            raise InvalidArchitecture(f"nb201 ops code must be 6 digits 0-4, got {quote(code)}")
        return self.from_ops([OPS[int(c)] for c in code])

    # -- sampling and edits -----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Genotype:
        return self.from_ops([OPS[i] for i in rng.integers(len(OPS), size=6)])

    def neighbours(self, genotype: Genotype) -> list[Genotype]:
        ops = self.edge_ops(genotype)
        return [
            self.from_ops(ops[:e] + (op,) + ops[e + 1 :]) for e in range(6) for op in OPS if op != ops[e]
        ]

    def canonicalize(self, genotype: Genotype) -> Genotype:
        """Edges off every input -> output path become ``none`` (the cell stays a valid NB201 cell)."""
        ops = self.edge_ops(genotype)
        live = _surviving_edges(ops)
        return self.from_ops([op if e in live else "none" for e, op in enumerate(ops)])

    def representative(self, genotype: Genotype) -> Genotype:
        """The canonical cell with the smallest ops code among the cells of `genotype`'s key.

        Two canonical cells share a key exactly when they are equal or nodes 1 and 2 trade places
        with edge 1->2 `none` (checked against all 15,625 cells in the tests), so the
        representative is the smaller of the canonical cell and its swap: 8,765 in all, in O(1).
        """
        c = self.canonicalize(genotype)
        e01, e02, e12, e03, e13, e23 = self.edge_ops(c)
        if e12 != "none":
            return c
        swapped = self.canonicalize(self.from_ops((e02, e01, e12, e03, e23, e13)))
        return min((c, swapped), key=self.ops_code)

    def write_features(self, genotype: Genotype, row: np.ndarray) -> None:
        """One-hot op per edge: ``row[5 * e + k] = 1`` when edge e (arch-string order) carries ``OPS[k]``."""
        for e, op in enumerate(self.edge_ops(genotype)):
            row[len(OPS) * e + OPS.index(op)] = 1.0

    def size(self) -> int:
        return len(OPS) ** 6

    def enumerate(self) -> Iterator[Genotype]:
        """All 15,625 cells, ops codes in lexicographic order (the tables' ``index`` order differs)."""
        for combo in itertools.product(OPS, repeat=6):
            yield self.from_ops(combo)

    # -- tensor form (vectorized: the wiring is fixed) -----------------------------------------------
    def from_tensors(self, batch: ArchBatch) -> list[Genotype | None]:
        ops = batch.ops.detach().cpu()
        ok = (ops[:, 0] == self._io_ids[0]) & (ops[:, 7] == self._io_ids[1])
        if ops.shape[1] > 8:
            ok &= (ops[:, 8:] == 0).all(dim=1)
        edge_ids = ops[:, 1:7]
        ok &= ((edge_ids >= int(self._op_ids.min())) & (edge_ids <= int(self._op_ids.max()))).all(dim=1)
        wiring = torch.zeros(self.max_nodes, self.max_nodes)
        for i, j in WIRING:
            wiring[i, j] = 1.0
        ok &= ((batch.adj.detach().cpu() > 0.5).float() == wiring).all(dim=(1, 2))
        ok &= batch.mask.detach().cpu()[:, :8].all(dim=1)
        labels = self.node_labels
        return [
            self.from_ops([labels[i] for i in row]) if good else None
            for row, good in zip(edge_ids.tolist(), ok.tolist())
        ]


def _surviving_edges(ops: Sequence[str]) -> set[int]:
    """Indices of the edges that lie on some input -> output path through non-``none`` edges."""
    reach_from_in = {0}
    for e, (src, dst) in enumerate(EDGES):
        if ops[e] != "none" and src in reach_from_in:
            reach_from_in.add(dst)
    reach_to_out = {3}
    for e in reversed(range(6)):
        src, dst = EDGES[e]
        if ops[e] != "none" and dst in reach_to_out:
            reach_to_out.add(src)
    return {
        e
        for e, (src, dst) in enumerate(EDGES)
        if ops[e] != "none" and src in reach_from_in and dst in reach_to_out
    }
