"""benchmarks/gpu_check.py: its dry form on the CPU (every step but the slow starts by default, all of
them under `slow`), its one line without CUDA, and the real check where a GPU is (`gpu`)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _rows(table: str) -> dict[str, list[str]]:
    """The table's data rows by step name: [status, seconds, peak, note]."""
    rows = {}
    for line in table.splitlines()[2:]:
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.skipif(torch.cuda.is_available(), reason="says what happens without CUDA")
def test_without_cuda_it_says_so_in_one_line(gpu_check, capsys):
    assert gpu_check.main([]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "no CUDA device" in captured.err


def test_dry_form_runs_each_step_on_the_cpu(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--device", "cpu", "--skip", "ray,torchrun", "--keep", str(tmp_path)]) == 0
    rows = _rows(capsys.readouterr().out)
    expected = {name for name, _, _ in gpu_check.STEPS} - set(gpu_check.OPTIONAL.values())
    assert set(rows) == expected and all(r[0] == "ok" for r in rows.values()), rows
    assert (tmp_path / "supernet-darts" / "supernet.pt").is_file() and (tmp_path / "dnas" / "result.json").is_file()
    assert rows["train-final evaluation (nb201)"][3].startswith("valid_acc ")


def test_a_failed_step_is_a_row_and_its_dependants_are_skipped(gpu_check, tmp_path, capsys):
    check = gpu_check.Check("cpu", tmp_path)
    check.run("broken", lambda c: c.cli("supernet", "train", "--space", "nb201", "--dataset", "nothing"))
    check.run("eval", gpu_check.evaluate("nb201"), ("supernet nb201",))
    assert [r["status"] for r in check.rows] == ["FAILED", "skipped"]
    assert "exited 2" in check.rows[0]["note"] and "needs supernet nb201" in check.rows[1]["note"]


@pytest.mark.slow
def test_whole_dry_form_with_ray_and_torchrun(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--keep", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    rows = _rows(done.stdout)
    assert rows["torchrun --nproc-per-node 1 (DDP)"][3].startswith("gloo: DDP step")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_check_passes_on_this_gpu(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--keep", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    rows = _rows(done.stdout)
    assert rows["torchrun --nproc-per-node 1 (DDP)"][3].startswith("nccl: DDP step") and "agreement" in done.stdout
