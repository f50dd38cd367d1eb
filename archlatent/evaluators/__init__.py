"""Evaluators, registered by name in `EVALUATORS`: answer `evaluate(genotypes)` from a benchmark
table (`tabular`), a weight-sharing supernet (`supernet`) or by training each architecture from
scratch (`train-final`), counting what the answers cost."""

from archlatent.evaluators.base import EVALUATORS, Cost, Evaluator
from archlatent.registry import import_plugins

import_plugins(__name__, __path__)  # registers every file's evaluator

__all__ = ["EVALUATORS", "Cost", "Evaluator"]
