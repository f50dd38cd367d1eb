"""CLI: ``supernet train``, ``supernet eval`` (SPOS / DDAS weight sharing) and ``train-final``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from archlatent.cli import command, emit
from archlatent.datasets import DATASETS, DataSpec, load_dataset
from archlatent.ddas import DDASSampler, ParetoFront, normalized_hypervolume
from archlatent.errors import ArchLatentError
from archlatent.evaluators.supernet import SUPERNET_FORMAT, SupernetEvaluator, save_supernet
from archlatent.nets.supernet import SUPERNETS, build_supernet, count_flops_m
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace
from archlatent.training import RECIPES, UniformSampler, load_checkpoint, pick_device, train_final, train_supernet


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument(
        "--data", type=Path, help="dataset folder (fashion-mnist default: /usr/share/datasets/fashion-mnist)"
    )
    p.add_argument("--download", action="store_true", help="fetch CIFAR into --data if missing (md5-checked)")
    p.add_argument("--synthetic-n", type=int, default=2000, help="training images of the synthetic set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--progress", action="store_true", help="show a progress bar on stderr")


def _size_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channels", type=int, help="initial channels C (default: the space's)")
    p.add_argument("--depth", type=int, help="nb201: cells per stage N; darts: cells (layers)")


def _size(space: str, args: argparse.Namespace) -> dict[str, int]:
    size = {} if args.channels is None else {"C": args.channels}
    if args.depth is not None:
        size["N" if space == "nb201" else "layers"] = args.depth
    return size


# -- supernet ---------------------------------------------------------------------------------------------
def _setup_supernet(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = sub.add_parser(
        "train", help="train a weight-sharing supernet", description="train a weight-sharing supernet"
    )
    train.add_argument("--space", required=True, choices=sorted(SUPERNETS))
    _data_args(train)
    _size_args(train)
    train.add_argument("--epochs", type=int, default=1)
    train.add_argument("--steps", type=int, help="train this many steps instead of --epochs")
    train.add_argument("--sampler", choices=("uniform", "ddas"), default="uniform")
    train.add_argument("--lam", type=float, default=0.5, help="DDAS: weight of normalized FLOPs in the reward")
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
    space = get_space(args.space)
    spec = DataSpec(
        args.dataset, str(args.data) if args.data else None, args.valid_fraction, args.seed, args.synthetic_n
    )
    data = spec.load(download=args.download)
    device = pick_device(args.device)
    config = {**_size(args.space, args), "num_classes": data.num_classes}
    supernet = build_supernet(args.space, seed=args.seed, **config).to(device)

    def flops(genotype: Any) -> float:
        return count_flops_m(supernet, genotype, image_size=data.image_size)

    sampler = (
        DDASSampler(space, flops, lam=args.lam, seed=args.seed)
        if args.sampler == "ddas"
        else UniformSampler(space, args.seed)
    )
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
        progress=args.progress,
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
            "lam": args.lam if args.sampler == "ddas" else None,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
        },
        "stats": stats,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    save_supernet(args.out / "supernet.pt", supernet, spec, meta)
    (args.out / "supernet.json").write_text(json.dumps(meta, indent=2) + "\n")
    if isinstance(sampler, DDASSampler):
        _write_front(args.out, space, sampler.front)
    emit({"out": str(args.out), **meta})
    return 0


def _write_front(out: Path, space: SearchSpace, front: ParetoFront) -> None:
    """front.json (non-dominated architectures, hypervolume) and front.png (all points, front line)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points, best = front.points(), front.front()
    max_cost = front.cost_range()[1]
    doc = {
        "objectives": {"accuracy": "max, percent on a validation batch", "cost": "min, path MFLOPs"},
        "sampled": len(points),
        "hypervolume": normalized_hypervolume([(p.accuracy, p.cost) for p in best], max_cost),
        "hypervolume_scaling": f"accuracy / 100, MFLOPs / {max_cost:.4g} (the largest sampled); reference (0, 1.1)",
        "front": [
            {"arch": space.format(p.genotype), "key": p.genotype.key(), "accuracy": p.accuracy, "flops_m": p.cost}
            for p in best
        ],
    }
    (out / "front.json").write_text(json.dumps(doc, indent=2) + "\n")
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter([p.cost for p in points], [p.accuracy for p in points], s=8, alpha=0.4, label="sampled")
    ax.step(
        [p.cost for p in best], [p.accuracy for p in best], where="post", color="C3", marker="o", label="Pareto front"
    )
    ax.set_xlabel("path MFLOPs")
    ax.set_ylabel("validation-batch accuracy (%)")
    ax.set_title(f"DDAS on {space.name}: {len(best)} non-dominated of {len(points)}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "front.png", dpi=120)


def _eval(args: argparse.Namespace) -> int:
    space_name = load_checkpoint(args.checkpoint, SUPERNET_FORMAT).get("space")
    if space_name not in SUPERNETS:
        raise ArchLatentError(f"checkpoint {args.checkpoint} names no known supernet space ({space_name!r})")
    space = get_space(space_name)
    genotypes = [space.parse(text) for text in args.genotype]
    evaluator = SupernetEvaluator.from_checkpoint(args.checkpoint, space, device=args.device)
    results = [
        {"arch": space.format(g), "key": g.key(), "metrics": m}
        for g, m in zip(genotypes, evaluator.evaluate(genotypes))
    ]
    emit({"results": results, "data": evaluator.provenance, "cost": evaluator.cost.as_dict()})
    return 0


# -- train-final ---------------------------------------------------------------------------------------------
def _setup_final(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", required=True, choices=sorted(RECIPES))
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
    space = get_space(args.space)
    genotype = space.parse(args.genotype)
    data = load_dataset(args.dataset, args.data, args.download, n=args.synthetic_n, seed=args.seed)
    overrides: dict[str, Any] = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    size = _size(args.space, args)
    if size:
        overrides["network"] = {**RECIPES[args.space].network, **size}
    result = train_final(
        space,
        genotype,
        data,
        out=args.out,
        resume=args.resume,
        seed=args.seed,
        device=args.device,
        amp=not args.no_amp,
        progress=args.progress,
        **overrides,
    )
    (args.out / "final.json").write_text(json.dumps(result, indent=2) + "\n")
    emit({"out": str(args.out), **result})
    return 0
