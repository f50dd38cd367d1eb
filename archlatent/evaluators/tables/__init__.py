"""Benchmark tables keyed by space: each module of this package registers one space's format in `TABLES`.

Adding a table for a new space is one new file here (a `TableFormat` registered under the space's
name): this package imports every module it holds, so nothing else changes.
"""

import importlib
import pkgutil

from archlatent.evaluators.tables.base import (
    TABLES,
    BenchmarkTable,
    TableFormat,
    TableLimits,
    find_table,
    load_table,
)
from archlatent.evaluators.tables.nb101 import load_nb101_csv
from archlatent.evaluators.tables.nb201 import (
    HPOBENCH_FILES,
    HPOBENCH_SHA256,
    hpobench_folder,
    load_hpobench,
    load_nb201_csv,
)

for _module in pkgutil.iter_modules(__path__):  # registers the formats of every file, new ones included
    importlib.import_module(f"{__name__}.{_module.name}")

#: File looked for under $ARCHLATENT_DATA, per space (derived from `TABLES`, which is the source).
DEFAULT_FILES = {name: TABLES.get(name).default_file for name in TABLES.names()}

__all__ = [
    "DEFAULT_FILES",
    "HPOBENCH_FILES",
    "HPOBENCH_SHA256",
    "TABLES",
    "BenchmarkTable",
    "TableFormat",
    "TableLimits",
    "find_table",
    "hpobench_folder",
    "load_hpobench",
    "load_nb101_csv",
    "load_nb201_csv",
    "load_table",
]
