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


def _setup(p: argparse.ArgumentParser) -> None:
    setup_config_flags(p)
    p.add_argument("--methods", default="random,rea,local,nao,cso",
                   help="comma list: strategies (random, rea, local, ...) and latent optimizers (nao, bo, cso, ...); "
                        "default random,rea,local,nao,cso")
    p.add_argument("--seeds", type=flag("seeds"), default=100, help="runs per method, seeds 0..N-1 (default 100)")
    p.add_argument("--until-hit", action="store_true", help="stop each run once it evaluates the best validation "
                                                            "architecture (the best feasible one under --constraint; "
                                                            "--budget is then a cap): LaNAS's metric")
    p.add_argument("--out", type=Path, help="output folder")
    p.add_argument("--resume", action="store_true", help="reuse the runs already in OUT/runs.jsonl")
    p.add_argument("--force", action="store_true", help="overwrite an earlier benchmark in OUT")


@command("benchmark", "run the benchmark protocol over seeds; writes summary.json, table.md, regret.png", _setup)
def run_benchmark_command(args: argparse.Namespace) -> int:
    from archlatent.benchmark import run_benchmark
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
    methods = [n.strip() for n in args.methods.split(",") if n.strip()]
    twice = sorted({m for m in methods if methods.count(m) > 1})
    if twice:
        raise ArchLatentError(f"--methods names {', '.join(twice[:3])} more than once")
    config = config_from_args(args)
    check("benchmark_cells", len(methods) * args.seeds * config.budget,
          f"methods x seeds x budget ({len(methods)} x {args.seeds} x {config.budget}: the trajectories held in memory)")
    out = claim(args.out, force=args.force, resume=args.resume, holds=("runs.jsonl", "summary.json"))
    with locked(out):
        if args.resume and (out / "config.json").is_file():
            free = ("methods", "seeds", "threads")  # threads change how fast, not what is measured
            stored = {k: v for k, v in json.loads((out / "config.json").read_text()).items() if k not in free}
            now = {k: v for k, v in config.to_dict().items() if k not in free}
            if stored != now:
                changed = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
                raise ArchLatentError(f"{out} was benchmarked with other settings ({', '.join(changed)} differ); "
                                      "--resume needs the same flags, or use --force")
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
    if args.until_hit:
        from archlatent.benchmark import first_hits

        doc["first_hit"] = {m: first_hits(result.runs, m, config.budget) for m in methods}
        expected = result.oracle.get("random_expected_first_hit")
        for hits in doc["first_hit"].values() if expected else ():  # beside random search's exact figure
            hits.update(random_expected=expected, ratio_to_random=hits["mean"] / expected)
    (out / "summary.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "table.md").write_text(_table(summary, result, config, args.seeds))
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
