"""`PoolSpace`: a space restricted to a fixed set of its genotypes (the cells a benchmark table holds).

A search on NAS-Bench-101 with only a sample of its table can evaluate nothing outside the sample,
so the tabular evaluator's pool mode searches inside it: `sample` draws pool members uniformly,
`neighbours` are the pool members nearest in the space's feature encoding (the pool has too few
cells for one-edit neighbours to exist), and latent decodes snap to the pool member whose latent
point is nearest (`snap`). Genotypes keep the base space's name and text form.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Cell, Genotype
from archlatent.spaces.base import SearchSpace


class PoolSpace(SearchSpace):
    """The genotypes of `base` whose keys are among `members` (one representative per key)."""

    def __init__(self, base: SearchSpace, members: Sequence[Genotype], *, neighbourhood: int = 8) -> None:
        self.base = base
        self.name, self.node_labels = base.name, base.node_labels
        self.cell_names, self.max_cell_nodes = base.cell_names, base.max_cell_nodes
        self.max_text_length, self.feature_size = base.max_text_length, base.feature_size
        super().__init__()
        unique = {}
        for g in members:
            unique.setdefault(g.key(), base.canonicalize(g))
        if not unique:
            raise InvalidArchitecture(f"a {base.name} pool needs at least one genotype")
        self.members = list(unique.values())
        self._index = {k: i for i, k in enumerate(unique)}
        self.neighbourhood = neighbourhood
        self._features: np.ndarray | None = None
        self._embedded: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.members)

    def validate_cells(self, cells: tuple[Cell, ...]) -> None:
        self.base.validate_cells(cells)

    def validate(self, genotype: Genotype) -> None:
        self.base.validate(genotype)
        if genotype.key() not in self._index:
            raise InvalidArchitecture(f"{self.base.format(genotype)[:200]} is not among the pool's {len(self)} cells")

    def canonicalize(self, genotype: Genotype) -> Genotype:
        """The pool's own member with `genotype`'s key (InvalidArchitecture outside the pool)."""
        self.validate(genotype)
        return self.members[self._index[genotype.key()]]

    def parse_text(self, text: str) -> Genotype:
        return self.base.parse_text(text)

    def format(self, genotype: Genotype) -> str:
        return self.base.format(genotype)

    def sample(self, rng: np.random.Generator) -> Genotype:
        return self.members[int(rng.integers(len(self.members)))]

    def neighbours(self, genotype: Genotype) -> list[Genotype]:
        """The `neighbourhood` pool members nearest to `genotype` by L1 distance of `features`."""
        i = self._index[self.canonicalize(genotype).key()]
        if self._features is None:
            self._features = self.base.features(self.members)
        dist = np.abs(self._features - self._features[i]).sum(1)
        dist[i] = np.inf
        order = np.argsort(dist, kind="stable")[: self.neighbourhood]
        return [self.members[j] for j in order if np.isfinite(dist[j])]

    def size(self) -> int:
        return len(self.members)

    def enumerate(self) -> Iterator[Genotype]:
        return iter(self.members)

    def representative(self, genotype: Genotype) -> Genotype:
        return self.base.representative(genotype)

    def write_features(self, genotype: Genotype, row: np.ndarray) -> None:
        self.base.write_features(genotype, row)

    def snap(self, z: torch.Tensor, model: torch.nn.Module) -> list[Genotype]:
        """The pool member whose embedding is nearest to each latent point. Shapes: z [k, d] -> k genotypes."""
        if self._embedded is None or self._embedded[0] != id(model):
            self._embedded = (id(model), model.embed(self.members).float())
        nearest = torch.cdist(z.float(), self._embedded[1]).argmin(1)
        return [self.members[i] for i in nearest.tolist()]
