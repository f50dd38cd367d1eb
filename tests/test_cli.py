"""The command line: subcommands, JSON outputs, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from archlatent.cli import main

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_spaces_lists_every_space(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("nb201", "nb101", "darts"))


@pytest.mark.parametrize("space", ["nb201", "nb101", "darts"])
def test_sample_writes_parseable_json_lines(space, tmp_path):
    from archlatent import get_space

    out = tmp_path / "s.jsonl"
    assert main(["sample", "--space", space, "-n", "5", "--seed", "3", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 5
    for line in lines:
        assert get_space(space).parse(line["arch"]).key() == line["key"]
    again = tmp_path / "t.jsonl"
    main(["sample", "--space", space, "-n", "5", "--seed", "3", "--out", str(again)])
    assert again.read_text() == out.read_text()


def test_query_reports_metrics_and_checksum(nb201_csv, capsys):
    assert main(["query", "--space", "nb201", "--bench", str(nb201_csv), "--dataset", "cifar10", ARCH]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"][0]["metrics"]["test_acc"] == pytest.approx(93.66)
    assert len(doc["data"]["sha256"]) == 64 and doc["cost"]["queries"] == 1


@pytest.mark.parametrize(
    "argv, words",
    [
        (["query", "--space", "nb201", "|nor_conv_3x3~0|+|bogus~0|"], "3 '+'-separated nodes"),
        (["query", "--space", "nb201", "--dataset", "mnist", ARCH], "dataset 'mnist'"),
        (["query", "--space", "nb201", "--bench", "/nonexistent.csv.gz", ARCH], "does not exist"),
        (["sample", "--space", "nb201", "-n", "-1"], "-n must be >= 0"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, words, capsys, nb201_csv, monkeypatch):
    monkeypatch.setenv("ARCHLATENT_DATA", str(nb201_csv.parent))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_installed_entry_point_info(nb201_csv):
    proc = subprocess.run(
        [sys.executable, "-m", "archlatent", "info"], capture_output=True, text=True, check=True,
        env={"ARCHLATENT_DATA": str(nb201_csv.parent), "PATH": ""},
    )
    doc = json.loads(proc.stdout)
    assert doc["data"]["nb201"].endswith("nasbench201.csv.gz") and doc["device"]["device"] in ("cpu", "cuda")
    assert doc["versions"]["torch"]
