"""Shared fixtures: the real benchmark tables, read through $ARCHLATENT_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _table(name: str) -> Path:
    root = os.environ.get("ARCHLATENT_DATA")
    path = Path(root) / name if root else None
    if path is None or not path.is_file():
        message = f"benchmark table {name} not found: set ARCHLATENT_DATA to the folder holding it"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing table is a failure, not a skip
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def nb201_csv() -> Path:
    """Path of the full NAS-Bench-201 table (nasbench201.csv.gz)."""
    return _table("nasbench201.csv.gz")


@pytest.fixture(scope="session")
def nb101_csv() -> Path:
    """Path of the 500-cell NAS-Bench-101 sample (nasbench101_naslib_sample500.csv.gz)."""
    return _table("nasbench101_naslib_sample500.csv.gz")


@pytest.fixture(scope="session")
def nb201_table(nb201_csv: Path):
    """The loaded NAS-Bench-201 table (shared: loading takes a second)."""
    from archlatent.evaluators.tables import load_table

    return load_table("nb201", nb201_csv)


@pytest.fixture(scope="session")
def tiny_model():
    """The NB201 gin preset trained for 3 of its 8 epochs (~4 s; 99 % held-out exact): a real latent space."""
    from archlatent.encoders import preset, pretrain

    return pretrain("nb201", "gin", seed=0, **preset("nb201", "gin", epochs=3)).model
