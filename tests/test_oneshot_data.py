"""Conformance suite over `DATASETS`: each dataset read from tiny files in its real on-disk format.

The files are written here, byte for byte as the official distributions lay them out (CIFAR's
Python-2 pickles, Fashion-MNIST's IDX files); a new dataset must add its writer to `WRITERS`.
"""

from __future__ import annotations

import gzip
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from archlatent.errors import DataError
from archlatent.oneshot.data import DATASETS, DataSpec, fashion_mnist, load_dataset
from archlatent.safe_pickle import read_pickle


def _write_cifar(folder: Path, files: dict[str, int], label_key: bytes, rng: np.random.Generator, classes: int = 10):
    """Official-format CIFAR batches: pickled dicts of bytes keys, ``data`` rows of 3072 uint8 (RGB planes)."""
    folder.mkdir(parents=True)
    written = {}
    for name, n in files.items():
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), label_key: rng.integers(0, classes, n).tolist()}
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)
        written[name] = batch
    return written


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """An unsigned-byte IDX file: magic (0, 0, 8, ndim), big-endian int32 sizes, then the bytes."""
    raw = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes() + array.tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def _write_fashion(root: Path, rng: np.random.Generator, sizes: tuple[int, int] = (5, 3)) -> dict[str, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for stem, n in zip(("train", "t10k"), sizes):
        written[f"{stem}_x"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        written[f"{stem}_y"] = np.arange(n, dtype=np.uint8) % 10
        _write_idx(root / f"{stem}-images-idx3-ubyte", written[f"{stem}_x"], compress=True)
        _write_idx(root / f"{stem}-labels-idx1-ubyte", written[f"{stem}_y"], compress=False)  # plain files work too
    return written


def _cifar_case(name: str, folder: str, train: tuple[str, ...], test: str, key: bytes, classes: int):
    def write(root: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        files = {f: 3 for f in train} | {test: 2}
        batches = _write_cifar(root / folder, files, key, rng, classes)
        first = batches[train[0]]
        return first[b"data"][0].reshape(3, 32, 32), np.asarray(first[key][:3]), 3 * len(train)

    return write


def _fashion_case(root: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    written = _write_fashion(root, rng)
    first = np.pad(written["train_x"][0], 2)
    return np.stack([first] * 3), written["train_y"][:3].astype(np.int64), 5


#: name -> writer(root, rng) of tiny files, returning (first training image [3, 32, 32] as the loader
#: must give it, the first three training labels, the number of training images).
WRITERS: dict[str, Callable[[Path, np.random.Generator], tuple[np.ndarray, np.ndarray, int]] | None] = {
    "cifar10": _cifar_case("cifar10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)),
                           "test_batch", b"labels", 10),
    "cifar100": _cifar_case("cifar100", "cifar-100-python", ("train",), "test", b"fine_labels", 100),
    "fashion-mnist": _fashion_case,
    "synthetic": None,  # generated, no files
}  # fmt: skip


@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_loads_through_the_registry(name, tmp_path):
    assert name in WRITERS, f"add a writer of tiny {name} files to WRITERS"
    writer = WRITERS[name]
    if writer is None:
        data = load_dataset(name, n=40, seed=3)
        first, labels, n_train = None, None, 40
    else:
        first, labels, n_train = writer(tmp_path / "data", np.random.default_rng(0))
        data = load_dataset(name, tmp_path / "data")
    assert data.name == name and len(data.train_y) == n_train and len(data.test_y) > 0
    for x, y in ((data.train_x, data.train_y), (data.test_x, data.test_y)):
        assert x.dtype == torch.uint8 and x.shape[1:] == (3, 32, 32) and len(x) == len(y)
        assert y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) < data.num_classes
    assert int(data.train_x.max()) > int(data.train_x.min())  # real pixel values, not a constant fill
    if first is not None:
        assert torch.equal(data.train_x[0], torch.from_numpy(first))
        assert data.train_y[:3].tolist() == labels.tolist()
    root = None if writer is None else str(tmp_path / "data")
    held = DataSpec(name, root, valid_fraction=0.4, seed=1, synthetic_n=40).load()
    assert len(held.train_y) + len(held.test_y) == n_train and held.num_classes == data.num_classes


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if WRITERS.get(n) is not None])
def test_dataset_missing_files_are_one_data_error(name, tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(name, tmp_path / "nowhere")


def test_cifar_pickle_reader_on_fake_batches(tmp_path):
    rng = np.random.default_rng(0)
    files = {f"data_batch_{i}": 3 for i in range(1, 6)} | {"test_batch": 2}
    _write_cifar(tmp_path / "cifar-10-batches-py", files, b"labels", rng)
    data = load_dataset("cifar10", tmp_path)
    assert data.train_x.shape == (15, 3, 32, 32) and data.test_x.shape == (2, 3, 32, 32)
    assert data.num_classes == 10 and data.train_y.dtype == torch.int64
    first = read_pickle(tmp_path / "cifar-10-batches-py" / "data_batch_1", numpy=True, encoding="bytes")
    assert torch.equal(data.train_x[0].flatten(), torch.from_numpy(first[b"data"][0]))
    _write_cifar(tmp_path / "c100" / "cifar-100-python", {"train": 4, "test": 2}, b"fine_labels", rng)
    assert load_dataset("cifar100", tmp_path / "c100").num_classes == 100
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError, match="test_batch is corrupt"):
        load_dataset("cifar10", tmp_path)


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2's ``str`` opcodes (BINSTRING) and numpy under its 1.x module names, as the
    official CIFAR batches were written (cPickle, protocol 2, numpy.core.multiarray._reconstruct)."""

    def save_bytes(self, obj: bytes) -> None:
        self.write(pickle.BINSTRING + len(obj).to_bytes(4, "little") + obj)
        self.memoize(obj)

    def save_global(self, obj, name=None) -> None:
        module = pickle.whichmodule(obj, name or obj.__qualname__).replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)

    dispatch: ClassVar = {**pickle._Pickler.dispatch, bytes: save_bytes}


def test_cifar_batches_in_the_official_python2_format_load_through_the_restricted_reader(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    written = {}
    for name, n in (("train", 4), ("test", 2)):
        written[name] = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"fine_labels": [3, 99, 0, 7][:n],
                         b"coarse_labels": [1] * n, b"batch_label": b"training batch 1 of 1"}
        out = io.BytesIO()
        _Python2Pickler(out, protocol=2).dump(written[name])
        assert b"_codecs" not in out.getvalue() and b"numpy.core.multiarray\n_reconstruct" in out.getvalue()
        (folder / name).write_bytes(out.getvalue())
    data = load_dataset("cifar100", tmp_path)
    assert torch.equal(data.train_x.flatten(1), torch.from_numpy(written["train"][b"data"]))
    assert data.train_y.tolist() == [3, 99, 0, 7] and data.test_y.tolist() == [3, 99]


def test_missing_data_folder_is_a_clear_data_error(tmp_path):
    with pytest.raises(DataError, match=r"data_batch_1 not found.*cifar-10-python\.tar\.gz"):
        load_dataset("cifar10", tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\[\.gz\] not found.*dataset-fashion-mnist"):
        fashion_mnist(tmp_path / "nowhere")
    with pytest.raises(DataError, match="needs a data folder"):
        load_dataset("cifar100")


def test_fashion_mnist_idx_reader(tmp_path):
    _write_fashion(tmp_path, np.random.default_rng(0))
    data = fashion_mnist(tmp_path)
    assert data.train_x.shape == (5, 3, 32, 32) and data.test_y.tolist() == [0, 1, 2]
    assert data.train_x[:, :, :2].sum() == 0 and torch.equal(data.train_x[:, 0], data.train_x[:, 2])


def test_labels_outside_the_classes_are_refused(tmp_path):
    _write_cifar(tmp_path / "cifar-100-python", {"train": 3, "test": 2}, b"fine_labels", np.random.default_rng(0))
    with (tmp_path / "cifar-100-python" / "test").open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [3, 100]}, f, protocol=2)
    with pytest.raises(DataError, match=r"labels outside 0\.\.99"):
        load_dataset("cifar100", tmp_path)
    _write_fashion(tmp_path / "fm", np.random.default_rng(0))
    _write_idx(tmp_path / "fm" / "t10k-labels-idx1-ubyte", np.array([0, 1, 12], np.uint8), compress=False)
    with pytest.raises(DataError, match="go up to 12"):
        load_dataset("fashion-mnist", tmp_path / "fm")
