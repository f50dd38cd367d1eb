"""`ZeroCostEvaluator`: zero-cost proxy scores of untrained networks (synflow, snip, grad_norm, jacov,
nwot) and their sizes (params, flops), in seconds per architecture instead of hours of training."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archlatent.constraints import is_cost
from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import EVALUATORS, Evaluator
from archlatent.genotype import Genotype
from archlatent.oneshot.data import ImageData, load_dataset
from archlatent.oneshot.nets import NETWORKS, Network, standalone_network
from archlatent.oneshot.proxies import PROXIES, Batch
from archlatent.oneshot.runtime import check_positive, pick_device
from archlatent.spaces.base import SearchSpace

#: Image size and classes of the networks when no image data is loaded (the CIFAR-10 configuration).
DATA_FREE_SHAPE = (3, 32, 32)
DATA_FREE_CLASSES = 10


def proxy_names(proxies: str | Sequence[str] | None) -> tuple[str, ...]:
    """`proxies` (a list or a comma list; None: all) checked against `PROXIES`, one error naming the unknown."""
    names = tuple(PROXIES) if proxies is None else tuple(
        p.strip() for p in (proxies.split(",") if isinstance(proxies, str) else proxies))
    unknown = [n for n in names if n not in PROXIES]
    if unknown or not names or len(set(names)) != len(names):
        what = f"unknown proxy {unknown[0]!r}" if unknown else f"proxies must name each proxy once, got {list(names)}"
        raise ArchLatentError(f"zerocost: {what}; known: {', '.join(PROXIES)}")
    return names


@EVALUATORS.register("zerocost")
class ZeroCostEvaluator(Evaluator):
    """Scores each genotype's standalone network (`archlatent.oneshot.nets`) at initialization.

    Metrics: ``zc_<proxy>`` for the scores (maximized) and ``params_mb`` / ``flops_m`` for the sizes,
    as `archlatent.oneshot.proxies` defines them. Every network is initialized from `seed` (the same
    weights for a genotype whatever the order or process), and the data-dependent proxies share one
    batch of `batch_size` training images of the registered image dataset `images` (default
    ``synthetic``: no files), drawn with `seed`; which dataset is in `provenance`. Networks have the
    published sizes unless `network` overrides them (e.g. ``{"C": 8, "layers": 5}``); they run on
    `device` (None: CUDA when available). Each answer is charged its wall-clock seconds.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        proxies: str | Sequence[str] | None = None,
        images: str = "synthetic",
        data: str | Path | None = None,
        batch_size: int = 64,
        seed: int = 0,
        network: dict[str, Any] | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__()
        if space.name not in NETWORKS.names():
            raise ArchLatentError(f"zerocost needs a standalone network of space {space.name!r}; "
                                  f"networks exist for {', '.join(NETWORKS.names())}")
        check_positive(batch_size=batch_size)
        self.space, self.space_name = space, space.name
        self.proxies = proxy_names(proxies)
        self.seed, self.network = int(seed), dict(network or {})
        self._asked_device = device
        self.device = pick_device(device)
        self._provenance: dict[str, Any] = {"proxies": list(self.proxies), "seed": self.seed, "network": self.network}
        self.batch: Batch | None = None
        shape, classes = DATA_FREE_SHAPE, DATA_FREE_CLASSES
        if any(PROXIES[p].needs_data for p in self.proxies):
            loaded = load_dataset(images, data, n=max(batch_size, 10), seed=self.seed)
            self.batch = image_batch(loaded, batch_size, self.seed, self.device)
            shape, classes = tuple(loaded.train_x.shape[1:]), loaded.num_classes
            self._provenance.update(images=loaded.name, data=None if data is None else str(data),
                                    batch_size=len(self.batch[0]))
        self.image_shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.num_classes = classes
        self.build(space.sample(np.random.default_rng(0)))  # network sizes it does not take are refused here

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its batch on the CPU: a copy unpickled in a worker picks that worker's device."""
        state = dict(self.__dict__)
        state["batch"] = None if self.batch is None else tuple(t.cpu() for t in self.batch)
        state["device"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.device = pick_device(self._asked_device)
        if self.batch is not None:
            self.batch = (self.batch[0].to(self.device), self.batch[1].to(self.device))

    @classmethod
    def from_config(
        cls,
        space: SearchSpace,
        *,
        dataset: str,
        seed: int = 0,
        proxies: str | Sequence[str] | None = None,
        images: str = "synthetic",
        data: str | Path | None = None,
        batch_size: int = 64,
        network: dict[str, Any] | None = None,
        device: str | None = None,
    ) -> ZeroCostEvaluator:
        """Proxies of `space`'s networks; `dataset` names the benchmark column a search reports and is
        not used (the images come from `images`, read from folder `data` where it needs files)."""
        return cls(space, proxies=proxies, images=images, data=data, batch_size=batch_size, seed=seed,
                   network=network, device=device)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(PROXIES[p].metric for p in self.proxies)

    @property
    def free_metrics(self) -> tuple[str, ...]:
        """The network's sizes (``params_mb``, ``flops_m``) among the chosen proxies: no data, no training."""
        return tuple(m for m in self.metrics if is_cost(m))

    def costs(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        """The sizes of each genotype's network (built, not trained): neither counted nor charged."""
        self.check(genotypes)
        sizes = [p for p in self.proxies if is_cost(PROXIES[p].metric)]
        return [{PROXIES[p].metric: PROXIES[p].compute(self.build(g), self.batch, self.image_shape, "cpu") for p in sizes}
                for g in genotypes]

    def build(self, genotype: Genotype) -> Network:
        """The standalone network of `genotype`, initialized from the seed, on the CPU."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            try:
                return standalone_network(genotype, self.num_classes, **self.network)
            except TypeError as err:
                raise ArchLatentError(f"zerocost: network sizes {self.network} do not fit the {self.space_name} "
                                  f"network ({err})") from None

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        self.check(genotypes)  # refuse the whole batch before any work
        out = []
        for genotype in genotypes:
            start = time.perf_counter()
            out.append(self.scores(genotype))
            self.cost.charge(time.perf_counter() - start)
        return out

    def scores(self, genotype: Genotype) -> dict[str, float]:
        """Every chosen proxy of `genotype`'s network, each on a network of its own, initialized alike
        (building one again is faster than copying it)."""
        return {PROXIES[p].metric: PROXIES[p].compute(self.build(genotype).to(self.device), self.batch,
                                                      self.image_shape, self.device) for p in self.proxies}

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self._provenance)


def image_batch(data: ImageData, size: int, seed: int, device: torch.device) -> Batch:
    """`size` training images of `data` drawn with `seed`, normalized by its channel statistics, on `device`."""
    n = len(data.train_y)
    if n < 2:
        raise ArchLatentError(f"zerocost: dataset {data.name!r} has {n} training image(s); the proxies need 2 or more")
    pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size]
    mean, std = (torch.tensor(s, dtype=torch.float32).view(1, -1, 1, 1) for s in data.stats)
    x = (data.train_x[pick].float() / 255 - mean) / std
    return x.to(device), data.train_y[pick].to(device)
