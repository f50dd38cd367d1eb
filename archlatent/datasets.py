"""Image datasets without torchvision, and a loader that batches and augments on the target device.

Every dataset becomes uint8 images ``[N, 3, H, W]`` with int64 labels: CIFAR-10/100 from the official
python-pickle batches, Fashion-MNIST from its IDX files (28x28 grey, zero-padded to 32x32 and repeated
to 3 channels so the CIFAR networks take it unchanged), and `synthetic`, a small learnable set made
here for tests and CPU-scale experiments. Nothing is downloaded unless a caller passes ``download=True``.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import pickle
import shutil
import tarfile
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from archlatent.errors import DataError

log = logging.getLogger(__name__)

#: Where Debian's ``dataset-fashion-mnist`` package installs the four gzipped IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

#: name -> (tarball URL, md5, folder inside the tarball, training files, test files)
_CIFAR = {
    "cifar10": (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
    ),
    "cifar100": (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        ["train"],
        ["test"],
    ),
}
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DATASETS = ("synthetic", "cifar10", "cifar100", "fashion-mnist")


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
        return load_dataset(self.dataset, self.root, download, n=self.synthetic_n, seed=self.seed).holdout(
            self.valid_fraction, self.seed
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def load_dataset(
    name: str, root: str | Path | None = None, download: bool = False, *, n: int = 2000, seed: int = 0
) -> ImageData:
    """Dataset `name` (one of `DATASETS`) from folder `root`; `n` and `seed` only shape `synthetic`."""
    if name == "synthetic":
        return synthetic(n, seed=seed)
    if name == "fashion-mnist":
        return fashion_mnist(root or DEBIAN_FASHION_MNIST)
    if name in _CIFAR:
        if root is None:
            raise DataError(f"{name} needs a data folder (--data DIR); add --download to fetch it there")
        return cifar(name, root, download)
    raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


# -- synthetic ----------------------------------------------------------------------------------------
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


# -- CIFAR --------------------------------------------------------------------------------------------
def cifar(name: str, root: str | Path, download: bool = False) -> ImageData:
    """CIFAR-10 (``cifar10``) or CIFAR-100 (``cifar100``) from the official python batches under `root`.

    `root` is the folder holding ``cifar-10-batches-py`` / ``cifar-100-python`` (or that folder
    itself). With `download`, missing files are fetched from the official tarball (md5-checked).
    """
    url, md5, folder, train_files, test_files = _CIFAR[name]
    root = Path(root)
    base = root if root.name == folder else root / folder
    if download and not all((base / f).is_file() for f in train_files + test_files):
        _download_and_extract(url, md5, base.parent)
    label_key = b"labels" if name == "cifar10" else b"fine_labels"
    train_x, train_y = _read_cifar_files([base / f for f in train_files], label_key, url)
    test_x, test_y = _read_cifar_files([base / f for f in test_files], label_key, url)
    return ImageData(name, train_x, train_y, test_x, test_y, 10 if name == "cifar10" else 100)


def _read_cifar_files(paths: list[Path], label_key: bytes, url: str) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for path in paths:
        if not path.is_file():
            raise DataError(
                f"CIFAR file {path} not found: download {url} and extract it into {path.parent.parent} "
                "(or pass --download)"
            )
        try:
            with path.open("rb") as f:
                # The official batches are Python 2 pickles of a dict with bytes keys, hence encoding="bytes".
                batch = pickle.load(f, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(batch[label_key], dtype=np.int64)
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise DataError(
                f"CIFAR file {path} is corrupt ({type(err).__name__}: {err}); download {url} again"
            ) from None
        if len(labels) != len(data):
            raise DataError(f"CIFAR file {path} is corrupt: {len(data)} images but {len(labels)} labels")
        xs.append(torch.from_numpy(data.copy()))
        ys.append(torch.from_numpy(labels))
    return torch.cat(xs), torch.cat(ys)


def _download_and_extract(url: str, md5: str, into: Path) -> None:
    """Fetch `url` into `into`, check its md5, and unpack it there."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / url.rsplit("/", 1)[1]
    if not (archive.is_file() and _md5(archive) == md5):
        log.warning("downloading %s to %s", url, archive)
        partial = archive.with_suffix(archive.suffix + ".part")
        try:
            with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:
            raise DataError(f"could not download {url}: {err}") from None
        partial.replace(archive)
        if _md5(archive) != md5:
            raise DataError(f"{archive} has the wrong md5 (expected {md5}): delete it and download again")
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise DataError(f"{archive} holds an unsafe path {member.name!r}")
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- Fashion-MNIST --------------------------------------------------------------------------------------
def fashion_mnist(root: str | Path = DEBIAN_FASHION_MNIST) -> ImageData:
    """Fashion-MNIST from its four IDX files (gzipped or not) in `root`.

    Debian's ``dataset-fashion-mnist`` package installs them in ``/usr/share/datasets/fashion-mnist``
    (the default). Images are zero-padded from 28x28 to 32x32 and repeated to 3 channels.
    """
    root = Path(root)
    splits = []
    for split, (images, labels) in _FASHION_FILES.items():
        x = _read_idx(root, images, ndim=3)
        y = _read_idx(root, labels, ndim=1)
        if len(x) != len(y):
            raise DataError(f"Fashion-MNIST {split} files in {root} disagree: {len(x)} images, {len(y)} labels")
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


# -- loader -------------------------------------------------------------------------------------------
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
