"""Run the command-line interface in-process, as the CLI tests do: (exit code, stdout, stderr)."""

from __future__ import annotations

import pytest

from archlatent.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`archlatent argv...` in this process; what it printed, read from `capsys`."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
