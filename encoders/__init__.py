"""Latent autoencoders, one file each, registered by name in `ENCODERS`.

Front doors: `pretrain(space, encoder_name, ...) -> (model, metrics, curves)`, `save` / `load`,
on a model, `embed(genotypes) -> z`, `reconstruct(z) -> genotypes`, `predict(...)`.
"""

from archlatent.encoders import gin, transformer  # noqa: F401  (register)
from archlatent.encoders.base import ENCODERS, LatentAutoencoder, build_encoder
from archlatent.encoders.checkpoint import load, read_metadata, save
from archlatent.encoders.presets import PRESETS, preset
from archlatent.encoders.train import PretrainResult, evaluate, fit, make_dataset, pretrain

__all__ = [
    "ENCODERS",
    "PRESETS",
    "LatentAutoencoder",
    "PretrainResult",
    "build_encoder",
    "evaluate",
    "fit",
    "load",
    "make_dataset",
    "preset",
    "pretrain",
    "read_metadata",
    "save",
]
