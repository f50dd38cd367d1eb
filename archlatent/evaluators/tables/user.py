"""Your own measurements as a benchmark table, for any space: ``--bench FILE.csv``.

The CSV has an ``arch`` column in the space's text form (``space.format``: NB201's
``|nor_conv_3x3~0|+|...``, DARTS's ``Genotype(normal=[...], ...)``, quoted as CSV quotes any text
with commas) and metric columns named ``<dataset>_<metric>`` (``cifar10_valid_acc``,
``cifar10_test_acc``, ``cifar10_params_mb``); the datasets are the prefixes of its
``<dataset>_valid_acc`` columns, of which there must be at least one. Rows of one architecture
(isomorphic text forms included) are its several measured runs: ``mode = "mean"`` averages them,
``"sample"`` draws one. Every row is checked as the built-in tables' rows are (one DataError naming
the file and the row), and a table that does not hold the whole space is searched in pool mode.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from pathlib import Path

from archlatent.errors import ArchLatentError, DataError
from archlatent.evaluators.tables.base import (
    DEFAULT_LIMITS,
    BenchmarkTable,
    csv_row,
    index_rows,
    numeric_columns,
    read_csv,
)
from archlatent.files import file_digest
from archlatent.genotype import Genotype
from archlatent.spaces import get_space
from archlatent.spaces.base import quote

ARCH = "arch"
VALID = "_valid_acc"


def is_user_table(path: Path) -> bool:
    """Whether the header of `path` is this format's: ``arch`` and only ``<dataset>_<metric>`` columns
    (a built-in format carries other columns too, such as NB201's ``ops``). False if it is no regular
    file or its first line is unreadable or longer than a table's line may be: the loader that reads it
    then says why. Reads at most one bounded line (``/dev/zero`` has no end)."""
    if not path.is_file():
        return False
    limit = DEFAULT_LIMITS.line
    try:
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") if path.suffix == ".gz" else open(
            path, encoding="utf-8-sig", newline=""
        ) as f:
            line = f.readline(limit + 1)
        header = next(csv.reader([line])) if len(line) <= limit else []
    except (OSError, EOFError, UnicodeDecodeError, ValueError, zlib.error, csv.Error, StopIteration):
        return False
    if ARCH not in header:
        return False
    datasets = _datasets(header)
    return bool(datasets) and all(_owner(c, datasets) for c in header if c != ARCH)


def load_user_table(space_name: str, path: Path) -> BenchmarkTable:
    """The table at `path` for space `space_name` (see the module doc); DataError for the first defect."""
    if not path.is_file():
        raise DataError(f"benchmark table {path} does not exist")
    header, body = read_csv(path)
    if ARCH not in header:
        raise DataError(f"table {path} has no {ARCH!r} column (each row's architecture in the {space_name} text form)")
    datasets = _datasets(header)
    if not datasets:
        raise DataError(f"table {path} has no <dataset>{VALID} column (cifar10{VALID}, say): a search needs a "
                        "validation accuracy")
    names = [c for c in header if c != ARCH]
    stray = next((c for c in names if not _owner(c, datasets)), None)
    if stray is not None:
        raise DataError(f"table {path}: column {quote(stray)} is not <dataset>_<metric> for a dataset of the table "
                        f"({', '.join(datasets)}: the prefixes of its <dataset>{VALID} columns)")
    if not body:
        raise DataError(f"table {path} holds no rows")
    space = get_space(space_name)
    column = header.index(ARCH)
    genotypes: list[Genotype] = []
    for r, row in enumerate(body):
        try:
            genotypes.append(space.parse(row[column]))
        except ArchLatentError as err:
            raise DataError(f"table {path} is corrupt: {csv_row(r)}: {err}") from err
    arrays = numeric_columns(path, header, body, names)
    columns = {d: {c[len(d) + 1 :]: a for c, a in arrays.items() if _owner(c, datasets) == d} for d in datasets}
    rows = index_rows(genotypes, Genotype.key)
    note = f" (your table holds {len(rows)} distinct {space_name} cells)"
    return BenchmarkTable(space_name, path, file_digest(path), genotypes, rows, columns, Genotype.key, note=note)


def _datasets(header: list[str]) -> list[str]:
    return sorted({c.removesuffix(VALID) for c in header if c.endswith(VALID) and len(c) > len(VALID)})


def _owner(column: str, datasets: list[str]) -> str | None:
    """The dataset whose ``<dataset>_`` prefixes `column` (the longest one) with a metric name after it."""
    owners = [d for d in datasets if column.startswith(d + "_") and len(column) > len(d) + 1]
    return max(owners, key=len) if owners else None
