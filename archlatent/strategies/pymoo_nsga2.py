"""pymoo's own NSGA-II over the integer encoding of a cell's edge ops (Deb et al., "A Fast and Elitist
Multiobjective Genetic Algorithm: NSGA-II", IEEE Trans. Evol. Comput. 6(2), 2002; Blank & Deb,
"pymoo: Multi-Objective Optimization in Python", IEEE Access 8, 2020): the discrete peer of the
latent NSGA-II (``latent`` + ``nsga2``) in the multi-objective benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError
from archlatent.genotype import Genotype
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.nb201 import EDGES, OPS
from archlatent.strategies.base import STRATEGIES, Strategy, Told


@STRATEGIES.register("pymoo_nsga2")
class PymooNSGA2(Strategy):
    """NSGA-II on one integer variable per edge (the op's index, 0..4 on NAS-Bench-201), through
    pymoo's ask/tell interface with its default population (100) and pymoo's discrete-variable
    operators: integer random sampling, SBX crossover and polynomial mutation (probability 1, eta 3)
    with rounding repair, duplicates eliminated.

    Each ask is pymoo's whole generation; the search evaluates its new architectures (repeats are
    free and told their earlier metrics), so the budget counts distinct architectures. Rows the
    search did not evaluate (budget spent) are told as infeasible. Needs a space of fixed edge ops
    (NAS-Bench-201).
    """

    multi_objective = True
    #: The spaces it can encode (fixed edges with one op index each).
    spaces: ClassVar[tuple[str, ...]] = ("nb201",)

    def __init__(
        self,
        space: SearchSpace,
        *,
        pop_size: int = 100,
        objectives: Sequence[str] = ("valid_acc",),
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(space, objectives=objectives, seed=seed)
        if space.name not in self.spaces or not hasattr(space, "from_ops"):
            raise ArchLatentError(f"pymoo_nsga2 needs NAS-Bench-201's fixed edges (space nb201), not {space.name!r}")
        if not is_int(pop_size) or not 2 <= pop_size <= 10_000:
            raise ArchLatentError(f"pymoo_nsga2: pop_size must be an int in 2..10000, got {pop_size!r}")
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM
        from pymoo.operators.repair.rounding import RoundingRepair
        from pymoo.operators.sampling.rnd import IntegerRandomSampling

        self.ops, self.edges = OPS, len(EDGES)
        self.problem = Problem(n_var=self.edges, n_obj=len(self.objectives), n_ieq_constr=1,
                               xl=0, xu=len(self.ops) - 1, vtype=int)
        self.algorithm = NSGA2(pop_size=pop_size, sampling=IntegerRandomSampling(),
                               crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                               mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                               eliminate_duplicates=True)
        self.algorithm.setup(self.problem, seed=int(self.rng.integers(2**31)), termination=NoTermination())
        self._pending = None

    def ask(self) -> list[Genotype | None]:
        self._pending = self.algorithm.ask()
        x = np.rint(self._pending.get("X")).astype(int)
        return [self.space.from_ops([self.ops[i] for i in row]) for row in x]  # type: ignore[attr-defined]

    def tell(self, told: Sequence[Told]) -> None:
        pop, self._pending = self._pending, None
        if pop is None:
            return
        rows = list(told)[: len(pop)]
        f = np.zeros((len(pop), len(self.objectives)))
        g = np.ones((len(pop), 1))
        for i, t in enumerate(rows):
            if t.metrics is not None:
                f[i], g[i] = self.losses(t.metrics), 0.0
        pop.set("F", f, "G", g)
        self.algorithm.tell(infills=pop)
