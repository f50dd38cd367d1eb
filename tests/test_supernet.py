"""Supernets, the supernet evaluator, DDAS, synthetic data and the loader, train_final and their CLI."""

from __future__ import annotations

import json
import pickle
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from archlatent import get_space
from archlatent.cli import main
from archlatent.errors import ArchLatentError, CheckpointError, InvalidArchitecture
from archlatent.evaluators.base import EVALUATORS, Evaluator
from archlatent.evaluators.supernet import SupernetEvaluator
from archlatent.oneshot.checkpoints import save_supernet
from archlatent.oneshot.data import DataSpec, make_loader, synthetic
from archlatent.oneshot.final import train_final
from archlatent.oneshot.nets import build_supernet, count_flops_m, standalone_network
from archlatent.oneshot.samplers import DDASCostSampler, UniformSampler
from archlatent.oneshot.train import train_supernet
from archlatent.pareto import ParetoFront
from archlatent.spaces.nb201 import OPS as NB201_OPS

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
SMALL = {"nb201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3}}


class FixedSampler:
    """Always the same path, no feedback."""

    wants_feedback = False

    def __init__(self, genotype):
        self.genotype = genotype

    def sample(self):
        return self.genotype

    def feedback(self, genotype, accuracy):
        raise AssertionError("not asked for")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks run faster on one thread, and far faster when other processes load the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return synthetic(96, classes=4, size=16, seed=1).holdout(0.5, seed=1)


@pytest.fixture(scope="module")
def trained(data):
    net = build_supernet("nb201", seed=0, num_classes=4, **SMALL["nb201"])
    train_supernet(net, data, steps=4, batch_size=24, seed=0)
    return net


def _sample(space, seed):
    return get_space(space).sample(np.random.default_rng(seed))


# -- supernets --------------------------------------------------------------------------------------------
def test_one_step_changes_weights_and_lowers_loss_on_a_fixed_batch():
    batch = synthetic(32, classes=4, size=16, seed=3)
    data = batch.holdout(0.25, seed=0)
    net = build_supernet("nb201", seed=0, num_classes=4, **SMALL["nb201"])
    genotype = get_space("nb201").parse(ARCH)
    x, y = next(iter(make_loader(data, "train", 64)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        loss_before = F.cross_entropy(net(x, genotype), y).item()
    stats = train_supernet(net, data, steps=1, batch_size=64, lr=0.1, sampler=FixedSampler(genotype), seed=0)
    with torch.no_grad():
        loss_after = F.cross_entropy(net(x, genotype), y).item()
    assert stats["steps"] == 1 and stats["images_per_s"] > 0 and stats["peak_memory_mb"] > 0
    assert loss_after < loss_before
    assert not torch.equal(before["classifier.weight"], net.state_dict()["classifier.weight"])


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_single_path_trains_only_the_chosen_ops(space):
    net = build_supernet(space, seed=0, **SMALL[space])
    genotype = _sample(space, 0)
    net(torch.randn(2, 3, 16, 16), genotype).sum().backward()
    names = [n for n, p in net.named_parameters() if ".edges." in n]
    used = {n for n, p in net.named_parameters() if ".edges." in n and p.grad is not None}
    assert used and len(used) < len(names)
    if space == "nb201":  # cells.<cell>.edges.<edge>.<op index>...
        chosen = {f"{e}.{NB201_OPS.index(op)}" for e, op in enumerate(get_space("nb201").edge_ops(genotype))}
        assert {".".join(n.split(".")[3:5]) for n in used} <= chosen


def test_supernet_path_flops_match_the_standalone_network():
    genotype = get_space("nb201").parse(ARCH)
    net = build_supernet("nb201")
    assert count_flops_m(net, genotype) == pytest.approx(count_flops_m(standalone_network(genotype)))


def test_supernet_refuses_a_genotype_of_another_space():
    net = build_supernet("nb201", **SMALL["nb201"])
    with pytest.raises(InvalidArchitecture, match="nb201 supernet.*'darts'"):
        net(torch.randn(1, 3, 16, 16), _sample("darts", 0))


# -- evaluator ------------------------------------------------------------------------------------------------
def test_inherited_weight_evaluation_is_deterministic(trained, data):
    evaluator = SupernetEvaluator(trained, data, recal_batches=2, batch_size=16)
    assert isinstance(evaluator, Evaluator) and evaluator.space_name == "nb201"
    a, b = _sample("nb201", 1), _sample("nb201", 2)
    first = evaluator.accuracy(a)
    evaluator.accuracy(b)  # another candidate's statistics in between must not leak
    assert evaluator.accuracy(a) == first
    metrics = evaluator.evaluate([a, b, a])
    assert metrics[0] == metrics[2] and metrics[0]["valid_acc"] == first
    assert set(metrics[0]) == {"valid_acc", "params_mb", "flops_m"} and metrics[0]["flops_m"] > 0
    assert evaluator.cost.queries == 3  # no cache: the search loop, not the evaluator, skips repeats
    fresh = SupernetEvaluator(trained, data, recal_batches=2, batch_size=16)
    assert fresh.evaluate([a]) == [metrics[0]]


def test_evaluator_refuses_a_genotype_of_another_space(trained, data):
    evaluator = SupernetEvaluator(trained, data, recal_batches=1)
    with pytest.raises(InvalidArchitecture, match=r"'nb201'.*'darts'"):
        evaluator.evaluate([_sample("nb201", 0), _sample("darts", 0)])
    assert evaluator.cost.queries == 0


def test_from_checkpoint_round_trip_and_errors(trained, tmp_path):
    spec = DataSpec("synthetic", synthetic_n=96, valid_fraction=0.5, seed=1)
    path = tmp_path / "supernet.pt"
    save_supernet(path, trained, spec, {"note": "test"})
    evaluator = SupernetEvaluator.from_checkpoint(path, "nb201", device="cpu", recal_batches=1)
    assert evaluator.provenance["checkpoint"] == str(path)
    assert evaluator.evaluate([_sample("nb201", 0)])[0]["valid_acc"] >= 0
    with pytest.raises(CheckpointError, match="'nb201' supernet, not one for space 'darts'"):
        SupernetEvaluator.from_checkpoint(path, "darts")
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["C"] = 8
    torch.save(ckpt, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not fit this model"):
        SupernetEvaluator.from_checkpoint(tmp_path / "mismatch.pt", "nb201")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        SupernetEvaluator.from_checkpoint(bad, "nb201")
    with pytest.raises(CheckpointError, match="not found"):
        SupernetEvaluator.from_checkpoint(tmp_path / "missing.pt", "nb201")


def test_registered_evaluator_builds_from_config_charges_each_answer_and_pickles(trained, tmp_path):
    path = tmp_path / "supernet.pt"
    save_supernet(path, trained, DataSpec("synthetic", synthetic_n=96, valid_fraction=0.5, seed=1), {})
    cls = EVALUATORS.get("supernet")
    assert cls is SupernetEvaluator and "checkpoint" in EVALUATORS.settings("supernet")
    evaluator = EVALUATORS.create(
        "supernet", get_space("nb201"), dataset="synthetic", seed=0, checkpoint=path, recal_batches=1, batch_size=16
    )
    assert evaluator.metrics == ("valid_acc", "params_mb", "flops_m")
    a, b = _sample("nb201", 1), _sample("nb201", 2)
    answers = evaluator.evaluate([a, b])
    assert all(set(m) == set(evaluator.metrics) for m in answers)
    assert evaluator.cost.queries == 2 and evaluator.cost.seconds > 0
    clone = pickle.loads(pickle.dumps(evaluator))  # what shipping it to a worker process does
    assert clone.evaluate([b, a]) == answers[::-1] and clone.cost.queries == 4
    with pytest.raises(ArchLatentError, match="has no setting"):
        EVALUATORS.create("supernet", get_space("nb201"), dataset="synthetic", checkpoint=path, recal=1)


# -- DDAS ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_ddas_actions_decode_to_the_encoded_architecture(space):
    sampler = DDASCostSampler(get_space(space), cost=lambda g: 1.0)
    for seed in range(5):
        genotype = _sample(space, seed)
        assert sampler.codec.decode(sampler.codec.encode(genotype)).key() == genotype.key()


def test_ddas_run_keeps_a_non_dominated_front(data):
    space = get_space("nb201")
    net = build_supernet("nb201", seed=0, num_classes=4, **SMALL["nb201"])
    sampler = DDASCostSampler(space, cost=lambda g: count_flops_m(net, g, image_size=16), warmup=3, batch_size=4, seed=0)
    train_supernet(net, data, steps=8, batch_size=24, sampler=sampler, seed=0)
    assert len(sampler.history) == 8 and sampler.stored == 8
    front = sampler.front.front()
    assert front
    for p in front:
        for q in front:
            assert not (q.accuracy >= p.accuracy and q.cost <= p.cost and (q.accuracy > p.accuracy or q.cost < p.cost))
    assert not torch.equal(sampler.actor[0][0].weight, sampler.actor_target[0][0].weight)  # learned, softly tracked
    with pytest.raises(ArchLatentError, match="follow sample"):
        sampler.feedback(_sample("nb201", 0), 50.0)


def test_samplers_have_their_own_rng():
    space = get_space("nb201")
    state = torch.get_rng_state()
    a = [UniformSampler(space, seed=4).sample().key() for _ in range(2)]
    d1, d2 = DDASCostSampler(space, cost=lambda g: 1.0, seed=4), DDASCostSampler(space, cost=lambda g: 1.0, seed=4)
    assert a[0] == a[1] and d1.sample().key() == d2.sample().key()
    assert torch.equal(state, torch.get_rng_state())
    front = ParetoFront(lambda g: 2.0)
    front.add(_sample("nb201", 0), 10.0)
    assert front.cost_range() == (2.0, 2.0)


# -- datasets -------------------------------------------------------------------------------------------------
def test_synthetic_shapes_and_determinism():
    a, b = synthetic(40, classes=4, size=16, seed=5), synthetic(40, classes=4, size=16, seed=5)
    assert a.train_x.shape == (40, 3, 16, 16) and a.train_x.dtype == torch.uint8
    assert a.test_x.shape == (8, 3, 16, 16) and a.num_classes == 4
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, synthetic(40, classes=4, size=16, seed=6).train_x)
    assert torch.bincount(a.train_y).tolist() == [10] * 4
    held = a.holdout(0.25, seed=0)
    assert len(held.train_y) == 30 and len(held.test_y) == 10


def test_loader_augments_deterministically_on_its_device():
    data = synthetic(64, classes=4, size=16, seed=0)
    batches = [next(iter(make_loader(data, "train", 16, train=True, cutout=8, seed=2))) for _ in range(2)]
    assert batches[0][0].shape == (16, 3, 16, 16) and batches[0][0].dtype == torch.float32
    assert torch.equal(batches[0][0], batches[1][0]) and torch.equal(batches[0][1], batches[1][1])
    plain = make_loader(data, "test", 5)
    assert len(plain) == 3 and sum(len(y) for _, y in plain) == len(data.test_y)


# -- train_final -------------------------------------------------------------------------------------------------
FINAL = {"epochs": 2, "batch_size": 16, "network": {"C": 2, "N": 1}}


@pytest.fixture(scope="module")
def tiny():
    return synthetic(32, classes=4, size=16, seed=2)


def test_train_final_resumes_from_the_saved_epoch(tiny, tmp_path):
    genotype = get_space("nb201").parse(ARCH)
    full = train_final("nb201", genotype, tiny, out=tmp_path / "a", **FINAL)
    assert [h["epoch"] for h in full["history"]] == [1, 2]

    def interrupt(info):
        if info["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_final("nb201", genotype, tiny, out=tmp_path / "b", progress=interrupt, **FINAL)
    assert torch.load(tmp_path / "b" / "final.pt", weights_only=True)["epoch"] == 1
    resumed = train_final("nb201", genotype, tiny, out=tmp_path / "b", resume=True, **FINAL)
    drop = ("seconds",)
    assert [{k: v for k, v in h.items() if k not in drop} for h in resumed["history"]] == [
        {k: v for k, v in h.items() if k not in drop} for h in full["history"]
    ]


def test_train_final_checkpoint_errors(tiny, tmp_path, monkeypatch):
    space = get_space("nb201")
    genotype = space.parse(ARCH)
    (tmp_path / "final.pt").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(CheckpointError, match="corrupt"):
        train_final(space, genotype, tiny, out=tmp_path, resume=True, **FINAL)
    train_final(space, genotype, tiny, out=tmp_path, **{**FINAL, "epochs": 1})
    with pytest.raises(CheckpointError, match="another genotype"):
        train_final(
            space,
            space.mutate(genotype, np.random.default_rng(0)),
            tiny,
            out=tmp_path,
            resume=True,
            **{**FINAL, "epochs": 1},
        )

    calls = {"n": 0}

    def nan_after_one_epoch(logits, y):
        calls["n"] += 1
        return F.cross_entropy(logits, y) * (float("nan") if calls["n"] > 2 else 1.0)

    monkeypatch.setattr("archlatent.oneshot.final.F", types.SimpleNamespace(cross_entropy=nan_after_one_epoch))
    with pytest.raises(ArchLatentError, match=r"epoch 2, step 1.*untouched"):
        train_final(space, genotype, tiny, out=tmp_path / "nan", **FINAL)
    assert torch.load(tmp_path / "nan" / "final.pt", weights_only=True)["epoch"] == 1


# -- CLI ---------------------------------------------------------------------------------------------------------
def test_cli_supernet_train_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--dataset", "synthetic", "--synthetic-n", "48", "--channels", "4", "--depth", "1", "--batch-size", "16"]
    assert (
        main(["supernet", "train", "--space", "nb201", *common, "--steps", "4", "--sampler", "ddas", "--out", str(out)])
        == 0
    )
    meta = json.loads((out / "supernet.json").read_text())
    assert meta["space"] == "nb201" and meta["hyperparameters"]["steps"] == 4 and meta["stats"]["images_per_s"] > 0
    assert (out / "supernet.pt").is_file() and (out / "front.png").stat().st_size > 0
    assert json.loads((out / "front.json").read_text())["front"]
    capsys.readouterr()
    assert main(["supernet", "eval", "--checkpoint", str(out / "supernet.pt"), ARCH]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert 0 <= doc["results"][0]["metrics"]["valid_acc"] <= 100 and doc["cost"]["queries"] == 1
    (tmp_path / "bad.pt").write_text("garbage")
    assert main(["supernet", "eval", "--checkpoint", str(tmp_path / "bad.pt"), ARCH]) == 2
    assert "corrupt" in capsys.readouterr().err
    final = tmp_path / "final"
    args = ["train-final", "--space", "nb201", "--genotype", ARCH, *common, "--epochs", "1", "--out", str(final)]
    assert main(args) == 0
    assert json.loads((final / "final.json").read_text())["history"][0]["epoch"] == 1
