"""Fashion-MNIST (Xiao, Rasul & Vollgraf, "Fashion-MNIST", arXiv:1708.07747, 2017) from its IDX files.

Images are 28x28 grey, zero-padded to 32x32 and repeated to 3 channels so the CIFAR networks take
them unchanged.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from archlatent.errors import DataError
from archlatent.oneshot.data.base import DATASETS, ImageData, ImageDataset

#: Where Debian's ``dataset-fashion-mnist`` package installs the four gzipped IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def fashion_mnist(root: str | Path = DEBIAN_FASHION_MNIST) -> ImageData:
    """Fashion-MNIST from its four IDX files (gzipped or not) in `root`.

    Debian's ``dataset-fashion-mnist`` package installs them in ``/usr/share/datasets/fashion-mnist``
    (the default). Images are zero-padded from 28x28 to 32x32 and repeated to 3 channels.
    """
    root = Path(root)
    splits = []
    for split, (images, labels) in _FILES.items():
        x = _read_idx(root, images, ndim=3)
        y = _read_idx(root, labels, ndim=1)
        if len(x) != len(y):
            raise DataError(f"Fashion-MNIST {split} files in {root} disagree: {len(x)} images, {len(y)} labels")
        if y.size and y.max() > 9:
            raise DataError(f"Fashion-MNIST {split} labels in {root} go up to {y.max()}; there are 10 classes")
        x = F.pad(torch.from_numpy(x.copy()), (2, 2, 2, 2))[:, None].expand(-1, 3, -1, -1).contiguous()
        splits += [x, torch.from_numpy(y.astype(np.int64))]
    return ImageData("fashion-mnist", *splits, num_classes=10)


def _read_idx(root: Path, stem: str, ndim: int) -> np.ndarray:
    """One unsigned-byte IDX array: magic (0, 0, 0x08, ndim), ndim big-endian int32 sizes, then the data."""
    path = next((p for p in (root / stem, root / f"{stem}.gz") if p.is_file()), None)
    if path is None:
        raise DataError(
            f"Fashion-MNIST file {stem}[.gz] not found in {root}: install Debian's dataset-fashion-mnist "
            f"(files in {DEBIAN_FASHION_MNIST}) or download the IDX files from github.com/zalandoresearch/fashion-mnist"
        )
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"Fashion-MNIST file {path} is corrupt ({err})") from None
    if len(raw) < 4 + 4 * ndim or raw[:4] != bytes([0, 0, 0x08, ndim]):
        raise DataError(f"Fashion-MNIST file {path} is not an unsigned-byte IDX file with {ndim} dimension(s)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(shape):
        raise DataError(f"Fashion-MNIST file {path} is truncated: header says {shape}, found {data.size} bytes")
    return data.reshape(shape)


@DATASETS.register("fashion-mnist")
class FashionMNIST(ImageDataset):
    """Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test images of 10 kinds of clothing.

    `root` defaults to Debian's install folder; nothing is downloaded (``download`` is ignored).
    """

    @classmethod
    def load(
        cls, root: str | Path | None = None, *, download: bool = False, n: int = 2000, seed: int = 0
    ) -> ImageData:
        return fashion_mnist(root if root is not None else DEBIAN_FASHION_MNIST)
