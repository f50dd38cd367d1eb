"""Your own measurements as a table (`archlatent.evaluators.tables.user`): any space, pool mode, the
built-in tables' row checks, and the same search as on the built-in table it was cut from."""

from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pytest

from archlatent import SearchConfig, build, run_search
from archlatent.cli import main
from archlatent.errors import DataError
from archlatent.evaluators.tables import load_table
from archlatent.spaces import get_space


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def darts_csv(tmp_path_factory):
    """80 sampled DARTS cells, each "measured" as a function of its ops (separable convolutions help,
    pooling costs), two runs of the first ten: a lab's own table."""
    space = get_space("darts")
    rng = np.random.default_rng(7)
    cells = list({g.key(): g for g in (space.sample(rng) for _ in range(80))}.values())
    rows = []
    for i, g in enumerate(cells):
        ops = [op for cell in g.cells for op in cell.ops]
        acc = 90.0 + 0.3 * sum("sep" in op for op in ops) - 0.2 * sum("pool" in op for op in ops)
        for run in range(2 if i < 10 else 1):
            rows.append([space.format(g), acc + 0.05 * run, acc - 0.4, 3.0 + 0.01 * i])
    path = tmp_path_factory.mktemp("darts") / "lab.csv"
    return _write(path, ["arch", "cifar10_valid_acc", "cifar10_test_acc", "cifar10_params_mb"], rows)


def test_a_darts_table_of_your_own_is_searched_in_pool_mode(darts_csv):
    table = load_table("darts", darts_csv)
    assert table.datasets == ["cifar10"] and set(table.metrics("cifar10")) == {"valid_acc", "test_acc", "params_mb"}
    assert sum(len(r) > 1 for r in table.rows.values()) == 10  # a cell's second run is kept as a run
    config = SearchConfig(space="darts", strategy="rea", budget=40, seed=0, evaluator_kwargs={"bench": str(darts_csv)})
    result = run_search(config)
    assert any("pool mode" in n for n in result.notes) and result.queries == 40
    assert all(h["key"] in table.rows for h in result.history)  # never outside the table
    valid = table.metrics("cifar10")["valid_acc"]
    rows = table.rows[result.best["key"]]
    assert result.best["valid_acc"] == pytest.approx(np.mean(valid[rows])) == max(h["valid_acc"] for h in result.history)
    assert result.best["test_acc"] == pytest.approx(np.mean(table.metrics("cifar10")["test_acc"][rows]))


def test_the_cli_searches_a_darts_table(darts_csv, tmp_path, capsys):
    code = main(["search", "--space", "darts", "--bench", str(darts_csv), "--strategy", "random", "--budget", "15",
                 "--out", str(tmp_path / "run")])
    assert code == 0
    doc = json.loads((tmp_path / "run" / "result.json").read_text())
    assert doc["queries"] == 15 and doc["best"]["arch"].startswith("Genotype(normal=")
    assert "pool mode" in capsys.readouterr().err


def _defects(darts_csv):
    with open(darts_csv, newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


@pytest.mark.parametrize(("mend", "words"), [
    (lambda h, rows: (h, [rows[0], [rows[1][0].replace("sep_conv_3x3", "conv_9x9", 1), *rows[1][1:]]]), r"row 3:.*conv_9x9"),
    (lambda h, rows: (h, [rows[0], rows[1], [rows[2][0], "nan", *rows[2][2:]]]), r"row 4: cifar10_valid_acc = nan"),
    (lambda h, rows: (h, [rows[0], [rows[1][0], "101.5", *rows[1][2:]]]), r"row 3: cifar10_valid_acc = 101.5.*outside"),
    (lambda h, rows: (h, [rows[0], [rows[1][0], "high", *rows[1][2:]]]), r"row 3: cifar10_valid_acc = 'high' is not a number"),
    (lambda h, rows: (h, [rows[0], rows[1][:2]]), r"row 3 has 2 fields"),
    (lambda h, rows: (["arch", "cifar10_test_acc", "cifar10_x", "cifar10_params_mb"], rows[:3]), r"no <dataset>_valid_acc"),
    (lambda h, rows: (["arch", "cifar10_valid_acc", "test_acc", "cifar10_params_mb"], rows[:3]), r"column 'test_acc' is not"),
    (lambda h, rows: (["name", *h[1:]], rows[:3]), r"no 'arch' column"),
    (lambda h, rows: (h, []), r"holds no rows"),
])
def test_each_bad_row_is_one_clear_error(darts_csv, tmp_path, mend, words):
    header, rows = mend(*_defects(darts_csv))
    path = _write(tmp_path / "bad.csv", header, rows)
    with pytest.raises(DataError, match=words):
        load_table("darts", path)


# -- a CSV cut from the NB201 table searches as the built-in table restricted to those cells ---------------------
@pytest.fixture(scope="module")
def nb201_cut(nb201_table, tmp_path_factory):
    """300 NB201 cells (each its class's representative), as your own CSV and in the built-in format."""
    space = get_space("nb201")
    rng = np.random.default_rng(3)
    picked, keys = [], set()
    for r in rng.permutation(len(nb201_table.genotypes)):
        g = nb201_table.genotypes[r]
        if space.ops_code(space.canonicalize(g)) == space.ops_code(g) and g.key() not in keys:
            picked.append(int(r))
            keys.add(g.key())
        if len(picked) == 300:
            break
    folder = tmp_path_factory.mktemp("nb201cut")
    with gzip.open(nb201_table.path, "rt", newline="") as f:
        header, *body = list(csv.reader(f))
    builtin = _write(folder / "builtin-cut.csv", header, [body[r] for r in picked])
    metrics = ("valid_acc", "test_acc", "params_mb", "flops_m")
    own = _write(folder / "own.csv", ["arch", *(f"{d}_{m}" for d in ("cifar10", "cifar100") for m in metrics)],
                 [[space.format(nb201_table.genotypes[r]),
                   *(repr(float(nb201_table.metrics(d)[m][r])) for d in ("cifar10", "cifar100") for m in metrics)]
                  for r in picked])
    return builtin, own


@pytest.mark.parametrize(("strategy", "dataset"), [("rea", "cifar10"), ("latent", "cifar100")])
def test_a_cut_of_nb201_searches_as_the_builtin_table_restricted(nb201_cut, tiny_model, strategy, dataset):
    builtin, own = nb201_cut
    runs = []
    for path in (builtin, own):
        config = SearchConfig(space="nb201", strategy=strategy, dataset=dataset, budget=40, seed=1, screen="none",
                              evaluator_kwargs={"bench": str(path)})
        parts = build(config, model=tiny_model if strategy == "latent" else None)
        assert len(parts.space) == 300 and any("pool mode" in n for n in parts.notes)
        runs.append(run_search(config, parts=parts))
    builtin_run, own_run = runs
    assert [h["arch"] for h in own_run.history] == [h["arch"] for h in builtin_run.history]
    for metric in ("arch", "valid_acc", "test_acc", "params_mb"):
        assert own_run.best[metric] == builtin_run.best[metric]
    assert own_run.provenance["table"].endswith("own.csv")
