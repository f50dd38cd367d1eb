"""CIFAR-10 and CIFAR-100 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009).

Read from the official python-pickle batches, without torchvision, through the restricted unpickler
(`archlatent.safe_pickle`: plain containers and numpy arrays, nothing that runs code), since a
``--data`` folder may come from anyone; fetched from the official tarball (md5-checked) only when a
caller passes ``download=True``.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import urllib.request
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from archlatent.errors import DataError
from archlatent.files import file_digest
from archlatent.oneshot.data.base import DATASETS, ImageData, ImageDataset
from archlatent.safe_pickle import read_pickle

log = logging.getLogger(__name__)


class _Cifar(ImageDataset):
    """A CIFAR dataset: where its tarball lives, what it unpacks to, and how labels are keyed."""

    url: ClassVar[str]
    md5: ClassVar[str]
    folder: ClassVar[str]
    train_files: ClassVar[tuple[str, ...]]
    test_files: ClassVar[tuple[str, ...]]
    label_key: ClassVar[bytes]
    num_classes: ClassVar[int]

    @classmethod
    def load(
        cls, root: str | Path | None = None, *, download: bool = False, n: int = 2000, seed: int = 0
    ) -> ImageData:
        """The official batches under `root`: the folder holding ``cifar-10-batches-py`` /
        ``cifar-100-python``, or that folder itself. With `download`, missing files are fetched."""
        if root is None:
            raise DataError(f"{cls.name} needs a data folder (--data DIR); add --download to fetch it there")
        root = Path(root)
        base = root if root.name == cls.folder else root / cls.folder
        if download and not all((base / f).is_file() for f in cls.train_files + cls.test_files):
            _download_and_extract(cls.url, cls.md5, base.parent)
        train_x, train_y = cls._read([base / f for f in cls.train_files])
        test_x, test_y = cls._read([base / f for f in cls.test_files])
        return ImageData(cls.name, train_x, train_y, test_x, test_y, cls.num_classes)

    @classmethod
    def _read(cls, paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for path in paths:
            if not path.is_file():
                raise DataError(
                    f"CIFAR file {path} not found: download {cls.url} and extract it into {path.parent.parent} "
                    "(or pass --download)"
                )
            # The official batches are Python 2 pickles of a dict with bytes keys, hence encoding="bytes".
            batch = read_pickle(path, numpy=True, encoding="bytes", what="CIFAR file")
            try:
                data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                labels = np.asarray(batch[cls.label_key], dtype=np.int64)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as err:
                raise DataError(
                    f"CIFAR file {path} is corrupt ({type(err).__name__}: {str(err)[:200]}); download {cls.url} again"
                ) from None
            if labels.ndim != 1 or len(labels) != len(data):
                raise DataError(f"CIFAR file {path} is corrupt: {len(data)} images but {labels.size} labels")
            if labels.size and not (0 <= labels.min() and labels.max() < cls.num_classes):
                raise DataError(f"CIFAR file {path} is corrupt: labels outside 0..{cls.num_classes - 1}")
            xs.append(torch.from_numpy(data.copy()))
            ys.append(torch.from_numpy(labels))
        return torch.cat(xs), torch.cat(ys)


@DATASETS.register("cifar10")
class Cifar10(_Cifar):
    """CIFAR-10 (Krizhevsky 2009): 50,000 training and 10,000 test images, 32x32, 10 classes."""

    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    md5 = "c58f30108f718f92721af3b95e74349a"
    folder = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    label_key = b"labels"
    num_classes = 10


@DATASETS.register("cifar100")
class Cifar100(_Cifar):
    """CIFAR-100 (Krizhevsky 2009): 50,000 training and 10,000 test images, 32x32, 100 fine classes."""

    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    folder = "cifar-100-python"
    train_files = ("train",)
    test_files = ("test",)
    label_key = b"fine_labels"
    num_classes = 100


def _download_and_extract(url: str, md5: str, into: Path) -> None:
    """Fetch `url` into `into`, check its md5, and unpack it there."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / url.rsplit("/", 1)[1]
    if not (archive.is_file() and file_digest(archive, "md5") == md5):
        log.warning("downloading %s to %s", url, archive)
        partial = archive.with_suffix(archive.suffix + ".part")
        try:
            with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:
            raise DataError(f"could not download {url}: {err}") from None
        partial.replace(archive)
        if file_digest(archive, "md5") != md5:
            raise DataError(f"{archive} has the wrong md5 (expected {md5}): delete it and download again")
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise DataError(f"{archive} holds an unsafe path {member.name[:200]!r}")
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
