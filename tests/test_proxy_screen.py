"""A zero-cost proxy as the screen's cheap answer (``--screen zc_synflow``): the best-scored share of
each ask is evaluated, and each proxy answer is charged its seconds over the cell's training time."""

from __future__ import annotations

import numpy as np
import pytest

from archlatent.config import SearchConfig
from archlatent.errors import ArchLatentError
from archlatent.evaluators.proxy_fidelity import SHARE, ProxyFidelity, is_proxy_metric
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.evaluators.zerocost import ZeroCostEvaluator
from archlatent.run import run_search
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
    rng = np.random.default_rng(5)
    out: dict[str, object] = {}
    for i in rng.choice(len(nb201_table.genotypes), 20, replace=False):
        g = space.canonicalize(nb201_table.genotypes[i])
        out.setdefault(g.key(), g)
    return space, list(out.values())[:9]


def test_only_proxy_scores_name_a_proxy_screen():
    assert is_proxy_metric("zc_synflow") and is_proxy_metric("zc_nwot")
    assert not is_proxy_metric("params_mb") and not is_proxy_metric("valid_acc_12ep")


def test_the_proxy_screen_keeps_the_best_scored_share_and_charges_seconds_over_training_time(nb201_table, cells):
    space, cells = cells
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


def test_a_proxy_answer_carries_its_share_and_none_without_a_recorded_training_time(nb201_table, cells):
    space, cells = cells
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
