"""Portfolios: several autoencoders of one space, pretrained with different seeds (issue 13).

Which latent space a search gets is a gamble on the pretraining seed: on NB201 every checkpoint
reconstructs 100 % of held-out cells, yet NAO's mean at 100 queries ranges from 94.23 to 94.35 %
over pretraining seeds 0-4 (BENCHMARKS.md 2b). The latent strategy runs one optimizer in each
member's latent space and tells every member every evaluation, so no single latent space decides
where the search goes. Member 0 is the model a single pretraining of the same seed gives.

On disk a portfolio is a folder holding ``portfolio.json`` (format, the member folders and their
weights' sha256, a checksum of itself) and one ordinary checkpoint folder per member
(``member-0``, ``member-1``, ...). A single checkpoint folder loads as a portfolio of one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from archlatent.bounds import BOUNDS, check
from archlatent.checks import is_int
from archlatent.encoders.base import LatentAutoencoder
from archlatent.encoders.checkpoint import METADATA, _digest, load, read_metadata, save
from archlatent.errors import ArchLatentError, CheckpointError
from archlatent.files import write_atomic
from archlatent.spaces import SearchSpace

INDEX = "portfolio.json"
FORMAT = 1


class Portfolio(Sequence[LatentAutoencoder]):
    """An immutable sequence of autoencoders of one space and one encoder (at least one)."""

    def __init__(self, members: Sequence[LatentAutoencoder]) -> None:
        self.members = tuple(members)
        if not self.members:
            raise ArchLatentError("a portfolio needs at least one autoencoder")
        kinds = {(m.space.name, m.name) for m in self.members}
        if len(kinds) > 1:
            raise ArchLatentError(f"a portfolio's members must share one space and encoder, got {sorted(kinds)}")

    @overload
    def __getitem__(self, index: int) -> LatentAutoencoder: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[LatentAutoencoder]: ...
    def __getitem__(self, index: int | slice) -> LatentAutoencoder | Sequence[LatentAutoencoder]:
        return self.members[index]

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[LatentAutoencoder]:
        return iter(self.members)

    @property
    def name(self) -> str:
        """The members' encoder."""
        return self.members[0].name

    @property
    def space(self) -> SearchSpace:
        return self.members[0].space

    @property
    def weights_sha256(self) -> str | None:
        """What pins a journal to these weights: a single member's own sha256 (so a portfolio of one
        is the same run as its model), else the sha256 of the members' sha256s in order."""
        shas = [getattr(m, "weights_sha256", None) for m in self.members]
        if any(s is None for s in shas):
            return None
        if len(shas) == 1:
            return shas[0]
        return hashlib.sha256("\n".join(shas).encode("ascii")).hexdigest()


def member_seeds(seed: int, members: int) -> list[int]:
    """Pretraining seeds of a portfolio of `seed`: `seed` itself, then seeds spawned from it (distinct
    for every (seed, member), so the portfolios of different seeds share no member)."""
    if not is_int(members) or members < 1:
        raise ArchLatentError(f"members must be a positive int, got {members!r}")
    check("members", members)
    return [seed] + [int(np.random.SeedSequence([seed, j]).generate_state(1)[0]) for j in range(1, members)]


def is_portfolio(path: str | Path) -> bool:
    """Whether `path` is a portfolio folder (as opposed to a single checkpoint)."""
    return (Path(path) / INDEX).is_file()


def holds_model(path: str | Path) -> bool:
    """Whether the folder `path` holds a model: a checkpoint or a portfolio."""
    return (Path(path) / METADATA).is_file() or is_portfolio(path)


def save_portfolio(
    models: Sequence[LatentAutoencoder],
    directory: str | Path,
    *,
    metrics: Sequence[Mapping[str, Any] | None] | None = None,
    table_sha256: str | None = None,
) -> Path:
    """Write `models` as a portfolio folder (one member: a plain checkpoint, as `save` writes); returns it."""
    directory = Path(directory)
    metrics = list(metrics) if metrics is not None else [None] * len(models)
    if len(models) == 1:
        return save(models[0], directory, metrics=metrics[0], table_sha256=table_sha256)
    Portfolio(models)  # checks they belong together
    folders = [save(model, directory / f"member-{j}", metrics=m, table_sha256=table_sha256)
               for j, (model, m) in enumerate(zip(models, metrics, strict=True))]
    write_index(directory, folders)
    return directory


def write_index(directory: str | Path, folders: Sequence[Path]) -> Path:
    """Write ``portfolio.json`` listing the checkpoint `folders` (inside `directory`) as its members."""
    directory = Path(directory)
    listed = [{"folder": Path(f).name, "weights_sha256": read_metadata(f)["weights_sha256"]} for f in folders]
    index: dict[str, Any] = {"format": FORMAT, "members": listed}
    index["index_sha256"] = _digest(index, "index_sha256")
    return write_atomic(directory / INDEX, json.dumps(index, indent=2) + "\n")


def member_folders(path: str | Path) -> list[Path]:
    """The checkpoint folders of `path`: its members for a portfolio, `path` itself for a checkpoint.

    CheckpointError for a ``portfolio.json`` that is unreadable or edited, or that lists a member
    missing or replaced."""
    path = Path(path)
    if not is_portfolio(path):
        return [path]  # a checkpoint (its folder, model.pt or model.json): `load` says what is wrong with it
    where = f"portfolio {path}"
    try:
        index = json.loads((path / INDEX).read_text(encoding="utf-8"))
        listed = index["members"]
        intact = index.get("format") == FORMAT and index.get("index_sha256") == _digest(index, "index_sha256")
        folders = [path / str(m["folder"]) for m in listed]
        shas = [m["weights_sha256"] for m in listed]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: {INDEX} is unreadable ({type(exc).__name__}: {exc})") from None
    if not intact or not folders:
        raise CheckpointError(f"{where}: {INDEX} was edited or damaged (its format or checksum does not match)")
    if len(folders) > BOUNDS["members"][1] or len(set(folders)) < len(folders):
        raise CheckpointError(f"{where}: {INDEX} lists {len(folders):,} members, {len(set(folders)):,} distinct; a "
                              f"portfolio has at most {BOUNDS['members'][1]}, each once")
    for folder, sha in zip(folders, shas):
        if folder.parent != path or read_metadata(folder)["weights_sha256"] != sha:
            raise CheckpointError(f"{where}: member {folder.name} is not the one {INDEX} lists (replaced or edited)")
    return folders


def load_portfolio(
    path: str | Path, *, space: SearchSpace | str | None = None, encoder: str | None = None
) -> Portfolio:
    """The portfolio at `path` (a single checkpoint gives a portfolio of one); each member's
    ``weights_sha256`` is set from its metadata. Refusals as `load` and `member_folders` give."""
    members = []
    for folder in member_folders(path):
        model = load(folder, space=space, encoder=encoder)
        model.weights_sha256 = read_metadata(folder)["weights_sha256"]
        members.append(model)
    try:
        return Portfolio(members)
    except ArchLatentError as exc:
        raise CheckpointError(f"portfolio {path}: {exc}") from None

