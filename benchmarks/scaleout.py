"""Scale-out benchmark: the Ray executor (supernet and tabular evaluations) and DDP supernet training (gloo).

1. The same `evals` supernet evaluations (random search, seed 0, NB201; a small supernet trained here on
   synthetic data) with the local executor, Ray with 1 worker and Ray with 2 workers: search wall time
   (Ray start-up reported apart), ratio to local, and whether the history is the same. ``evaluation_s``
   sums the seconds the evaluations themselves took (in the workers); ``busy_share`` is that over
   workers x wall time: below 1 on a machine whose cores other jobs are using too.
2. Overhead per task: `tabular_evals` tabular evaluations (microseconds of work each) per executor, tasks/s.
3. One supernet epoch on 1 vs 2 gloo processes (torchrun, same global batch): seconds, their ratio, and
   how far the per-step global-batch losses of the two runs are apart.
4. A Ray worker killed with SIGKILL mid-search (its PID found with ``ps``): the search finishes, and the
   journal holds each architecture exactly once, the history equal to the local run's.
A GPU run (``--gpus-per-eval 1``) needs a GPU; this script reports it as not measured without one.

Prints (and with --out writes) one JSON document with every figure and the settings. From the repo root:
``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scaleout.py --out scaleout.json`` (about 8 minutes on 2
CPU cores; ``--quick`` for a smoke run). Needs the ray extra and $ARCHLATENT_DATA (the NB201 table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archlatent import get_space
from archlatent.evaluators.supernet import SupernetEvaluator
from archlatent.evaluators.tables import load_table
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.executors import EXECUTORS
from archlatent.journal import Journal
from archlatent.oneshot.checkpoints import save_supernet
from archlatent.oneshot.data import DataSpec
from archlatent.oneshot.distributed import session
from archlatent.oneshot.nets import build_supernet
from archlatent.oneshot.train import train_supernet
from archlatent.search import search
from archlatent.strategies import STRATEGIES

FULL = {
    "evals": 40,
    "tabular_evals": 400,
    "synthetic_n": 2000,
    "supernet": {"C": 8, "N": 1},
    "supernet_steps": 30,
    "recal_batches": 4,
    "eval_batch": 128,
    "ddp_synthetic_n": 4000,
    "ddp_batch": 64,
    "seed": 0,
}
QUICK = FULL | {"evals": 8, "tabular_evals": 48, "synthetic_n": 400, "supernet_steps": 4, "ddp_synthetic_n": 800}
EXECUTOR_CASES = (("local", {}), ("ray", {"workers": 1}), ("ray", {"workers": 2}))
SPACE = get_space("nb201")


def supernet_evaluator(cfg: dict[str, Any], folder: Path) -> SupernetEvaluator:
    """A small NB201 supernet trained briefly here, loaded back as `search` would (from its checkpoint)."""
    spec = DataSpec("synthetic", None, 0.5, cfg["seed"], cfg["synthetic_n"])
    net = build_supernet("nb201", seed=cfg["seed"], **cfg["supernet"])
    train_supernet(net, spec.load(), steps=cfg["supernet_steps"], batch_size=64, seed=cfg["seed"], device="cpu")
    path = folder / "supernet.pt"
    save_supernet(path, net, spec, {"benchmark": "scaleout"})
    return SupernetEvaluator.from_checkpoint(path, SPACE, device="cpu", recal_batches=cfg["recal_batches"],
                                             batch_size=cfg["eval_batch"])


def timed_search(evaluator: Any, name: str, settings: dict[str, Any], budget: int, seed: int,
                 journal: Journal | None = None, during: Any = None) -> dict[str, Any]:
    """One random search through executor `name`: start-up and search seconds, the history.

    Start-up is building the executor (Ray: starting a local Ray) plus a warm-up batch of one evaluation
    per worker, which starts the workers and ships them the evaluator; the search is timed after it.
    """
    start = time.perf_counter()
    executor = EXECUTORS.create(name, **settings)
    rng = np.random.default_rng(10**6)
    list(executor.run(evaluator, [SPACE.sample(rng) for _ in range(settings.get("workers", 1))]))
    startup = time.perf_counter() - start
    watcher = threading.Thread(target=during, args=(executor,), daemon=True) if during else None
    if watcher:
        watcher.start()
    try:
        start, charged = time.perf_counter(), evaluator.cost.seconds
        result = search(SPACE, STRATEGIES.get("random")(SPACE, seed=seed), evaluator, budget, executor=executor,
                        journal=journal)
        seconds, charged = time.perf_counter() - start, evaluator.cost.seconds - charged
        pids = executor.pids() if name == "ray" else []
    finally:
        executor.close()
    if watcher:
        watcher.join()
    return {"executor": name, **settings, "startup_s": startup, "search_s": seconds, "evals_per_s": budget / seconds,
            "evaluation_s": charged, "busy_share": charged / (seconds * settings.get("workers", 1)),
            "worker_pids_after": pids, "history": result.history}


def executors(evaluator: Any, budget: int, seed: int) -> list[dict[str, Any]]:
    """`timed_search` for every executor case; ratios to the local run; history equality."""
    runs = [timed_search(evaluator, name, settings, budget, seed) for name, settings in EXECUTOR_CASES]
    for run in runs:
        run["speedup_vs_local"] = runs[0]["search_s"] / run["search_s"]
        run["same_history_as_local"] = run["history"] == runs[0]["history"]
    return runs


def kill_a_worker(evaluator: Any, budget: int, seed: int, folder: Path, reference: list[dict[str, Any]]) -> dict:
    """SIGKILL one Ray worker once a quarter of the budget is journaled; check the journal afterwards."""
    path, killed = folder / "kill.sqlite", {}

    def killer(executor: Any) -> None:
        while True:
            with sqlite3.connect(path) as db:  # the search's journal, read beside it
                done = db.execute("SELECT COUNT(*) FROM evals").fetchone()[0]
            if done >= budget // 4:
                break
            time.sleep(0.2)
        lines = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
        workers = [int(line.split()[0]) for line in lines.splitlines() if "ray::EvaluatorWorker" in line]
        killed.update(pid=workers[0], workers_seen=workers, after_evals=done)
        os.kill(workers[0], signal.SIGKILL)

    journal = Journal(path, {"benchmark": "kill"})
    try:
        run = timed_search(evaluator, "ray", {"workers": 2}, budget, seed, journal=journal, during=killer)
    finally:
        journal.close()
    with sqlite3.connect(path) as db:
        rows, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM evals").fetchone()
    return {**killed, "search_s": run["search_s"], "worker_pids_after": run["worker_pids_after"],
            "journal_rows": rows, "journal_distinct_keys": distinct, "budget": budget,
            "killed_pid_replaced": killed.get("pid") not in run["worker_pids_after"],
            "same_history_as_local": run["history"] == reference}


def ddp_rank(args: argparse.Namespace) -> None:
    """One torchrun rank: a supernet epoch; rank 0 writes seconds and the per-step global losses."""
    torch.set_num_threads(1)
    cfg = QUICK if args.quick else FULL
    data = DataSpec("synthetic", None, 0.5, cfg["seed"], cfg["ddp_synthetic_n"]).load()
    net = build_supernet("nb201", seed=cfg["seed"], **cfg["supernet"])
    losses: list[float] = []
    with session("cpu") as (dist, device):
        stats = train_supernet(net, data, epochs=1, batch_size=cfg["ddp_batch"], seed=cfg["seed"], device=device,
                               dist=dist, progress=lambda info: losses.append(info["loss"]))
        if dist.is_main:
            Path(args.json).write_text(json.dumps({"stats": stats, "losses": losses}))


def ddp(quick: bool, folder: Path) -> dict[str, Any]:
    """The supernet epoch under torchrun with 1 and 2 gloo processes, side by side."""
    runs = {}
    for k in (1, 2):
        out = folder / f"ddp{k}.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(k),
                   __file__, "ddp-rank", "--json", str(out), *(["--quick"] if quick else [])]
        subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        runs[k] = json.loads(out.read_text())
    one, two = (np.array(runs[k]["losses"]) for k in (1, 2))
    gap = np.abs(one - two)
    return {
        "command": "torchrun --standalone --nproc-per-node K benchmarks/scaleout.py ddp-rank",
        "steps": len(one),
        "global_batch": runs[1]["stats"]["batch_size"],
        "seconds": {k: runs[k]["stats"]["seconds"] for k in (1, 2)},
        "speedup_2_vs_1": runs[1]["stats"]["seconds"] / runs[2]["stats"]["seconds"],
        "loss_first": [float(one[0]), float(two[0])],
        "loss_final_tail_mean": [runs[k]["stats"]["final_loss"] for k in (1, 2)],
        "loss_abs_gap_max": float(gap.max()),
        "loss_abs_gap_mean": float(gap.mean()),
        "loss_rel_gap_mean": float((gap / one).mean()),
        "loss_correlation": float(np.corrcoef(one, two)[0, 1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="all", choices=("all", "ddp-rank"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, help="write the JSON document here too")
    parser.add_argument("--json", help=argparse.SUPPRESS)  # ddp-rank: where rank 0 writes
    args = parser.parse_args()
    if args.mode == "ddp-rank":
        ddp_rank(args)
        return
    torch.set_num_threads(1)
    cfg = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        supernet = supernet_evaluator(cfg, folder)
        supernet_runs = executors(supernet, cfg["evals"], cfg["seed"])
        tabular = TabularEvaluator(load_table("nb201", None), "cifar10")  # the table $ARCHLATENT_DATA holds
        tabular_runs = executors(tabular, cfg["tabular_evals"], cfg["seed"])
        killed = kill_a_worker(supernet, cfg["evals"], cfg["seed"], folder, supernet_runs[0]["history"])
        ddp_figures = ddp(args.quick, folder)
    drop = ("history",)
    doc = {
        "settings": cfg,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_at_end": os.getloadavg()},
        "supernet_evaluations": [{k: v for k, v in r.items() if k not in drop} for r in supernet_runs],
        "tabular_overhead": [{k: v for k, v in r.items() if k not in (*drop, "evaluation_s", "busy_share")}
                             for r in tabular_runs],  # a table's charges are recorded training times, not work done
        "kill_9_worker": killed,
        "ddp_supernet_epoch": ddp_figures,
        "gpu": "not measured (no GPU here); run with --gpus-per-eval 1 on a machine with one",
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
