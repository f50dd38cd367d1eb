"""Conformance of every registered evaluator: built by name, answers with its declared metrics, charges
each answer, refuses a genotype of another space before any work, and travels (pickles) unchanged."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from test_executors import BUILDERS, SPACE  # one small build per evaluator, shared with the Ray tests

from archlatent import InvalidArchitecture, get_space
from archlatent.evaluators.base import EVALUATORS


@pytest.mark.parametrize("name", EVALUATORS.names())
def test_evaluator_contract(name, nb201_table, tmp_path):
    assert name in BUILDERS, f"add a small build of evaluator {name!r} to BUILDERS in test_executors.py"
    evaluator = BUILDERS[name](tmp_path, nb201_table)
    genotypes = [SPACE.sample(np.random.default_rng(s)) for s in range(2)]
    answers = evaluator.evaluate(genotypes)
    assert len(answers) == 2 and evaluator.cost.queries == 2
    assert all(set(evaluator.metrics) <= set(a) and np.isfinite(list(a.values())).all() for a in answers)
    other = get_space("darts").sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchitecture):
        evaluator.evaluate([genotypes[0], other])
    assert evaluator.cost.queries == 2  # the refused batch cost nothing
    copy = pickle.loads(pickle.dumps(evaluator))
    drop = "train_time_s"
    assert [{k: v for k, v in m.items() if k != drop} for m in copy.evaluate(genotypes)] == \
        [{k: v for k, v in m.items() if k != drop} for m in answers]
