"""`SearchSpace`: pure rules over genotypes. Validity never needs benchmark data.

Text from users goes through `SearchSpace.parse`, which bounds its length before a space's parser
sees it, so no text can cost unbounded time or memory; every message quotes input through `quote`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from archlatent.batch import ArchBatch
from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Cell, Genotype
from archlatent.registry import Registry

#: Most characters of user input an error message quotes.
QUOTE_LIMIT = 200


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` cut to `limit` characters, for error messages about user input.

    Never raises: a value whose repr fails (an integer past Python's 4,300-digit conversion limit,
    alone or inside a container; nesting too deep; a broken ``__repr__``) is described instead.
    """
    try:
        text = repr(value)
    except Exception as err:  # noqa: BLE001 - an error message must not fail on what it quotes
        if isinstance(value, int):
            return f"<an integer of {value.bit_length():,} bits>"
        return f"<a {type(value).__name__} that cannot be printed ({type(err).__name__})>"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


class SearchSpace(ABC):
    """Rules of one space: sampling, validity, canonical form, edits, text, tensor and feature forms.

    Subclasses set the class attributes below and write `validate_cells`, `sample`, `parse_text`,
    `format`, `neighbours` and `write_features`; the tensor forms and the rest come from here.
    """

    name: str = ""
    #: Node vocabulary of the tensor form; index 0 is padding.
    node_labels: tuple[str, ...] = ("<pad>",)
    #: One entry per cell of a genotype, e.g. ("normal", "reduce").
    cell_names: tuple[str, ...] = ("cell",)
    #: Largest node count of one cell; each cell takes a block of this many rows in tensors.
    max_cell_nodes: int = 0
    #: Longest text `parse` reads (generous for real genotypes); longer text is refused unread.
    max_text_length: int = 0
    #: Length F of each row of `features`.
    feature_size: int = 0

    def __init__(self) -> None:
        self._label_index = {label: i for i, label in enumerate(self.node_labels)}

    # -- rules every space writes -----------------------------------------------------------
    @abstractmethod
    def validate_cells(self, cells: tuple[Cell, ...]) -> None:
        """Raise InvalidArchitecture, naming the problem, unless `cells` obey this space's rules."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Genotype:
        """One architecture drawn from this space's sampling distribution."""

    @abstractmethod
    def parse_text(self, text: str) -> Genotype:
        """Read the native text form (`parse` has bounded it); InvalidArchitecture on malformed text."""

    @abstractmethod
    def format(self, genotype: Genotype) -> str:
        """The space's native text form (exact inverse of `parse`)."""

    @abstractmethod
    def neighbours(self, genotype: Genotype) -> list[Genotype]:
        """Every valid genotype one edit away (one op or one edge changed)."""

    @abstractmethod
    def write_features(self, genotype: Genotype, row: np.ndarray) -> None:
        """Fill the zeroed float32 `row` (``feature_size`` long) with the features of a representative."""

    # -- derived behaviour ----------------------------------------------------------------------
    @property
    def max_nodes(self) -> int:
        """Rows of the tensor form: one block per cell."""
        return self.max_cell_nodes * len(self.cell_names)

    def make(self, cells: Sequence[Cell]) -> Genotype:
        """A validated genotype of this space from its cells."""
        cells = tuple(cells)
        if len(cells) != len(self.cell_names):
            raise InvalidArchitecture(
                f"{self.name} genotypes have {len(self.cell_names)} cell(s) {self.cell_names}, got {len(cells)}"
            )
        self.validate_cells(cells)
        return Genotype(self.name, cells)

    def validate(self, genotype: Genotype) -> None:
        """Raise InvalidArchitecture unless `genotype` is a valid member of this space."""
        if not isinstance(genotype, Genotype):
            raise InvalidArchitecture(f"expected a Genotype, got {type(genotype).__name__}")
        if genotype.space != self.name:
            raise InvalidArchitecture(f"genotype of space {genotype.space!r} given to space {self.name!r}")
        self.make(genotype.cells)

    def is_valid(self, genotype: Genotype) -> bool:
        """Whether `genotype` belongs to this space (no benchmark data involved)."""
        try:
            self.validate(genotype)
        except InvalidArchitecture:
            return False
        return True

    def parse(self, text: str) -> Genotype:
        """Read the space's native text form; InvalidArchitecture on anything else.

        Text longer than ``max_text_length`` or not encodable as UTF-8 (lone surrogates) is refused
        before `parse_text` reads it.
        """
        if not isinstance(text, str):
            raise InvalidArchitecture(f"{self.name} text must be a string, got {type(text).__name__}")
        if len(text) > self.max_text_length:
            raise InvalidArchitecture(
                f"{self.name} text has {len(text):,} characters; at most {self.max_text_length:,} allowed: {quote(text)}"
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InvalidArchitecture(
                f"{self.name} text is not valid Unicode ({err.reason} at position {err.start}): {quote(text)}"
            ) from None
        return self.parse_text(text)

    def canonicalize(self, genotype: Genotype) -> Genotype:
        """The same architecture with what cannot affect the output pruned away."""
        self.validate(genotype)
        return self.make(genotype.canonical_cells)

    def representative(self, genotype: Genotype) -> Genotype:
        """The one genotype every member of `genotype`'s isomorphism class (its key) maps to.

        Embeddings and `features` read this form, so equal keys give equal inputs. The default is
        `canonicalize`, for spaces whose canonical form is already one per class.
        """
        return self.canonicalize(genotype)

    def features(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        """Fixed-length numeric features for regressors (LaNAS's linear models, trees, ...).

        Computed on `representative`, so genotypes with equal keys get equal rows; what a row holds
        is documented on each space's `write_features`.

        Shapes: out [n, F] float32 with F = ``feature_size``.
        """
        out = np.zeros((len(genotypes), self.feature_size), dtype=np.float32)
        for row, genotype in enumerate(genotypes):
            self.write_features(self.representative(genotype), out[row])
        return out

    def mutate(self, genotype: Genotype, rng: np.random.Generator) -> Genotype:
        """A random neighbour with a different key (a functionally different architecture)."""
        key = genotype.key()
        options = [g for g in self.neighbours(genotype) if g.key() != key]
        if not options:
            raise InvalidArchitecture(f"{self.format(genotype)} has no neighbour in {self.name}")
        return options[int(rng.integers(len(options)))]

    def size(self) -> int | None:
        """Number of genotypes when the space is small enough to enumerate, else None."""
        return None

    def enumerate(self) -> Iterator[Genotype]:
        """Every genotype of the space, for spaces small enough (see `size`)."""
        raise NotImplementedError(f"space {self.name!r} is too large to enumerate")

    # -- tensor form ----------------------------------------------------------------------------
    def to_tensors(self, genotypes: Sequence[Genotype]) -> ArchBatch:
        """Padded op indices, adjacency and mask; exact inverse of `from_tensors`.

        Shapes: ops [B, N], adj [B, N, N], mask [B, N] with N = ``max_nodes``.
        """
        b, n, m = len(genotypes), self.max_nodes, self.max_cell_nodes
        ops = np.zeros((b, n), dtype=np.int64)
        adj = np.zeros((b, n, n), dtype=np.float32)
        mask = np.zeros((b, n), dtype=bool)
        for row, g in enumerate(genotypes):
            if g.space != self.name:
                raise InvalidArchitecture(f"genotype of space {g.space!r} given to space {self.name!r}")
            for block, cell in enumerate(g.cells):
                off = block * m
                k = len(cell.ops)
                ops[row, off : off + k] = [self._label_index[op] for op in cell.ops]
                mask[row, off : off + k] = True
                for i, j in cell.edges:
                    adj[row, off + i, off + j] = 1.0
        return ArchBatch(torch.from_numpy(ops), torch.from_numpy(adj), torch.from_numpy(mask))

    def from_tensors(self, batch: ArchBatch) -> list[Genotype | None]:
        """Genotypes back from tensors; None where a row is not a valid genotype of this space.

        Shapes: batch as in `to_tensors` (adjacency thresholded at 0.5).
        """
        ops = batch.ops.detach().cpu().numpy()
        adj = batch.adj.detach().cpu().numpy() > 0.5
        mask = batch.mask.detach().cpu().numpy().astype(bool)
        m = self.max_cell_nodes
        out: list[Genotype | None] = []
        for row in range(ops.shape[0]):
            cells = []
            for block in range(len(self.cell_names)):
                sl = slice(block * m, (block + 1) * m)
                cell = _cell_from_rows(ops[row, sl], adj[row, sl, sl], mask[row, sl], self.node_labels)
                if cell is None:
                    break
                cells.append(cell)
            out.append(self._try_make(cells) if len(cells) == len(self.cell_names) else None)
        return out

    def decode_logits(self, op_logits: torch.Tensor, adj_logits: torch.Tensor, slots: torch.Tensor) -> ArchBatch:
        """The tensor form a decoder's logits stand for: argmax labels, edges where the logit is > 0.

        Spaces whose valid cells are a thin set of all labelled DAGs (DARTS) override this with a
        decoding constrained to their rules, so that every latent point decodes to a valid cell.
        Shapes: op_logits [B, N, labels], adj_logits [B, N, N], slots [N, N] (possible edges) -> ArchBatch.
        """
        ops = op_logits.argmax(-1)
        mask = ops != 0
        adj = (adj_logits > 0) & slots & mask.unsqueeze(2) & mask.unsqueeze(1)
        return ArchBatch(ops, adj.to(torch.float32), mask)

    def _try_make(self, cells: list[Cell]) -> Genotype | None:
        try:
            return self.make(cells)
        except InvalidArchitecture:
            return None


def _cell_from_rows(
    ops: np.ndarray, adj: np.ndarray, mask: np.ndarray, labels: tuple[str, ...]
) -> Cell | None:
    """One cell from its block of rows, or None when the block is not a padded DAG."""
    k = int(mask.sum())
    if not mask[:k].all() or (ops[:k] <= 0).any() or (ops[:k] >= len(labels)).any():
        return None
    if adj[k:].any() or adj[:, k:].any() or np.tril(adj).any():
        return None
    src, dst = np.nonzero(adj)
    return Cell(tuple(labels[i] for i in ops[:k]), tuple(zip(src.tolist(), dst.tolist())))


SPACES: Registry[SearchSpace] = Registry("search space")
