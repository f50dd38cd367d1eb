"""The multi-objective peers (`pymoo_nsga2`, `sms_emoa`, multi-objective `random`) on real NB201
searches of validation accuracy against FLOPs, scored against the table's exact front."""

from __future__ import annotations

import numpy as np
import pytest

from archlatent import ArchLatentError, get_space
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.fronts import exact_front
from archlatent.pareto import nondominated, objective_matrix
from archlatent.search import search
from archlatent.strategies import STRATEGIES

OBJECTIVES = ("valid_acc", "flops_m")


def run(name, table, budget, seed=0):
    space = get_space("nb201")
    strategy = STRATEGIES.create(name, space, objectives=OBJECTIVES, seed=seed)
    result = search(space, strategy, TabularEvaluator(table, "cifar10"), budget)
    return strategy, result, [result.metrics[h["key"]] for h in result.history]


@pytest.mark.parametrize("name", ["pymoo_nsga2", "sms_emoa", "random"])
def test_multi_objective_peer_searches_nb201(name, nb201_table):
    _strategy, result, found = run(name, nb201_table, 150)
    assert result.queries == 150 == len({h["key"] for h in result.history})
    exact = exact_front(TabularEvaluator(nb201_table, "cifar10"), OBJECTIVES)
    scores = exact.scores(found, [25, 150])
    assert 0.5 < scores[25]["hv_ratio"] <= scores[150]["hv_ratio"] < 1.0
    assert scores[150]["igd_plus"] <= scores[25]["igd_plus"]
    assert [h["key"] for h in run(name, nb201_table, 150)[1].history] == [h["key"] for h in result.history]


def test_pymoo_nsga2_breeds_after_its_random_population(nb201_table):
    """pymoo's default population of 100 is sampled first; later asks are its offspring."""
    strategy, _result, _ = run("pymoo_nsga2", nb201_table, 160, seed=3)
    assert strategy.algorithm.n_gen >= 2 and strategy.algorithm.pop_size == 100
    x = strategy.algorithm.pop.get("X")
    assert x.shape == (100, 6) and np.array_equal(x, np.rint(x)) and x.min() >= 0 and x.max() <= 4


def test_sms_emoa_keeps_the_front_of_what_it_evaluated(nb201_table):
    strategy, _result, found = run("sms_emoa", nb201_table, 120, seed=1)
    f = objective_matrix(found, OBJECTIVES)
    front = {tuple(row) for row in f[nondominated(f)]}
    kept = {tuple(row) for row in np.array(strategy.losses_of)}
    assert len(strategy.members) == 20 and len(front) <= 20 and front <= kept


def test_pymoo_nsga2_refuses_spaces_it_cannot_encode():
    with pytest.raises(ArchLatentError, match="pymoo_nsga2 needs NAS-Bench-201"):
        STRATEGIES.create("pymoo_nsga2", get_space("nb101"), objectives=OBJECTIVES)
    with pytest.raises(ArchLatentError, match="pop_size"):
        STRATEGIES.create("pymoo_nsga2", get_space("nb201"), pop_size=1)
    with pytest.raises(ArchLatentError, match="population"):
        STRATEGIES.create("sms_emoa", get_space("nb201"), population=1)
