"""Latent autoencoders, one file each, registered by name in `ENCODERS`.

Front doors: `pretrain(space, encoder_name, ...) -> (model, metrics, curves)`, `save` / `load`,
`Portfolio` (several models of one space, `save_portfolio` / `load_portfolio`), on a model, `embed(genotypes) -> z`, `reconstruct(z) -> genotypes`, `predict(...)`.
"""

from archlatent.encoders.base import ENCODERS, LatentAutoencoder, build_encoder
from archlatent.encoders.checkpoint import load, read_metadata, save
from archlatent.encoders.portfolio import (
    Portfolio,
    holds_model,
    load_portfolio,
    member_folders,
    member_seeds,
    save_portfolio,
)
from archlatent.encoders.presets import FREE_TARGETS, PRESETS, members, preset
from archlatent.encoders.train import PretrainResult, evaluate, fit, make_dataset, pretrain
from archlatent.registry import import_plugins

import_plugins(__name__, __path__)  # registers every file's encoder

__all__ = [
    "ENCODERS",
    "FREE_TARGETS",
    "PRESETS",
    "LatentAutoencoder",
    "Portfolio",
    "PretrainResult",
    "build_encoder",
    "evaluate",
    "fit",
    "holds_model",
    "load",
    "load_portfolio",
    "make_dataset",
    "member_folders",
    "member_seeds",
    "members",
    "preset",
    "pretrain",
    "read_metadata",
    "save",
    "save_portfolio",
]
