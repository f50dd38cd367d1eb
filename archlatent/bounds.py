"""The one table of bounds on every integer setting a user can type or a file can hold.

Flags (`flag`), configs, pretraining settings and checkpoint hyperparameters are all checked against
`BOUNDS`, so an absurd value (``--seeds 10**9``, ``--hidden 10**6``, a sidecar's ``seed = 10**30``)
is refused in one line before any work starts, and no setting can make the library allocate
gigabytes. Each upper bound is far above any useful run and far below what would exhaust memory.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from archlatent.checks import is_int
from archlatent.errors import ArchLatentError

#: name -> (lowest, highest) allowed value.
BOUNDS: dict[str, tuple[int, int]] = {
    # a run
    "budget": (1, 1_000_000),
    "seed": (0, 2**32 - 1),  # torch and numpy take any seed this size; member seeds are drawn in it
    "labels": (0, 1_000_000),
    "neighbours": (0, 1_000),
    "threads": (0, 1_024),
    "workers": (1, 4_096),
    "constraints": (0, 64),  # --constraint texts of one run, each checked on every cell a search proposes
    # plugin settings of a config's [strategy] / [optimizer] tables that size what an ask holds in memory
    # (lower bounds are the plugins' own; these only stop ``population = 10**9``)
    "population": (0, 100_000),
    "tournament": (0, 100_000),
    "retries": (0, 100_000),
    "tries": (0, 1_000_000),
    "height": (0, 16),  # a LaNAS tree of height h has 2**h leaves
    "init": (0, 100_000),
    "retrain": (0, 100_000),
    "pool_limit": (0, 10_000_000),
    "batch": (0, 10_000),
    "candidates": (0, 100_000),
    "fit_steps": (0, 100_000),
    "gp_max": (0, 5_000),  # a GP's kernel matrix grows with its square
    "leaf_size": (0, 100_000),
    "n_init": (0, 100_000),
    "pop_size": (0, 100_000),
    "swarm_size": (0, 100_000),
    "top_k": (0, 100_000),
    # a benchmark: seeds per method, and methods x seeds x budget (its trajectories are held in memory)
    "seeds": (1, 10_000),
    "benchmark_cells": (1, 10_000_000),
    # `archlatent sample -n`
    "n": (0, 10_000_000),
    # pretraining
    "samples": (1, 1_000_000),  # presets draw 20k-300k; distinct cells are what the data set holds
    "epochs": (1, 100_000),
    "batch_size": (1, 65_536),
    "members": (1, 64),
    # model sizes (a checkpoint's hyperparameters too)
    "latent_dim": (1, 4_096),
    "hidden": (1, 8_192),
    "layers": (1, 64),
    "dec_hidden": (1, 16_384),
    "dec_layers": (1, 32),
    "score_hidden": (1, 8_192),
    "heads": (1, 64),
    "ff": (1, 65_536),
}

#: Most parameters a model may have (checked on torch's meta device before anything is allocated):
#: 50 M float32 weights are 200 MB, with Adam's state 800 MB; the presets have under 2 M.
MAX_PARAMS = 50_000_000


class BoundError(ArchLatentError, ValueError):
    """A setting is not an integer within its `BOUNDS`."""


def check(name: str, value: Any, where: str = "") -> int:
    """`value` as an int, or BoundError naming `where` / `name` and the allowed range."""
    low, high = BOUNDS[name]
    if not is_int(value) or value < low:
        raise BoundError(f"{where or name} must be an integer >= {low}, got {shown(value)}")
    if value > high:
        raise BoundError(f"{where or name} must be an integer <= {high:,} (far beyond any useful run), got {shown(value)}")
    return value


def shown(value: Any) -> str:
    """A short rendering of a bad value (an int of thousands of digits cannot even be printed)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return f"{value!r:.40}"


def check_all(settings: Mapping[str, Any], where: str) -> None:
    """`check` every setting of `settings` that `BOUNDS` names (None counts as not given)."""
    for name, value in settings.items():
        if name in BOUNDS and value is not None:
            check(name, value, f"{where}{name}")


def flag(name: str) -> Callable[[str], int]:
    """An argparse ``type`` for an integer flag bounded by ``BOUNDS[name]`` (a usage error, one line)."""

    def parse(text: str) -> int:
        low, high = BOUNDS[name]
        if len(text) > 40:
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high:,} (got {len(text)} characters)")
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high:,}, got {value}")
        return value

    parse.__name__ = name  # argparse names the type in its own messages
    return parse
