"""How one-shot code runs: device choice, mixed precision, the optimizer step, peak memory, accuracy.

Shared by supernet training (`archlatent.oneshot.train`), standalone training (`...final`) and the
supernet evaluator. Mixed precision and channels-last apply only on CUDA; elsewhere they are inert.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import nn

from archlatent.errors import ArchLatentError

if TYPE_CHECKING:
    from archlatent.oneshot.distributed import Distributed

T = TypeVar("T")
#: Device types the one-shot code runs on, and how to tell whether this torch build has one.
_BACKENDS: dict[str, Callable[[], bool]] = {
    "cpu": lambda: True,
    "cuda": torch.cuda.is_available,
    "mps": lambda: torch.backends.mps.is_available(),
}


def pick_device(device: torch.device | str | None = None) -> torch.device:
    """`device`, or CUDA when available, else the CPU; ArchLatentError for a device this torch lacks."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ArchLatentError(f"unknown torch device {str(device)[:200]!r}; use cpu, cuda or cuda:N, or mps") from None
    if device.type not in _BACKENDS:
        raise ArchLatentError(f"device {str(device)!r} is not supported here; use cpu, cuda or cuda:N, or mps")
    if not _BACKENDS[device.type]():
        raise ArchLatentError(f"device {str(device)!r} is not available in this torch build ({torch.__version__})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ArchLatentError(f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    return device


def check_positive(**values: float | None) -> None:
    """ArchLatentError naming the first of `values` (training settings) that is set and not > 0."""
    for name, value in values.items():
        if value is not None and not value > 0:
            raise ArchLatentError(f"{name} must be > 0, got {repr(value)[:200]}")


def precision(device: torch.device, amp: bool) -> tuple[Callable[[], contextlib.AbstractContextManager], Any]:
    """An autocast context factory and a GradScaler (None unless float16); both inert off CUDA."""
    if device.type != "cuda" or not amp:
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def optimizer_step(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: list[nn.Parameter], scaler: Any, clip: float | None
) -> None:
    """Backward `loss`, clip the gradient norm to `clip` (if set) and step, through `scaler` when given.

    Gradients are cleared to None first, so parameters off a sampled path get no update at all
    (not even weight decay). Shapes: loss [] (a scalar).
    """
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
    else:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    if clip:
        nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], clip)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()


def prepare(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Images in channels-last layout on CUDA (faster convolutions), unchanged elsewhere.

    Shapes: x [batch, 3, H, W].
    """
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def to_device(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` on `device`, channels-last on CUDA."""
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def peak_memory(device: torch.device) -> dict[str, Any]:
    """Peak memory so far: the CUDA allocator's peak on CUDA, the process's max RSS elsewhere."""
    if device.type == "cuda":
        return {"peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20, "peak_memory_source": "cuda"}
    import resource  # Unix only; imported here so the module still loads elsewhere

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return {"peak_memory_mb": rss / (2**20 if sys.platform == "darwin" else 2**10), "peak_memory_source": "cpu_maxrss"}


def cycle(loader: Iterable[T]) -> Iterator[T]:
    """`loader`'s batches over and over (each pass reshuffles when the loader does)."""
    while True:
        yield from loader


def batch_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in percent. Shapes: logits [batch, classes], y [batch]."""
    return 100.0 * (logits.argmax(1) == y).float().mean().item()


def evaluate_accuracy(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    amp: bool = True,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    dist: Distributed | None = None,
) -> float:
    """Top-1 accuracy (percent) of `model` (or ``forward(x)``) over `loader`, in eval mode, no grad.

    With `dist`, `loader` is this rank's shard and the counts are summed over the ranks first.
    """
    autocast, _ = precision(device, amp)
    run = forward if forward is not None else model
    model.eval()
    correct, seen = 0.0, 0
    with torch.no_grad(), autocast():
        for x, y in loader:
            correct += (run(prepare(x, device)).argmax(1) == y).sum().item()
            seen += len(y)
    if dist is not None:
        correct, seen = dist.sum(correct, seen)
    return 100.0 * correct / max(seen, 1)
