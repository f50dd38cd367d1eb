"""What a latent strategy makes of the proposals a screen answered only cheaply (status ``screened``).

One setting, the latent strategy's ``cheap_answers``:

- ``reject``: infeasible, as every release before 0.8.0 did (the optimizer's `reject`; the default);
- ``drop``: no answer at all (the optimizer's `withdraw`): neither feasible nor rejected;
- ``calibrate``: feasible, the cheap answer mapped onto the full metric's scale by a least-squares
  line full ~ a * cheap + b, refitted over every evaluated cell that has both answers; until
  `MIN_PAIRS` such cells exist, and for several objectives (the screen answers the first only), the
  row is rejected;
- ``pessimistic`` (measured in BENCHMARKS.md section 2; not a default): as ``calibrate``, then moved
  one root-mean-square residual of the line towards worse, so a cell known only cheaply ranks below
  an evaluated cell with the same cheap answer.

The mapping and its penalty are ours, not a paper's: the screen (one rung of successive halving)
only ranks by the cheap answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import numpy as np

from archlatent.errors import ArchLatentError
from archlatent.objectives import signed
from archlatent.strategies.base import Told

CheapAnswers = Literal["reject", "drop", "calibrate", "pessimistic"]
#: Evaluated cells with both answers the line needs before it maps any cheap answer.
MIN_PAIRS = 5


class Calibration:
    """The ``cheap_answers`` rule of one latent strategy, and for ``calibrate`` its running line."""

    #: `answer`'s word for a row to withdraw (``drop``).
    WITHDRAW = object()

    def __init__(self, objectives: Sequence[str], mode: str) -> None:
        if mode not in get_args(CheapAnswers):
            raise ArchLatentError(f"latent: cheap_answers must be one of {', '.join(get_args(CheapAnswers))}, "
                                  f"got {mode!r:.100}")
        self.objectives, self.mode = tuple(objectives), mode
        self.metric: str | None = None  # the cheap answers' name, from the first screened row
        self.full: dict[str, Mapping[str, float]] = {}  # every evaluated cell's metrics, by key
        self._fit: tuple[int, tuple[float, float, float] | None] = (-1, None)  # (cells known, line) of the last fit

    def learn(self, told: Sequence[Told]) -> None:
        """Note the cheap metric's name and the evaluated cells (their metrics hold the cheap answer
        beside the full one where the screen gave one)."""
        if self.mode not in ("calibrate", "pessimistic"):
            return
        for t in told:
            if t.status == "screened" and self.metric is None and t.metrics:
                self.metric = next(iter(t.metrics))
            elif t.status == "new" and t.genotype is not None and t.metrics is not None:
                self.full[t.genotype.key()] = t.metrics

    def answer(self, cheap: Mapping[str, float]) -> Mapping[str, float] | object | None:
        """What to tell of a screened row with cheap answer `cheap`: objectives (feasible), None
        (reject) or `WITHDRAW`."""
        if self.mode == "drop":
            return self.WITHDRAW
        line = self.line() if self.mode in ("calibrate", "pessimistic") else None
        if line is None or self.metric not in cheap:
            return None
        value = line[0] * cheap[self.metric] + line[1]  # type: ignore[index]
        if self.mode == "pessimistic":  # one residual deviation worse
            value += signed(self.objectives[0], line[2])
        return {self.objectives[0]: value}

    def seed(self, told: Told) -> Mapping[str, float] | None:
        """The metrics a row another strategy asked (or a stage added) seeds the optimizer with, if any."""
        if told.status == "new":
            return told.metrics or None
        if told.status == "screened" and self.mode in ("calibrate", "pessimistic"):
            found = self.answer(told.metrics)  # type: ignore[arg-type]
            return found if isinstance(found, Mapping) else None
        return None

    def line(self) -> tuple[float, float, float] | None:
        """(a, b, rms residual) of full ~ a * cheap + b over the evaluated cells with both answers
        (None with fewer than `MIN_PAIRS`, several objectives, or cheap answers that do not vary)."""
        if self.metric is None or len(self.objectives) > 1:
            return None
        if self._fit[0] != len(self.full):
            target = self.objectives[0]
            pairs = np.array([(m[self.metric], m[target]) for m in self.full.values() if self.metric in m and target in m],
                             dtype=np.float64).reshape(-1, 2)
            line = None
            if len(pairs) >= MIN_PAIRS and np.ptp(pairs[:, 0]) > 0:
                x, y = pairs[:, 0], pairs[:, 1]
                a = float(np.mean((x - x.mean()) * (y - y.mean())) / x.var())
                b = float(y.mean() - a * x.mean())
                line = (a, b, float(np.sqrt(np.mean((y - a * x - b) ** 2))))
            self._fit = (len(self.full), line)
        return self._fit[1]
