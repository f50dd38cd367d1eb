"""RADARS (Yan, Jiang, Hu & Shi, "RADARS: Memory Efficient Reinforcement Learning Aided Differentiable Neural
Architecture Search", arXiv:2109.05691, 2021), reconstructed from its abstract.

From the abstract: DNAS (every candidate op on every edge at once) runs out of memory as the space
grows, RL is memory-light but slow; RADARS "iteratively applies RL to prune undesired architecture
candidates and identifies a promising subspace to carry out DNAS", with bounded memory. Nothing
else is public (no code), so everything below is our reconstruction:

- a round = (a) SPOS single-path supernet training (`train_supernet`, uniform paths) on the current
  subspace; (b) a REINFORCE controller (`archlatent.oneshot.controller`) rewarded by each sampled
  path's accuracy on one validation batch with the supernet's weights (batch-statistics BN); (c)
  every edge keeps the ``ceil(keep_fraction * n)`` ops the policy rates highest (edges are never
  closed: input choice is left to DNAS);
- rounds repeat until one first-order DNAS step on the remaining subspace, at the user's batch size,
  fits the budget, measured by a dry run (`archlatent.oneshot.memory.step_peak_memory`: the CUDA
  allocator's peak on CUDA, the profiler's peak of live tensor bytes on the CPU); the full space is
  measured first and, when it fits, no round runs;
- a budget below the cheapest single-op subspace (every edge carrying the same one op; the cheapest
  of those) is refused before any training;
- DNAS (`archlatent.oneshot.dnas.search_dnas`) then searches the subspace, starting from the
  single-path supernet's weights for the ops it kept (same module names).

With an output folder, the state after every round (``radars.pt``) and the DNAS checkpoint
(``dnas.pt``) are written atomically, and ``resume`` continues from them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.oneshot.checkpoints import load_checkpoint, load_weights, save_atomic
from archlatent.oneshot.controller import Controller
from archlatent.oneshot.data import ImageData, make_loader
from archlatent.oneshot.dnas import DnasSettings, search_dnas, validate
from archlatent.oneshot.memory import step_peak_memory
from archlatent.oneshot.nets.base import Supernet
from archlatent.oneshot.nets.mixed import build_mixed, build_single_path, inherit_weights
from archlatent.oneshot.runtime import check_positive, cycle, pick_device
from archlatent.oneshot.samplers import SAMPLERS
from archlatent.oneshot.train import train_supernet
from archlatent.spaces.base import SearchSpace
from archlatent.spaces.restrict import RestrictedSpace, restriction_of

RADARS_FORMAT = "archlatent-radars-v1"
#: Peak memory (MiB) of one DNAS step on a subspace.
Measure = Callable[[RestrictedSpace], float]
Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RadarsSettings:
    """RADARS's knobs: the budget (GiB) and, per round, supernet steps, controller steps and pruning."""

    budget_gb: float
    supernet_steps: int = 200
    controller_steps: int = 100
    controller_samples: int = 1
    controller_lr: float = 0.05
    keep_fraction: float = 0.5
    lr: float = 0.025
    max_rounds: int = 10

    def __post_init__(self) -> None:
        check_positive(
            budget_gb=self.budget_gb, supernet_steps=self.supernet_steps, controller_steps=self.controller_steps,
            controller_samples=self.controller_samples, controller_lr=self.controller_lr, lr=self.lr,
            max_rounds=self.max_rounds,
        )  # fmt: skip
        if not 0.0 < self.keep_fraction < 1.0:
            raise ArchLatentError(f"keep_fraction must be in (0, 1), got {self.keep_fraction}")


def dry_run_measure(
    config: dict[str, int], batch_size: int, image_size: int, device: torch.device, amp: bool = True
) -> Measure:
    """A `Measure` by dry run (`step_peak_memory`, mode ``dnas``), cached per subspace."""
    cache: dict[RestrictedSpace, float] = {}

    def measure(space: RestrictedSpace) -> float:
        if space not in cache:
            cache[space] = step_peak_memory(
                space, config, batch_size=batch_size, image_size=image_size, device=device, amp=amp
            )["peak_mb"]
        return cache[space]

    return measure


def single_op_floor(space: RestrictedSpace, measure: Measure) -> tuple[float, str]:
    """Memory (MiB) of the cheapest subspace giving every edge one and the same op, and that op.

    An edge that does not allow the op keeps its first allowed op.
    """
    best: tuple[float, str] | None = None
    for op in space.layout.ops:
        allowed = [[(op,) if op in ops else ops[:1] for ops in cell] for cell in space.allowed]
        try:
            single = RestrictedSpace(space.base, allowed)
        except ArchLatentError:  # e.g. an op nowhere allowed leaves edges empty
            continue
        mb = measure(single)
        best = (mb, op) if best is None or mb < best[0] else best
    if best is None:
        raise ArchLatentError(f"{space.summary()} has no single-op subspace")
    return best


def controller_round(
    controller: Controller, supernet: Supernet, batches: Any, device: torch.device, settings: RadarsSettings
) -> float:
    """`settings.controller_steps` REINFORCE steps, each path scored on one validation batch; mean reward."""
    supernet.train()
    rewards: list[float] = []
    for _ in range(settings.controller_steps):
        samples = [controller.sample() for _ in range(settings.controller_samples)]
        scores = [validate(lambda x, g=g: supernet(x, g), [next(batches)], device)[0] / 100.0 for g, _, _ in samples]
        controller.update([s[1] for s in samples], [s[2] for s in samples], scores)
        rewards += scores
    return float(np.mean(rewards))


def _policy(controller: Controller) -> dict[str, list[dict[str, float]]]:
    """Per cell name, per edge: each allowed op's probability."""
    probs, space = controller.op_probs(), controller.space
    return {
        name: [{op: round(float(probs[c, e, space.layout.ops.index(op)]), 4) for op in ops} for e, ops in enumerate(cell)]
        for c, (name, cell) in enumerate(zip(space.cell_names, space.allowed))
    }


def run_radars(
    space: SearchSpace,
    data: ImageData,
    config: dict[str, int],
    settings: RadarsSettings,
    dnas: DnasSettings,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    amp: bool = True,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    measure: Measure | None = None,
) -> dict[str, Any]:
    """Prune `space` by RL rounds until DNAS fits `settings.budget_gb`, then run DNAS there.

    `config` sizes both supernets (C, depth, num_classes); the batch size of every stage is
    ``dnas.batch_size``. `measure` (default: a dry run on `device`) gives a subspace's DNAS step
    memory in MiB. Returns every round (kept ops per edge, policy, memory, seconds), the memory
    figures, the final subspace and the DNAS result with the found genotype.
    """
    device = pick_device(device)
    measure = measure or dry_run_measure(config, dnas.batch_size, data.image_size, device, amp)
    budget_mb = settings.budget_gb * 1024
    current = restriction_of(space)
    ident = {
        "space": current.name, "initial": current.to_dict(), "supernet": config,
        "settings": dataclasses.asdict(settings), "dnas": dataclasses.asdict(dnas), "seed": seed,
    }  # fmt: skip
    folder = Path(out) if out is not None else None
    supernet = build_single_path(current, seed, **config)
    controller = Controller(current, lr=settings.controller_lr, seed=seed)
    state: dict[str, Any] = {"rounds": [], "memory": {"full_mb": None, "floor_mb": None, "floor_op": None}}
    if resume and folder is not None and (folder / "radars.pt").is_file():
        current = _restore(folder / "radars.pt", ident, state, supernet, controller)
    start = time.perf_counter() - sum(r["seconds"] for r in state["rounds"])
    memory = state["memory"]
    if memory["full_mb"] is None:
        memory["full_mb"] = measure(current)
    mb = state["rounds"][-1]["memory_mb"] if state["rounds"] else memory["full_mb"]
    if mb > budget_mb and memory["floor_mb"] is None:
        memory["floor_mb"], memory["floor_op"] = single_op_floor(current, measure)
        if memory["floor_mb"] > budget_mb:
            raise ArchLatentError(
                f"memory budget {settings.budget_gb:g} GB is below the smallest single-op subspace's DNAS step "
                f"({memory['floor_mb'] / 1024:.4g} GB at batch {dnas.batch_size}, every edge {memory['floor_op']!r}); "
                "raise --memory-budget-gb or lower --batch-size"
            )
    batches = cycle(make_loader(data, "test", dnas.batch_size, device=device, seed=seed))
    while mb > budget_mb:
        r = len(state["rounds"])
        if r >= settings.max_rounds:
            raise ArchLatentError(f"RADARS did not fit {settings.budget_gb:g} GB in {r} rounds ({mb / 1024:.4g} GB left)")
        if all(len(ops) <= 1 for cell in current.allowed for ops in cell):
            raise ArchLatentError(
                f"every edge is down to one op and DNAS still needs {mb / 1024:.4g} GB > {settings.budget_gb:g} GB "
                f"(after {r} rounds); raise --memory-budget-gb or lower --batch-size"
            )
        tick = time.perf_counter()

        def report(info: dict[str, Any], r: int = r) -> None:
            if progress is not None:
                progress({"stage": "supernet", "round": r + 1, **info})

        sampler = SAMPLERS.create("uniform", current, seed=seed + r)
        trained = train_supernet(
            supernet, data, steps=settings.supernet_steps, sampler=sampler, batch_size=dnas.batch_size,
            lr=settings.lr, seed=seed + r, device=device, amp=amp, progress=report,
        )  # fmt: skip
        controller.restrict(current)
        reward = controller_round(controller, supernet, batches, device, settings)
        policy = _policy(controller)
        current = controller.prune(settings.keep_fraction)
        mb = measure(current)
        state["rounds"].append({
            "round": r + 1, "supernet_loss": trained["final_loss"], "mean_reward": reward, "policy": policy,
            "kept": current.to_dict()["allowed"], "candidates": current.candidates(), "memory_mb": mb,
            "memory_gb": mb / 1024, "fits": mb <= budget_mb, "seconds": time.perf_counter() - tick,
        })  # fmt: skip
        if progress is not None:
            progress({"stage": "round", "round": r + 1, "memory_gb": mb / 1024, "candidates": current.candidates()})
        if folder is not None:
            _save(folder / "radars.pt", ident, state, current, supernet, controller)
    pruning_seconds = time.perf_counter() - start
    mixed = build_mixed(current, seed, **config)
    inherited = inherit_weights(mixed, supernet) if state["rounds"] else 0
    supernet.to("cpu")  # DNAS gets the device to itself
    result = search_dnas(
        mixed, data, dnas, seed=seed, device=device, amp=amp, resume=resume,
        checkpoint=folder / "dnas.pt" if folder is not None else None,
        progress=None if progress is None else lambda info: progress({"stage": "dnas", **info}),
    )  # fmt: skip
    return {
        "method": "radars",
        **ident,
        "budget_gb": settings.budget_gb,
        "memory": {**memory, "final_mb": mb, "source": "dry run of one DNAS step (see archlatent.oneshot.memory)"},
        "rounds": state["rounds"],
        "restriction": current.to_dict(),
        "inherited_tensors": inherited,
        "genotype": result["genotype"],
        "key": result["key"],
        "dnas": result,
        "pruning_seconds": pruning_seconds,
        "seconds": time.perf_counter() - start,
    }


def _save(path: Path, ident: dict, state: dict, current: RestrictedSpace, supernet: Supernet, controller: Controller) -> None:
    save_atomic(
        {
            "format": RADARS_FORMAT, **ident, **state, "current": current.to_dict(),
            "supernet_state": supernet.state_dict(), "controller": controller.state_dict(),
        },
        path,
    )  # fmt: skip


def _restore(path: Path, ident: dict, state: dict, supernet: Supernet, controller: Controller) -> RestrictedSpace:
    """Load the state after the last saved round; CheckpointError if `path` belongs to another run."""
    ckpt = load_checkpoint(path, RADARS_FORMAT)
    for key, value in ident.items():
        if ckpt.get(key) != value:
            raise CheckpointError(f"checkpoint {path} was written for another {key}: {str(ckpt.get(key))[:200]!r}")
    load_weights(supernet, ckpt.get("supernet_state"), path)
    try:
        controller.load_state_dict(ckpt["controller"])
        state["rounds"], state["memory"] = list(ckpt["rounds"]), dict(ckpt["memory"])
        current = RestrictedSpace.from_dict(ckpt["current"])
    except (KeyError, TypeError, ValueError, RuntimeError, ArchLatentError) as err:
        raise CheckpointError(f"checkpoint {path} has a damaged RADARS state: {str(err)[:200]}") from None
    controller.restrict(current)
    return current
