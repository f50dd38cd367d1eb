"""Checkpoints: ``model.pt`` (state_dict only) + ``model.json`` (what it is and how it was made).

`load` rebuilds the model from the metadata and refuses, with one CheckpointError naming the file
and the problem, anything it cannot vouch for: missing or unreadable metadata, weights whose sha256
differs from the recorded one (corrupt, truncated or swapped), another space or encoder than asked
for, a space whose vocabulary changed since, a state_dict that does not fit the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from archlatent.bounds import BOUNDS, MAX_PARAMS, check_all, shown
from archlatent.checks import is_int
from archlatent.encoders.base import ENCODERS, LatentAutoencoder
from archlatent.encoders.layers import resolve_space
from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.files import file_digest, write_atomic
from archlatent.spaces import SearchSpace

log = logging.getLogger(__name__)

WEIGHTS = "model.pt"
METADATA = "model.json"
FORMAT = 1


#: Largest value a checkpoint may give each size hyperparameter (`archlatent.bounds`, shared with the
#: pretraining flags): far above any useful model, far below what would make the loader allocate
#: terabytes or loop for minutes building layers.
LIMITS = {k: BOUNDS[k][1] for k in ("latent_dim", "hidden", "layers", "dec_hidden", "dec_layers", "score_hidden",
                                    "heads", "ff")}


def _digest(doc: Mapping[str, Any], field: str = "metadata_sha256") -> str:
    """sha256 of a JSON document without its own checksum `field`: an edited sidecar is refused."""
    body = {k: v for k, v in doc.items() if k != field}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode("utf-8")).hexdigest()


def _check_hparams(where: str, hparams: Mapping[str, Any]) -> None:
    """CheckpointError for a size hyperparameter or seed outside `archlatent.bounds`, or a float not finite."""
    for name in (*LIMITS, "seed"):
        value, (low, high) = hparams.get(name), BOUNDS[name]
        if value is not None and (not is_int(value) or not low <= value <= high):
            raise CheckpointError(f"{where}: hyperparameter {name}={shown(value)} is outside {low}..{high}")
    for name, value in hparams.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise CheckpointError(f"{where}: hyperparameter {name} is not finite")


def _check_metrics(where: str, metrics: Any) -> None:
    """CheckpointError unless the sidecar's metrics are a mapping whose ``labelled`` (the architectures a
    search pays for) is a list of texts, at most `BOUNDS["labels"]` of them."""
    if metrics is None:
        return
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{where}: metadata 'metrics' must be a mapping")
    labelled = metrics.get("labelled")
    if labelled is None:
        return
    if not isinstance(labelled, list) or not all(isinstance(t, str) for t in labelled):
        raise CheckpointError(f"{where}: metadata 'metrics.labelled' must be a list of architecture texts, "
                              f"got {str(labelled)[:60]!r}")
    if len(labelled) > BOUNDS["labels"][1]:
        raise CheckpointError(f"{where}: metadata 'metrics.labelled' lists {len(labelled):,} architectures, "
                              f"more than {BOUNDS['labels'][1]:,}")


def check_size(where: str, skeleton: torch.nn.Module) -> None:
    """ArchLatentError when `skeleton` (built on torch's meta device) has more than `MAX_PARAMS` weights."""
    count = sum(p.numel() for p in skeleton.parameters())
    if count > MAX_PARAMS:
        raise ArchLatentError(f"{where}: the model would have {count:,} weights, more than {MAX_PARAMS:,} "
                              "(lower hidden, dec_hidden, layers or latent_dim)")


def check_settings(space: SearchSpace, encoder: str, settings: Mapping[str, Any]) -> None:
    """ArchLatentError, before any data is drawn or weight allocated, when pretraining settings (samples,
    epochs, batch_size, seed, the model's sizes) leave `archlatent.bounds` or the model would have more
    than `MAX_PARAMS` weights (it is built on torch's meta device to count them)."""
    check_all(settings, "pretraining setting ")
    hparams = {k: v for k, v in settings.items() if k not in ("samples", "epochs", "batch_size", "lr")}
    with torch.device("meta"):
        try:
            skeleton = ENCODERS.get(encoder)(space, device="meta", **hparams)
        except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
            raise ArchLatentError(f"cannot build a {encoder!r} model from {sorted(hparams)}: {exc}") from None
    check_size(f"pretraining {encoder} on {space.name}", skeleton)


def _space_signature(space: SearchSpace) -> dict[str, Any]:
    return {
        "node_labels": list(space.node_labels),
        "cell_names": list(space.cell_names),
        "max_cell_nodes": space.max_cell_nodes,
    }


def save(
    model: LatentAutoencoder,
    directory: str | Path,
    *,
    metrics: Mapping[str, Any] | None = None,
    table_sha256: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model.pt`` and ``model.json`` into `directory` (created); returns the directory.

    `table_sha256`: checksum of the benchmark table whose labels trained the score head, if any.
    `metrics` and `extra` must be JSON-able.
    """
    from archlatent import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, weights)
    meta = {
        "format": FORMAT,
        "archlatent_version": __version__,
        "space": model.space.name,
        "space_signature": _space_signature(model.space),
        "encoder": model.name,
        "hparams": dict(model.hparams),
        "table_sha256": table_sha256,
        "weights_sha256": file_digest(weights),
        "metrics": dict(metrics) if metrics is not None else None,
        "extra": dict(extra) if extra is not None else None,
    }
    try:
        meta["metadata_sha256"] = _digest(meta)
        text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ArchLatentError(f"checkpoint metadata is not JSON-able: {exc}") from None
    write_atomic(directory / METADATA, text + "\n")  # last, whole or not at all: a kill never leaves half of it
    return directory


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint (directory, model.pt or model.json); CheckpointError if unusable."""
    directory = _directory(path)
    meta_path = directory / METADATA
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint {directory}: metadata {METADATA} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {directory}: metadata {METADATA} is unreadable ({exc})") from None
    need = ("format", "space", "encoder", "hparams", "weights_sha256")
    if not isinstance(meta, dict) or any(k not in meta for k in need) or not isinstance(meta["hparams"], dict):
        raise CheckpointError(f"checkpoint {directory}: metadata {METADATA} lacks one of {', '.join(need)}")
    if meta["format"] != FORMAT:
        raise CheckpointError(f"checkpoint {directory}: format {meta['format']!r}, this library reads {FORMAT}")
    if "metadata_sha256" not in meta:
        raise CheckpointError(f"checkpoint {directory} was written by archlatent {meta.get('archlatent_version')}, "
                              "before metadata checksums: pretrain it again")
    try:
        intact = meta.get("metadata_sha256") == _digest(meta)
    except (TypeError, ValueError):
        intact = False
    if not intact:
        raise CheckpointError(f"checkpoint {directory}: {METADATA} was edited or damaged (its checksum does not match)")
    if not all(isinstance(meta[k], str) for k in ("space", "encoder", "weights_sha256")):
        raise CheckpointError(f"checkpoint {directory}: metadata space, encoder and weights_sha256 must be texts")
    _check_metrics(f"checkpoint {directory}", meta.get("metrics"))
    _check_hparams(f"checkpoint {directory}", meta["hparams"])
    return meta


def load(
    path: str | Path,
    *,
    space: SearchSpace | str | None = None,
    encoder: str | None = None,
    device: torch.device | str = "cpu",
) -> LatentAutoencoder:
    """The model saved at `path` (its directory, model.pt or model.json), in eval mode on `device`.

    `space` / `encoder`: what the caller expects; a checkpoint of another one is refused.
    """
    from archlatent import __version__

    directory = _directory(path)
    meta = read_metadata(directory)
    where = f"checkpoint {directory}"
    expected_space = space.name if isinstance(space, SearchSpace) else space
    if expected_space is not None and meta["space"] != expected_space:
        raise CheckpointError(f"{where} was saved for space {meta['space']!r}, not {expected_space!r}")
    if encoder is not None and meta["encoder"] != encoder:
        raise CheckpointError(f"{where} holds encoder {meta['encoder']!r}, not {encoder!r}")
    state = _read_weights(directory, meta, where)
    try:
        the_space = resolve_space(space if isinstance(space, SearchSpace) else meta["space"])
        cls = ENCODERS.get(meta["encoder"])
    except ArchLatentError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    signature = meta.get("space_signature")
    if signature is not None and signature != _space_signature(the_space):
        raise CheckpointError(
            f"{where}: space {the_space.name!r} has changed since it was saved (node labels or cell layout differ)"
        )
    _check_shapes(cls, the_space, meta, state, where)
    model = _rebuild(where, cls, the_space, meta["hparams"], "cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:4])
        raise CheckpointError(f"{where}: weights do not fit the model: {detail}") from None
    if meta.get("archlatent_version") != __version__:
        log.warning("%s was written by archlatent %s, this is %s", where, meta.get("archlatent_version"), __version__)
    return model.to(device).eval()


def _rebuild(where: str, cls: type[LatentAutoencoder], space: SearchSpace, hparams: dict[str, Any],
             device: str) -> LatentAutoencoder:
    """`cls` built from a checkpoint's hyperparameters (on the meta device: checked for size too);
    CheckpointError when they do not make a model (a torch layer's own assertion included)."""
    try:
        model = cls(space, device=device, **hparams)
        if device == "meta":
            check_size(where, model)
    except (ArchLatentError, TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise CheckpointError(f"{where}: cannot rebuild {cls.name!r} from its hyperparameters ({exc})") from None
    return model


def _read_weights(directory: Path, meta: dict[str, Any], where: str) -> dict[str, torch.Tensor]:
    """The state_dict in `directory`, once its sha256 matches the one `meta` records."""
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{where}: weights {WEIGHTS} are missing")
    if file_digest(weights) != meta["weights_sha256"]:
        raise CheckpointError(
            f"{where}: {WEIGHTS} does not match the sha256 recorded in {METADATA} (corrupt, truncated or replaced)"
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises RuntimeError, UnpicklingError, EOFError, ... on bad files)
        first = (str(exc).strip().splitlines() or [""])[0][:200]  # torch's advice runs to many lines
        raise CheckpointError(f"{where}: {WEIGHTS} cannot be read as weights ({type(exc).__name__}: {first})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{where}: {WEIGHTS} does not hold a state_dict")
    return state


def _check_shapes(cls: type, the_space: SearchSpace, meta: dict[str, Any], state: dict[str, torch.Tensor], where: str) -> None:
    """CheckpointError unless `state` has exactly the keys and shapes of the model `meta` describes."""
    with torch.device("meta"):  # shapes first, without allocating anything
        skeleton = _rebuild(where, cls, the_space, meta["hparams"], "meta")
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    wrong = [k for k, v in state.items() if k in expected and tuple(v.shape) != expected[k]]
    if wrong or set(expected) != set(state):
        detail = f"shape of {wrong[0]}" if wrong else f"keys {sorted(set(expected) ^ set(state))[:3]}"
        raise CheckpointError(f"{where}: weights do not fit the model its {METADATA} describes ({detail} differs)")


def _directory(path: str | Path) -> Path:
    path = Path(path)
    if path.name in (WEIGHTS, METADATA) and not path.is_dir():
        return path.parent
    return path
