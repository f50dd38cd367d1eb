"""RADARS: the REINFORCE controller, pruning rounds to a memory budget, resume, the radars CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from archlatent import get_space
from archlatent.cli import main
from archlatent.errors import ArchLatentError
from archlatent.oneshot.checkpoints import save_atomic
from archlatent.oneshot.controller import Controller
from archlatent.oneshot.data import synthetic
from archlatent.oneshot.dnas import DnasSettings
from archlatent.oneshot.radars import RadarsSettings, run_radars
from archlatent.spaces import darts
from archlatent.spaces.restrict import RestrictedSpace

SIZE = {"C": 2, "layers": 3, "num_classes": 4}
DNAS = DnasSettings(epochs=1, batch_size=8, steps_per_epoch=2)


@pytest.fixture(scope="module")
def data():
    return synthetic(48, classes=4, size=16, seed=1).holdout(0.5, seed=1)


def _candidates_mb(space: RestrictedSpace) -> float:
    """A deterministic stand-in for the dry run: one MiB per (cell, edge, op) candidate."""
    return float(space.candidates())


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_reinforce_raises_the_probability_of_the_rewarded_op(name):
    space = RestrictedSpace.full(get_space(name))
    controller = Controller(space, lr=0.1, seed=0)
    target = space.layout.ops[2]
    before = controller.op_probs()[..., 2].mean()
    for _ in range(60):
        genotype, log_prob, entropy = controller.sample()
        assert space.is_valid(genotype)
        share = np.mean([op == target for _, _, op in space.active(genotype)])
        controller.update([log_prob], [entropy], [float(share)])
    probs = controller.op_probs()
    assert probs[..., 2].mean() > before + 0.05
    assert np.allclose(probs.sum(-1), 1.0)
    kept = controller.prune(0.5)
    assert all(len(ops) == 4 if name == "darts" else len(ops) == 3 for cell in kept.allowed for ops in cell)
    assert np.mean([target in ops for cell in kept.allowed for ops in cell]) > 0.8
    assert space.is_valid(controller.best())


def test_controller_state_round_trips_and_prunes_inside_its_subspace(tmp_path):
    space = RestrictedSpace.full(get_space("darts"))
    a = Controller(space, seed=3)
    for _ in range(3):
        _, lp, h = a.sample()
        a.update([lp], [h], [0.5])
    save_atomic(a.state_dict(), tmp_path / "c.pt")
    b = Controller(space, seed=99)
    b.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))
    assert a.sample()[0] == b.sample()[0] and np.array_equal(a.op_probs(), b.op_probs())
    sub = a.prune(0.3)
    a.restrict(sub)
    for _ in range(10):
        assert sub.is_valid(a.sample()[0])
    smaller = a.prune(0.3)
    assert all(set(o) <= set(p) and len(o) >= 1 for c, d in zip(smaller.allowed, sub.allowed) for o, p in zip(c, d))


def test_two_rounds_prune_to_a_budget_the_full_space_exceeds(data, tmp_path):
    settings = RadarsSettings(budget_gb=60 / 1024, supernet_steps=2, controller_steps=3)
    seen = []
    result = run_radars(
        get_space("darts"), data, SIZE, settings, DNAS, seed=0, out=tmp_path, measure=_candidates_mb,
        progress=lambda info: seen.append(info["stage"]),
    )  # fmt: skip
    assert result["memory"]["full_mb"] == 196 > settings.budget_gb * 1024 and result["memory"]["floor_mb"] == 28
    assert [r["candidates"] for r in result["rounds"]] == [112, 56]  # 7 -> 4 -> 2 ops per edge
    assert result["rounds"][-1]["fits"] and not result["rounds"][0]["fits"]
    final = RestrictedSpace.from_dict(result["restriction"])
    genotype = get_space("darts").parse(result["genotype"])
    assert final.is_valid(genotype) and result["inherited_tensors"] > 0
    assert {"supernet", "round", "dnas"} <= set(seen)
    first = result["rounds"][0]
    assert set(first["policy"]) == {"normal", "reduce"} and len(first["policy"]["normal"]) == darts.N_EDGES
    assert all(set(k) <= set(p) for k, p in zip(first["kept"]["normal"], first["policy"]["normal"]))
    assert (tmp_path / "radars.pt").is_file() and (tmp_path / "dnas.pt").is_file()


def test_resume_after_a_round_repeats_the_uninterrupted_run(data, tmp_path):
    settings = RadarsSettings(budget_gb=60 / 1024, supernet_steps=2, controller_steps=3)
    full = run_radars(get_space("darts"), data, SIZE, settings, DNAS, seed=1, measure=_candidates_mb)

    def interrupt(info):
        if info.get("round") == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_radars(get_space("darts"), data, SIZE, settings, DNAS, seed=1, out=tmp_path, measure=_candidates_mb,
                   progress=interrupt)  # fmt: skip
    again = run_radars(get_space("darts"), data, SIZE, settings, DNAS, seed=1, out=tmp_path, resume=True,
                       measure=_candidates_mb)  # fmt: skip
    assert [r["kept"] for r in again["rounds"]] == [r["kept"] for r in full["rounds"]]
    assert again["genotype"] == full["genotype"]


def test_a_budget_below_every_single_op_subspace_is_one_clear_error_before_training(data):
    seen = []
    settings = RadarsSettings(budget_gb=20 / 1024, supernet_steps=2, controller_steps=2)
    with pytest.raises(ArchLatentError, match=r"below the smallest single-op subspace.*every edge 'max_pool_3x3'"):
        run_radars(get_space("darts"), data, SIZE, settings, DNAS, measure=_candidates_mb, progress=seen.append)
    assert seen == []


def test_a_space_that_fits_goes_straight_to_dnas(data):
    settings = RadarsSettings(budget_gb=1.0, supernet_steps=2, controller_steps=2)
    result = run_radars(get_space("nb201"), data, {"C": 2, "N": 1, "num_classes": 4}, settings, DNAS,
                        measure=_candidates_mb)  # fmt: skip
    assert result["rounds"] == [] and result["memory"]["floor_mb"] is None and result["inherited_tensors"] == 0


@pytest.mark.slow
def test_cli_radars_with_the_dry_run_measure(tmp_path, capsys):
    """The real memory test (profiler peak on the CPU), end to end through the CLI and ``export``."""
    out = tmp_path / "run"
    args = ["radars", "--space", "darts", "--dataset", "synthetic", "--synthetic-n", "48", "--channels", "2",
            "--depth", "3", "--batch-size", "8", "--epochs", "1", "--steps-per-epoch", "2", "--supernet-steps", "2",
            "--controller-steps", "3", "--out", str(out)]  # fmt: skip
    assert main([*args, "--memory-budget-gb", "0.0001"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "below the smallest single-op subspace" in err
    assert main([*args, "--memory-budget-gb", "0.02", "--force"]) == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["memory"]["full_mb"] > 0.02 * 1024 >= doc["memory"]["final_mb"] and doc["rounds"]
    assert RestrictedSpace.from_dict(doc["restriction"]).is_valid(get_space("darts").parse(doc["best"]["arch"]))
    capsys.readouterr()
    assert main(["export", str(out)]) == 0 and capsys.readouterr().out.strip() == doc["best"]["arch"]
