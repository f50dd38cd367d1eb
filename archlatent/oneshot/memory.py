"""Peak memory of one supernet training step, measured by a dry run (RADARS's memory test).

`step_peak_memory` builds a fresh supernet for a (restricted) space and runs one step on random
inputs of the given batch and image size: a first-order DNAS step (an alpha step, then a weight
step, both forward + backward + optimizer update) on the mixed-op supernet, or one SPOS step on a
path of the single-path supernet. What it reports is the peak of memory allocated while building
and stepping, above what was allocated before:

- on CUDA, ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (the allocator's
  own count of tensor bytes, not its cache or the CUDA context);
- on the CPU, the peak of live tensor bytes replayed from the torch profiler's memory events
  (``profile_memory=True``): every CPU allocation and free torch makes, in time order. Like the CUDA
  figure it counts tensors only (weights, gradients, optimizer state, activations), not the
  interpreter or malloc's slack, so it is deterministic and comparable across subspaces.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archlatent.errors import ArchLatentError
from archlatent.oneshot.nets.mixed import build_mixed, build_single_path
from archlatent.oneshot.runtime import optimizer_step, pick_device, precision, prepare, to_device
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.restrict import restriction_of

MODES = ("dnas", "single-path")


def _step(
    space: SearchSpace, config: dict[str, int], mode: str, batch_size: int, image_size: int, device: torch.device,
    amp: bool, seed: int,
) -> None:  # fmt: skip
    """Build the supernet and run one training step of `mode` on random data."""
    num_classes = config.get("num_classes", 10)
    gen = torch.Generator().manual_seed(seed)
    x = prepare(torch.randn(batch_size, 3, image_size, image_size, generator=gen).to(device), device)
    y = torch.randint(num_classes, (batch_size,), generator=gen).to(device)
    autocast, scaler = precision(device, amp)
    if mode == "dnas":
        net = to_device(build_mixed(space, seed, **config), device)
        weights, alpha = net.weight_parameters(), net.arch_parameters()
        arch = torch.optim.Adam(alpha, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        with autocast():
            loss = F.cross_entropy(net(x), y)
        optimizer_step(loss, arch, alpha, scaler, None)
        forward = net
    else:
        net = to_device(build_single_path(space, seed, **config), device)
        weights = list(net.parameters())
        genotype = space.sample(np.random.default_rng(seed))

        def forward(images: torch.Tensor) -> torch.Tensor:
            return net(images, genotype)

    optimizer = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
    with autocast():
        loss = F.cross_entropy(forward(x), y)
    optimizer_step(loss, optimizer, weights, scaler, 5.0)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: the profiler's C++ side prints a line on every
    start and stop straight to stderr, which no logging setting silences."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _cpu_peak(events: Any) -> int:
    """Peak of the running sum of the profiler's CPU allocation (+) and free (-) events, in bytes."""
    memory = sorted(
        (e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]" and e.device_type().name == "CPU"
    )
    total = peak = 0
    for _, nbytes in memory:
        total += nbytes
        peak = max(peak, total)
    return peak


def step_peak_memory(
    space: SearchSpace,
    config: dict[str, int],
    *,
    batch_size: int,
    image_size: int = 32,
    mode: str = "dnas",
    device: torch.device | str | None = None,
    amp: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Peak memory (MiB) of one `mode` step of `space`'s supernet sized by `config` (C, depth, num_classes).

    Returns ``peak_mb``, ``source`` (``cuda_max_memory_allocated`` or ``cpu_profiler_peak``), the
    mode, batch and image size, and the candidates the space keeps. Leaves no model behind.
    """
    if mode not in MODES:
        raise ArchLatentError(f"unknown memory mode {mode!r}; known: {', '.join(MODES)}")
    if batch_size < 1 or image_size < 8:
        raise ArchLatentError(f"a dry run needs batch_size >= 1 and image_size >= 8, got {batch_size}, {image_size}")
    device = pick_device(device)
    args = (space, config, mode, batch_size, image_size, device, amp, seed)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        _step(*args)
        torch.cuda.synchronize(device)
        peak, source = torch.cuda.max_memory_allocated(device) - before, "cuda_max_memory_allocated"
    else:
        prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True)
        with _quiet():
            prof.start()
        try:
            _step(*args)
        finally:
            with _quiet():
                prof.stop()
        peak, source = _cpu_peak(prof.profiler.kineto_results.events()), "cpu_profiler_peak"
    return {
        "peak_mb": peak / 2**20,
        "source": source,
        "mode": mode,
        "batch_size": batch_size,
        "image_size": image_size,
        "candidates": restriction_of(space).candidates(),
    }
