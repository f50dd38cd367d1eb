"""Standalone training of one architecture from scratch with its space's published recipe (`train_final`).

Picks the device explicitly, uses mixed precision and channels-last only on CUDA, builds the weights
under ``torch.random.fork_rng``, writes a checkpoint atomically after every epoch and resumes from it
bit for bit (model, optimizer, scheduler, torch and loader RNG states).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archlatent.errors import ArchLatentError, CheckpointError, UnknownName
from archlatent.genotype import Genotype
from archlatent.oneshot.checkpoints import load_checkpoint, load_weights, save_atomic
from archlatent.oneshot.data import ImageData, TensorLoader, make_loader
from archlatent.oneshot.distributed import SINGLE, Distributed, Shard
from archlatent.oneshot.nets import standalone_network
from archlatent.oneshot.runtime import (
    check_positive,
    evaluate_accuracy,
    optimizer_step,
    pick_device,
    precision,
    prepare,
    to_device,
)
from archlatent.oneshot.train import Progress
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace

log = logging.getLogger(__name__)

FINAL_FORMAT = "archlatent-final-v1"


@dataclass(frozen=True)
class Recipe:
    """A space's standard from-scratch training recipe; any field can be overridden."""

    epochs: int
    batch_size: int
    lr: float
    nesterov: bool
    weight_decay: float
    momentum: float = 0.9
    lr_min: float = 0.0
    cutout: int = 0
    auxiliary_weight: float = 0.0
    drop_path_prob: float = 0.0
    grad_clip: float | None = None
    network: dict[str, int] = field(default_factory=dict)


#: NAS-Bench-201 (Dong & Yang, ICLR 2020, Table 3): 200 epochs, batch 256, lr 0.1 cosine to 0, Nesterov,
#: wd 5e-4, crop + flip. DARTS (Liu et al., ICLR 2019, ``train.py``): 600 epochs, batch 96, lr 0.025
#: cosine to 0, wd 3e-4, cutout 16, auxiliary head 0.4, drop path 0.2 (linearly ramped), grad clip 5.
RECIPES: dict[str, Recipe] = {
    "nb201": Recipe(epochs=200, batch_size=256, lr=0.1, nesterov=True, weight_decay=5e-4, network={"C": 16, "N": 5}),
    "darts": Recipe(
        epochs=600,
        batch_size=96,
        lr=0.025,
        nesterov=False,
        weight_decay=3e-4,
        cutout=16,
        auxiliary_weight=0.4,
        drop_path_prob=0.2,
        grad_clip=5.0,
        network={"C": 36, "layers": 20},
    ),
}


def recipe(space: str, **overrides: Any) -> Recipe:
    """The standard recipe of `space` with `overrides` (Recipe fields) applied and checked."""
    if space not in RECIPES:
        raise UnknownName(f"no training recipe for space {space!r}; recipes exist for {', '.join(RECIPES)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Recipe)}
    if unknown:
        raise ArchLatentError(f"unknown recipe field(s) {sorted(unknown)}")
    cfg = dataclasses.replace(RECIPES[space], **overrides)
    check_positive(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr)
    for name in ("weight_decay", "momentum", "lr_min", "cutout", "auxiliary_weight", "drop_path_prob"):
        if not getattr(cfg, name) >= 0:
            raise ArchLatentError(f"recipe field {name} must be >= 0, got {getattr(cfg, name)!r}")
    if not cfg.drop_path_prob < 1:
        raise ArchLatentError(f"recipe field drop_path_prob must be < 1, got {cfg.drop_path_prob!r}")
    return cfg


def _rng_state(device: torch.device, loader_gen: torch.Generator) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state(), "loader": loader_gen.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def train_final(
    space: str | SearchSpace,
    genotype: Genotype,
    dataset: ImageData,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    device: torch.device | str | None = None,
    amp: bool = True,
    progress: Progress | None = None,
    dist: Distributed = SINGLE,
    **overrides: Any,
) -> dict[str, Any]:
    """Train `genotype`'s standalone network from scratch with its space's `RECIPES` entry.

    SGD (momentum 0.9; Nesterov for NB201), cosine LR, the space's weight decay; DARTS adds cutout,
    the auxiliary head and drop path. `overrides` change Recipe fields (``epochs=10``,
    ``network={"C": 8, "layers": 5}``, ...). With `out`, ``out/final.pt`` (model, optimizer, scheduler,
    epoch, RNG states, history) is written atomically after every epoch; `resume` continues from it.
    `progress` is called after every step (``epoch``, ``step``, ``total``: steps per epoch, ``loss``).
    Returns the history and final test accuracy (percent) on ``dataset``'s test split. Under `dist`
    (DDP, see `archlatent.oneshot.distributed`) the recipe's batch is the global batch, the history
    holds global figures, rank 0 alone writes the checkpoint and every rank resumes from it.
    """
    space = get_space(space) if isinstance(space, str) else space
    space.validate(genotype)
    device = pick_device(device)
    cfg = recipe(space.name, **overrides)
    path = Path(out) / "final.pt" if out is not None else None
    ident = {"space": space.name, "genotype": space.format(genotype), "recipe": dataclasses.asdict(cfg)}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        auxiliary = cfg.auxiliary_weight > 0
        model = to_device(standalone_network(genotype, dataset.num_classes, auxiliary=auxiliary, **cfg.network), device)
        params = list(model.parameters())
        optimizer = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs, eta_min=cfg.lr_min)
        train = dist.shard(
            make_loader(dataset, "train", cfg.batch_size, device=device, train=True, cutout=cfg.cutout, seed=seed)
        )
        history: list[dict[str, float]] = []
        if resume and path is not None and path.is_file():
            history = _restore(path, ident, model, optimizer, scheduler, train.generator, device)
            log.info("resuming %s from epoch %d", path, len(history))
        elif resume:
            log.warning("no checkpoint to resume from%s; starting from scratch", f" at {path}" if path else "")
        _fit(model, cfg, train, optimizer, scheduler, history, dataset, device, amp, progress, path, ident, dist)
    return {**ident, "epochs": cfg.epochs, "history": history, "test_acc": history[-1]["test_acc"]}


def _restore(
    path: Path,
    ident: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loader_gen: torch.Generator,
    device: torch.device,
) -> list[dict[str, float]]:
    """Load `path` into the training objects (same space, genotype and recipe, or CheckpointError)."""
    ckpt = load_checkpoint(path, FINAL_FORMAT, device)
    for key, value in ident.items():
        if ckpt.get(key) != value:
            found = str(ckpt.get(key))[:200]
            raise CheckpointError(f"checkpoint {path} was written for another {key}: {found!r}, not {value!r}")
    load_weights(model, ckpt.get("model"), path)
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        loader_gen.set_state(ckpt["rng"]["loader"].cpu())
        if device.type == "cuda" and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"].cpu(), device)
        history = list(ckpt["history"])
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(f"checkpoint {path} has a damaged training state: {str(err)[:200]}") from None
    if len(history) != ckpt.get("epoch"):
        raise CheckpointError(
            f"checkpoint {path} is inconsistent: epoch {ckpt.get('epoch')} with {len(history)} records"
        )
    return history


def _fit(
    model: nn.Module,
    cfg: Recipe,
    train: TensorLoader | Shard,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    history: list[dict[str, float]],
    dataset: ImageData,
    device: torch.device,
    amp: bool,
    progress: Progress | None,
    path: Path | None,
    ident: dict[str, Any],
    dist: Distributed,
) -> None:
    """Epochs ``len(history)`` .. ``cfg.epochs - 1``, a checkpoint after each (written by rank 0)."""
    autocast, scaler = precision(device, amp)
    params = list(model.parameters())
    ddp = dist.wrap(model, partial=False)  # a standalone network uses every parameter in every step
    test = dist.shard(make_loader(dataset, "test", 512, device=device))
    for epoch in range(len(history), cfg.epochs):
        model.drop_path_prob = cfg.drop_path_prob * epoch / cfg.epochs
        model.train()
        start, total_loss, correct, seen = time.perf_counter(), 0.0, 0.0, 0
        for step, (x, y) in enumerate(train, start=1):
            with autocast():
                out = ddp(prepare(x, device))
                logits, aux = out if isinstance(out, tuple) else (out, None)
                loss = F.cross_entropy(logits, y)
                if aux is not None:
                    loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux, y)
            value = dist.mean(loss.detach())  # the global batch's loss, the same on every rank
            if not math.isfinite(value):
                kept = f"; the last good checkpoint {path} (epoch {epoch}) is untouched" if path and epoch else ""
                raise ArchLatentError(f"training loss became {value} at epoch {epoch + 1}, step {step}{kept}")
            optimizer_step(loss, optimizer, params, scaler, cfg.grad_clip)
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if progress is not None:
                progress({"epoch": epoch + 1, "step": step, "total": len(train), "loss": value})
        scheduler.step()
        total_loss, correct, seen = dist.sum(total_loss, correct, seen)
        dist.average_buffers(model)  # every rank evaluates (and rank 0 saves) the same BatchNorm statistics
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total_loss / seen,
                "train_acc": 100.0 * correct / seen,
                "test_acc": evaluate_accuracy(model, test, device, amp, dist=dist),
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - start,
            }
        )
        if path is not None and dist.is_main:
            state = {
                "format": FINAL_FORMAT,
                **ident,
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(device, train.generator),
                "history": history,
            }
            save_atomic(state, path)
        dist.barrier()  # nobody reads or runs ahead of a checkpoint being written
