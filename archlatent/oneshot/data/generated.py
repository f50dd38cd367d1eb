"""`synthetic`: a small learnable image set made here, for tests and CPU-scale experiments."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from archlatent.errors import DataError
from archlatent.oneshot.data.base import DATASETS, ImageData, ImageDataset


def synthetic(n: int = 2000, classes: int = 10, size: int = 32, seed: int = 0) -> ImageData:
    """A learnable toy set: each class is a noisy plaid of its own angle, stripe frequency and tint.

    A plaid overlays gratings at +angle and -angle, so a horizontal flip (the standard augmentation)
    keeps its class. Classes pair up on angle and differ in frequency (2 or 2.5 cycles per image);
    tints come from a palette of three, so colour alone does not separate them. Every image has a
    random phase per grating, random contrast and Gaussian pixel noise. ``n`` balanced training
    images and ``max(n // 5, classes)`` test images, identical for equal arguments.
    """
    if n < classes or classes < 2 or size < 8:
        raise DataError(
            f"synthetic data needs n >= classes >= 2 and size >= 8, got n={n}, classes={classes}, size={size}"
        )
    gen = torch.Generator().manual_seed(seed)
    c = torch.arange(classes)
    angles = (math.pi / 2) * (c // 2 + 1) / math.ceil(classes / 2)
    freqs = 2 * math.pi * (2 + 0.5 * (c % 2)) / size
    palette = torch.tensor([[1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]])
    tints = palette[c % 3]
    grid = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")

    def draw(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = (torch.arange(count) % classes)[torch.randperm(count, generator=gen)]
        pattern = torch.zeros(count, size, size)
        for sign in (1.0, -1.0):
            angle = sign * angles[y][:, None, None]
            phase = torch.rand(count, 1, 1, generator=gen) * 2 * math.pi
            pattern += torch.sin(freqs[y][:, None, None] * (torch.cos(angle) * xx + torch.sin(angle) * yy) + phase)
        contrast = 0.3 + 0.6 * torch.rand(count, 1, 1, 1, generator=gen)
        img = 128 + 40 * contrast * tints[y][:, :, None, None] * pattern[:, None]
        img = img + 90 * torch.randn(count, 3, size, size, generator=gen)
        return img.round().clamp(0, 255).to(torch.uint8), y

    train_x, train_y = draw(n)
    test_x, test_y = draw(max(n // 5, classes))
    return ImageData("synthetic", train_x, train_y, test_x, test_y, classes)


@DATASETS.register("synthetic")
class Synthetic(ImageDataset):
    """Synthetic plaids (this library's own toy set, see `synthetic`): 10 classes, 32x32, no files."""

    @classmethod
    def load(
        cls, root: str | Path | None = None, *, download: bool = False, n: int = 2000, seed: int = 0
    ) -> ImageData:
        return synthetic(n, seed=seed)
