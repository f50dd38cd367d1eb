"""`archlatent search / benchmark / export` end to end on the NB201 table, including kill -9 + resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from cli_run import run_cli as _run


def test_search_writes_result_and_exports(nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = _run(["search", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "rea",
                            "--budget", "40", "--seed", "1", "--out", str(out)], capsys)
    assert code == 0
    doc = json.loads((out / "result.json").read_text())
    assert {"arch", "valid_acc", "test_acc"} <= set(doc["best"])
    assert doc["queries"] == 40 == len(doc["history"]) and doc["label_queries"] == 0
    assert doc["data_sha256"] == doc["evaluator"]["sha256"] and doc["config"]["strategy"]["name"] == "rea"
    assert json.loads(stdout)["best"]["arch"] == doc["best"]["arch"] == (out / "best.txt").read_text().strip()
    code, stdout, _ = _run(["export", str(out)], capsys)
    assert code == 0 and stdout.strip() == doc["best"]["arch"]
    code, stdout, _ = _run(["export", str(out), "--format", "json"], capsys)
    assert json.loads(stdout)[0]["cells"]["cell"]["ops"][0] == "input"
    code, _, err = _run(["export", str(out), "--pareto"], capsys)
    assert code == 2 and "no Pareto front" in err
    code, _, err = _run(["search", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "rea",
                         "--budget", "40", "--out", str(out)], capsys)
    assert code == 2 and "--resume" in err


def test_config_file_sets_defaults_and_flags_win(nb201_csv, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'space = "nb201"\nstrategy = "local"\nbudget = 25\nseed = 5\n[evaluator]\nname = "tabular"\n'
                   f'bench = "{nb201_csv}"\n')
    out = tmp_path / "run"
    # flags always win, even when they equal the flag's default (seed 0)
    assert _run(["search", "--config", str(cfg), "--budget", "30", "--seed", "0", "--out", str(out)], capsys)[0] == 0
    written = json.loads((out / "config.json").read_text())
    assert written["strategy"]["name"] == "local" and written["budget"] == 30 and written["seed"] == 0
    assert written["evaluator"]["bench"] == str(nb201_csv)
    cfg.write_text("colour = 'blue'\n")
    code, _, err = _run(["search", "--config", str(cfg), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "unknown key(s) ['colour']" in err
    cfg.write_text('space = "nb201"\nbudget = "ten"\n')
    code, _, err = _run(["search", "--config", str(cfg), "--out", str(tmp_path / "y")], capsys)
    assert code == 2 and "`budget` must be an integer" in err and err.count("\n") == 1


def test_unknown_optimizer_is_one_line(nb201_csv, tmp_path, capsys):
    code, _, err = _run(["search", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "sgd",
                         "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "invalid choice: 'sgd'" in err and err.count("\n") == 1


def test_kill_9_then_resume_loses_nothing(nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["search", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "random", "--budget", "1500",
            "--seed", "7", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "archlatent", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "ARCHLATENT_DATA": ""})
    journal = out / "journal.sqlite"
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline and done < 50:
        time.sleep(0.2)
        if journal.exists():
            try:
                done = sqlite3.connect(journal).execute("SELECT COUNT(*) FROM evals").fetchone()[0]
            except sqlite3.Error:
                done = 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.fail("the search finished before it could be killed")
    saved = sqlite3.connect(journal).execute("SELECT COUNT(*) FROM evals").fetchone()[0]
    assert 50 <= saved < 1500
    assert _run(["search", "--resume", str(out)], capsys)[0] == 0
    resumed = json.loads((out / "result.json").read_text())
    assert sqlite3.connect(journal).execute("SELECT COUNT(*) FROM evals").fetchone()[0] == 1500
    straight = tmp_path / "straight"
    assert _run([*argv[:-1], str(straight)], capsys)[0] == 0
    plain = json.loads((straight / "result.json").read_text())
    assert [h["key"] for h in resumed["history"]] == [h["key"] for h in plain["history"]]
    assert resumed["best"] == plain["best"]


def test_benchmark_writes_summary_table_and_plot(nb201_csv, tmp_path, capsys):
    out = tmp_path / "bench"
    code, _stdout, _ = _run(["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--methods", "random,rea",
                            "--budget", "60", "--seeds", "4", "--out", str(out)], capsys)
    assert code == 0
    doc = json.loads((out / "summary.json").read_text())
    summary = doc["budgets"]
    assert set(summary) == {"random", "rea"} and set(summary["rea"]) == {"50", "60"}  # budgets only
    assert doc["oracle"]["best_valid_test_acc"] == pytest.approx(94.37, abs=0.01)
    cell = summary["rea"]["50"]
    assert 90 < cell["mean_test_acc"] < 94.38 and 0 <= cell["hit_rate"] <= 1 and cell["std_test_acc"] >= 0
    assert (out / "regret.png").stat().st_size > 1000 and "| rea |" in (out / "table.md").read_text()
    assert len((out / "runs.jsonl").read_text().splitlines()) == 8
    code, _, err = _run(["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "rea", "--seeds", "1",
                         "--out", str(tmp_path / "wrong")], capsys)  # search's flag: --methods decides
    assert code == 2 and "--strategy would be ignored" in err and not (tmp_path / "wrong" / "runs.jsonl").exists()


@pytest.mark.parametrize(("dataset", "oracle_test"), [("cifar100", 73.51), ("imagenet16", 47.31)])
def test_search_on_every_dataset_of_the_table(dataset, oracle_test, nb201_csv, tmp_path, capsys):
    out = tmp_path / dataset
    code, _, _ = _run(["search", "--space", "nb201", "--bench", str(nb201_csv), "--dataset", dataset, "--strategy",
                       "rea", "--budget", "30", "--out", str(out)], capsys)
    assert code == 0
    doc = json.loads((out / "result.json").read_text())
    best = doc["best"]
    assert doc["config"]["dataset"] == dataset and doc["queries"] == 30
    assert best["valid_acc"] == max(h["valid_acc"] for h in doc["history"])
    assert 0 < best["test_acc"] <= oracle_test + 0.01
