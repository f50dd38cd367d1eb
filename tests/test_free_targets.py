"""Free training targets (issue 25): exact NB201 costs, graph targets, the target head, checkpoints, the probe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from archlatent import ArchLatentError, CheckpointError, get_space
from archlatent.encoders import FREE_TARGETS, build_encoder, fit, load, preset, pretrain, save
from archlatent.encoders.checkpoint import METADATA, _digest
from archlatent.encoders.targets import darts_cost, nb201_cost, target_values
from archlatent.oneshot.nets import count_flops_m, count_params_mb, standalone_network

ROOT = Path(__file__).resolve().parents[1]
#: DARTS (second order), the published genotype (Liu et al., ICLR 2019).
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
            "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
SMALL = {"latent_dim": 8, "hidden": 16, "layers": 2, "dec_hidden": 64, "score_hidden": 8}
ALL = {"params": 1.0, "flops": 1.0, "ops": 1.0, "depth": 1.0, "paths": 1.0, "extremes": 1.0}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def representatives(n: int, seed: int = 0) -> list:
    """`n` NB201 class representatives of distinct keys."""
    space, rng, found = get_space("nb201"), np.random.default_rng(seed), {}
    while len(found) < n:
        g = space.representative(space.sample(rng))
        found.setdefault(g.key(), g)
    return list(found.values())


def test_nb201_cost_is_that_of_the_whole_network_and_the_table(nb201_table) -> None:
    space = get_space("nb201")
    cells = representatives(5, seed=3) + [space.from_ops(["nor_conv_3x3"] * 6), space.from_ops(["none"] * 6)]
    params, flops = nb201_cost(space, cells)
    columns = nb201_table.columns["cifar10"]
    for g, p, f in zip(cells, params, flops):
        net = standalone_network(g)
        assert p == pytest.approx(count_params_mb(net), abs=1e-9)
        assert f == pytest.approx(count_flops_m(net), abs=1e-6)
        row = nb201_table.row_ids(g)[0]
        assert p == pytest.approx(columns["params_mb"][row], abs=1e-6)
        assert f == pytest.approx(columns["flops_m"][row], abs=1e-4)


def test_darts_cost_is_that_of_the_whole_network() -> None:
    space, rng = get_space("darts"), np.random.default_rng(5)
    cells = [space.parse(DARTS_V2), space.sample(rng), space.sample(rng),
             space.from_pairs([("skip_connect", 0), ("skip_connect", 1)] * 4, [("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4)]
    params, flops = darts_cost(space, cells)
    for g, p, f in zip(cells, params, flops):
        with torch.random.fork_rng(devices=[]):
            net = standalone_network(g)  # C=36, 20 cells: the published CIFAR-10 sizes
        assert p == pytest.approx(count_params_mb(net), abs=1e-9)
        assert f == pytest.approx(count_flops_m(net), abs=1e-6)
    assert params[0] == pytest.approx(3.3, abs=0.05)  # DARTS (2nd order): 3.3M parameters (Liu et al. 2019, Table 1)
    assert len(set(np.round(params, 6))) == len(cells)  # the counts tell these architectures apart
    logs = target_values(space, cells, {"params": 1.0, "flops": 1.0})
    assert np.allclose(logs, np.log(np.stack([params, flops], 1)))


def test_graph_targets_of_a_known_cell() -> None:
    space = get_space("nb201")
    # edges 0->1 conv3x3, 1->3 skip, 0->3 conv1x1, 1->2 pool, 2->3 conv3x3: paths 0-3, 0-1-3, 0-1-2-3
    g = space.parse("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_3x3~2|")
    ops, depth, paths, extremes = (target_values(space, [g], {name: 1.0})[0]
                                   for name in ("ops", "depth", "paths", "extremes"))
    assert ops.tolist() == [1, 1, 2, 1]  # skip, conv1x1, conv3x3, pool
    assert depth.tolist() == [3]
    assert paths.tolist() == [1, 1, 2, 1, 3]  # paths through each op; all 3 paths
    assert extremes.tolist() == [0, 0, 0, 0, 1, 1, 2, 1]  # fewest, most of each op on one path
    empty = space.representative(space.from_ops(["none"] * 6))
    assert not target_values(space, [empty], {"depth": 1.0, "paths": 1.0, "extremes": 1.0}).any()


@pytest.mark.parametrize("space_name", ["nb101", "darts", "nbgraph"])
def test_graph_targets_exist_for_every_space(space_name: str) -> None:
    space = get_space(space_name)
    rng = np.random.default_rng(0)
    values = target_values(space, [space.sample(rng) for _ in range(20)],
                           {"ops": 1.0, "depth": 1.0, "paths": 1.0, "extremes": 1.0})
    assert values.shape[0] == 20 and np.isfinite(values).all()
    assert values.std(0).max() > 0  # the targets differ between architectures
    if space_name == "darts":  # a standalone network: its parameter count is a target too
        assert build_encoder(space, "gin", targets={"params": 1.0}, **SMALL).target_head.out_features == 1
        return
    with pytest.raises(ArchLatentError, match=f"target 'params' exists for nb201, darts, not space '{space_name}'"):
        build_encoder(space, "gin", targets={"params": 1.0}, **SMALL)


@pytest.mark.parametrize("encoder", ["transformer", "gin"])
def test_target_head_learns_the_free_targets(encoder: str) -> None:
    train, held = representatives(600, seed=0)[:500], representatives(700, seed=0)[600:]
    model = build_encoder("nb201", encoder, targets=ALL, seed=0, **SMALL)
    curves = fit(model, train, epochs=6, batch_size=32, lr=3e-3, seed=0)
    assert curves[-1]["target"] < 0.7 * curves[0]["target"]
    assert all(np.isfinite(c["loss"]) for c in curves)
    # A linear read-out of the latent mean finds the parameter count of architectures never trained on.
    with torch.no_grad():
        predicted = model.target_head(model.embed(held, canonicalize=False))[:, 0].numpy()
    assert spearmanr(predicted, np.log(nb201_cost(get_space("nb201"), held)[0])).statistic > 0.6
    plain = build_encoder("nb201", encoder, seed=0, **SMALL)
    assert fit(plain, train[:64], epochs=1, batch_size=32, seed=0)[0]["target"] == 0.0


def test_the_opt_in_targets_fit_the_nb201_presets() -> None:
    for encoder in ("transformer", "gin"):
        settings = preset("nb201", encoder, targets=FREE_TARGETS["nb201"])
        assert settings["targets"] == FREE_TARGETS["nb201"] and settings["epochs"] == 8
        with torch.device("meta"):
            model = build_encoder("nb201", encoder, device="meta",
                                  **{k: v for k, v in settings.items() if k not in ("epochs", "batch_size", "lr")})
        assert model.target_head.out_features == 1 + 1 + 4 + 1 + 5 + 8
    assert "targets" not in preset("nb201", "transformer")  # opt-in: the default pretraining is unchanged


def test_targets_are_recorded_in_the_checkpoint(tmp_path: Path) -> None:
    result = pretrain("nb201", "gin", samples=300, epochs=1, batch_size=32, targets={"params": 2.0, "paths": 0.5},
                      **SMALL)
    assert result.metrics["hparams"]["targets"] == {"params": 2.0, "paths": 0.5}
    folder = save(result.model, tmp_path / "ckpt")
    assert json.loads((folder / METADATA).read_text())["hparams"]["targets"] == {"params": 2.0, "paths": 0.5}
    again = load(folder)
    assert again.targets == {"params": 2.0, "paths": 0.5}
    genotypes = representatives(10)
    assert torch.equal(again.embed(genotypes), result.model.embed(genotypes))
    assert torch.equal(again.target_head.weight, result.model.target_head.weight)


@pytest.mark.parametrize(("targets", "message"), [
    ({"size": 1.0}, "unknown target 'size'; known: params, flops, ops, depth, paths, extremes"),
    ({"params": -1.0}, "target 'params': weight must be a number in 0..100, got -1.0"),
    ({"depth": float("nan")}, "target 'depth': weight must be a number in 0..100, got nan"),
    ({"ops": True}, "target 'ops': weight must be a number in 0..100, got True"),
    ({"ops": 1e6}, "weight must be a number in 0..100"),
    (["params"], "targets must be a mapping of target name to weight, got list"),
])
def test_malformed_targets_are_refused(tmp_path: Path, targets, message: str) -> None:
    with pytest.raises(ArchLatentError, match=message.replace("(", r"\(").replace(".", r"\.")):
        pretrain("nb201", "gin", samples=100, epochs=1, targets=targets, **SMALL)
    folder = save(build_encoder("nb201", "gin", targets={"ops": 1.0}, **SMALL), tmp_path / "ckpt")
    meta = json.loads((folder / METADATA).read_text())
    meta["hparams"]["targets"] = targets
    finite = "nan" not in repr(targets)  # NaN has no JSON checksum: refused as damaged instead
    if finite:
        meta["metadata_sha256"] = _digest(meta)  # an edit that keeps the checksum: the loader must still refuse it
    (folder / METADATA).write_text(json.dumps(meta, allow_nan=True))
    with pytest.raises(CheckpointError) as info:
        load(folder)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)
    assert ("target" if finite else "checksum") in str(info.value)


def test_latent_probe_script_runs_on_a_tiny_setting(tmp_path: Path, nb201_csv: Path) -> None:
    folder = save(pretrain("nb201", "gin", samples=300, epochs=1, batch_size=32, targets=ALL, **SMALL).model,
                  tmp_path / "ckpt")
    out = tmp_path / "tau.json"
    env = {"ARCHLATENT_DATA": str(nb201_csv.parent), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "latent_tau.py"), "--part", "nb201",
                          "--checkpoints", str(folder), "--train-sizes", "50", "--repeats", "2", "--targets", "--out", str(out)],
                         check=False, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads(out.read_text())
    result = doc["results"]["50"]
    assert set(result) >= {"one-hot", "params alone", "flops alone", f"mu {folder}",
                           "free targets (params, flops, ops, depth, paths, extremes)"}
    for name, entry in result.items():
        assert len(entry["taus"]) == 2 and -1 <= entry["mean"] <= 1, name
    assert result["one-hot"]["mean"] > 0.2  # a real ranking of the real table
    assert f"mu {folder}" in run.stdout


def run_probe(tmp_path: Path, *args: str) -> tuple[dict, str]:
    """`benchmarks/latent_tau.py ARGS --out tmp_path/tau.json` in a subprocess: (its JSON, its stdout)."""
    out = tmp_path / "tau.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "latent_tau.py"), *args, "--out", str(out)],
                         check=False, capture_output=True, text=True, timeout=600,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(out.read_text()), run.stdout


def test_darts_probe_reads_saved_accuracies(tmp_path: Path) -> None:
    space, rng = get_space("darts"), np.random.default_rng(0)
    genotypes = [space.sample(rng) for _ in range(30)]
    params, _ = darts_cost(space, genotypes)
    # A stand-in accuracy that falls with the parameter count: params alone must then rank it perfectly.
    acc = (80 - params).tolist()
    saved = tmp_path / "acc.json"
    saved.write_text(json.dumps({"archs": [space.format(g) for g in genotypes],
                                 "supernet": {"acc_A": acc, "acc_B": acc, "noise_ceiling_tau_A_vs_B": 1.0}}))
    folder = save(build_encoder("darts", "gin", targets=FREE_TARGETS["darts"], **SMALL), tmp_path / "ckpt")
    doc, stdout = run_probe(tmp_path, "--part", "darts", "--accuracies", str(saved), "--repeats", "2", "--targets",
                            "--checkpoints", str(folder))
    result = doc["results"]["20"]
    assert set(result) == {"one-hot", "slot one-hot, raw", "slot one-hot, representative", "params alone",
                           "flops alone", "free targets (params, flops, ops, depth, paths, extremes)", f"mu {folder}"}
    assert result["params alone"]["taus"] == pytest.approx([1.0, 1.0])
    assert all(len(entry["taus"]) == 2 and -1 <= entry["mean"] <= 1 for entry in result.values())
    assert doc["archs"] == [space.format(g) for g in genotypes] and "| flops alone |" in stdout


@pytest.mark.slow
def test_darts_probe_trains_a_tiny_supernet(tmp_path: Path) -> None:
    """The whole DARTS protocol (Fashion-MNIST, supernet, both validation halves) on 12 genotypes, 10 steps."""
    from archlatent.oneshot.data.fashion import DEBIAN_FASHION_MNIST

    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST is not installed in {DEBIAN_FASHION_MNIST} (apt-get install dataset-fashion-mnist)")
    doc, _ = run_probe(tmp_path, "--part", "darts", "--archs", "12", "--steps", "10", "--repeats", "2")
    accuracies = np.array([doc["supernet"]["acc_A"], doc["supernet"]["acc_B"]])
    assert accuracies.shape == (2, 12) and (accuracies > 0).all() and (accuracies <= 100).all()
    assert len(set(doc["archs"])) == 12 and doc["supernet"]["settings"]["steps"] == 10
    again, _ = run_probe(tmp_path, "--part", "darts", "--accuracies", str(tmp_path / "tau.json"), "--repeats", "2")
    assert again["results"] == doc["results"]  # reused accuracies give the same probe


def test_probe_references_read_free_information(tmp_path: Path) -> None:
    """`--references`: ridge on one-hot + targets, a GP on one-hot and a forest on one-hot + targets, on
    the same splits, on a stand-in accuracy made of free numbers (parameters and one op count, squared)."""
    space, rng = get_space("darts"), np.random.default_rng(1)
    genotypes = list({g.key(): g for g in (space.sample(rng) for _ in range(90))}.values())
    params, _ = darts_cost(space, genotypes)
    count = target_values(space, genotypes, {"ops": 1.0})[:, 0]  # one op's count, squared below: not linear in one-hot
    acc = (70 - params + 0.3 * count**2).tolist()
    saved = tmp_path / "acc.json"
    saved.write_text(json.dumps({"archs": [space.format(g) for g in genotypes],
                                 "supernet": {"acc_A": acc, "acc_B": acc, "noise_ceiling_tau_A_vs_B": 1.0}}))
    doc, stdout = run_probe(tmp_path, "--part", "darts", "--accuracies", str(saved), "--repeats", "2", "--references")
    result = doc["results"][str(len(genotypes) * 2 // 3)]
    refs = ("one-hot + free targets", "GP on one-hot", "forest on one-hot + free targets",
            "one-hot + slot one-hot, representative + free targets")
    assert set(refs) <= set(result) and "GP" in doc["references"]
    tau = {name: result[name]["mean"] for name in refs}
    assert all(len(result[name]["taus"]) == 2 for name in refs)
    # The forest reads the exact free numbers the stand-in is made of, square included; ridge only linearly.
    assert tau["forest on one-hot + free targets"] > 0.9 > tau["one-hot + free targets"] > 0.5
    assert tau["one-hot + slot one-hot, representative + free targets"] > 0.5 and tau["GP on one-hot"] > 0.2
    assert f"| {refs[1]} |" in stdout
