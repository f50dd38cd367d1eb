"""NAS-Bench-Graph cell space (Qin et al., "NAS-Bench-Graph", NeurIPS 2022 Datasets and Benchmarks).

A cell has 4 computing nodes; node i (1..4) applies one op to exactly one input, the raw input (0)
or an earlier node (1..i-1), so ``links`` holds 4 integers with ``links[i] <= i``; every node that
feeds no other node feeds the output. Each node runs one of 9 ops; the all-``skip`` cell is excluded:
24 link patterns x 9**4 op choices - 24 = 157,440 raw cells. As a node-labelled DAG: node 0
``input``, nodes 1..4 the ops, node 5 ``output``.

The benchmark keys its rows by ``valid_hash``, which merges isomorphic trees and cells that differ only
by where a ``skip`` sits: 26,206 classes (2,021 of proteins' 5 ops). Its classes, as a rule on trees:

- a ``skip`` that feeds other nodes is contracted (they read its input instead);
- a ``skip`` leaf that is its parent's only child is dropped (its parent is then a leaf);
- ``skip`` leaves reading the raw input are dropped (the benchmark does not tell them apart);
- what remains (the other ops, and ``skip`` leaves beside siblings: "the parent also feeds the
  output") is a rooted labelled tree, compared up to isomorphism.

Every genotype of this space is the canonical cell of its class (`canonical`): the dropped skips first,
reading the input, then the tree's nodes in preorder with children in the order of their subtrees. So
constructors (`make`, `parse`, `from_links`, `from_tensors`) turn any raw cell into its class's cell,
keys agree with ``valid_hash`` exactly (the tests check all 157,440 raw cells against the package's
own hash), and `format` gives a raw cell of the benchmark's form that the benchmark keys the same.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np
import torch

from archlatent.batch import ArchBatch
from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Cell, Genotype
from archlatent.spaces.base import SPACES, SearchSpace, quote

#: The benchmark's ops, in its own order (``gnn_list``: its hash numbers ops by this order).
OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: The five ops of the proteins dataset (``gnn_list_proteins``).
PROTEINS_OPS = ("gcn", "sage", "arma", "fc", "skip")
SKIP = "skip"
NODES = 4
OUTPUT = NODES + 1
#: Every ``links`` pattern: node i (0-based) reads the input (0) or one of nodes 1..i.
LINK_PATTERNS = tuple(itertools.product(*(range(i + 1) for i in range(NODES))))
#: Link slots of the features: (node, source) pairs, node by node.
_SLOTS = tuple((i, j) for i in range(NODES) for j in range(i + 1))

Links = tuple[int, ...]
Ops = tuple[str, ...]


def encode(links: Links, ops: Ops) -> Cell:
    """The 6-node DAG of a raw cell: input -> ... as `links` says, every leaf -> output."""
    fed = set(links)
    edges = [(links[i], i + 1) for i in range(NODES)] + [(v, OUTPUT) for v in range(1, OUTPUT) if v not in fed]
    return Cell(("input", *ops, "output"), tuple(sorted(edges)))


def decode(cell: Cell) -> tuple[Links, Ops]:
    """The raw ``(links, ops)`` of a 6-node DAG; InvalidArchitecture where it is not one."""
    if len(cell.ops) != NODES + 2 or cell.ops[0] != "input" or cell.ops[-1] != "output":
        raise InvalidArchitecture(
            f"nbgraph cell must have {NODES + 2} nodes (input, {NODES} ops, output), got {quote(list(cell.ops))}"
        )
    ops = cell.ops[1:OUTPUT]
    for op in ops:
        if op not in OPS:
            raise InvalidArchitecture(f"unknown nbgraph op {quote(op)}; known: {', '.join(OPS)}")
    check_ops(ops)
    links = []
    for v in range(1, OUTPUT):
        preds = [i for i, j in cell.edges if j == v]
        if len(preds) != 1:
            raise InvalidArchitecture(f"nbgraph node {v} must read exactly one earlier node, reads {preds}")
        links.append(preds[0])
    if encode(tuple(links), ops) != cell:
        raise InvalidArchitecture("nbgraph cell wiring differs: exactly the nodes that feed no other node feed the output")
    return tuple(links), ops


def check_ops(ops: Ops) -> None:
    """InvalidArchitecture for the one excluded op choice, all four nodes ``skip``."""
    if all(op == SKIP for op in ops):
        raise InvalidArchitecture("the all-skip nbgraph cell is not in the space (it computes nothing)")


def check_raw(links: Sequence[object], ops: Sequence[object]) -> None:
    """InvalidArchitecture, naming the problem, unless ``(links, ops)`` is one of the 157,440 raw cells."""
    if len(links) != NODES or any(type(j) is not int for j in links):
        raise InvalidArchitecture(f"nbgraph 'links' must be a list of {NODES} integers, got {quote(list(links))}")
    if len(ops) != NODES or any(not isinstance(op, str) for op in ops):
        raise InvalidArchitecture(f"nbgraph 'ops' must be a list of {NODES} strings, got {quote(list(ops))}")
    for i, j in enumerate(links):
        if not 0 <= j <= i:  # type: ignore[operator]
            raise InvalidArchitecture(
                f"nbgraph node {i + 1} reads {quote(j, 40)}: it must read the input (0) or an earlier node 1..{i}"
            )
    for op in ops:
        if op not in OPS:
            raise InvalidArchitecture(f"unknown nbgraph op {quote(op)}; known: {', '.join(OPS)}")
    check_ops(tuple(ops))  # type: ignore[arg-type]


#: A tree of the class form: (op index, the sorted tuple of its children's trees).
Tree = tuple[int, tuple]
_SKIP_LEAF: Tree = (OPS.index(SKIP), ())


def canonical(links: Links, ops: Ops) -> tuple[Links, Ops]:
    """The canonical raw cell of the class of ``(links, ops)`` (the module docstring gives the rule)."""
    parent = {v: links[v - 1] for v in range(1, OUTPUT)}
    op = {v: ops[v - 1] for v in range(1, OUTPUT)}

    def children(v: int) -> list[int]:
        return [c for c, p in parent.items() if p == v]

    for v in range(1, OUTPUT):  # contract skips that feed other nodes (in order: chains collapse)
        if op[v] == SKIP and children(v):
            for c in children(v):
                parent[c] = parent[v]
            del parent[v]
    for v in list(parent):  # drop a skip leaf that is its parent's only child, or that reads the input
        if op[v] == SKIP and (parent[v] == 0 or children(parent[v]) == [v]):
            del parent[v]

    def tree(v: int) -> Tree:
        return (OPS.index(op[v]), tuple(sorted(tree(c) for c in children(v))))

    return layout(tuple(sorted(tree(c) for c in children(0))))


def layout(forest: tuple[Tree, ...]) -> tuple[Links, Ops]:
    """The raw cell of a class form (the trees reading the input): dropped skips first, reading the
    input, then the nodes in preorder, each node's children in the order of their trees."""
    order: list[tuple[int, int]] = []  # (op index, position of its parent) in preorder

    def visit(trees: tuple[Tree, ...], at: int) -> None:
        for op, kids in trees:
            order.append((op, at))
            visit(kids, len(order))

    visit(forest, 0)
    fill = NODES - len(order)
    links = (0,) * fill + tuple(p + fill if p else 0 for _, p in order)
    return links, (SKIP,) * fill + tuple(OPS[op] for op, _ in order)


@cache
def _trees(size: int) -> tuple[Tree, ...]:
    """Every tree of `size` nodes a class form can hold below the input, sorted."""
    if size == 1:
        return tuple(sorted((k, ()) for k in range(len(OPS))))
    return tuple(sorted((k, kids) for k in range(len(OPS)) if OPS[k] != SKIP for kids in _forests(size - 1, True)))


@cache
def _forests(size: int, below_op: bool) -> tuple[tuple[Tree, ...], ...]:
    """Every sorted tuple of trees with `size` nodes in all: the children of an op (`below_op`), where
    a skip leaf needs a sibling, or of the input, which has no skip leaf."""
    pool = sorted((t, n) for n in range(1, size + 1) for t in _trees(n))
    out = []

    def grow(start: int, left: int, acc: tuple[Tree, ...]) -> None:
        if left == 0:
            if _SKIP_LEAF not in acc or (below_op and len(acc) > 1):
                out.append(acc)
            return
        for k in range(start, len(pool)):
            t, n = pool[k]
            if n <= left:
                grow(k, left - n, acc + (t,))

    grow(0, size, ())
    return tuple(out)


def _no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object's dict; a key given twice is refused (the text would say two things)."""
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise InvalidArchitecture(f"nbgraph text gives {quote(twice)} twice")
    return dict(pairs)


@cache
def classes() -> tuple[tuple[Links, Ops], ...]:
    """The canonical cell of every class, sorted: 26,206 (built from the class forms, not the raw cells)."""
    return tuple(sorted(layout(f) for n in range(1, NODES + 1) for f in _forests(n, False)))


@SPACES.register("nbgraph")
class NBGraphSpace(SearchSpace):
    """NAS-Bench-Graph: 4 nodes in a tree, 9 ops; one genotype per benchmark row (26,206).

    Text form: the benchmark's own ``{"links": [0, 1, 2, 3], "ops": ["gcn", "gat", "skip", "fc"]}``.
    """

    node_labels = ("<pad>", "input", "output", *OPS)
    max_cell_nodes = NODES + 2
    #: A cell is ~70 characters as JSON; generous room for whitespace.
    max_text_length = 1_000
    #: One-hot source per node (10 slots), then one-hot op per node (4 x 9).
    feature_size = len(_SLOTS) + NODES * len(OPS)

    def __init__(self) -> None:
        super().__init__()
        self._op_ids = torch.tensor([self._label_index[op] for op in OPS])
        self._made: dict[tuple[Links, Ops], Genotype] = {}

    # -- construction ------------------------------------------------------------------------
    def from_links(self, links: Sequence[int], ops: Sequence[str]) -> Genotype:
        """The genotype (canonical cell of the class) of the raw cell ``Arch(links, ops)``."""
        check_raw(links, ops)
        raw = (tuple(links), tuple(ops))
        genotype = self._made.get(raw)
        if genotype is None:
            genotype = self._made[raw] = Genotype(self.name, (encode(*canonical(*raw)),))
        return genotype

    def links_ops(self, genotype: Genotype) -> tuple[Links, Ops]:
        """The ``(links, ops)`` of a genotype, as the benchmark's ``Arch`` takes them."""
        self.validate(genotype)
        return decode(genotype.cells[0])

    def make(self, cells: Sequence[Cell]) -> Genotype:
        """The genotype of the class of a raw cell (the canonical cell, not necessarily `cells`)."""
        cells = tuple(cells)
        if len(cells) != 1:
            raise InvalidArchitecture(f"nbgraph genotypes have 1 cell, got {len(cells)}")
        return self.from_links(*decode(cells[0]))

    def validate_cells(self, cells: tuple[Cell, ...]) -> None:
        links, ops = decode(cells[0])
        if (links, ops) != canonical(links, ops):
            raise InvalidArchitecture(
                f"nbgraph cell {self._text(links, ops)} is not the canonical cell of its class; build genotypes "
                "through the space (parse, from_links, make)"
            )

    def validate(self, genotype: Genotype) -> None:
        super().validate(genotype)  # type, space, an nbgraph cell
        self.validate_cells(genotype.cells)

    def canonicalize(self, genotype: Genotype) -> Genotype:
        """Genotypes of this space are their classes' canonical cells already."""
        self.validate(genotype)
        return genotype

    # -- text form ------------------------------------------------------------------------------
    def parse_text(self, text: str) -> Genotype:
        """Read ``{"links": [0, 0, 1, 2], "ops": ["gcn", "gat", "skip", "fc"]}`` (any key order, whitespace)."""
        try:
            data = json.loads(text, object_pairs_hook=_no_repeats)
        except RecursionError:
            raise InvalidArchitecture(f"nbgraph text is nested too deeply to be a cell: {quote(text)}") from None
        except ValueError as err:  # JSONDecodeError, or an integer too long to convert
            raise InvalidArchitecture(f"nbgraph text is not valid JSON ({quote(str(err), 80)}): {quote(text)}") from None
        if not isinstance(data, dict) or set(data) != {"links", "ops"}:
            raise InvalidArchitecture(f"nbgraph text must be a JSON object with exactly the keys 'links' and 'ops': {quote(text)}")
        links, ops = data["links"], data["ops"]
        if not isinstance(links, list) or not isinstance(ops, list):
            raise InvalidArchitecture(f"nbgraph 'links' and 'ops' must be lists, got {quote(data)}")
        return self.from_links(links, ops)

    def format(self, genotype: Genotype) -> str:
        return self._text(*self.links_ops(genotype))

    @staticmethod
    def _text(links: Links, ops: Ops) -> str:
        return json.dumps({"links": list(links), "ops": list(ops)}, separators=(",", ":"))

    # -- sampling and edits -----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Genotype:
        """A class drawn uniformly (as the benchmark's rows: each of the 26,206 equally likely)."""
        every = classes()
        return self.from_links(*every[int(rng.integers(len(every)))])

    def neighbours(self, genotype: Genotype) -> list[Genotype]:
        """The other classes one edit from the canonical cell: one node's op or one node's input changed."""
        links, ops = self.links_ops(genotype)
        raw = [(links, ops[:i] + (op,) + ops[i + 1 :]) for i in range(NODES) for op in OPS if op != ops[i]]
        raw += [(links[:i] + (j,) + links[i + 1 :], ops) for i in range(NODES) for j in range(i + 1) if j != links[i]]
        key = genotype.key()
        out = {g.key(): g for g in (self.from_links(*r) for r in raw if any(op != SKIP for op in r[1]))}
        out.pop(key, None)
        return list(out.values())

    def size(self) -> int:
        return len(classes())

    def enumerate(self) -> Iterator[Genotype]:
        """The 26,206 classes, one genotype each (sorted by canonical ``(links, ops)``)."""
        for links, ops in classes():
            yield self.from_links(links, ops)

    def write_features(self, genotype: Genotype, row: np.ndarray) -> None:
        """``row[s] = 1`` for the source slot s = (node, input) each node reads (10 slots, node by node),
        then ``row[10 + 9 * i + k] = 1`` when node i runs ``OPS[k]``."""
        links, ops = decode(genotype.cells[0])
        for i, j in enumerate(links):
            row[_SLOTS.index((i, j))] = 1.0
        for i, op in enumerate(ops):
            row[len(_SLOTS) + len(OPS) * i + OPS.index(op)] = 1.0

    # -- decoding constrained to the rules ------------------------------------------------------------
    def decode_logits(self, op_logits: torch.Tensor, adj_logits: torch.Tensor, slots: torch.Tensor) -> ArchBatch:
        """The raw cell nearest to a decoder's logits: per node the best op of `OPS` and the earlier node
        whose edge logit into it is highest; leaves feed the output. Where all four ops would be
        ``skip``, the node whose best other op scores closest to ``skip`` takes that op. Every latent
        point decodes to a cell (then read as its class by `from_tensors`).
        Shapes: op_logits [B, 6, labels], adj_logits [B, 6, 6] -> ArchBatch [B, 6].
        """
        b, device = op_logits.shape[0], op_logits.device
        ids = self._op_ids.to(device)
        scores = op_logits[:, 1:OUTPUT][:, :, ids]  # [B, 4, 9]
        choice = scores.argmax(-1)
        skip = OPS.index(SKIP)
        all_skip = (choice == skip).all(1)
        if bool(all_skip.any()):
            other = scores.clone()
            other[:, :, skip] = -torch.inf
            best_other, which = other.max(-1)
            node = (best_other - scores[:, :, skip]).argmax(1)
            rows = torch.nonzero(all_skip).squeeze(1)
            choice[rows, node[rows]] = which[rows, node[rows]]
        ops = torch.zeros(b, self.max_nodes, dtype=torch.long, device=device)
        ops[:, 0], ops[:, OUTPUT] = self._label_index["input"], self._label_index["output"]
        ops[:, 1:OUTPUT] = ids[choice]
        adj = torch.zeros(b, self.max_nodes, self.max_nodes, dtype=torch.float32, device=device)
        rows = torch.arange(b, device=device)
        fed = torch.zeros(b, self.max_nodes, dtype=torch.bool, device=device)
        for v in range(1, OUTPUT):
            source = adj_logits[:, :v, v].argmax(1)
            adj[rows, source, v] = 1.0
            fed[rows, source] = True
        adj[:, 1:OUTPUT, OUTPUT] = (~fed[:, 1:OUTPUT]).float()
        return ArchBatch(ops, adj, ops != 0)
