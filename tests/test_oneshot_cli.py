"""The one-shot commands on bad input: one clear line on stderr and exit code 2, never a traceback;
and their output folders follow the one rule (refuse results unless --force, or --resume)."""

from __future__ import annotations

import json

import pytest
import torch

from archlatent.cli import main
from archlatent.errors import CheckpointError
from archlatent.evaluators.base import EVALUATORS
from archlatent.spaces import get_space

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
DATA = ["--dataset", "synthetic", "--synthetic-n", "48", "--batch-size", "16"]
TINY = ["--channels", "4", "--depth", "1"]


def _train(out, *extra: str) -> list[str]:
    return ["supernet", "train", "--space", "nb201", *DATA, "--steps", "1", "--out", str(out), *TINY, *extra]


def _final(out, *extra: str) -> list[str]:
    return ["train-final", "--space", "nb201", "--genotype", ARCH, *DATA, *TINY, "--epochs", "1", "--out", str(out),
            *extra]  # fmt: skip


def _refused(capsys, argv: list[str], words: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert words in err, err
    return err


def _cuda_missing() -> str:
    """A CUDA device this machine lacks: plain ``cuda`` on a CPU-only torch, else one past the last."""
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--space", "darts", "--depth", "2"], "needs at least 3 cells"),
        (["--channels", "0"], "C must be a positive integer, got 0"),
        (["--depth", "0"], "N must be a positive integer, got 0"),
        (["--channels", "-2"], "C must be a positive integer, got -2"),
        (["--sampler", "ddas-cost", "--lam", "-1"], "DDAS setting lam must be >= 0"),
        (["--lam", "0.3"], "sampler 'uniform' has no setting(s) ['lam']"),
        (["--device", "tpu"], "unknown torch device 'tpu'"),
        (["--lr", "0"], "lr must be > 0"),
        (["--steps", "0"], "steps must be > 0"),
    ],
)
def test_supernet_train_refuses_bad_settings(tmp_path, capsys, extra, words):
    _refused(capsys, _train(tmp_path / "out", *extra), words)


def test_missing_cuda_device_is_one_line(tmp_path, capsys):
    device = _cuda_missing()
    _refused(capsys, _train(tmp_path / "a", "--device", device), f"device '{device}'")
    _refused(capsys, _final(tmp_path / "b", "--device", device), f"device '{device}'")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--epochs", "0"], "epochs must be > 0"),
        (["--batch-size", "0"], "batch_size must be > 0"),
        (["--channels", "0"], "C must be a positive integer"),
        (["--device", "tpu"], "unknown torch device 'tpu'"),
    ],
)
def test_train_final_refuses_bad_settings(tmp_path, capsys, extra, words):
    _refused(capsys, _final(tmp_path / "out", *extra), words)


def test_supernet_checkpoint_with_a_bad_config_is_a_checkpoint_error(tmp_path, capsys):
    assert main(_train(tmp_path / "sn")) == 0
    ckpt = torch.load(tmp_path / "sn" / "supernet.pt", weights_only=True)
    ckpt["config"]["C"] = -4
    torch.save(ckpt, tmp_path / "negative.pt")
    capsys.readouterr()
    err = _refused(capsys, ["supernet", "eval", "--checkpoint", str(tmp_path / "negative.pt"), ARCH], "bad supernet config")
    assert "C must be a positive integer, got -4" in err
    evaluator = EVALUATORS.get("supernet")
    with pytest.raises(CheckpointError, match="bad supernet config"):
        evaluator.from_config(get_space("nb201"), dataset="synthetic", checkpoint=tmp_path / "negative.pt")


def test_supernet_train_out_folder_rule(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train(out)) == 0
    first = (out / "supernet.pt").read_bytes()
    capsys.readouterr()
    _refused(capsys, _train(out, "--seed", "1"), "already holds results")
    assert (out / "supernet.pt").read_bytes() == first  # untouched
    assert main(_train(out, "--seed", "1", "--force")) == 0
    assert json.loads((out / "supernet.json").read_text())["hyperparameters"]["seed"] == 1


def test_train_final_out_folder_rule(tmp_path, capsys):
    out = tmp_path / "final"
    assert main(_final(out)) == 0
    capsys.readouterr()
    _refused(capsys, _final(out), "already holds results")
    assert main(_final(out, "--resume")) == 0  # nothing left to train: the saved epoch stands
    assert main(_final(out, "--force")) == 0
    assert json.loads((out / "final.json").read_text())["history"][0]["epoch"] == 1
