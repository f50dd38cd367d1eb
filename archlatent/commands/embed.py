"""CLI ``embed``: the latent means of architectures listed in a file (arch2vec's use: features for your
own predictor), written with their keys as ``.npy`` or CSV.

FILE holds one architecture per line in its space's text form (what ``archlatent sample`` and
``export`` print); blank lines are skipped. Every line is parsed before the model is loaded, and
bad lines are refused together in one message that names their line numbers.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from archlatent.cli import command, emit
from archlatent.errors import ArchLatentError, InvalidArchitecture

if TYPE_CHECKING:
    import numpy as np

    from archlatent.genotype import Genotype
    from archlatent.spaces.base import SearchSpace

FORMATS = {".npy": "npy", ".csv": "csv"}
#: Bad lines named in the one error (the rest are counted).
SHOWN = 5


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="architectures, one per line, in the space's text form")
    p.add_argument("--checkpoint", required=True, type=Path, help="a model folder from `pretrain` (or a portfolio)")
    p.add_argument("--member", type=int, default=0, help="which autoencoder of a portfolio (default 0)")
    p.add_argument("--out", type=Path, help="file to write, .npy or .csv (default: CSV on stdout)")
    p.add_argument("--format", choices=sorted(set(FORMATS.values())), help="npy or csv (default: from --out's suffix)")


@command("embed", "latent means of the architectures in a file, with their keys (.npy or CSV)", _setup)
def run_embed(args: argparse.Namespace) -> int:
    from archlatent.encoders import load, member_folders, read_metadata
    from archlatent.files import write_atomic
    from archlatent.spaces import get_space

    fmt = _format(args.out, args.format)
    folders = member_folders(args.checkpoint)
    if not 0 <= args.member < len(folders):
        raise ArchLatentError(f"--member {args.member}: {args.checkpoint} holds {len(folders)} autoencoder(s), "
                              f"0..{len(folders) - 1}")
    space = get_space(read_metadata(folders[args.member])["space"])
    texts, genotypes = read_architectures(args.file, space)
    model = load(folders[args.member], space=space)
    z = model.embed(genotypes).numpy()
    keys = [g.key() for g in genotypes]
    data = _npy(texts, keys, z) if fmt == "npy" else _csv(texts, keys, z)
    if args.out is None:
        print(data, end="")
        return 0
    write_atomic(args.out, data)
    emit({"out": str(args.out), "format": fmt, "architectures": len(genotypes), "latent_dim": int(z.shape[1]),
          "space": space.name, "checkpoint": str(folders[args.member])})
    return 0


def _format(out: Path | None, given: str | None) -> str:
    """The output format: `given`, else from `out`'s suffix, else CSV (stdout); refused before any work."""
    if given is not None:
        if out is None and given == "npy":
            raise ArchLatentError("--format npy needs --out FILE (binary output is not printed)")
        return given
    if out is None:
        return "csv"
    if out.suffix.lower() not in FORMATS:
        raise ArchLatentError(f"--out {out}: cannot tell the format from suffix {out.suffix!r}; "
                              "use .npy or .csv, or give --format")
    return FORMATS[out.suffix.lower()]


def read_architectures(path: Path, space: SearchSpace) -> tuple[list[str], list[Genotype]]:
    """The non-blank lines of `path` and their genotypes; one InvalidArchitecture naming every bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ArchLatentError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    texts, genotypes, bad = [], [], []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            genotypes.append(space.parse(text))
            texts.append(text)
        except InvalidArchitecture as err:
            bad.append((number, str(err)))
    if bad:
        shown = "; ".join(f"line {n}: {message}" for n, message in bad[:SHOWN])
        more = f" (and {len(bad) - SHOWN} more bad lines)" if len(bad) > SHOWN else ""
        raise InvalidArchitecture(f"{path}: {len(bad)} line(s) are not {space.name} architectures: {shown}{more}")
    if not genotypes:
        raise ArchLatentError(f"{path} holds no architectures (one per line, in the {space.name} text form)")
    return texts, genotypes


def _npy(texts: list[str], keys: list[str], z: np.ndarray) -> bytes:
    """A structured array, one record per architecture: ``arch`` (its text), ``key`` and ``z`` (float32 [d]);
    read back with ``np.load(path)`` (no pickle), e.g. ``np.load(path)["z"]`` is [N, d]."""
    import numpy as np

    dtype = np.dtype([("arch", f"U{max(map(len, texts))}"), ("key", f"U{max(map(len, keys))}"),
                      ("z", np.float32, (z.shape[1],))])
    records = np.empty(len(keys), dtype=dtype)
    records["arch"], records["key"], records["z"] = texts, keys, z
    buffer = io.BytesIO()
    np.save(buffer, records, allow_pickle=False)
    return buffer.getvalue()


def _csv(texts: list[str], keys: list[str], z: np.ndarray) -> str:
    """CSV with a header: ``arch,key,z0,...,z{d-1}``, one row per architecture (floats as repr)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["arch", "key", *(f"z{i}" for i in range(z.shape[1]))])
    for text, key, row in zip(texts, keys, z.tolist()):
        writer.writerow([text, key, *map(repr, row)])
    return buffer.getvalue()
