"""Image datasets without torchvision (registered in `DATASETS`) and a loader that works on the device."""

from archlatent.oneshot.data import (
    cifar,  # noqa: F401  (registers)
    fashion,  # noqa: F401  (registers)
    generated,  # noqa: F401  (registers)
)
from archlatent.oneshot.data.base import DATASETS, DataSpec, ImageData, ImageDataset, load_dataset
from archlatent.oneshot.data.fashion import DEBIAN_FASHION_MNIST, fashion_mnist
from archlatent.oneshot.data.generated import synthetic
from archlatent.oneshot.data.loader import TensorLoader, make_loader

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "DataSpec",
    "ImageData",
    "ImageDataset",
    "TensorLoader",
    "fashion_mnist",
    "load_dataset",
    "make_loader",
    "synthetic",
]
