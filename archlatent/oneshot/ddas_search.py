"""DDAS's search protocol (Mills et al., IEEE Access 9, 2021): warm-up with every op on, then agent-chosen paths.

1. Warm-up: the mixed-op supernet trains its weights with ``alpha = 1`` on every candidate (uniform
   mixing, alpha frozen), as the paper warms its one-shot model; its validation accuracy and loss
   become the reward's reference (`DDASSampler.set_reference`).
2. Each action: the sampler's path fine-tunes the shared weights for M minibatches (M =
   ``finetune_batches``), is scored on the validation split, and the sampler is told accuracy and loss.
3. After the run every sampled architecture is re-scored with the final weights and the
   accuracy-vs-cost Pareto front is built from all of them.

Our choices: one SGD optimizer (momentum 0.9, weight decay 3e-4, grad clip 5) with one cosine schedule
over warm-up and fine-tuning; paths are scored with batch statistics (`archlatent.oneshot.dnas.validate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from archlatent.errors import ArchLatentError
from archlatent.oneshot.data import ImageData, make_loader
from archlatent.oneshot.dnas import validate
from archlatent.oneshot.nets.mixed import MixedSupernet
from archlatent.oneshot.runtime import check_positive, cycle, optimizer_step, pick_device, precision, prepare, to_device
from archlatent.oneshot.samplers.ddas import DDASSampler
from archlatent.pareto import ParetoFront
from archlatent.spaces.restrict import restriction_of


def run_ddas(
    sampler: DDASSampler,
    supernet: MixedSupernet,
    data: ImageData,
    *,
    actions: int,
    warmup_steps: int,
    batch_size: int = 64,
    lr: float = 0.025,
    lr_min: float = 0.001,
    valid_batches: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    amp: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run DDAS: `warmup_steps` mixed minibatches, then `actions` actions of M minibatches each.

    `valid_batches` caps each validation pass (None: the whole split). Returns the reference scores,
    the sampler's history, and the re-scored front (``front``: non-dominated points; ``points``: all).
    """
    check_positive(actions=actions, batch_size=batch_size, lr=lr)
    if warmup_steps < 0:
        raise ArchLatentError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if sampler.front is None or restriction_of(sampler.space) != restriction_of(supernet.space):
        raise ArchLatentError("run_ddas needs a DDAS sampler with a cost function, over the supernet's own space")
    device = pick_device(device)
    to_device(supernet, device)
    batches = cycle(make_loader(data, "train", batch_size, device=device, train=True, seed=seed))
    valid = make_loader(data, "test", batch_size, device=device)
    params = supernet.weight_parameters()
    total = warmup_steps + actions * sampler.finetune_batches
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=3e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total, eta_min=lr_min)
    autocast, scaler = precision(device, amp)
    uniform = supernet.uniform_weights().to(device)
    supernet.train()
    done = 0

    def step(forward: Callable[[torch.Tensor], torch.Tensor], stage: str) -> None:
        nonlocal done
        x, y = next(batches)
        with autocast():
            loss = F.cross_entropy(forward(prepare(x, device)), y)
        if not torch.isfinite(loss):
            raise ArchLatentError(f"DDAS {stage} loss became {loss.item()} at minibatch {done + 1}")
        optimizer_step(loss, optimizer, params, scaler, 5.0)
        schedule.step()
        done += 1
        if progress is not None:
            progress({"stage": stage, "step": done, "total": total, "loss": loss.item()})

    start = time.perf_counter()
    for _ in range(warmup_steps):
        step(lambda x: supernet(x, weights=uniform), "warm-up")
    reference = validate(lambda x: supernet(x, weights=uniform), valid, device, valid_batches, amp)
    sampler.set_reference(*reference)
    for _ in range(actions):
        for _ in range(sampler.finetune_batches):
            genotype = sampler.sample()
            step(lambda x, g=genotype: supernet(x, g), "fine-tune")
        accuracy, loss = validate(lambda x, g=genotype: supernet(x, g), valid, device, valid_batches, amp)
        sampler.feedback(genotype, accuracy, loss=loss)
    search_seconds = time.perf_counter() - start
    front = ParetoFront(sampler.front.cost)
    for point in sampler.front.points():
        front.add(point.genotype, validate(lambda x, g=point.genotype: supernet(x, g), valid, device, valid_batches)[0])
    space = sampler.space
    rows = [
        {"arch": space.format(p.genotype), "key": p.genotype.key(), "accuracy": p.accuracy, "cost": p.cost}
        for p in front.points()
    ]
    return {
        "reference": {"accuracy": reference[0], "loss": reference[1]},
        "minibatches": done,
        "actions": actions,
        "history": sampler.history,
        "points": rows,
        "front": [r for r in rows if r["key"] in {p.genotype.key() for p in front.front()}],
        "hypervolume": front.hypervolume(),
        "search_seconds": search_seconds,
        "seconds": time.perf_counter() - start,
    }
