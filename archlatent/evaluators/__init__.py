"""Evaluators, registered by name in `EVALUATORS`: answer `evaluate(genotypes)` from a benchmark
table (`tabular`) or a weight-sharing supernet (`supernet`), counting what the answers cost."""

from archlatent.evaluators.base import EVALUATORS, Cost, Evaluator

__all__ = ["EVALUATORS", "Cost", "Evaluator"]
