"""`Screen`: a cheap first look at each ask's new architectures, so only the best get the full evaluation.

One rung of successive halving (Jamieson & Talwalkar, AISTATS 2016; Li et al., "Hyperband", JMLR
2018) between a strategy's ask and the evaluator: every new architecture of an ask is answered by a
cheap fidelity first (NAS-Bench-201's 12-epoch validation accuracy, `TabularEvaluator.fidelity`),
and only the best `keep` share of the ask goes on to the full evaluation; the others are told
``skipped``. The cheap answers are not queries: the search counts them apart (``screened``) and
charges each `share` of a full evaluation (12/200 for a 12-epoch run of a 200-epoch benchmark), so
a result says what it cost in both currencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import Evaluator
from archlatent.journal import Journal


@dataclass
class Screen:
    """Screen each ask by `evaluator`'s `metric`, keeping the best `keep` share of its new
    architectures (at least one; an ask that would keep them all is left alone, unpaid); each cheap
    answer costs `share` of a full evaluation. `journal`
    keeps the cheap answers of a run, so a resumed run pays for none of them twice."""

    evaluator: Evaluator
    metric: str
    keep: float
    share: float
    journal: Journal | None = None

    def __post_init__(self) -> None:
        if isinstance(self.keep, bool) or not isinstance(self.keep, (int, float)) or not 0 < self.keep <= 1:
            raise ArchLatentError(f"screen keep must be a share in (0, 1], got {self.keep!r:.100}")
        if self.metric not in self.evaluator.metrics:
            raise ArchLatentError(f"the screen's evaluator gives no {self.metric!r}; it gives {sorted(self.evaluator.metrics)}")
        if not 0 <= self.share <= 1:
            raise ArchLatentError(f"a screen's answer must cost a share in [0, 1] of a full evaluation, got {self.share!r}")

    def kept(self, candidates: int) -> int:
        """How many of an ask's `candidates` new architectures go on to the full evaluation."""
        return max(1, math.ceil(self.keep * candidates - 1e-9)) if candidates else 0
