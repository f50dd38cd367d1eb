"""`archlatent pretrain` on the real NB201 table, and a search that pays for the checkpoint's labels."""

from __future__ import annotations

import json

import pytest

from archlatent import get_space
from archlatent.cli import main
from archlatent.encoders import load, read_metadata


@pytest.fixture(scope="module")
def pretrained(nb201_csv, tmp_path_factory):
    """The NB201 gin preset on the whole space for 3 epochs, 40 cells labelled with CIFAR-10 validation accuracy."""
    out = tmp_path_factory.mktemp("pretrain") / "gin"
    code = main(["pretrain", "--space", "nb201", "--encoder", "gin", "--epochs", "3",
                 "--labels", "40", "--bench", str(nb201_csv), "--dataset", "cifar10", "--out", str(out)])
    assert code == 0
    return out


def test_pretrain_writes_model_metrics_and_curves(pretrained):
    metrics = json.loads((pretrained / "metrics.json").read_text())
    assert 0.95 <= metrics["recon_exact"] <= 1.0  # the NB201 preset trains fast: ~1.0 after 3 epochs
    assert metrics["valid_prior"] > 0.9 and 0 < metrics["unique_prior"] <= 1
    assert -1 <= metrics["kendall_tau"] <= 1 and metrics["tau_archs"] > 10
    assert metrics["label_queries"] == 40 == len(metrics["labelled"])
    assert metrics["hparams"]["hidden"] == 32  # the preset, as no --hidden was given
    space = get_space("nb201")
    assert len({space.parse(text).key() for text in metrics["labelled"]}) == 40
    assert (pretrained / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert read_metadata(pretrained)["table_sha256"] == metrics["data_sha256"]
    assert load(pretrained, space="nb201").latent_dim == metrics["hparams"]["latent_dim"]


def test_search_counts_the_checkpoint_labels(pretrained, nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--bench", str(nb201_csv), "--optimizer", "bo", "--checkpoint",
                 str(pretrained), "--budget", "60", "--out", str(out)]) == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["label_queries"] == 40 and doc["queries"] == 60
    assert sum(h["label"] for h in doc["history"]) == 40
    assert {"arch", "valid_acc", "test_acc"} <= set(doc["best"])
    capsys.readouterr()
    assert main(["search", "--space", "nb201", "--bench", str(nb201_csv), "--optimizer", "bo", "--checkpoint",
                 str(pretrained), "--budget", "30", "--out", str(tmp_path / "small")]) == 2
    assert "budget 30 leaves nothing to search after 40 labelled" in capsys.readouterr().err


def test_pretrain_refuses_bad_flags(tmp_path, capsys):
    assert main(["pretrain", "--space", "nb201", "--labels", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "--labels must be >= 0" in capsys.readouterr().err


def test_pretrain_takes_free_targets(tmp_path, capsys):
    out = tmp_path / "targets"
    assert main(["pretrain", "--space", "nb201", "--encoder", "gin", "--epochs", "1", "--samples", "300",
                 "--targets", "params=0.5,depth=1", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["hparams"]["targets"] == {"params": 0.5, "depth": 1.0}
    assert load(out, space="nb201").targets == {"params": 0.5, "depth": 1.0}
    free = tmp_path / "free"
    assert main(["pretrain", "--space", "nb201", "--encoder", "gin", "--epochs", "1", "--samples", "300",
                 "--targets", "free", "--out", str(free)]) == 0
    assert set(json.loads((free / "metrics.json").read_text())["hparams"]["targets"]) == {
        "params", "flops", "ops", "depth", "paths", "extremes"}
    capsys.readouterr()


@pytest.mark.parametrize(("spec", "message"), [
    ("params", "NAME=WEIGHT"), ("params=x", "NAME=WEIGHT"), ("params=1,params=2", "each name once"),
    ("speed=1", "unknown target 'speed'"), ("params=-1", "weight must be a number in 0.."),
    ("params=nan", "NAME=WEIGHT"),
])
def test_pretrain_refuses_bad_targets_in_one_line(tmp_path, capsys, spec, message):
    assert main(["pretrain", "--space", "nb201", "--targets", spec, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "x").exists()


def test_pretrain_free_targets_of_a_space_without_a_preset(tmp_path, capsys):
    assert main(["pretrain", "--space", "nbgraph", "--targets", "free", "--out", str(tmp_path / "x")]) == 2
    assert "space 'nbgraph' has no free-target preset (nb201, darts do)" in capsys.readouterr().err
