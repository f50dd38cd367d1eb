"""Progress for the CLI: a tqdm bar on a terminal, a log line every so often when stderr is not one
(a job under nohup, CI or a pipe must not look hung), and lines as well with ``-v``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


class Progress:
    """Counts `total` units of `label`; `update(n, **postfix)` sets the count reached.

    Without a terminal (or when `verbose`), a line goes to stderr at the first update, then at
    least every `every` seconds and at the end.
    """

    def __init__(self, total: int | None, label: str, unit: str, *, verbose: bool = False, every: float = 10.0) -> None:
        self.total, self.label, self.unit, self.every = total, label, unit, every
        self.lines = verbose or not sys.stderr.isatty()
        self._bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit=unit, file=sys.stderr, leave=False)
        self._last = -float("inf")
        self._start = time.monotonic()
        self._n = 0
        self._post = ""
        self._shown: tuple[int, str] | None = None  # the count and postfix of the last line printed
        self.closed = False

    def update(self, n: int, **postfix: Any) -> None:
        self._n = n
        self._post = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in postfix.items())
        if self._bar is not None:
            self._bar.n = n
            self._bar.set_postfix_str(self._post, refresh=True)
        now = time.monotonic()
        if self.lines and now - self._last >= self.every:
            self._last = now
            self._line()

    def _line(self) -> None:
        self._shown = (self._n, self._post)
        of = f"/{self.total}" if self.total else ""
        post = f" ({self._post})" if self._post else ""
        print(f"{self.label}: {self._n}{of} {self.unit}{post}, {time.monotonic() - self._start:.0f} s",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        """End the bar; without a terminal, print the final count unless the last line already showed it.
        Closing twice does nothing, so a caller may close a stage's bar as soon as the stage is over."""
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()
        if self.lines and self._n and self._shown != (self._n, self._post):
            self._line()


def epochs(label: str, total: int | None, verbose: bool) -> tuple[Callable[[dict[str, Any]], None], Progress]:
    """A pretraining-epoch callback (for `pretrain`'s ``progress=``) and its Progress; every epoch logs."""
    bar = Progress(total, label, "epochs", verbose=verbose, every=0.0)

    def update(record: dict[str, Any]) -> None:
        shown: dict[str, Any] = {"member": record["member"]} if "member" in record else {}
        shown.update({k: float(v) for k, v in record.items() if k in ("loss", "heldout_exact") and v is not None})
        bar.update(int(record.get("epoch", bar._n + 1)), **shown)

    return update, bar
