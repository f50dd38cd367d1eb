"""Conformance of every registered search strategy on the real NB201 table (latent ones with a tiny model)."""

from __future__ import annotations

import pytest

from archlatent import ArchLatentError, get_space
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.search import SearchError, search
from archlatent.strategies import STRATEGIES, Told


def make(name, space, model, seed, **kwargs):
    extra = {"model": model} if STRATEGIES.get(name).needs_model else {}
    return STRATEGIES.create(name, space, seed=seed, **extra, **kwargs)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_spends_budget_on_distinct_architectures(name, nb201_table, tiny_model):
    space = get_space("nb201")

    def run(seed):
        evaluator = TabularEvaluator(nb201_table, "cifar10")
        return search(space, make(name, space, tiny_model, seed), evaluator, 60), evaluator

    result, evaluator = run(1)
    keys = [h["key"] for h in result.history]
    assert result.queries == 60 == len(set(keys)) == evaluator.cost.queries
    assert result.best["valid_acc"] == max(h["valid_acc"] for h in result.history)
    assert result.best["test_acc"] == result.history[-1]["best_test_acc"]
    assert [h["key"] for h in run(1)[0].history] == keys  # seeded: identical runs
    assert [h["key"] for h in run(2)[0].history] != keys


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_is_told_the_fate_of_every_proposal(name, nb201_table, tiny_model):
    """The loop tells each proposal's status in order; a repeat carries the earlier metrics."""
    space = get_space("nb201")
    strategy = make(name, space, tiny_model, 0)
    seen: list[list[Told]] = []
    original = strategy.tell

    def spy(told):
        seen.append(list(told))
        original(told)

    strategy.tell = spy
    result = search(space, strategy, TabularEvaluator(nb201_table, "cifar10"), 40)
    flat = [t for batch in seen for t in batch]
    assert len(flat) == result.proposals
    assert sum(t.status == "new" for t in flat) == 40 and sum(t.status == "repeat" for t in flat) == result.repeats
    for t in flat:
        assert (t.genotype is None) == (t.status == "invalid")
        assert (t.metrics is None) == (t.status in ("invalid", "skipped"))
        if t.status == "repeat":
            assert t.metrics == result.metrics[t.genotype.key()]


@pytest.mark.parametrize("name", [n for n in STRATEGIES.names() if not STRATEGIES.get(n).multi_objective])
def test_single_objective_strategies_refuse_several(name, tiny_model):
    with pytest.raises(ArchLatentError, match="single-objective"):
        make(name, get_space("nb201"), tiny_model, 0, objectives=("valid_acc", "flops_m"))


def test_unknown_setting_names_the_strategy_and_its_settings():
    with pytest.raises(ArchLatentError, match="'rea' has no setting.*population, tournament"):
        STRATEGIES.create("rea", get_space("nb201"), populaton=5)


def test_costs_are_minimized_accuracies_maximized(nb201_table):
    """One sign convention: searching on a cost finds cheap cells, on an accuracy good ones."""
    space = get_space("nb201")
    cheap = search(space, make("rea", space, None, 0, objectives=("flops_m",)), TabularEvaluator(nb201_table, "cifar10"), 80)
    good = search(space, make("rea", space, None, 0), TabularEvaluator(nb201_table, "cifar10"), 80)
    assert cheap.best["flops_m"] == min(h["flops_m"] for h in cheap.history) < good.best["flops_m"]
    assert good.best["valid_acc"] > cheap.best["valid_acc"]


def test_strategy_that_decodes_nothing_valid_fails_clearly(nb201_table):
    class Broken(STRATEGIES.get("random")):
        def ask(self):
            return [None] * 4

    space = get_space("nb201")
    with pytest.raises(SearchError, match="no valid new architecture.*invalid decodes"):
        search(space, Broken(space, seed=0), TabularEvaluator(nb201_table, "cifar10"), 10)
