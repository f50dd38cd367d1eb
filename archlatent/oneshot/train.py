"""Single-path supernet training (SPOS: Guo et al., ECCV 2020) with a pluggable architecture sampler.

Picks the device explicitly (``cuda`` when available), uses mixed precision and channels-last only on
CUDA, and never touches the global RNG: the loader draws from its own generator, the sampler from
its own seed. Progress reaches the caller only through the `progress` callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archlatent.errors import ArchLatentError
from archlatent.oneshot.data import ImageData, make_loader
from archlatent.oneshot.distributed import SINGLE, Distributed
from archlatent.oneshot.nets import Supernet
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
from archlatent.oneshot.samplers import SAMPLERS, Sampler

#: Called after every step with a dict: ``step``, ``total`` (steps), ``loss``, and ``accuracy`` when
#: the sampler asked for feedback (``train_final`` adds ``epoch``).
Progress = Callable[[dict[str, float]], None]


def train_supernet(
    supernet: Supernet,
    data: ImageData,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    sampler: Sampler | None = None,
    batch_size: int = 64,
    lr: float = 0.025,
    lr_min: float = 0.001,
    momentum: float = 0.9,
    weight_decay: float = 3e-4,
    grad_clip: float = 5.0,
    seed: int = 0,
    device: torch.device | str | None = None,
    amp: bool = True,
    progress: Progress | None = None,
    dist: Distributed = SINGLE,
) -> dict[str, Any]:
    """Train `supernet` one sampled path per step (SPOS), SGD with momentum and a cosine schedule.

    Give `steps` or `epochs` (over ``data``'s training split). `sampler` (default: ``uniform``)
    picks each step's genotype; when it ``wants_feedback``, the path's accuracy (percent) on the next
    batch of ``data``'s test split (the held-out validation images) is reported back after the step.
    Returns stats: images/s, peak memory (CUDA allocator peak on CUDA, process max RSS on the CPU),
    losses. NaN loss raises ArchLatentError. Under `dist` (DDP, see `archlatent.oneshot.distributed`)
    `batch_size` is the global batch, every rank samples the same path, and losses, accuracies and
    images are those of the global batch, so the stats read as one process's would.
    """
    device = pick_device(device)
    check_positive(batch_size=batch_size, lr=lr, steps=steps, epochs=epochs)
    train = dist.shard(make_loader(data, "train", batch_size, device=device, train=True, seed=seed))
    valid = dist.shard(make_loader(data, "test", batch_size, device=device, seed=seed))
    if steps is None:
        if epochs is None:
            raise ArchLatentError("train_supernet needs steps or epochs")
        steps = epochs * len(train)
    if steps < 1:
        raise ArchLatentError(f"train_supernet needs at least one step, got {steps} ({len(train)} batches per epoch)")
    sampler = sampler if sampler is not None else SAMPLERS.create("uniform", supernet.space, seed=seed)
    to_device(supernet, device)
    model = dist.wrap(supernet)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    params = list(supernet.parameters())
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=lr_min)
    autocast, scaler = precision(device, amp)
    batches, valid_batches = cycle(train), cycle(valid)
    losses: list[float] = []
    images = 0
    supernet.train()
    start = time.perf_counter()
    for step in range(steps):
        genotype = sampler.sample()
        x, y = next(batches)
        with autocast():
            loss = F.cross_entropy(model(prepare(x, device), genotype), y)
        losses.append(dist.mean(loss.detach()))  # the global batch's loss, the same on every rank
        if not math.isfinite(losses[-1]):
            raise ArchLatentError(f"supernet loss became {losses[-1]} at step {step + 1} of {steps}")
        optimizer_step(loss, optimizer, params, scaler, grad_clip)
        scheduler.step()
        images += len(y) * dist.world
        info = {"step": step + 1, "total": steps, "loss": losses[-1]}
        if sampler.wants_feedback:
            vx, vy = next(valid_batches)
            with torch.no_grad(), autocast():
                accuracy = batch_accuracy(supernet(prepare(vx, device), genotype), vy)
            info["accuracy"] = dist.mean(accuracy, weight=len(vy))
            sampler.feedback(genotype, info["accuracy"])
        if progress is not None:
            progress(info)
    dist.average_buffers(supernet)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "steps": steps,
        "batch_size": batch_size,
        "images": images,
        "seconds": seconds,
        "images_per_s": images / seconds,
        **peak_memory(device),
        "device": str(device),
        "amp": bool(amp and device.type == "cuda"),
        "first_loss": losses[0],
        "final_loss": float(np.mean(tail)),
        "processes": dist.world,
    }
