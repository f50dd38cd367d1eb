"""Benchmark of the latent autoencoders: reconstruction, speed, throughput and ranking.

Prints one JSON object (also written to --out if given). Run from the repository root:

    ARCHLATENT_DATA=/path/to/tables .venv/bin/python benchmarks/encoders.py [--quick] [--threads N]

What it measures, per encoder:
  * NB201, whole space (15,625 cells -> 8,765 keys, 10 % held out): wall and process time of
    `pretrain` (data preparation and training loop apart), the training time at which held-out exact
    reconstruction first reaches 99.9 %, recon_exact, valid_prior, unique_prior;
  * embedding all 15,625 NB201 cells: from a built ArchBatch (here, and in a new process that loads
    the saved checkpoint), from genotypes (already canonical), from genotypes with canonicalization,
    and `space.to_tensors` alone;
  * `reconstruct` throughput on 100,000 N(0, I) points, validity and key included: in a fresh
    process (new space instance: every distinct decode converted and keyed), cold (fresh model cache,
    the space's genotypes already keyed by pretraining) and warm (second call); decode time and
    key() cost apart;
  * score head from 100 labelled NB201 cells (cifar10_valid_acc): Kendall tau on every other
    architecture (key level, the metric `pretrain` reports) and on every other cell;
  * NB101 and DARTS held-out reconstruction (random cells from each space's sampler).
The machine's state is recorded (load average, a calibration op), as timings on a shared CPU vary.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

from archlatent import SPACES, __version__, get_space
from archlatent.encoders import ENCODERS, build_encoder, make_dataset, preset, pretrain

#: Training configurations: the library's presets (what `archlatent pretrain` uses by default).
NB201 = {name: preset("nb201", name) for name in ENCODERS.names()}
#: Ranking runs: the same models and training, plus 100 labels (default margin 1.0).
TAU = NB201
#: NB101 and DARTS: random cells from each space's sampler.
OTHER = ("nb101", "darts")
TARGET = 0.999


def machine() -> dict[str, Any]:
    x = torch.randn(1 << 20)
    x.relu()
    t = time.perf_counter()
    for _ in range(20):
        x.relu()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "archlatent": __version__,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "relu_1M_ms": round((time.perf_counter() - t) / 20 * 1000, 3),
    }


def read_table(path: Path) -> dict[str, float]:
    with gzip.open(path, "rt", newline="") as f:
        return {row["arch"]: float(row["cifar10_valid_acc"]) for row in csv.DictReader(f)}


def best_of(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def nb201_run(name: str, cfg: dict[str, Any], seed: int) -> tuple[Any, dict[str, Any]]:
    space = get_space("nb201")
    wall, cpu = time.perf_counter(), time.process_time()
    model, metrics, curves = pretrain(space, name, seed=seed, threads=0, **cfg)  # threads: as --threads set them
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    first = next((c for c in curves if c["heldout_exact"] >= TARGET), None)
    out = {
        "config": cfg,
        "pretrain_wall_s": round(wall, 2),
        "pretrain_cpu_s": round(cpu, 2),
        "data_s": round(metrics["data_seconds"], 2),
        "train_loop_s": round(metrics["train_seconds"], 2),
        "reach_999_epoch": first and first["epoch"],
        "reach_999_train_s": first and round(first["seconds"], 2),
        "reach_999_incl_data_s": first and round(first["seconds"] + metrics["data_seconds"], 2),
        "reach_999_train_cpu_s": first and round(first["cpu_seconds"], 2),
        "heldout_curve": [round(c["heldout_exact"], 4) for c in curves],
        **{k: metrics[k] for k in ("recon_exact", "valid_prior", "unique_prior", "train_size", "heldout_size")},
    }
    return model, out


def embed_speed(model) -> dict[str, Any]:
    space = model.space
    gs = list(space.enumerate())
    canon = [space.canonicalize(g) for g in gs]
    batch = space.to_tensors(gs)
    return {
        "cells": len(gs),
        "from_batch_s": round(best_of(lambda: model.embed(batch)), 4),
        "from_batch_fresh_process_s": fresh_embed_speed(model),
        "from_canonical_genotypes_s": round(best_of(lambda: model.embed(canon, canonicalize=False)), 4),
        "from_genotypes_with_canonicalize_s": round(best_of(lambda: model.embed(gs), repeat=3), 4),
        "to_tensors_s": round(best_of(lambda: space.to_tensors(canon)), 4),
        "canonicalize_s": round(best_of(lambda: [space.canonicalize(g) for g in gs], repeat=3), 4),
    }


_FRESH_EMBED = """
import json, sys, time
from archlatent.encoders import load
model = load(sys.argv[1])
batch = model.space.to_tensors(list(model.space.enumerate()))
model.embed(batch)
times = []
for _ in range(9):
    t = time.perf_counter()
    model.embed(batch)
    times.append(time.perf_counter() - t)
print(json.dumps(min(times)))
"""


def fresh_embed_speed(model) -> float:
    """Best of 9 embeddings of the whole space from an ArchBatch, in a new process that loads the
    model's checkpoint: what a user's script sees (in this process, after training, the same call
    runs ~30 % slower)."""
    import subprocess
    import tempfile

    from archlatent.encoders import save

    with tempfile.TemporaryDirectory() as tmp:
        save(model, tmp)
        done = subprocess.run([sys.executable, "-c", _FRESH_EMBED, tmp], capture_output=True, text=True, check=True)
    return round(float(done.stdout), 4)


def reconstruct_speed(model, n: int = 100_000) -> dict[str, Any]:
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(0))
    model.clear_cache()

    def run() -> tuple[float, list]:
        t = time.perf_counter()
        out = model.reconstruct(z)
        keys = [g.key() for g in out if g is not None]
        return time.perf_counter() - t, keys

    cold, keys = run()
    warm, _ = run()
    # a model on a fresh space instance: no genotype (hence no key) made yet, as in a new process
    fresh_model = build_encoder(get_space(model.space.name), model.name, **model.hparams)
    fresh_model.load_state_dict(model.state_dict())
    t = time.perf_counter()
    fresh_keys = [g.key() for g in fresh_model.reconstruct(z) if g is not None]
    fresh_s = time.perf_counter() - t
    assert len(fresh_keys) == len(keys)
    with torch.no_grad():
        t = time.perf_counter()
        model.decode_tensors(z)
        decode = time.perf_counter() - t
    # the one-time costs of the cold run: converting each distinct decoded row and computing its key
    distinct = len(set(keys))
    sample = model.reconstruct(z[:2000])
    fresh = [g for g in {id(g): g for g in sample if g is not None}.values()]
    fresh = [type(g)(g.space, g.cells) for g in fresh]  # new objects: no cached key
    t = time.perf_counter()
    for g in fresh:
        g.key()
    key_us = (time.perf_counter() - t) / max(1, len(fresh)) * 1e6
    return {
        "points": n,
        "fresh_process_points_per_s": round(n / fresh_s),
        "cold_points_per_s": round(n / cold),
        "warm_points_per_s": round(n / warm),
        "valid_fraction": round(len(keys) / n, 4),
        "distinct_keys": distinct,
        "decode_only_s": round(decode, 3),
        "cold_s": round(cold, 3),
        "fresh_process_s": round(fresh_s, 3),
        "key_us_per_genotype": round(key_us, 1),
    }


def tau_run(name: str, cfg: dict[str, Any], table: dict[str, float], seed: int) -> dict[str, Any]:
    space = get_space("nb201")
    cells = [space.parse(a) for a in table]
    labels = {g: table[a] for g, a in zip(cells, table)}
    model, metrics, _ = pretrain(space, name, labels=labels, label_budget=100, seed=seed, threads=0, **cfg)
    # per cell: every cell whose key was not among the 100 labelled ones
    used = set(make_dataset(space, samples=None, seed=seed, labels=labels, label_budget=100).train_labels)
    rest = [g for g in cells if g.key() not in used]
    scores = model.predict(rest).numpy()
    per_cell = kendalltau(scores, [labels[g] for g in rest]).statistic
    return {
        "seed": seed,
        "label_queries": metrics["label_queries"],
        "kendall_tau_keys": round(metrics["kendall_tau"], 4),
        "keys": metrics["tau_archs"],
        "kendall_tau_cells": round(float(per_cell), 4),
        "cells": len(rest),
        "recon_exact": metrics["recon_exact"],
    }


def tau_entry(name: str, table_path: Path, seeds: list[int], result: dict[str, Any]) -> Any:
    """The 'tau' part for encoder `name` (the table's sha256 goes into `result`)."""
    if not table_path.is_file():
        return f"skipped: {table_path} not found (set ARCHLATENT_DATA or --table)"
    table = read_table(table_path)
    result["table_sha256"] = hashlib.sha256(table_path.read_bytes()).hexdigest()
    runs = [tau_run(name, TAU[name], table, s) for s in seeds]
    tau = {
        "config": TAU[name],
        "runs": runs,
        "mean_kendall_tau_keys": round(float(np.mean([r["kendall_tau_keys"] for r in runs])), 4),
        "mean_kendall_tau_cells": round(float(np.mean([r["kendall_tau_cells"] for r in runs])), 4),
    }
    print(f"{name} tau: {tau}", file=sys.stderr, flush=True)
    return tau


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=ENCODERS.names())
    parser.add_argument("--parts", nargs="+", default=["nb201", "embed", "reconstruct", "tau", "other"])
    parser.add_argument("--spaces", nargs="+", default=list(OTHER), help="spaces of the 'other' part")
    parser.add_argument("--tau-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--table", type=Path, default=None, help="nasbench201.csv.gz (default: $ARCHLATENT_DATA)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"machine": machine(), "target": TARGET, "encoders": {}}
    datasets: dict[str, Any] = {}
    table_path = args.table or Path(os.environ.get("ARCHLATENT_DATA", ".")) / "nasbench201.csv.gz"
    for name in args.encoders:
        entry: dict[str, Any] = {}
        result["encoders"][name] = entry
        model = None
        if {"nb201", "embed", "reconstruct"} & set(args.parts):
            model, entry["nb201"] = nb201_run(name, NB201[name], args.seed)
            print(f"{name} nb201: {entry['nb201']}", file=sys.stderr, flush=True)
        if "embed" in args.parts:
            entry["embed"] = embed_speed(model)
            print(f"{name} embed: {entry['embed']}", file=sys.stderr, flush=True)
        if "reconstruct" in args.parts:
            entry["reconstruct"] = reconstruct_speed(model)
            print(f"{name} reconstruct: {entry['reconstruct']}", file=sys.stderr, flush=True)
        if "tau" in args.parts:
            entry["tau"] = tau_entry(name, table_path, args.tau_seeds, result)
        if "other" in args.parts:
            for space_name in OTHER:
                if space_name not in SPACES or space_name not in args.spaces:
                    continue
                cfg = preset(space_name, name)
                wall = time.perf_counter()
                if space_name not in datasets:  # the same architectures for every encoder
                    datasets[space_name] = make_dataset(get_space(space_name), samples=cfg["samples"], seed=args.seed)
                data_s = time.perf_counter() - wall
                _, metrics, curves = pretrain(space_name, name, seed=args.seed, data=datasets[space_name], threads=0, **cfg)
                entry[space_name] = {
                    "config": cfg,
                    "pretrain_wall_s": round(time.perf_counter() - wall, 1),
                    "data_s": round(data_s, 1),
                    "heldout_curve": [round(c["heldout_exact"], 4) for c in curves],
                    **{
                        k: metrics[k]
                        for k in ("recon_exact", "valid_prior", "unique_prior", "train_size", "heldout_size")
                    },
                }
                print(f"{name} {space_name}: {entry[space_name]}", file=sys.stderr, flush=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
