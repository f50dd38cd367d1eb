"""Executors evaluate a batch of new architectures for `search()`, registered by name in `EXECUTORS`:
``local`` (in this process, in order) and ``ray`` (Ray actor tasks with per-evaluation resources).
Importing them needs no Ray: the ``ray`` executor imports Ray when it is built and, without it, says
how to install it (``pip install "archlatent[ray]"``)."""

from archlatent.executors.base import EXECUTORS, Executor, LocalExecutor
from archlatent.registry import import_plugins

import_plugins(__name__, __path__)  # registers every file's executor (ray imports Ray only when built)

__all__ = ["EXECUTORS", "Executor", "LocalExecutor"]
