"""Run records of the NB201 default, to show that a change of the code changes no behaviour.

For one pretraining seed (one shared pretrained model, as `archlatent benchmark` shares it, written
to ``OUT/shared/model`` by the first tree and read back by every tree) and
search seeds 0..N-1, runs the NB201 default and ``--screen none`` and writes, per run, the history's
keys in order, the queries, the screen's count and cost, the best and the search loop's seconds to
JSON. With ``--tree DIR`` (repeatable) each tree's code runs in its own process, one after the
other, and the records are compared: identical records (seconds aside) print ``identical``, and the
seconds of the search loops are printed side by side (their ratio to the first tree's)::

    ARCHLATENT_DATA=/work/shared/data .venv/bin/python benchmarks/records.py --seeds 20 \\
        --tree /tmp/archlatent-0.6.0 --tree . --out /tmp/records

A tree is a checkout of the repository; its ``encoders``/``optimizers`` folders are found as
``archlatent.encoders``/``archlatent.optimizers`` through links this script makes in
``OUT/trees`` (the checkout itself is not touched).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CONFIGS = {"default": {}, "screen-none": {"screen": "none"}}


def records(seeds: int, pretrain_seed: int, budget: int, model: Path) -> dict[str, Any]:
    """{config name: [one record per search seed]} for the code on sys.path; the pretrained model is
    read from `model` (pretrained and written there first when it holds none), so every tree searches
    with the same weights."""
    import torch

    from archlatent import SearchConfig
    from archlatent.run import build, run_search

    torch.set_num_threads(1)
    base = SearchConfig(space="nb201", budget=budget, seed=pretrain_seed)
    build(base.replace(out=str(model)))  # pretrains into MODEL/model unless it holds one
    shared = build(base.replace(out=str(model)))  # read back: the weights every tree searches with
    out: dict[str, Any] = {}
    for name, changes in CONFIGS.items():
        runs = out[name] = []
        for seed in range(seeds):
            config = base.replace(seed=seed, **changes)
            parts = build(config, model=shared.model, labelled=shared.labelled)
            result = run_search(config, parts=parts)
            runs.append({"seed": seed, "keys": [e["key"] for e in result.history], "queries": result.queries,
                         "screened": result.screened, "screen_cost": result.screen_cost,
                         "best": result.best["key"], "best_valid_acc": result.best["valid_acc"],
                         "best_test_acc": result.best.get("test_acc"), "stopped": result.stopped,
                         "seconds": result.seconds})
    return out


def tree_path(tree: Path, out: Path, index: int) -> Path:
    """A folder to put on sys.path for `tree`: archlatent, with encoders/optimizers linked inside."""
    root = out / "trees" / str(index)
    pkg = root / "archlatent"
    if root.exists():
        for link in root.rglob("*"):
            if link.is_symlink():
                link.unlink()
    pkg.mkdir(parents=True, exist_ok=True)
    for entry in (tree / "archlatent").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry.resolve())
    for name in ("encoders", "optimizers"):
        if not (pkg / name).exists():
            (pkg / name).symlink_to((tree / name).resolve())
    return root


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Where two trees' records differ (seconds aside)."""
    diffs = []
    for name in CONFIGS:
        for ra, rb in zip(a[name], b[name], strict=True):
            for k in ra:
                if k != "seconds" and ra[k] != rb[k]:
                    diffs.append(f"{name} seed {ra['seed']}: {k} differs")
    return diffs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--pretrain-seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=150)
    p.add_argument("--tree", type=Path, action="append", default=[], help="a checkout to run (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="folder for the records (one JSON per tree)")
    p.add_argument("--model", type=Path, help="folder of the shared pretrained model (default OUT/shared)")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: run the code on sys.path
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = (args.model or args.out / "shared").resolve()
    model.mkdir(parents=True, exist_ok=True)
    if args.one or not args.tree:
        doc = records(args.seeds, args.pretrain_seed, args.budget, model)
        (args.out / "records.json").write_text(json.dumps(doc) + "\n")
        return
    docs = []
    for i, tree in enumerate(args.tree):
        folder = args.out / f"tree-{i}"
        env = {**os.environ, "PYTHONPATH": str(tree_path(tree, args.out, i))}
        subprocess.run([sys.executable, __file__, "--one", "--seeds", str(args.seeds), "--pretrain-seed",
                        str(args.pretrain_seed), "--budget", str(args.budget), "--out", str(folder.resolve()),
                        "--model", str(model)],
                       env=env, check=True, cwd="/")
        docs.append(json.loads((folder / "records.json").read_text()))
    for tree, doc in zip(args.tree, docs):
        secs = {n: sum(r["seconds"] for r in doc[n]) for n in CONFIGS}
        ratio = {n: secs[n] / sum(r["seconds"] for r in docs[0][n]) for n in CONFIGS}
        print(f"{tree}: search seconds " + ", ".join(f"{n} {secs[n]:.1f} (x{ratio[n]:.3f})" for n in CONFIGS))
    diffs = [d for doc in docs[1:] for d in compare(docs[0], doc)]
    print("identical" if not diffs else "DIFFERENT:\n" + "\n".join(diffs[:40]))
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
