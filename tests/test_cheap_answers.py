"""The screen's cheap answers reach the strategy (issue 27 step 2): screened-out rows are told
``screened`` with their 12-epoch answer, and the latent strategy's ``cheap_answers`` decides what its
optimizer makes of them (reject, drop, calibrate); the setting is recorded in the recipe and compared
on resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from archlatent.config import ConfigError, SearchConfig
from archlatent.encoders import Portfolio
from archlatent.errors import ArchLatentError
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.plugin_settings import check_config
from archlatent.recipes import check_recipe, recipe
from archlatent.run import build, run_search
from archlatent.search import search
from archlatent.spaces import get_space
from archlatent.stages.screen import Screen
from archlatent.strategies import STRATEGIES
from archlatent.strategies.base import Told
from archlatent.strategies.cheap import MIN_PAIRS

CHEAP = "valid_acc_12ep"


def _recorded(strategy):
    """Wrap `strategy.tell` to keep every list it is told."""
    told, tell = [], strategy.tell
    strategy.tell = lambda rows: (told.append(list(rows)), tell(rows))[1]
    return told


def _search(nb201_table, tiny_model, cheap_answers, seed=0, budget=40, relabel=None):
    """A real NB201 search with the default stages and the screen on (one autoencoder)."""
    config = SearchConfig(space="nb201", budget=budget, seed=seed, strategy_kwargs={"cheap_answers": cheap_answers})
    parts = build(config, model=Portfolio([tiny_model]), evaluator=TabularEvaluator(nb201_table, "cifar10"))
    assert parts.screen is not None and parts.strategy.cheap.mode == cheap_answers
    if relabel is not None:  # what the strategy is told, rewritten on its way
        tell = parts.strategy.tell
        parts.strategy.tell = lambda rows: tell([relabel(t) for t in rows])
    told = _recorded(parts.strategy)  # as the search tells it
    return run_search(config, parts=parts), told, parts


def test_every_screened_out_row_is_told_screened_with_its_cheap_answer(nb201_table, tiny_model):
    result, told, _ = _search(nb201_table, tiny_model, "reject")
    col = nb201_table.columns["cifar10"][CHEAP]
    screened = [t for rows in told for t in rows if t.status == "screened"]
    assert len(screened) >= 10 and result.screened >= len({t.genotype.key() for t in screened})
    for t in screened:
        assert t.metrics == {CHEAP: pytest.approx(float(col[nb201_table.row_ids(t.genotype)].mean()))}
    for rows in told[:-1]:  # the budget is left until the last round: nothing is skipped
        assert "skipped" not in {t.status for t in rows}
        new = {t.genotype.key() for t in rows if t.status == "new"}
        assert all(t.genotype.key() not in new for t in rows if t.status == "screened")
    assert all(CHEAP in t.metrics for rows in told for t in rows if t.status == "new" and t.metrics)


def test_a_row_left_out_once_the_budget_is_spent_stays_skipped(nb201_table, tiny_model):
    result, told, _ = _search(nb201_table, tiny_model, "reject", budget=8)
    assert result.queries == 8 and "skipped" in {t.status for t in told[-1]}
    assert all(t.metrics is None for t in told[-1] if t.status == "skipped")


def test_reject_tells_the_optimizer_what_the_skipped_status_told_it(nb201_table, tiny_model):
    """``reject`` is 0.7.0's behaviour: the same search with screened rows told as 0.7.0 told them
    (``skipped``, no metrics) gives the same history."""
    as_before = lambda t: Told(t.genotype, None, "skipped") if t.status == "screened" else t
    now, _, _ = _search(nb201_table, tiny_model, "reject", seed=3, budget=60)
    before, told, _ = _search(nb201_table, tiny_model, "reject", seed=3, budget=60, relabel=as_before)
    assert [e["key"] for e in now.history] == [e["key"] for e in before.history]
    assert now.screen_cost == before.screen_cost and now.best == before.best
    assert any(t.status == "screened" for rows in told for t in rows)


def _latent(nb201_table, tiny_model, cheap_answers, labelled=30):
    """A latent NAO strategy warm-started with `labelled` NB201 cells, so its first ask moves starts."""
    space = get_space("nb201")
    strategy = STRATEGIES.create("latent", space, model=tiny_model, optimizer="nao", seed=0,
                                 optimizer_kwargs={"top_k": 6}, cheap_answers=cheap_answers)
    rng = np.random.default_rng(5)
    cells = list({g.key(): g for g in (space.canonicalize(space.sample(rng)) for _ in range(labelled))}.values())
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    strategy.warm_start(cells, evaluator.evaluate(cells))
    return strategy, evaluator


def _tell_two_new_rest_screened(strategy, evaluator):
    """Ask once; tell the first two valid rows as evaluated and the other valid ones as screened (their
    12-epoch answer)."""
    asked = strategy.ask()
    told, valid = [], 0
    for g in asked:
        if g is None:
            told.append(Told(None, None, "invalid"))
            continue
        m = evaluator.evaluate([g])[0]
        told.append(Told(g, m, "new") if valid < 2 else Told(g, {CHEAP: m[CHEAP]}, "screened"))
        valid += 1
    assert len(told) == 6 and valid >= 4
    before = strategy.optimizer.history()[0].shape[0]
    strategy.tell(told)
    return told, before


def test_drop_tells_the_optimizer_nothing_for_screened_rows(nb201_table, tiny_model):
    strategy, evaluator = _latent(nb201_table, tiny_model, "drop")
    told, before = _tell_two_new_rest_screened(strategy, evaluator)
    opt, screened = strategy.optimizer, [t.status == "screened" for t in told]
    assert opt.history()[0].shape[0] == before + 2  # only the evaluated rows
    assert opt.withdrawn.tolist() == screened
    invalid = told.count(Told(None, None, "invalid"))
    assert len(opt.step_sizes) == invalid  # NAO widens the steps of rejected rows only
    rejecting, evaluator = _latent(nb201_table, tiny_model, "reject")
    told, _ = _tell_two_new_rest_screened(rejecting, evaluator)
    assert not rejecting.optimizer.withdrawn.any()
    assert len(rejecting.optimizer.step_sizes) == sum(t.status in ("screened", "invalid") for t in told)


@pytest.mark.parametrize("mode", ["calibrate", "pessimistic"])
def test_calibrate_tells_feasible_values_on_the_full_metrics_scale(nb201_table, tiny_model, mode):
    strategy, evaluator = _latent(nb201_table, tiny_model, mode)
    told, before = _tell_two_new_rest_screened(strategy, evaluator)
    z, f, feasible = strategy.optimizer.history()
    assert z.shape[0] == before + sum(t.status != "invalid" for t in told) and bool(feasible[before:].all())
    pairs = np.array([(m[CHEAP], m["valid_acc"]) for m in strategy.cheap.full.values()])
    a, b = np.polyfit(pairs[:, 0], pairs[:, 1], 1)  # least squares, independently
    worse = np.sqrt(np.mean((pairs[:, 1] - a * pairs[:, 0] - b) ** 2)) if mode == "pessimistic" else 0.0
    assert worse == 0.0 or 0.1 < worse < 10  # the line's residual, in accuracy points
    screened = [t for t in told if t.status == "screened"]
    expected = [-(a * t.metrics[CHEAP] + b - worse) for t in screened]  # accuracies are maximized: losses negated
    assert f[before + 2 :, 0].tolist() == pytest.approx(expected, rel=1e-4)
    full = [evaluator.evaluate([t.genotype])[0]["valid_acc"] for t in screened]
    assert np.abs(np.array(full) + np.array(expected)).mean() < np.abs(np.array(full) - [t.metrics[CHEAP] for t in screened]).mean()


def test_calibrate_rejects_until_enough_cells_have_both_answers(nb201_table, tiny_model):
    strategy, evaluator = _latent(nb201_table, tiny_model, "calibrate", labelled=MIN_PAIRS - 3)
    _, before = _tell_two_new_rest_screened(strategy, evaluator)  # MIN_PAIRS - 1 pairs by then
    z, _, feasible = strategy.optimizer.history()
    assert z.shape[0] == before + 2 and bool(feasible.all())


def test_baselines_accept_screened_rows(nb201_table):
    space = get_space("nb201")
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    cheap, share = evaluator.fidelity(CHEAP)
    for name in ("rea", "local", "random", "lanas"):
        strategy = STRATEGIES.create(name, space, seed=0)
        told = _recorded(strategy)
        result = search(space, strategy, evaluator, budget=30, screen=Screen(cheap, CHEAP, 1 / 3, share))
        assert result.queries == 30
        if name in ("local", "random"):  # asks of several cells: the screen leaves some out
            assert any(t.status == "screened" for rows in told for t in rows)


def test_cheap_answers_is_one_setting_checked_first_and_recorded_in_the_recipe():
    assert recipe("nb201").strategy == {"cheap_answers": "reject"} and recipe("nb101").strategy == {}
    assert set(recipe("nb201").strategy) <= set(STRATEGIES.settings("latent"))
    with pytest.raises(ConfigError, match="cheap_answers"):
        check_config(SearchConfig(space="nb201", strategy_kwargs={"cheap_answers": "maybe"}))
    with pytest.raises(ArchLatentError, match="cheap_answers must be one of reject, drop, calibrate, pessimistic"):
        STRATEGIES.create("latent", get_space("nb201"), model=_Stub(), cheap_answers="maybe")


class _Stub(torch.nn.Module):
    latent_dim, latent_loc, latent_scale = 2, torch.zeros(2), torch.ones(2)


def test_a_run_recorded_with_another_cheap_answers_is_refused_on_resume(tmp_path, tiny_model, nb201_table):
    default = build(SearchConfig(space="nb201"), model=Portfolio([tiny_model]), evaluator=TabularEvaluator(nb201_table, "cifar10"))
    assert default.strategy.cheap.mode == "reject" and default.config.recipe["strategy"] == {"cheap_answers": "reject"}
    recorded = recipe("nb201").to_dict()
    changed = json.loads(json.dumps(recorded))
    changed["strategy"]["cheap_answers"] = "drop" if recorded["strategy"]["cheap_answers"] != "drop" else "reject"
    with pytest.raises(ConfigError, match=r"recipe\.strategy\.cheap_answers"):
        check_recipe(changed, "nb201")
    config = SearchConfig(space="nb201", budget=20, recipe=changed)
    with pytest.raises(ConfigError, match=r"recipe\.strategy\.cheap_answers"):
        build(config, model=Portfolio([tiny_model]), evaluator=TabularEvaluator(nb201_table, "cifar10"))
