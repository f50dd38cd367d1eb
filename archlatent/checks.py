"""Type predicates for settings, written once: Python's ``bool`` is an ``int``, so ``True`` would pass
as a budget of 1 or a seed of 1 unless every check refuses it, and 29 checks once spelled that out."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_int(value: Any, *, numpy: bool = False) -> bool:
    """`value` is an integer and not a bool; with `numpy`, numpy's integer scalars count too (where the
    value never reaches JSON, e.g. a count drawn from an array)."""
    kinds = (int, np.integer) if numpy else int
    return isinstance(value, kinds) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """`value` is an int or a float and not a bool (finiteness is the caller's check)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
