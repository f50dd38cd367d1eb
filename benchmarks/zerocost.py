"""External check of the zero-cost proxies: Spearman rho of a proxy against a benchmark table's accuracy.

Scores ``--archs`` cells of the table drawn with ``--seed`` (all of them when 0) with the `zerocost`
evaluator (networks at their published sizes, NB201: C=16, N=5, 10 classes, 3x32x32; weights
initialized from ``--seed``) and prints the seconds per network and, as its last line,
``spearman=...`` (scipy.stats.spearmanr, ties averaged) of the proxy against ``--metric`` of
``--dataset`` (default CIFAR-10 ``test_acc``: trained on train+valid, tested on the test set).

Reference: Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), report rho = 0.737
for synflow over all 15,625 NB201 cells on CIFAR-10; their accuracy is NB201's ``cifar10-valid``
run's test accuracy (trained on the train half), which is not a column of our table; its ``valid_acc``
is that run's validation accuracy (``--metric valid_acc``), Spearman 0.984 with ``test_acc``.

    ARCHLATENT_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/zerocost.py \\
        --space nb201 --proxy synflow --archs 0 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from archlatent import get_space
from archlatent.evaluators.tables import load_table
from archlatent.evaluators.zerocost import ZeroCostEvaluator
from archlatent.genotype import Genotype
from archlatent.oneshot.proxies import PROXIES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="nb201", help="a space with a whole benchmark table (default nb201)")
    p.add_argument("--proxy", default="synflow", choices=list(PROXIES))
    p.add_argument("--archs", type=int, default=500, help="cells drawn from the table (0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw and of the networks' weights")
    p.add_argument("--bench", help="the table (default: $ARCHLATENT_DATA)")
    p.add_argument("--dataset", default="cifar10", help="the table's dataset (default cifar10)")
    p.add_argument("--metric", default="test_acc", help="the accuracy to rank against (default test_acc)")
    p.add_argument("--also", nargs="*", default=["valid_acc"],
                   help="other metrics to report rho against, on lines before the last (default valid_acc)")
    p.add_argument("--images", default="synthetic", help="images of the data-dependent proxies (default synthetic)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch for those (default 64)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", type=Path, help="write the scores and accuracies as JSON here")
    p.add_argument("--resume", type=Path, help="append each score to this file as JSON lines, and reuse the scores "
                                               "it holds (same arguments): a long run survives interruption")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    table = load_table(space.name, args.bench)
    accuracy = table.metrics(args.dataset)[args.metric]
    rows = np.arange(len(table.genotypes))
    if args.archs:
        rows = np.sort(np.random.default_rng(args.seed).choice(rows, size=min(args.archs, len(rows)), replace=False))
    evaluator = ZeroCostEvaluator(space, proxies=[args.proxy], seed=args.seed, images=args.images,
                                  batch_size=args.batch_size)
    scores, seconds, cpu = score_rows(evaluator, [table.genotypes[r] for r in rows], rows, args.resume)
    rho = float(stats.spearmanr(scores, accuracy[rows]).statistic)
    also = {m: float(stats.spearmanr(scores, table.metrics(args.dataset)[m][rows]).statistic) for m in args.also}
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows.tolist(),
                                        "scores": scores, "accuracy": accuracy[rows].tolist(), "spearman": rho,
                                        "also": also,
                                        "seconds": seconds, "cpu_seconds": cpu, "provenance": evaluator.provenance}) + "\n")
    print(f"networks={len(rows)} total_seconds={seconds:.1f} seconds_per_network={seconds / len(rows):.4f} "
          f"cpu_seconds_per_network={cpu / len(rows):.4f} device={evaluator.device} threads={torch.get_num_threads()}")
    for name, value in also.items():
        print(f"spearman_{name}={value:.4f}")
    print(f"spearman={rho:.4f}")
    return 0


def score_rows(
    evaluator: ZeroCostEvaluator, genotypes: list[Genotype], rows: np.ndarray, resume: Path | None
) -> tuple[list[float], float, float]:
    """The proxy of every genotype (those already in `resume` read back), and the wall-clock and CPU seconds
    all of them took (the recorded seconds of the ones read back included)."""
    metric = evaluator.metrics[0]
    done: dict[int, tuple[float, float, float]] = {}
    if resume is not None and resume.is_file():
        for line in resume.read_text().splitlines():
            record = json.loads(line)
            done[int(record["row"])] = (float(record["score"]), float(record["seconds"]), float(record["cpu_seconds"]))
    log = resume.open("a") if resume is not None else None
    scores, seconds, cpu, start = [], 0.0, 0.0, time.perf_counter()
    try:
        for i, (row, genotype) in enumerate(zip(rows.tolist(), genotypes)):
            if row not in done:
                wall, process = time.perf_counter(), time.process_time()
                value = evaluator.evaluate([genotype])[0][metric]
                done[row] = (value, time.perf_counter() - wall, time.process_time() - process)
                if log is not None:
                    log.write(json.dumps(dict(zip(("row", "score", "seconds", "cpu_seconds"), (row, *done[row])))) + "\n")
                    log.flush()
            scores.append(done[row][0])
            seconds += done[row][1]
            cpu += done[row][2]
            if (i + 1) % 500 == 0:
                print(f"{i + 1}/{len(rows)} cells, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    finally:
        if log is not None:
            log.close()
    return scores, seconds, cpu


if __name__ == "__main__":
    sys.exit(main())
