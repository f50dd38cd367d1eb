"""Labels from the user's own data: a CSV of (genotype text, metric) for any space.

The file has a header naming the genotype column ``arch`` and the metric (e.g. ``valid_acc``), then
one row per labelled architecture, e.g. accuracies a DARTS user measured with their own training::

    arch,valid_acc
    "Genotype(normal=[...], ...)",93.1

The labelled genotypes join the autoencoder's training set, train its score head, and are charged
to every search that uses the model (they were paid for).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from archlatent.errors import ArchLatentError, DataError
from archlatent.genotype import Genotype
from archlatent.spaces.base import SearchSpace

#: Largest labels file read (rows); a typo'd path to a huge file fails fast.
MAX_ROWS = 1_000_000


def read_labels(path: str | Path, space: SearchSpace, metric: str) -> dict[Genotype, float]:
    """{genotype: value} from the CSV at `path`; DataError naming the row for anything malformed."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or "arch" not in header or metric not in header:
                raise DataError(f"labels file {path} needs a header with columns 'arch' and {metric!r}, got {header}")
            col_arch, col_metric = header.index("arch"), header.index(metric)
            labels: dict[Genotype, float] = {}
            for line, row in enumerate(reader, start=2):
                if line > MAX_ROWS:
                    raise DataError(f"labels file {path} has more than {MAX_ROWS} rows")
                if len(row) != len(header):
                    raise DataError(f"labels file {path} row {line} has {len(row)} fields, the header {len(header)}")
                try:
                    genotype = space.canonicalize(space.parse(row[col_arch]))
                except ArchLatentError as err:
                    raise DataError(f"labels file {path} row {line}: {err}") from None
                try:
                    value = float(row[col_metric])
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    raise DataError(f"labels file {path} row {line}: {metric} {row[col_metric][:50]!r} is not a finite number")
                labels[genotype] = value
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read labels file {path}: {err}") from None
    if not labels:
        raise DataError(f"labels file {path} holds no labelled architecture")
    return labels
