"""Pareto fronts and hypervolumes of architectures under accuracy (maximized) and costs (minimized)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def objective_matrix(metrics: Sequence[Mapping[str, float]], objectives: Sequence[str]) -> np.ndarray:
    """Rows of minimization objectives: -first objective (accuracy), then the costs as they are."""
    first, *costs = objectives
    return np.array([[-m[first], *(m[c] for c in costs)] for m in metrics], dtype=np.float64).reshape(-1, len(objectives))


def nondominated(f: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of `f` (minimization) that no other row dominates.

    Scans rows in lexicographic order, testing each against the front so far: only a row earlier
    in that order can dominate a later one, and dominance is transitive. O(n * front size).
    """
    keep = np.zeros(len(f), dtype=bool)
    front = np.empty((0, f.shape[1]))
    for i in np.lexsort(f.T[::-1]):
        if not ((front <= f[i]).all(1) & (front < f[i]).any(1)).any():
            keep[i] = True
            front = np.vstack([front, f[i]])
    return keep


def hypervolume(f: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> float:
    """pymoo's hypervolume of `f` after scaling [ideal, nadir] to [0, 1] (reference point 1.1 per axis)."""
    from pymoo.indicators.hv import HV

    scaled = (f - ideal) / np.where(nadir > ideal, nadir - ideal, 1.0)
    return float(HV(ref_point=np.full(f.shape[1], 1.1))(scaled)) if len(scaled) else 0.0


def front_report(
    found: Sequence[Mapping[str, float]], everything: Sequence[Mapping[str, float]], objectives: Sequence[str]
) -> dict[str, object]:
    """The found front and its hypervolume beside the true front of `everything` (the whole table)."""
    all_f = objective_matrix(everything, objectives)
    ideal, nadir = all_f.min(0), all_f.max(0)
    f = objective_matrix(found, objectives)
    mask = nondominated(f) if len(f) else np.zeros(0, dtype=bool)
    true_mask = nondominated(all_f)
    hv, true_hv = hypervolume(f[mask], ideal, nadir), hypervolume(all_f[true_mask], ideal, nadir)
    return {
        "objectives": list(objectives),
        "front": [int(i) for i in np.flatnonzero(mask)],
        "hypervolume": hv,
        "true_front_size": int(true_mask.sum()),
        "true_hypervolume": true_hv,
        "hypervolume_ratio": hv / true_hv if true_hv else 0.0,
    }
