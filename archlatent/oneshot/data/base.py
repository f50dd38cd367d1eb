"""Image data for one-shot training: `ImageData`, the `DATASETS` registry and `DataSpec`.

Every dataset becomes uint8 images ``[N, 3, H, W]`` with int64 labels, whatever its files hold, so
every network takes every dataset unchanged. Nothing is downloaded unless a caller passes
``download=True``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from archlatent.errors import DataError
from archlatent.registry import Registry


@dataclass(frozen=True, eq=False)
class ImageData:
    """Train and test (or held-out validation) images as uint8 ``[N, 3, H, W]``, labels int64 ``[N]``."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    @cached_property
    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training images, in [0, 1] units."""
        x = self.train_x.numpy()
        mean = tuple(float(np.mean(x[:, c], dtype=np.float64)) / 255 for c in range(x.shape[1]))
        std = tuple(float(np.std(x[:, c], dtype=np.float64)) / 255 for c in range(x.shape[1]))
        return mean, tuple(max(s, 1e-3) for s in std)

    def holdout(self, fraction: float, seed: int = 0) -> ImageData:
        """Training images split in two: the rest to train on, `fraction` of them as the test split.

        This is the search-time split (DARTS and NAS-Bench-201's ``cifar10-valid`` hold out half);
        the official test images are left out entirely.
        """
        if not 0.0 < fraction < 1.0:
            raise DataError(f"validation fraction must be in (0, 1), got {fraction}")
        n = len(self.train_y)
        n_valid = max(1, min(n - 1, round(n * fraction)))
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        valid, train = perm[:n_valid], perm[n_valid:]
        return ImageData(
            f"{self.name}-valid",
            self.train_x[train],
            self.train_y[train],
            self.train_x[valid],
            self.train_y[valid],
            self.num_classes,
        )


class ImageDataset(ABC):
    """A source of `ImageData`, registered in `DATASETS` under its name."""

    name: str = ""

    @classmethod
    @abstractmethod
    def load(
        cls, root: str | Path | None = None, *, download: bool = False, n: int = 2000, seed: int = 0
    ) -> ImageData:
        """The dataset from folder `root` (DataError when missing or corrupt); `n` and `seed` shape
        generated datasets (their size and draw) and are ignored by datasets read from files."""


#: Image datasets by name.
DATASETS: Registry[ImageDataset] = Registry("dataset")


def load_dataset(
    name: str, root: str | Path | None = None, download: bool = False, *, n: int = 2000, seed: int = 0
) -> ImageData:
    """Dataset `name` (one of ``DATASETS.names()``) from folder `root`; see `ImageDataset.load`."""
    return DATASETS.get(name).load(root, download=download, n=n, seed=seed)


@dataclass(frozen=True)
class DataSpec:
    """How to rebuild the exact data a supernet was trained on (saved in its checkpoint)."""

    dataset: str
    root: str | None = None
    valid_fraction: float = 0.5
    seed: int = 0
    #: Size of the synthetic training set (its test set is a fifth of it); ignored by real datasets.
    synthetic_n: int = 2000

    def load(self, download: bool = False) -> ImageData:
        """The held-out search split of the dataset."""
        data = load_dataset(self.dataset, self.root, download, n=self.synthetic_n, seed=self.seed)
        return data.holdout(self.valid_fraction, self.seed)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
