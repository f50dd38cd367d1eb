"""NAS-Bench-101 cell space (Ying et al., "NAS-Bench-101", ICML 2019).

A cell is a DAG of at most 7 vertices and 9 edges given as an upper-triangular adjacency matrix
and one op per vertex: ``input`` first, ``output`` last, and one of `OPS` in between. Validity
follows nasbench's ``ModelSpec``/``_check_spec``: vertices off every input -> output path are
pruned, then the pruned cell must have a path and at most 9 edges. A genotype keeps the matrix as
given (dead vertices included); `canonicalize` returns the pruned cell with its vertices in a
canonical topological order, one genotype per isomorphism class (`representative` is the same).

Two identities: `Genotype.key` (ours, for every space) and `NB101Space.nasbench_hash`, the digest
nasbench's ``ModelSpec.hash_spec`` gives and NAS-Bench-101's own files are keyed by.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import numpy as np
import torch

from archlatent.batch import ArchBatch
from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Cell, Genotype, md5_hex
from archlatent.spaces.base import SPACES, SearchSpace, quote

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
    #: A 7-vertex spec is ~300 characters as compact JSON, ~700 pretty-printed.
    max_text_length = 10_000
    #: The 21 upper-triangular bits of the padded 7x7 adjacency, then 5 interior vertices x 3 ops.
    feature_size = MAX_VERTICES * (MAX_VERTICES - 1) // 2 + (MAX_VERTICES - 2) * len(OPS)

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
            raise InvalidArchitecture(f"nb101 adjacency must hold only 0 and 1 (and ';'), got {quote(adjacency)}")
        return self.from_spec([[int(c) for c in row] for row in rows], op_list)

    def validate_cells(self, cells: tuple[Cell, ...]) -> None:
        ops = cells[0].ops
        if len(ops) > MAX_VERTICES:
            raise InvalidArchitecture(f"nb101 cell has {len(ops)} vertices; at most {MAX_VERTICES} allowed")
        if len(ops) < 2 or ops[0] != "input" or ops[-1] != "output":
            raise InvalidArchitecture(f"nb101 ops must start with 'input' and end with 'output', got {quote(list(ops))}")
        for op in ops[1:-1]:
            if op not in OPS:
                raise InvalidArchitecture(f"unknown nb101 op {quote(op)}; known: {', '.join(OPS)}")
        pruned = cells[0].pruned()
        if not pruned.ops:
            raise InvalidArchitecture("nb101 cell has no path from input to output")
        if len(pruned.edges) > MAX_EDGES:
            raise InvalidArchitecture(
                f"nb101 cell has {len(pruned.edges)} edges after pruning; at most {MAX_EDGES} allowed"
            )

    # -- text form ------------------------------------------------------------------------------
    def parse_text(self, text: str) -> Genotype:
        """Read ``{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}`` (any whitespace)."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise InvalidArchitecture(f"nb101 text is nested too deeply to be a spec: {quote(text)}") from None
        except ValueError as err:  # JSONDecodeError, or an integer too long to convert
            raise InvalidArchitecture(f"nb101 text is not valid JSON ({quote(str(err), 80)}): {quote(text)}") from None
        if not isinstance(data, dict) or not {"matrix", "ops"} <= data.keys():
            raise InvalidArchitecture(f"nb101 text must be a JSON object with keys 'matrix' and 'ops': {quote(text)}")
        matrix, ops = data["matrix"], data["ops"]
        if not isinstance(matrix, list) or not all(isinstance(row, list) for row in matrix):
            raise InvalidArchitecture(f"nb101 'matrix' must be a list of rows, got {quote(matrix)}")
        if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
            raise InvalidArchitecture(f"nb101 'ops' must be a list of strings, got {quote(ops)}")
        bad = next((v for row in matrix for v in row if type(v) is not int), None)
        if bad is not None:  # JSON's true and 1.0 are no adjacency entries
            raise InvalidArchitecture(f"nb101 'matrix' entry {quote(bad)} is not 0 or 1 (an integer): {quote(text)}")
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
                return self.canonicalize(genotype)

    def decode_logits(self, op_logits: torch.Tensor, adj_logits: torch.Tensor, slots: torch.Tensor) -> ArchBatch:
        """Logits read as the nearest cell that obeys the rules (`archlatent.spaces.nb101_decode`).

        Shapes: op_logits [B, 7, labels], adj_logits [B, 7, 7] -> ArchBatch [B, 7].
        """
        from archlatent.spaces import nb101_decode

        return nb101_decode.decode(self, op_logits, adj_logits)

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

    # -- canonical form, hash and features --------------------------------------------------------------
    def canonicalize(self, genotype: Genotype) -> Genotype:
        """The pruned cell with its vertices in canonical order: the least (ops, edges) over the
        topological orders of its interior vertices (at most 5! = 120 tried). Isomorphic cells get
        the same genotype, so this is also `representative`."""
        self.validate(genotype)
        return self.make([_least_order(genotype.canonical_cells[0])])

    def nasbench_hash(self, genotype: Genotype) -> str:
        """nasbench's ``ModelSpec.hash_spec`` of the pruned spec: NAS-Bench-101's own key for a cell.

        ``graph_util.hash_module``: each vertex starts as md5 of (out-degree, in-degree, label), with
        label -1 for input, -2 for output and the op's index in `OPS`; then, once per vertex, it
        becomes md5 of its sorted in-neighbour hashes, '|', sorted out-neighbour hashes, '|', itself;
        the digest is md5 of the sorted list. Query NAS-Bench-101 files with it; `key` is ours.
        """
        self.validate(genotype)
        cell = genotype.canonical_cells[0]
        n = len(cell.ops)
        labels = [-1, *(OPS.index(op) for op in cell.ops[1:-1]), -2]
        preds: list[list[int]] = [[] for _ in range(n)]
        succs: list[list[int]] = [[] for _ in range(n)]
        for i, j in cell.edges:
            succs[i].append(j)
            preds[j].append(i)
        hashes = [md5_hex(str((len(succs[v]), len(preds[v]), labels[v]))) for v in range(n)]
        for _ in range(n):
            hashes = [
                md5_hex("".join(sorted(hashes[w] for w in preds[v])) + "|" + "".join(sorted(hashes[w] for w in succs[v]))
                        + "|" + hashes[v])
                for v in range(n)
            ]
        return md5_hex(str(sorted(hashes)))

    def write_features(self, genotype: Genotype, row: np.ndarray) -> None:
        """Adjacency bits, then interior ops, of the canonical cell padded to 7 vertices.

        A cell of n < 7 vertices keeps its vertices 0..n-2 in place and moves the output to
        vertex 6; vertices n-1..5 are padding, with no edges and no op. ``row[:21]`` holds the
        upper triangle (i < j) row by row; ``row[21 + 3 * (v - 1) + k] = 1`` when vertex v runs ``OPS[k]``.
        """
        cell = genotype.cells[0]
        n = len(cell.ops)
        place = [v if v < n - 1 else MAX_VERTICES - 1 for v in range(n)]
        for i, j in cell.edges:
            a, b = place[i], place[j]
            row[a * (2 * MAX_VERTICES - a - 1) // 2 + (b - a - 1)] = 1.0
        base = MAX_VERTICES * (MAX_VERTICES - 1) // 2
        for v in range(1, n - 1):
            row[base + len(OPS) * (v - 1) + OPS.index(cell.ops[v])] = 1.0


def _least_order(cell: Cell) -> Cell:
    """`cell` relabelled by the topological order (input first, output last) giving the least (ops, edges)."""
    n = len(cell.ops)
    best = (cell.ops, cell.edges)  # the identity order is topological
    for interior in itertools.permutations(range(1, n - 1)):
        position = [0] * n
        for k, v in enumerate(interior, start=1):
            position[v] = k
        position[n - 1] = n - 1
        if any(position[i] >= position[j] for i, j in cell.edges):
            continue
        ops = (cell.ops[0], *(cell.ops[v] for v in interior), cell.ops[-1])
        if ops > best[0]:
            continue
        form = (ops, tuple(sorted((position[i], position[j]) for i, j in cell.edges)))
        best = min(best, form)
    return Cell(*best)
