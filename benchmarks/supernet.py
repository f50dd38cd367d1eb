"""Supernet benchmark: training throughput and peak memory here, DDAS vs uniform sampling, ranking quality.

1. Throughput: images/s and peak memory of single-path supernet training (NB201 C=16 N=5 and DARTS
   C=16 8 cells, the published search sizes) on this machine's device.
2. DDAS (the paper's protocol, `run_ddas`: warm-up with every op on, M minibatches per action, whole
   validation split) vs uniform (SPOS) sampling vs ``ddas-cost`` at equal training minibatches on a small
   NB201 supernet: hypervolume of the accuracy-vs-FLOPs front each sampler recorded during training, and
   of the same fronts re-scored with the `SupernetEvaluator` (BN recalibrated, whole validation split).
3. Ranking: Kendall tau between the uniform supernet's inherited accuracy and standalone-trained accuracy
   of random NB201 cells (same skeleton), on the synthetic set's held-out split.

Prints one JSON document with every figure and the exact settings. Run from the repository root:
``.venv/bin/python benchmarks/supernet.py [--dataset fashion-mnist]`` (about 8 minutes on 2 CPU cores;
``--quick`` for a smoke run, ``--part samplers`` for section 2 alone).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

import numpy as np
import torch
from scipy import stats

from archlatent import get_space
from archlatent.evaluators.supernet import SupernetEvaluator
from archlatent.oneshot.data import ImageData, fashion_mnist, synthetic
from archlatent.oneshot.ddas_search import run_ddas
from archlatent.oneshot.final import train_final
from archlatent.oneshot.nets import Supernet, build_supernet, count_flops_m
from archlatent.oneshot.nets.mixed import build_mixed
from archlatent.oneshot.samplers import SAMPLERS
from archlatent.oneshot.train import train_supernet
from archlatent.pareto import nondominated, normalized_hypervolume

FULL = {
    "threads": 1,
    "synthetic_n": 2000,
    "image_size": 32,
    "valid_fraction": 0.5,
    "batch_size": 64,
    "throughput_steps": {"nb201": 4, "darts": 3},
    "small_supernet": {"C": 8, "N": 1},
    "search_steps": 400,
    "ddas_lam": 0.5,
    # the paper's DDAS at this scale: 100 warm-up minibatches + 60 actions x M = 5 (M = 25, 500 exploring
    # actions and a replay batch of 64 in the paper do not fit 400 minibatches)
    "ddas": {"warmup_steps": 100, "finetune_batches": 5, "explore": 20, "replay_batch": 16},
    "ranking_archs": 10,
    "standalone_epochs": 6,
    "seed": 0,
}
QUICK = FULL | {
    "synthetic_n": 400,
    "throughput_steps": {"nb201": 1, "darts": 1},
    "search_steps": 30,
    "ddas": {"warmup_steps": 10, "finetune_batches": 2, "explore": 3, "replay_batch": 4},
    "ranking_archs": 4,
    "standalone_epochs": 1,
}


def throughput(data: ImageData, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Images/s and peak memory of supernet training at the published search sizes."""
    rows = []
    for space, size in (("nb201", {"C": 16, "N": 5}), ("darts", {"C": 16, "layers": 8})):
        net = build_supernet(space, seed=cfg["seed"], num_classes=data.num_classes, **size)
        steps = cfg["throughput_steps"][space]
        out = train_supernet(net, data, steps=steps, batch_size=cfg["batch_size"], seed=cfg["seed"])
        keep = ("images_per_s", "peak_memory_mb", "peak_memory_source", "device", "amp", "seconds")
        rows.append({"space": space, "supernet": size, "steps": steps} | {k: out[k] for k in keep})
    return rows


def _front_hv(points: list[tuple[float, float]], max_cost: float) -> dict[str, Any]:
    """Hypervolume of (accuracy %, MFLOPs) points: accuracy / 100 up, cost / max_cost down, ref (0, 1.1)."""
    keep = nondominated(np.array([(-acc, cost) for acc, cost in points]).reshape(-1, 2))
    front = sorted((p for p, k in zip(points, keep) if k), key=lambda p: p[1])
    return {"hypervolume": normalized_hypervolume(points, max_cost), "front_size": len(front), "front": front}


def compare_samplers(data: ImageData, cfg: dict[str, Any]) -> tuple[dict[str, Any], Supernet]:
    """Uniform, DDAS (the paper's protocol) and ddas-cost at equal training minibatches; returns the
    figures and the uniform-trained supernet."""
    space, seed = get_space("nb201"), cfg["seed"]
    result: dict[str, Any] = {}
    nets: dict[str, Supernet] = {}
    max_cost = 0.0
    for name in ("uniform", "ddas", "ddas-cost"):
        build = build_mixed if name == "ddas" else build_supernet
        net = build("nb201", seed=seed, num_classes=data.num_classes, **cfg["small_supernet"])

        def flops(genotype: Any, net: Supernet = net) -> float:
            return count_flops_m(net, genotype, image_size=data.image_size)

        max_cost = flops(space.from_ops(["nor_conv_3x3"] * 6))
        extra: dict[str, Any] = {}
        start = time.perf_counter()
        if name == "ddas":  # warm-up with every op on, then actions of M minibatches: the same minibatch count
            d = cfg["ddas"]
            sampler = SAMPLERS.create(name, space, seed=seed, cost=flops, finetune_batches=d["finetune_batches"],
                                      explore=d["explore"], batch_size=d["replay_batch"])  # fmt: skip
            actions = (cfg["search_steps"] - d["warmup_steps"]) // d["finetune_batches"]
            run = run_ddas(sampler, net, data, actions=actions, warmup_steps=d["warmup_steps"],
                           batch_size=cfg["batch_size"], seed=seed)  # fmt: skip
            extra = {"minibatches": run["minibatches"], "reference": run["reference"],
                     "after_run_front": _front_hv([(p["accuracy"], p["cost"]) for p in run["points"]], max_cost)}  # fmt: skip
        else:
            settings = {"lam": cfg["ddas_lam"]} if name == "ddas-cost" else {}
            # every sampler given a cost records its front the same way
            sampler = SAMPLERS.create(name, space, seed=seed, cost=flops, **settings)
            run = train_supernet(net, data, steps=cfg["search_steps"], batch_size=cfg["batch_size"], sampler=sampler,
                                 seed=seed)  # fmt: skip
            extra = {"minibatches": run["steps"], "final_loss": run["final_loss"]}
        recorded = sampler.front.front()
        evaluator = SupernetEvaluator(net, data, recal_batches=4, batch_size=256)
        rescored = [(evaluator.accuracy(p.genotype), p.cost) for p in recorded]
        result[name] = {
            "train_seconds": time.perf_counter() - start,
            "distinct_sampled": len(sampler.front.points()),
            "recorded": _front_hv([(p.accuracy, p.cost) for p in recorded], max_cost),
            "rescored": _front_hv(rescored, max_cost),
            **extra,
        }
        nets[name] = net
    result["max_path_mflops"] = max_cost
    return result, nets["uniform"]


def ranking(data: ImageData, supernet: Supernet, cfg: dict[str, Any]) -> dict[str, Any]:
    """Kendall tau between inherited-weight and standalone-trained accuracy of random NB201 cells."""
    space = get_space("nb201")
    rng = np.random.default_rng(cfg["seed"] + 1)
    archs: dict[str, Any] = {}
    while len(archs) < cfg["ranking_archs"]:
        genotype = space.sample(rng)
        archs.setdefault(genotype.key(), genotype)
    evaluator = SupernetEvaluator(supernet, data, recal_batches=4, batch_size=256)
    rows = []
    start = time.perf_counter()
    for genotype in archs.values():
        final = train_final(
            space,
            genotype,
            data,
            epochs=cfg["standalone_epochs"],
            batch_size=cfg["batch_size"],
            network=cfg["small_supernet"],
            seed=cfg["seed"],
        )
        rows.append(
            {
                "arch": space.format(genotype),
                "inherited_acc": evaluator.accuracy(genotype),
                "standalone_acc": final["test_acc"],
            }
        )
    inherited = [r["inherited_acc"] for r in rows]
    standalone = [r["standalone_acc"] for r in rows]
    tau = stats.kendalltau(inherited, standalone)
    return {
        "kendall_tau": float(tau.statistic),
        "p_value": float(tau.pvalue),
        "spearman_rho": float(stats.spearmanr(inherited, standalone).statistic),
        "standalone_seconds": time.perf_counter() - start,
        "archs": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, for a smoke run")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default 1, see the settings' note)")
    parser.add_argument("--dataset", choices=("synthetic", "fashion-mnist"), default="synthetic",
                        help="fashion-mnist: Debian's dataset-fashion-mnist files (installed offline)")
    parser.add_argument("--part", choices=("all", "throughput", "samplers"), default="all",
                        help="samplers: section 2 only; throughput: section 1 only")
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.threads is not None:
        cfg["threads"] = args.threads
    torch.set_num_threads(cfg["threads"])
    start = time.perf_counter()
    if args.dataset == "fashion-mnist":
        full = fashion_mnist()
        n = cfg["synthetic_n"]  # the same number of training images as the synthetic set
        data = ImageData("fashion-mnist", full.train_x[:n], full.train_y[:n], full.test_x, full.test_y, 10)
        described = f"Fashion-MNIST, first {n} training images (padded to 32x32), held-out split"
    else:
        data = synthetic(cfg["synthetic_n"], size=cfg["image_size"], seed=cfg["seed"])
        described = f"synthetic (10 classes, {cfg['image_size']}x{cfg['image_size']}), held-out split"
    data = data.holdout(cfg["valid_fraction"], cfg["seed"])
    doc: dict[str, Any] = {
        "settings": cfg
        | {
            "dataset": described,
            "search_supernet": "nb201 " + json.dumps(cfg["small_supernet"]),
            "note": "one torch thread: on this shared 2-core machine two OpenMP threads ran ~10x slower under load",
        },
        "machine": {
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not measured (no CUDA device here)",
        },
    }
    if args.part in ("all", "throughput"):
        doc["throughput"] = throughput(data, cfg)
    if args.part in ("all", "samplers"):
        doc["ddas_vs_uniform"], uniform_net = compare_samplers(data, cfg)
    if args.part == "all":
        doc["ranking"] = ranking(data, uniform_net, cfg)
    doc["wall_seconds"] = time.perf_counter() - start
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
