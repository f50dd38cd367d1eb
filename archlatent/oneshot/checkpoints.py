"""Checkpoint files of one-shot training: atomic saves, checked loads, and the supernet checkpoint.

Everything is written through `archlatent.files.write_atomic` (a reader never sees half a file) and
read with ``weights_only=True``; any problem with a file is one CheckpointError naming it.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.files import write_atomic
from archlatent.oneshot.data import DataSpec
from archlatent.oneshot.nets import Supernet, build_supernet

SUPERNET_FORMAT = "archlatent-supernet-v1"
#: What ``torch.load`` raises on a damaged or foreign file (truncated zip, garbage, disallowed pickle).
_LOAD_ERRORS = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
)


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` `obj` to `path` atomically (serialized in memory, then `write_atomic`)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path, fmt: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint dict written by this library in format `fmt`; CheckpointError on anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except _LOAD_ERRORS as err:
        lines = str(err).strip().splitlines()
        reason = f"{type(err).__name__}: {lines[0][:200]}" if lines else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch checkpoint ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"checkpoint {path} is not an {fmt} checkpoint (found {str(found)[:200]!r})")
    return ckpt


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """``load_state_dict`` that reports a mismatch as one CheckpointError."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        detail = " ".join(line.strip() for line in str(err).strip().splitlines()[:2]) or type(err).__name__
        raise CheckpointError(f"checkpoint {path} does not fit this model: {detail[:300]}") from None


def save_supernet(path: str | Path, supernet: Supernet, spec: DataSpec, meta: dict[str, Any]) -> None:
    """Write `supernet` (weights, config), the `DataSpec` of its data and `meta` to `path`, atomically."""
    state = {
        "format": SUPERNET_FORMAT,
        "space": supernet.space_name,
        "config": supernet.config,
        "state_dict": {k: v.detach().cpu() for k, v in supernet.state_dict().items()},
        "data": spec.as_dict(),
        "meta": meta,
    }
    save_atomic(state, Path(path))


def load_supernet(path: str | Path, space: str | None = None) -> tuple[Supernet, DataSpec]:
    """The supernet (on the CPU) and data spec of a ``supernet train`` checkpoint.

    CheckpointError when the file is unreadable, not a supernet checkpoint, for another space than
    `space` (when given), or holds a config or data spec that cannot be rebuilt.
    """
    ckpt = load_checkpoint(path, SUPERNET_FORMAT)
    if space is not None and ckpt.get("space") != space:
        raise CheckpointError(f"checkpoint {path} holds a {ckpt.get('space')!r} supernet, not one for space {space!r}")
    if not isinstance(ckpt.get("config"), dict) or not isinstance(ckpt.get("data"), dict):
        raise CheckpointError(f"checkpoint {path} lacks a supernet config or data spec")
    try:
        supernet = build_supernet(str(ckpt.get("space")), **ckpt["config"])
        spec = DataSpec(**ckpt["data"])
    except (ArchLatentError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path} has a bad supernet config or data spec: {err}") from None
    load_weights(supernet, ckpt.get("state_dict"), path)
    return supernet, spec
