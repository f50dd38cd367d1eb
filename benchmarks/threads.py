"""How many torch threads the library's small models want: one thread vs all cores, idle and under load.

Each workload runs in a fresh process with ``torch.set_num_threads(T)``, once on an otherwise idle
machine and once beside `--load` busy-looping processes (another user's job). Times are wall-clock
seconds of the workload alone (imports and data loading excluded); compare them as ratios, measured
side by side in this one run.

    ARCHLATENT_DATA=../shared/data .venv/bin/python benchmarks/threads.py --out threads.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

WORKLOADS = ("pretrain", "embed", "search", "supernet")


def _busy(stop: float) -> None:
    while time.time() < stop:
        pass


def workload(name: str, threads: int) -> float:
    """Seconds of one workload at `threads` torch threads (run in a fresh process)."""
    import torch

    torch.set_num_threads(threads)
    from archlatent.encoders import preset, pretrain
    from archlatent.spaces import get_space

    space = get_space("nb201")
    settings = preset("nb201", "gin", epochs=2)
    if name == "pretrain":
        start = time.perf_counter()
        pretrain(space, "gin", seed=0, threads=threads, **settings)
        return time.perf_counter() - start
    model = pretrain(space, "gin", seed=0, threads=threads, **settings).model
    if name == "embed":
        genotypes = list(space.enumerate())
        batch = model.to_batch(genotypes)
        start = time.perf_counter()
        for _ in range(5):
            model.embed(batch)
        return time.perf_counter() - start
    if name == "search":
        from archlatent.evaluators.tables import load_table
        from archlatent.evaluators.tabular import TabularEvaluator
        from archlatent.search import search
        from archlatent.strategies import STRATEGIES

        table = load_table("nb201")
        start = time.perf_counter()
        for seed in range(3):
            # no stages (no neighbours, no ranking): the search measured here (0.2.0's)
            strategy = STRATEGIES.create("latent", space, model=model, optimizer="nao", seed=seed)
            search(space, strategy, TabularEvaluator(table, "cifar10"), 100, threads=threads)
        return time.perf_counter() - start
    from archlatent.oneshot.data import load_dataset
    from archlatent.oneshot.nets import build_supernet
    from archlatent.oneshot.train import train_supernet

    data = load_dataset("synthetic", n=512, seed=0)
    supernet = build_supernet("nb201", C=16, N=5)
    start = time.perf_counter()
    train_supernet(supernet, data, steps=8, batch_size=64, device="cpu")
    return time.perf_counter() - start


def measure(name: str, threads: int) -> float:
    code = f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import threads as t; print(t.workload({name!r}, {threads}))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="threads.json")
    parser.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy processes for the loaded runs")
    args = parser.parse_args()
    cores = os.cpu_count() or 2
    results: dict[str, dict[str, float]] = {}
    for loaded in (False, True):
        procs = []
        if loaded:
            stop = time.time() + 3600
            procs = [mp.Process(target=_busy, args=(stop,), daemon=True) for _ in range(args.load)]
            for p in procs:
                p.start()
        try:
            for name in WORKLOADS:
                for threads in (1, cores):
                    key = f"{name} {'loaded' if loaded else 'idle'} (load average {os.getloadavg()[0]:.1f})"
                    results.setdefault(key, {})[f"{threads} thread(s)"] = measure(name, threads)
                    print(key, threads, results[key][f"{threads} thread(s)"], flush=True)
        finally:
            for p in procs:
                p.terminate()
    with open(args.out, "w") as f:
        json.dump({"cores": cores, "load_processes": args.load, "seconds": results}, f, indent=2)


if __name__ == "__main__":
    main()
