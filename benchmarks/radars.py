"""RADARS benchmark: DNAS step memory on the full DARTS space vs the RADARS subspace, and four searches at equal time.

1. Memory (dry run, `archlatent.oneshot.memory.step_peak_memory`): peak of one first-order DNAS step
   (forward + backward + update, same batch and width) on the full DARTS space and on the subspace
   RADARS keeps, goal <= 1/3; the single-path (SPOS) step for reference. On the CPU the figure is the
   torch profiler's peak of live tensor bytes; on CUDA, ``torch.cuda.max_memory_allocated``. Measured at
   the search scale and at a larger one (``memory_scale``).
2. Search at equal wall-clock on a small DARTS supernet: RADARS (budget: a third of the full space's DNAS
   step) runs first and its time T becomes everyone's: full DNAS (cut at T), RL only (the REINFORCE
   controller and SPOS training alternating on the full space until T; its policy's mode), random (SPOS
   uniform training for 80 % of T, then random paths scored on validation batches until T). Reported
   per method: the genotype, its supernet accuracy (`SupernetEvaluator`: BN recalibrated, the held-out
   split) on the method's own supernet, and its test accuracy after a short standalone training.

Prints one JSON document (settings, machine, figures). From the repository root:
``.venv/bin/python benchmarks/radars.py [--dataset synthetic] [--quick]`` (Fashion-MNIST from Debian's
``dataset-fashion-mnist`` by default; about 12 minutes on one CPU thread).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archlatent import get_space
from archlatent.evaluators.supernet import SupernetEvaluator
from archlatent.oneshot.controller import Controller
from archlatent.oneshot.data import ImageData, fashion_mnist, make_loader, synthetic
from archlatent.oneshot.dnas import DnasSettings, search_dnas, validate
from archlatent.oneshot.final import train_final
from archlatent.oneshot.memory import step_peak_memory
from archlatent.oneshot.nets import Supernet
from archlatent.oneshot.nets.mixed import build_mixed, build_single_path
from archlatent.oneshot.radars import RadarsSettings, controller_round, run_radars
from archlatent.oneshot.runtime import cycle
from archlatent.oneshot.samplers import SAMPLERS
from archlatent.oneshot.train import train_supernet
from archlatent.spaces.restrict import RestrictedSpace

FULL = {
    "threads": 1,
    "train_images": 2000,
    "test_images": 2000,
    "image_size": 16,
    "valid_fraction": 0.5,
    "batch_size": 32,
    "supernet": {"C": 4, "layers": 5},
    "memory_scale": {"supernet": {"C": 8, "layers": 5}, "batch_size": 32, "image_size": 32},
    "budget_fraction": 1 / 3,
    "supernet_steps": 40,
    "controller_steps": 40,
    "keep_fraction": 0.5,
    "dnas_epochs": 6,
    "steps_per_epoch": 15,
    "random_candidates_batches": 2,
    "standalone": {"epochs": 3, "batch_size": 64, "network": {"C": 8, "layers": 5}},
    "seed": 0,
}
ROUND_FIELDS = ("round", "candidates", "memory_mb", "fits", "seconds", "mean_reward")
QUICK = FULL | {
    "train_images": 200,
    "test_images": 200,
    "supernet": {"C": 2, "layers": 3},
    "memory_scale": {"supernet": {"C": 2, "layers": 3}, "batch_size": 8, "image_size": 16},
    "batch_size": 8,
    "supernet_steps": 3,
    "controller_steps": 3,
    "dnas_epochs": 1,
    "steps_per_epoch": 2,
    "standalone": {"epochs": 1, "batch_size": 32, "network": {"C": 2, "layers": 3}},
}


def load(dataset: str, cfg: dict[str, Any]) -> tuple[ImageData, ImageData, str]:
    """The search split (train / held-out validation) and the standalone split (train / official test)."""
    n, size = cfg["train_images"], cfg["image_size"]
    if dataset == "fashion-mnist":
        full = fashion_mnist()
        x, y, tx, ty = full.train_x[:n], full.train_y[:n], full.test_x[: cfg["test_images"]], full.test_y[: cfg["test_images"]]
        described = f"Fashion-MNIST (Debian dataset-fashion-mnist), first {n} training and {len(ty)} test images"
    else:
        full = synthetic(n + cfg["test_images"], size=32, seed=cfg["seed"])
        x, y, tx, ty = full.train_x[:n], full.train_y[:n], full.train_x[n:], full.train_y[n:]
        described = f"synthetic plaids, {n} training and {len(ty)} test images"

    def shrink(images: torch.Tensor) -> torch.Tensor:  # 32x32 -> size x size, still uint8
        return F.interpolate(images.float(), size=(size, size), mode="area").round().to(torch.uint8)

    standalone = ImageData(dataset, shrink(x), y, shrink(tx), ty, 10)
    return standalone.holdout(cfg["valid_fraction"], cfg["seed"]), standalone, f"{described}, at {size}x{size}"


def memory_figures(subspace: RestrictedSpace, supernet: dict[str, int], batch: int, size: int) -> dict[str, Any]:
    """DNAS and single-path step peaks on the full space and on `subspace`, with their ratios."""
    rows: dict[str, Any] = {"supernet": supernet, "batch_size": batch, "image_size": size}
    for mode in ("dnas", "single-path"):
        full = step_peak_memory(get_space("darts"), supernet, batch_size=batch, image_size=size, mode=mode)
        sub = step_peak_memory(subspace, supernet, batch_size=batch, image_size=size, mode=mode)
        rows[mode] = {"full_mb": full["peak_mb"], "subspace_mb": sub["peak_mb"], "ratio": sub["peak_mb"] / full["peak_mb"],
                      "source": full["source"]}  # fmt: skip
    return rows


def rl_only(data: ImageData, cfg: dict[str, Any], seconds: float, settings: RadarsSettings) -> tuple[str, Supernet]:
    """The controller on the full space: SPOS rounds and REINFORCE rounds alternating until `seconds`."""
    space, seed = get_space("darts"), cfg["seed"]
    net = build_single_path(space, seed, num_classes=10, **cfg["supernet"])
    controller = Controller(space, lr=settings.controller_lr, seed=seed)
    batches = cycle(make_loader(data, "test", cfg["batch_size"], seed=seed))
    start, r = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        train_supernet(net, data, steps=cfg["supernet_steps"], sampler=SAMPLERS.create("uniform", space, seed=seed + r),
                       batch_size=cfg["batch_size"], seed=seed + r)  # fmt: skip
        controller_round(controller, net, batches, torch.device("cpu"), settings)
        r += 1
    return space.format(controller.best()), net


def random_search(data: ImageData, cfg: dict[str, Any], seconds: float) -> tuple[str, Supernet]:
    """SPOS uniform training for 80 % of `seconds`, then random paths scored on validation batches until `seconds`."""
    space, seed = get_space("darts"), cfg["seed"]
    net = build_single_path(space, seed, num_classes=10, **cfg["supernet"])
    start, r = time.perf_counter(), 0
    while time.perf_counter() - start < 0.8 * seconds:
        train_supernet(net, data, steps=cfg["supernet_steps"], sampler=SAMPLERS.create("uniform", space, seed=seed + r),
                       batch_size=cfg["batch_size"], seed=seed + r)  # fmt: skip
        r += 1
    valid = make_loader(data, "test", cfg["batch_size"])
    rng, best = np.random.default_rng(seed), (-1.0, None)
    net.train()
    while best[1] is None or time.perf_counter() - start < seconds:
        g = space.sample(rng)
        acc = validate(lambda x, g=g: net(x, g), valid, torch.device("cpu"), cfg["random_candidates_batches"])[0]
        best = max(best, (acc, g), key=lambda t: t[0])
    return space.format(best[1]), net


def score(arch: str, net: Supernet, search: ImageData, standalone: ImageData, cfg: dict[str, Any]) -> dict[str, Any]:
    """Supernet accuracy (BN recalibrated, held-out split) and test accuracy after short standalone training."""
    space = get_space("darts")
    genotype = space.parse(arch)
    evaluator = SupernetEvaluator(net, search, recal_batches=4, batch_size=128)
    st = cfg["standalone"]
    final = train_final(
        space, genotype, standalone, epochs=st["epochs"], batch_size=st["batch_size"], network=st["network"],
        cutout=0, auxiliary_weight=0.0, drop_path_prob=0.0, seed=cfg["seed"],
    )  # fmt: skip
    return {"genotype": arch, "supernet_acc": evaluator.accuracy(genotype), "standalone_test_acc": final["test_acc"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, for a smoke run")
    parser.add_argument("--dataset", choices=("fashion-mnist", "synthetic"), default="fashion-mnist")
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    torch.set_num_threads(cfg["threads"])
    begin = time.perf_counter()
    search, standalone, described = load(args.dataset, cfg)
    size, batch, seed = cfg["supernet"], cfg["batch_size"], cfg["seed"]
    config = {**size, "num_classes": 10}
    full_mb = step_peak_memory(get_space("darts"), config, batch_size=batch, image_size=cfg["image_size"])["peak_mb"]
    budget_gb = cfg["budget_fraction"] * full_mb / 1024
    settings = RadarsSettings(
        budget_gb=budget_gb, supernet_steps=cfg["supernet_steps"], controller_steps=cfg["controller_steps"],
        keep_fraction=cfg["keep_fraction"],
    )  # fmt: skip
    dnas = DnasSettings(epochs=cfg["dnas_epochs"], batch_size=batch, steps_per_epoch=cfg["steps_per_epoch"])
    with tempfile.TemporaryDirectory() as out:
        radars = run_radars(get_space("darts"), search, config, settings, dnas, seed=seed, out=out)
        subspace = RestrictedSpace.from_dict(radars["restriction"])
        radars_net = build_mixed(subspace, seed, **config)  # the DNAS stage's final weights, for scoring
        radars_net.load_state_dict(torch.load(Path(out) / "dnas.pt", weights_only=True)["state"]["model"])
    seconds = radars["seconds"]
    full_net = build_mixed(get_space("darts"), seed, **config)
    long_dnas = DnasSettings(epochs=1000, batch_size=batch, steps_per_epoch=cfg["steps_per_epoch"])
    full = search_dnas(full_net, search, long_dnas, seed=seed, time_limit=seconds)
    rl_arch, rl_net = rl_only(search, cfg, seconds, settings)
    random_arch, random_net = random_search(search, cfg, seconds)
    methods = {
        "radars": (radars["genotype"], radars_net, {"rounds": len(radars["rounds"]), "dnas_steps": sum(
            h["steps"] for h in radars["dnas"]["history"])}),
        "dnas_full": (full["genotype"], full_net, {"dnas_steps": sum(h["steps"] for h in full["history"])}),
        "rl_only": (rl_arch, rl_net, {}),
        "random": (random_arch, random_net, {}),
    }
    scale = cfg["memory_scale"]
    larger = {**scale["supernet"], "num_classes": 10}
    results = {name: score(arch, net, search, standalone, cfg) | extra for name, (arch, net, extra) in methods.items()}
    doc = {
        "settings": cfg | {"dataset": described, "budget_gb": budget_gb, "equal_seconds": seconds},
        "machine": {
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not measured (no CUDA device)",
        },
        "memory": {
            "search_scale": memory_figures(subspace, config, batch, cfg["image_size"]),
            "larger_scale": memory_figures(subspace, larger, scale["batch_size"], scale["image_size"]),
        },
        "radars": {
            "rounds": [{k: r[k] for k in ROUND_FIELDS} for r in radars["rounds"]],
            "kept": radars["restriction"]["allowed"],
            "memory": radars["memory"],
            "pruning_seconds": radars["pruning_seconds"],
        },
        "search": results,
        "wall_seconds": time.perf_counter() - begin,
    }
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
