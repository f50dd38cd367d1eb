"""The screen: each ask's new architectures answered cheaply first (NB201's 12-epoch column, or a
zero-cost proxy), only the best share evaluated, the cheap answers counted and charged apart, journaled for resume."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

from archlatent.benchmark import same_cost
from archlatent.config import ConfigError, SearchConfig
from archlatent.errors import ArchLatentError, DataError
from archlatent.evaluators.proxy_fidelity import SHARE, ProxyFidelity, is_proxy_metric
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.evaluators.zerocost import ZeroCostEvaluator
from archlatent.journal import Journal
from archlatent.run import build, identity, run_search
from archlatent.search import search
from archlatent.spaces import get_space
from archlatent.stages.screen import Screen
from archlatent.strategies.base import Strategy, Told


class Scripted(Strategy):
    """Proposes the given asks in turn and keeps what it is told."""

    name = "scripted"

    def __init__(self, space, asks) -> None:
        super().__init__(space, seed=0)
        self.asks, self.told = list(asks), []

    def ask(self):
        return self.asks.pop(0) if self.asks else [None]

    def tell(self, told: list[Told]) -> None:
        self.told.append(list(told))


@pytest.fixture
def cells(nb201_table):
    space = get_space("nb201")
    rng = np.random.default_rng(3)
    picked = rng.choice(len(nb201_table.genotypes), 40, replace=False)
    keys, out = set(), []
    for i in picked:
        g = space.canonicalize(nb201_table.genotypes[i])
        if g.key() not in keys:
            keys.add(g.key())
            out.append(g)
    return space, out


def twelve_epoch(table, genotypes):
    col = table.columns["cifar10"]["valid_acc_12ep"]
    return {g.key(): float(col[table.row_ids(g)].mean()) for g in genotypes}


def test_screen_evaluates_only_the_best_share_by_the_cheap_metric(nb201_table, cells):
    space, cells = cells
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    cheap, share = evaluator.fidelity("valid_acc_12ep")
    assert share == pytest.approx(12 / 200)
    assert cheap.metrics == ("valid_acc_12ep",)
    twelve = twelve_epoch(nb201_table, cells)
    best = lambda gs, n: sorted(gs, key=lambda g: -twelve[g.key()])[:n]
    first = cells[:10]
    left_out = next(g for g in first if g not in best(first, 5))
    second = [left_out, *cells[10:14]]  # one cell the first ask's screen left out, four new ones
    strategy = Scripted(space, [first, second])
    result = search(space, strategy, evaluator, budget=8, screen=Screen(cheap, "valid_acc_12ep", 0.5, share))
    assert [t.status for t in strategy.told[0]] == ["new" if g in best(first, 5) else "screened" for g in first]
    assert all(t.metrics == {"valid_acc_12ep": twelve[t.genotype.key()]} for t in strategy.told[0] if t.status == "screened")
    assert list(result.evaluated) == [g.key() for g in best(first, 5) + best(second, 3)]  # best cheap answer first
    assert result.queries == 8 and evaluator.cost.queries == 8
    assert result.screened == 14 and cheap.cost.queries == 14  # the left-out cell was answered once, not twice
    assert result.screen_cost == pytest.approx(14 * share)
    times = evaluator.columns["train_time_s"]
    assert cheap.cost.seconds == pytest.approx(share * sum(float(times[nb201_table.row_ids(g)].mean()) for g in cells[:14]))
    assert [e["screened"] for e in result.history] == [10] * 5 + [14] * 3


def test_an_ask_that_would_keep_every_candidate_is_not_screened(nb201_table, cells):
    space, cells = cells
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    cheap, share = evaluator.fidelity("valid_acc_12ep")
    strategy = Scripted(space, [[cells[0]], [cells[1], cells[1], None], cells[2:5]])
    result = search(space, strategy, evaluator, budget=4, screen=Screen(cheap, "valid_acc_12ep", 1 / 3, share))
    assert result.queries == 3 and result.screened == cheap.cost.queries == 3  # only the third ask was screened
    assert [t.status for t in strategy.told[1]] == ["new", "repeat", "invalid"]


def journaled(folder):
    db = sqlite3.connect(folder / "screen.sqlite")
    try:
        return [k for (k,) in db.execute("SELECT key FROM evals ORDER BY seq")]
    finally:
        db.close()


def test_the_screen_is_journaled_and_a_resumed_run_pays_no_cheap_answer_twice(nb201_csv, tmp_path):
    config = SearchConfig(space="nb201", strategy="local", budget=40, seed=1, evaluator_kwargs={"bench": str(nb201_csv)},
                          screen="valid_acc_12ep", screen_keep=0.4)
    whole = run_search(config)
    half = run_search(config.replace(budget=20, out=str(tmp_path)))  # killed after 20, say; then resumed to 40
    parts = build(config.replace(out=str(tmp_path)))
    resumed = run_search(config.replace(out=str(tmp_path)), parts=parts)
    assert [e["key"] for e in resumed.history] == [e["key"] for e in whole.history]
    assert resumed.screened == whole.screened > half.screened > 20
    assert len(journaled(tmp_path)) == whole.screened
    assert parts.screen.evaluator.cost.queries == whole.screened - half.screened  # the rest came from the journal


def test_auto_screens_a_single_objective_on_its_12_epoch_column_and_nothing_else(nb201_csv, nb101_csv, tiny_model):
    nb201 = {"evaluator_kwargs": {"bench": str(nb201_csv)}, "strategy": "rea"}
    parts = build(SearchConfig(space="nb201", **nb201))
    assert parts.config.screen == "valid_acc_12ep" and parts.screen.share == pytest.approx(0.06)
    assert any("valid_acc_12ep" in n for n in parts.notes)
    two = SearchConfig(space="nb201", objectives=("valid_acc", "flops_m"), optimizer="nsga2",
                       evaluator_kwargs=nb201["evaluator_kwargs"])
    assert build(two, model=tiny_model).screen is None
    assert build(SearchConfig(space="nb201", screen="none", **nb201)).screen is None
    assert build(SearchConfig(space="nb101", strategy="rea", evaluator_kwargs={"bench": str(nb101_csv)})).screen is None
    off = run_search(SearchConfig(space="nb201", budget=30, screen="none", **nb201))
    assert off.screened == 0 and "screened" not in off.history[-1]


def test_under_the_screen_an_optimizer_takes_its_screened_defaults_and_given_settings_win(nb201_csv, tiny_model):
    base = SearchConfig(space="nb201", optimizer="lamcts", evaluator_kwargs={"bench": str(nb201_csv)})
    screened = build(base, model=tiny_model)
    lamcts = screened.strategy.optimizer
    assert (lamcts.batch, lamcts.cp) == (4, 1.0) and "lamcts: batch 4, cp 1.0 under the screen (the nb201 recipe)" in " ".join(screened.notes)
    assert screened.config.optimizer_kwargs == {}  # the config keeps what the user gave
    plain = build(base.replace(screen="none"), model=tiny_model)
    assert (plain.strategy.optimizer.batch, plain.strategy.optimizer.cp) == (1, 0.1)
    assert not any(n.startswith("lamcts:") for n in plain.notes)
    mine = build(base.replace(optimizer_kwargs={"batch": 2}), model=tiny_model).strategy.optimizer
    assert (mine.batch, mine.cp) == (2, 1.0)
    nao = build(base.replace(optimizer="nao"), model=tiny_model)
    assert nao.screen is not None and not any(n.startswith("nao:") for n in nao.notes)  # nao has none


def test_a_run_written_with_another_recipe_is_refused_naming_the_field(nb201_csv, tiny_model, tmp_path):
    """The recipe (lamcts's screened batch 4 / Cp 1 included) is recorded whole; a journal or a config
    written with another one is not resumed with today's."""
    config = SearchConfig(space="nb201", optimizer="lamcts", budget=12, evaluator_kwargs={"bench": str(nb201_csv)},
                          out=str(tmp_path))
    parts = build(config, model=tiny_model)
    ident = identity(parts)
    assert ident["recipe"]["screened"]["lamcts"] == {"batch": 4, "cp": 1.0} == parts.config.recipe["screened"]["lamcts"]
    Journal(tmp_path / "journal.sqlite", {k: v for k, v in ident.items() if k != "recipe"}).close()  # 0.6.0's
    with pytest.raises(DataError, match="belongs to another run .*recipe"):
        run_search(config, parts=build(config, model=tiny_model))
    old = dict(parts.config.recipe, screened={"lamcts": {"batch": 1, "cp": 1.0}})
    with pytest.raises(ConfigError, match=r"recipe\.screened\.lamcts\.batch: 1, now 4"):
        build(config.replace(recipe=old), model=tiny_model)


def test_bad_screens_are_refused_with_one_message(nb201_csv, nb101_csv, nb201_table):
    nb201 = {"evaluator_kwargs": {"bench": str(nb201_csv)}, "strategy": "rea"}
    with pytest.raises(DataError, match="no short-training column 'valid_acc'.*valid_acc_12ep"):
        build(SearchConfig(space="nb201", screen="valid_acc", **nb201))
    with pytest.raises(ArchLatentError, match="test-set metric"):
        build(SearchConfig(space="nb201", screen="test_acc_12ep", **nb201))
    with pytest.raises(DataError, match="no short-training column"):
        build(SearchConfig(space="nb101", strategy="rea", screen="valid_acc_12ep",
                           evaluator_kwargs={"bench": str(nb101_csv)}))
    for keep in (0, 1.5, math.nan, True):
        with pytest.raises(ConfigError, match="screen_keep"):
            SearchConfig(space="nb201", screen_keep=keep)
    cheap, share = TabularEvaluator(nb201_table, "cifar10").fidelity("valid_acc_12ep")
    with pytest.raises(ArchLatentError, match="keep"):
        Screen(cheap, "valid_acc_12ep", 0.0, share)
    with pytest.raises(ArchLatentError, match="gives no 'valid_acc'"):
        Screen(cheap, "valid_acc", 0.5, share)


def test_same_cost_takes_the_last_query_within_the_total():
    tests = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    costs = np.array([[0.5, 0.5, 1.0, 1.0], [4.0, 4.0, 4.0, 4.0]])
    assert same_cost(tests, costs, 3).tolist()[0] == 2.0  # 2 + 0.5 <= 3 < 3 + 1.0
    assert math.isnan(same_cost(tests, costs, 3)[1])  # even the first query cost 5
    assert same_cost(tests, costs, 8).tolist() == [4.0, 8.0]


def test_the_cli_screens_by_default_says_so_and_counts_it(nb201_csv, tmp_path, capsys):
    import json

    from archlatent.cli import main

    common = ["--space", "nb201", "--bench", str(nb201_csv), "--strategy", "random", "--budget", "20"]
    assert main(["search", *common, "--out", str(tmp_path / "on")]) == 0
    out, err = capsys.readouterr()
    doc = json.loads((tmp_path / "on" / "result.json").read_text())
    assert doc["config"]["screen"] == "valid_acc_12ep" and "valid_acc_12ep first" in err
    assert json.loads(out)["screened"] == doc["screened"] >= 40  # random asks 16, a third is evaluated
    assert doc["screen_cost"] == pytest.approx(doc["screened"] * 12 / 200)
    assert len(journaled(tmp_path / "on")) == doc["screened"]
    assert main(["search", *common, "--screen", "none", "--out", str(tmp_path / "off")]) == 0
    capsys.readouterr()
    off = json.loads((tmp_path / "off" / "result.json").read_text())
    assert off["screened"] == 0 and off["config"]["screen"] == "none" and not (tmp_path / "off" / "screen.sqlite").exists()
    assert main(["search", *common, "--screen-keep", "1.5", "--out", str(tmp_path / "bad")]) == 2
    assert "screen_keep" in capsys.readouterr().err
    bench = ["--space", "nb201", "--bench", str(nb201_csv), "--methods", "random", "--budget", "20", "--seeds", "2"]
    assert main(["benchmark", *bench, "--screen-keep", "0.5", "--out", str(tmp_path / "b")]) == 0
    budgets = json.loads((tmp_path / "b" / "summary.json").read_text())["budgets"]["random"]["20"]
    assert "Screened on valid_acc_12ep" in (tmp_path / "b" / "table.md").read_text()
    runs = [json.loads(line) for line in (tmp_path / "b" / "runs.jsonl").read_text().splitlines()]
    assert all(r["screen"] == "valid_acc_12ep" and 0 < r["screen_seconds"] < r["trained_seconds"] for r in runs)
    costs = np.array([r["screen_costs"] for r in runs])
    assert costs.shape == (2, 20) and (np.diff(costs, axis=1) >= 0).all() and budgets["screen_cost"] == costs[:, -1].mean()
    tests = np.array([r["tests"] for r in runs])
    assert budgets["mean_test_acc_same_cost"] == pytest.approx(same_cost(tests, costs, 20).mean())


# A zero-cost proxy as the cheap answer (--screen zc_synflow): the best-scored share of each ask is
# evaluated, and each proxy answer is charged its seconds over the cell's training time.


@pytest.fixture
def proxy_cells(nb201_table):
    space = get_space("nb201")
    rng = np.random.default_rng(5)
    out: dict[str, object] = {}
    for i in rng.choice(len(nb201_table.genotypes), 20, replace=False):
        g = space.canonicalize(nb201_table.genotypes[i])
        out.setdefault(g.key(), g)
    return space, list(out.values())[:9]


def test_only_proxy_scores_name_a_proxy_screen():
    assert is_proxy_metric("zc_synflow") and is_proxy_metric("zc_nwot")
    assert not is_proxy_metric("params_mb") and not is_proxy_metric("valid_acc_12ep")


def test_the_proxy_screen_keeps_the_best_scored_share_and_charges_seconds_over_training_time(nb201_table, proxy_cells):
    space, cells = proxy_cells
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    proxy = ProxyFidelity(space, evaluator, "zc_synflow", seed=0)
    scores = {g.key(): ZeroCostEvaluator(space, proxies="synflow", seed=0).scores(g)["zc_synflow"] for g in cells}
    strategy = Scripted(space, [cells])
    result = search(space, strategy, evaluator, budget=3, screen=Screen(proxy, "zc_synflow", 1 / 3, 0.0))
    best = sorted(cells, key=lambda g: -scores[g.key()])[:3]
    assert list(result.evaluated) == [g.key() for g in best]  # the highest synflow first, the same weights
    assert [t.status for t in strategy.told[0]] == ["new" if g in best else "screened" for g in cells]
    assert all(t.metrics == {"zc_synflow": pytest.approx(scores[t.genotype.key()], rel=1e-9)}
               for t in strategy.told[0] if t.status == "screened")
    assert result.screened == proxy.cost.queries == 9 and result.queries == 3
    train = evaluator.answer_seconds(cells)
    assert all(t > 60 for t in train)  # NB201's 200-epoch runs: minutes per cell
    # each answer's share is its measured seconds over its cell's training time, so the total is bounded
    # by the seconds spent over the shortest and the longest training time
    assert proxy.cost.seconds / max(train) <= result.screen_cost <= proxy.cost.seconds / min(train)
    assert 0 < result.screen_cost < 9 * 12 / 200  # far cheaper than nine 12-epoch answers


def test_a_proxy_answer_carries_its_share_and_none_without_a_recorded_training_time(nb201_table, proxy_cells):
    space, cells = proxy_cells
    table = TabularEvaluator(nb201_table, "cifar10")
    answers = ProxyFidelity(space, table, "zc_synflow").evaluate(cells[:2])
    assert all(0 < a[SHARE] < 1e-2 and a["zc_synflow"] > 0 for a in answers)
    sizes = ZeroCostEvaluator(space, proxies="params")  # answers, but records no training time
    assert sizes.answer_seconds(cells[:2]) is None
    proxy = ProxyFidelity(space, sizes, "zc_synflow")
    assert [a[SHARE] for a in proxy.evaluate(cells[:2])] == [0.0, 0.0] and proxy.cost.seconds > 0


def test_run_search_screens_by_synflow_and_records_it(nb201_table):
    result = run_search(SearchConfig(space="nb201", strategy="random", budget=6, seed=1, screen="zc_synflow"))
    assert result.queries == 6 and result.screened >= 12 and 0 < result.screen_cost < 0.01
    assert any("zc_synflow" in n for n in result.notes)


@pytest.mark.parametrize("screen, words", [("zc_bogus", "no zero-cost proxy answers 'zc_bogus'"),
                                           ("zc_synflow@nb101", "standalone network of space 'nb101'")])
def test_a_proxy_screen_that_cannot_be_answered_is_refused_before_any_work(screen, words):
    metric, _, space = screen.partition("@")
    with pytest.raises(ArchLatentError, match=words):
        run_search(SearchConfig(space=space or "nb201", strategy="random", budget=4, screen=metric))
