"""`SupernetEvaluator`: inherited-weight accuracy from a trained one-shot supernet (SPOS, Guo et al., ECCV 2020)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archlatent.datasets import DataSpec, ImageData, TensorLoader, make_loader
from archlatent.errors import CheckpointError, InvalidArchitecture
from archlatent.evaluators.base import Evaluator
from archlatent.genotype import Genotype
from archlatent.nets import count_params_mb
from archlatent.nets.supernet import SUPERNETS, Supernet, build_supernet, count_flops_m, standalone_network
from archlatent.spaces.base import SearchSpace
from archlatent.training import evaluate_accuracy, load_checkpoint, load_weights, pick_device, save_atomic

SUPERNET_FORMAT = "archlatent-supernet-v1"


def save_supernet(path: str | Path, supernet: Supernet, spec: DataSpec, meta: dict[str, Any]) -> None:
    """Write `supernet` (weights, config), the `DataSpec` of its data and `meta` to `path`, atomically."""
    state = {
        "format": SUPERNET_FORMAT,
        "space": supernet.space_name,
        "config": supernet.config,
        "state_dict": {k: v.detach().cpu() for k, v in supernet.state_dict().items()},
        "data": spec.as_dict(),
        "meta": meta,
    }
    save_atomic(state, Path(path))


class SupernetEvaluator(Evaluator):
    """SPOS (Guo et al., ECCV 2020): validation accuracy of a path with the supernet's shared weights.

    Before each candidate is scored, every BatchNorm's running statistics are reset and re-estimated
    (cumulative average, ``momentum=None``) from the same first ``recal_batches`` un-augmented training
    batches, so a result depends only on the weights and the genotype and repeats exactly. Metrics:
    ``valid_acc`` (percent, on ``data``'s test split, the held-out images), and the standalone
    network's ``params_mb`` (`count_params_mb`) and ``flops_m`` (Conv2d + Linear multiply-adds for one
    image). Each distinct architecture is charged its wall-clock seconds once; repeats are cached.
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
        self._cache: dict[str, dict[str, float]] = {}
        self._provenance = provenance or {}

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, space: str | SearchSpace, device: torch.device | str | None = None, **kwargs: Any
    ) -> SupernetEvaluator:
        """The evaluator of a ``supernet train`` checkpoint; its data is rebuilt from the saved `DataSpec`.

        CheckpointError when the file is unreadable, not a supernet checkpoint, or for another space.
        """
        device = pick_device(device)
        name = space if isinstance(space, str) else space.name
        ckpt = load_checkpoint(path, SUPERNET_FORMAT, device)
        if ckpt.get("space") != name:
            raise CheckpointError(
                f"checkpoint {path} holds a {ckpt.get('space')!r} supernet, not one for space {name!r}"
            )
        if name not in SUPERNETS or not isinstance(ckpt.get("config"), dict) or not isinstance(ckpt.get("data"), dict):
            raise CheckpointError(f"checkpoint {path} lacks a supernet config or data spec")
        try:
            supernet = build_supernet(name, **ckpt["config"])
            spec = DataSpec(**ckpt["data"])
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} has a bad supernet config or data spec: {err}") from None
        load_weights(supernet, ckpt["state_dict"], path)
        provenance = {"checkpoint": str(path), "space": name, "dataset": spec.dataset}
        return cls(supernet, spec.load(), device=device, provenance=provenance, **kwargs)

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        for genotype in genotypes:  # refuse the whole batch before any work
            if not isinstance(genotype, Genotype) or genotype.space != self.space_name:
                other = genotype.space if isinstance(genotype, Genotype) else type(genotype).__name__
                raise InvalidArchitecture(
                    f"SupernetEvaluator for space {self.space_name!r} cannot evaluate a genotype of space {other!r}"
                )
        out = []
        for genotype in genotypes:
            key = genotype.key()
            start = time.perf_counter()
            if key not in self._cache:
                self._cache[key] = {"valid_acc": self.accuracy(genotype), **self.standalone_cost(genotype)}
            self.cost.charge(key, time.perf_counter() - start)
            out.append(dict(self._cache[key]))
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
