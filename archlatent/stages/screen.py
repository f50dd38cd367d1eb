"""The screen: a cheap first look at each ask's new architectures, so only the best get the full evaluation.

One rung of successive halving (Jamieson & Talwalkar, AISTATS 2016; Li et al., "Hyperband", JMLR
2018) between a strategy's ask and the evaluator: every new architecture of an ask is answered by a
cheap fidelity first (NAS-Bench-201's 12-epoch validation accuracy, `TabularEvaluator.fidelity`),
and only the best `keep` share of the ask goes on to the full evaluation; the others are told
``screened`` with their cheap answer (`Ask.cheap`), for the strategy to use or not. The cheap
answers are not queries: the search counts them apart (``screened``) and charges each `share` of a
full evaluation (12/200 for a 12-epoch run of a 200-epoch benchmark), so a result says what it cost
in both currencies. A zero-cost proxy can be the cheap answer instead (``--screen zc_synflow``,
`archlatent.evaluators.proxy_fidelity`): each of its answers then carries its own share
(``screen_share``: its measured seconds over the cell's training time).
"""

from __future__ import annotations

import math

from archlatent.checks import is_number
from archlatent.errors import ArchLatentError
from archlatent.evaluation import Answers, SearchError
from archlatent.evaluators.base import Evaluator
from archlatent.evaluators.proxy_fidelity import SHARE
from archlatent.journal import Journal
from archlatent.objectives import signed
from archlatent.stages.base import STAGES, Ask, Context, Stage


@STAGES.register("screen")
class Screen(Stage):
    """Answer each ask's new architectures cheaply first and pass on only the best share.

    `evaluator`'s `metric` answers them; the best `keep` share of them go on (at least one; an ask
    that would keep them all is left alone, unpaid); each cheap answer costs `share` of a full
    evaluation, or the share it carries itself (``screen_share``, a proxy's answers). `journal` keeps the cheap answers of a run, so a
    resumed run pays for none of them twice."""

    cheap = True

    def __init__(self, evaluator: Evaluator, metric: str, keep: float, share: float, journal: Journal | None = None) -> None:
        if not is_number(keep) or not 0 < keep <= 1:
            raise ArchLatentError(f"screen keep must be a share in (0, 1], got {keep!r:.100}")
        if metric not in evaluator.metrics:
            raise ArchLatentError(f"the screen's evaluator gives no {metric!r}; it gives {sorted(evaluator.metrics)}")
        if not 0 <= share <= 1:
            raise ArchLatentError(f"a screen's answer must cost a share in [0, 1] of a full evaluation, got {share!r}")
        self.evaluator, self.metric, self.keep, self.share, self.journal = evaluator, metric, keep, share, journal
        self.answers: dict[str, float] = {}  # the cheap answers so far, by key
        self._source: Answers | None = None

    def kept(self, candidates: int) -> int:
        """How many of an ask's `candidates` new architectures go on to the full evaluation."""
        return max(1, math.ceil(self.keep * candidates - 1e-9)) if candidates else 0

    def __call__(self, ask: Ask, ctx: Context) -> Ask:
        pending = ask.new(ctx.seen)
        if self.kept(len(pending)) >= len(pending):
            return ask
        fresh = [g for k, g in pending.items() if k not in self.answers]
        if self._source is None:
            self._source = Answers(ctx.space, self.evaluator, ctx.executor, self.journal)
        answers = self._source([ctx.space.canonicalize(g) for g in fresh]) if fresh else {}
        for g in fresh:
            if self.metric not in answers[g.key()]:
                raise SearchError(f"the screen gives no {self.metric!r} for {ctx.space.format(g)[:200]}")
            self.answers[g.key()] = answers[g.key()][self.metric]
            ctx.screened += 1
            ctx.screen_cost += float(answers[g.key()].get(SHARE, self.share))
        ask.cheap.update({k: {self.metric: self.answers[k]} for k in pending})
        best = sorted(pending, key=lambda k: signed(self.metric, self.answers[k]))  # stable: ties keep ask order
        kept = set(best[: self.kept(len(pending))])
        rank = {k: i for i, k in enumerate(best)}
        first = sorted((i for i in ask.order if _key(ask, i) in kept), key=lambda i: rank[_key(ask, i)])
        ask.dropped |= {i for i in ask.order if _key(ask, i) in pending and _key(ask, i) not in kept}
        ask.order = first + [i for i in ask.order if i not in set(first)]
        return ask


def _key(ask: Ask, i: int) -> str | None:
    g = ask.genotypes[i]
    return None if g is None else g.key()
