"""Latent-space search end to end: a (tiny) pretrained model, each latent optimizer, the NB201 table."""

from __future__ import annotations

import json

import pytest
import torch

from archlatent import get_space
from archlatent.cli import main
from archlatent.encoders import save
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.optimizers import OPTIMIZERS
from archlatent.search import search
from archlatent.strategies import STRATEGIES

SETTINGS = {"nsga2": {"objectives": ("valid_acc", "params_mb")}}


def _run(name, model, table, seed=0, budget=30, remap=True):
    space = get_space("nb201")
    objectives = SETTINGS.get(name, {}).get("objectives", ("valid_acc",))
    strategy = STRATEGIES.create("latent", space, model=model, optimizer=name, remap=remap, objectives=objectives,
                                 seed=seed)
    evaluator = TabularEvaluator(table, "cifar10")
    return search(space, strategy, evaluator, budget), evaluator, strategy


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_latent_optimizer_spends_budget_deterministically(name, tiny_model, nb201_table):
    result, evaluator, _ = _run(name, tiny_model, nb201_table)
    assert result.queries == 30 == evaluator.cost.queries == len({h["key"] for h in result.history})
    again, _, _ = _run(name, tiny_model, nb201_table)
    assert [h["key"] for h in again.history] == [h["key"] for h in result.history]


def test_remap_switch_changes_what_the_optimizer_sees(tiny_model, nb201_table):
    with_remap = _run("cso", tiny_model, nb201_table, remap=True)[0]
    without = _run("cso", tiny_model, nb201_table, remap=False)[0]
    assert [h["key"] for h in with_remap.history] != [h["key"] for h in without.history]


def test_optimizer_works_in_standardized_coordinates(tiny_model, nb201_table):
    """What the optimizer is told are (z - loc) / scale of the remapped architectures' latent points."""
    result, _, strategy = _run("cso", tiny_model, nb201_table)
    u, _, _ = strategy.optimizer.history()
    assert not torch.equal(tiny_model.latent_scale, torch.ones_like(tiny_model.latent_scale))
    z = tiny_model.embed([result.evaluated[h["key"]] for h in result.history[:20]])
    torch.testing.assert_close(u[:20], (z - tiny_model.latent_loc) / tiny_model.latent_scale)


@pytest.mark.parametrize("name", ["nao", "cso", "bo"])
def test_first_asks_decode_to_valid_architectures(name, tiny_model, nb201_table):
    """The optimizers' N(0, I) starts, mapped through the model's latent statistics, land on architectures."""
    result, _, _ = _run(name, tiny_model, nb201_table, budget=40)
    assert result.valid_share >= 0.95


def test_cli_search_with_checkpoint_and_pareto(tiny_model, nb201_csv, tmp_path, capsys):
    save(tiny_model, tmp_path / "model")
    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--bench", str(nb201_csv), "--optimizer", "nsga2", "--checkpoint",
                 str(tmp_path / "model"), "--objectives", "valid_acc,flops_m", "--budget", "40", "--out", str(out)]) == 0
    doc = json.loads((out / "result.json").read_text())
    front = doc["pareto"]["front"]
    assert front and 0 < doc["pareto"]["hypervolume"] <= doc["pareto"]["true_hypervolume"]
    for a in front:  # mutually non-dominated
        assert not any(b["valid_acc"] >= a["valid_acc"] and b["flops_m"] <= a["flops_m"] and b != a
                       and (b["valid_acc"] > a["valid_acc"] or b["flops_m"] < a["flops_m"]) for b in front)
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["export", str(out), "--pareto"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(front) == len((out / "pareto.txt").read_text().splitlines())
    assert main(["search", "--space", "nb101", "--optimizer", "cso", "--checkpoint", str(tmp_path / "model"),
                 "--budget", "10", "--out", str(tmp_path / "x")]) == 2
    assert "saved for space 'nb201'" in capsys.readouterr().err
