"""First-order DARTS (Liu, Simonyan & Yang, ICLR 2019) on a mixed-op supernet, checkpointed per epoch.

Alternating steps as DARTS's ``train_search.py`` with ``unrolled=False``: an alpha step (Adam,
lr 3e-4, betas (0.5, 0.999), weight decay 1e-3) on a batch of the validation split, then a weight
step (SGD momentum 0.9, weight decay 3e-4, grad-norm clip 5, cosine lr 0.025 -> 0.001 over the
epochs) on a batch of the training split. Validation batches are shuffled and augmented like the
training ones, as DARTS's ``valid_queue`` is. After every epoch the genotype is derived (DARTS's
rule, `archlatent.oneshot.nets.mixed.derive`) and, with a checkpoint path, everything needed to
continue bit for bit (weights and alpha, both optimizers, schedule, loader RNG states, history) is
written atomically; ``resume`` continues from it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.oneshot.checkpoints import load_checkpoint, load_weights, save_atomic
from archlatent.oneshot.data import ImageData, make_loader
from archlatent.oneshot.distributed import SINGLE, Distributed
from archlatent.oneshot.nets.mixed import MixedSupernet
from archlatent.oneshot.runtime import (
    batch_accuracy,
    check_positive,
    cycle,
    optimizer_step,
    peak_memory,
    pick_device,
    precision,
    prepare,
    to_device,
)
from archlatent.spaces.restrict import restriction_of

DNAS_FORMAT = "archlatent-dnas-v1"
#: Called after every step with ``epoch``, ``step``, ``total`` (steps per epoch) and ``loss``.
Progress = Callable[[dict[str, float]], None]


@dataclass(frozen=True)
class DnasSettings:
    """DARTS's search hyperparameters (first order); `steps_per_epoch` caps an epoch for small machines."""

    epochs: int = 50
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        check_positive(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, arch_lr=self.arch_lr,
            steps_per_epoch=self.steps_per_epoch,
        )  # fmt: skip


def validate(
    forward: Callable[[torch.Tensor], torch.Tensor],
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    batches: int | None = None,
    amp: bool = True,
) -> tuple[float, float]:
    """Accuracy (percent) and mean cross-entropy of ``forward`` over `loader` (its first `batches`).

    Runs under ``no_grad`` in whatever mode the model is in; supernet searches score paths in
    training mode, so BatchNorm uses the batch's statistics, as ENAS and DARTS evaluate shared weights.
    """
    autocast, _ = precision(device, amp)
    correct, loss, seen = 0.0, 0.0, 0
    with torch.no_grad(), autocast():
        for b, (x, y) in enumerate(loader):
            if batches is not None and b >= batches:
                break
            logits = forward(prepare(x, device)).float()
            correct += (logits.argmax(1) == y).sum().item()
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            seen += len(y)
    if not seen:
        raise ArchLatentError("validation needs at least one batch")
    return 100.0 * correct / seen, loss / seen


def search_dnas(
    supernet: MixedSupernet,
    data: ImageData,
    settings: DnasSettings,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    amp: bool = True,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    time_limit: float | None = None,
    dist: Distributed = SINGLE,
) -> dict[str, Any]:
    """Search `supernet`'s alpha and weights on ``data`` (train split: weights; test split: alpha).

    `time_limit` (seconds) stops after the step that passes it (the cut epoch is recorded with
    ``partial`` and not checkpointed). Returns the derived genotype (text and key), the final mixing
    weights, per-epoch history (losses, accuracies, genotype, seconds), peak memory and the space's
    restriction. CheckpointError when `resume` meets a checkpoint of another run. Under `dist`
    (DDP, `archlatent.oneshot.distributed`) `settings.batch_size` is the global batch, losses and
    accuracies are the global batch's, alpha and weight gradients are averaged over the ranks, and
    rank 0 alone writes the checkpoint.
    """
    device = pick_device(device)
    space = supernet.space
    to_device(supernet, device)
    train = dist.shard(make_loader(data, "train", settings.batch_size, device=device, train=True, seed=seed))
    valid = dist.shard(make_loader(data, "test", settings.batch_size, device=device, train=True, seed=seed + 1))
    model = dist.wrap(supernet)
    steps = min(len(train), settings.steps_per_epoch or len(train))
    weights, alpha = supernet.weight_parameters(), supernet.arch_parameters()
    w_opt = torch.optim.SGD(weights, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    a_opt = torch.optim.Adam(alpha, lr=settings.arch_lr, betas=(0.5, 0.999), weight_decay=settings.arch_weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, settings.epochs, eta_min=settings.lr_min)
    ident = {
        "space": space.name,
        "restriction": restriction_of(space).to_dict(),
        "supernet": supernet.config,
        "settings": dataclasses.asdict(settings),
        "seed": seed,
    }
    path = Path(checkpoint) if checkpoint is not None else None
    history: list[dict[str, Any]] = []
    state = {"model": supernet, "w_opt": w_opt, "a_opt": a_opt, "schedule": schedule}
    if resume and path is not None and path.is_file():
        history = _restore(path, ident, state, (train.generator, valid.generator), device)
    (w_autocast, w_scaler), (_, a_scaler) = precision(device, amp), precision(device, amp)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start, stopped = time.perf_counter(), None
    for epoch in range(len(history), settings.epochs):
        supernet.train()
        tick, done = time.perf_counter(), 0
        sums = {"train_loss": 0.0, "train_acc": 0.0, "valid_loss": 0.0, "valid_acc": 0.0}
        for (x, y), (xv, yv) in zip(train, cycle(valid)):
            with w_autocast():
                arch_logits = model(prepare(xv, device))
                arch_loss = F.cross_entropy(arch_logits, yv)
            optimizer_step(arch_loss, a_opt, alpha, a_scaler, None)
            with w_autocast():
                logits = model(prepare(x, device))
                loss = F.cross_entropy(logits, y)
            values = {"train_loss": dist.mean(loss.detach()), "valid_loss": dist.mean(arch_loss.detach())}
            if not all(math.isfinite(v) for v in values.values()):
                raise ArchLatentError(f"DNAS loss became {values} at epoch {epoch + 1}, step {done + 1}")
            optimizer_step(loss, w_opt, weights, w_scaler, settings.grad_clip)
            done += 1
            values["train_acc"] = dist.mean(batch_accuracy(logits, y), weight=len(y))
            values["valid_acc"] = dist.mean(batch_accuracy(arch_logits, yv), weight=len(yv))
            for key, value in values.items():
                sums[key] += value
            if progress is not None:
                progress({"epoch": epoch + 1, "step": done, "total": steps, "loss": values["train_loss"]})
            if time_limit is not None and dist.sum(time.perf_counter() - start >= time_limit)[0]:
                stopped = "time_limit"  # decided together: every rank stops at the same step
                break
            if done == steps:
                break
        schedule.step()
        dist.average_buffers(supernet)
        partial = stopped is not None and done < steps
        history.append(
            {k: v / done for k, v in sums.items()}
            | {
                "epoch": epoch + 1,
                "steps": done,
                "genotype": space.format(supernet.genotype()),
                "lr": w_opt.param_groups[0]["lr"],
                "seconds": time.perf_counter() - tick,
            }
            | ({"partial": True} if partial else {})
        )
        if path is not None and not partial and dist.is_main:
            _save(path, ident, state, (train.generator, valid.generator), history)
        dist.barrier()  # no rank runs ahead of a checkpoint being written
        if stopped:
            break
    genotype = supernet.genotype()
    return {
        **ident,
        "genotype": space.format(genotype),
        "key": genotype.key(),
        "mix_weights": supernet.mix_weights().detach().cpu().tolist(),
        "history": history,
        "epochs_done": len(history),
        "seconds": time.perf_counter() - start,
        "stopped": stopped,
        **peak_memory(device),
        "device": str(device),
    }


def _save(path: Path, ident: dict[str, Any], state: dict[str, Any], gens: tuple, history: list) -> None:
    save_atomic(
        {
            "format": DNAS_FORMAT,
            **ident,
            "state": {name: obj.state_dict() for name, obj in state.items()},
            "rng": [g.get_state() for g in gens],
            "history": history,
        },
        path,
    )


def _restore(path: Path, ident: dict[str, Any], state: dict[str, Any], gens: tuple, device: torch.device) -> list:
    """Load a DNAS checkpoint into `state` and the loader generators; CheckpointError if it is another run's."""
    ckpt = load_checkpoint(path, DNAS_FORMAT, device)
    for key, value in ident.items():
        if ckpt.get(key) != value:
            raise CheckpointError(f"checkpoint {path} was written for another {key}: {str(ckpt.get(key))[:200]!r}")
    load_weights(state["model"], ckpt["state"]["model"], path)
    try:
        for name in ("w_opt", "a_opt", "schedule"):
            state[name].load_state_dict(ckpt["state"][name])
        for gen, saved in zip(gens, ckpt["rng"]):
            gen.set_state(saved.cpu())
        return list(ckpt["history"])
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path} has a damaged training state: {str(err)[:200]}") from None
