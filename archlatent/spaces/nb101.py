"""NAS-Bench-101 cell space (Ying et al., "NAS-Bench-101", ICML 2019).

A cell is a DAG of at most 7 vertices and 9 edges given as an upper-triangular adjacency matrix
and one op per vertex: ``input`` first, ``output`` last, and one of `OPS` in between. Validity
follows nasbench's ``ModelSpec``/``_check_spec``: vertices off every input -> output path are
pruned, then the pruned cell must have a path and at most 9 edges. A genotype keeps the matrix as
given (dead vertices included); `canonicalize` returns the pruned cell.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Cell, Genotype
from archlatent.spaces.base import SPACES, SearchSpace

OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES = 7
MAX_EDGES = 9


@SPACES.register("nb101")
class NB101Space(SearchSpace):
    """Ying et al., "NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML 2019.

    Text form is compact JSON ``{"matrix": [[...]], "ops": [...]}`` of the stored (raw) spec.
    """

    node_labels = ("<pad>", "input", "output", *OPS)
    max_cell_nodes = MAX_VERTICES

    # -- construction ------------------------------------------------------------------------
    def from_spec(self, matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> Genotype:
        """The genotype of a nasbench ``ModelSpec(matrix, ops)``; the matrix is kept as given."""
        return self.make([Cell.from_matrix(tuple(ops), [list(row) for row in matrix])])

    def spec(self, genotype: Genotype) -> tuple[list[list[int]], list[str]]:
        """The stored ``(matrix, ops)`` of a genotype (canonicalize first for the pruned spec)."""
        self.validate(genotype)
        cell = genotype.cells[0]
        return cell.matrix(), list(cell.ops)

    def parse_table_row(self, adjacency: str, ops: str) -> Genotype:
        """A genotype from a table's adjacency and comma-separated ops columns.

        The adjacency is either rows separated by ``;`` (``"01100;00011;..."``) or one row-major
        string of ``len(ops) ** 2`` characters (``adjacency_raw_7x7``).
        """
        op_list = [op.strip() for op in ops.split(",")]
        n = len(op_list)
        text = adjacency.strip()
        rows = text.split(";") if ";" in text else [text[i : i + n] for i in range(0, len(text), n)]
        if any(c not in "01" for row in rows for c in row):
            raise InvalidArchitecture(f"nb101 adjacency must hold only 0 and 1 (and ';'), got {adjacency!r}")
        return self.from_spec([[int(c) for c in row] for row in rows], op_list)

    def validate_cells(self, cells: tuple[Cell, ...]) -> None:
        ops = cells[0].ops
        if len(ops) > MAX_VERTICES:
            raise InvalidArchitecture(f"nb101 cell has {len(ops)} vertices; at most {MAX_VERTICES} allowed")
        if len(ops) < 2 or ops[0] != "input" or ops[-1] != "output":
            raise InvalidArchitecture(f"nb101 ops must start with 'input' and end with 'output', got {list(ops)}")
        for op in ops[1:-1]:
            if op not in OPS:
                raise InvalidArchitecture(f"unknown nb101 op {op!r}; known: {', '.join(OPS)}")
        pruned = cells[0].pruned()
        if not pruned.ops:
            raise InvalidArchitecture("nb101 cell has no path from input to output")
        if len(pruned.edges) > MAX_EDGES:
            raise InvalidArchitecture(
                f"nb101 cell has {len(pruned.edges)} edges after pruning; at most {MAX_EDGES} allowed"
            )

    # -- text form ------------------------------------------------------------------------------
    def parse(self, text: str) -> Genotype:
        """Read ``{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}`` (any whitespace)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidArchitecture(f"nb101 text is not valid JSON ({err}): {text!r}") from None
        if not isinstance(data, dict) or not {"matrix", "ops"} <= data.keys():
            raise InvalidArchitecture(f"nb101 text must be a JSON object with keys 'matrix' and 'ops': {text!r}")
        matrix, ops = data["matrix"], data["ops"]
        if not isinstance(matrix, list) or not all(isinstance(row, list) for row in matrix):
            raise InvalidArchitecture(f"nb101 'matrix' must be a list of rows, got {matrix!r}")
        if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
            raise InvalidArchitecture(f"nb101 'ops' must be a list of strings, got {ops!r}")
        return self.from_spec(matrix, ops)

    def format(self, genotype: Genotype) -> str:
        matrix, ops = self.spec(genotype)
        return json.dumps({"matrix": matrix, "ops": ops}, separators=(",", ":"))

    # -- sampling and edits -----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Genotype:
        """nasbench's sampler: each of the 21 edges with probability 1/2, uniform ops, until valid."""
        while True:
            matrix = np.triu(rng.integers(2, size=(MAX_VERTICES, MAX_VERTICES)), 1).tolist()
            ops = ["input", *(OPS[i] for i in rng.integers(len(OPS), size=MAX_VERTICES - 2)), "output"]
            genotype = self._try_make([Cell.from_matrix(ops, matrix)])
            if genotype is not None:
                return self.make(genotype.canonical_cells)

    def neighbours(self, genotype: Genotype) -> list[Genotype]:
        """Every valid spec one edit from the pruned cell.

        Edits: change an interior op, toggle an edge, or split an edge i -> j by a new vertex v (any
        op) into i -> v -> j. Without the split, cells could only shrink and ``input -> output``
        would have no neighbour at all.
        """
        cell = self.canonicalize(genotype).cells[0]
        n = len(cell.ops)
        candidates = [
            Cell(cell.ops[:v] + (op,) + cell.ops[v + 1 :], cell.edges)
            for v in range(1, n - 1)
            for op in OPS
            if op != cell.ops[v]
        ]
        edges = set(cell.edges)
        candidates += [Cell(cell.ops, tuple(sorted(edges ^ {(i, j)}))) for i in range(n) for j in range(i + 1, n)]
        if n < MAX_VERTICES:
            for i, j in cell.edges:  # the new vertex takes index j; later vertices shift up by one
                moved = {(a + (a >= j), b + (b >= j)) for a, b in edges - {(i, j)}}
                ops = [cell.ops[:j] + (op,) + cell.ops[j:] for op in OPS]
                candidates += [Cell(o, tuple(sorted(moved | {(i, j), (j, j + 1)}))) for o in ops]
        unique = dict.fromkeys(candidates)  # a copy of j's op put just before or after j can repeat
        return [g for g in (self._try_make([c]) for c in unique) if g is not None]
