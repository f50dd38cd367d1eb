"""CLI: ``dnas`` (first-order DARTS on a mixed-op supernet) and ``radars`` (RL pruning to a memory budget, then DNAS).

RADARS is our reconstruction from its abstract (arXiv:2109.05691; no code is public): see
`archlatent.oneshot.radars` for every choice it makes.

Both write ``result.json`` (readable by ``archlatent export``: ``config.space`` and ``best.arch``)
and ``genotype.txt`` in ``--out``, checkpoint every DNAS epoch (``dnas.pt``; RADARS also every
round, ``radars.pt``) and continue with ``--resume``. Output folders follow the one rule of
`archlatent.commands.outputs`; progress goes to stderr (`archlatent.commands.progress`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archlatent.cli import command, emit
from archlatent.commands.outputs import claim, locked
from archlatent.commands.progress import Progress
from archlatent.errors import ArchLatentError
from archlatent.files import write_atomic
from archlatent.oneshot.data import DATASETS, DataSpec, ImageData
from archlatent.oneshot.distributed import SINGLE, Distributed, session
from archlatent.oneshot.dnas import DnasSettings, search_dnas
from archlatent.oneshot.nets.mixed import MIXED_SUPERNETS, build_mixed
from archlatent.oneshot.radars import RadarsSettings, run_radars
from archlatent.oneshot.runtime import pick_device
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.restrict import RestrictedSpace

DNAS_FILES = ("dnas.pt", "result.json", "genotype.txt")
DDAS_FILES = ("result.json", "genotype.txt", "front.png")
RADARS_FILES = ("radars.pt", *DNAS_FILES)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", required=True, choices=MIXED_SUPERNETS.names())
    p.add_argument("--dataset", required=True, choices=DATASETS.names())
    p.add_argument("--data", type=Path, help="dataset folder (fashion-mnist default: /usr/share/datasets/fashion-mnist)")
    p.add_argument("--download", action="store_true", help="fetch CIFAR into --data if missing (md5-checked)")
    p.add_argument("--synthetic-n", type=int, default=2000, help="training images of the synthetic set")
    p.add_argument("--valid-fraction", type=float, default=0.5, help="training images held out to train alpha on")
    p.add_argument("--restrict", type=Path, help="JSON restriction (or a radars result.json): search only its ops")
    p.add_argument("--channels", type=int, help="initial channels C (default: the space's search size)")
    p.add_argument("--depth", type=int, help="nb201: cells per stage N; darts: cells (layers)")
    p.add_argument("--epochs", type=int, default=50, help="DNAS epochs (default 50, as DARTS)")
    p.add_argument("--steps-per-epoch", type=int, help="cap the DNAS steps of an epoch (small machines)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.025, help="weight learning rate (cosine to 0.001)")
    p.add_argument("--arch-lr", type=float, default=3e-4, help="alpha learning rate (Adam)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--progress", action="store_true", help="show progress on stderr")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    p.add_argument("--force", action="store_true", help="overwrite the results already in --out")
    p.add_argument("--out", type=Path, required=True, help="folder for result.json, genotype.txt and checkpoints")


def _space(args: argparse.Namespace) -> SearchSpace:
    """The base space, or the restriction read from ``--restrict`` (which must be of that space)."""
    if args.restrict is None:
        return get_space(args.space)
    try:
        doc = json.loads(args.restrict.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArchLatentError(f"--restrict {args.restrict}: not a readable JSON file ({err})") from None
    space = RestrictedSpace.from_dict(doc.get("restriction", doc) if isinstance(doc, dict) else doc)
    if space.name != args.space:
        raise ArchLatentError(f"--restrict {args.restrict} restricts space {space.name!r}, not {args.space!r}")
    return space


def _prepare(args: argparse.Namespace) -> tuple[SearchSpace, DataSpec, ImageData, dict[str, int], DnasSettings]:
    space = _space(args)
    pick_device(args.device)  # refuse a bad device before any work
    dnas = DnasSettings(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, arch_lr=args.arch_lr,
        steps_per_epoch=args.steps_per_epoch,
    )  # fmt: skip
    spec = DataSpec(args.dataset, str(args.data) if args.data else None, args.valid_fraction, args.seed, args.synthetic_n)
    data = spec.load(download=args.download)
    depth = MIXED_SUPERNETS.get(args.space).depth
    config = {"num_classes": data.num_classes}
    config |= {} if args.channels is None else {"C": args.channels}
    config |= {} if args.depth is None else {depth: args.depth}
    build_mixed(space, **config)  # refuse bad sizes before the output folder is touched
    return space, spec, data, config, dnas


class _Bars:
    """One `Progress` per stage of a run, fed by the library's progress dicts."""

    def __init__(self, enabled: bool, label: str, verbose: bool) -> None:
        self.enabled, self.label, self.verbose = enabled, label, verbose
        self.bars: dict[str, Progress] = {}

    def __call__(self, info: dict[str, Any]) -> None:
        if not self.enabled or "step" not in info:
            return
        stage = " ".join(str(p) for p in (info.get("stage"), info.get("round") and f"round {info['round']}") if p)
        if stage not in self.bars:
            for bar in self.bars.values():
                bar.close()
            self.bars = {stage: Progress(int(info["total"]), f"{self.label} {stage}".strip(), "steps", verbose=self.verbose)}
        epoch = {"epoch": int(info["epoch"])} if "epoch" in info else {}
        self.bars[stage].update(int(info["step"]), loss=float(info["loss"]), **epoch)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _finish(out: Path, space: SearchSpace, spec: DataSpec, args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Write result.json (``config`` + ``best`` for ``export``) and genotype.txt; print the result."""
    genotype = space.parse(result["genotype"])
    doc = {
        "config": {"space": space.name, "command": args.command, "data": spec.as_dict(), "seed": args.seed},
        "best": {"arch": space.format(genotype), "key": genotype.key()},
        **result,
    }
    write_atomic(out / "result.json", json.dumps(doc, indent=2) + "\n")
    write_atomic(out / "genotype.txt", space.format(genotype) + "\n")
    emit({"out": str(out), "genotype": doc["best"]["arch"], "key": genotype.key()})


def _run(
    args: argparse.Namespace, holds: tuple[str, ...], search: Callable[..., dict[str, Any]], dist: Distributed = SINGLE
) -> int:
    """Prepare, claim ``--out`` (rank 0 under torchrun; its refusal stops every rank), search, write."""
    space, spec, data, config, dnas = _prepare(args)
    out = args.out
    dist.on_main(lambda: claim(out, force=args.force, resume=args.resume, holds=holds))
    bars = _Bars(args.progress and dist.is_main, args.command, args.verbose)
    with locked(out) if dist.is_main else contextlib.nullcontext():
        try:
            result = search(space, data, config, dnas, out, bars)
        finally:
            bars.close()
        if dist.is_main:
            _finish(out, space, spec, args, result)
        dist.barrier()
    return 0


# -- dnas ---------------------------------------------------------------------------------------------------
@command("dnas", "differentiable NAS (first-order DARTS) on a mixed-op supernet, optionally a restricted space", _common)
def run_dnas(args: argparse.Namespace) -> int:
    """One process, or one per device under ``torchrun`` (DDP; ``--batch-size`` is the global batch)."""
    with session(args.device) as (dist, device):

        def search(space: SearchSpace, data: ImageData, config: dict, dnas: DnasSettings, out: Path, bars: _Bars) -> dict:
            supernet = build_mixed(space, args.seed, **config)
            return search_dnas(
                supernet, data, dnas, seed=args.seed, device=device, amp=not args.no_amp,
                checkpoint=out / "dnas.pt", resume=args.resume, progress=bars, dist=dist,
            )  # fmt: skip

        return _run(args, DNAS_FILES, search, dist)


# -- radars -------------------------------------------------------------------------------------------------
def _setup_radars(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--memory-budget-gb", type=float, required=True, help="peak memory one DNAS step may use (GiB)")
    p.add_argument("--supernet-steps", type=int, default=200, help="single-path supernet steps per round")
    p.add_argument("--controller-steps", type=int, default=100, help="REINFORCE steps per round")
    p.add_argument("--keep-fraction", type=float, default=0.5, help="ops each edge keeps per round (rounded up)")
    p.add_argument("--max-rounds", type=int, default=10)


@command("radars", "RADARS: RL prunes the space until DNAS fits a memory budget, then DNAS runs there", _setup_radars)
def run_radars_command(args: argparse.Namespace) -> int:
    """One process (the rounds and the controller are not data-parallel)."""
    settings = RadarsSettings(
        budget_gb=args.memory_budget_gb, supernet_steps=args.supernet_steps, controller_steps=args.controller_steps,
        keep_fraction=args.keep_fraction, lr=args.lr, max_rounds=args.max_rounds,
    )  # fmt: skip

    def search(space: SearchSpace, data: ImageData, config: dict, dnas: DnasSettings, out: Path, bars: _Bars) -> dict:
        return run_radars(
            space, data, config, settings, dnas, seed=args.seed, device=args.device, amp=not args.no_amp,
            out=out, resume=args.resume, progress=bars,
        )  # fmt: skip

    return _run(args, RADARS_FILES, search)


# -- ddas ---------------------------------------------------------------------------------------------------
def _setup_ddas(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--actions", type=int, default=200, help="DDAS actions (each fine-tunes M minibatches)")
    p.add_argument("--warmup-steps", type=int, default=500, help="minibatches with every op on before the first action")
    p.add_argument("--finetune-batches", type=int, default=25, help="M, minibatches per action (paper: 25)")
    p.add_argument("--explore", type=int, default=500, help="uniform random actions before actor/critic updates")
    p.add_argument("--noise", default="g", help="exploration noise: nl, g or 4s (paper's variants)")


@command("ddas", "DDAS as its paper runs it: DDPG actions fine-tune a mixed supernet; accuracy-FLOPs front", _setup_ddas)
def run_ddas_command(args: argparse.Namespace) -> int:
    """One pass (no ``--resume``); writes result.json (the re-scored front, every sampled point), front.png
    and genotype.txt (the front's most accurate architecture)."""
    from archlatent.oneshot.ddas_search import run_ddas
    from archlatent.oneshot.nets import count_flops_m
    from archlatent.oneshot.samplers import SAMPLERS
    from archlatent.pareto import ParetoFront
    from archlatent.plots import front_png

    if args.resume:
        raise ArchLatentError("ddas runs in one pass and has no --resume; use --force to run it again")
    settings = {"finetune_batches": args.finetune_batches, "explore": args.explore, "noise": args.noise}

    def search(space: SearchSpace, data: ImageData, config: dict, dnas: DnasSettings, out: Path, bars: _Bars) -> dict:
        net = build_mixed(space, args.seed, **config)

        def flops(genotype: Any) -> float:
            return count_flops_m(net, genotype, image_size=data.image_size)

        sampler = SAMPLERS.create("ddas", space, seed=args.seed, cost=flops, **settings)
        run = run_ddas(sampler, net, data, actions=args.actions, warmup_steps=args.warmup_steps,
                       batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                       amp=not args.no_amp, progress=bars)  # fmt: skip
        front = ParetoFront(flops)
        for point in run["points"]:
            front.add(space.parse(point["arch"]), point["accuracy"])
        write_atomic(out / "front.png", front_png(front, title=f"DDAS on {space.name}"))
        return {**run, "genotype": max(run["front"], key=lambda r: r["accuracy"])["arch"]}

    return _run(args, DDAS_FILES, search)
