"""A zero-cost proxy as a screen's cheap answer: `--screen zc_synflow` where no short-training column exists.

The screen (`archlatent.stages.screen`) answers each ask's new architectures cheaply first and passes
on only the best share. NAS-Bench-201's cheap answer is its 12-epoch column; a supernet, ``train-final``
or a user's table has none, but every architecture with a standalone network (`archlatent.oneshot.nets`)
has zero-cost proxy scores (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021).
A proxy answer is charged what it cost: its measured seconds, as a share of what the full evaluation
of that cell costs where the evaluator knows it free (a table's recorded training time,
`Evaluator.answer_seconds`); elsewhere its seconds are reported (``screen_seconds``) and its share in
full evaluations is 0. The per-answer charge is ours; the paper ranks by the proxy alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import Evaluator
from archlatent.evaluators.zerocost import ZeroCostEvaluator
from archlatent.genotype import Genotype
from archlatent.oneshot.proxies import PROXIES
from archlatent.spaces.base import SearchSpace

#: The metric a proxy answer's share of one full evaluation travels under (with the score, so a journal keeps it).
SHARE = "screen_share"


def proxy_name(metric: str) -> str | None:
    """The proxy a screen metric names (``zc_synflow`` -> ``synflow``), None for any other metric."""
    return next((name for name, p in PROXIES.items() if p.metric == metric and metric.startswith("zc_")), None)


def is_proxy_metric(metric: str) -> bool:
    """Whether `metric` is a zero-cost proxy's score (``zc_<proxy>``) a screen can answer with."""
    return proxy_name(metric) is not None


class ProxyFidelity(Evaluator):
    """Answers one proxy score per architecture and its share of `full`'s evaluation of that architecture.

    The score comes from a `ZeroCostEvaluator` of `space` (networks initialized from `seed`; the
    data-dependent proxies take its synthetic batch unless `proxy_settings` say otherwise); each
    answer is charged its wall-clock seconds here, and ``screen_share`` = those seconds over the
    seconds `full` records for the cell (0 where it records none)."""

    name = "proxy-fidelity"

    def __init__(self, space: SearchSpace, full: Evaluator, metric: str, *, seed: int = 0,
                 proxy_settings: dict[str, Any] | None = None) -> None:
        super().__init__()
        proxy = proxy_name(metric)
        if proxy is None:
            known = ", ".join(p.metric for p in PROXIES.values() if p.metric.startswith("zc_"))
            raise ArchLatentError(f"no zero-cost proxy answers {metric!r}; proxy screens: {known}")
        self.space_name, self.metric, self.full = space.name, metric, full
        self.proxy = ZeroCostEvaluator(space, proxies=[proxy], seed=seed, **(proxy_settings or {}))

    @classmethod
    def from_config(cls, space: SearchSpace, *, dataset: str, seed: int = 0, **kwargs: Any) -> ProxyFidelity:
        raise ArchLatentError("a proxy fidelity is built by the screen (--screen zc_<proxy>), not by name")

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.metric, SHARE)

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[dict[str, float]]:
        self.check(genotypes)
        full = self.full.answer_seconds(genotypes)
        out = []
        for i, genotype in enumerate(genotypes):
            start = time.perf_counter()
            score = self.proxy.scores(genotype)[self.metric]
            seconds = time.perf_counter() - start
            self.cost.charge(seconds)
            share = seconds / full[i] if full is not None and full[i] > 0 else 0.0
            out.append({self.metric: score, SHARE: min(1.0, share)})
        return out

    @property
    def provenance(self) -> dict[str, Any]:
        return {"proxy": self.metric, **self.proxy.provenance}
