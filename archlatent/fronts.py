"""Exact Pareto fronts of a tabular benchmark, and how close a search's evaluated cells come to them.

A table (NAS-Bench-201) answers every architecture, so the true front of any pair of metrics is known
and a multi-objective search is scored against it (issue 26):

- **Normalization (one rule).** Objectives are minimization rows (`archlatent.pareto.objective_matrix`:
  accuracies negated). Each is scaled by the exact front's own ideal and nadir (the smallest and
  largest signed value of each objective over the front's points), so ``s = (f - ideal) / (nadir -
  ideal)`` lies in [0, 1] on the front; a constant objective is left unscaled (divided by 1). The
  reference point is 1.1 in each scaled coordinate: every front point adds volume, a cell beyond the
  front's nadir in some objective adds nothing. (0.8.0's first build scaled by the whole table's
  range; the table's worst cells, 10 % accuracy, then stretched the accuracy axis about twelvefold and
  uniform random search scored above 0.98 at 100 queries: BENCHMARKS.md section 13.)
- **HV ratio**: the hypervolume of the found cells' front over the hypervolume of the exact front,
  both in the scaled coordinates with that reference point: 1.0 exactly for the exact front, < 1
  for any set that misses part of it.
- **IGD+** (Ishibuchi et al., "Modified Distance Calculation in Generational Distance and Inverted
  Generational Distance", EMO 2015): the mean over exact front points z of the smallest
  ``|max(a - z, 0)|`` over found points a, in the scaled coordinates; 0.0 exactly when the found set
  weakly dominates every exact point.

The rows are the table's entries (`class_metrics`): one per entry of the table's index with the mean
over its rows, i.e. what the tabular evaluator answers in ``mean`` mode, so a search's metrics and the
exact front are the same numbers. NAS-Bench-201 indexes each of its 15,625 cells (isomorphic cells were
trained apart and differ a little), NAS-Bench-101 each class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from archlatent.errors import ArchLatentError
from archlatent.objectives import maximized
from archlatent.pareto import hypervolume_at, nondominated, objective_matrix

if TYPE_CHECKING:
    from archlatent.evaluators.tabular import TabularEvaluator

#: The reference point in each scaled coordinate.
REFERENCE = 1.1


def class_metrics(evaluator: TabularEvaluator) -> list[dict[str, float]]:
    """Every entry of `evaluator`'s table index (an NB201 cell, an NB101 class) on its dataset: the
    mean over the entry's rows of each metric, as ``evaluate`` answers in ``mean`` mode. Free, not
    charged; entries the dataset does not hold are left out."""
    groups = [rows for rows in evaluator.table.rows.values() if evaluator.held[rows].all()]
    if not groups:
        return []
    members = np.concatenate(groups)
    sizes = np.array([len(rows) for rows in groups])
    label = np.repeat(np.arange(len(groups)), sizes)  # each member row's entry
    means = {m: np.bincount(label, weights=col[members], minlength=len(groups)) / sizes
             for m, col in evaluator.columns.items()}
    names = list(means)
    return [dict(zip(names, map(float, row))) for row in zip(*means.values())]


@dataclass(frozen=True)
class ExactFront:
    """The exact front of a table on `objectives`, with the pair's fixed normalization (see module).

    ``ideal``/``nadir``: the exact front's smallest and largest signed value of each objective; ``front``:
    the exact front's distinct rows (signed, unscaled); ``volume``: its scaled hypervolume.
    """

    objectives: tuple[str, ...]
    ideal: np.ndarray
    nadir: np.ndarray
    front: np.ndarray
    volume: float

    @classmethod
    def of(cls, table_metrics: Sequence[Mapping[str, float]], objectives: Sequence[str]) -> ExactFront:
        """The exact front of every row of `table_metrics` (each entry of a table) on `objectives`."""
        objectives = tuple(objectives)
        if not table_metrics:
            raise ArchLatentError("an exact front needs the table's rows; got none")
        missing = [o for o in objectives if o not in table_metrics[0]]
        if len(objectives) < 2 or missing:
            raise ArchLatentError(f"an exact front needs two or more of the table's metrics as objectives, got "
                                  f"{list(objectives)}" + (f" ({missing[0]!r} is not in the table)" if missing else ""))
        f = objective_matrix(table_metrics, objectives)
        if not np.isfinite(f).all():
            raise ArchLatentError(f"the table has missing (NaN) values of {list(objectives)}: no exact front")
        front = np.unique(f[nondominated(f)], axis=0)  # equal rows are one point of the front
        unmeasured = cls(objectives, front.min(0), front.max(0), front, float("nan"))
        return replace(unmeasured, volume=unmeasured._volume(front))  # > 0: every front point dominates REFERENCE

    def scale(self, f: np.ndarray) -> np.ndarray:
        """Signed rows scaled by the exact front's ideal and nadir. Shapes: f [n, d] -> [n, d]."""
        span = np.where(self.nadir > self.ideal, self.nadir - self.ideal, 1.0)
        return (f - self.ideal) / span

    def _volume(self, f: np.ndarray) -> float:
        """Scaled hypervolume of the nondominated rows of signed `f` against `REFERENCE`."""
        if not len(f):
            return 0.0
        return hypervolume_at(self.scale(f[nondominated(f)]), np.full(len(self.objectives), REFERENCE))

    def hv_ratio(self, found: Sequence[Mapping[str, float]]) -> float:
        """HV(front of `found`) / HV(exact front); 0.0 for nothing found."""
        return self._volume(objective_matrix(found, self.objectives)) / self.volume

    def igd_plus(self, found: Sequence[Mapping[str, float]]) -> float:
        """IGD+ from `found` to the exact front in scaled coordinates; inf for nothing found."""
        if not found:
            return float("inf")
        a = self.scale(objective_matrix(found, self.objectives))
        z = self.scale(self.front)
        gap = np.maximum(a[None, :, :] - z[:, None, :], 0.0)  # [front, found, d]
        return float(np.sqrt((gap**2).sum(-1)).min(1).mean())

    def scores(self, found: Sequence[Mapping[str, float]], budgets: Sequence[int]) -> dict[int, dict[str, float]]:
        """For each budget b: ``hv_ratio`` and ``igd_plus`` of ``found[:b]`` (the metrics of the distinct
        cells a search evaluated, in query order; a run that stopped early is scored on all it found)."""
        if any(int(b) < 1 for b in budgets):
            raise ArchLatentError(f"front budgets must be positive query counts, got {list(budgets)}")
        return {int(b): {"hv_ratio": self.hv_ratio(found[: int(b)]), "igd_plus": self.igd_plus(found[: int(b)])}
                for b in budgets}

    def points(self) -> list[dict[str, float]]:
        """The exact front in the metrics' own units and signs, sorted by the first objective."""
        sign = np.array([-1.0 if maximized(o) else 1.0 for o in self.objectives])
        rows = sorted(map(tuple, self.front * sign))
        return [dict(zip(self.objectives, map(float, r))) for r in rows]


def exact_front(evaluator: TabularEvaluator, objectives: Sequence[str]) -> ExactFront:
    """`ExactFront.of` every entry of `evaluator`'s table on `objectives`."""
    return ExactFront.of(class_metrics(evaluator), objectives)
