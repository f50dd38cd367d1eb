"""The one reader for every pickle the library opens: nothing in a data file may run.

``pickle.load`` calls whatever a file names, so a table folder or a CIFAR batch someone was sent could
run its payload. Every pickle the library reads goes through `read_pickle`, which

- admits plain containers and numbers (dict, list, tuple, set, str, bytes, int, float, bool, None) and,
  with ``numpy=True``, numpy's own array and scalar reconstruction (``ndarray``, ``dtype``,
  ``_reconstruct``, ``scalar``, ``_frombuffer``) and nothing else: any other global is refused before it is looked up;
- checks the file's sha256 against the digests recorded for it, where the caller has them (the data
  files of an installed wheel), so a tampered or foreign file is refused before it is parsed at all;
- refuses files larger than `max_bytes` before reading them (``/dev/zero``, a runaway download).

What it raises is always `DataError` with the file named: the CLI prints it on one line.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from archlatent.errors import DataError
from archlatent.files import file_digest

#: The globals a numpy array or scalar needs to be rebuilt (numpy 1 and numpy 2 module names).
NUMPY_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5
        ("numpy._core.numeric", "_frombuffer"),
    }
)
#: What a protocol-0/2 pickle names by global for plain values (the protocol-4 opcodes need none):
#: sets, and ``_codecs.encode``, which Python 3 uses to write bytes at protocol 2.
PLAIN_GLOBALS = frozenset(
    {("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("_codecs", "encode")}
)
#: No pickle the library reads is near this; anything larger is refused unread.
MAX_BYTES = 512 << 20


class _Forbidden(pickle.UnpicklingError):
    """A pickle names a global that a data file may not: the file is refused, whatever else it holds."""


class _Restricted(pickle.Unpickler):
    """An unpickler whose `find_class` admits only the allowed (module, name) pairs."""

    def __init__(self, file: io.BufferedIOBase, allowed: frozenset[tuple[str, str]], encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise _Forbidden(f"it names {module[:100]}.{name[:100]}, which a data file may not")
        return super().find_class(module, name)


def loads_restricted(data: bytes, *, numpy: bool = False, encoding: str = "ASCII") -> Any:
    """Unpickle `data` admitting plain containers and numbers (and numpy arrays with `numpy`).

    Raises `pickle.UnpicklingError` (or the error of a damaged stream); `read_pickle` wraps it.
    """
    allowed = PLAIN_GLOBALS | (NUMPY_GLOBALS if numpy else frozenset())
    return _Restricted(io.BytesIO(data), allowed, encoding).load()


def read_pickle(
    path: str | os.PathLike[str],
    *,
    digests: Iterable[str] | None = None,
    numpy: bool = False,
    encoding: str = "ASCII",
    what: str = "pickle",
    remedy: str = "reinstall the package that ships it",
    max_bytes: int = MAX_BYTES,
) -> Any:
    """The object in the pickle at `path`, read with the restricted unpickler.

    `digests`: the sha256 hex digests the file may have (None: any file, still restricted). `what`
    names the file in messages ("NAS-Bench-Graph table", "CIFAR batch"); `remedy` says what to do
    about a file with another digest.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} is not a file")
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"{what} {path} is {size:,} bytes, more than the {max_bytes:,} a {what} may have")
    if digests is not None:
        allowed = set(digests)
        digest = file_digest(path)
        if digest not in allowed:
            raise DataError(
                f"{what} {path} is not one the library knows (sha256 {digest[:16]}…): refused unread, since a "
                f"pickle can run code; {remedy}"
            )
    data = path.read_bytes()
    if len(data) > max_bytes:  # a file that grew, or a device that reports no size
        raise DataError(f"{what} {path} is more than the {max_bytes:,} bytes a {what} may have")
    try:
        return loads_restricted(data, numpy=numpy, encoding=encoding)
    except _Forbidden as err:
        raise DataError(f"{what} {path} is refused: {err} (a pickle can run code; only plain data is read)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, RecursionError, UnicodeDecodeError, ImportError) as err:
        raise DataError(f"{what} {path} is corrupt: {type(err).__name__}: {str(err)[:200]}") from None
