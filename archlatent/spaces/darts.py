"""DARTS cell space (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019).

A genotype has a normal and a reduction cell. Each has cell inputs 0 (c_{k-2}) and 1 (c_{k-1}) and
intermediate nodes 2..5; node n sums two ops applied to two distinct earlier nodes, and the cell
output concatenates nodes 2..5. As a node-labelled DAG each (op, input) pair becomes an op node and
each intermediate node an ``add`` node: node 0 ``input0``, node 1 ``input1``, then per intermediate
node its two op nodes (in genotype order) and its ``add`` node (nodes 2-4, 5-7, 8-10, 11-13), and
node 14 ``output``. An op node has one edge in, from the cell input or the ``add`` node it reads,
and one edge out, to its own ``add`` node; every ``add`` node feeds the output. The ``add`` nodes
are what makes the key exact: without them (op nodes wired straight to their readers) two leaf
nodes could trade ops on the same inputs, computing another function, with an unchanged graph.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Sequence

import numpy as np
import torch

from archlatent.batch import ArchBatch
from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Cell, Genotype
from archlatent.spaces.base import SPACES, SearchSpace, quote

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
N_STEPS = 4
CONCAT = [2, 3, 4, 5]
#: Edges (intermediate node, input) per cell, as in DARTS's search cell: node n reads nodes 0..n-1.
N_EDGES = sum(range(2, 2 + N_STEPS))
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
OUTPUT = 2 + 3 * N_STEPS
ADD = "add"
#: Longest integer literal the text may hold (~300 decimal digits). Node indices are 0..5; a longer
#: literal is refused before anything converts it to decimal: a 3,600-digit hex literal fits in the text
#: but has more than the 4,300 decimal digits ``repr`` may write.
MAX_INT_BITS = 1024

Pairs = list[tuple[str, int]]


def _check_pairs(cell: str, pairs: Pairs) -> None:
    """Raise InvalidArchitecture unless `pairs` are 4 nodes of two (known op, distinct earlier input)."""
    if len(pairs) % 2:
        raise InvalidArchitecture(
            f"darts {cell} cell has {len(pairs)} (op, input) pairs: an odd count leaves a node with one input"
        )
    if len(pairs) != 2 * N_STEPS:
        raise InvalidArchitecture(f"darts {cell} cell has {len(pairs) // 2} nodes, needs {N_STEPS} (8 pairs)")
    for p, pair in enumerate(pairs):
        node = 2 + p // 2
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) and type(pair[1]) is int):
            raise InvalidArchitecture(f"darts {cell} node {node}: expected an (op, input) pair, got {quote(pair)}")
        op, j = pair
        if op not in OPS:
            raise InvalidArchitecture(f"unknown darts op {quote(op)} in {cell} node {node}; known: {', '.join(OPS)}")
        if not 0 <= j < node:
            raise InvalidArchitecture(
                f"darts {cell} node {node} takes input {quote(j, 40)}: inputs must be earlier nodes 0..{node - 1}"
            )
    for node in range(2, 2 + N_STEPS):
        a, b = pairs[2 * node - 4][1], pairs[2 * node - 3][1]
        if a == b:
            raise InvalidArchitecture(f"darts {cell} node {node} uses input {a} twice (its two inputs must differ)")


def _add_node(node: int) -> int:
    """Index of intermediate node `node`'s ``add`` node (node >= 2)."""
    return 3 * node - 2


def _encode(pairs: Pairs) -> Cell:
    """The 15-node cell (inputs, op and ``add`` nodes, output) of a checked pair list."""
    ops: list[str] = ["input0", "input1"]
    edges = []
    for p, (op, j) in enumerate(pairs):
        node = 2 + p // 2
        v = len(ops)
        ops.append(op)
        edges += [(j if j < 2 else _add_node(j), v), (v, _add_node(node))]
        if p % 2:
            ops.append(ADD)
            edges.append((_add_node(node), OUTPUT))
    return Cell((*ops, "output"), tuple(sorted(edges)))


def _decode(cell_name: str, cell: Cell) -> Pairs:
    """The (op, input) pairs of a cell in the 15-node form; InvalidArchitecture where it is not one
    (the wiring beyond each op node's input is checked by comparing with `_encode` of the pairs)."""
    if len(cell.ops) != OUTPUT + 1:
        raise InvalidArchitecture(
            f"darts {cell_name} cell must have {OUTPUT + 1} nodes (2 inputs, 4 x (2 op nodes + add), output), "
            f"got {len(cell.ops)}"
        )
    if cell.ops[:2] != ("input0", "input1") or cell.ops[OUTPUT] != "output":
        raise InvalidArchitecture(f"darts {cell_name} cell must start with 'input0', 'input1' and end with 'output'")
    adds = {_add_node(node): node for node in range(2, 2 + N_STEPS)}
    if any(cell.ops[v] != ADD for v in adds):
        raise InvalidArchitecture(f"darts {cell_name} cell must have '{ADD}' nodes at {sorted(adds)}")
    pairs = []
    for v in range(2, OUTPUT):
        if v in adds:
            continue
        preds = [i for i, j in cell.edges if j == v]
        if not preds:
            raise InvalidArchitecture(f"darts {cell_name} op node {v} has no input")
        if len(preds) != 1 or not (preds[0] < 2 or preds[0] in adds):
            raise InvalidArchitecture(
                f"darts {cell_name} op node {v} reads nodes {preds}: not one cell input or one intermediate node"
            )
        pairs.append((cell.ops[v], preds[0] if preds[0] < 2 else adds[preds[0]]))
    return pairs


def edge_index(node: int, source: int) -> int:
    """Position of edge (`source` -> intermediate `node`) among a cell's `N_EDGES`, node by node."""
    return (node - 2) * (node + 1) // 2 + source


def _flatten(cell: str, pairs: Sequence) -> Pairs:
    """DARTS's flat (op, input) list, from that list or from one list of two pairs per node (the
    nested form pt.darts and AutoDL write); lists become tuples, anything else is left for
    `_check_pairs` to refuse."""
    items = [tuple(p) if isinstance(p, list) else p for p in pairs]
    nested = len(items) == N_STEPS and all(
        isinstance(p, tuple) and all(isinstance(q, (list, tuple)) for q in p) for p in items
    )
    if not nested:
        return items
    for node, pair_list in enumerate(items, start=2):
        if len(pair_list) != 2:
            raise InvalidArchitecture(f"darts {cell} node {node} lists {len(pair_list)} (op, input) pairs, needs 2")
    return [tuple(q) if isinstance(q, list) else q for p in items for q in p]


def _canonical(pairs: Pairs) -> Pairs:
    """The least pair list among the relabellings that keep the cell: each node's two pairs sorted, and
    the intermediate nodes in any order that still reads only earlier nodes (at most 4! tried)."""
    nodes = [pairs[2 * k : 2 * k + 2] for k in range(N_STEPS)]
    best = [pair for node in nodes for pair in sorted(node)]  # the identity order is always valid
    for order in itertools.permutations(range(N_STEPS)):  # order[k]: the old node placed at position k
        new = {2 + old: 2 + k for k, old in enumerate(order)} | {0: 0, 1: 1}
        if any(new[j] >= 2 + k for k, old in enumerate(order) for _, j in nodes[old]):
            continue
        best = min(best, [pair for old in order for pair in sorted((op, new[j]) for op, j in nodes[old])])
    return best


def _check_int_literals(tree: ast.AST, text: str) -> None:
    """InvalidArchitecture for the first integer literal in `tree` longer than `MAX_INT_BITS` bits."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value.bit_length() > MAX_INT_BITS:
            raise InvalidArchitecture(
                f"darts genotype text holds an integer of {node.value.bit_length():,} bits (at most {MAX_INT_BITS}; "
                f"node indices are 0..{1 + N_STEPS}): {quote(text)}"
            )


def _parse_concat(field: str, node: ast.expr) -> range | list:
    """A concat field, literal or ``range(a, b[, c])``; a range stays lazy (never expanded)."""
    try:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
            args = [ast.literal_eval(arg) for arg in node.args]
            if node.keywords or not all(type(a) is int for a in args):
                raise TypeError("range() takes integer positional arguments")
            return range(*args)
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError) as err:
        raise InvalidArchitecture(f"darts {field} must be a list of node indices: {quote(str(err), 80)}") from None
    if not isinstance(value, (list, tuple)):
        raise InvalidArchitecture(f"darts {field} must be a list of node indices, got {quote(value)}")
    return list(value)


@SPACES.register("darts")
class DartsSpace(SearchSpace):
    """DARTS (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019).

    Normal and reduction cells of 4 nodes, each summing two of 7 ops on two distinct earlier nodes.
    The two inputs must differ, as DARTS derives them (top-2 distinct predecessors); every
    published genotype checked obeys this. So both cell inputs always feed node 2, every op node
    feeds the output through its ``add`` node and nothing is prunable; what `canonicalize` removes
    is the order of the two pairs of a node and of interchangeable nodes (one genotype per key).
    """

    cell_names = ("normal", "reduce")
    node_labels = ("<pad>", "input0", "input1", "output", ADD, *OPS)
    max_cell_nodes = OUTPUT + 1
    #: Published genotypes have ~450 characters, multi-line or nested ones under 1,000. Keep this
    #: below 4,300: no integer literal can then be too long to print.
    max_text_length = 4_000
    #: (cell, edge, op) indicators: 2 cells x 14 edges x 7 ops.
    feature_size = 2 * N_EDGES * len(OPS)

    # -- construction ------------------------------------------------------------------------
    def from_pairs(self, normal: Pairs, reduce: Pairs) -> Genotype:
        """The genotype with these (op, input) lists, as in the DARTS repository's ``Genotype``
        (flat, or nested as one list of two pairs per node)."""
        cells = []
        for name, pairs in zip(self.cell_names, (normal, reduce)):
            pairs = _flatten(name, pairs)
            _check_pairs(name, pairs)
            cells.append(_encode(pairs))
        return self.make(cells)

    def pairs(self, genotype: Genotype) -> tuple[Pairs, Pairs]:
        """The normal and reduce (op, input) lists of a genotype."""
        self.validate(genotype)
        normal, reduce = (_decode(name, cell) for name, cell in zip(self.cell_names, genotype.cells))
        return normal, reduce

    def validate_cells(self, cells: tuple[Cell, ...]) -> None:
        for name, cell in zip(self.cell_names, cells):
            pairs = _decode(name, cell)
            _check_pairs(name, pairs)
            if _encode(pairs) != cell:
                raise InvalidArchitecture(f"darts {name} cell wiring differs from the op-node form of its pairs")

    # -- text form ------------------------------------------------------------------------------
    def parse_text(self, text: str) -> Genotype:
        """Read ``Genotype(normal=[(op, input), ...], normal_concat=[2, 3, 4, 5], reduce=..., reduce_concat=...)``.

        Pair lists may be flat or nested per node; a concat may be a list or ``range(2, 6)``.
        """
        try:
            call = ast.parse(text.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
            # on bounded text, RecursionError (1,000 unary '+') and MemoryError ("parser stack overflowed",
            # 200 nested lists) are the parser's own limits, not a machine out of memory
            reason = err.msg if isinstance(err, SyntaxError) else type(err).__name__
            raise InvalidArchitecture(f"malformed darts genotype text ({reason}): {quote(text)}") from None
        _check_int_literals(call, text)
        name = getattr(call, "func", None)
        if not isinstance(call, ast.Call) or getattr(name, "id", getattr(name, "attr", None)) != "Genotype":
            raise InvalidArchitecture(f"darts genotype text must be a Genotype(...) call: {quote(text)}")
        if len(call.args) > len(FIELDS) or any(kw.arg not in FIELDS for kw in call.keywords):
            raise InvalidArchitecture(f"darts Genotype takes the fields {', '.join(FIELDS)}: {quote(text)}")
        fields = dict(zip(FIELDS, call.args))
        twice = [kw.arg for kw in call.keywords if kw.arg in fields]
        if twice:
            raise InvalidArchitecture(f"darts Genotype gets {', '.join(map(str, twice))} twice: {quote(text)}")
        fields |= {kw.arg: kw.value for kw in call.keywords}
        missing = [f for f in FIELDS if f not in fields]
        if missing:
            raise InvalidArchitecture(f"darts Genotype lacks {', '.join(missing)}: {quote(text)}")
        for field in ("normal_concat", "reduce_concat"):
            concat = _parse_concat(field, fields[field])
            if concat != (range(2, 6) if isinstance(concat, range) else CONCAT):
                raise InvalidArchitecture(f"darts {field} must be {CONCAT} (range(2, 6)), got {quote(concat)}")
        cells = []
        for field in ("normal", "reduce"):
            try:
                value = ast.literal_eval(fields[field])
            except (ValueError, TypeError, SyntaxError, RecursionError) as err:
                raise InvalidArchitecture(
                    f"darts {field} must be a list of (op, input) pairs: {quote(str(err), 80)}"
                ) from None
            if not isinstance(value, (list, tuple)):
                raise InvalidArchitecture(f"darts {field} must be a list of (op, input) pairs, got {quote(value)}")
            cells.append(list(value))
        return self.from_pairs(*cells)

    def format(self, genotype: Genotype) -> str:
        normal, reduce = self.pairs(genotype)
        return f"Genotype(normal={normal!r}, normal_concat={CONCAT!r}, reduce={reduce!r}, reduce_concat={CONCAT!r})"

    # -- decoding constrained to the rules ------------------------------------------------------------
    def decode_logits(self, op_logits: torch.Tensor, adj_logits: torch.Tensor, slots: torch.Tensor) -> ArchBatch:
        """The valid cell nearest to a decoder's logits: per op node the best-scoring op of `OPS`, per
        intermediate node the two distinct inputs whose edge logits into its two op nodes sum highest;
        the fixed wiring (inputs, ``add`` nodes, output) as the space defines it.

        Unconstrained argmax decoding leaves all but ~1 % of the latent box invalid (a missing or
        doubled input anywhere breaks the cell); this reads the same logits under the space's rules, so
        every latent point decodes to a cell (as DARTS itself derives a cell from its alphas).
        Shapes: op_logits [B, N, labels], adj_logits [B, N, N] -> ArchBatch [B, N].
        """
        b, n, m = op_logits.shape[0], self.max_nodes, self.max_cell_nodes
        device = op_logits.device
        first, count = self._label_index[OPS[0]], len(OPS)
        ops = torch.zeros(b, n, dtype=torch.long, device=device)
        adj = torch.zeros(b, n, n, dtype=torch.float32, device=device)
        rows = torch.arange(b, device=device)
        for cell in range(len(self.cell_names)):
            off = cell * m
            ops[:, off], ops[:, off + 1] = self._label_index["input0"], self._label_index["input1"]
            ops[:, off + OUTPUT] = self._label_index["output"]
            for node in range(2, 2 + N_STEPS):
                add = off + _add_node(node)
                ops[:, add] = self._label_index[ADD]
                adj[:, add, off + OUTPUT] = 1.0
                sources = torch.tensor([off, off + 1, *(off + _add_node(k) for k in range(2, node))], device=device)
                pair = [add - 2, add - 1]  # the node's two op nodes
                for v in pair:
                    ops[:, v] = first + op_logits[:, v, first : first + count].argmax(-1)
                    adj[:, v, add] = 1.0
                score = adj_logits[:, sources, pair[0]][:, :, None] + adj_logits[:, sources, pair[1]][:, None, :]
                k = len(sources)
                score = score.masked_fill(torch.eye(k, dtype=torch.bool, device=device), -torch.inf).flatten(1)
                best = score.argmax(1)
                adj[rows, sources[best // k], pair[0]] = 1.0
                adj[rows, sources[best % k], pair[1]] = 1.0
        return ArchBatch(ops, adj, ops != 0)

    # -- sampling and edits -----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Genotype:
        """Per node n, two distinct inputs uniform over 0..n-1 and two ops uniform over OPS."""
        cells = []
        for _ in self.cell_names:
            pairs = []
            for node in range(2, 2 + N_STEPS):
                inputs = rng.choice(node, size=2, replace=False)
                pairs += [(OPS[int(rng.integers(len(OPS)))], int(j)) for j in inputs]
            cells.append(pairs)
        return self.from_pairs(*cells)

    def neighbours(self, genotype: Genotype) -> list[Genotype]:
        cells = self.pairs(genotype)
        out = []
        for c, pairs in enumerate(cells):
            for p, (op, j) in enumerate(pairs):
                node, other = 2 + p // 2, pairs[p ^ 1][1]
                edits = [(o, j) for o in OPS if o != op] + [(op, i) for i in range(node) if i not in (j, other)]
                for edit in edits:
                    new = list(cells)
                    new[c] = pairs[:p] + [edit] + pairs[p + 1 :]
                    out.append(self.from_pairs(*new))
        return out

    # -- canonical form and features -----------------------------------------------------------------
    def canonicalize(self, genotype: Genotype) -> Genotype:
        """The representative of `genotype`'s isomorphism class: in each cell, each node's two pairs
        sorted and interchangeable intermediate nodes in the order giving the least pair list."""
        normal, reduce = self.pairs(genotype)
        return self.from_pairs(_canonical(normal), _canonical(reduce))

    def write_features(self, genotype: Genotype, row: np.ndarray) -> None:
        """(cell, edge, op) indicators: ``row[(c * 14 + edge_index(n, j)) * 7 + k] = 1`` when node n of
        cell c (0 normal, 1 reduce) applies ``OPS[k]`` to node j."""
        for c, pairs in enumerate(self.pairs(genotype)):
            for p, (op, j) in enumerate(pairs):
                row[(c * N_EDGES + edge_index(2 + p // 2, j)) * len(OPS) + OPS.index(op)] = 1.0
