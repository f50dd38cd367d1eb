"""archlatent.checks: the one place that says a bool is not an int."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from archlatent.checks import is_int, is_number

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("value", "plain", "with_numpy", "number"), [
    (3, True, True, True),
    (0, True, True, True),
    (True, False, False, False),
    (np.bool_(True), False, False, False),
    (np.int64(3), False, True, False),
    (3.0, False, False, True),
    (np.float64(3.0), False, False, True),
    ("3", False, False, False),
    (None, False, False, False),
])
def test_predicates(value, plain, with_numpy, number):
    assert is_int(value) is plain
    assert is_int(value, numpy=True) is with_numpy
    assert is_number(value) is number


def test_the_bool_check_is_written_once():
    spelled = re.compile(r"isinstance\(([^,]+), bool\) or not isinstance\(\1, ")
    sources = [p for d in ("archlatent", "encoders", "optimizers") for p in (ROOT / d).rglob("*.py")]
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sources for i, line in enumerate(p.read_text().splitlines(), 1)
             if spelled.search(line)]
    assert sources and not found, found
