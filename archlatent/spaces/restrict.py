"""`RestrictedSpace`: an edge-op space (DARTS, NB201) that allows only some ops on each edge of each cell.

RADARS prunes candidate ops until a differentiable search fits in memory; what remains is such a
subspace. Its genotypes are base-space genotypes (same name, text form and key): `is_valid`,
`sample`, `neighbours` and `parse` stay inside the restriction, and a genotype outside it is refused
with one InvalidArchitecture naming the op and edge. `to_dict` / `from_dict` give the JSON form that
checkpoints and results store. Like `PoolSpace`, it is a wrapper, not a registered space.

Edges are numbered as each base space numbers them: DARTS by `archlatent.spaces.darts.edge_index`
(14 per cell, cells normal then reduce), NB201 in arch-string order (6, one cell).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archlatent.errors import ArchLatentError, InvalidArchitecture
from archlatent.genotype import Cell, Genotype
from archlatent.spaces import darts, get_space, nb201
from archlatent.spaces.base import SearchSpace, quote

#: Per cell, per edge: the ops allowed there.
Allowed = tuple[tuple[tuple[str, ...], ...], ...]
#: A (cell, edge, op) choice a genotype makes.
Choice = tuple[int, int, str]


@dataclass(frozen=True)
class EdgeLayout:
    """How one base space lays its ops on edges: sizes, the choices a genotype makes, sampling."""

    cells: int
    edges: int
    ops: tuple[str, ...]
    active: Callable[[Any, Genotype], list[Choice]]
    sample: Callable[[Any, Allowed, np.random.Generator], Genotype]
    edge_name: Callable[[int, int], str]
    #: Raises ArchLatentError when `allowed` leaves no genotype (e.g. a DARTS node with one input).
    check: Callable[[Allowed], None]


# -- DARTS --------------------------------------------------------------------------------------------------------
_DARTS_EDGES = [(node, j) for node in range(2, 2 + darts.N_STEPS) for j in range(node)]


def _darts_active(base: darts.DartsSpace, genotype: Genotype) -> list[Choice]:
    return [
        (c, darts.edge_index(2 + p // 2, j), op)
        for c, pairs in enumerate(base.pairs(genotype))
        for p, (op, j) in enumerate(pairs)
    ]


def _darts_inputs(allowed: Allowed, c: int, node: int) -> list[int]:
    return [j for j in range(node) if allowed[c][darts.edge_index(node, j)]]


def _darts_sample(base: darts.DartsSpace, allowed: Allowed, rng: np.random.Generator) -> Genotype:
    """Per node two distinct inputs uniform among the edges that allow an op, each op uniform among those."""
    cells = []
    for c in range(len(base.cell_names)):
        pairs = []
        for node in range(2, 2 + darts.N_STEPS):
            inputs = _darts_inputs(allowed, c, node)
            for j in rng.choice(inputs, size=2, replace=False):
                ops = allowed[c][darts.edge_index(node, int(j))]
                pairs.append((ops[int(rng.integers(len(ops)))], int(j)))
        cells.append(pairs)
    return base.from_pairs(*cells)


def _darts_edge_name(c: int, e: int) -> str:
    node, j = _DARTS_EDGES[e]
    return f"{darts.DartsSpace.cell_names[c]} edge {j}->{node}"


def _darts_check(allowed: Allowed) -> None:
    for c, name in enumerate(darts.DartsSpace.cell_names):
        for node in range(2, 2 + darts.N_STEPS):
            if len(_darts_inputs(allowed, c, node)) < 2:
                raise ArchLatentError(f"restricted darts space: {name} node {node} needs ops on at least two inputs")


# -- NB201 --------------------------------------------------------------------------------------------------------
def _nb201_active(base: nb201.NB201Space, genotype: Genotype) -> list[Choice]:
    return [(0, e, op) for e, op in enumerate(base.edge_ops(genotype))]


def _nb201_sample(base: nb201.NB201Space, allowed: Allowed, rng: np.random.Generator) -> Genotype:
    return base.from_ops([ops[int(rng.integers(len(ops)))] for ops in allowed[0]])


def _nb201_check(allowed: Allowed) -> None:
    for e, ops in enumerate(allowed[0]):
        if not ops:
            raise ArchLatentError(f"restricted nb201 space: {_nb201_edge_name(0, e)} allows no op")


def _nb201_edge_name(c: int, e: int) -> str:
    src, dst = nb201.EDGES[e]
    return f"edge {src}->{dst}"


#: The base spaces a restriction can wrap.
LAYOUTS: dict[str, EdgeLayout] = {
    "darts": EdgeLayout(
        2, darts.N_EDGES, darts.OPS, _darts_active, _darts_sample, _darts_edge_name, _darts_check
    ),
    "nb201": EdgeLayout(
        1, len(nb201.EDGES), nb201.OPS, _nb201_active, _nb201_sample, _nb201_edge_name, _nb201_check
    ),
}


def layout(name: str) -> EdgeLayout:
    """The edge layout of base space `name`; ArchLatentError for a space without one."""
    if name not in LAYOUTS:
        raise ArchLatentError(f"space {name!r} has no per-edge ops to restrict; restrictable: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


class RestrictedSpace(SearchSpace):
    """The genotypes of `base` that use, on every edge of every cell, only the ops `allowed` there.

    `allowed[cell][edge]` lists op names of the base space's vocabulary; an empty list closes the
    edge (DARTS nodes must keep two inputs, NB201 edges one op). ArchLatentError for a malformed or
    empty restriction.
    """

    def __init__(self, base: SearchSpace, allowed: Sequence[Sequence[Sequence[str]]]) -> None:
        if isinstance(base, RestrictedSpace):
            base = base.base
        self.base, self.layout = base, layout(base.name)
        self.name, self.node_labels = base.name, base.node_labels
        self.cell_names, self.max_cell_nodes = base.cell_names, base.max_cell_nodes
        self.max_text_length, self.feature_size = base.max_text_length, base.feature_size
        super().__init__()
        self.allowed = self._checked(allowed)

    def _checked(self, allowed: Sequence[Sequence[Sequence[str]]]) -> Allowed:
        lay = self.layout
        if len(allowed) != lay.cells or any(len(cell) != lay.edges for cell in allowed):
            raise ArchLatentError(
                f"a {self.name} restriction lists ops for {lay.cells} cell(s) of {lay.edges} edges each"
            )
        out = []
        for c, cell in enumerate(allowed):
            edges = []
            for e, ops in enumerate(cell):
                unknown = [op for op in ops if op not in lay.ops]
                if unknown or isinstance(ops, str):
                    raise ArchLatentError(
                        f"restriction of {lay.edge_name(c, e)}: unknown {self.name} op(s) {quote(unknown or ops)}; "
                        f"known: {', '.join(lay.ops)}"
                    )
                edges.append(tuple(op for op in lay.ops if op in ops))  # vocabulary order, no repeats
            out.append(tuple(edges))
        lay.check(tuple(out))
        return tuple(out)

    # -- construction and stored forms ------------------------------------------------------------------
    @classmethod
    def full(cls, base: SearchSpace) -> RestrictedSpace:
        """`base` with every op allowed everywhere (same genotypes as `base`)."""
        lay = layout(base.name)
        return cls(base, [[lay.ops] * lay.edges for _ in range(lay.cells)])

    @classmethod
    def from_mask(cls, base: SearchSpace, mask: np.ndarray) -> RestrictedSpace:
        """From a boolean mask ``[cells, edges, ops]`` over the base space's op vocabulary."""
        lay = layout(base.name)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (lay.cells, lay.edges, len(lay.ops)):
            raise ArchLatentError(f"a {base.name} restriction mask has shape {(lay.cells, lay.edges, len(lay.ops))}")
        return cls(base, [[[op for op, on in zip(lay.ops, row) if on] for row in cell] for cell in mask])

    def mask(self) -> np.ndarray:
        """Boolean ``[cells, edges, ops]``: which op of the base vocabulary each edge allows."""
        return np.array([[[op in ops for op in self.layout.ops] for ops in cell] for cell in self.allowed], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the base space's name and, per cell name, the allowed ops of every edge."""
        return {"space": self.name, "allowed": {n: [list(o) for o in c] for n, c in zip(self.cell_names, self.allowed)}}

    @classmethod
    def from_dict(cls, doc: Any) -> RestrictedSpace:
        """Inverse of `to_dict`; ArchLatentError naming what is wrong with `doc`."""
        if not isinstance(doc, dict) or not isinstance(doc.get("space"), str) or not isinstance(doc.get("allowed"), dict):
            raise ArchLatentError(f"a restriction is a dict with 'space' and 'allowed', got {quote(doc)}")
        base = get_space(doc["space"])
        missing = [n for n in base.cell_names if n not in doc["allowed"]]
        if missing:
            raise ArchLatentError(f"restriction of {base.name} lacks cell(s) {missing}")
        return cls(base, [doc["allowed"][n] for n in base.cell_names])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RestrictedSpace) and (self.name, self.allowed) == (other.name, other.allowed)

    def __hash__(self) -> int:
        return hash((self.name, self.allowed))

    def candidates(self) -> int:
        """How many (cell, edge, op) candidates the restriction keeps."""
        return sum(len(ops) for cell in self.allowed for ops in cell)

    def summary(self) -> str:
        """One line: candidates kept of the base space's total, per cell."""
        total = self.layout.edges * len(self.layout.ops)
        kept = ", ".join(f"{n} {sum(map(len, c))}/{total}" for n, c in zip(self.cell_names, self.allowed))
        return f"{self.name} restricted to {kept} (cell, edge, op) candidates"

    # -- rules --------------------------------------------------------------------------------------------
    def active(self, genotype: Genotype) -> list[Choice]:
        """The (cell, edge, op) choices `genotype` makes (base-space check only)."""
        return self.layout.active(self.base, genotype)

    def validate_cells(self, cells: tuple[Cell, ...]) -> None:
        self.base.validate_cells(cells)
        for c, e, op in self.active(Genotype(self.name, cells)):
            if op not in self.allowed[c][e]:
                allowed = ", ".join(self.allowed[c][e]) or "none: the edge is closed"
                raise InvalidArchitecture(
                    f"op {op!r} on {self.layout.edge_name(c, e)} is outside the restricted {self.name} space "
                    f"(allowed there: {allowed})"
                )

    def sample(self, rng: np.random.Generator) -> Genotype:
        return self.layout.sample(self.base, self.allowed, rng)

    def parse_text(self, text: str) -> Genotype:
        genotype = self.base.parse_text(text)
        self.validate(genotype)
        return genotype

    def format(self, genotype: Genotype) -> str:
        return self.base.format(genotype)

    def neighbours(self, genotype: Genotype) -> list[Genotype]:
        self.validate(genotype)
        return [g for g in self.base.neighbours(genotype) if self.is_valid(g)]

    def canonicalize(self, genotype: Genotype) -> Genotype:
        """The base space's canonical form when the restriction allows it, else `genotype` itself (same key)."""
        self.validate(genotype)
        canonical = self.base.canonicalize(genotype)
        return canonical if self.is_valid(canonical) else genotype

    def representative(self, genotype: Genotype) -> Genotype:
        """The base space's representative (features and embeddings read it; it may lie outside the restriction)."""
        self.validate(genotype)
        return self.base.representative(genotype)

    def write_features(self, genotype: Genotype, row: np.ndarray) -> None:
        self.base.write_features(genotype, row)

    def size(self) -> int | None:
        """NB201: the product of the allowed op counts; DARTS: None (too large to enumerate)."""
        if self.name != "nb201":
            return None
        return math.prod(len(ops) for ops in self.allowed[0])

    def enumerate(self) -> Iterator[Genotype]:
        if self.name != "nb201":
            raise NotImplementedError(f"restricted space {self.name!r} is too large to enumerate")
        return (self.base.from_ops(ops) for ops in itertools.product(*self.allowed[0]))


def restriction_of(space: SearchSpace) -> RestrictedSpace:
    """`space` itself when restricted, else its unrestricted `RestrictedSpace.full` form."""
    return space if isinstance(space, RestrictedSpace) else RestrictedSpace.full(space)
