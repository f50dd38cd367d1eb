"""CLI ``benchmark``: the field's protocol over many seeds (`archlatent.benchmark.run_benchmark`),
written down as runs.jsonl (one line per run, as it finishes: ``--resume`` reuses them),
summary.json, table.md and regret.png."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from archlatent.bounds import check, flag
from archlatent.cli import command, emit
from archlatent.commands.search import config_from_args, setup_config_flags
from archlatent.errors import ArchLatentError

DEFAULT_METHODS = "random,rea,local,nao,cso"
#: With several objectives: the latent NSGA-II, its discrete and evolutionary peers, random, the exact front.
DEFAULT_FRONT_METHODS = "nsga2,pymoo_nsga2,sms_emoa,random,oracle"


def _setup(p: argparse.ArgumentParser) -> None:
    setup_config_flags(p)
    p.add_argument("--methods", default=None,
                   help="comma list: strategies (random, rea, local, ...) and latent optimizers (nao, bo, cso, ...); "
                        f"default {DEFAULT_METHODS}, with several --objectives {DEFAULT_FRONT_METHODS} (oracle: the "
                        "exact Pareto front)")
    p.add_argument("--seeds", type=flag("seeds"), default=100, help="runs per method, seeds 0..N-1 (default 100)")
    p.add_argument("--until-hit", action="store_true", help="stop each run once it evaluates the best validation "
                                                            "architecture (the best feasible one under --constraint; "
                                                            "--budget is then a cap): LaNAS's metric")
    p.add_argument("--out", type=Path, help="output folder")
    p.add_argument("--resume", action="store_true", help="reuse the runs already in OUT/runs.jsonl")
    p.add_argument("--force", action="store_true", help="overwrite an earlier benchmark in OUT")


@command("benchmark", "run the benchmark protocol over seeds; writes summary.json, table.md, regret.png", _setup)
def run_benchmark_command(args: argparse.Namespace) -> int:
    from archlatent.benchmark import check_methods, run_benchmark
    from archlatent.commands.outputs import claim, locked
    from archlatent.commands.progress import Progress, epochs
    from archlatent.files import write_atomic
    from archlatent.plots import regret_png

    if args.out is None:
        raise ArchLatentError("--out DIR is required")
    given = [f"--{f}" for f in ("strategy", "optimizer") if hasattr(args, f)]  # search's flags; unset ones are absent
    if given:
        raise ArchLatentError(f"benchmark runs what --methods names (strategies and latent optimizers alike); "
                              f"{' and '.join(given)} would be ignored: drop {'them' if len(given) > 1 else 'it'}")
    if "," in getattr(args, "objectives", ""):  # the base config's optimizer must take them (the methods name their own)
        args.optimizer = "nsga2"
    config = config_from_args(args)
    several = len(config.objectives) > 1
    given = args.methods if args.methods is not None else DEFAULT_FRONT_METHODS if several else DEFAULT_METHODS
    methods = [n.strip() for n in given.split(",") if n.strip()]
    twice = sorted({m for m in methods if methods.count(m) > 1})
    if twice:
        raise ArchLatentError(f"--methods names {', '.join(twice[:3])} more than once")
    check("benchmark_cells", len(methods) * args.seeds * config.budget,
          f"methods x seeds x budget ({len(methods)} x {args.seeds} x {config.budget}: the trajectories held in memory)")
    check_methods(config, methods)  # before the folder is claimed
    out = claim(args.out, force=args.force, resume=args.resume, holds=("runs.jsonl", "summary.json"))
    with locked(out):
        if args.resume and (out / "config.json").is_file():
            _check_resumed(out, config)
        done = _done(out / "runs.jsonl", config) if args.resume else {}
        if not args.resume:
            (out / "runs.jsonl").unlink(missing_ok=True)
        (out / "config.json").write_text(json.dumps({**config.to_dict(), "methods": methods, "seeds": args.seeds},
                                                    indent=2) + "\n")
        update, pretrain_bar = epochs(f"pretrain {config.encoder}", config.pretrain.get("epochs"), args.verbose)
        bar = Progress(len(methods) * args.seeds, "benchmark", "runs", verbose=args.verbose)
        with open(out / "runs.jsonl", "a") as runs:

            def on_run(record: dict[str, Any]) -> None:
                pretrain_bar.close()  # pretraining is over once runs finish: its last line comes before theirs
                runs.write(json.dumps(record) + "\n")
                runs.flush()
                bar.update(bar._n + 1, method=record["method"])

            try:
                result = run_benchmark(config, methods, args.seeds, done=done, on_run=on_run, pretrain_progress=update,
                                       until_hit=args.until_hit)
            finally:
                pretrain_bar.close()
                bar.close()
    summary = result.summary()
    doc: dict[str, Any] = {"oracle": result.oracle, "budgets": summary}
    if result.fronts:
        doc["fronts"] = result.front_summary()
    if args.until_hit:
        from archlatent.benchmark import first_hits

        doc["first_hit"] = {m: first_hits(result.runs, m, config.budget) for m in methods}
        expected = result.oracle.get("random_expected_first_hit")
        for hits in doc["first_hit"].values() if expected else ():  # beside random search's exact figure
            hits.update(random_expected=expected, ratio_to_random=hits["mean"] / expected)
    (out / "summary.json").write_text(json.dumps(doc, indent=2) + "\n")
    table = _table(summary, result, config, args.seeds)
    if result.fronts:
        table = _front_table(doc["fronts"], result, config, args.seeds) + "\n" + table
    (out / "table.md").write_text(table)
    title = f"Regret on {config.space} {config.dataset}, {args.seeds} seeds, budget {config.budget}"
    write_atomic(out / "regret.png", regret_png(result.tests, result.oracle["best_valid_test_acc"], title=title))
    emit(doc)
    return 0


def _done(path: Path, config: Any) -> dict[tuple[str, int], dict[str, Any]]:
    """Runs of an interrupted benchmark in `path` (same budget), by (method, seed)."""
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if not path.is_file():
        return done
    lines = path.read_text().splitlines()
    for line_no, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            budget = len(record["tests"])
            key = (record["method"], int(record["seed"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if line_no == len(lines):
                continue  # a line cut short by a kill: that run is simply redone
            raise ArchLatentError(f"{path} line {line_no} is not a benchmark run record") from None
        if budget != config.budget:
            raise ArchLatentError(f"{path} line {line_no} was run with budget {budget}, not {config.budget}; "
                                  "use --force to start over")
        done[key] = record
    return done


def _table(summary: dict[str, Any], result: Any, config: Any, seeds: int) -> str:
    budgets = result.budgets
    seconds = {}
    for run in result.runs:
        seconds.setdefault(run["method"], []).append(run.get("seconds", 0.0))
    head = "| method | " + " | ".join(f"{b} queries" for b in budgets) + f" | hit rate @{budgets[-1]} | s/run |\n"
    rule = "|---" * (len(budgets) + 3) + "|\n"
    rows = "".join(
        f"| {name} | "
        + " | ".join(f"{s[str(b)]['mean_test_acc']:.2f} ± {s[str(b)]['std_test_acc']:.2f}" for b in budgets)
        + f" | {s[str(budgets[-1])]['hit_rate']:.0%} | {sum(seconds[name]) / len(seconds[name]):.1f} |\n"
        for name, s in summary.items()
    )
    o = result.oracle
    note = (f"\n{config.space} {config.dataset}, {seeds} seeds, search on {config.objectives[0]}, {config.report} of the "
            f"best-by-validation architecture (mean ± std); labels counted as queries. Best validation architecture: "
            f"{o['best_valid_acc']:.2f} valid, {o['best_valid_test_acc']:.2f} test; highest test accuracy in the table: "
            f"{o['best_test_acc']:.2f}.\n\n"
            f"Hit rate @B: the share of seeds whose run evaluated the best validation architecture within B queries. "
            f"Regret (regret.png, summary.json's mean_regret): {o['best_valid_test_acc']:.2f} minus the test accuracy "
            f"of the run's best-by-validation architecture so far, in points (0: it found that architecture).\n")
    screened = [name for name, s in summary.items() if "screen_cost" in s[str(budgets[0])]]
    if screened:
        metric = next((r["screen"] for r in result.runs if "screen" in r), config.screen)
        note += (f"\nScreened on {metric} (each ask's new architectures answered by it first, the best "
                 f"{config.screen_keep:.0%} evaluated; cheap answers are not queries). Per budget B: the screen's "
                 "mean cost by query B, in queries (each cheap answer charged its share of a full one); same cost: "
                 "the mean test accuracy after the last query whose count plus the screen's cost so far stays within "
                 "B, i.e. what a run found for what B unscreened queries cost.\n\n")
        note += "".join(
            f"- {name}: " + ", ".join(f"B {b}: screen cost {summary[name][str(b)]['screen_cost']:.1f}, "
                                      f"same cost {summary[name][str(b)]['mean_test_acc_same_cost']:.2f}" for b in budgets) + "\n"
            for name in screened
        )
    return head + rule + rows + note


def _front_table(fronts: dict[str, Any], result: Any, config: Any, seeds: int) -> str:
    """The multi-objective table: per method and budget, HV ratio ± s.e. and IGD+ ± s.e. on the exact
    validation front, then the same for the test front of the same cells."""
    budgets = result.budgets
    head = "| method | front | " + " | ".join(f"{b} queries" for b in budgets) + " |\n"
    rule = "|---" * (len(budgets) + 2) + "|\n"
    rows = ""
    for name, s in fronts.items():
        for side, prefix in (("valid", ""), ("test", "test_")):
            cells = [f"{s[str(b)][prefix + 'hv_ratio']:.4f} ± {s[str(b)][prefix + 'hv_ratio_se']:.4f} / "
                     f"{s[str(b)][prefix + 'igd_plus']:.4f}" for b in budgets]
            rows += f"| {name} | {side} | " + " | ".join(cells) + " |\n"
    f = result.oracle["fronts"]
    note = (f"\n{config.space} {config.dataset}, {seeds} seeds, objectives {', '.join(f['valid']['objectives'])}. Each "
            "cell: HV ratio ± standard error over seeds / IGD+ (mean) of the distinct cells evaluated by B queries, "
            f"against the table's exact front (valid: {f['valid']['size']} points; test: the same cells scored on "
            f"{', '.join(f['test']['objectives'])}, whose exact front has {f['test']['size']} points). Objectives "
            "scaled by the exact front's own ideal and nadir, reference point 1.1 per scaled axis "
            "(`archlatent.fronts`); oracle: the exact validation front's cells.\n")
    return head + rule + rows + note


def _check_resumed(out: Path, config: Any) -> None:
    """One error unless the benchmark in `out` ran with `config`'s settings (methods, seeds, threads aside)."""
    free = ("methods", "seeds", "threads")  # threads change how fast, not what is measured
    stored = {k: v for k, v in json.loads((out / "config.json").read_text()).items() if k not in free}
    now = {k: v for k, v in config.to_dict().items() if k not in free}
    if stored != now:
        changed = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
        raise ArchLatentError(f"{out} was benchmarked with other settings ({', '.join(changed)} differ); "
                              "--resume needs the same flags, or use --force")
