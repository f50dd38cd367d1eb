"""The ``train-final`` evaluator: real from-scratch training per candidate, order-free and picklable."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from archlatent import ArchLatentError, InvalidArchitecture, get_space
from archlatent.evaluators.base import EVALUATORS
from archlatent.evaluators.final import METRICS, FinalEvaluator
from archlatent.oneshot.data import DataSpec
from archlatent.oneshot.final import train_final
from archlatent.search import search
from archlatent.strategies import STRATEGIES

SPACE = get_space("nb201")
#: A tiny recipe: 60 synthetic images (30 train, 30 held out), 2 epochs of a 4-channel one-cell network.
TINY = {"dataset": "synthetic", "epochs": 2, "batch_size": 10, "network": {"C": 4, "N": 1}, "synthetic_n": 60}


@pytest.fixture(scope="module")
def evaluator() -> FinalEvaluator:
    return EVALUATORS.create("train-final", SPACE, seed=3, **TINY)


@pytest.fixture(scope="module")
def genotypes():
    rng = np.random.default_rng(0)
    return [SPACE.sample(rng) for _ in range(3)]


def test_answers_are_the_standalone_training_on_held_out_images(evaluator, genotypes):
    before = evaluator.cost.as_dict()
    answers = evaluator.evaluate(genotypes[:2])
    assert [set(a) for a in answers] == [set(METRICS)] * 2
    held_out = DataSpec("synthetic", None, 0.5, 3, 60).load()
    trained = train_final(SPACE, genotypes[0], held_out, seed=3, epochs=2, batch_size=10, network={"C": 4, "N": 1})
    assert answers[0]["valid_acc"] == trained["test_acc"]
    assert 0 < answers[0]["params_mb"] and 0 < answers[0]["flops_m"]
    assert answers[0]["flops_m"] != answers[1]["flops_m"] or genotypes[0] == genotypes[1]
    assert evaluator.cost.queries - before["queries"] == 2  # real seconds charged, one per candidate
    assert evaluator.cost.seconds - before["seconds"] == pytest.approx(sum(a["train_time_s"] for a in answers))


def test_an_answer_depends_neither_on_order_nor_on_the_process(evaluator, genotypes):
    alone = evaluator.evaluate([genotypes[2]])[0]
    copy = pickle.loads(pickle.dumps(evaluator))
    after_others = copy.evaluate(genotypes[:2] + [genotypes[2]])[2]
    drop = "train_time_s"
    assert {k: v for k, v in alone.items() if k != drop} == {k: v for k, v in after_others.items() if k != drop}


def test_a_search_runs_on_it(evaluator):
    result = search(SPACE, STRATEGIES.get("random")(SPACE, seed=0), evaluator, 3)
    assert result.queries == 3 and 0 <= result.best["valid_acc"] <= 100


@pytest.mark.parametrize(("settings", "error", "message"), [
    ({"epochs": 0}, ArchLatentError, "epochs must be > 0"),
    ({"device": "tpu"}, ArchLatentError, "device 'tpu'"),
    ({"network": {"C": 4, "depth": 1}}, ArchLatentError, r"has no setting\(s\) \['depth'\]"),
    ({"dataset": "imagenet"}, ArchLatentError, "unknown dataset 'imagenet'"),
])
def test_bad_settings_are_refused_before_training(settings, error, message):
    with pytest.raises(error, match=message):
        EVALUATORS.create("train-final", SPACE, seed=0, **{**TINY, **settings})


def test_refuses_spaces_without_a_recipe_and_foreign_genotypes(evaluator):
    with pytest.raises(ArchLatentError, match="no training recipe for space 'nb101'"):
        EVALUATORS.create("train-final", get_space("nb101"), seed=0, **TINY)
    with pytest.raises(InvalidArchitecture, match="not for a genotype of 'nb101'"):
        evaluator.evaluate([get_space("nb101").sample(np.random.default_rng(0))])
