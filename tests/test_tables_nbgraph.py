"""The NAS-Bench-Graph table: read in place from the installed wheel, checked, never run."""

from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest

from archlatent.cli import main
from archlatent.errors import DataError
from archlatent.evaluators.tables import load_table
from archlatent.evaluators.tables.nbgraph import DIGESTS, light_folder
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.safe_pickle import read_pickle
from archlatent.spaces import get_space
from archlatent.spaces.nbgraph import PROTEINS_OPS


@pytest.fixture(scope="module")
def folder():
    found = light_folder()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nas-bench-graph is not installed (pip install 'archlatent[bench]')")
        pytest.skip("nas-bench-graph is not installed (pip install 'archlatent[bench]')")
    return found


@pytest.fixture(scope="module")
def table(folder):
    return load_table("nbgraph")


class _Payload:
    """Unpickling this writes a file: what a tampered table could do if it were ever unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_whole_table_in_percent(table, folder):
    space = get_space("nbgraph")
    assert table.datasets == sorted(DIGESTS) and len(table.genotypes) == len(table.rows) == space.size() == 26_206
    raw = read_pickle(folder / "cora.bench", digests=[DIGESTS["cora"]], numpy=True)
    best = max(raw, key=lambda h: raw[h]["valid_perf"])
    evaluator = TabularEvaluator(table, "cora")
    g, value = evaluator.best("valid_acc")
    assert value == pytest.approx(100 * raw[best]["valid_perf"])
    metrics = evaluator.evaluate([g])[0]
    assert metrics["test_acc"] == pytest.approx(100 * raw[best]["perf"])
    assert metrics["params_m"] == pytest.approx(float(raw[best]["para"]))
    assert metrics["latency_s"] == pytest.approx(raw[best]["latency"])
    assert evaluator.pool is None  # the eight full datasets hold every class


def test_proteins_holds_only_its_five_ops_and_is_searched_as_a_pool(table):
    space = get_space("nbgraph")
    evaluator = TabularEvaluator(table, "proteins")
    pool = evaluator.pool
    assert pool is not None and len(pool) == int(evaluator.held.sum()) == 2_021
    assert all(set(space.links_ops(g)[1]) <= set(PROTEINS_OPS) for g in pool)
    g, _ = evaluator.best("valid_acc")
    assert g in pool
    outside = space.parse('{"links": [0, 0, 1, 2], "ops": ["gat", "gcn", "gcn", "fc"]}')
    with pytest.raises(DataError, match="has no proteins entry in .*five ops"):
        evaluator.evaluate([outside])
    assert len(evaluator.all_metrics()) == 2_021


def test_tampered_or_foreign_files_are_refused_unread(folder, tmp_path, capsys):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Payload(str(marker)))
    copy = tmp_path / "light"
    shutil.copytree(folder, copy)
    (copy / "cora.bench").write_bytes(payload)
    with pytest.raises(DataError, match="cora.bench is not one the library knows"):
        load_table("nbgraph", copy)
    single = tmp_path / "citeseer.bench"
    single.write_bytes((folder / "citeseer.bench").read_bytes() + b"\x00")
    code = main(["search", "--space", "nbgraph", "--dataset", "citeseer", "--bench", str(single), "--budget", "5",
                 "--strategy", "random", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "citeseer.bench is not one the library knows" in err and err.count("\n") == 1
    other = tmp_path / "data.pkl"
    other.write_bytes(payload)
    with pytest.raises(DataError, match="not a NAS-Bench-Graph file"):
        load_table("nbgraph", other)
    assert not marker.exists()


def test_one_file_is_a_table_of_its_dataset(folder):
    table = load_table("nbgraph", folder / "pubmed.bench")
    assert table.datasets == ["pubmed"] and len(table.rows) == 26_206
    assert np.isfinite(table.metrics("pubmed")["valid_acc"]).all()
    with pytest.raises(DataError, match="cora"):
        table.metrics("cora")
