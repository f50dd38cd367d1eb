"""CLI: ``search`` (one run, journaled, resumable) and ``export``.

Flags become a `SearchConfig`: the config's defaults, under a ``--config`` TOML file, under the
flags the user typed (flags always win; a flag left out never overrides the file).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from archlatent.cli import bench_args, command, emit, space_arg
from archlatent.errors import ArchLatentError

S = argparse.SUPPRESS


def setup_config_flags(p: argparse.ArgumentParser) -> None:
    """The flags that map onto `SearchConfig` (defaults in the help; only typed flags reach the config)."""
    from archlatent.config import SearchConfig
    from archlatent.encoders import ENCODERS
    from archlatent.evaluators import EVALUATORS
    from archlatent.optimizers import OPTIMIZERS
    from archlatent.strategies import STRATEGIES

    d = SearchConfig(space="nb201")
    space_arg(p, required=False, default=S)
    bench_args(p, default=S)
    p.add_argument("--strategy", choices=STRATEGIES.names(), default=S,
                   help=f"search strategy (default {d.strategy}; --optimizer alone implies latent)")
    p.add_argument("--optimizer", choices=OPTIMIZERS.names(), default=S,
                   help=f"latent optimizer of the latent strategy (default {d.optimizer})")
    p.add_argument("--encoder", choices=ENCODERS.names(), default=S,
                   help=f"autoencoder to pretrain when no --checkpoint is given (default {d.encoder})")
    p.add_argument("--checkpoint", default=S, help="pretrained autoencoder folder (from `archlatent pretrain`)")
    p.add_argument("--samples", type=int, default=S, help="architectures to pretrain on (default: the preset)")
    p.add_argument("--epochs", type=int, default=S, help="pretraining epochs (default: the preset)")
    p.add_argument("--members", type=int, default=S, help="autoencoders to pretrain, one latent optimizer each, "
                                                          "sharing every evaluation (default: 3 for nb201 transformer, "
                                                          "else 1)")
    p.add_argument("--labels", type=int, default=S, help="labelled cells of the table for the score head (default 0; "
                                                           "they count as queries)")
    p.add_argument("--labels-file", default=S, help="CSV of (arch, objective) labels for the score head (any space)")
    p.add_argument("--objectives", default=S, help="comma list of metrics: the first is searched on (default "
                                                    "valid_acc); more for a Pareto front (nsga2)")
    p.add_argument("--constraint", action="append", default=S, metavar="METRIC<=V",
                   help="a bound on a free cost (params, FLOPs, latency: answered without a query), e.g. "
                        "hw_latency_ms_pixel3<=5 (also <, >=, >); repeatable; the best is the best cell meeting all "
                        "and no other cell is queried for accuracy")
    p.add_argument("--allow-test-objective", action="store_true", default=S, help="allow searching on a test metric")
    p.add_argument("--no-remap", dest="remap", action="store_false", default=S, help="turn TNAO's latent remapping off")
    p.add_argument("--no-rank", dest="rank", action="store_false", default=S, help="latent: evaluate each ask in the "
                                                                                   "members' order, not best-predicted first")
    p.add_argument("--neighbours", type=int, default=S, help="latent: unseen neighbours of the best architecture "
                                                             "added to each ask (default 2; 0 for several objectives)")
    p.add_argument("--screen", default=S, help="a cheap metric answering each ask's new architectures first, so only "
                                               "the best --screen-keep of them are evaluated: auto (default: the "
                                               "objective's 12-epoch column where the table has one), none, or a "
                                               "metric such as valid_acc_12ep, or a zero-cost proxy (zc_synflow) "
                                               "where there is none; its answers are counted apart")
    p.add_argument("--screen-keep", type=float, default=S, help="share of each screened ask that is evaluated "
                                                                "(default 1/3)")
    p.add_argument("--budget", type=int, default=S, help=f"distinct architectures to evaluate, labels included "
                                                         f"(default {d.budget})")
    p.add_argument("--seed", type=int, default=S, help=f"random seed, >= 0 (default {d.seed})")
    p.add_argument("--evaluator", choices=EVALUATORS.names(), default=S, help=f"default {d.evaluator}")
    p.add_argument("--supernet", default=S, help="supernet checkpoint for --evaluator supernet")
    p.add_argument("--pool", choices=("auto", "on", "off"), default=S,
                   help="tabular: search only the table's cells (auto: when the table does not hold the whole space)")
    p.add_argument("--executor", default=S, help="who runs the evaluations: local (default) or ray")
    p.add_argument("--address", default=S, help="ray: the cluster address (default: start a local Ray)")
    p.add_argument("--workers", type=int, default=S, help="ray: evaluations at once (default: as resources allow)")
    p.add_argument("--cpus-per-eval", type=float, default=S, help="ray: CPUs each evaluation reserves (default 1)")
    p.add_argument("--gpus-per-eval", type=float, default=S, help="ray: GPUs each evaluation reserves (default 0)")
    p.add_argument("--config", type=Path, default=S, help="TOML file of settings (flags win over it)")


def config_from_args(args: argparse.Namespace) -> Any:
    """The `SearchConfig` of the typed flags over the --config file over the defaults, every plugin
    setting checked (`archlatent.plugin_settings`)."""
    from archlatent.config import SearchConfig, merge
    from archlatent.plugin_settings import check_config

    typed = vars(args)
    over = overrides(typed)
    if "config" in typed:
        config = SearchConfig.from_toml(typed["config"], **over)
    else:
        config = SearchConfig.from_dict(merge({}, over), source="flags")
    check_config(config)  # every plugin setting, before a folder is claimed or a model pretrained
    return config


#: Flags that are a plugin's setting: flag -> (config key, setting).
_PLUGIN_FLAGS = {
    "remap": ("strategy", "remap"), "rank": ("strategy", "rank"), "neighbours": ("strategy", "neighbours"),
    "bench": ("evaluator", "bench"), "supernet": ("evaluator", "checkpoint"), "pool": ("evaluator", "pool"),
    "evaluator": ("evaluator", "name"), "address": ("executor", "address"), "workers": ("executor", "workers"),
    "cpus_per_eval": ("executor", "cpus_per_eval"), "gpus_per_eval": ("executor", "gpus_per_eval"),
    "executor": ("executor", "name"), "samples": ("pretrain", "samples"), "epochs": ("pretrain", "epochs"),
    "members": ("pretrain", "members"),
}
_PLAIN_FLAGS = ("space", "dataset", "encoder", "checkpoint", "labels", "labels_file", "budget", "seed",
                "allow_test_objective", "screen", "screen_keep")


def overrides(typed: dict[str, Any]) -> dict[str, Any]:
    """The config settings (`SearchConfig.to_dict`-shaped) that the typed flags give."""
    over: dict[str, Any] = {k: typed[k] for k in _PLAIN_FLAGS if k in typed}
    if "objectives" in typed:
        over["objectives"] = typed["objectives"].split(",")
    if "constraint" in typed:
        over["constraints"] = list(typed["constraint"])
    if "optimizer" in typed:
        over["optimizer"] = {"name": typed["optimizer"]}
        over["strategy"] = {"name": typed.get("strategy", "latent")}
    if "strategy" in typed:
        over["strategy"] = {"name": typed["strategy"]}
    for flag, (key, setting) in _PLUGIN_FLAGS.items():
        if flag in typed:
            over.setdefault(key, {})[setting] = typed[flag]
    if typed.get("threads") is not None:  # --threads (the CLI's global flag) is the run's
        over["threads"] = typed["threads"]
    return over


def _setup_search(p: argparse.ArgumentParser) -> None:
    setup_config_flags(p)
    p.add_argument("--out", type=Path, help="run folder (journal, model, results)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR (after a crash or kill -9); "
                                                              "--budget may raise its budget")
    p.add_argument("--force", action="store_true", help="overwrite a folder that holds an earlier run")


@command("search", "search a space; writes DIR/result.json and the best genotypes", _setup_search)
def run_search_command(args: argparse.Namespace) -> int:
    from archlatent.commands.outputs import RUN_HOLDS, claim, locked

    if args.resume is not None:
        out = _resume_folder(args.resume)
        with locked(out):  # first: a run still going is "in use", whatever it has written so far
            config = _resumed(args).replace(out=str(out))
            if not (out / "journal.sqlite").is_file():
                print(f"archlatent search: {out} holds no journal.sqlite: the search starts over from its first query",
                      file=sys.stderr)
            return _search(args, out, config)
    if args.out is None:
        raise ArchLatentError("--out DIR is required (or --resume DIR)")
    config = config_from_args(args)  # a bad config is refused before anything is written
    out = claim(args.out, force=args.force, holds=RUN_HOLDS)
    with locked(out):
        if args.force:
            import shutil

            for stale in ("journal.sqlite", "screen.sqlite", "result.json", "model"):
                shutil.rmtree(out / stale) if (out / stale).is_dir() else (out / stale).unlink(missing_ok=True)
        return _search(args, out, config.replace(out=str(out)))


def _search(args: argparse.Namespace, out: Path, config: Any) -> int:
    """Run `config` in `out` (locked): its config.json is written before any work, so `--resume` can
    continue the run from whatever it wrote, even a kill while pretraining."""
    from archlatent.commands.progress import Progress, epochs
    from archlatent.executors import EXECUTORS
    from archlatent.files import write_atomic
    from archlatent.run import build, run_search

    EXECUTORS.get(config.executor).check()  # e.g. ray not installed: refused before anything is written
    write_atomic(out / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    update, bar = epochs(f"pretrain {config.encoder}", config.pretrain.get("epochs"), args.verbose)
    said = logging.getLogger("archlatent.run_notes")  # its warnings are notes, printed once below
    said.disabled = True
    try:
        parts = build(config, pretrain_progress=update)
    finally:
        bar.close()
        said.disabled = False
    config = parts.config  # as built: e.g. the encoder a --checkpoint holds
    write_atomic(out / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    for note in parts.notes:
        print(f"archlatent search: {note}", file=sys.stderr)
    progress = Progress(config.budget, f"search {config.strategy}", "archs", verbose=args.verbose)
    try:
        result = run_search(config, parts=parts, progress=lambda r: progress.update(
            r.queries, **({"best": float(r.best[r.objectives[0]])} if r.best else {})))
    finally:
        progress.close()
    doc = write_outputs(out, parts.space, result, config)
    best = {k: doc["best"].get(k) for k in ("arch", *config.objectives, config.report)}
    emit({"best": best, **{k: doc[k] for k in ("queries", "label_queries", "screened", "screen_cost", "seconds",
                                                "stopped", "valid_share")},
          **({k: doc[k] for k in ("constraints", "costed", "infeasible")} if config.constraints else {}),
          "out": str(out)})
    return 0


def _resume_folder(run: Path) -> Path:
    """`run`, when it is a folder; else one line (locking would create it)."""
    if not run.is_dir():
        raise ArchLatentError(f"cannot resume {run}: no such run folder")
    return run


def _resumed(args: argparse.Namespace) -> Any:
    """The config of the run in --resume DIR; only --budget (raise it) and --threads may change."""
    from archlatent.config import SearchConfig

    path = args.resume / "config.json"
    if not path.exists():
        raise ArchLatentError(f"cannot resume {args.resume}: it holds no config.json (the run was stopped before it "
                              f"wrote anything to continue); start it again in place with --out {args.resume}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ArchLatentError(f"cannot resume {args.resume}: {path.name} unreadable ({err})") from None
    from archlatent.config import RESUMABLE

    typed = sorted(k for k, v in vars(args).items() if k == "config" or set(overrides({k: v})) - set(RESUMABLE))
    if typed:
        raise ArchLatentError(f"--resume continues the run as it was configured; it cannot change {typed}")
    if isinstance(data, dict) and {"remap", "bench", "supernet", "samples", "epochs"} & set(data):  # 0.1's flat keys
        raise ArchLatentError(f"cannot resume {args.resume}: it was written by archlatent 0.1 (an older config "
                              "layout); start a new run with --out")
    config = SearchConfig.from_dict(data, source=f"{path}")
    if "budget" in vars(args):
        config = config.replace(budget=args.budget)
    if getattr(args, "threads", None) is not None:
        config = config.replace(threads=args.threads)
    executor = config_from_args(argparse.Namespace(space=config.space, **{
        k: v for k, v in vars(args).items() if k in ("executor", "address", "workers", "cpus_per_eval", "gpus_per_eval")}))
    if executor.executor != "local" or executor.executor_kwargs:  # an executor may change on resume
        config = config.replace(executor=executor.executor, executor_kwargs=executor.executor_kwargs)
    return config


def write_outputs(out: Path, space: Any, result: Any, config: Any) -> dict[str, Any]:
    """result.json, best.txt, best.json and, for several objectives, pareto.txt and pareto.png."""
    doc: dict[str, Any] = {**result.as_dict(), "config": config.to_dict(), "data_sha256": result.provenance.get("sha256"),
                           "evaluator": result.provenance}
    (out / "result.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    best = result.evaluated[result.best["key"]]
    (out / "best.txt").write_text(space.format(best) + "\n")
    (out / "best.json").write_text(json.dumps(genotype_json(space, best, result.best), indent=2) + "\n")
    if result.pareto is not None:
        from archlatent.files import write_atomic
        from archlatent.plots import pareto_png

        (out / "pareto.txt").write_text("".join(entry["arch"] + "\n" for entry in result.pareto["front"]))
        method = config.optimizer if config.strategy == "latent" else config.strategy
        title = f"{config.space} {config.dataset}, {method}, budget {config.budget}"
        write_atomic(out / "pareto.png", pareto_png(list(result.metrics.values()), result.pareto["front"], result.objectives,
                                                    title=title, exact=result.pareto.get("true_front")))
    return doc


def genotype_json(space: Any, g: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    """A genotype as JSON: space, text form, key, cells (ops and edges) and its metrics."""
    cells = {name: {"ops": list(c.ops), "edges": [list(e) for e in c.edges]} for name, c in zip(space.cell_names, g.cells)}
    return {"space": space.name, "arch": space.format(g), "key": g.key(), "cells": cells, "metrics": metrics}


def _setup_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="a folder written by `archlatent search`")
    p.add_argument("--pareto", action="store_true", help="export the Pareto front instead of the best")
    p.add_argument("--format", choices=("text", "json"), default="text")


@command("export", "print a finished run's genotypes (best or Pareto front) as text or JSON", _setup_export)
def run_export(args: argparse.Namespace) -> int:
    """A damaged result.json (wrong shapes, NaN, a bad arch) is refused in one line, never half-exported."""
    from archlatent.commands.outputs import read_result
    from archlatent.spaces import get_space

    name, entries = read_result(args.run, args.pareto)
    space = get_space(name)
    genotypes = []
    for where, entry in entries:
        try:
            genotypes.append(space.parse(entry["arch"]))
        except (ValueError, RecursionError) as err:  # InvalidArchitecture, or a parser's own limit
            raise ArchLatentError(f"{args.run / 'result.json'}: `{where}.arch` is not a {name} architecture "
                                  f"({str(err)[:200]})") from None
    if args.format == "text":
        print("\n".join(space.format(g) for g in genotypes))
    else:
        emit([genotype_json(space, g, e) for g, (_, e) in zip(genotypes, entries)])
    return 0
