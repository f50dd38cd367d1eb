"""`FinalEvaluator`: each candidate trained from scratch with a short recipe (standalone training, as in
the final phase of NAS-Bench-201, Dong & Yang, ICLR 2020), scored on held-out validation images."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import EVALUATORS, Evaluator
from archlatent.genotype import Genotype
from archlatent.oneshot.data import DataSpec, ImageData
from archlatent.oneshot.final import RECIPES, recipe, train_final
from archlatent.oneshot.nets import count_flops_m, count_params_mb, standalone_network
from archlatent.oneshot.runtime import pick_device
from archlatent.spaces.base import SearchSpace

METRICS = ("valid_acc", "params_mb", "flops_m", "train_time_s")


@EVALUATORS.register("train-final")
class FinalEvaluator(Evaluator):
    """Trains each candidate's standalone network from scratch (`train_final`) and reports its accuracy.

    Metrics: ``valid_acc`` (percent, after the last epoch, on `data`'s test split: the held-out part
    of the training images when built by `from_config`), ``params_mb`` and ``flops_m`` of the network
    that was trained, and ``train_time_s``, the real seconds training and scoring took, which is also
    what the answer is charged. Every candidate starts from the same `seed`, so an answer does not
    depend on the order or the process it is computed in. Picklable: it holds the loaded images and
    plain settings, so a Ray worker gets the data once; the device is picked where it trains (None:
    CUDA when that worker has one, else the CPU).
    """

    def __init__(
        self,
        space: SearchSpace,
        data: ImageData,
        *,
        seed: int = 0,
        device: str | None = None,
        amp: bool = True,
        provenance: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        if space.name not in RECIPES:
            raise ArchLatentError(f"train-final has no training recipe for space {space.name!r}; "
                                  f"it has recipes for {', '.join(RECIPES)}")
        if "network" in overrides:  # sizes given override the recipe's one by one
            overrides["network"] = {**RECIPES[space.name].network, **overrides["network"]}
        self.recipe = recipe(space.name, **overrides)  # refuses bad settings before any training
        if device is not None:
            pick_device(device)  # a device this torch cannot use is refused here, once
        self.space, self.space_name, self.data = space, space.name, data
        self.size(space.sample(np.random.default_rng(0)))  # network sizes it does not take are refused here
        self.seed, self.device, self.amp, self.overrides = seed, device, amp, overrides
        self._provenance = {"dataset": data.name, "recipe": f"{space.name} recipe with {overrides}", **(provenance or {})}

    @classmethod
    def from_config(
        cls,
        space: SearchSpace,
        *,
        dataset: str,
        seed: int = 0,
        data: str | Path | None = None,
        epochs: int = 5,
        batch_size: int | None = None,
        lr: float | None = None,
        network: dict[str, int] | None = None,
        valid_fraction: float = 0.5,
        synthetic_n: int = 2000,
        device: str | None = None,
        amp: bool = True,
    ) -> FinalEvaluator:
        """Train for `epochs` of the space's recipe on image dataset `dataset` (`DATASETS`: ``synthetic``,
        ``fashion-mnist``, ``cifar10``, ...) read from folder `data`.

        Candidates train on the training images less a `valid_fraction` held out (split by `seed`) and
        are scored on those. `batch_size`, `lr` and `network` (e.g. ``{"C": 8, "N": 1}``) override the
        recipe; the official test images are never touched.
        """
        overrides: dict[str, Any] = {"epochs": epochs}
        for name, value in (("batch_size", batch_size), ("lr", lr)):
            if value is not None:
                overrides[name] = value
        if network is not None:
            overrides["network"] = network
        spec = DataSpec(dataset, None if data is None else str(data), valid_fraction, seed, synthetic_n)
        return cls(space, spec.load(), seed=seed, device=device, amp=amp, provenance={"data": spec.as_dict()},
                   **overrides)

    @property
    def metrics(self) -> tuple[str, ...]:
        return METRICS

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        self.check(genotypes)  # refuse the whole batch before any work
        device = pick_device(self.device)
        out = []
        for genotype in genotypes:
            start = time.perf_counter()
            result = train_final(self.space, genotype, self.data, seed=self.seed, device=device, amp=self.amp,
                                 **self.overrides)
            seconds = time.perf_counter() - start
            self.cost.charge(seconds)
            out.append({"valid_acc": float(result["test_acc"]), **self.size(genotype), "train_time_s": seconds})
        return out

    def size(self, genotype: Genotype) -> dict[str, float]:
        """``params_mb`` and ``flops_m`` of the network the recipe trains for `genotype`."""
        with torch.random.fork_rng(devices=[]):
            net = standalone_network(genotype, self.data.num_classes, **self.recipe.network)
        return {"params_mb": count_params_mb(net), "flops_m": count_flops_m(net, image_size=self.data.image_size)}

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self._provenance)
