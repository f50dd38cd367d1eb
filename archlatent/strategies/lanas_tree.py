"""LaNAS's tree (Wang et al., "Sample-Efficient Neural Architecture Search by Learning Action Space",
arXiv 1906.06832): a full binary tree of linear regressors that partitions a feature space.

From the authors' NAS-Bench-101 code (facebookresearch/LaMCTS, ``LaNAS_NASBench101``): a full tree of
fixed height; each internal node fits a linear regression of the objective on the features of the
samples routed to it and splits at the mean of its predictions on them; samples are routed by their
true value, unsampled points by their predicted value; a node's statistics are the count and mean of
its samples; UCB picks a child, an unvisited one first, ties at random.

Everything here minimizes (the strategies' losses), so the reference's "accuracy >= boundary goes to
the good kid" reads "loss <= boundary", and its UCB x_bar + 2 Cp sqrt(2 ln n_p / n) reads
x_bar - 2 Cp sqrt(2 ln n_p / n), lowest first. Our choices, each said where it is made: the fit is
exact least squares warm-started from the previous weights (`fit`); x_bar counts losses in units of
`unit` (100 by default: our tables' accuracies are percentages, the reference's UCB with Cp = 0.1 ran
on accuracies in [0, 1]); a node with fewer than two samples is not fitted and sends every point to
its good child.

Nodes are numbered breadth first: node v has children 2v + 1 (good) and 2v + 2 (bad).
"""

from __future__ import annotations

import math

import numpy as np

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError


class LinearTree:
    """Full binary tree of `height` levels (2^height - 1 nodes) of linear regressors over `n_features`;
    the UCB counts losses in units of `unit`."""

    def __init__(self, height: int, n_features: int, unit: float = 100.0) -> None:
        if not is_int(height) or height < 2:
            raise ArchLatentError(f"lanas: height must be an int >= 2 (a root and its leaves), got {height!r}")
        self.height = height
        self.n_nodes = 2**height - 1
        self.n_internal = 2 ** (height - 1) - 1
        #: Per internal node: weights of the features, then the intercept; all zero before any fit.
        self.weights = np.zeros((self.n_internal, n_features + 1))
        #: Per internal node: the boundary (mean prediction on its samples); +inf while unfitted.
        self.bounds = np.full(self.n_internal, np.inf)
        self.n = np.zeros(self.n_nodes)  # samples per node
        self.total = np.zeros(self.n_nodes)  # sum of their losses, in units of `unit`
        self.unit = float(unit)

    # -- structure ---------------------------------------------------------------------------------
    @property
    def leaf_ids(self) -> range:
        """The leaf nodes' ids."""
        return range(self.n_internal, self.n_nodes)

    def path(self, node: int) -> list[tuple[int, bool]]:
        """(ancestor, whether `node` lies under its good child) from the root down to `node`'s parent."""
        steps = []
        while node > 0:
            parent = (node - 1) // 2
            steps.append((parent, node == 2 * parent + 1))
            node = parent
        return steps[::-1]

    # -- learning ----------------------------------------------------------------------------------
    def predict(self, x: np.ndarray, node: int) -> np.ndarray:
        """Internal `node`'s predicted losses. Shapes: x [n, F] -> [n]."""
        w = self.weights[node]
        return x.astype(np.float64) @ w[:-1] + w[-1]

    def fit(self, x: np.ndarray, loss: np.ndarray) -> None:
        """Refit every internal node on the samples routed to it by their true loss; recount the nodes.

        The reference retrains each node's linear model by gradient steps from its previous weights;
        we take the point those steps converge to, the least-squares solution nearest the previous
        weights (w + pinv(A) (y - A w)), so a node with fewer samples than features keeps what it
        learned in the directions its samples do not determine.
        Shapes: x [n, F], loss [n].
        """
        loss = np.asarray(loss, dtype=np.float64)
        design = np.hstack([x.astype(np.float64), np.ones((x.shape[0], 1))])
        at = np.zeros(x.shape[0], dtype=np.int64)  # every sample starts at the root
        for v in range(self.n_internal):
            mine = np.flatnonzero(at == v)
            if mine.size >= 2:
                a, w = design[mine], self.weights[v]
                self.weights[v] = w + np.linalg.lstsq(a, loss[mine] - a @ w, rcond=None)[0]
                self.bounds[v] = float((a @ self.weights[v]).mean())
            else:
                self.bounds[v] = np.inf
            at[mine] = np.where(loss[mine] <= self.bounds[v], 2 * v + 1, 2 * v + 2)
        self.n[:] = 0.0
        self.total[:] = 0.0
        for leaf, value in zip(at.tolist(), loss.tolist()):
            self.add(leaf, value)

    def add(self, node: int, loss: float) -> None:
        """Back-propagate one new sample's loss from `node` up to the root (counts and sums)."""
        scaled = loss / self.unit
        while True:
            self.n[node] += 1
            self.total[node] += scaled
            if node == 0:
                return
            node = (node - 1) // 2

    # -- routing -----------------------------------------------------------------------------------
    def leaves(self, x: np.ndarray) -> np.ndarray:
        """The leaf each point is routed to by the predicted losses. Shapes: x [n, F] -> [n] node ids."""
        at = np.zeros(x.shape[0], dtype=np.int64)
        for v in range(self.n_internal):
            mine = np.flatnonzero(at == v)
            if mine.size:
                at[mine] = np.where(self.predict(x[mine], v) <= self.bounds[v], 2 * v + 1, 2 * v + 2)
        return at

    def satisfies(self, x: np.ndarray, node: int) -> np.ndarray:
        """Whether each point meets every linear constraint on the path to `node` (all of them, where the
        reference's one-shot sampler accepts a point as soon as one holds). Shapes: x [n, F] -> [n] bool."""
        ok = np.ones(x.shape[0], dtype=bool)
        for v, good in self.path(node):
            below = self.predict(x, v) <= self.bounds[v]
            ok &= below if good else ~below
        return ok

    # -- selection ---------------------------------------------------------------------------------
    def select(self, rng: np.random.Generator, cp: float, open_leaves: np.ndarray | None = None) -> int:
        """The leaf reached by UCB from the root: x_bar - 2 cp sqrt(2 ln n_parent / n), lowest first;
        an unvisited child first; ties at random. With `open_leaves` ([leaves] bool), a child with no
        open leaf below it is never chosen (its architectures are all evaluated)."""
        open_ = np.ones(self.n_nodes, dtype=bool)
        if open_leaves is not None:
            open_[self.n_internal :] = open_leaves
            for v in range(self.n_internal - 1, -1, -1):
                open_[v] = open_[2 * v + 1] or open_[2 * v + 2]
        node = 0
        while node < self.n_internal:
            kids = (2 * node + 1, 2 * node + 2)
            scores = np.array([self._ucb(k, cp) if open_[k] else np.inf for k in kids])
            best = np.flatnonzero(scores == scores.min())
            node = kids[int(best[rng.integers(best.size)])]
        return node

    def _ucb(self, node: int, cp: float) -> float:
        if self.n[node] == 0:
            return -np.inf
        parent = self.n[(node - 1) // 2]
        return self.total[node] / self.n[node] - 2.0 * cp * math.sqrt(2.0 * math.log(parent) / self.n[node])
