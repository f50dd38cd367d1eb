"""Which way each metric goes: accuracies (and zero-cost proxy scores) are maximized, costs minimized.

The direction is fixed by the metric's name, once, here: a user names objectives, never signs.
Test-set metrics are flagged so that a search refuses them unless asked explicitly (searching on
test accuracy is the classic leak of NAS benchmarks).
"""

from __future__ import annotations

from collections.abc import Sequence

from archlatent.errors import ArchLatentError


def maximized(metric: str) -> bool:
    """Whether larger is better: ``*_acc``, ``*_acc_*`` (accuracies) and ``zc_*`` (proxy scores)."""
    return metric.endswith("_acc") or "_acc_" in metric or metric == "acc" or metric.startswith("zc_")


def is_test_metric(metric: str) -> bool:
    """Whether `metric` is measured on a test split (``test_acc``, ``test_acc_12ep``, ...)."""
    return metric.startswith("test_") or "_test_" in metric


def check_objectives(
    objectives: Sequence[str], available: Sequence[str], *, allow_test: bool = False
) -> tuple[str, ...]:
    """`objectives` validated against an evaluator's `available` metrics; one clear error otherwise."""
    names = tuple(o.strip() for o in objectives)
    if not names or any(not n for n in names):
        raise ArchLatentError(f"objectives must be a non-empty comma list of metric names, got {list(objectives)!r}")
    if len(set(names)) != len(names):
        raise ArchLatentError(f"objectives name a metric twice: {list(names)}")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ArchLatentError(f"unknown objective {unknown[0]!r}; this evaluator reports: {', '.join(sorted(available))}")
    leaks = [n for n in names if is_test_metric(n)]
    if leaks and not allow_test:
        raise ArchLatentError(
            f"objective {leaks[0]!r} is a test-set metric; search on validation metrics, or pass "
            "--allow-test-objective (allow_test_objective = true) if you really mean it"
        )
    return names


def signed(metric: str, value: float) -> float:
    """`value` as a quantity to minimize (negated for maximized metrics)."""
    return -float(value) if maximized(metric) else float(value)
