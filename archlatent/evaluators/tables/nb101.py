"""NAS-Bench-101 table (Ying et al., "NAS-Bench-101", ICML 2019): the 500-row NASLib sample of the
data README (pruned spec, one training run per row). Rows of one cell are kept: each is a run."""

from __future__ import annotations

from pathlib import Path

from archlatent.errors import ArchLatentError, DataError
from archlatent.evaluators.tables.base import (
    DEFAULT_LIMITS,
    TABLES,
    BenchmarkTable,
    TableFormat,
    TableLimits,
    csv_row,
    index_rows,
    numeric_columns,
    read_csv,
)
from archlatent.files import file_digest
from archlatent.genotype import Genotype
from archlatent.spaces import get_space

#: Columns that describe the cell rather than measure it.
SPEC_COLUMNS = ("adjacency_pruned", "ops_pruned", "adjacency_raw_7x7", "ops_raw")


@TABLES.register("nb101")
class NB101Table(TableFormat):
    """NAS-Bench-101 sample ``nasbench101_naslib_sample500.csv.gz``; cells found by key or nasbench hash."""

    default_file = "nasbench101_naslib_sample500.csv.gz"

    def load(self, path: Path) -> BenchmarkTable:
        return load_nb101_csv(path)


def load_nb101_csv(path: Path, limits: TableLimits = DEFAULT_LIMITS) -> BenchmarkTable:
    """A NAS-Bench-101 table in the NASLib-derived CSV format (pruned spec + single-run accuracy).

    `limits` bound the file (`TableLimits`; the default admits 250,000 rows). An exact
    repeat of a row is kept as a run, like any repeated cell: accuracies are discrete, so two runs can agree.
    """
    header, body = read_csv(path, limits)
    need = {"adjacency_pruned", "ops_pruned", "val_acc_single_run"}
    if not need <= set(header):
        raise DataError(f"{path} is not a NAS-Bench-101 table: missing columns {sorted(need - set(header))}")
    space = get_space("nb101")
    adj, ops = header.index("adjacency_pruned"), header.index("ops_pruned")
    genotypes = []
    for r, row in enumerate(body):
        try:
            genotypes.append(space.parse_table_row(row[adj], row[ops]))
        except ArchLatentError as err:
            raise DataError(f"table {path} is corrupt: {csv_row(r)}: {err}") from err
    arrays = numeric_columns(path, header, body, [h for h in header if h not in SPEC_COLUMNS])
    metrics = {("valid_acc" if h == "val_acc_single_run" else h): a for h, a in arrays.items()}
    rows = index_rows(genotypes, Genotype.key)
    note = f" (this table holds {len(rows)} distinct cells of NAS-Bench-101's 423,624; the full table is not bundled)"
    return BenchmarkTable(
        "nb101", path, file_digest(path), genotypes, rows, {"cifar10": metrics}, Genotype.key, note=note,
        hash_of=space.nasbench_hash,
    )
