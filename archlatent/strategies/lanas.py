"""LaNAS (Wang, Xie, Li, Fonseca, Tian, "Sample-Efficient Neural Architecture Search by Learning Action
Space", arXiv 1906.06832): Monte Carlo tree search over a learned partition of the space.

As in the authors' NAS-Bench-101 code (facebookresearch/LaMCTS, ``LaNAS_NASBench101``): `init` random
architectures first; then the tree (`LinearTree`: height `height`, a linear regressor of the objective on
the space's `features` in each internal node) is refitted every `retrain` new samples; each ask walks
from the root by UCB (Cp = `cp`, losses in units of `unit`) to a leaf and proposes one architecture of
that leaf; each new sample is back-propagated along its leaf's path at once. One proposal per ask, as
the reference samples.

Settings: `height` 5, `init` 10 and `retrain` 20 are the reference's; `cp` defaults to 0.2, twice the
reference's 0.1 (in the reference's units: `unit` = 100 turns our percentages into its fractions).
Chosen on NB201 CIFAR-10 with seeds 100-199 (the benchmark reports seeds 0-99), distinct architectures
until the best validation one: Cp 0.1 mean 401 (median 201, 90th percentile 1,205), Cp 0.2 mean 291
(286, 421), Cp 0.3 mean 412, Cp 0.5 mean 732; at Cp 0.2, height 6 (mean 271, but one run of 5,081)
and `retrain` 10 (mean 295) were within noise of it, height 4 worse (mean 360).

Where to draw a leaf's architecture from:
- a space of at most `pool_limit` architectures (NB201, a table's pool) is enumerated once, one
  genotype per key; at each refit the unevaluated ones are routed to the leaves by predicted loss and a
  leaf's proposal is drawn uniformly from its own (the NB101 code's bags). A leaf whose bag is empty
  is never selected, where the reference falls back to the first leaf with architectures left.
- elsewhere (NB101, DARTS), rejection sampling as in the one-shot LaNAS code: `space.sample` draws,
  kept only if unevaluated and meeting every linear constraint on the leaf's path. After `tries` draws
  without one, the deepest constraint is dropped (the parent's region) and so on up to the root, where
  any unevaluated draw does; only a space the search has exhausted gets a repeat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.spaces.base import SearchSpace
from archlatent.strategies.base import STRATEGIES, Strategy, Told
from archlatent.strategies.lanas_tree import LinearTree

#: Candidates drawn and checked at once by the rejection sampler.
_CHUNK = 64


@STRATEGIES.register("lanas")
class LaNAS(Strategy):
    """LaNAS over any space with `features`: tree of linear regressors, UCB, bags or rejection sampling.

    Under constraints a cell told ``infeasible`` joins the samples with the worst loss of any feasible
    sample so far (held back until one is known) and is never proposed again. Worst, not a fixed
    penalty such as 0 % accuracy: the linear regressors then learn where the infeasible cells lie and
    the splits send that region to the bad side, while an outlier penalty far off the accuracies'
    scale would dominate the least squares of every node and blur the partition among feasible cells.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        cp: float = 0.2,
        unit: float = 100.0,
        height: int = 5,
        init: int = 10,
        retrain: int = 20,
        tries: int = 2000,
        pool_limit: int = 100_000,
        objectives: Sequence[str] = ("valid_acc",),
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        for label, value, low in (("init", init, 1), ("retrain", retrain, 1), ("tries", tries, 1),
                                  ("pool_limit", pool_limit, 0)):
            if not is_int(value) or value < low:
                raise ArchLatentError(f"lanas: {label} must be an int >= {low}, got {value!r}")
        numbers_ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (cp, unit))
        if not (numbers_ok and cp >= 0 and unit > 0):
            raise ArchLatentError(f"lanas: need numbers cp >= 0 and unit > 0, got cp={cp!r}, unit={unit!r}")
        if space.feature_size < 1:
            raise ArchLatentError(f"lanas needs the space's features; space {space.name!r} has none")
        self.cp, self.init, self.retrain, self.tries = float(cp), init, retrain, tries
        self.tree = LinearTree(height, space.feature_size, unit)
        self._fitted = False
        self._x: list[np.ndarray] = []  # features of every told sample, in order
        self._loss: list[float] = []
        self._since = 0  # samples told since the last refit
        size = space.size()
        self.pool: list[Genotype] | None = None
        if size is not None and size <= pool_limit:
            unique: dict[str, Genotype] = {}
            for g in space.enumerate():
                unique.setdefault(g.key(), g)
            self.pool = [space.representative(g) for g in unique.values()]
            self._pool_x = space.features(self.pool)
        self._bags: dict[int, list[int]] = {}  # leaf -> pool indices not evaluated at the last refit
        self._infeasible: set[str] = set()  # keys told infeasible (never proposed again)
        self._pending: list[Genotype] = []  # infeasible cells told before any feasible loss was known
        self._worst = -np.inf  # the worst (largest) loss of a feasible sample so far
        #: The node whose region the last proposal was drawn from (the selected leaf, unless the rejection
        #: sampler fell back to an ancestor's region; 0, the root, for random proposals).
        self.region = 0

    # -- protocol --------------------------------------------------------------------------------
    def ask(self) -> list[Genotype | None]:
        self.region = 0
        if len(self._loss) < self.init:
            return [self._random()]
        if not self._fitted or self._since >= self.retrain:
            self._fit()
        if self.pool is None:
            return [self._rejection(self.tree.select(self.rng, self.cp))]
        if not any(self._bags.values()):  # every routed architecture was drawn: a refit routes the rest
            self._fit()
        open_leaves = np.array([bool(self._bags.get(leaf)) for leaf in self.tree.leaf_ids])
        self.region = self.tree.select(self.rng, self.cp, open_leaves)
        return [self._from_bag(self.region)]

    def tell(self, told: Sequence[Told]) -> None:
        new = [(t.genotype, t.metrics) for t in told if t.status == "new"]  # both set on new proposals
        if new:
            losses = [self.loss(m) for _, m in new]  # type: ignore[arg-type]
            self._worst = max([self._worst, *losses])
            self._add(self.space.features([g for g, _ in new]), losses)  # type: ignore[misc]
        bad = [t.genotype for t in told if t.status == "infeasible"]
        self._infeasible.update(g.key() for g in bad)  # type: ignore[union-attr]
        self._pending += bad  # type: ignore[arg-type]
        if self._pending and np.isfinite(self._worst):  # told as the worst loss seen (see the class doc)
            self._add(self.space.features(self._pending), [self._worst] * len(self._pending))
            self._pending = []

    def warm_start(self, genotypes: Sequence[Genotype], metrics: Sequence[Mapping[str, float]]) -> None:
        """Labelled architectures join the samples (those that hold the objective)."""
        usable = [(g, m) for g, m in zip(genotypes, metrics) if self.objectives[0] in m]
        if usable:
            self._add(self.space.features([g for g, _ in usable]), [self.loss(m) for _, m in usable])

    # -- internals -------------------------------------------------------------------------------
    def _add(self, x: np.ndarray, losses: list[float]) -> None:
        """Store new samples; once the tree is fitted, back-propagate each from its leaf (by prediction)."""
        self._x.extend(x)
        self._loss.extend(losses)
        self._since += len(losses)
        if self._fitted:
            for leaf, loss in zip(self.tree.leaves(x).tolist(), losses):
                self.tree.add(leaf, loss)

    def _fit(self) -> None:
        """Refit the tree on every sample; in pool mode route the unevaluated architectures to the leaves."""
        self.tree.fit(np.stack(self._x), np.array(self._loss))
        self._fitted, self._since = True, 0
        if self.pool is not None:
            left = np.array([i for i, g in enumerate(self.pool) if not self._done(g)], dtype=np.int64)
            leaves = self.tree.leaves(self._pool_x[left]) if left.size else np.zeros(0, dtype=np.int64)
            self._bags = {}
            for leaf, i in zip(leaves.tolist(), left.tolist()):
                self._bags.setdefault(leaf, []).append(i)

    def _done(self, g: Genotype) -> bool:
        """Whether `g` was evaluated or told infeasible (not to be proposed again)."""
        return self.is_seen(g) or g.key() in self._infeasible

    def _random(self) -> Genotype:
        """A uniform unevaluated architecture: of the pool, or of `space.sample` (up to `tries` draws)."""
        if self.pool is not None:
            left = [g for g in self.pool if not self._done(g)]
            return left[int(self.rng.integers(len(left)))] if left else self.pool[0]
        return self._rejection(0)

    def _from_bag(self, leaf: int) -> Genotype:
        """Draw (and remove) a uniform unevaluated member of `leaf`'s bag."""
        bag = self._bags.get(leaf, [])
        while bag:
            i = int(self.rng.integers(len(bag)))
            bag[i], bag[-1] = bag[-1], bag[i]
            g = self.pool[bag.pop()]  # type: ignore[index]
            if not self._done(g):
                return g
        self.region = 0
        return self._random()

    def _rejection(self, node: int) -> Genotype:
        """An unevaluated `space.sample` draw inside `node`'s region; `tries` draws per region, from
        `node` up to the root (see the module docstring)."""
        draw: Genotype | None = None
        for region in [node, *(v for v, _ in reversed(self.tree.path(node)))]:
            for start in range(0, self.tries, _CHUNK):
                drawn = [self.space.sample(self.rng) for _ in range(min(_CHUNK, self.tries - start))]
                ok = self.tree.satisfies(self.space.features(drawn), region)
                for draw, inside in zip(drawn, ok.tolist()):
                    if inside and not self._done(draw):
                        self.region = region
                        return draw
        assert draw is not None
        return draw
