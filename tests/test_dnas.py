"""Mixed-op supernets, DARTS derivation, first-order DNAS with checkpoint and resume, dry-run memory, the dnas CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from archlatent import get_space
from archlatent.cli import main
from archlatent.errors import CheckpointError
from archlatent.oneshot.data import synthetic
from archlatent.oneshot.dnas import DnasSettings, search_dnas
from archlatent.oneshot.memory import step_peak_memory
from archlatent.oneshot.nets.mixed import build_mixed, derive
from archlatent.spaces import darts, nb201
from archlatent.spaces.restrict import RestrictedSpace

TINY = {"nb201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3}}
V = {name: {op: k for k, op in enumerate(vocab)} for name, vocab in (("darts", ("none", *darts.OPS)), ("nb201", nb201.OPS))}


@pytest.fixture(scope="module")
def data():
    return synthetic(64, classes=4, size=16, seed=1).holdout(0.5, seed=1)


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_a_mixed_step_lowers_the_loss_on_a_fixed_batch_and_moves_alpha(name):
    net = build_mixed(name, seed=0, num_classes=4, **TINY[name])
    batch = synthetic(16, classes=4, size=16, seed=2)
    x, y = (batch.train_x.float() - 128) / 64, batch.train_y
    alpha = net.alpha.detach().clone()
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=0.05)
    before = F.cross_entropy(net(x), y).item()
    for opt in (a_opt, w_opt):
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    assert F.cross_entropy(net(x), y).item() < before
    assert not torch.equal(alpha, net.alpha.detach())
    assert net.mix_weights().sum(-1).allclose(torch.ones(net.alpha.shape[:2]))


def test_darts_derivation_of_a_hand_set_alpha():
    net = build_mixed("darts", seed=0, **TINY["darts"])
    alpha = torch.zeros_like(net.alpha)
    d, e = V["darts"], darts.edge_index
    alpha[0, e(2, 0), d["sep_conv_3x3"]] = 5.0
    alpha[0, e(2, 1), d["skip_connect"]] = 4.0
    alpha[0, e(3, 0), d["none"]] = 10.0  # the strongest candidate of the node, but `none` is never derived
    alpha[0, e(3, 0), d["avg_pool_3x3"]] = 1.0
    alpha[0, e(3, 1), d["dil_conv_5x5"]] = 3.0
    alpha[0, e(3, 2), d["max_pool_3x3"]] = 2.0
    alpha[1, e(5, 4), d["sep_conv_5x5"]] = 6.0
    alpha[1, e(5, 2), d["dil_conv_3x3"]] = 5.0
    with torch.no_grad():
        net.alpha.copy_(alpha)
    tie = [("max_pool_3x3", 0), ("max_pool_3x3", 1)]  # equal scores: lower inputs, first op of PRIMITIVES
    normal = [("sep_conv_3x3", 0), ("skip_connect", 1), ("dil_conv_5x5", 1), ("max_pool_3x3", 2), *tie, *tie]
    reduce = [*tie, *tie, *tie, ("sep_conv_5x5", 4), ("dil_conv_3x3", 2)]
    assert net.genotype() == get_space("darts").from_pairs(normal, reduce)


def test_nb201_derivation_of_a_hand_set_alpha_keeps_none():
    net = build_mixed("nb201", seed=0, **TINY["nb201"])
    ops = ["none", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none"]
    with torch.no_grad():
        net.alpha.zero_()
        for edge, op in enumerate(ops):
            net.alpha[0, edge, V["nb201"][op]] = 1.0 + edge
    assert get_space("nb201").edge_ops(net.genotype()) == tuple(ops)


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_restricted_derivation_never_picks_a_forbidden_op(name):
    base = get_space(name)
    mask = RestrictedSpace.full(base).mask()
    mask[..., :] = False
    mask[..., -1] = mask[..., -2] = True  # the last two ops of the vocabulary everywhere
    space = RestrictedSpace.from_mask(base, mask)
    net = build_mixed(space, seed=0, **TINY[name])
    assert not net.candidates[..., 1:-2].any()  # (DARTS keeps `none` as a candidate)
    for seed in range(5):
        scores = np.random.default_rng(seed).random(net.alpha.shape)
        scores[..., 1:-2] += 10.0  # forbidden ops score far higher
        g = derive(space, scores)
        assert space.is_valid(g)
    x = torch.randn(2, 3, 16, 16)
    assert net(x).shape == (2, 10) and net(x, space.sample(np.random.default_rng(0))).shape == (2, 10)


SETTINGS = DnasSettings(epochs=3, batch_size=16, steps_per_epoch=2)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_dnas_resumes_bit_for_bit(data, tmp_path):
    full = search_dnas(build_mixed("nb201", seed=0, num_classes=4, **TINY["nb201"]), data, SETTINGS, seed=3)
    assert [h["epoch"] for h in full["history"]] == [1, 2, 3] and get_space("nb201").parse(full["genotype"])

    def interrupt(info):
        if info["epoch"] == 3:
            raise KeyboardInterrupt

    ckpt = tmp_path / "dnas.pt"
    with pytest.raises(KeyboardInterrupt):
        search_dnas(build_mixed("nb201", seed=0, num_classes=4, **TINY["nb201"]), data, SETTINGS, seed=3,
                    checkpoint=ckpt, progress=interrupt)  # fmt: skip
    assert len(torch.load(ckpt, weights_only=True)["history"]) == 2
    again = search_dnas(build_mixed("nb201", seed=0, num_classes=4, **TINY["nb201"]), data, SETTINGS, seed=3,
                        checkpoint=ckpt, resume=True)  # fmt: skip
    assert _strip(again["history"]) == _strip(full["history"]) and again["mix_weights"] == full["mix_weights"]
    other = DnasSettings(epochs=3, batch_size=16, steps_per_epoch=2, arch_lr=1e-3)
    with pytest.raises(CheckpointError, match="another settings"):
        search_dnas(build_mixed("nb201", seed=0, num_classes=4, **TINY["nb201"]), data, other, seed=3,
                    checkpoint=ckpt, resume=True)  # fmt: skip


def test_dnas_time_limit_cuts_the_run(data):
    result = search_dnas(build_mixed("nb201", seed=0, num_classes=4, **TINY["nb201"]), data, SETTINGS, time_limit=1e-9)
    assert result["stopped"] == "time_limit" and result["history"][0]["steps"] == 1 and result["history"][0]["partial"]


def _single_op(name: str) -> RestrictedSpace:
    base = get_space(name)
    mask = RestrictedSpace.full(base).mask()
    mask[..., :] = False
    mask[..., 1] = True  # one op on every edge
    return RestrictedSpace.from_mask(base, mask)


def test_dry_run_memory_falls_with_the_subspace_and_grows_with_the_batch():
    base, size = get_space("nb201"), TINY["nb201"]
    full = step_peak_memory(base, size, batch_size=4, image_size=16)
    assert full["source"] == "cpu_profiler_peak" and full["candidates"] == 30 and full["mode"] == "dnas"
    assert step_peak_memory(base, size, batch_size=4, image_size=16)["peak_mb"] == full["peak_mb"]  # deterministic
    assert step_peak_memory(_single_op("nb201"), size, batch_size=4, image_size=16)["peak_mb"] < full["peak_mb"] / 2
    assert step_peak_memory(base, size, batch_size=8, image_size=16)["peak_mb"] > 1.5 * full["peak_mb"]
    assert step_peak_memory(base, size, batch_size=4, image_size=16, mode="single-path")["peak_mb"] < full["peak_mb"]


@pytest.mark.slow
def test_dry_run_memory_of_a_single_op_darts_subspace_is_under_a_third():
    size = {"C": 4, "layers": 5}
    full = step_peak_memory(get_space("darts"), size, batch_size=8, image_size=16)["peak_mb"]
    assert step_peak_memory(_single_op("darts"), size, batch_size=8, image_size=16)["peak_mb"] < full / 3


def test_cli_dnas_restricted_export_resume_and_refusals(tmp_path, capsys):
    allowed = [[("nor_conv_3x3", "skip_connect")] * 6]
    (tmp_path / "r.json").write_text(json.dumps(RestrictedSpace(get_space("nb201"), allowed).to_dict()))
    out = tmp_path / "run"
    common = ["dnas", "--space", "nb201", "--dataset", "synthetic", "--synthetic-n", "64", "--channels", "4",
              "--depth", "1", "--batch-size", "16", "--steps-per-epoch", "2", "--out", str(out)]  # fmt: skip
    assert main([*common, "--epochs", "1", "--restrict", str(tmp_path / "r.json")]) == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["restriction"]["allowed"]["cell"] == [["skip_connect", "nor_conv_3x3"]] * 6
    assert set(get_space("nb201").edge_ops(get_space("nb201").parse(doc["best"]["arch"]))) <= {"nor_conv_3x3", "skip_connect"}
    capsys.readouterr()
    assert main(["export", str(out)]) == 0 and capsys.readouterr().out.strip() == doc["best"]["arch"]
    assert main([*common, "--epochs", "2", "--restrict", str(tmp_path / "r.json")]) == 2
    assert "already holds results" in capsys.readouterr().err
    assert main([*common, "--epochs", "2", "--restrict", str(tmp_path / "r.json"), "--resume"]) == 2
    assert "another settings" in capsys.readouterr().err  # epochs is part of the run's identity
    (tmp_path / "d.json").write_text(json.dumps(RestrictedSpace.full(get_space("darts")).to_dict()))
    assert main([*common, "--restrict", str(tmp_path / "d.json"), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "restricts space 'darts', not 'nb201'" in err


@pytest.mark.slow
def test_cli_dnas_under_torchrun_matches_one_process(tmp_path, capsys):
    """Two gloo processes on the global batch: one report, one checkpoint writer, losses close to one process's."""
    common = ["dnas", "--space", "nb201", "--dataset", "synthetic", "--synthetic-n", "96", "--channels", "4",
              "--depth", "1", "--batch-size", "16", "--epochs", "2", "--steps-per-epoch", "2"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "archlatent", *common, "--out", str(tmp_path / "two")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"out":') == 1
    one, two = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("one", "two"))
    for a, b in zip(one["history"], two["history"]):  # per-rank BatchNorm statistics: close, not equal
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05) and b["steps"] == a["steps"]
    assert get_space("nb201").parse(two["best"]["arch"])
