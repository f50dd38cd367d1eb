"""Every plugin file is registered by importing its family's package alone (no registration by side
effect of another module), and the CLI offers every registered evaluator."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Folder -> the module name it is installed as.
TREES = {"archlatent": "archlatent", "encoders": "archlatent.encoders", "optimizers": "archlatent.optimizers"}


def _plugin_modules() -> dict[str, str]:
    """{module: its package} of every file that registers a plugin with ``@REGISTRY.register(...)``."""
    out = {}
    for folder, prefix in TREES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            registers = any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "register"
                            for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for d in node.decorator_list)
            if registers:
                parts = path.relative_to(ROOT / folder).with_suffix("").parts
                module = ".".join((prefix, *parts))
                out[module] = module.rsplit(".", 1)[0]
    return out


def test_every_plugin_file_is_registered_by_its_package():
    modules = _plugin_modules()
    assert len(modules) > 20 and "archlatent.stages.screen" in modules and "archlatent.evaluators.final" in modules
    code = ("import importlib, json, sys\n"
            f"for package in {sorted(set(modules.values()))!r}: importlib.import_module(package)\n"
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(json.loads(done.stdout))
    assert sorted(m for m in modules if m not in loaded) == []


def test_the_evaluator_registry_is_complete_on_import_and_the_cli_offers_it():
    code = ("from archlatent.evaluators import EVALUATORS\nimport argparse\n"
            "from archlatent.commands.search import setup_config_flags\n"
            "p = argparse.ArgumentParser(); setup_config_flags(p)\n"
            "action = next(a for a in p._actions if a.dest == 'evaluator')\n"
            "print(EVALUATORS.names(), sorted(action.choices))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    names = str(sorted({"supernet", "tabular", "train-final", "zerocost"}))  # one per file of archlatent/evaluators
    assert done.stdout.strip() == f"{names} {names}"


def test_every_package_folder_is_installed():
    """pyproject's package list names every folder with an ``__init__.py``: a wheel (not only an editable
    install) holds strategies, executors and stages too."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join((prefix, *init.parent.relative_to(ROOT / folder).parts))
             for folder, prefix in TREES.items() for init in (ROOT / folder).rglob("__init__.py")}
    assert found and found == listed, (sorted(found - listed), sorted(listed - found))
