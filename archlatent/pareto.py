"""Pareto fronts and hypervolumes of architectures under accuracy (maximized) and costs (minimized).

Everything here works on minimization rows (`objective_matrix` negates the accuracy), so one scan
(`nondominated`) and one hypervolume (pymoo's, `hypervolume_at`) serve the search reports, the
optimizers and the accuracy-vs-cost fronts that one-shot samplers record (`ParetoFront`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.objectives import signed


def objective_matrix(metrics: Sequence[Mapping[str, float]], objectives: Sequence[str]) -> np.ndarray:
    """Rows of minimization objectives, each metric signed by its direction (`archlatent.objectives`)."""
    rows = [[signed(o, m[o]) for o in objectives] for m in metrics]
    return np.array(rows, dtype=np.float64).reshape(-1, len(objectives))


def nondominated(f: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of `f` (minimization) that no other row dominates.

    Scans rows in lexicographic order, testing each against the front so far: only a row earlier
    in that order can dominate a later one, and dominance is transitive. O(n * front size).
    Equal rows do not dominate each other: all of them are kept.
    """
    keep = np.zeros(len(f), dtype=bool)
    front = np.empty((0, f.shape[1]))
    for i in np.lexsort(f.T[::-1]):
        if not ((front <= f[i]).all(1) & (front < f[i]).any(1)).any():
            keep[i] = True
            front = np.vstack([front, f[i]])
    return keep


def hypervolume_at(f: np.ndarray, ref: np.ndarray) -> float:
    """pymoo's hypervolume of the rows of `f` (minimization) against the reference point `ref`.

    Rows that do not dominate `ref` add nothing; 0.0 for no rows. Shapes: f [n, d], ref [d].
    """
    from pymoo.indicators.hv import HV

    f = np.asarray(f, dtype=np.float64)
    return float(HV(ref_point=np.asarray(ref, dtype=np.float64))(f)) if len(f) else 0.0


def hypervolume(f: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> float:
    """`hypervolume_at` of `f` after scaling [ideal, nadir] to [0, 1] (reference point 1.1 per axis)."""
    scaled = (f - ideal) / np.where(nadir > ideal, nadir - ideal, 1.0)
    return hypervolume_at(scaled, np.full(f.shape[1], 1.1))


def normalized_hypervolume(points: Sequence[tuple[float, float]], max_cost: float) -> float:
    """Hypervolume of (accuracy %, cost) points as DDAS reports it: accuracy / 100 (maximized) and
    cost / `max_cost` (minimized), reference point (accuracy 0, cost 1.1)."""
    if not max_cost > 0:
        raise ArchLatentError(f"hypervolume needs a positive max_cost to scale costs by, got {max_cost}")
    f = np.array([(-acc / 100.0, cost / max_cost) for acc, cost in points], dtype=np.float64).reshape(-1, 2)
    return hypervolume_at(f, np.array([0.0, 1.1]))


def front_report(
    found: Sequence[Mapping[str, float]], everything: Sequence[Mapping[str, float]] | None, objectives: Sequence[str]
) -> dict[str, object]:
    """The found front and its hypervolume, beside the exact front of `everything` (the table's
    entries, `archlatent.fronts`) when there is one (its size, hypervolume, points on the objectives,
    ``true_front``, and the HV ratio); without it the hypervolume is scaled by the found points' own range."""
    f = objective_matrix(found, objectives)
    mask = nondominated(f) if len(f) else np.zeros(0, dtype=bool)
    report: dict[str, object] = {"objectives": list(objectives), "front": [int(i) for i in np.flatnonzero(mask)]}
    if everything is None:
        report.update(hypervolume=hypervolume(f[mask], f.min(0), f.max(0)) if len(f) else 0.0,
                      scaling="the evaluated architectures' range")
        return report
    from archlatent.fronts import ExactFront

    exact = ExactFront.of(everything, objectives)
    ratio = exact.hv_ratio(found)
    report.update(hypervolume=ratio * exact.volume, scaling="the table's range", true_front_size=len(exact.front),
                  true_front=exact.points(), true_hypervolume=exact.volume, hypervolume_ratio=ratio,
                  igd_plus=exact.igd_plus(found))
    return report


@dataclass(frozen=True)
class FrontPoint:
    """One architecture with its latest accuracy (percent) and its cost (e.g. MFLOPs)."""

    genotype: Genotype
    accuracy: float
    cost: float


class ParetoFront:
    """Every architecture reported so far (latest accuracy each), its cost, and the non-dominated ones.

    `cost` is computed once per architecture (by key). Accuracy is maximized, cost minimized.
    """

    def __init__(self, cost: Callable[[Genotype], float]) -> None:
        self.cost = cost
        self._costs: dict[str, float] = {}
        self._points: dict[str, FrontPoint] = {}

    def cost_of(self, genotype: Genotype) -> float:
        """`cost` of `genotype`, computed once per architecture."""
        key = genotype.key()
        if key not in self._costs:
            self._costs[key] = float(self.cost(genotype))
        return self._costs[key]

    def add(self, genotype: Genotype, accuracy: float) -> FrontPoint:
        """Record `genotype`'s accuracy (replacing an earlier one)."""
        point = FrontPoint(genotype, float(accuracy), self.cost_of(genotype))
        self._points[genotype.key()] = point
        return point

    def points(self) -> list[FrontPoint]:
        """Every recorded architecture, in first-report order."""
        return list(self._points.values())

    def front(self) -> list[FrontPoint]:
        """The non-dominated points, cheapest first."""
        points = self.points()
        keep = nondominated(np.array([(-p.accuracy, p.cost) for p in points], dtype=np.float64).reshape(-1, 2))
        return sorted((p for p, k in zip(points, keep) if k), key=lambda p: (p.cost, p.accuracy))

    def cost_range(self) -> tuple[float, float]:
        """Smallest and largest cost seen (0, 0 before any)."""
        costs = self._costs.values()
        return (min(costs), max(costs)) if costs else (0.0, 0.0)

    def hypervolume(self) -> float:
        """`normalized_hypervolume` of the front, costs scaled by the largest cost seen (0.0 when empty)."""
        if not self._points:
            return 0.0
        return normalized_hypervolume([(p.accuracy, p.cost) for p in self.front()], self.cost_range()[1])
