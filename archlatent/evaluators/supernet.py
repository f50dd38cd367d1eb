"""`SupernetEvaluator`: inherited-weight accuracy from a trained one-shot supernet (SPOS, Guo et al., ECCV 2020)."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archlatent.evaluators.base import EVALUATORS, Evaluator
from archlatent.genotype import Genotype
from archlatent.oneshot.checkpoints import load_supernet
from archlatent.oneshot.data import ImageData, TensorLoader, make_loader
from archlatent.oneshot.nets import Supernet, count_flops_m, count_params_mb, standalone_network
from archlatent.oneshot.runtime import check_positive, evaluate_accuracy, pick_device
from archlatent.spaces.base import SearchSpace

METRICS = ("valid_acc", "params_mb", "flops_m")


@EVALUATORS.register("supernet")
class SupernetEvaluator(Evaluator):
    """SPOS (Guo et al., ECCV 2020): validation accuracy of a path with the supernet's shared weights.

    Before each candidate is scored, every BatchNorm's running statistics are reset and re-estimated
    (cumulative average, ``momentum=None``) from the same first ``recal_batches`` un-augmented training
    batches, so a result depends only on the weights and the genotype and repeats exactly. Metrics:
    ``valid_acc`` (percent, on ``data``'s test split, the held-out images), and the standalone
    network's ``params_mb`` (`count_params_mb`) and ``flops_m`` (Conv2d + Linear multiply-adds for one
    image). Every answer is charged its wall-clock seconds; the search loop, not the evaluator,
    skips architectures it has already paid for. Picklable (plain tensors and modules, nothing
    open), so it can be shipped to worker processes; the data is loaded once, when it is built.
    """

    def __init__(
        self,
        supernet: Supernet,
        data: ImageData,
        *,
        device: torch.device | str | None = None,
        recal_batches: int = 8,
        batch_size: int = 256,
        amp: bool = True,
        provenance: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        check_positive(recal_batches=recal_batches, batch_size=batch_size)
        #: What was asked for (None: pick where it runs), kept so an unpickled copy picks its own device.
        self._asked = {"device": None if device is None else str(device), "recal_batches": recal_batches,
                       "batch_size": batch_size, "amp": amp}
        self.device = pick_device(device)
        self.supernet = supernet.to(self.device)
        self.space_name = supernet.space_name
        self.data = data
        self.amp = amp
        n = recal_batches * batch_size
        mean, std = data.stats
        recal = TensorLoader(data.train_x[:n], data.train_y[:n], batch_size, mean=mean, std=std, device=self.device)
        self._recal = [x for x, _ in recal]
        self._valid = make_loader(data, "test", batch_size, device=self.device)
        self._provenance = provenance or {}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as (weights on the CPU, data, settings): a copy unpickled in a worker picks that
        worker's device (its GPU when it has one) and rebuilds its loaders there."""
        net = copy.deepcopy(self.supernet).cpu()
        return (_rebuild, (type(self), net, self.data, self._asked, self._provenance, self.cost))

    @classmethod
    def from_config(
        cls,
        space: SearchSpace,
        *,
        dataset: str,
        seed: int = 0,
        checkpoint: str | Path,
        device: torch.device | str | None = None,
        recal_batches: int = 8,
        batch_size: int = 256,
        amp: bool = True,
    ) -> SupernetEvaluator:
        """The evaluator of the ``supernet train`` checkpoint `checkpoint` for `space`.

        The data is the checkpoint's own (rebuilt from its saved `DataSpec`), so `dataset` names the
        benchmark column a search reports and is not used here; `seed` is unused too (answers are
        deterministic). CheckpointError for an unreadable checkpoint or one of another space.
        """
        return cls.from_checkpoint(
            checkpoint, space, device=device, recal_batches=recal_batches, batch_size=batch_size, amp=amp
        )

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        space: str | SearchSpace | None = None,
        device: torch.device | str | None = None,
        **kwargs: Any,
    ) -> SupernetEvaluator:
        """The evaluator of a ``supernet train`` checkpoint; its data is rebuilt from the saved `DataSpec`.

        CheckpointError when the file is unreadable, not a supernet checkpoint, or for another space
        than `space` (None: whichever space the checkpoint holds).
        """
        name = space.name if isinstance(space, SearchSpace) else space
        supernet, spec = load_supernet(path, name)
        provenance = {"checkpoint": str(path), "space": supernet.space_name, "dataset": spec.dataset}
        return cls(supernet, spec.load(), device=device, provenance=provenance, **kwargs)

    @property
    def metrics(self) -> tuple[str, ...]:
        return METRICS

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        self.check(genotypes)  # refuse the whole batch before any work
        out = []
        for genotype in genotypes:
            start = time.perf_counter()
            metrics = {"valid_acc": self.accuracy(genotype), **self.standalone_cost(genotype)}
            self.cost.charge(time.perf_counter() - start)
            out.append(metrics)
        return out

    def accuracy(self, genotype: Genotype) -> float:
        """Validation accuracy (percent) of `genotype`'s path after BatchNorm recalibration."""
        self.supernet.check(genotype)
        self._recalibrate(genotype)
        return evaluate_accuracy(
            self.supernet, self._valid, self.device, self.amp, lambda x: self.supernet(x, genotype)
        )

    def _recalibrate(self, genotype: Genotype) -> None:
        norms = [m for m in self.supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average over the recalibration batches
        self.supernet.train()
        try:
            with torch.no_grad():
                for x in self._recal:
                    self.supernet(x, genotype)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            self.supernet.eval()

    def standalone_cost(self, genotype: Genotype) -> dict[str, float]:
        """``params_mb`` and ``flops_m`` of the network `genotype` stands for (published sizes)."""
        with torch.random.fork_rng(devices=[]):
            net = standalone_network(genotype, self.data.num_classes)
        return {"params_mb": count_params_mb(net), "flops_m": count_flops_m(net, image_size=self.data.image_size)}

    @property
    def provenance(self) -> dict[str, str]:
        return dict(self._provenance)


def _rebuild(cls: type, net: Supernet, data: ImageData, asked: dict[str, Any], provenance: dict[str, str], cost: Any) -> Any:
    """Inverse of `SupernetEvaluator.__reduce__`."""
    evaluator = cls(net, data, provenance=provenance, **asked)
    evaluator.cost = cost
    return evaluator
