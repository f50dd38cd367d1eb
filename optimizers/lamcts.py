"""Wang, Fonseca, Tian, "Learning Search Space Partition for Black-box Optimization using Monte Carlo Tree
Search" (LA-MCTS), NeurIPS 2020: a tree of learned regions, UCT down to a leaf, Bayesian optimization inside it.

As in the authors' code (facebookresearch/LaMCTS, ``LA-MCTS/lamcts``): the first points are a Latin
hypercube over the box [-bound, bound]^dim (until `n_init` feasible ones are known); then before every
ask the tree is rebuilt from all the feasible points told: a leaf holding more than `leaf_size` (20) of
them splits by KMeans(2) on (z, f(z)) (the cluster with the lower mean f is the good child; the points
go by cluster) and an RBF SVM (gamma "auto") learns the boundary; a leaf whose SVM does not separate
its points stays a leaf. UCT walks from the root to a leaf; the candidates are Sobol points around
points of the leaf, each in the smallest box (side doubling) that is not wholly inside the region, kept
where every SVM on the path agrees with the path; a Gaussian process (Matern-5/2 kernel, noise standard
deviation `noise` = 0.1 in f's units, the reference's alpha = 0.1^2) ranks them by expected improvement
(xi = 0.001 below the best GP mean at the told points) and the best `batch` (1, as the reference) are
asked (the NB201 recipe, `archlatent.recipes`, asks 4 with Cp 1 under its screen).

Our choices: minimization throughout (the good child has the lower mean f; UCT is x_bar - 2 Cp sqrt(2
ln n_parent / n), the paper's form, lowest first); Cp counts in units of the spread (max - min) of the
told f, since the reference tunes Cp per function to f's scale; infeasible points (f = +inf) take no
part in the tree or the GP; the boxes around a centre start at 1/64 of the whole box's side (the
reference: 1e-4); at the root (no split yet) the candidates fill the whole box, where the reference
samples uniformly without the GP; the GP's targets are standardized and its length scale is the best of
a grid by marginal likelihood (the reference runs L-BFGS on its hyperparameters), fitted on the points
of the highest node of the path holding at most `gp_max` (all points while there are at most `gp_max`,
as the reference), which bounds its cubic cost on long runs. `predict` (ours; the latent strategy ranks
neighbours and asks by it) is the posterior mean of the same GP fitted on the `gp_max` best feasible
points. The tree is rebuilt at every ask, so its pieces must be cheap on tens to hundreds of points:
scikit-learn's SVC (libsvm, as the reference) learns each boundary, but its predictions are evaluated
from the dual coefficients in numpy, and KMeans(2) (k-means++ seeding, then Lloyd's iterations) is
written here, because scikit-learn's per-call overhead (milliseconds) would dominate.

Defaults (`n_init` 20, as NAO's first ask; `bound` 2 in the latent strategy's standardized coordinates)
were chosen on NB201 CIFAR-10 latent search; the figures are in BENCHMARKS.md (section 2, "lamcts's
settings").
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg import cho_solve, solve_triangular
from scipy.stats import norm, qmc
from sklearn.svm import SVC
from torch import Tensor

from archlatent.checks import is_int

from .base import OPTIMIZERS, Optimizer, OptimizerError

#: Sobol points drawn around each centre (a power of two keeps the design balanced).
_BLOCK = 256
#: Box sides around a centre, as shares of the whole box's side: 1/64 doubling up to 1.
_WIDTHS = tuple(2.0**-k for k in range(6, -1, -1))
#: GP length scales tried, as multiples of the median distance between the GP's points.
_LENGTHS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


class _Boundary:
    """A fitted binary RBF SVC's decision rule, evaluated in numpy (the same labels as ``svc.predict``)."""

    def __init__(self, svc: SVC, gamma: float) -> None:
        self.sv, self.coef, self.b, self.gamma = svc.support_vectors_, svc.dual_coef_[0], svc.intercept_[0], gamma
        self.label = svc.classes_

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class labels (0 good, 1 bad). Shapes: x [m, d] -> [m]."""
        k = np.exp(-self.gamma * _distances(x, self.sv) ** 2)
        return self.label[(k @ self.coef + self.b > 0).astype(int)]


class _Node:
    """One node of the rebuilt tree: its points (indices), parent, children (good, bad) and boundary."""

    def __init__(self, points: np.ndarray, parent: int = -1) -> None:
        self.points, self.parent = points, parent
        self.kids: tuple[int, int] | None = None
        self.boundary: _Boundary | None = None


@OPTIMIZERS.register("lamcts")
class LAMCTS(Optimizer):
    """LA-MCTS over the box [-bound, bound]^dim (single objective)."""

    batch_setting = "n_init"  # the first ask's design; later asks hold `batch` points
    batch_min = 2

    def __init__(
        self,
        dim: int,
        *,
        n_obj: int = 1,
        seed: int | np.random.Generator | None = None,
        n_init: int = 20,
        leaf_size: int = 20,
        cp: float = 0.1,
        bound: float = 2.0,
        candidates: int = 2048,
        batch: int = 1,
        gp_max: int = 300,
        noise: float = 0.1,
    ) -> None:
        super().__init__(dim, n_obj=n_obj, seed=seed)
        for label, value, low in (("n_init", n_init, 2), ("leaf_size", leaf_size, 2), ("candidates", candidates, 1),
                                  ("batch", batch, 1), ("gp_max", gp_max, 2)):
            if not is_int(value) or value < low:
                raise OptimizerError(f"lamcts: {label} must be an int >= {low}, got {value!r}")
        if not (cp >= 0.0 and bound > 0.0 and noise >= 0.0):
            raise OptimizerError(f"lamcts: need cp >= 0, bound > 0, noise >= 0; got {cp!r}, {bound!r}, {noise!r}")
        self.n_init, self.leaf_size, self.cp, self.bound = n_init, leaf_size, float(cp), float(bound)
        self.candidates, self.batch, self.gp_max, self.noise = candidates, batch, gp_max, float(noise)
        self.nodes: list[_Node] = []  # the tree of the last ask
        self.leaf = 0  # the leaf (of `nodes`) the last ask drew from

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
        self.leaf = leaf
        cands = self._candidates(x, leaf, bool(path))
        fit = next((self.nodes[v].points for v in [*path, leaf] if self.nodes[v].points.size <= self.gp_max), None)
        if fit is None:  # a leaf too big to split further: its best gp_max points
            own = self.nodes[leaf].points
            fit = own[np.argsort(y[own], kind="stable")[: self.gp_max]]
        ei = _expected_improvement(x[fit], y[fit], cands, self.noise)
        return torch.from_numpy(cands[np.argsort(-ei, kind="stable")[: self.batch]]).float()

    def predict(self, z: Tensor) -> Tensor | None:
        """A GP's posterior mean (standardized) on the `gp_max` best feasible points told, once `n_init`
        are known. Shapes: z [m, dim] -> [m]."""
        hz, hf, feasible = self._history()
        x, y = hz[feasible].double().numpy(), hf[feasible, 0].double().numpy()
        if x.shape[0] < self.n_init:
            return None
        keep = np.argsort(y, kind="stable")[: self.gp_max]
        return torch.from_numpy(_GP(x[keep], y[keep], self.noise).posterior(z.double().numpy())[0]).float()

    def _tell(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """The tree is rebuilt from the history at each ask; nothing else to keep."""

    # -- the tree ----------------------------------------------------------------------------------
    def _build(self, x: np.ndarray, y: np.ndarray) -> None:
        """Split every leaf with more than `leaf_size` points until none splits (breadth first)."""
        self.nodes = [_Node(np.arange(x.shape[0]))]
        todo = [0]
        while todo:
            v = todo.pop(0)
            node = self.nodes[v]
            split = self._split(x, y, node.points)
            if split is not None:
                node.boundary, good, bad = split
                node.kids = (len(self.nodes), len(self.nodes) + 1)
                self.nodes += [_Node(good, parent=v), _Node(bad, parent=v)]
                todo += list(node.kids)

    def _split(
        self, x: np.ndarray, y: np.ndarray, points: np.ndarray
    ) -> tuple[_Boundary, np.ndarray, np.ndarray] | None:
        """KMeans(2) on (z, f), good cluster (lower mean f) labelled 0; an SVM on those labels; None when
        the node holds at most `leaf_size` points or the SVM does not separate them."""
        if points.size <= self.leaf_size:
            return None
        labels = _two_means(np.hstack([x[points], y[points, None]]), self.rng)
        if labels.min() == labels.max():
            return None
        if y[points][labels == 0].mean() > y[points][labels == 1].mean():
            labels = 1 - labels
        svc = SVC(kernel="rbf", gamma="auto", random_state=self._seed_int()).fit(x[points], labels)
        boundary = _Boundary(svc, gamma=1.0 / self.dim)
        if np.unique(boundary.predict(x[points])).size < 2:
            return None
        return boundary, points[labels == 0], points[labels == 1]

    def _select(self, y: np.ndarray) -> tuple[int, list[int]]:
        """UCT from the root to a leaf (ties at random): the leaf and the nodes above it, root first."""
        spread = float(y.max() - y.min()) or 1.0
        v, path = 0, []
        while (kids := self.nodes[v].kids) is not None:
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

    def inside(self, x: np.ndarray, leaf: int) -> np.ndarray:
        """Whether every boundary above `leaf` sends each point the way to `leaf` (of the last ask's tree).

        Shapes: x [m, dim] -> [m] bool.
        """
        ok = np.ones(x.shape[0], dtype=bool)
        v = leaf
        while (up := self.nodes[v].parent) >= 0:
            parent = self.nodes[up]
            assert parent.kids is not None and parent.boundary is not None
            idx = np.flatnonzero(ok)
            if idx.size:
                ok[idx] = parent.boundary.predict(x[idx]) == parent.kids.index(v)
            v = up
        return ok

    def _candidates(self, x: np.ndarray, leaf: int, split: bool) -> np.ndarray:
        """Sobol points of the leaf's region (see the module docstring): around candidates / 256 of its
        points (those inside it, else any of its own), or the whole box at the root or when the region
        yields none. Shapes: returns [m, dim], m >= 1."""
        sobol = qmc.Sobol(self.dim, scramble=True, seed=self._seed_int())
        if split:
            own = self.nodes[leaf].points
            centres = own[self.inside(x[own], leaf)]
            picks = x[self.rng.choice(centres if centres.size else own, size=max(1, self.candidates // _BLOCK))]
            unit = sobol.random(_BLOCK)
            kept = [np.empty((0, self.dim))] * len(picks)
            growing = np.arange(len(picks))  # centres whose box is still wholly inside
            for share in _WIDTHS:
                half = self.bound * share
                lo = np.clip(picks[growing] - half, -self.bound, self.bound)
                hi = np.clip(picks[growing] + half, -self.bound, self.bound)
                pts = (lo[:, None] + (hi - lo)[:, None] * unit[None]).reshape(-1, self.dim)
                ok = self.inside(pts, leaf).reshape(len(growing), _BLOCK)
                for row, c in enumerate(growing.tolist()):
                    kept[c] = pts.reshape(len(growing), _BLOCK, self.dim)[row][ok[row]]
                growing = growing[ok.all(1)]
                if not growing.size:
                    break
            cands = np.concatenate(kept)
            if cands.shape[0]:
                return cands
        return self.bound * (2 * sobol.random(self.candidates) - 1)

    def _seed_int(self) -> int:
        return int(self.rng.integers(2**31))


def _two_means(data: np.ndarray, rng: np.random.Generator, iterations: int = 100) -> np.ndarray:
    """KMeans with two clusters: k-means++ seeding, then Lloyd's iterations until the labels settle.

    Shapes: data [n, k] -> labels [n] in {0, 1}.
    """
    first = data[rng.integers(data.shape[0])]
    d2 = ((data - first) ** 2).sum(1)
    if not d2.sum() > 0:
        return np.zeros(data.shape[0], dtype=np.int64)
    centres = np.stack([first, data[rng.choice(data.shape[0], p=d2 / d2.sum())]])
    labels = np.full(data.shape[0], -1)
    for _ in range(iterations):
        new = ((data[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        if np.array_equal(new, labels) or np.unique(new).size < 2:
            return new
        labels = new
        centres = np.stack([data[labels == k].mean(0) for k in (0, 1)])
    return labels


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances. Shapes: a [n, d], b [m, d] -> [n, m]."""
    return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0.0))


def _matern52(dist: np.ndarray, length: float) -> np.ndarray:
    """Matern-5/2 kernel (unit amplitude) of distances. Shapes: any -> the same."""
    r = math.sqrt(5.0) * dist / length
    return (1.0 + r + r * r / 3.0) * np.exp(-r)


class _GP:
    """A GP on (x, y): standardized targets, Matern-5/2, noise standard deviation `noise` in y's units,
    length scale by marginal likelihood over `_LENGTHS` x the median distance between the points."""

    def __init__(self, x: np.ndarray, y: np.ndarray, noise: float) -> None:
        self.x, self.mean, self.std = x, y.mean(), y.std() or 1.0
        t = (y - self.mean) / self.std
        dist = _distances(x, x)
        median = float(np.median(dist[dist > 0])) if (dist > 0).any() else 1.0
        best: tuple[float, float, np.ndarray, np.ndarray, np.ndarray] | None = None
        for length in (median * m for m in _LENGTHS):
            k = _matern52(dist, length)
            chol = np.linalg.cholesky(k + ((noise / self.std) ** 2 + 1e-6) * np.eye(x.shape[0]))
            alpha = cho_solve((chol, True), t)
            evidence = -0.5 * t @ alpha - np.log(np.diag(chol)).sum()
            if best is None or evidence > best[0]:
                best = (evidence, length, k, chol, alpha)
        assert best is not None
        _, self.length, k, self.chol, self.alpha = best
        self.fitted_min = float((k @ self.alpha).min())  # the best posterior mean at the points

    def posterior(self, cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation, standardized. Shapes: cands [m, d] -> ([m], [m])."""
        k_star = _matern52(_distances(cands, self.x), self.length)
        v = solve_triangular(self.chol, k_star.T, lower=True)
        return k_star @ self.alpha, np.sqrt(np.maximum(1.0 - (v * v).sum(0), 1e-12))


def _expected_improvement(
    x: np.ndarray, y: np.ndarray, cands: np.ndarray, noise: float, xi: float = 1e-3
) -> np.ndarray:
    """EI (minimization) at `cands` of a `_GP` on (x, y), below its best mean at the points by xi (y's
    units). Shapes: x [n, d], y [n], cands [m, d] -> [m]."""
    gp = _GP(x, y, noise)
    mu, sigma = gp.posterior(cands)
    improvement = gp.fitted_min - mu - xi / gp.std
    z = improvement / sigma
    return improvement * norm.cdf(z) + sigma * norm.pdf(z)
