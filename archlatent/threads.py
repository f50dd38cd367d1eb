"""Torch's intra-op threads for one front-door call: set on entry, the caller's setting restored on exit.

The library's models are small, so extra intra-op threads cost more in contention than they save (on
a busy 2-core machine one pretraining took 73 s at torch's default and 9.4 s at one thread;
BENCHMARKS.md). Every front-door function (`run_search`, `build`, `run_benchmark`, `search`,
`pretrain`) therefore runs under `torch_threads`: ``SearchConfig.threads`` or its ``threads``
argument, 1 by default, 0 for torch's own setting. The outermost call decides: a front-door call
made inside another one (``run_search`` pretraining its model) keeps the setting it found.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError

#: Intra-op threads a front-door call uses unless told otherwise.
DEFAULT_THREADS = 1

_inside: ContextVar[bool] = ContextVar("archlatent_threads_scoped", default=False)
F = TypeVar("F", bound=Callable[..., Any])


def check_threads(threads: Any) -> int:
    """`threads` as a count (None: the default); ArchLatentError unless an integer >= 0."""
    if threads is None:
        return DEFAULT_THREADS
    if not is_int(threads) or threads < 0:
        raise ArchLatentError(f"threads must be an integer >= 0 (0: torch's own setting), got {threads!r:.200}")
    return threads


@contextmanager
def torch_threads(threads: int | None = DEFAULT_THREADS) -> Iterator[None]:
    """Run the body with torch's intra-op threads at `threads` (None: 1; 0: leave torch's setting) and
    give the caller's setting back afterwards, also when the body raises. Inside another
    `torch_threads` body it changes nothing (the outermost front-door call decides)."""
    count = check_threads(threads)
    if _inside.get():
        yield
        return
    import torch

    before = torch.get_num_threads()
    token = _inside.set(True)
    try:
        if count:
            torch.set_num_threads(count)
        yield
    finally:
        _inside.reset(token)
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def scoped_threads(function: F) -> F:
    """Decorate a front-door function: it runs under `torch_threads` of its ``config.threads`` argument
    or, without a ``config``, of its ``threads`` argument."""
    signature = inspect.signature(function)
    if "config" not in signature.parameters and "threads" not in signature.parameters:
        raise TypeError(f"{function.__qualname__} takes neither `config` nor `threads`")

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = signature.bind_partial(*args, **kwargs).arguments
        if "config" in signature.parameters:
            threads = getattr(given.get("config"), "threads", None)
        else:
            threads = given.get("threads", signature.parameters["threads"].default)
        with torch_threads(threads):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
