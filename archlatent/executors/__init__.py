"""Executors evaluate a batch of new architectures for `search()`, registered by name in `EXECUTORS`:
``local`` (in this process, in order) and ``ray`` (Ray actor tasks with per-evaluation resources).
Importing them needs no Ray: the ``ray`` executor imports Ray when it is built and, without it, says
how to install it (``pip install "archlatent[ray]"``)."""

from archlatent.executors import ray  # noqa: F401  (registers; imports Ray only when built)
from archlatent.executors.base import EXECUTORS, Executor, LocalExecutor

__all__ = ["EXECUTORS", "Executor", "LocalExecutor"]
