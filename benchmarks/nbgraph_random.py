"""Random search's exact expected queries until the best-validation class of each NAS-Bench-Graph dataset.

Prints one JSON object. Run from the repository root (needs ``pip install 'archlatent[bench]'``):

    .venv/bin/python benchmarks/nbgraph_random.py

Per dataset: the best-validation cell and its test accuracy, that cell's rank by test accuracy, and the
expected number of distinct classes uniform random search evaluates until it first evaluates the
best-validation class (`archlatent.benchmark.random_first_hit`), for the library's sampler (each class
equally likely: (N + 1) / 2) and, beside it, for a sampler uniform over the 157,440 raw cells (a class
as likely as it has raw cells; proteins: the 14,976 raw cells of its five ops).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np

from archlatent.benchmark import random_first_hit
from archlatent.evaluators.tables import load_table
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.spaces import get_space
from archlatent.spaces.nbgraph import LINK_PATTERNS, OPS, PROTEINS_OPS, SKIP, canonical
from archlatent.spaces.pool import PoolSpace


def raw_counts(ops: tuple[str, ...]) -> Counter:
    """Raw cells per class (by canonical cell) over the raw cells whose ops are among `ops`."""
    return Counter(canonical(links, o) for links in LINK_PATTERNS for o in itertools.product(ops, repeat=4)
                   if any(op != SKIP for op in o))


def expected_first_hit(counts: Counter, target: tuple) -> float:
    """1 + sum over the other classes i of p_i / (p_i + p_target), p proportional to `counts`."""
    total = sum(counts.values())
    p = counts[target] / total
    return 1.0 + sum((c / total) / (c / total + p) for k, c in counts.items() if k != target)


def main() -> None:
    table = load_table("nbgraph")
    base = get_space("nbgraph")
    raw = {"full": raw_counts(OPS), "proteins": raw_counts(PROTEINS_OPS)}
    out = {}
    for dataset in table.datasets:
        evaluator = TabularEvaluator(table, dataset)
        pool = evaluator.pool
        space = base if pool is None else PoolSpace(base, pool)
        best, valid = evaluator.best("valid_acc")
        test = evaluator.columns["test_acc"][evaluator.held]
        ties = int((evaluator.columns["valid_acc"][evaluator.held] == valid).sum())
        best_test = evaluator.evaluate([best])[0]["test_acc"]
        counts = raw["proteins" if dataset == "proteins" else "full"]
        out[dataset] = {
            "classes": space.size(),
            "best_valid_arch": base.format(best),
            "best_valid_acc": round(valid, 3),
            "classes_at_best_valid": ties,
            "its_test_acc": round(best_test, 3),
            "best_test_acc": round(float(test.max()), 3),
            "its_rank_by_test": int((test > best_test).sum()) + 1,
            "random_expected_first_hit": round(random_first_hit(space, best.key()), 1),
            "raw_uniform_expected_first_hit": round(expected_first_hit(counts, base.links_ops(best)), 1),
            "raw_cells_of_its_class": counts[base.links_ops(best)],
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
