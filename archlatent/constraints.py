"""Constraints on free costs: ``hw_latency_ms_pixel3<=5``, parsed, checked and tested against cost answers.

Costs are free, accuracy is not: a metric a user has without training a network (its parameters,
its FLOPs, a latency lookup or measurement; `is_cost` says which by name) is answered by the
evaluator's `costs` without a query, so a search can tell a cell that breaks a constraint before it
pays for its accuracy (`archlatent.stages.constraint`). A constraint on an accuracy would need that
query, so it is refused, as are unknown metrics and constraints no cell of a table can meet
(`check_constraints`, before anything runs).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archlatent.bounds import BoundError, check
from archlatent.errors import ArchLatentError

#: The first word of a cost metric's name (``params_mb``, ``flops_m``, ``latency_s``, ``hw_latency_ms_fpga``).
COST_WORDS = ("params", "flops", "macs", "latency")
#: Comparisons a constraint may use (longest first, so ``<=`` is not read as ``<``).
OPERATORS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "<": operator.lt,
                                                        ">": operator.gt}
#: The longest constraint text accepted.
MAX_TEXT = 200
_FORM = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")


class ConstraintError(ArchLatentError, ValueError):
    """A constraint is malformed, names no cost of the evaluator, or no cell can meet it."""


def is_cost(metric: str) -> bool:
    """Whether `metric` is a cost a user has without training: its name starts with a word of
    `COST_WORDS` or with ``hw_latency`` (not ``train_time_s``: that takes the training)."""
    return metric.split("_")[0] in COST_WORDS or metric.startswith("hw_latency")


@dataclass(frozen=True)
class Constraint:
    """``metric op value``: a cell is feasible when its `metric` compares so with `value`."""

    metric: str
    op: str
    value: float

    @property
    def text(self) -> str:
        """The constraint as written in a config (``hw_latency_ms_pixel3<=5``)."""
        short = f"{self.value:g}"
        return f"{self.metric}{self.op}{short if float(short) == self.value else repr(self.value)}"

    def holds(self, value: float) -> bool:
        """Whether a cell with this metric `value` meets the constraint."""
        return bool(OPERATORS[self.op](value, self.value))

    def mask(self, values: np.ndarray) -> np.ndarray:
        """`holds` over an array. Shapes: values [n] -> [n] bool."""
        return np.asarray(OPERATORS[self.op](values, self.value), dtype=bool)


def parse_constraint(text: Any) -> Constraint:
    """``METRIC<=V`` (also ``<``, ``>=``, ``>``; V a finite decimal number) as a `Constraint`."""
    if not isinstance(text, str):
        raise ConstraintError(f"a constraint must be text such as 'hw_latency_ms_pixel3<=5', got {text!r:.100}")
    if len(text) > MAX_TEXT:
        raise ConstraintError(f"constraint of {len(text)} characters refused (at most {MAX_TEXT})")
    found = _FORM.fullmatch(text)
    if found is None:
        raise ConstraintError(f"constraint {text!r} is not METRIC<=V, METRIC<V, METRIC>=V or METRIC>V with V a number "
                              "(e.g. 'hw_latency_ms_pixel3<=5')")
    value = float(found[3])
    if not math.isfinite(value):
        raise ConstraintError(f"constraint {text!r}: the bound must be a finite number")
    return Constraint(found[1], found[2], value)


def parse_constraints(texts: Sequence[Any]) -> tuple[Constraint, ...]:
    """Every constraint of `texts` parsed; one metric may be bounded twice (a range), the same text not."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ConstraintError(f"constraints must be a list of texts such as ['flops_m<=100'], got {texts!r:.100}")
    try:
        check("constraints", len(texts))
    except BoundError as err:
        raise ConstraintError(str(err)) from None
    parsed = tuple(parse_constraint(t) for t in texts)
    twice = sorted({c.text for c in parsed if parsed.count(c) > 1})
    if twice:
        raise ConstraintError(f"constraint {twice[0]!r} is given twice")
    return parsed


def meets(constraints: Sequence[Constraint], costs: Mapping[str, float]) -> bool:
    """Whether a cell whose cost answers are `costs` meets every constraint."""
    return all(c.holds(costs[c.metric]) for c in constraints)


def check_constraints(constraints: Sequence[Constraint], evaluator: Any) -> None:
    """ConstraintError unless every constraint names a free cost of `evaluator` and, where the evaluator
    holds a table, some cell of it meets them all (checked over the table's rows)."""
    if not constraints:
        return
    free = tuple(getattr(evaluator, "free_metrics", ()))
    for c in constraints:
        if c.metric in free:
            continue
        if c.metric in evaluator.metrics:
            why = ("an accuracy: it would take a query to check, so it cannot be a constraint"
                   if "acc" in c.metric.split("_") else "not a cost answered without training")
            raise ConstraintError(f"constraint {c.text!r}: {c.metric!r} is {why}; constraints name free costs: "
                                  f"{', '.join(free) or 'none (this evaluator answers no cost without a query)'}")
        raise ConstraintError(f"constraint {c.text!r}: unknown metric {c.metric!r}; this evaluator's free costs are: "
                              f"{', '.join(free) or 'none'}")
    mask = feasible_rows(constraints, evaluator)
    if mask is not None and not mask.any():
        span = "; ".join(f"{m} ranges {_span(evaluator, m)}" for m in dict.fromkeys(c.metric for c in constraints))
        raise ConstraintError(f"no cell of the table meets {' and '.join(repr(c.text) for c in constraints)} ({span})")


def feasible_rows(constraints: Sequence[Constraint], evaluator: Any) -> np.ndarray | None:
    """Which rows of `evaluator`'s table (those its dataset holds) meet every constraint; None without a
    table. Shapes: -> [rows] bool."""
    columns, held = getattr(evaluator, "columns", None), getattr(evaluator, "held", None)
    if columns is None or held is None:
        return None
    mask = np.array(held, dtype=bool)
    for c in constraints:
        mask &= c.mask(columns[c.metric])
    return mask


def _span(evaluator: Any, metric: str) -> str:
    values = evaluator.columns[metric][evaluator.held]
    return f"{values.min():.6g}..{values.max():.6g}"
