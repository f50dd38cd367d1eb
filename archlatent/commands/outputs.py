"""One rule for every command's output folder: refuse one that holds results, unless --force or --resume.

`claim` applies the rule; `locked` holds an exclusive lock on the folder while a run writes in it, so
two processes (two ``--resume`` of one run, say) never write one folder at once. `RUN_HOLDS` names
what in a search folder is worth keeping; `read_result` reads a finished run's result.json for
``export``, refusing any damage in one line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archlatent.checks import is_number
from archlatent.errors import ArchLatentError

LOCK = ".lock"


def claim(out: Path, *, force: bool = False, resume: bool = False, holds: tuple[str, ...] = ()) -> Path:
    """Create `out`; refuse it when it already holds any of `holds` (paths inside it; anything, if
    `holds` is empty) unless `force` (overwrite) or `resume` (continue what is there)."""
    if out.exists() and not out.is_dir():
        raise ArchLatentError(f"{out} exists and is not a folder")
    if out.is_dir() and not (force or resume):
        present = [h for h in holds if (out / h).exists()] if holds else [p.name for p in out.iterdir() if p.name != LOCK]
        if present:
            raise ArchLatentError(
                f"{out} already holds results ({', '.join(sorted(present)[:3])}); pass --force to overwrite, "
                "--resume to continue, or choose another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on `out` (created) for the duration; one clear error if taken."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchLatentError(f"{out} is in use by another archlatent process; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


#: What in a search folder is worth keeping: a run that wrote none of it (killed while pretraining, or
#: refused after it claimed the folder) is started again in place without --force.
RUN_HOLDS = ("journal.sqlite", "screen.sqlite", "result.json", "model/model.json", "model/portfolio.json")

#: Largest result.json `export` reads (a budget of a million queries writes about 300 MB).
RESULT_BYTES = 1 << 30


def read_result(run: Path, pareto: bool) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """(space name, [(where, entry)]) of a finished run's result.json: its best, or its Pareto front.

    Every way the file can be damaged gets one ArchLatentError naming the file and the field: not
    JSON, NaN or Infinity (never written by the library, so a NaN is damage, refused rather than
    exported as null), a `best` or front that is not a list of entries with an ``arch`` text and
    finite numbers."""
    path = run / "result.json"
    if not path.is_file() or path.stat().st_size > RESULT_BYTES:
        reason = "is missing" if not path.exists() else "is not a regular file" if not path.is_file() else "is too large"
        raise ArchLatentError(f"{run} holds no readable result.json (it {reason})")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ArchLatentError(f"{run} holds no readable result.json ({type(err).__name__}: {str(err)[:200]})") from None
    config = doc.get("config") if isinstance(doc, dict) else None
    space = config.get("space") if isinstance(config, dict) else None
    if not isinstance(space, str):
        raise ArchLatentError(f"{path}: `config.space` must name the run's space (damaged or edited)")
    if not pareto:
        entries = [("best", doc.get("best"))]
    elif doc.get("pareto") is None:
        raise ArchLatentError(f"run {run} has no Pareto front (it searched one objective)")
    else:
        front = doc["pareto"].get("front") if isinstance(doc["pareto"], dict) else None
        if not isinstance(front, list) or not front:
            raise ArchLatentError(f"{path}: `pareto.front` must be a non-empty list of entries (damaged or edited)")
        entries = [(f"pareto.front[{i}]", e) for i, e in enumerate(front)]
    for where, entry in entries:
        _check_entry(path, where, entry)
    return space, entries


def _no_constant(name: str) -> None:
    raise ValueError(f"it holds {name}, which strict JSON (and this library) never writes")


def _check_entry(path: Path, where: str, entry: Any) -> None:
    """ArchLatentError unless `entry` is {arch: text, key: text (optional), metric: finite number, ...}."""
    if not isinstance(entry, dict) or not isinstance(entry.get("arch"), str):
        raise ArchLatentError(f"{path}: `{where}` must be an entry with an `arch` text, got {str(entry)[:80]!r}")
    for name, value in entry.items():
        if name == "key" and isinstance(value, str) or name == "arch":
            continue
        if not is_number(value) or not math.isfinite(value):
            raise ArchLatentError(f"{path}: `{where}.{str(name)[:40]}` must be a finite number, got {str(value)[:40]!r}")
