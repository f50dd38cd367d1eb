"""DDAS as its paper defines it: action size and discretization, reward, held actions, exploration, noises, run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from archlatent import get_space
from archlatent.errors import ArchLatentError
from archlatent.oneshot.data import synthetic
from archlatent.oneshot.ddas_search import run_ddas
from archlatent.oneshot.nets import count_flops_m
from archlatent.oneshot.nets.mixed import build_mixed
from archlatent.oneshot.samplers import SAMPLERS, DDASSampler
from archlatent.spaces import darts, nb201
from archlatent.spaces.restrict import RestrictedSpace

PRIMITIVES = ("none", *darts.OPS)


def _unit(genotype) -> float:
    return 1.0


def test_darts_action_is_224_sigmoid_scores_discretized_by_the_darts_rule():
    sampler = DDASSampler(get_space("darts"), cost=_unit, explore=0)
    assert sampler.codec.dim == 224 and sampler.codec.shape == (2, 14, 8)
    action = sampler.act(sampler.state)
    assert action.shape == (224,) and ((action > 0) & (action < 1)).all()
    scores = np.zeros((2, 14, 8), np.float32)
    e, k = darts.edge_index, PRIMITIVES.index
    scores[0, e(2, 1), k("sep_conv_5x5")] = 0.9
    scores[0, e(2, 0), k("skip_connect")] = 0.8
    scores[0, e(3, 2), k("none")] = 1.0  # `none` is never picked, however strong
    scores[0, e(3, 2), k("avg_pool_3x3")] = 0.3
    scores[0, e(3, 0), k("dil_conv_3x3")] = 0.5
    scores[1, :, k("max_pool_3x3")] = 0.2
    scores[1, e(4, 3), k("sep_conv_3x3")] = 0.7
    tie = [("max_pool_3x3", 0), ("max_pool_3x3", 1)]
    normal = [("sep_conv_5x5", 1), ("skip_connect", 0), ("dil_conv_3x3", 0), ("avg_pool_3x3", 2), *tie, *tie]
    reduce = [*tie, *tie, ("sep_conv_3x3", 3), ("max_pool_3x3", 0), *tie]
    genotype = sampler.codec.decode(scores.ravel())
    assert genotype == get_space("darts").from_pairs(normal, reduce)
    onehot = sampler.codec.encode(genotype).reshape(2, 14, 8)
    assert onehot.sum() == 16 and onehot[0, e(2, 1), k("sep_conv_5x5")] == 1
    assert sampler.codec.decode(sampler.codec.encode(genotype)).key() == genotype.key()


def test_nb201_discretization_takes_the_best_op_per_edge_none_included():
    codec = DDASSampler(get_space("nb201"), cost=_unit).codec
    assert codec.dim == 30
    scores = np.full((1, 6, 5), 0.1, np.float32)
    ops = ["none", "avg_pool_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none"]
    for edge, op in enumerate(ops):
        scores[0, edge, nb201.OPS.index(op)] = 0.9
    assert get_space("nb201").edge_ops(codec.decode(scores.ravel())) == tuple(ops)


def test_reward_is_the_mean_of_accuracy_and_loss_improvements():
    sampler = DDASSampler(get_space("nb201"), cost=_unit, finetune_batches=1, explore=10, seed=0)
    sampler.set_reference(50.0, 2.0)
    g = sampler.sample()
    sampler.feedback(g, 60.0, loss=1.5)  # dAcc = 0.6 - 0.5, dL = 2.0 - 1.5
    g2 = sampler.sample()
    sampler.feedback(g2, 40.0, loss=1.8)  # dAcc = 0.4 - 0.5, dL = 1.5 - 1.8
    assert sampler.buffer["reward"][:2] == pytest.approx([0.3, -0.2])
    assert [h["d_loss"] for h in sampler.history] == pytest.approx([0.5, -0.3])
    assert sampler.reward(50.0, None) == (0.0, 0.0, 0.0)  # no loss measured: dL = 0
    assert np.array_equal(sampler.buffer["next"][0], sampler.codec.encode(g))  # state = the previous architecture
    assert np.array_equal(sampler.buffer["state"][1], sampler.codec.encode(g))
    assert sampler.buffer["state"][0].sum() == 30  # the first state: every candidate on


def test_an_action_is_held_for_m_minibatches_and_learning_waits_for_exploration():
    sampler = DDASSampler(get_space("nb201"), cost=_unit, finetune_batches=3, explore=4, batch_size=2, seed=1)
    weights = sampler.actor[0][0].weight.detach().clone()
    for action in range(6):
        genotypes = [sampler.sample() for _ in range(3)]
        assert all(g == genotypes[0] for g in genotypes)
        other = next(g for g in (get_space("nb201").from_ops([op] * 6) for op in nb201.OPS) if g != genotypes[0])
        with pytest.raises(ArchLatentError, match="follow sample"):
            sampler.feedback(other, 10.0)
        sampler.feedback(genotypes[0], 50.0 + action, loss=1.0)
        assert sampler.stored == action + 1
        learned = not torch.equal(weights, sampler.actor[0][0].weight)
        assert learned == (action >= 3), action  # the 4 exploring actions leave the actor alone
    assert [h["explored"] for h in sampler.history] == [True] * 4 + [False] * 2


def test_noises_have_the_paper_scales_and_4s_bursts_after_similar_steps():
    space = get_space("darts")
    nl = DDASSampler(space, cost=_unit, noise="nl", explore=0)._noise()
    assert np.abs(nl).max() <= 1e-5
    g = DDASSampler(space, cost=_unit, noise="g", explore=0)._noise()
    assert 0.04 < g.std() < 0.06
    sampler = DDASSampler(space, cost=_unit, noise="4s", explore=0, finetune_batches=1, similar_steps=3, burst_steps=2)
    assert sampler.similar_below == 6
    bursts = []
    for _ in range(8):  # a fixed actor with tiny noise proposes the same cell again and again
        genotype = sampler.sample()
        sampler.feedback(genotype, 50.0)
        bursts.append(sampler._burst)
    assert bursts[:3] == [0, 0, 0] and 2 in bursts  # 3 similar steps after the first, then a burst of 2
    with pytest.raises(ArchLatentError, match="unknown DDAS noise"):
        DDASSampler(space, cost=_unit, noise="ou")


def test_restricted_actions_never_pick_forbidden_ops():
    allowed = [[("skip_connect", "nor_conv_3x3")] * 6]
    space = RestrictedSpace(get_space("nb201"), allowed)
    sampler = SAMPLERS.create("ddas", space, seed=0, cost=_unit, finetune_batches=1, explore=5, batch_size=2)
    for _ in range(12):
        genotype = sampler.sample()
        assert space.is_valid(genotype)
        sampler.feedback(genotype, 50.0, loss=1.0)


def test_run_ddas_warms_up_then_builds_the_front_from_every_sampled_path():
    data = synthetic(64, classes=4, size=16, seed=1).holdout(0.5, seed=1)
    net = build_mixed("nb201", seed=0, num_classes=4, C=4, N=1)
    sampler = DDASSampler(
        get_space("nb201"), seed=0, cost=lambda g: count_flops_m(net, g, image_size=16),
        finetune_batches=2, explore=3, batch_size=2,
    )  # fmt: skip
    result = run_ddas(sampler, net, data, actions=5, warmup_steps=3, batch_size=16, valid_batches=1)
    assert result["minibatches"] == 3 + 5 * 2 and len(result["history"]) == 5
    assert 0 <= result["reference"]["accuracy"] <= 100 and result["reference"]["loss"] > 0
    assert len(result["points"]) == len({h["arch"] for h in result["points"]}) == len(sampler.front.points())
    assert result["front"] and 0 < result["hypervolume"] <= 1.1
    assert sampler.history[0]["d_loss"] == pytest.approx(result["reference"]["loss"] - sampler.history[0]["loss"])
    with pytest.raises(ArchLatentError, match="over the supernet's own space"):
        run_ddas(DDASSampler(get_space("darts"), cost=_unit), net, data, actions=1, warmup_steps=0)


def test_ddas_command_runs_the_papers_protocol_and_exports(tmp_path, capsys):
    import json

    from archlatent.cli import main

    out = tmp_path / "dd"
    argv = ["ddas", "--space", "nb201", "--dataset", "synthetic", "--synthetic-n", "64", "--channels", "4", "--depth",
            "1", "--actions", "4", "--warmup-steps", "2", "--finetune-batches", "1", "--explore", "2", "--batch-size",
            "16", "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["actions"] == 4 and doc["minibatches"] == 2 + 4 * 1 and len(doc["history"]) == 4
    front = doc["front"]
    assert front and all(not any(b["accuracy"] >= a["accuracy"] and b["cost"] <= a["cost"] and b != a
                                 and (b["accuracy"] > a["accuracy"] or b["cost"] < a["cost"]) for b in front)
                         for a in front)
    assert doc["best"]["arch"] == max(front, key=lambda r: r["accuracy"])["arch"]
    assert (out / "front.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["export", str(out)]) == 0 and capsys.readouterr().out.strip() == doc["best"]["arch"]
    assert main([*argv, "--resume"]) == 2 and "no --resume" in capsys.readouterr().err
