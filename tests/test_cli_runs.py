"""What a new user hits with run folders: resume traps, locks, the output rule, one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_run import run_cli as _run

from archlatent.cli import main
from archlatent.commands.outputs import locked
from archlatent.journal import row_checksum


def _search(nb201_csv, out, *extra):
    return ["search", "--space", "nb201", "--bench", str(nb201_csv), "--out", str(out), *extra]


def test_resume_loads_the_runs_own_model_and_may_raise_the_budget(nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, _ = _run(_search(nb201_csv, out, "--optimizer", "cso", "--encoder", "gin", "--epochs", "1", "--budget", "20"),
                      capsys)
    assert code == 0
    stamp = (out / "model" / "model.pt").stat().st_mtime_ns
    assert json.loads((out / "config.json").read_text())["encoder"] == "gin"
    code, _, err = _run(["search", "--resume", str(out), "--budget", "35"], capsys)
    assert code == 0, err
    assert (out / "model" / "model.pt").stat().st_mtime_ns == stamp  # not pretrained again
    doc = json.loads((out / "result.json").read_text())
    assert doc["queries"] == 35 and doc["config"]["budget"] == 35
    code, _, err = _run(["search", "--resume", str(out), "--seed", "3"], capsys)
    assert code == 2 and "cannot change ['seed']" in err


def test_config_records_the_checkpoints_encoder_and_refuses_a_changed_one(nb201_csv, tiny_model, tmp_path, capsys):
    from archlatent.encoders import save

    save(tiny_model, tmp_path / "ckpt")
    out = tmp_path / "run"
    assert _run(_search(nb201_csv, out, "--optimizer", "cso", "--checkpoint", str(tmp_path / "ckpt"), "--budget", "15"),
                capsys)[0] == 0
    assert json.loads((out / "config.json").read_text())["encoder"] == "gin"  # not the default transformer
    other = tiny_model.__class__(tiny_model.space, seed=1, **{k: v for k, v in tiny_model.hparams.items() if k != "seed"})
    shutil.rmtree(tmp_path / "ckpt")
    save(other, tmp_path / "ckpt")
    code, _, err = _run(["search", "--resume", str(out), "--budget", "20"], capsys)
    assert code == 2 and "model_weights differ" in err and err.count("\n") == 1


def test_a_refused_start_leaves_the_folder_usable(nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _run(_search(nb201_csv, out, "--strategy", "rea", "--budget", "0"), capsys)
    assert code == 2 and "`budget` must be an integer >= 1" in err
    assert not (out / "journal.sqlite").exists()
    code, _, err = _run(_search(nb201_csv, out, "--strategy", "rea", "--objectives", "valid_accc"), capsys)
    assert code == 2 and "unknown objective" in err and not (out / "journal.sqlite").exists()
    assert _run(_search(nb201_csv, out, "--strategy", "rea", "--budget", "10"), capsys)[0] == 0


def test_a_folder_in_use_is_refused(nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(_search(nb201_csv, out, "--strategy", "rea", "--budget", "10"), capsys)[0] == 0
    with locked(out):  # another process resuming this run holds the lock
        code, _, err = _run(["search", "--resume", str(out), "--budget", "20"], capsys)
    assert code == 2 and "in use by another archlatent process" in err


def test_one_output_rule_for_every_command(nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(_search(nb201_csv, out, "--strategy", "rea", "--budget", "10"), capsys)[0] == 0
    code, _, err = _run(_search(nb201_csv, out, "--strategy", "rea", "--budget", "10"), capsys)
    assert code == 2 and "--force" in err and "--resume" in err
    assert _run(_search(nb201_csv, out, "--strategy", "random", "--budget", "12", "--force"), capsys)[0] == 0
    assert json.loads((out / "result.json").read_text())["queries"] == 12
    bench = ["benchmark", "--space", "nb201", "--bench", str(nb201_csv), "--methods", "random", "--budget", "20",
             "--seeds", "2", "--out", str(tmp_path / "b")]
    assert _run(bench, capsys)[0] == 0
    code, _, err = _run(bench, capsys)
    assert code == 2 and "--force" in err
    runs = (tmp_path / "b" / "runs.jsonl").read_text()
    (tmp_path / "b" / "runs.jsonl").write_text(runs.splitlines()[0] + "\n")  # as if killed after one run
    assert _run([*bench[:-2], "--seeds", "2", "--out", str(tmp_path / "b"), "--resume"], capsys)[0] == 0
    assert (tmp_path / "b" / "runs.jsonl").read_text().splitlines()[0] == runs.splitlines()[0]
    assert len((tmp_path / "b" / "runs.jsonl").read_text().splitlines()) == 2
    pre = ["pretrain", "--space", "nb201", "--encoder", "gin", "--epochs", "1", "--samples", "300", "--out",
           str(tmp_path / "m")]
    assert _run(pre, capsys)[0] == 0
    code, _, err = _run(pre, capsys)
    assert code == 2 and "--force" in err
    assert _run([*pre, "--force"], capsys)[0] == 0


@pytest.mark.parametrize(("argv", "words"), [
    (["sample", "--space", "nb201", "--seed", "-1"], "--seed must be >= 0"),
    (["search", "--space", "nb201", "--seed", "-1", "--out", "{tmp}/s"], "`seed` must be an integer >= 0"),
    (["search", "--space", "nb201", "--objectives", "flops_mm", "--strategy", "rea", "--out", "{tmp}/o"],
     "unknown objective 'flops_mm'"),
    (["search", "--space", "nb201", "--objectives", "test_acc", "--strategy", "rea", "--out", "{tmp}/t"],
     "test-set metric"),
    (["search", "--space", "nb201", "--strategy", "rea", "--objectives", "valid_acc,flops_m", "--out", "{tmp}/m"],
     "single-objective"),
    (["search", "--resume", "{tmp}/nothing"], "cannot resume"),
    (["--threads", "-2", "search", "--space", "nb201", "--out", "{tmp}/x"], "--threads must be >= 0"),
])
def test_bad_flags_are_one_line_exit_2(argv, words, tmp_path, capsys, nb201_csv, monkeypatch):
    monkeypatch.setenv("ARCHLATENT_DATA", str(nb201_csv.parent))
    code, _, err = _run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert code == 2 and words in err and err.count("\n") == 1, err


def test_flags_work_after_the_command_and_help_lists_choices(capsys):
    code, out, _ = _run(["search", "--help"], capsys)
    assert code == 0 and "bo,cso,lamcts,nao,nsga2" in out.replace(" ", "").replace("{", "").replace("}", "")
    assert "(default 100)" in out and "{gin,transformer}" in out
    code, _, _ = _run(["sample", "--space", "nb201", "-n", "1", "--debug"], capsys)
    assert code == 0


def test_list_names_every_registry(capsys):
    code, out, _ = _run(["list"], capsys)
    doc = json.loads(out)
    assert code == 0 and {"latent", "rea"} <= set(doc["strategies"]) and "nao" in doc["optimizers"]
    assert {"tabular", "supernet"} <= set(doc["evaluators"]) and "gin" in doc["encoders"]
    code, out, _ = _run(["list", "metrics", "--space", "nb201"], capsys)
    metrics = json.loads(out)
    assert metrics["valid_acc"] == "max" and metrics["flops_m"] == "min" and "test split" in metrics["test_acc"]


def test_help_imports_no_torch():
    import subprocess
    import sys

    code = "import sys; from archlatent.cli import main; main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_without_a_terminal_progress_is_logged(nb201_csv, tmp_path, capsys):
    code, _, err = _run(_search(nb201_csv, tmp_path / "r", "--optimizer", "cso", "--encoder", "gin", "--epochs", "2",
                                "--budget", "30"), capsys)
    assert code == 0
    assert "pretrain gin: 1/2 epochs" in err and "pretrain gin: 2/2 epochs" in err and "search latent: 30/30 archs" in err


def test_latent_map_of_a_run_and_of_a_checkpoint(nb201_csv, tiny_model, tmp_path, capsys):
    from archlatent.encoders import save

    save(tiny_model, tmp_path / "ckpt")
    run = tmp_path / "run"
    assert _run(_search(nb201_csv, run, "--optimizer", "cso", "--checkpoint", str(tmp_path / "ckpt"), "--budget", "20"),
                capsys)[0] == 0
    code, out, _ = _run(["latent-map", str(run), "--bench", str(nb201_csv)], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["trajectory"] == 20 and doc["architectures"] == 15625 and doc["coloured_by"] == "valid_acc"
    assert (run / "latent-map.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = _run(["latent-map", str(tmp_path / "ckpt"), "--out", str(tmp_path / "m.png")], capsys)
    assert code == 0 and json.loads(out)["trajectory"] == 0 and (tmp_path / "m.png").stat().st_size > 10_000
    code, _, err = _run(["latent-map", str(tmp_path)], capsys)
    assert code == 2 and "neither a model folder" in err


@pytest.mark.parametrize("space", ["nb201", "nb101", "darts"])
def test_fuzzed_genotype_arguments_give_one_line_and_exit_2(space, tmp_path):
    """Whatever text reaches the CLI as a genotype, only the library's error comes out: one line, exit 2."""
    import contextlib
    import io

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    missing = str(tmp_path / "no-such-table.csv.gz")

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.text(min_size=1, max_size=300).filter(lambda t: not t.startswith("-")))
    def check(text):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["query", "--space", space, "--bench", missing, text])
        assert code == 2 and err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue()

    check()


def test_journal_damage_is_one_clear_error(nb201_csv, tmp_path, capsys):
    import sqlite3

    out = tmp_path / "run"
    assert _run(_search(nb201_csv, out, "--strategy", "rea", "--budget", "12"), capsys)[0] == 0
    db = sqlite3.connect(out / "journal.sqlite")
    db.execute("DELETE FROM evals WHERE seq = 4")
    db.commit()
    db.close()
    code, _, err = _run(["search", "--resume", str(out)], capsys)
    assert code == 2 and "evaluation 4 is missing" in err and err.count("\n") == 1
    (out / "journal.sqlite").write_bytes(b"")
    code, _, err = _run(["search", "--resume", str(out)], capsys)
    assert code == 2 and "is empty (0 bytes" in err
    (out / "journal.sqlite").unlink()
    code, _, err = _run(["search", "--resume", str(out)], capsys)
    assert code == 0 and "starts over" in err
    assert json.loads((out / "result.json").read_text())["queries"] == 12


def test_a_journal_row_without_the_objective_is_named(nb201_csv, tmp_path, capsys):
    import sqlite3

    out = tmp_path / "run"
    assert _run(_search(nb201_csv, out, "--strategy", "rea", "--budget", "12"), capsys)[0] == 0
    db = sqlite3.connect(out / "journal.sqlite")
    db.execute("UPDATE evals SET metrics = ? WHERE seq = 0", (json.dumps({"flops_m": 1.0}),))
    db.commit()
    code, _, err = _run(["search", "--resume", str(out), "--budget", "20"], capsys)
    assert code == 2 and "was edited: evaluation 0" in err and err.count("\n") == 1  # the row's checksum
    identity, = db.execute("SELECT value FROM meta WHERE name = 'config'").fetchone()
    key, arch, metrics = db.execute("SELECT key, arch, metrics FROM evals WHERE seq = 0").fetchone()
    db.execute("UPDATE evals SET checksum = ? WHERE seq = 0", (row_checksum(identity, 0, key, arch, metrics),))
    db.commit()
    db.close()
    code, _, err = _run(["search", "--resume", str(out), "--budget", "20"], capsys)  # re-signed: the search names it
    assert code == 2 and "journal" in err and "gives no 'valid_acc'" in err


def test_an_old_run_folder_is_refused_clearly(tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"space": "nb201", "optimizer": "rea", "remap": True, "budget": 10}))
    code, _, err = _run(["search", "--resume", str(out)], capsys)
    assert code == 2 and "archlatent 0.1" in err


def test_query_by_benchmark_index_and_by_nasbench_hash(nb201_csv, nb101_csv, capsys):
    code, out, _ = _run(["query", "--space", "nb201", "--bench", str(nb201_csv), "--index", "6111"], capsys)
    entry = json.loads(out)["results"][0]
    assert code == 0 and entry["index"] == 6111 and entry["metrics"]["valid_acc"] == pytest.approx(91.6067, abs=1e-3)
    code, out, _ = _run(["query", "--space", "nb201", "--bench", str(nb201_csv), entry["arch"]], capsys)
    assert json.loads(out)["results"][0]["index"] == 6111
    code, out, _ = _run(["query", "--space", "nb101", "--bench", str(nb101_csv), "--index", "0"], capsys)
    assert code == 2 or "results" in out
    from archlatent.evaluators.tables import load_table
    from archlatent.spaces import get_space

    g = load_table("nb101", nb101_csv).genotypes[3]
    digest = get_space("nb101").nasbench_hash(g)
    code, out, _ = _run(["query", "--space", "nb101", "--bench", str(nb101_csv), digest], capsys)
    result = json.loads(out)["results"][0]
    assert code == 0 and result["key"] == g.key() and result["nasbench_hash"] == digest
