"""CLI: ``search`` (one run, journaled, resumable), ``benchmark`` (the protocol over seeds), ``export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from archlatent.cli import bench_args, command, emit, space_arg
from archlatent.errors import ArchLatentError
from archlatent.evaluators.base import Evaluator
from archlatent.evaluators.tables import BenchmarkTable, load_table
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.genotype import Genotype
from archlatent.journal import Journal
from archlatent.pareto import front_report
from archlatent.search import SearchResult, search
from archlatent.spaces import get_space
from archlatent.spaces.base import SearchSpace
from archlatent.strategies import STRATEGIES, Strategy

ALIASES = {"rs": "random"}
#: Flags a `--config` TOML file may set (flags on the command line win).
CONFIGURABLE = (
    "space", "bench", "dataset", "optimizer", "checkpoint", "encoder", "budget", "seed", "objectives", "remap",
    "evaluator", "supernet", "samples", "epochs", "labels",
)


# -- shared pieces -----------------------------------------------------------------------------------
def _setup_common(p: argparse.ArgumentParser) -> None:
    space_arg(p, required=False)
    bench_args(p)
    p.add_argument("--checkpoint", type=Path, help="pretrained autoencoder (from `archlatent pretrain`)")
    p.add_argument("--encoder", default="transformer", help="encoder to pretrain when no --checkpoint is given")
    p.add_argument("--samples", type=int, help="architectures to pretrain on (default: the encoder's default)")
    p.add_argument("--epochs", type=int, help="pretraining epochs when no --checkpoint is given (default: the preset)")
    p.add_argument("--labels", type=int, default=0, help="labelled architectures for the score head (count as queries)")
    p.add_argument("--objectives", default="valid_acc", help="comma list: accuracy first, then costs (nsga2)")
    p.add_argument("--no-remap", dest="remap", action="store_false", help="turn TNAO's latent remapping off")
    p.add_argument("--budget", type=int, default=100, help="distinct architectures to evaluate (labels included)")
    p.add_argument("--config", type=Path, help="TOML file of defaults for these flags")
    p.add_argument("--out", type=Path, help="output folder")


def _resolve(args: argparse.Namespace, parser_defaults: dict[str, Any]) -> dict[str, Any]:
    """Flags over the --config file over defaults; returns the config written beside results."""
    config = {k: v for k, v in vars(args).items() if k in CONFIGURABLE}
    if getattr(args, "config", None):
        try:
            file = tomllib.loads(args.config.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ArchLatentError(f"config {args.config} is not valid TOML: {err}") from None
        unknown = sorted(set(file) - set(CONFIGURABLE))
        if unknown:
            raise ArchLatentError(f"config {args.config} has unknown keys {unknown}; known: {', '.join(CONFIGURABLE)}")
        for key, value in file.items():
            if config.get(key) == parser_defaults.get(key):  # not given on the command line
                config[key] = value
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in config.items()}
    if not config.get("space"):
        raise ArchLatentError("--space is required (on the command line or in --config)")
    return config


def _strategy(name: str, space: SearchSpace, seed: int, config: dict[str, Any], model: Any) -> Strategy:
    from archlatent.optimizers import get_optimizer
    from archlatent.strategies.latent import LatentStrategy

    name = ALIASES.get(name, name)
    if not _needs_model([name]):
        return STRATEGIES.get(name)(space, seed)
    objectives = config["objectives"].split(",")
    optimizer = get_optimizer(name, model.latent_dim, n_obj=len(objectives), seed=seed)
    return LatentStrategy(space, model, optimizer, remap=config["remap"], objectives=objectives, seed=seed)


def _needs_model(names: list[str]) -> bool:
    """Whether any of `names` is a latent optimizer (UnknownName-style error for unknown names)."""
    from archlatent.optimizers import OPTIMIZERS

    unknown = [n for n in names if ALIASES.get(n, n) not in STRATEGIES and n not in OPTIMIZERS]
    if unknown:
        known = ", ".join(sorted({*STRATEGIES.names(), *OPTIMIZERS.names(), *ALIASES}))
        raise ArchLatentError(f"unknown optimizer {unknown[0]!r}; known: {known}")
    return any(ALIASES.get(n, n) not in STRATEGIES for n in names)


def _model(config: dict[str, Any], space: SearchSpace, table: BenchmarkTable | None, dataset: str, out: Path | None):
    """(model, labelled {genotype: metrics}) from --checkpoint, or pretrained here (seeded)."""
    from archlatent.encoders import load, preset, pretrain, read_metadata, save

    if config.get("checkpoint"):
        model = load(config["checkpoint"], space=space)
        texts = (read_metadata(config["checkpoint"]).get("metrics") or {}).get("labelled", [])
    else:
        labels = None
        if config["labels"]:
            if table is None:
                raise ArchLatentError("--labels needs a benchmark table (tabular evaluator)")
            labels = {g: acc for g, acc in zip(table.genotypes, table.metrics(dataset)["valid_acc"])}
        settings = preset(space.name, config["encoder"], samples=config["samples"], epochs=config["epochs"])
        model, metrics, _ = pretrain(space, config["encoder"], labels=labels, label_budget=config["labels"] or None,
                                     seed=config["seed"], **settings)
        texts = metrics["labelled"]
        if out is not None:
            save(model, out / "model", metrics=metrics, table_sha256=table.sha256 if table else None)
    labelled: dict[Genotype, dict[str, float]] = {}
    if texts:
        if table is None:
            raise ArchLatentError("the checkpoint used labels, which must be looked up in a benchmark table")
        genotypes = [space.parse(t) for t in texts]
        labelled = dict(zip(genotypes, TabularEvaluator(table, dataset).evaluate(genotypes)))
    return model, labelled


def _evaluator(config: dict[str, Any], space: SearchSpace, table: BenchmarkTable | None, dataset: str, seed: int) -> Evaluator:
    if config["evaluator"] == "supernet":
        from archlatent.evaluators.supernet import SupernetEvaluator

        if not config.get("supernet"):
            raise ArchLatentError("--evaluator supernet needs --supernet FILE (from `archlatent supernet train`)")
        return SupernetEvaluator.from_checkpoint(config["supernet"], space)
    assert table is not None
    return TabularEvaluator(table, dataset, seed=seed)


def _progress(total: int, label: str):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="arch", file=sys.stderr, leave=False, disable=None)

    def update(result: SearchResult) -> None:
        bar.n = result.queries
        best = result.best.get("valid_acc")
        bar.set_postfix_str("" if best is None else f"best valid {best:.2f}", refresh=True)

    return update, bar


# -- search ------------------------------------------------------------------------------------------
def _setup_search(p: argparse.ArgumentParser) -> None:
    _setup_common(p)
    p.add_argument("--optimizer", default="cso", help="nao, cso, nsga2 (latent) or random/rs, rea, local")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--evaluator", choices=("tabular", "supernet"), default="tabular")
    p.add_argument("--supernet", type=Path, help="supernet checkpoint for --evaluator supernet")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR (after a crash or kill)")


@command("search", "search a space with one optimizer; writes DIR/result.json and the best genotypes", _setup_search)
def run_search(args: argparse.Namespace) -> int:
    if args.resume is not None:
        out = args.resume
        try:
            config = json.loads((out / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ArchLatentError(f"cannot resume {out}: config.json unreadable ({err})") from None
    else:
        if args.out is None:
            raise ArchLatentError("--out DIR is required (or --resume DIR)")
        out = args.out
        config = _resolve(args, vars(build_defaults("search")))
        if (out / "journal.sqlite").exists():
            raise ArchLatentError(f"{out} already holds a run; use --resume {out} or another --out")
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    result_doc = run_one(config, out)
    best = {k: result_doc["best"].get(k) for k in ("arch", "valid_acc", "test_acc")}
    emit({"best": best, **{k: result_doc[k] for k in ("queries", "label_queries", "seconds", "stopped")}, "out": str(out)})
    return 0


def run_one(config: dict[str, Any], out: Path | None, table: BenchmarkTable | None = None, model: Any = None,
            labelled: dict | None = None, progress: bool = True) -> dict[str, Any]:
    """One search run as configured; writes result.json and exports into `out` when given."""
    space = get_space(config["space"])
    dataset = config["dataset"]
    if table is None and config["evaluator"] == "tabular" or config["labels"]:
        table = table or load_table(space.name, config.get("bench"))
    if _needs_model([config["optimizer"]]) and model is None:
        model, labelled = _model(config, space, table, dataset, out)
    evaluator = _evaluator(config, space, table, dataset, config["seed"])
    strategy = _strategy(config["optimizer"], space, config["seed"], config, model)
    journal = Journal(out / "journal.sqlite", config) if out is not None else None
    update, bar = _progress(config["budget"], config["optimizer"]) if progress else (None, None)
    try:
        result = search(space, strategy, evaluator, config["budget"], labelled=labelled, journal=journal, progress=update)
    finally:
        if bar is not None:
            bar.close()
        if journal is not None:
            journal.close()
    doc: dict[str, Any] = {
        **result.as_dict(),
        "best": result.best,
        "data_sha256": evaluator.provenance.get("sha256"),
        "evaluator": evaluator.provenance,
        "config": config,
    }
    objectives = config["objectives"].split(",")
    if len(objectives) > 1 and table is not None:
        found = list(result.metrics.values())
        report = front_report(found, [dict(zip(table.metrics(dataset), row)) for row in zip(*table.metrics(dataset).values())], objectives)
        keys = list(result.metrics)
        report["front"] = [{"arch": space.format(result.evaluated[keys[i]]), **found[i]} for i in report["front"]]
        doc["pareto"] = report
    if out is not None:
        _write_outputs(out, space, result, doc)
    return doc


def _write_outputs(out: Path, space: SearchSpace, result: SearchResult, doc: dict[str, Any]) -> None:
    (out / "result.json").write_text(json.dumps(doc, indent=2) + "\n")
    best = result.evaluated[result.best["key"]]
    (out / "best.txt").write_text(space.format(best) + "\n")
    (out / "best.json").write_text(json.dumps(_genotype_json(space, best, result.best), indent=2) + "\n")
    if "pareto" in doc:
        texts = [entry["arch"] for entry in doc["pareto"]["front"]]
        (out / "pareto.txt").write_text("".join(t + "\n" for t in texts))


def _genotype_json(space: SearchSpace, g: Genotype, metrics: dict[str, Any]) -> dict[str, Any]:
    cells = {name: {"ops": list(c.ops), "edges": [list(e) for e in c.edges]} for name, c in zip(space.cell_names, g.cells)}
    return {"space": space.name, "arch": space.format(g), "key": g.key(), "cells": cells, "metrics": metrics}


# -- export ------------------------------------------------------------------------------------------
def _setup_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="a folder written by `archlatent search`")
    p.add_argument("--pareto", action="store_true", help="export the Pareto front instead of the best")
    p.add_argument("--format", choices=("text", "json"), default="text")


@command("export", "print a finished run's genotypes (best or Pareto front) as text or JSON", _setup_export)
def run_export(args: argparse.Namespace) -> int:
    try:
        doc = json.loads((args.run / "result.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArchLatentError(f"{args.run} holds no readable result.json ({err})") from None
    space = get_space(doc["config"]["space"])
    if args.pareto and "pareto" not in doc:
        raise ArchLatentError(f"run {args.run} has no Pareto front (it searched one objective)")
    entries = doc["pareto"]["front"] if args.pareto else [doc["best"]]
    genotypes = [space.parse(e["arch"]) for e in entries]
    if args.format == "text":
        print("\n".join(space.format(g) for g in genotypes))
    else:
        emit([_genotype_json(space, g, e) for g, e in zip(genotypes, entries)])
    return 0


def build_defaults(name: str) -> argparse.Namespace:
    """The parser defaults of subcommand `name` (to tell flags given from defaults)."""
    from archlatent.cli import COMMANDS

    p = argparse.ArgumentParser()
    COMMANDS[name][1](p)
    return p.parse_args([])

