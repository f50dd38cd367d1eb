"""Data-parallel training under ``torchrun`` with DistributedDataParallel (Li et al., VLDB 2020).

One process per device (gloo on the CPU, NCCL on CUDA). Every rank builds the same model and the
same loader (same seed), and takes its slice of each global batch (`Shard`), so K processes see
exactly the batches one process would (same global batch; per-rank batch = global / K). DDP averages
the gradients; losses and accuracies are averaged over ranks before anyone looks at them, so every
rank takes the same decisions (stop on NaN, sampler feedback) and logs what one process would log.
Rank 0 alone writes files; the others wait for it (`barrier`, `on_main`).

A training loop takes a `Distributed` (default `SINGLE`: a no-op for one process) and uses it like this
(``supernet train`` and ``train-final`` do; a ``dnas`` loop would do the same)::

    with session(args.device) as (dist, device):  # reads torchrun's RANK / WORLD_SIZE / LOCAL_RANK
        dist.on_main(lambda: claim(out))           # rank 0 checks and creates; its error stops every rank
        model = dist.wrap(net.to(device))          # DDP when world > 1
        for x, y in dist.shard(loader): ...        # this rank's part of each global batch
        loss_value = dist.mean(loss.detach())      # the global batch's loss, on every rank
        dist.average_buffers(net)                  # BatchNorm statistics equal on every rank
        if dist.is_main: save(...)
        dist.barrier()
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.distributed as torch_dist
from torch import nn

from archlatent.errors import ArchLatentError
from archlatent.oneshot.data import TensorLoader
from archlatent.oneshot.runtime import pick_device

T = TypeVar("T")
_DDP = nn.parallel.DistributedDataParallel
#: DDP's own buffer sync is switched off (buffers are averaged explicitly); the flag's name changed in torch 2.13.
_NO_BUFFER_SYNC = (
    {"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(_DDP).parameters
    else {"broadcast_buffers": False}
)


@dataclass(frozen=True)
class Distributed:
    """This process's place among `world` training processes (rank 0 is the one that writes)."""

    rank: int = 0
    world: int = 1
    #: Where collective tensors live: the CPU for gloo, this rank's GPU for NCCL.
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module, *, partial: bool = True) -> nn.Module:
        """`model` under DDP, or as is alone. `partial`: a step may leave parameters unused (a supernet
        trains one path per step); False for networks that use every parameter (saves a graph walk)."""
        if self.world == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return _DDP(model, device_ids=ids, find_unused_parameters=partial, **_NO_BUFFER_SYNC)

    def shard(self, loader: TensorLoader) -> TensorLoader | Shard:
        """This rank's slice of every batch of `loader` (the loader itself for one process)."""
        return loader if self.world == 1 else Shard(loader, self.rank, self.world)

    def sum(self, *values: float) -> list[float]:
        """Each of `values` summed over the ranks."""
        if self.world == 1:
            return [float(v) for v in values]
        total = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(total)
        return total.tolist()

    def mean(self, value: float | torch.Tensor, weight: float = 1.0) -> float:
        """The `weight`-weighted mean of `value` over the ranks (weight: e.g. this rank's image count)."""
        if self.world == 1:
            return float(value)
        total, weights = self.sum(float(value) * weight if weight else 0.0, weight)  # an empty shard adds nothing
        return total / weights

    def average_buffers(self, module: nn.Module) -> None:
        """Average floating buffers (BatchNorm running statistics) over the ranks, in place."""
        if self.world == 1:
            return
        for buffer in module.buffers():
            if buffer.is_floating_point():
                torch_dist.all_reduce(buffer)
                buffer /= self.world

    def barrier(self) -> None:
        """Wait until every rank is here (a no-op alone)."""
        if self.world > 1:
            torch_dist.barrier()

    def on_main(self, work: Callable[[], T]) -> T | None:
        """Run `work` on rank 0 only; a library error it raises is raised on every rank (none waits forever)."""
        result, error = None, None
        if self.is_main:
            try:
                result = work()
            except ArchLatentError as err:
                error = str(err)
        if self.world > 1:
            box = [error]
            torch_dist.broadcast_object_list(box, src=0, device=self.device)
            error = box[0]
        if error is not None:
            raise ArchLatentError(error)
        return result


#: The single-process case: every method is a no-op.
SINGLE = Distributed()


class Shard:
    """Rank `rank`'s part (``tensor_split``) of each batch of `loader`; training batches split evenly.

    Every rank draws the same global batch (same generator), so the ranks together see what one
    process sees; the generator is the loader's, so a checkpoint of it resumes any world size.
    """

    def __init__(self, loader: TensorLoader, rank: int, world: int) -> None:
        if loader.drop_last and loader.batch_size % world:
            raise ArchLatentError(f"batch size {loader.batch_size} does not split evenly over {world} processes; "
                                  f"use a multiple of {world}")
        self.loader, self.rank, self.world = loader, rank, world
        self.generator = loader.generator

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            yield x.tensor_split(self.world)[self.rank], y.tensor_split(self.world)[self.rank]


@contextlib.contextmanager
def session(
    device: torch.device | str | None = None,
    *,
    rank: int | None = None,
    world: int | None = None,
    init_method: str = "env://",
) -> Iterator[tuple[Distributed, torch.device]]:
    """The process group for the duration, and this rank's device; a single process outside torchrun.

    `rank` and `world` default to torchrun's ``RANK`` and ``WORLD_SIZE`` (tests pass them with a
    ``file://`` `init_method`). On CUDA each rank takes GPU ``LOCAL_RANK`` whatever index `device`
    names; the backend is NCCL there and gloo on the CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1")) if world is None else world
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank
    chosen = pick_device(device)
    if world == 1:
        yield SINGLE, chosen
        return
    if chosen.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
        chosen = pick_device(f"cuda:{local}")
        torch.cuda.set_device(chosen)
    elif chosen.type != "cpu":
        raise ArchLatentError(f"distributed training runs on the CPU (gloo) or CUDA (NCCL), not on {chosen}")
    backend = "nccl" if chosen.type == "cuda" else "gloo"
    torch_dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world)
    try:
        yield Distributed(rank, world, chosen if backend == "nccl" else torch.device("cpu")), chosen
    finally:
        torch_dist.destroy_process_group()
