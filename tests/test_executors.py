"""Executors: every registered one gives the same history as a plain search, and survives failures.

Ray runs for real: one local Ray (2 CPUs) for the module, evaluators shipped to its worker processes,
worker processes killed with SIGKILL by the evaluator itself to exercise Ray's retry.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from archlatent import ArchLatentError, get_space
from archlatent.config import SearchConfig
from archlatent.evaluators import final  # noqa: F401  (registers train-final)
from archlatent.evaluators.base import EVALUATORS
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.executors import EXECUTORS
from archlatent.journal import Journal
from archlatent.oneshot.checkpoints import save_supernet
from archlatent.oneshot.data import DataSpec
from archlatent.oneshot.nets import build_supernet
from archlatent.run import run_search
from archlatent.search import SearchError, search
from archlatent.strategies import STRATEGIES

if not os.environ.get("CI"):  # in CI (installed with the ray extra) a missing Ray is a failure
    pytest.importorskip("ray")
import ray

#: Settings each executor is checked with; a newly registered executor must add its own.
SETTINGS = {"local": [{}], "ray": [{"workers": 1}, {"workers": 2}]}
CASES = [(name, kw) for name in EXECUTORS.names() for kw in SETTINGS.get(name, [{}])]
IDS = [f"{name}-{kw.get('workers', 1)}" for name, kw in CASES]
BUDGET = 40
SPACE = get_space("nb201")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module; its workers can import this test module (for the evaluators below)."""
    path = os.pathsep.join(p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


class Failing(TabularEvaluator):
    """Raises for one architecture (by key), whatever process or order it is evaluated in."""

    def __init__(self, *args, bad: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad = bad

    def evaluate(self, genotypes):
        if any(g.key() == self.bad for g in genotypes):
            raise RuntimeError("GPU fell off the bus")
        return super().evaluate(genotypes)


class Dying(TabularEvaluator):
    """SIGKILLs its own process on one architecture, the first `times` times (counted in files in `marks`)."""

    def __init__(self, *args, bad: str, marks: Path, times: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad, self.marks, self.times = bad, marks, times

    def evaluate(self, genotypes):
        if any(g.key() == self.bad for g in genotypes):
            tried = len(list(self.marks.iterdir()))
            if tried < self.times:
                (self.marks / f"attempt-{tried}").write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return super().evaluate(genotypes)


class Counting(TabularEvaluator):
    """Notes in `marks` each process that unpickles it (how often a worker loads the evaluator)."""

    def __init__(self, *args, marks: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.marks = marks

    def __setstate__(self, state):
        self.__dict__.update(state)
        with open(self.marks / str(os.getpid()), "a") as f:
            f.write("loaded\n")


@pytest.fixture(scope="module")
def reference(nb201_table):
    """The plain (executor-less) random search every executor must reproduce."""
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    return search(SPACE, STRATEGIES.get("random")(SPACE, seed=1), evaluator, BUDGET)


def _search(evaluator, executor, journal=None):
    try:
        return search(SPACE, STRATEGIES.get("random")(SPACE, seed=1), evaluator, BUDGET, executor=executor,
                      journal=journal)
    finally:
        executor.close()


def test_settings_cover_every_executor():
    assert set(SETTINGS) == set(EXECUTORS.names())


@pytest.mark.parametrize(("name", "settings"), CASES, ids=IDS)
def test_same_seed_same_history(nb201_table, reference, name, settings):
    evaluator = TabularEvaluator(nb201_table, "cifar10")
    result = _search(evaluator, EXECUTORS.create(name, **settings))
    assert result.history == reference.history
    assert result.best == reference.best
    assert evaluator.cost.queries == BUDGET  # the driver's counter is charged for remote answers too
    assert evaluator.cost.seconds == pytest.approx(sum(m["train_time_s"] for m in reference.metrics.values()))


@pytest.mark.parametrize(("name", "settings"), CASES, ids=IDS)
def test_failure_names_the_architecture_and_keeps_the_rest(nb201_table, reference, tmp_path, name, settings):
    bad = reference.history[25]
    journal = Journal(tmp_path / "j.sqlite", {"run": 1})
    failing = Failing(nb201_table, "cifar10", bad=bad["key"])
    with pytest.raises(SearchError, match=r"GPU fell off the bus; the \d+ evaluations before it are saved") as caught:
        _search(failing, EXECUTORS.create(name, **settings), journal)
    assert str(caught.value).startswith(f"evaluating {bad['arch']} failed")
    keys = [r["key"] for r in journal.records()]
    assert bad["key"] not in keys and len(keys) == len(set(keys))
    before = {h["key"] for h in reference.history[:25]}
    assert before <= set(keys)  # all that was started before it (in ask order) finished and was journaled
    assert len(keys) == 25 or settings.get("workers", 1) > 1  # one at a time: exactly those
    journal.close()

    journal = Journal(tmp_path / "j.sqlite", {"run": 1})
    second = TabularEvaluator(nb201_table, "cifar10")
    resumed = _search(second, EXECUTORS.create("local"), journal)
    assert resumed.history == reference.history
    assert second.cost.queries == BUDGET - len(keys)  # nothing paid twice
    journal.close()


def test_a_dead_worker_is_retried_and_nothing_is_lost_or_paid_twice(nb201_table, reference, tmp_path):
    bad = reference.history[20]["key"]
    journal = Journal(tmp_path / "j.sqlite", {"run": 1})
    marks = tmp_path / "marks"
    marks.mkdir()
    dying = Dying(nb201_table, "cifar10", bad=bad, marks=marks, times=1)
    result = _search(dying, EXECUTORS.create("ray", workers=2), journal)
    assert [p.name for p in marks.iterdir()] == ["attempt-0"]  # a worker really died, once
    assert result.history == reference.history
    keys = [r["key"] for r in journal.records()]
    assert sorted(keys) == sorted(h["key"] for h in reference.history)  # each exactly once
    assert dying.cost.queries == BUDGET
    journal.close()


def test_a_worker_that_keeps_dying_gives_one_error(nb201_table, reference, tmp_path):
    bad = reference.history[20]
    journal = Journal(tmp_path / "j.sqlite", {"run": 1})
    marks = tmp_path / "marks"
    marks.mkdir()
    dying = Dying(nb201_table, "cifar10", bad=bad["key"], marks=marks, times=99)
    with pytest.raises(SearchError, match=r"its Ray worker died 2 time\(s\) running it") as caught:
        _search(dying, EXECUTORS.create("ray", workers=2, max_retries=1), journal)
    assert str(caught.value).startswith(f"evaluating {bad['arch']} failed")
    assert len(list(marks.iterdir())) == 2  # tried, died, retried once (max_retries=1), died
    assert {h["key"] for h in reference.history[:16]} <= {r["key"] for r in journal.records()}
    journal.close()


def _supernet(tmp_path, table):
    path = tmp_path / "supernet.pt"
    save_supernet(path, build_supernet("nb201", seed=0, C=4, N=1), DataSpec("synthetic", synthetic_n=60), {})
    return EVALUATORS.create("supernet", SPACE, dataset="cifar10", checkpoint=path, recal_batches=1, batch_size=16)


#: How each registered evaluator is built small for the travel test.
BUILDERS = {
    "tabular": lambda tmp_path, table: EVALUATORS.create("tabular", SPACE, dataset="cifar10", table=table),
    "supernet": _supernet,
    "train-final": lambda tmp_path, table: EVALUATORS.create(
        "train-final", SPACE, dataset="synthetic", epochs=1, batch_size=10, network={"C": 4, "N": 1}, synthetic_n=60),
    "zerocost": lambda tmp_path, table: EVALUATORS.create("zerocost", SPACE, dataset="cifar10", batch_size=8,
                                                          network={"C": 4, "N": 1}),
}


def test_every_evaluator_travels_to_ray_workers(nb201_table, tmp_path):
    assert set(BUILDERS) == set(EVALUATORS.names())
    genotypes = [SPACE.sample(np.random.default_rng(s)) for s in range(3)]
    executor = EXECUTORS.create("ray", workers=2)  # one pool: its workers load each new evaluator once
    drop = "train_time_s"  # real seconds differ; everything else is the same answer
    try:
        for name, build in BUILDERS.items():
            evaluator = build(tmp_path, nb201_table)
            here = [{k: v for k, v in m.items() if k != drop} for m in evaluator.evaluate(genotypes)]
            there = dict(executor.run(evaluator, genotypes))
            assert [{k: v for k, v in there[i].items() if k != drop} for i in range(3)] == here, name
            assert evaluator.cost.queries == 6, name  # three here, three charged back from the workers
    finally:
        executor.close()


def test_workers_load_the_evaluator_once(nb201_table, tmp_path):
    counting = Counting(nb201_table, "cifar10", marks=tmp_path)
    _search(counting, EXECUTORS.create("ray", workers=2))
    loads = {p.name: p.read_text().count("loaded") for p in tmp_path.iterdir()}
    assert 1 <= len(loads) <= 2 and set(loads.values()) == {1}  # one load per worker for 40 evaluations
    assert str(os.getpid()) not in loads


def test_resume_may_change_the_executor(tmp_path, nb201_csv):
    config = SearchConfig(space="nb201", strategy="random", evaluator="tabular",
                          evaluator_kwargs={"bench": str(nb201_csv)}, seed=2, budget=24)
    whole = run_search(config.replace(budget=BUDGET))
    first = run_search(config.replace(out=str(tmp_path), executor="ray", executor_kwargs={"workers": 2}))
    resumed = run_search(config.replace(out=str(tmp_path), budget=BUDGET))  # on the local executor
    assert first.history == whole.history[:24]
    assert resumed.history == whole.history
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        rows, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM evals").fetchone()
    assert rows == distinct == BUDGET


@pytest.mark.parametrize(("settings", "message"), [
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"workers": 3}, r"3 worker\(s\) of 1 CPU and 0 GPU each do not fit the Ray cluster \(2 CPU"),
    ({"gpus_per_eval": 1}, "do not fit the Ray cluster"),
    ({"cpus_per_eval": 0}, "need cpus_per_eval > 0"),
    ({"threads": 2}, "executor 'ray' has no setting"),
])
def test_bad_settings_are_one_clear_error(settings, message):
    with pytest.raises(ArchLatentError, match=message):
        EXECUTORS.create("ray", **settings)


def test_without_ray_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    for attempt in (EXECUTORS.get("ray").check, lambda: EXECUTORS.create("ray")):
        with pytest.raises(ArchLatentError, match=r'pip install "archlatent\[ray\]"'):
            attempt()
    EXECUTORS.get("local").check()  # needs nothing
