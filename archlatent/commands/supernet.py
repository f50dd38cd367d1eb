"""CLI: ``supernet train``, ``supernet eval`` (one-shot weight sharing) and ``train-final``.

The library loops report progress through callbacks; the bars, the front figure and every file
written live here. Output folders follow the one rule of `archlatent.commands.outputs`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from archlatent.cli import command, emit
from archlatent.commands.outputs import claim, locked
from archlatent.evaluators.supernet import SupernetEvaluator
from archlatent.files import write_atomic
from archlatent.genotype import Genotype
from archlatent.oneshot.checkpoints import save_supernet
from archlatent.oneshot.data import DATASETS, DataSpec, ImageData, load_dataset
from archlatent.oneshot.distributed import Distributed, session
from archlatent.oneshot.final import RECIPES, recipe, train_final
from archlatent.oneshot.nets import NETWORKS, SUPERNETS, build_supernet, count_flops_m
from archlatent.oneshot.samplers import SAMPLERS
from archlatent.oneshot.train import train_supernet
from archlatent.pareto import ParetoFront
from archlatent.plots import front_png
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace

#: What each command writes in its --out folder (a folder holding any of them is refused without --force).
SUPERNET_FILES = ("supernet.pt", "supernet.json", "front.json", "front.png")
FINAL_FILES = ("final.pt", "final.json")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=DATASETS.names())
    p.add_argument(
        "--data", type=Path, help="dataset folder (fashion-mnist default: /usr/share/datasets/fashion-mnist)"
    )
    p.add_argument("--download", action="store_true", help="fetch CIFAR into --data if missing (md5-checked)")
    p.add_argument("--synthetic-n", type=int, default=2000, help="training images of the synthetic set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    p.add_argument("--force", action="store_true", help="overwrite the results already in --out")


def _size_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channels", type=int, help="initial channels C (default: the space's)")
    p.add_argument("--depth", type=int, help="nb201: cells per stage N; darts: cells (layers)")


def _size(depth_key: str, args: argparse.Namespace) -> dict[str, int]:
    size = {} if args.channels is None else {"C": args.channels}
    if args.depth is not None:
        size[depth_key] = args.depth
    return size


@contextlib.contextmanager
def _bar(enabled: bool, desc: str) -> Iterator[Callable[[dict[str, float]], None] | None]:
    """A progress callback drawing a tqdm bar on stderr (steps, per epoch where there are epochs)."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, leave=False, file=sys.stderr)

    def update(info: dict[str, float]) -> None:
        bar.total = int(info["total"])
        bar.n = int(info["step"])
        if "epoch" in info:
            bar.set_description(f"{desc} epoch {int(info['epoch'])}", refresh=False)
        bar.set_postfix(loss=f"{info['loss']:.3f}")

    try:
        yield update
    finally:
        bar.close()


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(doc, indent=2) + "\n")


@contextlib.contextmanager
def _claimed(dist: Distributed, out: Path, **rule: Any) -> Iterator[Path]:
    """`out` claimed and locked by rank 0 (the one that writes); a refusal stops every rank.

    Under ``torchrun --nproc-per-node K`` every rank runs the command; the others only train.
    """
    dist.on_main(lambda: claim(out, **rule))
    with locked(out) if dist.is_main else contextlib.nullcontext():
        yield out


def _load(dist: Distributed, load: Callable[[bool], ImageData], download: bool) -> ImageData:
    """`load(download)`; with several processes rank 0 downloads first, so no two fetch one file at once."""
    if not download or dist.world == 1:
        return load(download)
    data = dist.on_main(lambda: load(True))
    return data if data is not None else load(False)


# -- supernet ---------------------------------------------------------------------------------------------
def _setup_supernet(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = sub.add_parser(
        "train", help="train a weight-sharing supernet", description="train a weight-sharing supernet"
    )
    train.add_argument("--space", required=True, choices=SUPERNETS.names())
    _data_args(train)
    _size_args(train)
    train.add_argument("--epochs", type=int, default=1)
    train.add_argument("--steps", type=int, help="train this many steps instead of --epochs")
    train.add_argument("--sampler", choices=SAMPLERS.names(), default="uniform")
    train.add_argument("--lam", type=float, help="ddas: weight of normalized FLOPs in the reward (default 0.5)")
    train.add_argument(
        "--front", action="store_true", help="record the accuracy-vs-MFLOPs front of sampled paths (ddas always does)"
    )
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=0.025)
    train.add_argument("--valid-fraction", type=float, default=0.5, help="training images held out for validation")
    train.add_argument(
        "--out", type=Path, required=True, help="folder for supernet.pt, supernet.json (+ front.json/png)"
    )
    ev = sub.add_parser(
        "eval", help="inherited-weight metrics of architectures (JSON)", description="inherited-weight metrics"
    )
    ev.add_argument("--checkpoint", type=Path, required=True, help="supernet.pt from `supernet train`")
    ev.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    ev.add_argument("genotype", nargs="+", help="architecture(s) in the space's text form")


@command(
    "supernet", "train a weight-sharing supernet (uniform or DDAS sampling) or evaluate paths of one", _setup_supernet
)
def run_supernet(args: argparse.Namespace) -> int:
    return _train(args) if args.action == "train" else _eval(args)


def _train(args: argparse.Namespace) -> int:
    with session(args.device) as (dist, device):
        return _train_on(args, dist, device)


def _train_on(args: argparse.Namespace, dist: Distributed, device: Any) -> int:
    space = get_space(args.space)
    spec = DataSpec(
        args.dataset, str(args.data) if args.data else None, args.valid_fraction, args.seed, args.synthetic_n
    )
    data = _load(dist, lambda download: spec.load(download=download), args.download)
    config = {**_size(SUPERNETS.get(args.space).depth, args), "num_classes": data.num_classes}
    supernet = build_supernet(args.space, seed=args.seed, **config).to(device)

    def flops(genotype: Genotype) -> float:
        return count_flops_m(supernet, genotype, image_size=data.image_size)

    settings = {} if args.lam is None else {"lam": args.lam}
    wants_front = args.front or SAMPLERS.get(args.sampler).requires_cost
    sampler = SAMPLERS.create(args.sampler, space, seed=args.seed, cost=flops if wants_front else None, **settings)
    with _claimed(dist, args.out, force=args.force, holds=SUPERNET_FILES) as out, \
            _bar(args.progress and dist.is_main, f"supernet {args.space}") as progress:
        stats = train_supernet(
            supernet,
            data,
            steps=args.steps,
            epochs=None if args.steps else args.epochs,
            sampler=sampler,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=device,
            amp=not args.no_amp,
            progress=progress,
            dist=dist,
        )
        meta = {
            "space": args.space,
            "dataset": args.dataset,
            "data": spec.as_dict(),
            "supernet": supernet.config,
            "hyperparameters": {
                "epochs": None if args.steps else args.epochs,
                "steps": stats["steps"],
                "sampler": args.sampler,
                "sampler_settings": settings,
                "batch_size": args.batch_size,
                "lr": args.lr,
                "seed": args.seed,
            },
            "stats": stats,
        }
        if dist.is_main:
            save_supernet(out / "supernet.pt", supernet, spec, meta)
            _write_json(out / "supernet.json", meta)
            if sampler.front is not None:
                _write_front(out, space, sampler.front, f"{args.sampler} on {space.name}")
            emit({"out": str(out), **meta})
        dist.barrier()
    return 0


def _write_front(out: Path, space: SearchSpace, front: ParetoFront, title: str) -> None:
    """front.json (non-dominated architectures, hypervolume) and front.png (all points, front line)."""
    max_cost = front.cost_range()[1]
    doc = {
        "objectives": {"accuracy": "max, percent on a validation batch", "cost": "min, path MFLOPs"},
        "sampled": len(front.points()),
        "hypervolume": front.hypervolume(),
        "hypervolume_scaling": f"accuracy / 100, MFLOPs / {max_cost:.4g} (the largest sampled); reference (0, 1.1)",
        "front": [
            {"arch": space.format(p.genotype), "key": p.genotype.key(), "accuracy": p.accuracy, "flops_m": p.cost}
            for p in front.front()
        ],
    }
    _write_json(out / "front.json", doc)
    write_atomic(out / "front.png", front_png(front, title=title))


def _eval(args: argparse.Namespace) -> int:
    evaluator = SupernetEvaluator.from_checkpoint(args.checkpoint, device=args.device)
    space = evaluator.supernet.space
    genotypes = [space.parse(text) for text in args.genotype]
    results = [
        {"arch": space.format(g), "key": g.key(), "metrics": m}
        for g, m in zip(genotypes, evaluator.evaluate(genotypes))
    ]
    emit({"results": results, "data": evaluator.provenance, "cost": evaluator.cost.as_dict()})
    return 0


# -- train-final ---------------------------------------------------------------------------------------------
def _setup_final(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", required=True, choices=sorted(set(RECIPES) & set(NETWORKS.names())))
    p.add_argument("--genotype", required=True, help="architecture in the space's text form")
    _data_args(p)
    _size_args(p)
    p.add_argument("--epochs", type=int, help="default: the space's recipe (nb201 200, darts 600)")
    p.add_argument("--batch-size", type=int, help="default: the space's recipe (nb201 256, darts 96)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/final.pt")
    p.add_argument("--out", type=Path, required=True, help="folder for final.pt (checkpoint) and final.json")


@command(
    "train-final", "train an architecture from scratch with its space's recipe (checkpoint + resume)", _setup_final
)
def run_final(args: argparse.Namespace) -> int:
    with session(args.device) as (dist, device):
        return _final_on(args, dist, device)


def _final_on(args: argparse.Namespace, dist: Distributed, device: Any) -> int:
    space = get_space(args.space)
    genotype = space.parse(args.genotype)
    overrides: dict[str, Any] = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    size = _size(NETWORKS.get(args.space).depth, args)
    if size:
        overrides["network"] = {**RECIPES[args.space].network, **size}
    recipe(args.space, **overrides)  # refuse bad settings before anything is written
    data = _load(dist, lambda download: load_dataset(args.dataset, args.data, download, n=args.synthetic_n,
                                                     seed=args.seed), args.download)
    with _claimed(dist, args.out, force=args.force, resume=args.resume, holds=FINAL_FILES) as out, \
            _bar(args.progress and dist.is_main, "train-final") as progress:
        result = train_final(
            space,
            genotype,
            data,
            out=out,
            resume=args.resume,
            seed=args.seed,
            device=device,
            amp=not args.no_amp,
            progress=progress,
            dist=dist,
            **overrides,
        )
        if dist.is_main:
            _write_json(out / "final.json", result)
            emit({"out": str(out), **result})
        dist.barrier()
    return 0
