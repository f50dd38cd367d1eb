"""Deb et al., "A Fast and Elitist Multiobjective Genetic Algorithm: NSGA-II", IEEE Trans. Evol. Comput. 6(2), 2002.

pymoo's NSGA-II (SBX crossover, polynomial mutation, rank-and-crowding survival) driven through its
ask/tell interface on the box [-bound, bound]^dim, with one inequality constraint carrying feasibility
(G = 0 feasible, G = 1 infeasible, so infeasible points lose every comparison to feasible ones). The
initial population is N(0, I) clipped to the box. Told (possibly remapped) points are clipped into the
box for pymoo but kept as told in the history. Each ask after the first returns `pop_size` offspring
(fewer only when pymoo cannot find enough non-duplicates). Seeded points enter pymoo as an extra
generation of evaluated offspring (before the first ask: as the initial population).
"""

from __future__ import annotations

import numpy as np
import torch
from pymoo.algorithms.moo.nsga2 import NSGA2 as _PymooNSGA2
from pymoo.core.population import Population
from pymoo.core.problem import Problem
from pymoo.core.sampling import Sampling
from pymoo.core.termination import NoTermination
from torch import Tensor

from archlatent.checks import is_int
from archlatent.pareto import hypervolume_at

from .base import OPTIMIZERS, Optimizer, OptimizerError


class _GaussianSampling(Sampling):
    """N(0, I) samples clipped to the problem's box."""

    def _do(
        self, problem: Problem, n_samples: int, *args: object, random_state: np.random.Generator, **kwargs: object
    ) -> np.ndarray:
        """Shapes: returns [n_samples, n_var]."""
        return np.clip(random_state.standard_normal((n_samples, problem.n_var)), problem.xl, problem.xu)


@OPTIMIZERS.register("nsga2")
class NSGA2(Optimizer):
    """NSGA-II over the latent box [-bound, bound]^dim (any number of objectives)."""

    multi_objective = True
    batch_setting = "pop_size"
    batch_min = 2

    def __init__(
        self,
        dim: int,
        *,
        n_obj: int = 1,
        seed: int | np.random.Generator | None = None,
        pop_size: int = 20,
        bound: float = 3.0,
    ) -> None:
        super().__init__(dim, n_obj=n_obj, seed=seed)
        if not is_int(pop_size) or pop_size < 2:
            raise OptimizerError(f"nsga2: pop_size must be an int >= 2, got {pop_size!r}")
        if not bound > 0.0:
            raise OptimizerError(f"nsga2: bound must be > 0, got {bound!r}")
        self.bound = float(bound)
        self.problem = Problem(n_var=dim, n_obj=n_obj, n_ieq_constr=1, xl=-self.bound, xu=self.bound)
        self.algorithm = _PymooNSGA2(pop_size=pop_size, sampling=_GaussianSampling())
        self.algorithm.setup(self.problem, seed=int(self.rng.integers(2**31)), termination=NoTermination())
        self._pop: Population | None = None  # the pending ask

    def _ask(self) -> Tensor:
        """Shapes: returns [pop_size, dim] (rarely fewer)."""
        self._pop = self.algorithm.ask()
        return torch.from_numpy(self._pop.get("X")).to(torch.float32)

    def _tell(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Shapes: z [k, dim], f [k, n_obj] (+inf where infeasible), feasible [k]."""
        pop, self._pop = self._pop, None
        assert pop is not None
        self._evaluated(pop, z, f, feasible)

    def _seed(self, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Shapes: z [n, dim], f [n, n_obj] (+inf where infeasible), feasible [n]."""
        if z.shape[0]:
            self._evaluated(Population.new("X", np.zeros((z.shape[0], self.dim))), z, f, feasible)

    def _evaluated(self, pop: Population, z: Tensor, f: Tensor, feasible: Tensor) -> None:
        """Write told values into `pop` and hand it to pymoo. Shapes: z [k, dim], f [k, n_obj], feasible [k]."""
        ok = feasible.numpy()
        x = np.clip(z.double().numpy(), -self.bound, self.bound)
        objectives = np.where(ok[:, None], f.double().numpy(), 0.0)  # pymoo ranks infeasible rows by G alone
        pop.set("X", x, "F", objectives, "G", np.where(ok, 0.0, 1.0)[:, None])
        self.algorithm.tell(infills=pop)

    def hypervolume(self, ref_point: Tensor | np.ndarray | list[float]) -> float:
        """Hypervolume (minimization) of the feasible Pareto front told so far, against `ref_point`.

        Points that do not dominate `ref_point` add nothing; 0.0 before any feasible point.
        Shapes: ref_point [n_obj].
        """
        ref = np.asarray(ref_point, dtype=np.float64).reshape(-1)
        if ref.shape != (self.n_obj,) or not np.isfinite(ref).all():
            raise OptimizerError(f"nsga2: ref_point must be {self.n_obj} finite numbers, got {ref_point!r}")
        _, front = self.pareto_front()
        return hypervolume_at(front.double().numpy(), ref)
