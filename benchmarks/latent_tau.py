"""Does the latent mean rank architectures better than a one-hot encoding? Ridge regression, Kendall tau.

A ridge regressor (StandardScaler, then scikit-learn's RidgeCV over alphas 10^-3 .. 10^3, 13 values,
efficient leave-one-out choice) is fitted on the features of training architectures and scored by
the Kendall tau (scipy.stats.kendalltau, tau-b) of its predictions against the true accuracy of the
held-out ones; every feature set sees the same random splits. Feature sets:

- ``mu <checkpoint>``: the latent mean, ``model.embed(genotypes)`` (it embeds ``space.representative``);
- ``one-hot``: ``space.features`` (NB201: op per edge; DARTS: (cell, edge, op) indicators), computed on
  the representative. DARTS's representative sorts each node's two (op, input) pairs and orders
  interchangeable nodes, and the edge indicators ignore the order of a node's pairs anyway;
- DARTS only, ``slot one-hot``: per cell and (op, input) slot, a one-hot op and a one-hot input, on
  the genotype as sampled (``raw``) and on its representative (pairs sorted, nodes ordered);
- given ``--targets``: the free training targets themselves (`archlatent.encoders.targets`, the
  columns `FREE_TARGETS[space]` names; NB-Graph: `GRAPH_TARGETS`), what the target head asks the
  latent mean to hold;
- given ``--references``, references from free information alone, with the same labels
  (no autoencoder): ridge on one-hot and the free targets side by side (DARTS: also with the slot
  one-hot of the representative), and two nonlinear regressors, a Gaussian process (RBF + white
  noise, scikit-learn) on one-hot and a random forest (300 trees, leaves of >= 2) on one-hot and
  the free targets. A latent mean holds nothing the architecture does not: where these references
  stay below a goal, the free information read this way does not reach it;
- NB201 and DARTS, free one-number baselines: ``params alone`` and ``flops alone`` (NB201: the table's
  ``params_mb`` / ``flops_m``, which the `zerocost` evaluator reproduces exactly; DARTS: those of the
  standalone network, C=36, 20 cells, 32x32, `archlatent.encoders.targets.darts_cost`) and, NB201 given
  ``--synflow FILE`` (the ``--out`` JSON of ``benchmarks/zerocost.py --proxy synflow --archs 0``),
  ``synflow alone`` (log(1 + synflow) of the representative's row). A ridge fit of one feature is a
  monotone map, so these taus are those of the number itself (or of its negative).

``nbgraph``: every class of the NAS-Bench-Graph table (26,206 representatives), ``--dataset`` (cora)
``valid_acc``; one-hot, ``params alone`` (the table's ``params_m``), latent means and, with
``--targets``, the graph targets (`GRAPH_TARGETS`); train sizes and splits as for nb201.

Parts. ``nb201``: one representative per distinct key (8,765), cifar10 ``valid_acc`` of the table;
train on ``--train-sizes`` random architectures, test on all the others, ``--repeats`` splits.
``darts``: ``--archs`` random genotypes (distinct keys), each scored, as its representative, by a
small weight-sharing DARTS supernet (`train_supernet`, uniform single-path sampling, then
`SupernetEvaluator`: BN recalibrated, accuracy on held-out Fashion-MNIST images resized to 16x16).
The held-out images are split into two disjoint halves A and B, scored separately; the accuracy is
their mean and tau(A, B) is the noise ceiling. Train on 2/3, test on 1/3, ``--repeats`` splits.
``--accuracies FILE`` reuses the architectures and accuracies of an earlier darts JSON (no supernet).

    ARCHLATENT_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/latent_tau.py \\
        --part nb201 --checkpoints /tmp/bench/ckpt0 /tmp/bench/ckpt1 /tmp/bench/ckpt2 /tmp/bench/ckpt3 \\
        /tmp/bench/ckpt4 --out /tmp/tau/tau_nb201.json
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/latent_tau.py --part darts --archs 400 \\
        --checkpoints /tmp/bench/darts-gin /tmp/bench/darts-gin-s1 /tmp/bench/darts-gin-s2 \\
        /tmp/bench/darts-gin-s3 /tmp/bench/darts-gin-s4 --out /tmp/tau/tau_darts.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from archlatent import get_space
from archlatent.encoders.checkpoint import load, read_metadata
from archlatent.encoders.presets import FREE_TARGETS
from archlatent.encoders.targets import darts_cost, target_values
from archlatent.evaluators.supernet import SupernetEvaluator
from archlatent.evaluators.tables import load_table
from archlatent.genotype import Genotype
from archlatent.oneshot.data import ImageData, fashion_mnist
from archlatent.oneshot.nets import build_supernet
from archlatent.oneshot.train import train_supernet
from archlatent.spaces.darts import N_STEPS, OPS

ALPHAS = np.logspace(-3, 3, 13)
#: The free targets every space has (params and flops need a standalone network: NB201 and DARTS only).
GRAPH_TARGETS = {"ops": 0.5, "depth": 0.5, "paths": 0.5, "extremes": 0.5}
#: The DARTS supernet and its data (small enough for ~400 architectures on one CPU core).
SUPERNET = {"C": 8, "layers": 5, "images": 4000, "image_size": 16, "valid_fraction": 0.5, "steps": 3000,
            "batch_size": 64, "lr": 0.025, "recal_batches": 2, "eval_batch_size": 256, "seed": 0}


def fitted_tau(model: Any, x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Kendall tau of `model`'s predictions on `test` after fitting it on `train`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the GP's bounds: its fit is still used
        model.fit(x[train], y[train])
    return float(stats.kendalltau(model.predict(x[test]), y[test]).statistic)


def ridge_tau(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Kendall tau of ridge predictions on `test` after fitting on `train`."""
    return fitted_tau(make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)), x, y, train, test)


def gp_tau(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Kendall tau of a Gaussian process (RBF + white noise, hyperparameters by marginal likelihood)."""
    kernel = ConstantKernel() * RBF(np.sqrt(x.shape[1])) + WhiteKernel()
    model = make_pipeline(StandardScaler(), GaussianProcessRegressor(kernel, normalize_y=True, random_state=0))
    return fitted_tau(model, x, y, train, test)


def forest_tau(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Kendall tau of a random forest (300 trees, leaves of >= 2 architectures, seed 0)."""
    return fitted_tau(RandomForestRegressor(300, min_samples_leaf=2, random_state=0, n_jobs=1), x, y, train, test)


Probe = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float]


def score(features: dict[str, np.ndarray], y: np.ndarray, n_train: int, repeats: int,
          fits: dict[str, Probe] | None = None) -> dict[str, dict[str, Any]]:
    """Mean, std and per-split tau of every feature set over `repeats` random splits (seeds 0..repeats-1);
    a set is read by ridge unless `fits` names another regressor for it."""
    taus: dict[str, list[float]] = {name: [] for name in features}
    for r in range(repeats):
        perm = np.random.default_rng(r).permutation(len(y))
        for name, x in features.items():
            taus[name].append((fits or {}).get(name, ridge_tau)(x, y, perm[:n_train], perm[n_train:]))
    return {name: {"mean": float(np.mean(t)), "std": float(np.std(t)), "taus": t} for name, t in taus.items()}


def add_references(features: dict[str, np.ndarray], targets: np.ndarray, *extra: str) -> dict[str, Probe]:
    """``--references``: add their feature sets to `features` (next to its ``one-hot``); return the
    regressors of those not read by ridge. Each of `extra` (a set of `features`) adds
    ``one-hot + NAME + free targets`` (ridge)."""
    one_hot = features["one-hot"]
    both = np.hstack([one_hot, targets])
    features |= {"one-hot + free targets": both, "GP on one-hot": one_hot, "forest on one-hot + free targets": both}
    features |= {f"one-hot + {name} + free targets": np.hstack([one_hot, features[name], targets]) for name in extra}
    return {"GP on one-hot": gp_tau, "forest on one-hot + free targets": forest_tau}


def latent_features(checkpoints: Sequence[str], genotypes: list[Genotype]) -> dict[str, np.ndarray]:
    """``mu <checkpoint>`` -> posterior means of `genotypes`."""
    return {f"mu {c}": load(c).embed(genotypes).numpy() for c in checkpoints}


def slot_one_hot(space: Any, genotypes: Sequence[Genotype]) -> np.ndarray:
    """DARTS: per cell and (op, input) slot, a one-hot op and a one-hot input node (2 x 8 x (7 + 5))."""
    n_in = 2 + N_STEPS - 1
    out = np.zeros((len(genotypes), 2, 2 * N_STEPS, len(OPS) + n_in), dtype=np.float32)
    for row, g in enumerate(genotypes):
        for c, pairs in enumerate(space.pairs(g)):
            for p, (op, j) in enumerate(pairs):
                out[row, c, p, OPS.index(op)] = out[row, c, p, len(OPS) + j] = 1.0
    return out.reshape(len(genotypes), -1)


def nb201(args: argparse.Namespace) -> dict[str, Any]:
    """Representatives of all NB201 keys, cifar10 valid_acc, train sizes x repeats."""
    space, table = get_space("nb201"), load_table("nb201")
    reps = list({g.key(): space.representative(g) for g in space.enumerate()}.values())
    y = np.array([table.columns["cifar10"]["valid_acc"][table.row_ids(g)[0]] for g in reps])
    rows = [table.row_ids(g)[0] for g in reps]
    columns = table.columns["cifar10"]
    features = {"one-hot": space.features(reps), "params alone": columns["params_mb"][rows, None],
                "flops alone": columns["flops_m"][rows, None]} | latent_features(args.checkpoints, reps)
    if args.synflow:
        features["synflow alone"] = synflow_feature(args.synflow, rows)
    if args.targets:
        features |= free_targets(space, reps, FREE_TARGETS["nb201"])
    fits = add_references(features, target_values(space, reps, FREE_TARGETS["nb201"])) if args.references else {}
    results = {str(n): score(features, y, n, args.repeats, fits) for n in args.train_sizes}
    return {"part": "nb201", "architectures": len(reps), "target": "cifar10 valid_acc", "results": results}


def nbgraph(args: argparse.Namespace) -> dict[str, Any]:
    """Representatives of every NB-Graph class in the table, `--dataset` valid_acc, train sizes x repeats."""
    space, table = get_space("nbgraph"), load_table("nbgraph")
    reps = list({g.key(): space.representative(g) for g in table.genotypes}.values())
    rows = [table.row_ids(g)[0] for g in reps]
    columns = table.columns[args.dataset]
    features = {"one-hot": space.features(reps), "params alone": columns["params_m"][rows, None]}
    if args.targets:
        features |= free_targets(space, reps, GRAPH_TARGETS)
    fits = add_references(features, target_values(space, reps, GRAPH_TARGETS)) if args.references else {}
    features |= latent_features(args.checkpoints, reps)
    results = {str(n): score(features, columns["valid_acc"][rows], n, args.repeats, fits) for n in args.train_sizes}
    return {"part": "nbgraph", "architectures": len(reps), "target": f"{args.dataset} valid_acc", "results": results}


def free_targets(space: Any, genotypes: Sequence[Genotype], targets: dict[str, float]) -> dict[str, np.ndarray]:
    """``free targets (names)`` -> the raw target columns of `genotypes` (ridge standardizes them)."""
    return {f"free targets ({', '.join(targets)})": target_values(space, genotypes, targets)}


def synflow_feature(path: str, rows: list[int]) -> np.ndarray:
    """log(1 + synflow) of the table `rows`, from a ``benchmarks/zerocost.py --out`` JSON. Shapes: [rows, 1]."""
    with open(path) as f:
        doc = json.load(f)
    if doc["args"].get("proxy") != "synflow":
        raise SystemExit(f"{path} holds proxy {doc['args'].get('proxy')!r}, not synflow")
    by_row = dict(zip(doc["rows"], doc["scores"]))
    missing = [r for r in rows if r not in by_row]
    if missing:
        raise SystemExit(f"{path} lacks {len(missing)} of the rows (run benchmarks/zerocost.py with --archs 0)")
    return np.log1p(np.array([by_row[r] for r in rows], dtype=np.float64))[:, None]


def fashion16(cfg: dict[str, Any]) -> ImageData:
    """The first `images` Fashion-MNIST training images, area-resized to `image_size`, half held out."""
    full = fashion_mnist()
    x = F.interpolate(full.train_x[: cfg["images"]].float(), size=cfg["image_size"], mode="area")
    data = ImageData("fashion-mnist", x.round().to(torch.uint8), full.train_y[: cfg["images"]],
                     full.test_x[:0], full.test_y[:0], 10)
    return data.holdout(cfg["valid_fraction"], cfg["seed"])


def supernet_accuracies(genotypes: list[Genotype], cfg: dict[str, Any]) -> dict[str, Any]:
    """Train the small DARTS supernet, then score every genotype on validation halves A and B."""
    data = fashion16(cfg)
    net = build_supernet("darts", seed=cfg["seed"], C=cfg["C"], layers=cfg["layers"], num_classes=10)
    start = time.perf_counter()
    run = train_supernet(net, data, steps=cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"], seed=cfg["seed"])
    train_s, start = time.perf_counter() - start, time.perf_counter()
    h = len(data.test_y) // 2
    halves = [ImageData(data.name, data.train_x, data.train_y, data.test_x[s], data.test_y[s], 10)
              for s in (slice(0, h), slice(h, 2 * h))]
    evaluators = [SupernetEvaluator(net, d, recal_batches=cfg["recal_batches"], batch_size=cfg["eval_batch_size"])
                  for d in halves]
    acc = np.array([[e.accuracy(g) for e in evaluators] for g in genotypes])
    ceiling = stats.kendalltau(acc[:, 0], acc[:, 1]).statistic
    return {"settings": cfg | {"train_images": len(data.train_y), "valid_images_per_half": h},
            "train_seconds": train_s, "eval_seconds": time.perf_counter() - start,
            "final_loss": run.get("final_loss"), "noise_ceiling_tau_A_vs_B": float(ceiling),
            "acc_A": acc[:, 0].tolist(), "acc_B": acc[:, 1].tolist()}


def darts(args: argparse.Namespace) -> dict[str, Any]:
    """Random DARTS genotypes scored by a supernet (or read from --accuracies), 2/3 train, 1/3 test."""
    space = get_space("darts")
    if args.accuracies:
        with open(args.accuracies) as f:
            old = json.load(f)
        genotypes = [space.parse(a) for a in old["archs"]]
    else:
        rng, found = np.random.default_rng(args.seed), {}
        while len(found) < args.archs:
            g = space.sample(rng)
            found.setdefault(g.key(), g)
        genotypes = list(found.values())
    reps = [space.representative(g) for g in genotypes]
    supernet = old["supernet"] if args.accuracies else supernet_accuracies(reps, SUPERNET | {"steps": args.steps})
    y = (np.array(supernet["acc_A"]) + np.array(supernet["acc_B"])) / 2
    params, flops = darts_cost(space, genotypes)
    features = {"one-hot": space.features(genotypes), "slot one-hot, raw": slot_one_hot(space, genotypes),
                "slot one-hot, representative": slot_one_hot(space, reps),
                "params alone": params[:, None], "flops alone": flops[:, None]}
    if args.targets:
        features |= free_targets(space, genotypes, FREE_TARGETS["darts"])
    fits = add_references(features, target_values(space, genotypes, FREE_TARGETS["darts"]),
                          "slot one-hot, representative") if args.references else {}
    features |= latent_features(args.checkpoints, genotypes)
    results = {str(len(y) * 2 // 3): score(features, y, len(y) * 2 // 3, args.repeats, fits)}
    return {"part": "darts", "architectures": len(y), "target": "supernet valid_acc (mean of halves A, B)",
            "results": results, "supernet": supernet, "archs": [space.format(g) for g in genotypes]}


def table(doc: dict[str, Any]) -> str:
    """Markdown: one row per feature set, one column per train size."""
    sizes = list(doc["results"])
    lines = ["| features | " + " | ".join(f"tau, train {n}" for n in sizes) + " |", "| --- |" + " --- |" * len(sizes)]
    for name in doc["results"][sizes[0]]:
        cells = [f"{doc['results'][n][name]['mean']:.3f} ± {doc['results'][n][name]['std']:.3f}" for n in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if doc["part"] == "darts":
        lines.append(f"\nnoise ceiling, tau(valid half A, half B): {doc['supernet']['noise_ceiling_tau_A_vs_B']:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("nb201", "nbgraph", "darts"), required=True)
    parser.add_argument("--checkpoints", nargs="*", default=[], help="checkpoints of the part's space")
    parser.add_argument("--train-sizes", nargs="+", type=int, default=[100, 1000], help="nb201, nbgraph")
    parser.add_argument("--dataset", default="cora", help="nbgraph: the table's dataset (default cora)")
    parser.add_argument("--repeats", type=int, default=5, help="random splits")
    parser.add_argument("--archs", type=int, default=400, help="darts: random genotypes (distinct keys)")
    parser.add_argument("--steps", type=int, default=SUPERNET["steps"], help="darts: supernet training steps")
    parser.add_argument("--synflow", help="nb201: benchmarks/zerocost.py --out JSON of all cells (synflow alone)")
    parser.add_argument("--targets", action="store_true",
                        help="also the free targets themselves (FREE_TARGETS[space], NB-Graph: GRAPH_TARGETS) as features")
    parser.add_argument("--references", action="store_true",
                        help="also free information alone, same labels: ridge on one-hot + targets, GP, random forest")
    parser.add_argument("--accuracies", help="darts: reuse the archs and supernet accuracies of this JSON")
    parser.add_argument("--seed", type=int, default=0, help="darts: genotype sampling seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for c in args.checkpoints:
        if read_metadata(c)["space"] != args.part:
            parser.error(f"{c} is a {read_metadata(c)['space']} checkpoint, not {args.part}")
    start = time.perf_counter()
    doc = {"nb201": nb201, "nbgraph": nbgraph, "darts": darts}[args.part](args)
    doc |= {"ridge": "StandardScaler + RidgeCV(alphas=logspace(-3, 3, 13))", "repeats": args.repeats,
            **({"references": "GP: StandardScaler + ConstantKernel * RBF + WhiteKernel, normalize_y; forest: "
                              "RandomForestRegressor(300, min_samples_leaf=2, random_state=0)"} if args.references else {}),
            "wall_seconds": time.perf_counter() - start}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
    print(table(doc))


if __name__ == "__main__":
    main()
