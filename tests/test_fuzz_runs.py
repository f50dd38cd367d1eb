"""Fuzzing run folders (issue 28, issue 23): damaged result.json, damaged journals, kills at any point,
Ctrl-C at any point, absurd settings, damaged checkpoints, sidecars and portfolios.

Every input gets exit code 0 or one line and exit code 2, never a traceback, and no damaged file is
ever trusted. The fast forms run by default; the bigger ones are marked ``slow``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archlatent.cli import main
from archlatent.config import SearchConfig
from archlatent.errors import ArchLatentError

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _refused(code: int, err: str, *words: str) -> None:
    """One line on stderr, exit code 2, naming `words`."""
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err


@pytest.fixture(scope="module")
def finished(nb201_csv, tmp_path_factory):
    """A finished regularized-evolution run (no pretraining: fast) and its result.json."""
    out = tmp_path_factory.mktemp("fuzz") / "run"
    assert main(["search", "--space", "nb201", "--bench", str(nb201_csv), "--strategy", "rea", "--budget", "12",
                 "--out", str(out)]) == 0
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "copy", ignore=shutil.ignore_patterns(".lock")))


# -- damaged result.json ----------------------------------------------------------------------------------

def _damages(doc: dict) -> list[tuple[str, object]]:
    """(name, new result.json: a dict, or text for what is not JSON)."""
    def with_(path: str, value: object) -> dict:
        new = copy.deepcopy(doc)
        *parents, last = path.split(".")
        node = new
        for p in parents:
            node = node[p]
        node[last] = value
        return new

    text = json.dumps(doc)
    arch = doc["best"]["arch"]
    return [
        ("empty", ""), ("truncated", text[: len(text) // 2]), ("junk", "\x00\xff garbage"), ("list", "[]"),
        ("null", "null"), ("deep", "[" * 100_000 + "]" * 100_000), ("no config", {k: v for k, v in doc.items()
                                                                                 if k != "config"}),
        ("space int", with_("config.space", 5)), ("space unknown", with_("config.space", "nb999")),
        ("config list", with_("config", [])),
        ("best null", with_("best", None)), ("best {}", with_("best", {})), ("best list", with_("best", [arch])),
        ("best text", with_("best", arch)), ("arch int", with_("best.arch", 7)), ("arch junk", with_("best.arch", "|x|")),
        ("arch long", with_("best.arch", arch * 1000)),
        ("metric text", with_("best.valid_acc", "91")), ("metric bool", with_("best.valid_acc", True)),
        ("metric list", with_("best.valid_acc", [91])), ("metric null", with_("best.valid_acc", None)),
        ("NaN", text.replace(f'"valid_acc": {json.dumps(doc["best"]["valid_acc"])}', '"valid_acc": NaN', 1)),
        ("Infinity", text.replace(f'"test_acc": {json.dumps(doc["best"]["test_acc"])}', '"test_acc": -Infinity', 1)),
        ("1e999", text.replace(f'"valid_acc": {json.dumps(doc["best"]["valid_acc"])}', '"valid_acc": 1e999', 1)),
        ("darts hex", with_("config.space", "darts") | {"best": {"arch": "0x" + "f" * 3600}}),
    ]


def _pareto_damages(doc: dict) -> list[tuple[str, object]]:
    best = {k: v for k, v in doc["best"].items() if k != "key"}
    fronts = [("pareto list", [best]), ("pareto text", "front"), ("front dict", {"front": best}),
              ("front empty", {"front": []}), ("front null entry", {"front": [None]}),
              ("front no arch", {"front": [{"valid_acc": 1.0}]}), ("front arch junk", {"front": [dict(best, arch="x")]}),
              ("front NaN", {"front": [dict(best, flops_m=float("nan"))]})]  # NaN anywhere: the file is refused
    return [(name, json.dumps(dict(doc, pareto=front))) for name, front in fronts]


def test_an_intact_result_exports_and_a_front_exports_each_entry(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    doc = json.loads((run / "result.json").read_text())
    code, out, _ = _run(["export", run], capsys)
    assert code == 0 and out.strip() == doc["best"]["arch"]
    second = {"arch": doc["history"][1]["arch"], "valid_acc": 1.0, "flops_m": 2.0}
    (run / "result.json").write_text(json.dumps(dict(doc, pareto={"front": [doc["best"], second]})))
    code, out, _ = _run(["export", run, "--pareto", "--format", "json"], capsys)
    assert code == 0 and [e["arch"] for e in json.loads(out)] == [doc["best"]["arch"], second["arch"]]


def test_every_damaged_result_is_one_line(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    doc = json.loads((run / "result.json").read_text())
    cases = _damages(doc) + _pareto_damages(doc)
    for name, damaged in cases:
        (run / "result.json").write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
        for extra in ([], ["--format", "json"], ["--pareto"]):
            code, out, err = _run(["export", run, *extra], capsys)
            if name.startswith(("pareto", "front")) and extra[:1] != ["--pareto"] and name != "front NaN":
                assert code == 0, (name, err)  # the best is intact: only the front was damaged
                continue
            _refused(code, err)
            assert out == "", name
    assert len(cases) >= 30


def test_nan_is_refused_not_exported(finished, tmp_path, capsys):
    """The library never writes NaN into result.json (strict JSON), so a NaN there is damage: refused, naming
    the field, rather than exported as null."""
    run = _copy(finished, tmp_path)
    text = (run / "result.json").read_text()
    (run / "result.json").write_text(text.replace('"best": {', '"best": {"flops_m": NaN, ', 1))
    _refused(*_run(["export", run, "--format", "json"], capsys)[::2], "NaN")
    (run / "result.json").write_text(text.replace('"best": {', '"best": {"energy": 1e400, ', 1))  # parsed as inf
    _refused(*_run(["export", run, "--format", "json"], capsys)[::2], "best.energy", "finite number")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON, field=st.sampled_from(["best", "best.arch", "best.valid_acc", "pareto", "config", "config.space"]))
def test_any_json_in_any_field_is_exported_or_one_line(finished, tmp_path, capsys, value, field):
    run = tmp_path / "h"
    run.mkdir(exist_ok=True)
    doc = json.loads((finished / "result.json").read_text())
    *parents, last = field.split(".")
    node = doc
    for p in parents:
        node = node[p]
    node[last] = value
    (run / "result.json").write_text(json.dumps(doc))
    for extra in ([], ["--pareto", "--format", "json"]):
        code, _, err = _run(["export", run, *extra], capsys)
        assert code == 0 or (code == 2 and err.count("\n") == 1 and "Traceback" not in err), err


# -- damaged journals -------------------------------------------------------------------------------------

def _identity(path: Path) -> dict:
    with sqlite3.connect(path) as db:
        return json.loads(db.execute("SELECT value FROM meta WHERE name = 'config'").fetchone()[0])


def _journal_damages() -> list[tuple[str, list[str], str]]:
    """(name, SQL that damages a finished run's journal, what the refusal says)."""
    edited = "was edited: evaluation"
    return [
        ("better valid_acc", ["UPDATE evals SET metrics = json_set(metrics, '$.valid_acc', 99.9) WHERE seq = 3"], edited),
        ("other arch", ["UPDATE evals SET arch = (SELECT arch FROM evals WHERE seq = 1) || ' ' WHERE seq = 2"], edited),
        ("other key", ["UPDATE evals SET key = key || 'x' WHERE seq = 5"], edited),
        ("swapped metrics", ["UPDATE evals SET metrics = (SELECT metrics FROM evals WHERE seq = 0) WHERE seq = 7"], edited),
        ("moved row", ["UPDATE evals SET seq = 100 WHERE seq = 11"], "evaluation 11 is missing"),
        ("null checksum", ["UPDATE evals SET checksum = NULL WHERE seq = 0"], edited),
        ("junk checksum", ["UPDATE evals SET checksum = 'abc' WHERE seq = 4"], edited),
        ("deleted row", ["DELETE FROM evals WHERE seq = 4"], "evaluation 4 is missing"),
        ("renamed evals", ["ALTER TABLE evals RENAME TO evals_old"], "tables"),
        ("dropped evals", ["DROP TABLE evals"], "tables"),
        ("renamed meta", ["ALTER TABLE meta RENAME TO meta_old"], "tables"),
        ("extra table", ["CREATE TABLE notes (x)"], "tables"),
        ("no config", ["DELETE FROM meta WHERE name = 'config'"], "names no run"),
        ("other run", ["UPDATE meta SET value = json_set(value, '$.seed', 9) WHERE name = 'config'"], "another run"),
        ("config not json", ["UPDATE meta SET value = '{' WHERE name = 'config'"], "corrupt"),
        ("other format", ["UPDATE meta SET value = '3' WHERE name = 'format'"], "format"),
        ("no checksums", ["ALTER TABLE evals DROP COLUMN checksum"], "format"),
        ("metrics text", ["UPDATE evals SET metrics = 'x' WHERE seq = 2"], "evaluation 2"),
    ]


@pytest.mark.parametrize(("name", "sql", "words"), _journal_damages(), ids=[d[0] for d in _journal_damages()])
def test_a_damaged_journal_is_refused_by_name_and_left_as_it_was(finished, tmp_path, name, sql, words):
    from archlatent.journal import Journal

    path = _copy(finished, tmp_path) / "journal.sqlite"
    identity = _identity(path)
    with sqlite3.connect(path) as db:
        for statement in sql:
            db.execute(statement)
    before = path.read_bytes()
    with pytest.raises(ArchLatentError, match=words):
        Journal(path, identity)
    assert path.read_bytes() == before  # nothing rewritten, nothing lost


@pytest.mark.parametrize("damage", ["truncate", "flip", "junk"])
def test_a_damaged_journal_file_is_refused(finished, tmp_path, damage):
    from archlatent.journal import Journal

    path = _copy(finished, tmp_path) / "journal.sqlite"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        for i in range(100, len(data), 97):
            data[i] ^= 0xFF
    else:
        data = bytearray(b"not a database" * 100)
    path.write_bytes(bytes(data))
    try:
        Journal(path, _identity(finished / "journal.sqlite")).close()
    except ArchLatentError as err:
        assert "journal" in str(err)


def test_an_edited_best_and_a_renamed_table_are_refused_by_resume(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    with sqlite3.connect(run / "journal.sqlite") as db:
        db.execute("UPDATE evals SET metrics = json_set(metrics, '$.valid_acc', 99.9) WHERE seq = 3")
    _refused(*_run(["search", "--resume", run, "--budget", "14"], capsys)[::2], "evaluation 3", "checksum")
    run = _copy(finished, tmp_path / "b")
    with sqlite3.connect(run / "journal.sqlite") as db:
        db.execute("ALTER TABLE evals RENAME TO e")
    _refused(*_run(["search", "--resume", run, "--budget", "14"], capsys)[::2], "renamed or dropped")
    with sqlite3.connect(run / "journal.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM e").fetchone()[0] == 12  # still there to restore


def test_a_journal_of_060_is_accepted_once_and_signed(finished, tmp_path, capsys, caplog):
    """A 0.6.0 journal (no checksums, no format row) resumes as it is, with a warning, and is signed then:
    an edit after that is refused."""
    run = _copy(finished, tmp_path)
    path = run / "journal.sqlite"
    with sqlite3.connect(path) as db:
        config = db.execute("SELECT value FROM meta WHERE name = 'config'").fetchone()[0]
        rows = db.execute("SELECT seq, key, arch, metrics FROM evals ORDER BY seq").fetchall()
    path.unlink()
    with sqlite3.connect(path) as db:  # 0.6.0's schema
        db.executescript("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE evals (seq "
                         "INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, arch TEXT NOT NULL, metrics TEXT NOT NULL);")
        db.execute("INSERT INTO meta VALUES ('config', ?)", (config,))
        db.executemany("INSERT INTO evals VALUES (?, ?, ?, ?)", rows)
    before = json.loads((run / "result.json").read_text())
    code, _, err = _run(["search", "--resume", run], capsys)
    assert code == 0 and "before row checksums" in caplog.text and "12 rows" in caplog.text, err
    after = json.loads((run / "result.json").read_text())
    assert after["best"] == before["best"] and after["history"] == before["history"]
    caplog.clear()
    code, _, err = _run(["search", "--resume", run], capsys)
    assert code == 0 and "before row checksums" not in caplog.text  # once
    with sqlite3.connect(path) as db:
        db.execute("UPDATE evals SET metrics = json_set(metrics, '$.valid_acc', 99.9) WHERE seq = 0")
    _refused(*_run(["search", "--resume", run], capsys)[::2], "evaluation 0")


# -- kills and interrupts at any point --------------------------------------------------------------------

def _search_argv(nb201_csv, out) -> list[str]:
    """A latent search with a short pretraining: start-up, pretraining and search each take a few seconds."""
    return ["search", "--space", "nb201", "--bench", str(nb201_csv), "--optimizer", "cso", "--encoder", "gin",
            "--epochs", "2", "--samples", "3000", "--members", "1", "--budget", "40", "--out", str(out)]


def _journal_rows(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as db:
            return db.execute("SELECT COUNT(*) FROM evals").fetchone()[0]
    except sqlite3.Error:
        return 0


#: Where a run is killed: a delay after start (s), or a milestone of what it has written.
MILESTONES = {
    "lock": lambda out: (out / ".lock").exists(),
    "config": lambda out: (out / "config.json").exists(),
    "model": lambda out: (out / "model" / "model.json").exists(),
    "journal": lambda out: (out / "journal.sqlite").exists(),
    "5 rows": lambda out: _journal_rows(out / "journal.sqlite") >= 5,
    "20 rows": lambda out: _journal_rows(out / "journal.sqlite") >= 20,
    "35 rows": lambda out: _journal_rows(out / "journal.sqlite") >= 35,
}


def _start(argv: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "archlatent", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _wait_for(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.01)


def _recover(argv: list[str], out: Path, capsys) -> dict:
    """What a user does after a kill: --resume, or, when the run wrote nothing to continue, the same command
    again in place (no --force). Returns the final result.json."""
    code, _, err = _run(["search", "--resume", out], capsys)
    if code == 2 and ("start it again in place" in err or "no such run folder" in err):
        code, _, err = _run(argv, capsys)
    assert code == 0, err
    return json.loads((out / "result.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(nb201_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    assert main(_search_argv(nb201_csv, out)) == 0
    return json.loads((out / "result.json").read_text())


def _same(result: dict, whole: dict) -> None:
    assert result["best"] == whole["best"] and result["queries"] == whole["queries"]
    assert [h["key"] for h in result["history"]] == [h["key"] for h in whole["history"]]


def _kill_and_resume(nb201_csv, tmp_path, capsys, uninterrupted, point) -> None:
    out = tmp_path / f"run-{point}"
    argv = _search_argv(nb201_csv, out)
    proc = _start(argv)
    ready = (lambda: False) if isinstance(point, float) else (lambda: MILESTONES[point](out))
    if isinstance(point, float):
        time.sleep(point)
    else:
        _wait_for(proc, ready)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL or isinstance(point, float)  # a milestone is seen before the end
    _same(_recover(argv, out, capsys), uninterrupted)


@pytest.mark.parametrize("point", ["config", "model", "5 rows"])
def test_a_run_killed_anywhere_resumes_to_the_uninterrupted_result(nb201_csv, tmp_path, capsys, uninterrupted, point):
    _kill_and_resume(nb201_csv, tmp_path, capsys, uninterrupted, point)


@pytest.mark.slow
@pytest.mark.parametrize("point", [0.2, 1.0, "lock", "config", 6.0, "model", "journal", "5 rows", "20 rows", "35 rows"])
def test_ten_kills_from_start_up_to_the_end_resume_to_the_uninterrupted_result(nb201_csv, tmp_path, capsys,
                                                                               uninterrupted, point):
    _kill_and_resume(nb201_csv, tmp_path, capsys, uninterrupted, point)


def test_a_run_that_failed_after_pretraining_resumes_with_its_model(nb201_csv, tmp_path, capsys, monkeypatch):
    """Issue 23: a run that failed after pretraining used to trap its folder (the command again: 'holds results';
    --resume: 'config.json unreadable'). --resume now continues it with the model it saved."""
    import archlatent.run

    out = tmp_path / "run"
    argv = _search_argv(nb201_csv, out)

    def fail(*args, **kwargs):
        raise ArchLatentError("the evaluator went away")

    monkeypatch.setattr(archlatent.run, "search", fail)
    code, _, err = _run(argv, capsys)
    assert code == 2 and err.endswith("archlatent search: error: the evaluator went away\n")
    monkeypatch.undo()
    stamp = (out / "model" / "model.pt").stat().st_mtime_ns
    code, _, err = _run(argv, capsys)
    _refused(code, err, "--resume")
    code, _, err = _run(["search", "--resume", out], capsys)
    assert code == 0, err
    assert (out / "model" / "model.pt").stat().st_mtime_ns == stamp  # reused, not pretrained again


def test_a_run_that_wrote_nothing_starts_again_in_place(nb201_csv, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").touch()  # all a run killed during start-up leaves
    code, _, err = _run(["search", "--resume", out], capsys)
    _refused(code, err, "start it again in place")
    argv = ["search", "--space", "nb201", "--bench", nb201_csv, "--strategy", "rea", "--budget", "10", "--out", out]
    (out / "config.json").write_text("{}")  # and a config.json, but no model, journal or result
    assert _run(argv, capsys)[0] == 0


def test_resume_while_the_run_still_pretrains_is_refused_as_in_use(nb201_csv, tmp_path, capsys):
    from archlatent.commands.outputs import locked

    out = tmp_path / "run"
    out.mkdir()
    with locked(out):  # the original run holds the lock and has not written config.json yet
        _refused(*_run(["search", "--resume", out], capsys)[::2], "in use")


def _interrupt(argv: list[str], ready) -> tuple[int, str]:
    proc = _start(argv)
    _wait_for(proc, lambda: ready(proc))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def _importing_torch(proc: subprocess.Popen) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see torch being imported")
def test_ctrl_c_during_start_up_and_during_search_is_one_line(nb201_csv, tmp_path):
    out = tmp_path / "early"
    code, err = _interrupt(_search_argv(nb201_csv, out), _importing_torch)
    assert code == 130 and err == "archlatent search: interrupted\n", err
    out = tmp_path / "late"
    code, err = _interrupt(_search_argv(nb201_csv, out), lambda proc: MILESTONES["5 rows"](out))
    assert code == 130 and err.endswith("archlatent search: interrupted\n") and "Traceback" not in err, err


def _holds_lock(folder: Path) -> bool:
    """Whether some process holds the flock on `folder`/.lock (read from /proc/locks: probing it would race)."""
    try:
        inode = (folder / ".lock").stat().st_ino
        return any(" FLOCK " in line and line.split()[5].endswith(f":{inode}")
                   for line in Path("/proc/locks").read_text().splitlines())
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks to see the lock taken")
def test_two_resumes_at_once_one_is_refused_in_use(finished, tmp_path):
    run = _copy(finished, tmp_path)
    first = _start(["search", "--resume", str(run), "--budget", "200"])
    _wait_for(first, lambda: _holds_lock(run))
    first.send_signal(signal.SIGSTOP)  # held mid-search, lock taken, for as long as the second one needs
    try:
        second = subprocess.run([sys.executable, "-m", "archlatent", "search", "--resume", str(run), "--budget", "200"],
                                capture_output=True, text=True, timeout=600, check=False)
    finally:
        first.send_signal(signal.SIGCONT)
    first.communicate(timeout=600)
    assert first.returncode == 0
    assert second.returncode == 2 and "in use" in second.stderr and second.stderr.count("\n") == 1


# -- absurd settings --------------------------------------------------------------------------------------

BIG = str(10**30)
ABSURD = [
    ["benchmark", "--space", "nb201", "--seeds", str(10**9), "--out", "{tmp}/b"],
    ["benchmark", "--space", "nb201", "--seeds", "10000", "--budget", "100000", "--out", "{tmp}/b"],
    ["benchmark", "--space", "nb201", "--methods", "random,random", "--out", "{tmp}/b"],
    ["benchmark", "--space", "nb201", "--seeds", BIG * 200, "--out", "{tmp}/b"],
    ["pretrain", "--space", "nb201", "--hidden", str(10**6), "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--latent-dim", str(10**6), "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--encoder", "gin", "--hidden", "8192", "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--samples", BIG, "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--epochs", BIG, "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--batch-size", BIG, "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--members", "10000", "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--seed", BIG, "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--labels", BIG, "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--lr", "nan", "--out", "{tmp}/p"],
    ["pretrain", "--space", "nb201", "--lr", "-1", "--out", "{tmp}/p"],
    ["sample", "--space", "nb201", "-n", str(10**12)],
    ["sample", "--space", "nb201", "--seed", BIG],
    ["search", "--space", "nb201", "--budget", str(10**9), "--out", "{tmp}/s"],
    ["search", "--space", "nb201", "--seed", BIG, "--out", "{tmp}/s"],
    ["search", "--space", "nb201", "--labels", str(10**9), "--budget", "100", "--out", "{tmp}/s"],
    ["search", "--space", "nb201", "--members", "10000", "--out", "{tmp}/s"],
    ["search", "--space", "nb201", "--neighbours", str(10**9), "--out", "{tmp}/s"],
    ["search", "--space", "nb201", "--epochs", BIG, "--out", "{tmp}/s"],
    ["search", "--space", "nb201", "--samples", BIG, "--out", "{tmp}/s"],
    ["search", "--space", "nb201", "--workers", str(10**8), "--executor", "ray", "--out", "{tmp}/s"],
    ["search", "--space", "nb201", "--screen-keep", "nan", "--out", "{tmp}/s"],
    ["--threads", str(10**6), "search", "--space", "nb201", "--out", "{tmp}/s"],
]


@pytest.mark.parametrize("argv", ABSURD, ids=[" ".join(a)[:60] for a in ABSURD])
def test_an_absurd_setting_is_one_line_before_any_work(argv, tmp_path, capsys, nb201_csv, monkeypatch):
    monkeypatch.setenv("ARCHLATENT_DATA", str(nb201_csv.parent))
    code, out, err = _run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    _refused(code, err)
    assert out == "" and not any(tmp_path.rglob("*.pt")) and not any(tmp_path.rglob("journal.sqlite"))


@pytest.mark.parametrize(("settings", "words"), [
    ({"budget": 10**9}, "`budget` must be an integer <="),
    ({"seed": 10**30}, "`seed`"),
    ({"pretrain": {"members": 10_000}}, "`pretrain.members`"),
    ({"pretrain": {"hidden": 10**6}}, "`pretrain.hidden`"),
    ({"strategy_kwargs": {"neighbours": 10**9}}, "`strategy.neighbours`"),
    ({"executor_kwargs": {"workers": 10**9}}, "`executor.workers`"),
    ({"threads": 10**6}, "`threads`"),
    ({"strategy": "rea", "strategy_kwargs": {"population": 10**9}}, "`strategy.population`"),
    ({"strategy": "rea", "strategy_kwargs": {"population": "big"}}, "`strategy.population` must be an integer"),
    ({"strategy": "lanas", "strategy_kwargs": {"height": 40}}, "`strategy.height`"),
    ({"optimizer_kwargs": {"candidates": 10**9}}, "`optimizer.candidates`"),
])
def test_the_front_door_bounds_the_same_settings(settings, words):
    from archlatent.config import ConfigError, SearchConfig

    with pytest.raises(ConfigError, match=words):
        SearchConfig(space="nb201", **settings)


def test_a_config_file_with_an_absurd_plugin_setting_is_one_line(tmp_path, capsys, nb201_csv):
    (tmp_path / "c.toml").write_text('space = "nb201"\n[strategy]\nname = "rea"\npopulation = 1000000000\n')
    argv = ["search", "--config", tmp_path / "c.toml", "--bench", nb201_csv, "--out", tmp_path / "r"]
    _refused(*_run(argv, capsys)[::2], "population")


def test_pretraining_refuses_a_model_too_large_before_drawing_data():
    from archlatent.encoders import pretrain

    with pytest.raises(ArchLatentError, match="weights, more than"):  # counted on the meta device, nothing drawn
        pretrain("nb201", "transformer", hidden=4096, heads=4, samples=10**6, epochs=1)
    with pytest.raises(ArchLatentError, match="hidden must be an integer <="):
        pretrain("nb201", "gin", hidden=10**6)


def test_sample_streams_its_lines(tmp_path, capsys):
    path = tmp_path / "s.jsonl"
    assert _run(["sample", "--space", "nb201", "-n", "3000", "--out", path], capsys)[0] == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 3000 and all(json.loads(line)["arch"].startswith("|") for line in lines)
    code, out, _ = _run(["sample", "--space", "nb201", "-n", "5", "--seed", "1"], capsys)
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == \
        [json.loads(line) for line in _run(["sample", "--space", "nb201", "-n", "5", "--seed", "1"], capsys)[1].splitlines()]


# -- damaged checkpoints, sidecars and portfolios ---------------------------------------------------------

def _resign(folder: Path, edit) -> None:
    """Edit a checkpoint's model.json and sign it again (as a determined editor would)."""
    from archlatent.encoders.checkpoint import _digest

    meta = json.loads((folder / "model.json").read_text())
    edit(meta)
    meta.pop("metadata_sha256", None)
    try:
        meta["metadata_sha256"] = _digest(meta)
    except (TypeError, ValueError):
        meta["metadata_sha256"] = "x"
    (folder / "model.json").write_text(json.dumps(meta))


def _set(path: str, value):
    def edit(meta):
        node = meta
        *parents, last = path.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[last] = value
    return edit


SIDECARS = [
    ("hparams.seed", 10**30), ("hparams.seed", -1), ("hparams.seed", "x"), ("hparams.seed", 2.5),
    ("metrics.labelled", 5), ("metrics.labelled", [1, 2]), ("metrics.labelled", "|x|"), ("metrics.labelled", {"a": 1}),
    ("metrics", [1]), ("hparams.hidden", 10**6), ("hparams.hidden", 0), ("hparams.hidden", 8192),
    ("hparams.latent_dim", 4096), ("hparams.layers", 64), ("hparams.adj_head", "x"), ("hparams.beta", -1.0),
    ("hparams.beta", "x"), ("hparams.heads", 3), ("hparams.extra", [1]), ("hparams", []), ("hparams", None),
    ("space", "nb101"), ("space", 5), ("encoder", "transformer"), ("encoder", "nope"), ("encoder", 5),
    ("weights_sha256", 5), ("weights_sha256", "0" * 64), ("format", 2), ("space_signature", {}),
]


@pytest.fixture(scope="module")
def saved(tiny_model, tmp_path_factory):
    from archlatent.encoders import save, save_portfolio

    root = tmp_path_factory.mktemp("ckpt")
    save(tiny_model, root / "one")
    save_portfolio([tiny_model, tiny_model], root / "two")
    return root


@pytest.mark.parametrize(("field", "value"), SIDECARS, ids=[f"{f}={str(v)[:12]}" for f, v in SIDECARS])
def test_a_resigned_sidecar_is_refused_or_loads(saved, tmp_path, field, value):
    from archlatent.encoders import load_portfolio

    folder = Path(shutil.copytree(saved / "one", tmp_path / "c"))
    _resign(folder, _set(field, value))
    try:
        load_portfolio(folder, space="nb201")
    except ArchLatentError as err:
        assert "checkpoint" in str(err) and "\n" not in str(err)
    else:
        assert field in ("hparams.extra", "hparams.heads")  # a setting gin does not use is kept, harmlessly


def test_a_sidecar_with_bad_labels_is_one_line_from_search(saved, tmp_path, capsys, nb201_csv):
    for value in (5, [1, 2]):
        folder = Path(shutil.copytree(saved / "one", tmp_path / f"c{value}"))
        _resign(folder, _set("metrics.labelled", value))
        argv = ["search", "--space", "nb201", "--bench", nb201_csv, "--checkpoint", folder, "--optimizer", "cso",
                "--budget", "10", "--out", tmp_path / f"r{value}"]
        _refused(*_run(argv, capsys)[::2], "labelled")
    folder = Path(shutil.copytree(saved / "one", tmp_path / "seed"))
    _resign(folder, _set("hparams.seed", 10**30))
    argv = ["search", "--space", "nb201", "--bench", nb201_csv, "--checkpoint", folder, "--optimizer", "cso",
            "--budget", "10", "--out", tmp_path / "rs"]
    _refused(*_run(argv, capsys)[::2], "seed")


def _index(folder: Path, members) -> None:
    from archlatent.encoders.checkpoint import _digest

    index = {"format": 1, "members": members}
    index["index_sha256"] = _digest(index, "index_sha256")
    (folder / "portfolio.json").write_text(json.dumps(index))


@pytest.mark.parametrize("damage", ["10000 times", "twice", "65 members", "outside", "missing", "int members",
                                    "null folder", "empty"])
def test_a_resigned_portfolio_index_is_refused_quickly(saved, tmp_path, damage):
    from archlatent.encoders import load_portfolio

    folder = Path(shutil.copytree(saved / "two", tmp_path / "p"))
    listed = json.loads((folder / "portfolio.json").read_text())["members"]
    members = {
        "10000 times": [listed[0]] * 10_000, "twice": [listed[0], listed[0]],
        "65 members": [{"folder": f"member-{j}", "weights_sha256": listed[0]["weights_sha256"]} for j in range(65)],
        "outside": [{"folder": "../one", "weights_sha256": listed[0]["weights_sha256"]}],
        "missing": [{"folder": "member-9", "weights_sha256": listed[0]["weights_sha256"]}],
        "int members": 5, "null folder": [{"folder": None, "weights_sha256": None}], "empty": [],
    }[damage]
    _index(folder, members)
    with pytest.raises(ArchLatentError, match="10,000 members" if damage == "10000 times" else "portfolio|checkpoint"):
        load_portfolio(folder, space="nb201")  # the 10,000: refused from the index, before loading any member


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["latent_dim", "hidden", "layers", "dec_hidden", "dec_layers", "score_hidden", "seed",
                            "beta", "margin", "adj_head", "heads"]), value=JSON)
def test_any_json_as_any_hyperparameter_is_refused_or_loads(saved, tmp_path, key, value):
    from archlatent.encoders import load

    folder = tmp_path / "h"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved / "one", folder)
    _resign(folder, _set(f"hparams.{key}", value))
    try:
        load(folder, space="nb201")
    except ArchLatentError:
        pass


def test_run_benchmark_bounds_its_seeds_from_python_too():
    """The Python API refuses what the CLI's flags refuse, before any table is read."""
    from archlatent import run_benchmark

    config = SearchConfig(space="nb201", budget=10, evaluator_kwargs={"bench": "/nonexistent/table.csv"})
    with pytest.raises(ArchLatentError, match=r"seeds must be an integer <= 10,000"):
        run_benchmark(config, ["random"], 10**9)
    with pytest.raises(ArchLatentError, match=r"seeds must be an integer >= 1"):
        run_benchmark(config, ["random"], True)
    with pytest.raises(ArchLatentError, match=r"methods x seeds x budget \(2 x 10000 x 1000: "):
        run_benchmark(config.replace(budget=1000), ["random", "rea"], 10_000)
