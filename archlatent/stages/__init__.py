"""Stages between a strategy's ask and the evaluator, one file each, registered by name in `STAGES`:
`constraint` (cells that break a constraint on a free cost are dropped first), `repair` (repeats become unseen neighbours), `neighbours` (of the incumbent), `rank` (best predicted
first) and `screen` (a cheap fidelity first, only the best share evaluated)."""

from archlatent.registry import import_plugins
from archlatent.stages.base import STAGES, Ask, Context, Stage

import_plugins(__name__, __path__)  # registers every file's stage

__all__ = ["STAGES", "Ask", "Context", "Stage"]
