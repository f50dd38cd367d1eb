"""Benchmark tables: `BenchmarkTable`, CSV reading and checks, and the `TABLES` registry of formats.

A table for a space is one file in this package: a `TableFormat` subclass registered under the
space's name (``@TABLES.register("nb201")``), saying which file to look for and how to read it.
`find_table` and `load_table` know nothing about any space beyond what the registry tells them.
Every defect found while reading is one DataError naming the file and the row.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO

import numpy as np

from archlatent.errors import DataError, InvalidArchitecture
from archlatent.genotype import Genotype
from archlatent.registry import Registry
from archlatent.spaces import get_space
from archlatent.spaces.base import quote

#: Accuracies are percentages; a column whose name has the word ``acc`` must lie in this range.
ACCURACY_RANGE = (0.0, 100.0)
_HEX32 = re.compile(r"[0-9a-f]{32}")


@dataclass
class BenchmarkTable:
    """Rows of a benchmark, found by a genotype's identity, with per-dataset numeric columns.

    ``genotypes[r]`` is row r's architecture; ``columns[dataset][metric]`` an array over rows;
    ``seeds[dataset][metric]`` (optional) per-seed value lists for stochastic queries. ``identify``
    maps a genotype to its row id in ``rows``. ``index`` (optional) is the benchmark's own index of
    each row; ``hash_of`` (optional) the benchmark's own architecture hash. ``epochs`` (optional) is
    the training length of the plain columns, against which a short-training column
    (``valid_acc_12ep``) is charged.
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
    index: np.ndarray | None = None
    hash_of: Callable[[Genotype], str] | None = None
    epochs: int | None = None
    _row_of_hash: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)

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

    # -- the benchmark's own identities ------------------------------------------------------------
    def index_of(self, genotype: Genotype) -> int:
        """The benchmark's index of `genotype`'s row (NAS-Bench-201: 0..15624, as in its API)."""
        index = self._require_index()
        return int(index[self.row_ids(genotype)[0]])

    def genotype_at(self, index: int) -> Genotype:
        """The genotype of the row with benchmark index `index`."""
        self._require_index()
        whole = isinstance(index, (int, np.integer)) and not isinstance(index, bool)
        row = self._row_of_index.get(int(index)) if whole else None
        if row is None:
            span = f"{min(self._row_of_index)}..{max(self._row_of_index)}" if self._row_of_index else "none"
            raise DataError(f"index {quote(index)} is not in {self.path.name} (indices {span})")
        return self.genotypes[row]

    def find_hash(self, digest: str) -> Genotype:
        """The genotype whose benchmark hash is `digest` (NAS-Bench-101: nasbench's 32-hex-digit hash)."""
        if self.hash_of is None:
            raise DataError(f"{self.path.name} ({self.space}) has no architecture hashes to look up")
        if not isinstance(digest, str) or not _HEX32.fullmatch(digest.lower()):
            raise DataError(f"{quote(digest)} is not an architecture hash (32 hex digits)")
        if self._row_of_hash is None:  # built on first use: hashing every row takes a while
            self._row_of_hash = {}
            for r, genotype in enumerate(self.genotypes):
                self._row_of_hash.setdefault(self.hash_of(genotype), r)
        row = self._row_of_hash.get(digest.lower())
        if row is None:
            raise DataError(f"hash {digest.lower()} is not in {self.path.name}{self.note}")
        return self.genotypes[row]

    def _require_index(self) -> np.ndarray:
        if self.index is None:
            raise DataError(f"{self.path.name} has no benchmark index column; look rows up by architecture")
        return self.index

    @cached_property
    def _row_of_index(self) -> dict[int, int]:
        return {int(i): r for r, i in enumerate(self._require_index())}



class TableFormat(ABC):
    """How the benchmark table of one space is found and read; register one per space under its name."""

    name: str = ""
    #: File name looked for under ``$ARCHLATENT_DATA``.
    default_file: str = ""
    #: Appended to the "not found" message: other ways to get the table, if any.
    other_sources: str = ""

    def fallback(self) -> Path | None:
        """Where the table is when neither a path nor ``$ARCHLATENT_DATA`` gives one (None: nowhere)."""
        return None

    @abstractmethod
    def load(self, path: Path) -> BenchmarkTable:
        """Read and check the table at `path` (a file or, for some formats, a folder)."""


TABLES: Registry[TableFormat] = Registry("benchmark table")


def find_table(space: str, bench: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Path:
    """Where the table of `space` is: `bench`, else ``$ARCHLATENT_DATA``, else the format's fallback."""
    if space not in TABLES:
        raise DataError(f"no benchmark table format for space {space!r}; tables exist for {', '.join(TABLES.names())}")
    fmt = TABLES.get(space)()
    if bench is not None:
        path = Path(bench)
        if not path.exists():
            raise DataError(f"benchmark table {path} does not exist")
        return path
    env = os.environ if env is None else env
    if env.get("ARCHLATENT_DATA"):
        path = Path(env["ARCHLATENT_DATA"]) / fmt.default_file
        if path.is_file():
            return path
    found = fmt.fallback()
    if found is not None:
        return found
    raise DataError(
        f"no {space} benchmark table found: pass --bench FILE, set ARCHLATENT_DATA to a folder holding "
        f"{fmt.default_file}{fmt.other_sources}"
    )


def load_table(space: str, bench: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> BenchmarkTable:
    """Find and load the benchmark table of `space` (see `find_table`); a `bench` file of your own
    measurements (``arch`` + ``<dataset>_<metric>`` columns, any space) is read by `tables.user`."""
    from archlatent.evaluators.tables.user import is_user_table, load_user_table

    if bench is not None and (space not in TABLES or is_user_table(Path(bench))):
        return load_user_table(space, Path(bench))
    path = find_table(space, bench, env)
    return TABLES.get(space)().load(path)


# -- reading and checking ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TableLimits:
    """Bounds on a table file, checked while it is read, so that an endless or enormous input (``--bench
    /dev/zero``, a gzip bomb, a table of millions of rows) is refused with one line before memory grows.

    The defaults admit a user's table of a quarter of a million rows; the NAS-Bench-101 sample has 500,
    NAS-Bench-201 15,625 (its format sets that as its bound). Measured with ``archlatent query``: a table of
    3 million NB101-format rows is refused at row 250,002 with the process at 0.58 GB (0.23 GB of it the
    imports); loading 423,624 such rows (the size of the full NAS-Bench-101) took 1.7 GB and 220 s, so that
    table would need a reader of its own.
    """

    #: Data rows (the header not counted).
    rows: int = 250_000
    #: Data fields (rows x columns): what the parsed rows cost, ~60 bytes each.
    fields: int = 5_000_000
    #: Characters of text, after decompression.
    chars: int = 128 << 20
    #: Characters of one line (NB201's longest is 1,250).
    line: int = 64 << 10


#: The bounds of a table whose format sets none.
DEFAULT_LIMITS = TableLimits()


def read_csv(path: Path, limits: TableLimits = DEFAULT_LIMITS) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a (gzip) CSV within `limits`; DataError for anything else: not a regular file,
    unreadable or damaged, a repeated column, a row of the wrong length, more than the limits allow."""
    if not path.is_file():  # a device (/dev/zero) or a pipe has no end to bound
        raise DataError(f"table {path} is not a regular file")
    try:
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") if path.suffix == ".gz" else open(
            path, encoding="utf-8-sig", newline=""
        ) as f:
            reader = csv.reader(_bounded_lines(f, path, limits))
            header = next(reader, None)
            if header is None:
                raise DataError(f"table {path} is empty")
            twice = sorted({name for name in header if header.count(name) > 1})
            if twice:
                raise DataError(f"table {path} is corrupt: row 1 (the header) repeats column(s) {quote(twice)}")
            body = []
            for row in reader:
                if len(row) != len(header):
                    raise DataError(f"table {path} is corrupt: {csv_row(len(body))} has {len(row)} fields, header {len(header)}")
                body.append(row)
                _check_size(path, len(body), len(header), limits)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, zlib.error) as err:
        kind = "damaged compressed data" if isinstance(err, zlib.error) else type(err).__name__
        raise DataError(f"cannot read table {path}: {kind}: {str(err)[:200]}") from None
    return header, body


def _bounded_lines(f: IO[str], path: Path, limits: TableLimits) -> Iterator[str]:
    """The lines of text file `f`, never reading more than `limits` allow (a line without end included)."""
    total = 0
    for number in itertools.count(1):
        line = f.readline(limits.line + 2)
        if not line:
            return
        if len(line.rstrip("\r\n")) > limits.line:
            raise DataError(f"table {path} is corrupt: line {number:,} is longer than {limits.line:,} characters")
        total += len(line)
        if total > limits.chars:
            raise DataError(f"table {path} is refused: more than {limits.chars:,} characters of text (line {number:,})")
        yield line


def _check_size(path: Path, rows: int, columns: int, limits: TableLimits) -> None:
    """DataError once `rows` data rows of `columns` fields pass `limits`."""
    if rows > limits.rows:
        raise DataError(f"table {path} is refused: more than {limits.rows:,} data rows, the most a table of its space may have")
    if rows * columns > limits.fields:
        raise DataError(
            f"table {path} is refused: more than {limits.fields:,} fields ({csv_row(rows - 1)} of {columns} columns)"
        )


def is_accuracy(name: str) -> bool:
    """Whether a metric is an accuracy in percent: its name has the word ``acc`` (``cifar10_valid_acc``)."""
    return "acc" in name.split("_")


def check_values(where: str, name: str, values: np.ndarray, row_name: Callable[[int], str]) -> None:
    """DataError naming the first row of `values` that is NaN or infinite or, for an accuracy, out of
    range; or, for an accuracy column with no value above 1, the row of its largest value: accuracies are
    percentages, and a column at most 1 % everywhere is a 0-1 scale (even chance level on CIFAR-10 is 10 %)."""
    bad = np.flatnonzero(~np.isfinite(values))
    problem = "is not a finite number"
    if not bad.size and is_accuracy(name):
        low, high = ACCURACY_RANGE
        bad = np.flatnonzero((values < low) | (values > high))
        problem = f"is an accuracy outside [{low:g}, {high:g}]"
        if not bad.size and values.size and values.max() <= 1.0:
            bad = np.array([np.argmax(values)])
            problem = "is the largest in its column: accuracies must be percentages (0-100), not fractions (0-1)"
    if bad.size:
        raise DataError(f"{where} is corrupt: {row_name(int(bad[0]))}: {name} = {float(values[bad[0]])!r} {problem}")


def csv_row(r: int) -> str:
    """How a message names data row r of a CSV (the header is row 1)."""
    return f"row {r + 2}"


def numeric_columns(path: Path, header: list[str], body: list[list[str]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The named columns as float arrays, each checked by `check_values`.

    A value must be a plain decimal number (``93.5``, ``-1e-3``, ``nan``/``inf`` to be refused by name):
    Python's float also reads ``9_9.5`` as 99.5 and other scripts' digits, which a table must not hold.
    """
    out = {}
    for name in names:
        i = header.index(name)
        values = [row[i] for row in body]
        try:
            if not set("".join(values)) <= _NUMBER_CHARS:
                raise ValueError
            array = np.array([float(v) for v in values], dtype=np.float64)
        except ValueError:  # name the first value that is not a number
            r = next(r for r, v in enumerate(values) if not _is_number(v))
            raise DataError(f"table {path} is corrupt: {csv_row(r)}: {name} = {quote(values[r])} is not a number") from None
        check_values(f"table {path}", name, array, csv_row)
        out[name] = array
    return out


#: What a number in a table may be written with: ASCII digits, sign, point, exponent, surrounding
#: blanks, and the letters of nan/inf/infinity (so those are refused as "not a finite number").
_NUMBER_CHARS = frozenset("0123456789+-.eE \tnaifty" + "NAIFTY")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return set(text) <= _NUMBER_CHARS


def split_by_dataset(names: list[str], datasets: list[str]) -> dict[str, dict[str, str]]:
    """metric name -> column per dataset: ``cifar10_valid_acc`` and ``params_mb_cifar10`` both belong to
    cifar10 (as ``valid_acc`` and ``params_mb``); other columns belong to every dataset."""
    out: dict[str, dict[str, str]] = {d: {} for d in datasets}
    for col in names:
        owner = next((d for d in datasets if col.startswith(d + "_") or col.endswith("_" + d)), None)
        for d in [owner] if owner else datasets:
            metric = col[len(d) + 1 :] if col.startswith(d + "_") else col.removesuffix("_" + d)
            out[d][metric] = col
    return out


def index_rows(genotypes: list[Genotype], identify: Callable[[Genotype], str]) -> dict[str, list[int]]:
    """Row id -> the rows holding it."""
    rows: dict[str, list[int]] = {}
    for r, genotype in enumerate(genotypes):
        rows.setdefault(identify(genotype), []).append(r)
    return rows
