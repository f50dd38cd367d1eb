"""A loader that batches, normalizes and augments image tensors on the target device (no workers)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from archlatent.errors import DataError
from archlatent.oneshot.data.base import ImageData


class TensorLoader:
    """Batches of normalized float images from uint8 tensors kept on `device`, augmented there.

    Augmentation (``augment``): random crop with 4-pixel zero padding and horizontal flip, both drawn
    per image; ``cutout`` > 0 then zeroes one square of that side per image (after normalization, as
    DARTS does). All randomness comes from `generator` (a CPU ``torch.Generator``; small index tensors
    move to the device), so a run is reproducible and resumable from ``generator.get_state()``.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        device: torch.device | str = "cpu",
        augment: bool = False,
        cutout: int = 0,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = y.to(self.device)
        self.batch_size = batch_size
        self.mean = torch.tensor(mean, device=self.device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=self.device).view(1, -1, 1, 1) * 255
        self.augment, self.cutout, self.shuffle, self.drop_last = augment, cutout, shuffle, drop_last
        self.generator = generator if generator is not None else torch.Generator()

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size].to(self.device)
            x = self.x[idx].float()
            if self.augment:
                x = self._crop_flip(x)
            x = (x - self.mean) / self.std
            if self.cutout > 0:
                x = self._cutout(x)
            yield x, self.y[idx]

    def _draw(self, high: int, count: int) -> torch.Tensor:
        return torch.randint(high, (count,), generator=self.generator).to(self.device)

    def _crop_flip(self, x: torch.Tensor, pad: int = 4) -> torch.Tensor:
        b, _, h, w = x.shape
        padded = F.pad(x, (pad, pad, pad, pad))
        rows = self._draw(2 * pad + 1, b)[:, None] + torch.arange(h, device=self.device)
        cols = self._draw(2 * pad + 1, b)[:, None] + torch.arange(w, device=self.device)
        batch = torch.arange(b, device=self.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        flip = self._draw(2, b).bool()[:, None, None, None]
        return torch.where(flip, x.flip(3), x)

    def _cutout(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        cy, cx = self._draw(h, b)[:, None], self._draw(w, b)[:, None]
        half = self.cutout // 2
        ys, xs = torch.arange(h, device=self.device), torch.arange(w, device=self.device)
        in_rows = (ys >= cy - half) & (ys < cy + half)
        in_cols = (xs >= cx - half) & (xs < cx + half)
        hole = in_rows[:, :, None] & in_cols[:, None, :]
        return x * (~hole)[:, None].to(x.dtype)


def make_loader(
    data: ImageData,
    split: str,
    batch_size: int,
    *,
    device: torch.device | str = "cpu",
    train: bool = False,
    cutout: int = 0,
    seed: int = 0,
) -> TensorLoader:
    """A loader over ``data``'s ``"train"`` or ``"test"`` split, normalized with the training statistics.

    ``train=True`` shuffles, augments (crop + flip, optional cutout) and drops the last partial batch.
    """
    mean, std = data.stats
    x, y = (data.train_x, data.train_y) if split == "train" else (data.test_x, data.test_y)
    return TensorLoader(
        x,
        y,
        min(batch_size, len(y)),
        mean=mean,
        std=std,
        device=device,
        augment=train,
        cutout=cutout if train else 0,
        shuffle=train,
        drop_last=train,
        generator=torch.Generator().manual_seed(seed),
    )
