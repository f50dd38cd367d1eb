"""Training loops: single-path supernet training with a pluggable sampler, and standalone `train_final`.

Both pick the device explicitly (``cuda`` when available), use mixed precision and channels-last only
on CUDA, and never touch the global RNG outside ``torch.random.fork_rng``. `train_final` writes a
checkpoint atomically after every epoch and resumes from it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archlatent.datasets import ImageData, make_loader
from archlatent.ddas import ParetoFront
from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.genotype import Genotype
from archlatent.nets.supernet import Supernet, standalone_network
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace

log = logging.getLogger(__name__)

Progress = bool | Callable[[dict[str, float]], None]
FINAL_FORMAT = "archlatent-final-v1"


def pick_device(device: torch.device | str | None = None) -> torch.device:
    """`device`, or CUDA when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# -- samplers ------------------------------------------------------------------------------------------
class Sampler(Protocol):
    """Chooses the architecture each supernet step trains; told the path's accuracy when it asks."""

    wants_feedback: bool

    def sample(self) -> Genotype: ...

    def feedback(self, genotype: Genotype, accuracy: float) -> None: ...


class UniformSampler:
    """SPOS (Guo et al., "Single Path One-Shot NAS with Uniform Sampling", ECCV 2020): uniform paths.

    Given a `cost` function it also asks for feedback and keeps the accuracy-vs-cost Pareto front of
    what it sampled (the random-sampling baseline of DDAS); without one, feedback is not requested.
    """

    def __init__(self, space: SearchSpace, seed: int = 0, cost: Callable[[Genotype], float] | None = None) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.front = ParetoFront(cost) if cost is not None else None
        self.wants_feedback = cost is not None

    def sample(self) -> Genotype:
        return self.space.sample(self.rng)

    def feedback(self, genotype: Genotype, accuracy: float) -> None:
        if self.front is not None:
            self.front.add(genotype, accuracy)


# -- shared pieces -----------------------------------------------------------------------------------------
def _precision(device: torch.device, amp: bool) -> tuple[Callable[[], contextlib.AbstractContextManager], Any]:
    """An autocast context factory and a GradScaler (None unless float16); both inert off CUDA."""
    if device.type != "cuda" or not amp:
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def _step(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: list[nn.Parameter], scaler: Any, clip: float | None
) -> None:
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


def _prepare(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def _peak_memory(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {"peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20, "peak_memory_source": "cuda"}
    import resource  # Unix only; imported here so the module still loads elsewhere

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return {"peak_memory_mb": rss / (2**20 if sys.platform == "darwin" else 2**10), "peak_memory_source": "cpu_maxrss"}


def _progress_bar(progress: Progress, total: int, desc: str) -> tuple[Callable[[dict[str, float]], None], Any]:
    """A per-step callback and the tqdm bar behind it (None when `progress` is a callback or off)."""
    if callable(progress):
        return progress, None
    if not progress:
        return (lambda info: None), None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, leave=False)

    def update(info: dict[str, float]) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{info['loss']:.3f}")

    return update, bar


def _cycle(loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        yield from loader


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * (logits.argmax(1) == y).float().mean().item()


# -- supernet ------------------------------------------------------------------------------------------------
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
    progress: Progress = False,
) -> dict[str, Any]:
    """Train `supernet` one sampled path per step (SPOS), SGD with momentum and a cosine schedule.

    Give `steps` or `epochs` (over ``data``'s training split). `sampler` (default: `UniformSampler`)
    picks each step's genotype; when it ``wants_feedback``, the path's accuracy (percent) on the next
    batch of ``data``'s test split (the held-out validation images) is reported back after the step.
    Returns stats: images/s, peak memory (CUDA allocator peak on CUDA, process max RSS on the CPU),
    losses. NaN loss raises ArchLatentError.
    """
    device = pick_device(device)
    train = make_loader(data, "train", batch_size, device=device, train=True, seed=seed)
    valid = make_loader(data, "test", batch_size, device=device, seed=seed)
    if steps is None:
        if epochs is None:
            raise ArchLatentError("train_supernet needs steps or epochs")
        steps = epochs * len(train)
    if steps < 1:
        raise ArchLatentError(f"train_supernet needs at least one step, got {steps}")
    sampler = sampler if sampler is not None else UniformSampler(supernet.space, seed)
    supernet.to(device)
    if device.type == "cuda":
        supernet.to(memory_format=torch.channels_last)
        torch.cuda.reset_peak_memory_stats(device)
    params = list(supernet.parameters())
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=lr_min)
    autocast, scaler = _precision(device, amp)
    report, bar = _progress_bar(progress, steps, f"supernet {supernet.space_name}")
    batches, valid_batches = _cycle(train), _cycle(valid)
    losses: list[float] = []
    images = 0
    supernet.train()
    start = time.perf_counter()
    for step in range(steps):
        genotype = sampler.sample()
        x, y = next(batches)
        x = _prepare(x, device)
        with autocast():
            loss = F.cross_entropy(supernet(x, genotype), y)
        if not torch.isfinite(loss):
            raise ArchLatentError(f"supernet loss became {loss.item()} at step {step + 1} of {steps}")
        _step(loss, optimizer, params, scaler, grad_clip)
        scheduler.step()
        images += len(y)
        losses.append(loss.item())
        info = {"step": step + 1, "loss": losses[-1]}
        if sampler.wants_feedback:
            vx, vy = next(valid_batches)
            with torch.no_grad(), autocast():
                info["accuracy"] = _accuracy(supernet(_prepare(vx, device), genotype), vy)
            sampler.feedback(genotype, info["accuracy"])
        report(info)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "steps": steps,
        "batch_size": batch_size,
        "images": images,
        "seconds": seconds,
        "images_per_s": images / seconds,
        **_peak_memory(device),
        "device": str(device),
        "amp": bool(amp and device.type == "cuda"),
        "first_loss": losses[0],
        "final_loss": float(np.mean(tail)),
    }


# -- checkpoints -------------------------------------------------------------------------------------------
#: What ``torch.load`` raises on a damaged or foreign file (truncated zip, garbage, disallowed pickle).
_LOAD_ERRORS = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
)


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside `path`, then ``os.replace`` it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, fmt: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint dict written by this library in format `fmt`; CheckpointError on anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except _LOAD_ERRORS as err:
        lines = str(err).strip().splitlines()
        reason = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch checkpoint ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"checkpoint {path} is not an {fmt} checkpoint (found {found!r})")
    return ckpt


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """``load_state_dict`` that reports a mismatch as one CheckpointError."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        detail = " ".join(line.strip() for line in str(err).strip().splitlines()[:2]) or type(err).__name__
        raise CheckpointError(f"checkpoint {path} does not fit this model: {detail}") from None


# -- standalone training -----------------------------------------------------------------------------------
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
    """The standard recipe of `space` with `overrides` (Recipe fields) applied."""
    if space not in RECIPES:
        raise ArchLatentError(f"no training recipe for space {space!r}; recipes exist for {', '.join(RECIPES)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Recipe)}
    if unknown:
        raise ArchLatentError(f"unknown recipe field(s) {sorted(unknown)}")
    return dataclasses.replace(RECIPES[space], **overrides)


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
    progress: Progress = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Train `genotype`'s standalone network from scratch with its space's `RECIPES` entry.

    SGD (momentum 0.9; Nesterov for NB201), cosine LR, the space's weight decay; DARTS adds cutout,
    the auxiliary head and drop path. `overrides` change Recipe fields (``epochs=10``,
    ``network={"C": 8, "layers": 5}``, ...). With `out`, ``out/final.pt`` (model, optimizer, scheduler,
    epoch, RNG states, history) is written atomically after every epoch; `resume` continues from it.
    Returns the history and final test accuracy (percent) on ``dataset``'s test split.
    """
    space = get_space(space) if isinstance(space, str) else space
    space.validate(genotype)
    device = pick_device(device)
    cfg = recipe(space.name, **overrides)
    path = Path(out) / "final.pt" if out is not None else None
    ident = {"space": space.name, "genotype": space.format(genotype), "recipe": dataclasses.asdict(cfg)}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        extra = {"auxiliary": cfg.auxiliary_weight > 0} if space.name == "darts" else {}
        model = standalone_network(genotype, dataset.num_classes, **cfg.network, **extra).to(device)
        if device.type == "cuda":
            model.to(memory_format=torch.channels_last)
        params = list(model.parameters())
        optimizer = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs, eta_min=cfg.lr_min)
        train = make_loader(dataset, "train", cfg.batch_size, device=device, train=True, cutout=cfg.cutout, seed=seed)
        history: list[dict[str, float]] = []
        if resume and path is not None and path.is_file():
            history = _restore(path, ident, model, optimizer, scheduler, train.generator, device)
            log.info("resuming %s from epoch %d", path, len(history))
        elif resume:
            log.warning("no checkpoint to resume from%s; starting from scratch", f" at {path}" if path else "")
        _fit(model, cfg, train, optimizer, scheduler, history, dataset, device, amp, progress, path, ident)
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
            raise CheckpointError(f"checkpoint {path} was written for another {key}: {ckpt.get(key)!r}, not {value!r}")
    load_weights(model, ckpt["model"], path)
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        loader_gen.set_state(ckpt["rng"]["loader"].cpu())
        if device.type == "cuda" and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"].cpu(), device)
        history = list(ckpt["history"])
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path} has a damaged training state: {err}") from None
    if len(history) != ckpt.get("epoch"):
        raise CheckpointError(
            f"checkpoint {path} is inconsistent: epoch {ckpt.get('epoch')} with {len(history)} records"
        )
    return history


def _fit(
    model: nn.Module,
    cfg: Recipe,
    train: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    history: list[dict[str, float]],
    dataset: ImageData,
    device: torch.device,
    amp: bool,
    progress: Progress,
    path: Path | None,
    ident: dict[str, Any],
) -> None:
    """Epochs ``len(history)`` .. ``cfg.epochs - 1``, a checkpoint after each."""
    autocast, scaler = _precision(device, amp)
    report, bar = _progress_bar(progress, (cfg.epochs - len(history)) * len(train), "train-final")
    params = list(model.parameters())
    test = make_loader(dataset, "test", 512, device=device)
    for epoch in range(len(history), cfg.epochs):
        if hasattr(model, "drop_path_prob"):
            model.drop_path_prob = cfg.drop_path_prob * epoch / cfg.epochs
        model.train()
        start, total_loss, correct, seen = time.perf_counter(), 0.0, 0.0, 0
        for step, (x, y) in enumerate(train, start=1):
            with autocast():
                out = model(_prepare(x, device))
                logits, aux = out if isinstance(out, tuple) else (out, None)
                loss = F.cross_entropy(logits, y)
                if aux is not None:
                    loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux, y)
            if not torch.isfinite(loss):
                kept = f"; the last good checkpoint {path} (epoch {epoch}) is untouched" if path and epoch else ""
                raise ArchLatentError(f"training loss became {loss.item()} at epoch {epoch + 1}, step {step}{kept}")
            _step(loss, optimizer, params, scaler, cfg.grad_clip)
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            report({"epoch": epoch + 1, "step": step, "loss": loss.item()})
        scheduler.step()
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total_loss / seen,
                "train_acc": 100.0 * correct / seen,
                "test_acc": evaluate_accuracy(model, test, device, amp),
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - start,
            }
        )
        if path is not None:
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
    if bar is not None:
        bar.close()


def evaluate_accuracy(
    model: nn.Module, loader: Any, device: torch.device, amp: bool = True, forward: Callable[..., Any] | None = None
) -> float:
    """Top-1 accuracy (percent) of `model` (or ``forward(x)``) over `loader`, in eval mode, no grad."""
    autocast, _ = _precision(device, amp)
    run = forward if forward is not None else model
    model.eval()
    correct, seen = 0.0, 0
    with torch.no_grad(), autocast():
        for x, y in loader:
            correct += (run(_prepare(x, device)).argmax(1) == y).sum().item()
            seen += len(y)
    return 100.0 * correct / max(seen, 1)
