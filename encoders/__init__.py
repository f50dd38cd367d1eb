"""Latent autoencoders, one file each, registered by name in `ENCODERS`.

Front doors: `pretrain(space, encoder_name, ...) -> (model, metrics, curves)`, `save` / `load`,
`plot_curves`; on a model, `embed(genotypes) -> z`, `reconstruct(z) -> genotypes`, `predict(...)`.
"""

from archlatent.encoders import gin, transformer  # noqa: F401  (register)
from archlatent.encoders.base import ENCODERS, LatentAutoencoder, build_encoder
from archlatent.encoders.checkpoint import load, read_metadata, save
from archlatent.encoders.presets import PRESETS, preset
from archlatent.encoders.train import PretrainResult, evaluate, fit, make_dataset, plot_curves, pretrain, pretrain_to

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
    "plot_curves",
    "preset",
    "pretrain",
    "pretrain_to",
    "read_metadata",
    "save",
]
