"""One rule for every command's output folder: refuse one that holds results, unless --force or --resume.

`claim` applies the rule; `locked` holds an exclusive lock on the folder while a run writes in it, so
two processes (two ``--resume`` of one run, say) never write one folder at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from archlatent.errors import ArchLatentError

LOCK = ".lock"


def claim(out: Path, *, force: bool = False, resume: bool = False, holds: tuple[str, ...] = ()) -> Path:
    """Create `out`; refuse it when it already holds any of `holds` (or anything, if `holds` is empty)
    unless `force` (overwrite) or `resume` (continue what is there)."""
    if out.exists() and not out.is_dir():
        raise ArchLatentError(f"{out} exists and is not a folder")
    if out.is_dir() and not (force or resume):
        present = [p.name for p in out.iterdir() if p.name != LOCK and (not holds or p.name in holds)]
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
