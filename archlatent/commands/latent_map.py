"""CLI ``latent-map``: a picture of a model's latent space, coloured by accuracy, with a search's path.

The posterior means of the space's architectures (all of NB201; a uniform sample elsewhere) are
projected on their two principal axes; points are coloured by the benchmark table's accuracy when
one is found, and a run's evaluated architectures are drawn on top with its best-so-far path (each
improvement of the searched objective, in query order) and its best architecture starred. It shows
whether good architectures sit together (a smooth latent space) and where a search went.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from archlatent.cli import bench_args, command, emit
from archlatent.errors import ArchLatentError


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, help="a run folder (from `search`) or a model folder (from `pretrain`)")
    bench_args(p)
    p.add_argument("--metric", default="valid_acc", help="the table's metric to colour by (default valid_acc)")
    p.add_argument("--samples", type=int, default=5000, help="architectures drawn where the space is too large to "
                                                             "enumerate (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of that sample (default 0)")
    p.add_argument("--member", type=int, default=0, help="which autoencoder of a portfolio to draw (default 0)")
    p.add_argument("--out", type=Path, help="PNG to write (default: SOURCE/latent-map.png)")


@command("latent-map", "2-D map of a model's latent space, coloured by accuracy, with a search's path", _setup)
def run_latent_map(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from archlatent.encoders import load, member_folders, read_metadata
    from archlatent.files import write_atomic
    from archlatent.plots import latent_map_png
    from archlatent.spaces import get_space

    model_dir, history, objective = _sources(args.source)
    folders = member_folders(model_dir)
    if not 0 <= args.member < len(folders):
        raise ArchLatentError(f"--member {args.member}: {model_dir} holds {len(folders)} autoencoder(s), 0..{len(folders) - 1}")
    model_dir = folders[args.member]
    space = get_space(read_metadata(model_dir)["space"])
    model = load(model_dir, space=space)
    if space.size() is not None:
        genotypes = list(space.enumerate())
    else:
        rng = np.random.default_rng(args.seed)
        genotypes = [space.sample(rng) for _ in range(args.samples)]
    colour = _colour(space, genotypes, args)
    z = model.embed(genotypes)
    mean = z.mean(0)
    _, s, v = torch.linalg.svd(z - mean, full_matrices=False)
    axes = v[:2].T
    share = (s[:2] ** 2 / (s**2).sum()).tolist()
    xy = ((z - mean) @ axes).numpy()
    path = ((model.embed([space.parse(h["arch"]) for h in history]) - mean) @ axes).numpy() if history else None
    which = f" (--member {args.member} of {len(folders)})" if len(folders) > 1 else ""
    title = f"{model.name}{which} on {space.name}: {len(genotypes):,} architectures, PCA of the latent means"
    scores = _scores(history, objective)
    png = latent_map_png(xy, colour, path, title=title, share=share, scores=scores,
                         colour_label=args.metric if colour is not None else None)
    out = args.out or args.source / "latent-map.png"
    write_atomic(out, png)
    emit({"out": str(out), "architectures": len(genotypes), "explained_variance": share,
          "trajectory": len(history), "coloured_by": args.metric if colour is not None else None})
    return 0


def _scores(history: list[dict], objective: str | None):
    """The search objective of each evaluated architecture, larger better (a cost negated); None when
    the run's history does not carry it."""
    import numpy as np

    from archlatent.objectives import maximized

    if not history or objective is None or any(objective not in h for h in history):
        return None
    values = np.array([float(h[objective]) for h in history])
    return values if maximized(objective) else -values


def _sources(source: Path) -> tuple[Path, list[dict], str | None]:
    """The model (or portfolio) folder and, for a run folder, its evaluated architectures in query
    order and the objective it searched on."""
    from archlatent.encoders import holds_model

    if holds_model(source):
        return source, [], None
    result, config = source / "result.json", source / "config.json"
    if not config.is_file():
        raise ArchLatentError(f"{source} is neither a model folder (model.json or portfolio.json) nor a run folder "
                              "(config.json)")
    try:
        cfg = json.loads(config.read_text())
        history = json.loads(result.read_text())["history"] if result.is_file() else []
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ArchLatentError(f"{source}: cannot read its run files ({err})") from None
    model_dir = Path(cfg["checkpoint"]) if cfg.get("checkpoint") else source / "model"
    if not holds_model(model_dir):
        raise ArchLatentError(f"run {source} used no latent model (strategy {cfg.get('strategy')})")
    objectives = cfg.get("objectives") or ["valid_acc"]
    return model_dir, history, objectives[0]


def _colour(space, genotypes, args: argparse.Namespace):
    """The table's `--metric` of each genotype, or None when no table is found for the space."""
    import numpy as np

    from archlatent.evaluators.tables import TABLES, load_table

    if space.name not in TABLES:
        return None
    try:
        table = load_table(space.name, args.bench)
    except ArchLatentError:
        return None
    column = table.metrics(args.dataset or "cifar10").get(args.metric)
    if column is None:
        raise ArchLatentError(f"the {space.name} table has no metric {args.metric!r}")
    values = []
    for g in genotypes:
        try:
            values.append(float(np.mean(column[table.row_ids(g)])))
        except ArchLatentError:
            values.append(float("nan"))
    return np.array(values)
