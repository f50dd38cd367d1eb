"""The search loop, its journal and the baseline strategies on the real NB201 table."""

from __future__ import annotations

import pytest

from archlatent import DataError, get_space
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.journal import Journal
from archlatent.search import SearchError, search
from archlatent.strategies import STRATEGIES


@pytest.fixture(scope="module")
def table(nb201_table):
    return nb201_table


class Flaky(TabularEvaluator):
    """Fails on the `fail_at`-th call, like a crashing trainer."""

    def __init__(self, *args, fail_at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls, self.fail_at = 0, fail_at

    def evaluate(self, genotypes):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("GPU fell off the bus")
        return super().evaluate(genotypes)


def test_rea_beats_random_on_average(table):
    space = get_space("nb201")

    def mean_best(name: str) -> float:
        runs = [search(space, STRATEGIES.get(name)(space, seed=s), TabularEvaluator(table, "cifar10"), 100) for s in range(20)]
        return sum(r.best["test_acc"] for r in runs) / len(runs)

    assert mean_best("rea") > mean_best("random") + 0.1


def test_resume_after_crash_pays_nothing_twice(table, tmp_path):
    space = get_space("nb201")
    config = {"strategy": "rea", "seed": 3, "budget": 50}
    plain = search(space, STRATEGIES.get("rea")(space, seed=3), TabularEvaluator(table, "cifar10"), 50)

    journal = Journal(tmp_path / "j.sqlite", config)
    flaky = Flaky(table, "cifar10", fail_at=21)
    with pytest.raises(SearchError, match="GPU fell off the bus.*20 evaluations .* saved"):
        search(space, STRATEGIES.get("rea")(space, seed=3), flaky, 50, journal=journal)
    journal.close()

    journal = Journal(tmp_path / "j.sqlite", config)
    assert len(journal.records()) == 20
    second = TabularEvaluator(table, "cifar10")
    resumed = search(space, STRATEGIES.get("rea")(space, seed=3), second, 50, journal=journal)
    assert second.cost.queries == 30  # only the 30 missing evaluations were paid for
    assert [h["key"] for h in resumed.history] == [h["key"] for h in plain.history]
    assert resumed.best == plain.best
    assert len(Journal(tmp_path / "j.sqlite", config).records()) == 50


def test_journal_refuses_corrupt_file_and_other_run(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataError, match="bad.sqlite is corrupt"):
        Journal(bad, {})
    Journal(tmp_path / "j.sqlite", {"seed": 1}).close()
    with pytest.raises(DataError, match="another run"):
        Journal(tmp_path / "j.sqlite", {"seed": 2})


def test_labels_count_against_budget(table):
    space = get_space("nb201")
    labelled = {g: m for g, m in zip(table.genotypes[:10], TabularEvaluator(table, "cifar10").evaluate(table.genotypes[:10]))}
    evaluator = TabularEvaluator(table, "cifar10")
    result = search(space, STRATEGIES.get("random")(space, seed=0), evaluator, 30, labelled=labelled)
    assert result.label_queries == 10 and result.queries == 30 and evaluator.cost.queries == 20
    with pytest.raises(SearchError, match="budget 10 leaves nothing"):
        search(space, STRATEGIES.get("random")(space, seed=0), evaluator, 10, labelled=labelled)
