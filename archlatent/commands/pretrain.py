"""CLI ``pretrain``: train an autoencoder once on uniformly sampled architectures (TNAO stage 1)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from archlatent.cli import bench_args, command, emit, space_arg
from archlatent.errors import ArchLatentError


def _setup(p: argparse.ArgumentParser) -> None:
    from archlatent.encoders import ENCODERS

    space_arg(p)
    p.add_argument("--encoder", choices=ENCODERS.names(), default="transformer", help="default transformer")
    p.add_argument("--samples", type=int, help="architectures sampled for training (default: the space's preset; "
                                               "the whole NB201 space)")
    p.add_argument("--labels", type=int, default=0, help="labelled cells of the table for the score head (default 0; "
                                                         "they cost queries)")
    p.add_argument("--labels-file", type=Path, help="CSV of (arch, --metric) labels from your own data (any space); "
                                                    "they join the training set and cost queries")
    p.add_argument("--metric", default="valid_acc", help="the labels' metric (default valid_acc)")
    bench_args(p)
    p.add_argument("--epochs", type=int, help="training epochs (default: the preset)")
    p.add_argument("--batch-size", type=int, help="minibatch size (default: the preset)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: the preset)")
    p.add_argument("--hidden", type=int, help="encoder width (default: the preset)")
    p.add_argument("--latent-dim", type=int, help="latent dimension (default: the preset)")
    p.add_argument("--targets", help="free training targets (issue 25) beside reconstruction: 'free' (the space's "
                   "FREE_TARGETS) or NAME=WEIGHT,... of params, flops, ops, depth, paths, extremes (default none)")
    p.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default 0)")
    p.add_argument("--members", type=int, help="autoencoders to train (a portfolio: DIR/member-J/ and "
                                               "DIR/portfolio.json); member 0 uses --seed (default: 3 for nb201 "
                                               "transformer, else 1)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--force", action="store_true", help="overwrite a model already in --out")


@command("pretrain", "train a latent autoencoder (or a portfolio of them); writes DIR/model.pt, DIR/metrics.json, "
                     "DIR/curves.png (each in DIR/member-J/ for a portfolio)", _setup)
def run_pretrain(args: argparse.Namespace) -> int:
    from archlatent.bounds import check
    from archlatent.commands.outputs import claim, locked
    from archlatent.commands.progress import epochs
    from archlatent.encoders import member_seeds, members, preset, pretrain, save
    from archlatent.encoders.portfolio import write_index
    from archlatent.files import file_digest, write_atomic
    from archlatent.labels import read_labels
    from archlatent.oneshot.runtime import pick_device
    from archlatent.plots import curves_png
    from archlatent.spaces import get_space

    for flag, value in (("--labels", args.labels), ("--seed", args.seed)):
        if value < 0:
            raise ArchLatentError(f"{flag} must be >= 0, got {value}")
        check(flag[2:], value, flag)
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise ArchLatentError(f"--lr must be a positive number, got {args.lr}")
    if args.labels and args.labels_file:
        raise ArchLatentError("give --labels (cells of the table) or --labels-file (your own), not both")
    space = get_space(args.space)
    given = {k: getattr(args, k) for k in ("samples", "epochs", "batch_size", "lr", "hidden", "latent_dim")}
    given["targets"] = parse_targets(args.targets, space) if args.targets is not None else None
    config = preset(space.name, args.encoder, **given)  # bounds checked here, before any table is read
    count = members(space.name, args.encoder) if args.members is None else args.members
    seeds = member_seeds(args.seed, count)
    labels, budget, sha = None, None, None
    if args.labels:
        from archlatent.evaluators.tables import load_table

        table = load_table(space.name, args.bench)
        labels, budget, sha = dict(zip(table.genotypes, table.metrics(args.dataset or "cifar10")[args.metric])), \
            args.labels, table.sha256
    elif args.labels_file:
        labels = read_labels(args.labels_file, space, args.metric)
        budget, sha = len(labels), file_digest(args.labels_file)
    device = pick_device(args.device)
    out = claim(args.out, force=args.force, holds=("model.pt", "model.json", "metrics.json", "portfolio.json"))
    with locked(out):
        folders, summary = [], []
        for j, seed in enumerate(seeds):
            folder = out if count == 1 else out / f"member-{j}"
            label = f"pretrain {args.encoder}" + (f" {j + 1}/{count}" if count > 1 else "")
            update, bar = epochs(label, config.get("epochs"), args.verbose)
            try:
                model, metrics, curves = pretrain(space, args.encoder, labels=labels, label_budget=budget, seed=seed,
                                                  device=device, progress=update, threads=args.threads, **config)
            finally:
                bar.close()
            save(model, folder, metrics=metrics, table_sha256=sha)
            metrics = dict(metrics, dataset=(args.dataset or "cifar10") if args.labels else None, data_sha256=sha,
                           labels_file=str(args.labels_file) if args.labels_file else None, seed=seed)
            (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
            (folder / "curves.json").write_text(json.dumps(curves, indent=1) + "\n")
            held = metrics.get("recon_exact")
            title = f"{args.encoder} on {space.name}, seed {seed}" + (
                f", held-out exact {100 * held:.1f} %" if isinstance(held, float) else "")
            write_atomic(folder / "curves.png", curves_png(curves, title=title))
            folders.append(folder)
            summary.append({k: metrics.get(k) for k in ("recon_exact", "valid_prior", "unique_prior", "kendall_tau",
                                                          "label_queries", "train_seconds")})
        if count > 1:
            write_index(out, folders)
        other = ("portfolio.json",) if count == 1 else ("model.pt", "model.json", "metrics.json", "curves.json", "curves.png")
        for stale in other:  # left by a --force'd earlier model of the other kind
            (out / stale).unlink(missing_ok=True)
    emit(summary[0] if count == 1 else {"members": summary, "seeds": seeds})
    return 0


def parse_targets(text: str, space: Any) -> dict[str, float]:
    """``--targets``: 'free' (the space's `FREE_TARGETS`) or ``NAME=WEIGHT,...``; one error otherwise."""
    from archlatent.encoders.presets import FREE_TARGETS
    from archlatent.encoders.targets import check_targets

    if text.strip() == "free":
        if space.name not in FREE_TARGETS:
            raise ArchLatentError(f"--targets free: space {space.name!r} has no free-target preset "
                                  f"({', '.join(FREE_TARGETS)} do); name them as NAME=WEIGHT,...")
        return dict(FREE_TARGETS[space.name])
    targets: dict[str, float] = {}
    for part in text.split(","):
        name, eq, weight = part.partition("=")
        try:
            value = float(weight) if eq else math.nan
        except ValueError:
            value = math.nan
        if not eq or not name.strip() or math.isnan(value) or name.strip() in targets:
            raise ArchLatentError(f"--targets must be 'free' or NAME=WEIGHT,... (each name once), got {text[:100]!r}")
        targets[name.strip()] = value
    return check_targets(space, targets)
