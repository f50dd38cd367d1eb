"""benchmarks/peers.py (Optuna's samplers in the library's harness) and benchmarks/nbgraph_protocol.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def _script(name: str, *args: str, env: dict[str, str] | None = None, prelude: str = "") -> subprocess.CompletedProcess:
    """Run a benchmark script as a user would, in a fresh process (its registrations stay there)."""
    code = (f"import runpy, sys; {prelude}sys.path.insert(0, {str(BENCHMARKS)!r}); "
            f"sys.argv = [{name!r}, *{list(args)!r}]; runpy.run_path({str(BENCHMARKS / name)!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, **(env or {})})


def test_peers_without_optuna_is_one_message_naming_the_extra(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _script("peers.py", "--space", "nb201", "--dataset", "cifar10", "--out", str(out),
                   prelude="sys.modules['optuna'] = None; ")  # `import optuna` raises ImportError
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: benchmarks/peers.py needs Optuna: pip install 'archlatent[peers]'"]
    assert not out.exists()  # refused before any work


def test_the_library_never_imports_optuna() -> None:
    pattern = re.compile(r"^\s*(import optuna|from optuna)", re.MULTILINE)
    sources = [p for d in ("archlatent", "encoders", "optimizers") for p in (ROOT / d).rglob("*.py")]
    assert sources
    assert [str(p) for p in sources if pattern.search(p.read_text())] == []


def test_tpe_on_nb201_counts_distinct_keys_only(tmp_path: Path, nb201_csv: Path) -> None:
    pytest.importorskip("optuna")
    done = _script("peers.py", "--space", "nb201", "--dataset", "cifar10", "--seeds", "2", "--budget", "15",
                   "--out", str(tmp_path), env={"ARCHLATENT_DATA": str(nb201_csv.parent)})
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [(r["method"], r["seed"]) for r in runs] == [("optuna-tpe", 0), ("optuna-tpe", 1)]
    for r in runs:
        assert len(r["keys"]) == len(set(r["keys"])) == 15  # 15 queries: 15 distinct architectures
        assert all(a <= b for a, b in zip(r["valids"], r["valids"][1:]))  # the best so far, by validation
    assert runs[0]["keys"] != runs[1]["keys"]  # the sampler's seed is the run's
    summary = json.loads((tmp_path / "summary.json").read_text())["methods"]["optuna-tpe"]
    assert summary["test"]["10"][0] == pytest.approx(sum(r["tests"][9] for r in runs) / 2)
    assert "| optuna-tpe | " in done.stdout and "test @10" in done.stdout
    more = _script("peers.py", "--space", "nb201", "--dataset", "cifar10", "--seeds", "2", "--start", "1", "--budget",
                   "15", "--out", str(tmp_path), env={"ARCHLATENT_DATA": str(nb201_csv.parent)})
    assert more.returncode == 0, more.stderr
    now = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert now[:2] == runs and [r["seed"] for r in now[2:]] == [2]  # seed 1 reused, seed 2 run
    assert json.loads((tmp_path / "summary.json").read_text())["seeds"] == [1, 2]


def test_tpe_tells_repeats_their_value_and_does_not_count_them(nb201_table) -> None:
    optuna = pytest.importorskip("optuna")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import peers
    finally:
        sys.path.remove(str(BENCHMARKS))
    from archlatent.evaluators.tabular import TabularEvaluator
    from archlatent.search import search
    from archlatent.spaces import get_space

    space = get_space("nb201")
    strategy = peers.OptunaTPE(space, seed=3)
    result = search(space, strategy, TabularEvaluator(nb201_table, "cifar10"), 60)
    assert result.queries == 60 and len({e["key"] for e in result.history}) == 60
    trials = strategy.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 60 + strategy.repeats and strategy.repeats > 0  # TPE repeats itself; repeats are free
    by_key = defaultdict(set)
    for trial in trials:
        by_key[strategy.encoding.genotype(trial.params).key()].add(trial.value)
    assert len(by_key) == 60 and all(len(values) == 1 for values in by_key.values())  # a repeat gets the known value
    assert {k: v.pop() for k, v in by_key.items()} == {k: -m["valid_acc"] for k, m in result.metrics.items()}


def test_protocol_runs_until_hit_and_prints_the_table(tmp_path: Path) -> None:
    pytest.importorskip("nas_bench_graph")
    done = _script("nbgraph_protocol.py", "--datasets", "cora", "--methods", "random,local", "--seeds", "1",
                   "--cap", "12", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in (tmp_path / "cora" / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["method"] for r in runs) == ["local", "random"]
    summary = json.loads((tmp_path / "cora" / "summary.json").read_text())
    oracle = summary["oracle"]
    # each class equally likely; cora's best is held by two classes equal up to rounding: either is a hit
    assert oracle["best_valid_classes"] == 2
    assert oracle["random_expected_first_hit"] == pytest.approx(1 + (26_206 - 2) / 3)
    for r in runs:
        assert len(set(r["keys"])) == len(r["keys"]) <= 12
        regret = summary["methods"][r["method"]]["regret"]["10"][0]
        assert regret == pytest.approx(oracle["best_valid_acc"] - r["valids"][9]) and regret >= 0
    table = (tmp_path / "cora" / "table.md").read_text()
    assert table.splitlines()[0].startswith("| method | queries until hit | missed | random / it | regret @10 |")
    assert "| random | " in table and "| local | " in table and table in done.stdout


def test_protocol_refuses_an_unknown_dataset_in_one_line(tmp_path: Path) -> None:
    done = _script("nbgraph_protocol.py", "--datasets", "cora,mnist", "--methods", "random", "--out", str(tmp_path))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "mnist" in done.stderr


def test_protocol_runs_latent_once_when_it_is_nao() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from nbgraph_protocol import aliases
    finally:
        sys.path.remove(str(BENCHMARKS))
    methods = ["latent", "rea", "nao", "bo"]
    assert aliases(methods, "nao") == {"latent": "latent", "rea": "rea", "nao": "latent", "bo": "bo"}
    assert aliases(methods, "bo") == {"latent": "latent", "rea": "rea", "nao": "nao", "bo": "latent"}


def test_multi_objective_tpe_is_scored_against_the_exact_front(tmp_path: Path, nb201_csv: Path) -> None:
    pytest.importorskip("optuna")
    done = _script("peers.py", "--space", "nb201", "--dataset", "cifar10", "--objectives", "valid_acc,flops_m",
                   "--fronts-at", "5,20", "--seeds", "1", "--out", str(tmp_path),
                   env={"ARCHLATENT_DATA": str(nb201_csv.parent)})
    assert done.returncode == 0, done.stderr
    (run,) = [json.loads(line) for line in (tmp_path / "fronts.jsonl").read_text().splitlines()]
    assert len(set(run["keys"])) == 20
    hv, igd = [[run["scores"][b][m] for b in ("5", "20")] for m in ("hv_ratio", "igd_plus")]
    assert 0 < hv[0] <= hv[1] <= 1 and igd[0] >= igd[1] >= 0  # more cells: never a worse front
    assert "HV ratio @20" in done.stdout
