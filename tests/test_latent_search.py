"""Latent-space search end to end: a (tiny) pretrained model, each latent optimizer, the NB201 table."""

from __future__ import annotations

import json

import pytest

from archlatent import get_space
from archlatent.cli import main
from archlatent.encoders import pretrain, save
from archlatent.evaluators.tables import load_nb201_csv
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.optimizers import OPTIMIZERS, get_optimizer
from archlatent.search import search
from archlatent.strategies.latent import LatentStrategy

SETTINGS = {"nsga2": {"objectives": ("valid_acc", "params_mb")}}


@pytest.fixture(scope="module")
def table(nb201_csv):
    return load_nb201_csv(nb201_csv)


@pytest.fixture(scope="module")
def model():
    return pretrain("nb201", "gin", samples=600, epochs=1, seed=0, hidden=32, layers=2, latent_dim=8).model


def _run(name, model, table, seed=0, budget=30, remap=True):
    space = get_space("nb201")
    objectives = SETTINGS.get(name, {}).get("objectives", ("valid_acc",))
    optimizer = get_optimizer(name, model.latent_dim, n_obj=len(objectives), seed=seed)
    strategy = LatentStrategy(space, model, optimizer, remap=remap, objectives=objectives, seed=seed)
    evaluator = TabularEvaluator(table, "cifar10")
    return search(space, strategy, evaluator, budget), evaluator


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_latent_optimizer_spends_budget_deterministically(name, model, table):
    result, evaluator = _run(name, model, table)
    assert result.queries == 30 == evaluator.cost.queries == len({h["key"] for h in result.history})
    again, _ = _run(name, model, table)
    assert [h["key"] for h in again.history] == [h["key"] for h in result.history]


def test_remap_switch_changes_what_the_optimizer_sees(model, table):
    with_remap, _ = _run("cso", model, table, remap=True)
    without, _ = _run("cso", model, table, remap=False)
    assert [h["key"] for h in with_remap.history] != [h["key"] for h in without.history]


def test_cli_search_with_checkpoint_and_pareto(model, nb201_csv, tmp_path, capsys):
    save(model, tmp_path / "model")
    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--bench", str(nb201_csv), "--optimizer", "nsga2", "--checkpoint",
                 str(tmp_path / "model"), "--objectives", "valid_acc,flops_m", "--budget", "40", "--out", str(out)]) == 0
    doc = json.loads((out / "result.json").read_text())
    front = doc["pareto"]["front"]
    assert front and 0 < doc["pareto"]["hypervolume"] <= doc["pareto"]["true_hypervolume"]
    for a in front:  # mutually non-dominated
        assert not any(b["valid_acc"] >= a["valid_acc"] and b["flops_m"] <= a["flops_m"] and b != a
                       and (b["valid_acc"] > a["valid_acc"] or b["flops_m"] < a["flops_m"]) for b in front)
    capsys.readouterr()
    assert main(["export", str(out), "--pareto"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(front) == len((out / "pareto.txt").read_text().splitlines())
    assert main(["search", "--space", "nb101", "--optimizer", "cso", "--checkpoint", str(tmp_path / "model"),
                 "--budget", "10", "--out", str(tmp_path / "x")]) == 2
    assert "saved for space 'nb201'" in capsys.readouterr().err
