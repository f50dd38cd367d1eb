"""The stages between a strategy's ask and the evaluator (`archlatent.stages`): a conformance suite
over the registry, then each stage's behaviour on real NB201 latent spaces."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
import torch

from archlatent.config import SearchConfig
from archlatent.encoders import Portfolio, preset, pretrain
from archlatent.errors import ArchLatentError
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.executors.base import LocalExecutor
from archlatent.run import build
from archlatent.search import search
from archlatent.spaces import get_space
from archlatent.stages import STAGES, Ask, Context
from archlatent.stages.neighbours import Neighbours
from archlatent.stages.rank import Rank
from archlatent.strategies import STRATEGIES
from archlatent.strategies.base import Told


@pytest.fixture(scope="module")
def pair(tiny_model) -> Portfolio:
    return Portfolio([tiny_model, pretrain("nb201", "gin", seed=1, **preset("nb201", "gin", epochs=1)).model])


def _make(name, nb201_table):
    if name == "screen":
        cheap, share = TabularEvaluator(nb201_table, "cifar10").fidelity("valid_acc_12ep")
        return STAGES.create(name, evaluator=cheap, metric="valid_acc_12ep", keep=0.5, share=share)
    if name == "constraint":
        return STAGES.create(name, evaluator=TabularEvaluator(nb201_table, "cifar10"), constraints=["flops_m<=50"])
    return STAGES.create(name)


@pytest.mark.parametrize("name", STAGES.names())
def test_a_stage_keeps_the_strategy_rows_and_orders_every_row_once(name, nb201_table, pair):
    """Every stage returns an ask whose order is a permutation of its rows, leaves the strategy's row
    count alone, and never imports the search loop."""
    space = get_space("nb201")
    stage = _make(name, nb201_table)
    strategy = STRATEGIES.create("portfolio", space, model=pair, optimizer="bo", seed=0)
    rng = np.random.default_rng(0)
    labelled = list({g.key(): g for g in (space.sample(rng) for _ in range(20))}.values())
    metrics = TabularEvaluator(nb201_table, "cifar10").evaluate(labelled)
    strategy.warm_start(labelled, metrics)
    seen = {g.key() for g in labelled}
    ctx = Context(space, seen, ("valid_acc",), strategy.rng, LocalExecutor(), strategy.predict, False)
    stage.tell([Told(g, m, "new") for g, m in zip(labelled, metrics)], ctx)
    proposals = [*labelled[:3], None, *(space.sample(rng) for _ in range(8))]
    ask = stage(Ask.of(proposals), ctx)
    assert ask.asked == len(proposals) and sorted(ask.order) == list(range(len(ask.genotypes)))
    assert ask.dropped <= set(range(len(ask.genotypes))) and ask.genotypes[3] is None
    source = inspect.getsource(inspect.getmodule(type(stage)))
    imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    assert "archlatent.search" not in imported and "archlatent.run" not in imported
    assert type(stage).__doc__ and inspect.getmodule(type(stage)).__doc__


def test_neighbours_of_the_best_join_each_ask_ranked_by_the_members(pair, nb201_table):
    space = get_space("nb201")
    strategy = STRATEGIES.create("portfolio", space, model=pair, optimizer="nao", seed=1)
    stage = Neighbours(3)
    result = search(space, strategy, TabularEvaluator(nb201_table, "cifar10"), budget=40, stages=[stage])
    best = max(result.history, key=lambda h: h["valid_acc"])
    assert stage.best is not None and stage.best[1].key() == best["key"]
    assert all(int(m.optimizer.history()[2].sum()) == 40 for m in strategy.members)  # extra rows reached every member
    ctx = Context(space, result.metrics.keys(), ("valid_acc",), strategy.rng, LocalExecutor(), strategy.predict, True)
    ask = stage(Ask.of(strategy.ask()), ctx)
    ring = {g.key(): g for g in space.neighbours(stage.best[1]) if g.key() not in result.metrics}
    assert len(ask.extra) == 3 and all(g.key() in ring for g in ask.extra)
    rest = [g for k, g in ring.items() if k not in {g.key() for g in ask.extra}]
    assert float(strategy.predict(ask.extra).max()) <= float(strategy.predict(rest).min())  # the members' favourites


def test_rank_orders_the_ask_best_predicted_first_and_each_member_is_told_its_own_rows(pair, nb201_table):
    """Ranking only reorders: each member is told what it would be told unranked."""
    space, evaluator = get_space("nb201"), TabularEvaluator(nb201_table, "cifar10")
    rng = np.random.default_rng(0)
    labelled = list({g.key(): g for g in (space.sample(rng) for _ in range(30))}.values())
    metrics = evaluator.evaluate(labelled)
    twins = []
    for ranked in (True, False):
        strategy = STRATEGIES.create("portfolio", space, model=pair, optimizer="nao", seed=4)
        strategy.warm_start(labelled, metrics)
        ctx = Context(space, set(), ("valid_acc",), strategy.rng, LocalExecutor(), strategy.predict, True)
        ask = Ask.of(strategy.ask())
        twins.append((strategy, Rank()(ask, ctx) if ranked else ask))
    (ranked, ask), (plain, same) = twins
    assert ask.genotypes == same.genotypes and ask.order != same.order
    rows = [ask.genotypes[i] for i in ask.order]
    valid = [g for g in rows if g is not None]
    assert rows[: len(valid)] == valid  # undecodable rows last
    scores = ranked.predict(valid)
    assert scores is not None and bool((scores[1:] >= scores[:-1]).all())
    for strategy, a in twins:
        strategy.tell([Told(g, None, "invalid") if g is None else Told(g, evaluator.evaluate([g])[0], "new")
                       for g in a.genotypes])
    for a, b in zip(ranked.members, plain.members):
        assert all(torch.equal(x, y) for x, y in zip(a.optimizer.history(), b.optimizer.history()))
    ranked.ask()
    with pytest.raises(ArchLatentError, match="answers for an ask of"):
        ranked.tell([Told(None, None, "invalid")])


def test_stage_settings_are_checked(nb201_csv, tiny_model):
    with pytest.raises(ArchLatentError, match="count must be an int >= 0"):
        STAGES.create("neighbours", count=-1)
    with pytest.raises(ArchLatentError, match="has no setting"):
        STAGES.create("rank", depth=2)
    base = SearchConfig(space="nb201", evaluator_kwargs={"bench": str(nb201_csv)})
    with pytest.raises(ArchLatentError, match="rank must be true or false"):
        build(base.replace(strategy_kwargs={"rank": 3}), model=tiny_model)
    with pytest.raises(ArchLatentError, match="needs a single objective"):
        build(base.replace(optimizer="nsga2", strategy_kwargs={"neighbours": 2}, objectives=("valid_acc", "params_mb")),
              model=tiny_model)


def test_repair_moves_repeats_to_unseen_neighbours_unless_the_strategy_wants_them_told():
    space = get_space("nb201")
    rng = np.random.default_rng(1)
    seen_cell, fresh = space.canonicalize(space.sample(rng)), space.canonicalize(space.sample(rng))
    seen = {seen_cell.key()}
    proposals = [seen_cell, fresh, fresh, None]
    ctx = Context(space, seen, ("valid_acc",), np.random.default_rng(0), LocalExecutor())
    ask = STAGES.create("repair")(Ask.of(list(proposals)), ctx)
    keys = [g.key() for g in ask.genotypes if g is not None]
    assert ask.genotypes[1] == fresh and ask.genotypes[3] is None and len(set(keys)) == 3 and seen_cell.key() not in keys
    near = {g.key() for g in space.neighbours(seen_cell)} | {h.key() for g in space.neighbours(seen_cell) for h in space.neighbours(g)}
    assert ask.genotypes[0].key() in near  # one edit away, or two
    told = Context(space, seen, ("valid_acc",), np.random.default_rng(0), LocalExecutor(), rejects_repeats=True)
    assert STAGES.create("repair")(Ask.of(list(proposals)), told).genotypes == proposals


def test_rows_a_stage_adds_are_canonicalized_before_they_are_evaluated(nb201_table):
    """A neighbour can come with dead edges; the loop evaluates (and records) its canonical form, as it
    does the strategy's own proposals."""
    from archlatent.stages.base import Stage

    space = get_space("nb201")
    raw = space.from_ops(["nor_conv_3x3", "none", "none", "skip_connect", "none", "none"])  # edges off every path
    assert space.canonicalize(raw) != raw

    class Adds(Stage):
        def __call__(self, ask, ctx):
            if raw.key() not in ctx.seen:
                ask.add([raw])
                ask.order = [ask.order[-1], *ask.order[:-1]]  # evaluated first
            return ask

    strategy = STRATEGIES.create("random", space, seed=0)
    result = search(space, strategy, TabularEvaluator(nb201_table, "cifar10"), budget=5, stages=[Adds()])
    assert result.evaluated[raw.key()] == space.canonicalize(raw)
    assert result.metrics[raw.key()] == TabularEvaluator(nb201_table, "cifar10").evaluate([space.canonicalize(raw)])[0]
