"""DDP (gloo, two CPU processes): the same global batch gives the losses one process gets, rank 0 alone
writes checkpoints and results, and a two-process run resumes bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from archlatent import ArchLatentError, get_space
from archlatent.cli import main
from archlatent.oneshot.data import make_loader, synthetic
from archlatent.oneshot.distributed import Shard, session
from archlatent.oneshot.final import train_final

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
FINAL = {"epochs": 2, "batch_size": 16, "network": {"C": 4, "N": 1}}
DROP = ("seconds",)  # wall-clock time differs between runs


def _data():
    return synthetic(64, classes=4, size=16, seed=2)


def _history(result):
    return [{k: v for k, v in h.items() if k not in DROP} for h in result["history"]]


class Stop(Exception):
    """Raised by both ranks at the same step: a run cut off mid-training."""


def _final_ranks(rank: int, world: int, rendezvous: str, folder: str) -> None:
    """One rank of three `train_final` runs in one process group: whole (``two``), cut at epoch 2 and
    resumed (``cut``); each run folder gets ``writes-RANK``, a line per checkpoint this rank wrote."""
    from archlatent.oneshot import final

    real, folder_path = final.save_atomic, Path(folder)

    def spy(obj, path):
        real(obj, path)
        with open(path.parent / f"writes-{rank}", "a") as log:
            log.write(f"{path.name} epoch {obj['epoch']}\n")

    def stop_at_epoch_2(info):
        if info["epoch"] == 2:
            raise Stop

    final.save_atomic = spy  # this child process only
    torch.set_num_threads(1)
    genotype = get_space("nb201").parse(ARCH)
    with session("cpu", rank=rank, world=world, init_method=f"file://{rendezvous}") as (dist, device):
        def run(out: str, **kwargs):
            return train_final("nb201", genotype, _data(), out=folder_path / out, seed=0, device=device, dist=dist,
                               **FINAL, **kwargs)

        results = {"two": run("two")}
        try:
            run("cut", progress=stop_at_epoch_2)
        except Stop:
            results["cut_epoch"] = torch.load(folder_path / "cut" / "final.pt", weights_only=True)["epoch"]
        results["resumed"] = run("cut", resume=True)
    if dist.is_main:
        (folder_path / "results.json").write_text(json.dumps(results))


def test_train_final_on_two_processes_matches_one_and_resumes(tmp_path):
    one = train_final("nb201", get_space("nb201").parse(ARCH), _data(), seed=0, device="cpu", **FINAL)
    mp.spawn(_final_ranks, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "two" / "writes-0").read_text() == "final.pt epoch 1\nfinal.pt epoch 2\n"
    assert not (tmp_path / "two" / "writes-1").exists()  # rank 1 never writes
    for a, b in zip(_history(one), _history(results["two"])):  # per-rank BatchNorm statistics: close, not equal
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05)
        assert b["lr"] == a["lr"] and b["epoch"] == a["epoch"]
    assert results["cut_epoch"] == 1
    assert _history(results["resumed"]) == _history(results["two"])  # resumed on two processes, bit for bit
    assert not (tmp_path / "cut" / "writes-1").exists()


def _torchrun(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "archlatent", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=timeout)


def test_supernet_train_under_torchrun(tmp_path, capsys):
    common = ["supernet", "train", "--space", "nb201", "--dataset", "synthetic", "--synthetic-n", "96",
              "--channels", "4", "--depth", "1", "--batch-size", "16", "--steps", "6"]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    done = _torchrun(*common, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"out":') == 1  # rank 0 alone reports
    one, two = (json.loads((tmp_path / d / "supernet.json").read_text()) for d in ("one", "two"))
    assert (one["stats"]["processes"], two["stats"]["processes"]) == (1, 2)
    assert one["hyperparameters"] == two["hyperparameters"] and one["stats"]["images"] == two["stats"]["images"]
    assert two["stats"]["first_loss"] == pytest.approx(one["stats"]["first_loss"], rel=0.05)
    assert two["stats"]["final_loss"] == pytest.approx(one["stats"]["final_loss"], rel=0.05)
    assert main(["supernet", "eval", "--checkpoint", str(tmp_path / "two" / "supernet.pt"), ARCH]) == 0

    again = _torchrun(*common, "--out", str(tmp_path / "two"))  # refused by rank 0: every rank stops, none hangs
    assert again.returncode != 0 and again.stderr.count("already holds results") == 2


def test_a_global_batch_must_split_evenly():
    loader = make_loader(_data(), "train", 16, train=True)
    with pytest.raises(ArchLatentError, match="batch size 16 does not split evenly over 3 processes"):
        Shard(loader, 0, 3)
    halves = [list(Shard(make_loader(_data(), "train", 16, train=True), r, 2)) for r in (0, 1)]  # one loader per rank
    whole = list(loader)
    assert len(halves[0]) == len(whole) == 4 and halves[0][0][0].shape[0] == 8
    assert all(torch.equal(torch.cat([a[0], b[0]]), w[0]) and torch.equal(torch.cat([a[1], b[1]]), w[1])
               for a, b, w in zip(*halves, whole))
