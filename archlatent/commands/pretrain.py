"""CLI ``pretrain``: train an autoencoder once on uniformly sampled architectures (TNAO stage 1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from archlatent.cli import bench_args, command, emit, space_arg
from archlatent.errors import ArchLatentError


def _setup(p: argparse.ArgumentParser) -> None:
    from archlatent.encoders import ENCODERS

    space_arg(p)
    p.add_argument("--encoder", choices=ENCODERS.names(), default="transformer")
    p.add_argument("--samples", type=int, help="architectures sampled for training (default: the space's preset; "
                                                  "the whole NB201 space)")
    p.add_argument("--labels", type=int, default=0, help="labelled architectures for the score head (they cost queries)")
    bench_args(p)
    p.add_argument("--epochs", type=int, help="training epochs (default: the preset)")
    p.add_argument("--batch-size", type=int, help="minibatch size (default: the preset)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default: the preset)")
    p.add_argument("--hidden", type=int, help="encoder width (default: the preset)")
    p.add_argument("--latent-dim", type=int, help="latent dimension (default: the preset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--out", required=True, type=Path, help="output folder")


@command("pretrain", "train a latent autoencoder; writes DIR/model.pt, DIR/metrics.json, DIR/curves.png", _setup)
def run_pretrain(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from archlatent.encoders import preset, pretrain_to
    from archlatent.evaluators.tables import load_table
    from archlatent.spaces import get_space

    if args.labels < 0:
        raise ArchLatentError(f"--labels must be >= 0, got {args.labels}")
    space = get_space(args.space)
    labels, sha = None, None
    if args.labels:
        table = load_table(space.name, args.bench)
        labels = dict(zip(table.genotypes, table.metrics(args.dataset)["valid_acc"]))
        sha = table.sha256
    given = {k: getattr(args, k) for k in ("samples", "epochs", "batch_size", "lr", "hidden", "latent_dim")}
    config = preset(space.name, args.encoder, **given)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    bar = tqdm(total=config.get("epochs"), desc=f"pretrain {args.encoder}", unit="epoch", file=sys.stderr, disable=None)

    def progress(record: dict) -> None:
        bar.update()
        bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k in ("loss", "heldout_exact")})

    try:
        result = pretrain_to(args.out, space, args.encoder, table_sha256=sha, labels=labels,
                             label_budget=args.labels or None, seed=args.seed, device=device, progress=progress, **config)
    finally:
        bar.close()
    metrics = dict(result.metrics, dataset=args.dataset if labels else None, data_sha256=sha)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    emit({k: metrics.get(k) for k in ("recon_exact", "valid_prior", "unique_prior", "kendall_tau", "label_queries", "train_seconds")})
    return 0
