"""search() end to end with the weight-sharing supernet evaluator on the synthetic image set."""

from __future__ import annotations

import json

import torch

from archlatent import get_space
from archlatent.cli import main
from archlatent.evaluators.supernet import SupernetEvaluator
from archlatent.oneshot.data import synthetic
from archlatent.oneshot.nets import build_supernet
from archlatent.oneshot.train import train_supernet
from archlatent.search import search
from archlatent.strategies import STRATEGIES


def test_search_with_supernet_evaluator():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = synthetic(96, classes=4, size=16, seed=1).holdout(0.5, seed=1)
        net = build_supernet("nb201", seed=0, num_classes=4, C=4, N=1)
        train_supernet(net, data, steps=4, batch_size=24, seed=0)
        space = get_space("nb201")
        evaluator = SupernetEvaluator(net, data, recal_batches=1, batch_size=16)
        result = search(space, STRATEGIES.get("rea")(space, seed=0), evaluator, 12)
        again = search(space, STRATEGIES.get("rea")(space, seed=0), SupernetEvaluator(net, data, recal_batches=1, batch_size=16), 12)
    finally:
        torch.set_num_threads(threads)
    assert result.queries == 12 == evaluator.cost.queries
    assert 0 <= result.best["valid_acc"] <= 100 and result.best["flops_m"] > 0
    assert [h["valid_acc"] for h in again.history] == [h["valid_acc"] for h in result.history]


def test_cli_search_with_supernet_checkpoint(tmp_path, capsys):
    sn = tmp_path / "sn"
    assert main(["supernet", "train", "--space", "nb201", "--dataset", "synthetic", "--steps", "3", "--channels", "4",
                 "--depth", "1", "--synthetic-n", "64", "--batch-size", "16", "--out", str(sn)]) == 0
    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--strategy", "random", "--evaluator", "supernet", "--supernet",
                 str(sn / "supernet.pt"), "--budget", "6", "--out", str(out)]) == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["queries"] == 6 and "valid_acc" in doc["best"] and doc["evaluator"]
    capsys.readouterr()
    assert main(["search", "--space", "darts", "--strategy", "random", "--evaluator", "supernet", "--supernet",
                 str(sn / "supernet.pt"), "--budget", "6", "--out", str(tmp_path / "x")]) == 2
    assert "not one for space 'darts'" in capsys.readouterr().err


def test_multi_objective_search_with_the_supernet_writes_a_front(tmp_path, tiny_model, capsys):
    """Fronts come from the evaluated metrics, whatever the evaluator (no table needed)."""
    from archlatent.encoders import save

    sn, ckpt, out = tmp_path / "sn", tmp_path / "ckpt", tmp_path / "run"
    assert main(["supernet", "train", "--space", "nb201", "--dataset", "synthetic", "--steps", "3", "--channels", "4",
                 "--depth", "1", "--synthetic-n", "64", "--batch-size", "16", "--out", str(sn)]) == 0
    save(tiny_model, ckpt)
    assert main(["search", "--space", "nb201", "--optimizer", "nsga2", "--checkpoint", str(ckpt), "--evaluator",
                 "supernet", "--supernet", str(sn / "supernet.pt"), "--objectives", "valid_acc,flops_m", "--budget",
                 "24", "--out", str(out)]) == 0
    doc = json.loads((out / "result.json").read_text())
    front = doc["pareto"]["front"]
    assert front and doc["pareto"]["hypervolume"] > 0 and "true_hypervolume" not in doc["pareto"]
    assert len((out / "pareto.txt").read_text().splitlines()) == len(front)
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["export", str(out), "--pareto"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(front)
