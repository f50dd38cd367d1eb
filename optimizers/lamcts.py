"""Wang, Fonseca, Tian, "Learning Search Space Partition for Black-box Optimization using Monte Carlo Tree
Search" (LA-MCTS), NeurIPS 2020: a tree of learned regions, UCT down to a leaf, Bayesian optimization inside it.

As in the authors' code (facebookresearch/LaMCTS, ``LA-MCTS/lamcts``): the first points are a Latin
hypercube over the box [-bound, bound]^dim (`n_init` feasible ones); then before every ask the tree is
rebuilt from all the feasible points told: a leaf holding more than `leaf_size` of them splits by
KMeans(2) on (z, f(z)) (the cluster with the lower mean f is the good child; the points go by cluster)
and an RBF SVM (gamma "auto") learns the boundary; a leaf whose SVM does not separate its points stays
a leaf. UCT walks from the root to a leaf; candidates are Sobol points around the leaf's points, kept
only where every SVM on the path agrees with the path (the reference's box grown around a point until
some of its Sobol points fall outside the region); a Gaussian process (constant x Matern-5/2 kernel,
noise 0.1, hyperparameters by marginal likelihood) ranks them by expected improvement (xi = 0.001 over
the best GP mean at the points told) and the best `batch` (1, as the reference) are asked.

Our choices: minimization throughout (the good child has the lower mean f; UCT is
x_bar - 2 Cp sqrt(2 ln n_parent / n), the paper's form, lowest first); Cp counts in units of the spread
(max - min) of the told f, since the reference tunes Cp per function to f's scale; infeasible points
(f = +inf) take no part in the tree or the GP; the GP is fitted on the points of the highest node of the
path holding at most `gp_max` of them (all points while there are at most `gp_max`, as the reference),
which bounds its cubic cost on long runs; the GP's targets are standardized; at the root (no split yet)
the candidates fill the whole box, where the reference samples uniformly without the GP. scikit-learn
provides KMeans, SVC and the GP (the reference uses the same three); scipy the Sobol and Latin
hypercube designs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import norm, qmc
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern
from sklearn.svm import SVC
from torch import Tensor

from .base import OPTIMIZERS, Optimizer, OptimizerError

#: Sobol points drawn around each centre (a power of two keeps the design balanced).
_BLOCK = 256
#: Smallest box around a centre, as a share of the whole box's side; it doubles until points fall outside.
_SMALLEST = 1 / 64


@dataclass
class _Node:
    """One node of the rebuilt tree: its points (indices), parent, children (good, bad) and boundary."""

    points: np.ndarray
    parent: int = -1
    kids: tuple[int, int] | None = None
    svm: SVC | None = field(default=None, repr=False)


@OPTIMIZERS.register("lamcts")
class LAMCTS(Optimizer):
    """LA-MCTS over the box [-bound, bound]^dim (single objective)."""

    def __init__(
        self,
        dim: int,
        *,
        n_obj: int = 1,
        seed: int | np.random.Generator | None = None,
        n_init: int = 20,
        leaf_size: int = 20,
        cp: float = 0.1,
        bound: float = 3.0,
        candidates: int = 2048,
        batch: int = 1,
        gp_max: int = 300,
    ) -> None:
        super().__init__(dim, n_obj=n_obj, seed=seed)
        for label, value, low in (("n_init", n_init, 2), ("leaf_size", leaf_size, 2), ("candidates", candidates, 1),
                                  ("batch", batch, 1), ("gp_max", gp_max, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise OptimizerError(f"lamcts: {label} must be an int >= {low}, got {value!r}")
        if not (cp >= 0.0 and bound > 0.0):
            raise OptimizerError(f"lamcts: need cp >= 0 and bound > 0; got cp={cp!r}, bound={bound!r}")
        self.n_init, self.leaf_size, self.cp, self.bound = n_init, leaf_size, float(cp), float(bound)
        self.candidates, self.batch, self.gp_max = candidates, batch, gp_max
        self.nodes: list[_Node] = []  # the tree of the last ask

    # -- protocol ----------------------------------------------------------------------------------
    def _ask(self) -> Tensor:
        """Shapes: returns [n_init - feasible, dim] before `n_init` feasible points are known, then [batch, dim]."""
        z, f, feasible = self._history()
        x, y = z[feasible].double().numpy(), f[feasible, 0].double().numpy()
        if x.shape[0] < self.n_init:
            design = qmc.LatinHypercube(self.dim, seed=self._seed_int()).random(self.n_init - x.shape[0])
            return torch.from_numpy(self.bound * (2 * design - 1)).float()
        self._build(x, y)
        leaf, path = self._select(y)
        cands = self._candidates(x, leaf, path)
        gp_points = next((self.nodes[v].points for v in [*path, leaf] if self.nodes[v].points.size <= self.gp_max),
                         None)
        if gp_points is None:  # a leaf too big to split further: its best gp_max points
            own = self.nodes[leaf].points
            gp_points = own[np.argsort(y[own], kind="stable")[: self.gp_max]]
        ei = _expected_improvement(x[gp_points], y[gp_points], cands)
        return torch.from_numpy(cands[np.argsort(-ei, kind="stable")[: self.batch]]).float()

    def _tell(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """The tree is rebuilt from the history at each ask; nothing else to keep."""

    # -- the tree ----------------------------------------------------------------------------------
    def _build(self, x: np.ndarray, y: np.ndarray) -> None:
        """Split every leaf with more than `leaf_size` points until none splits (breadth first)."""
        self.nodes = [_Node(np.arange(x.shape[0]))]
        todo = [0]
        while todo:
            v = todo.pop(0)
            split = self._split(x, y, self.nodes[v].points)
            if split is None:
                continue
            svm, good, bad = split
            self.nodes[v].svm, self.nodes[v].kids = svm, (len(self.nodes), len(self.nodes) + 1)
            self.nodes += [_Node(good, parent=v), _Node(bad, parent=v)]
            todo += list(self.nodes[v].kids)

    def _split(self, x: np.ndarray, y: np.ndarray, points: np.ndarray) -> tuple[SVC, np.ndarray, np.ndarray] | None:
        """KMeans(2) on (z, f), good cluster first; an SVM on the cluster labels (0 good, 1 bad); None
        when the node is small or the SVM does not separate its points."""
        if points.size <= self.leaf_size:
            return None
        data = np.hstack([x[points], y[points, None]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate points: fewer distinct clusters
            labels = KMeans(2, n_init=1, random_state=self._seed_int()).fit_predict(data)
        if np.unique(labels).size < 2:
            return None
        if y[points][labels == 0].mean() > y[points][labels == 1].mean():
            labels = 1 - labels
        svm = SVC(kernel="rbf", gamma="auto").fit(x[points], labels)
        if np.unique(svm.predict(x[points])).size < 2:
            return None
        return svm, points[labels == 0], points[labels == 1]

    def _select(self, y: np.ndarray) -> tuple[int, list[int]]:
        """UCT from the root to a leaf (ties at random): the leaf and the nodes above it, root first."""
        spread = float(y.max() - y.min()) or 1.0
        v, path = 0, []
        while self.nodes[v].kids is not None:
            kids = self.nodes[v].kids
            n_parent = self.nodes[v].points.size
            scores = np.array([
                y[self.nodes[k].points].mean() / spread
                - 2 * self.cp * math.sqrt(2 * math.log(n_parent) / self.nodes[k].points.size)
                for k in kids
            ])
            best = np.flatnonzero(scores == scores.min())
            path.append(v)
            v = kids[int(best[self.rng.integers(best.size)])]
        return v, path

    def _inside(self, cands: np.ndarray, leaf: int) -> np.ndarray:
        """Whether every SVM above `leaf` sends each candidate the way to `leaf`. Shapes: [m, dim] -> [m] bool."""
        ok = np.ones(cands.shape[0], dtype=bool)
        v = leaf
        while self.nodes[v].parent >= 0:
            parent = self.nodes[self.nodes[v].parent]
            assert parent.kids is not None and parent.svm is not None
            side = parent.kids.index(v)
            idx = np.flatnonzero(ok)
            if idx.size:
                ok[idx] = parent.svm.predict(cands[idx]) == side
            v = self.nodes[v].parent
        return ok

    def _candidates(self, x: np.ndarray, leaf: int, path: list[int]) -> np.ndarray:
        """Sobol points of the leaf's region: around up to candidates / 256 of its points (those the
        path's SVMs keep), each in the smallest box (side doubling from 1/64 of the whole box's) that
        is not wholly inside the region; the whole box at the root or when the region yields nothing.
        Shapes: returns [m, dim], m >= 1."""
        sobol = qmc.Sobol(self.dim, scramble=True, seed=self._seed_int())
        side = 2 * self.bound
        if path:
            own = self.nodes[leaf].points
            centres = own[self._inside(x[own], leaf)]
            if centres.size == 0:
                centres = own
            picks = self.rng.choice(centres, size=max(1, self.candidates // _BLOCK), replace=True)
            kept = []
            for c in x[picks]:
                unit, width = sobol.random(_BLOCK), side * _SMALLEST
                while True:
                    lo, hi = np.clip(c - width / 2, -self.bound, self.bound), np.clip(c + width / 2, -self.bound, self.bound)
                    pts = lo + (hi - lo) * unit
                    ok = self._inside(pts, leaf)
                    if not ok.all() or width >= side:
                        break
                    width *= 2
                kept.append(pts[ok])
            cands = np.concatenate(kept)
            if cands.shape[0]:
                return cands
        return self.bound * (2 * sobol.random(self.candidates) - 1)

    def _seed_int(self) -> int:
        return int(self.rng.integers(2**31))


def _expected_improvement(x: np.ndarray, y: np.ndarray, cands: np.ndarray, xi: float = 1e-3) -> np.ndarray:
    """EI (minimization) of a GP fitted to (x, y) at `cands`. Shapes: x [n, d], y [n], cands [m, d] -> [m]."""
    kernel = ConstantKernel(1.0) * Matern(length_scale=1.0, nu=2.5)
    gp = GaussianProcessRegressor(kernel=kernel, alpha=0.1**2, normalize_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # hyperparameters at a bound: the fit still serves
        gp.fit(x, y)
    mu, sigma = gp.predict(cands, return_std=True)
    improvement = gp.predict(x).min() - mu - xi
    with np.errstate(divide="ignore", invalid="ignore"):
        z = improvement / sigma
        ei = improvement * norm.cdf(z) + sigma * norm.pdf(z)
    return np.where(sigma > 0, ei, 0.0)
