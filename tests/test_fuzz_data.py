"""The data side of issue 28's fuzzing campaign, kept: nothing runs from a data file, every damaged table,
pickle or arch string gets one DataError / InvalidArchitecture (one line, exit 2 from the CLI), and no
input makes a reader hold more than its bounds.

Categories (each has a fast form in the default run; ``slow`` repeats the random ones at campaign size):
payload pickles (table folders, CIFAR batches, the reader itself); damaged tables (gzip truncated,
bit-flipped, junk, bombs; wrong columns, over-long rows, too many rows, ``/dev/zero``; random byte and
text edits); arch strings through the CLI, and (slow) through `parse` at the campaign's size
(`test_fuzz_parsers` fuzzes `parse` in the default run).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_parsers import NASTY, _check, mutated

from archlatent import SPACES, DataError, get_space
from archlatent.cli import main
from archlatent.evaluators.tables import HPOBENCH_FILES, TableLimits, load_hpobench, load_table
from archlatent.evaluators.tables.base import is_accuracy
from archlatent.files import file_digest
from archlatent.oneshot.data import load_dataset
from archlatent.safe_pickle import read_pickle

pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence")
FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


# -- payload pickles ------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this creates the file `marker` (``builtins.open``): what a hostile data file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _payloads(marker: Path) -> list[bytes]:
    """The payload at every protocol, bare and hidden inside data shaped like the real files."""
    bare = [pickle.dumps(_Payload(marker), protocol=p) for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    inside = {"000000": {"val_acc": [91.0, _Payload(marker)]}, b"data": np.zeros((1, 3072), np.uint8)}
    return bare + [pickle.dumps(inside, protocol=p) for p in (2, 4)]


@pytest.mark.parametrize("numpy", [False, True])
def test_the_reader_never_runs_a_payload(tmp_path, numpy):
    marker = tmp_path / "ran"
    for k, data in enumerate(_payloads(marker)):
        path = tmp_path / f"p{k}.pkl"
        path.write_bytes(data)
        with pytest.raises(DataError, match=r"p\d\.pkl is refused: it names (io|builtins)\.open, which a data file may not"):
            read_pickle(path, numpy=numpy, encoding="bytes")
    assert not marker.exists()
    others = [("os", "system"), ("numpy", "load"), ("numpy.lib.format", "read_array"), ("torch", "load"),
              ("builtins", "eval"), ("numpy.core.multiarray", "frombuffer")]  # fmt: skip
    for k, (module, name) in enumerate(others):  # GLOBAL opcodes written by hand: refused by name, unimported
        path = tmp_path / f"g{k}.pkl"
        path.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x00x\x85R.")
        with pytest.raises(DataError, match=f"names {module}.{name}"):
            read_pickle(path, numpy=True)


def _hpobench_folder(tmp_path: Path, marker: Path) -> Path:
    folder = tmp_path / "bench"
    folder.mkdir()
    for file in HPOBENCH_FILES.values():
        (folder / file).write_bytes(pickle.dumps({"000000": {"val_acc": [_Payload(marker)]}}))
    return folder


def test_a_table_folder_with_a_payload_is_refused_unread(tmp_path, capsys):
    marker = tmp_path / "ran"
    folder = _hpobench_folder(tmp_path, marker)
    with pytest.raises(DataError, match=r"cifar10\.pkl is not one the library knows .*refused unread"):
        load_table("nb201", folder)
    vouched = {file: [file_digest(folder / file)] for file in HPOBENCH_FILES.values()}
    with pytest.raises(DataError, match=r"cifar10\.pkl is refused: it names (io|builtins)\.open"):
        load_hpobench(folder, digests=vouched)  # even a file the caller vouches for is read restricted
    for argv in (["query", "--space", "nb201", "--bench", str(folder), ARCH],
                 ["search", "--space", "nb201", "--strategy", "random", "--budget", "5", "--bench", str(folder),
                  "--out", str(tmp_path / "run")]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is not one the library knows" in err and "Traceback" not in err
    assert not marker.exists()


def test_a_cifar_payload_batch_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "ran"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(good, protocol=2))
    (folder / "data_batch_3").write_bytes(pickle.dumps({**good, b"labels": _Payload(marker)}, protocol=2))
    with pytest.raises(DataError, match=r"CIFAR file .*data_batch_3 is refused: it names (io|builtins)\.open"):
        load_dataset("cifar10", tmp_path)
    assert not marker.exists()


# -- damaged tables ----------------------------------------------------------------------------------------
def _small(src: Path, rows: int = 6) -> bytes:
    """The text of the header and first `rows` rows of a real table."""
    with gzip.open(src, "rb") as f:
        return b"".join(f.readline() for _ in range(rows + 1))


def _write(tmp_path: Path, data: bytes, name: str = "bad.csv.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _flip(data: bytes, positions: list[int]) -> bytes:
    out = bytearray(data)
    for p in positions:
        out[p % len(out)] ^= 1 << (p % 8)
    return bytes(out)


def _cut_field(text: bytes) -> bytes:
    lines = text.split(b"\n")
    lines[2] = lines[2].rsplit(b",", 1)[0]
    return b"\n".join(lines)


def _huge_line(text: bytes) -> bytes:
    lines = text.split(b"\n")
    lines[2] = lines[2] + b"," * 70_000
    return b"\n".join(lines)


#: name -> (damage of the table's text, or of its gzip bytes when marked "gz:"), message expected
DAMAGE = {
    "gz:truncated": (lambda gz: gz[: len(gz) // 2], r"cannot read table .*(EOFError|BadGzipFile)"),
    "gz:crc": (lambda gz: gz[:-8] + bytes(8), r"cannot read table .*(CRC|BadGzipFile|length)"),
    "gz:flipped": (lambda gz: _flip(gz, [len(gz) // 2 * 8 + 3]), r"cannot read table"),
    "gz:junk": (lambda gz: bytes(range(256)) * 4, r"cannot read table .*BadGzipFile"),
    "gz:empty": (lambda gz: b"", r"table .* is empty"),
    "binary text": (lambda text: text[:300] + bytes(range(128, 256)), r"cannot read table .*UnicodeDecodeError"),
    "wrong columns": (lambda text: text.replace(b"_acc", b"_accuracy", 2), r"is not a NAS-Bench-\d+ table: missing"),
    "short row": (_cut_field, r"row 3 has \d+ fields, header \d+"),
    "huge row": (_huge_line, r"line 3 is longer than 65,536 characters"),
    "duplicate row": (lambda text: text + text.split(b"\n", 2)[1] + b"\n", r"(already in row 2|fields)"),
    "header only": (lambda text: text.split(b"\n", 1)[0], None),
}


@pytest.mark.parametrize("space", ["nb201", "nb101"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_tables_are_refused_cleanly(request, tmp_path, space, damage):
    text = _small(request.getfixturevalue(f"{space}_csv"))
    edit, match = DAMAGE[damage]
    data = edit(gzip.compress(text)) if damage.startswith("gz:") else gzip.compress(edit(text))
    bad = _write(tmp_path, data)
    if match is None:  # a table with no rows loads, empty
        assert load_table(space, bad).genotypes == []
        return
    if damage == "duplicate row" and space == "nb101":  # a repeated NB101 row is one more run of its cell
        assert len(load_table(space, bad).genotypes) == 7
        return
    with pytest.raises(DataError, match=match) as caught:
        load_table(space, bad)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value) and len(str(caught.value)) < 600


def test_tables_are_read_within_their_bounds(nb201_csv, tmp_path):
    text = _small(nb201_csv, rows=40)
    path = _write(tmp_path, gzip.compress(text))
    assert len(load_table("nb201", path).genotypes) == 40
    for limits, match in [
        (TableLimits(rows=39), r"more than 39 data rows"),
        (TableLimits(fields=58 * 30), r"more than 1,740 fields \(row 32 of 58 columns\)"),
        (TableLimits(chars=10_000), r"more than 10,000 characters of text"),
        (TableLimits(line=1_000), r"line \d+ is longer than 1,000 characters"),
    ]:
        with pytest.raises(DataError, match=match):
            _load_with(path, limits)
    # a gzip bomb: 64 MB of text in 64 KB, refused after the first 1 MB is decompressed
    bomb = _write(tmp_path, gzip.compress(b"x\n" + b"0123456789\n" * (6 << 20), compresslevel=9), "bomb.csv.gz")
    assert bomb.stat().st_size < 300_000
    with pytest.raises(DataError, match=r"bomb\.csv\.gz is refused: more than 1,048,576 characters"):
        _load_with(bomb, TableLimits(chars=1 << 20, rows=10**6))
    # NAS-Bench-201 has 15,625 cells: a longer table is refused as it is read, by the default bounds
    many = _write(tmp_path, gzip.compress(b"arch,ops,cifar10_valid_acc,cifar10_test_acc\n" + b"a,b,1,2\n" * 15_626), "many.csv.gz")
    with pytest.raises(DataError, match=r"many\.csv\.gz is refused: more than 15,625 data rows"):
        load_table("nb201", many)


def _load_with(path: Path, limits: TableLimits):
    from archlatent.evaluators.tables import load_nb201_csv

    return load_nb201_csv(path, limits)


def test_dev_zero_and_folders_without_files_are_refused(tmp_path, capsys):
    assert main(["query", "--space", "nb201", "--bench", "/dev/zero", ARCH]) == 2
    err = capsys.readouterr().err
    assert err == "archlatent query: error: table /dev/zero is not a regular file\n"
    assert main(["query", "--space", "nb201", "--bench", str(tmp_path), ARCH]) == 2
    assert "cifar10.pkl is not a file" in capsys.readouterr().err


@st.composite
def _edited_table(draw: st.DrawFn, text: bytes) -> bytes:
    """A table's gzip bytes after a few random edits of its text or of the compressed bytes."""
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 30)))
        kind = draw(st.sampled_from(["cut", "insert", "replace", "repeat", "flip"]))
        junk = draw(st.one_of(st.binary(max_size=12), st.sampled_from([b"_", b"nan", b"0.5", b",", b'"', b"\n", b"\r"])))
        if kind == "flip":
            text = _flip(text, [i * 8 + draw(st.integers(0, 7))])
        elif kind == "repeat":
            text = text[:i] + text[i:j] * draw(st.integers(2, 50)) + text[j:]
        else:
            text = text[:i] + (b"" if kind == "cut" else junk) + (text[i:] if kind == "insert" else text[j:])
    data = gzip.compress(text)
    if draw(st.booleans()):  # damage the compressed bytes too
        data = _flip(data, [draw(st.integers(0, 8 * len(data) - 1))]) if draw(st.booleans()) else data[: draw(st.integers(0, len(data)))]
    return data


def _load_or_refuse(space: str, path: Path) -> None:
    """Load `path` as a `space` table: either one short DataError, or a table whose checked values hold."""
    try:
        table = load_table(space, path)
    except DataError as err:
        assert "\n" not in str(err) and len(str(err)) < 700, str(err)[:300]
        return
    for columns in table.columns.values():
        for name, values in columns.items():
            assert np.isfinite(values).all()
            if is_accuracy(name) or name == "valid_acc":
                assert ((values >= 0) & (values <= 100)).all() and (not values.size or values.max() > 1)


def _table_fuzz(space: str, speed: settings):
    @pytest.mark.parametrize("space", [space])
    @speed
    @given(data=st.data())
    def fuzz(request, tmp_path_factory, space, data):
        text = _small(request.getfixturevalue(f"{space}_csv"))
        path = tmp_path_factory.mktemp("fuzz") / "t.csv.gz"
        path.write_bytes(data.draw(_edited_table(text)))
        _load_or_refuse(space, path)

    return fuzz


test_randomly_damaged_nb201_tables = _table_fuzz("nb201", FAST)
test_randomly_damaged_nb101_tables = _table_fuzz("nb101", FAST)
test_randomly_damaged_nb201_tables_slow = pytest.mark.slow(_table_fuzz("nb201", SLOW))
test_randomly_damaged_nb101_tables_slow = pytest.mark.slow(_table_fuzz("nb101", SLOW))


# -- arch strings through the CLI -------------------------------------------------------------------------
def _cli_query(space: str, text: str, bench: Path) -> None:
    """`archlatent query` in-process: exit 0 with JSON, or 2 with one line on stderr; never a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["query", "--space", space, "--bench", str(bench), "--", text])
    assert code in (0, 2), (code, err.getvalue()[-500:])
    message = err.getvalue()
    if code == 2:
        assert message.startswith("archlatent query: error: ") and "Traceback" not in message
        assert message.count("\n") == 1 and len(message) < 1_000, message[:300]
    else:
        assert message == "" and '"results"' in out.getvalue()


@pytest.fixture(scope="module")
def small_tables(tmp_path_factory, nb201_csv, nb101_csv) -> dict[str, Path]:
    """Six-row copies of the real tables (the CLI loads them in milliseconds); DARTS has no table, and
    NAS-Bench-Graph's six rows are a table of your own (`tables.user`: six sampled cells, made-up values)."""
    folder = tmp_path_factory.mktemp("tables")
    paths = {s: _write(folder, gzip.compress(_small(p)), f"{s}.csv.gz") for s, p in (("nb201", nb201_csv), ("nb101", nb101_csv))}
    nbgraph, rng = get_space("nbgraph"), np.random.default_rng(0)
    cells = list({g.key(): g for g in (nbgraph.sample(rng) for _ in range(12))}.values())[:6]
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["arch", "cora_valid_acc", "cora_test_acc"])
    writer.writerows([nbgraph.format(g), f"{70 + k:.1f}", f"{71 + k:.1f}"] for k, g in enumerate(cells))
    paths["nbgraph"] = _write(folder, gzip.compress(rows.getvalue().encode()), "nbgraph.csv.gz")
    return paths | {"darts": paths["nb201"]}


def _cli_fuzz(speed: settings):
    @pytest.mark.parametrize("space", SPACES.names())
    @speed
    @given(data=st.data())
    def fuzz(small_tables, space, data):
        text = data.draw(st.one_of(mutated(space), st.text(st.characters(exclude_categories=()), max_size=200)))
        _cli_query(space, text, small_tables[space])

    return fuzz


test_arch_strings_through_the_cli = _cli_fuzz(FAST)
test_arch_strings_through_the_cli_slow = pytest.mark.slow(_cli_fuzz(SLOW))


@pytest.mark.slow
@pytest.mark.parametrize("space", SPACES.names())
@settings(max_examples=4000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_arch_strings_through_parse_slow(space, data):
    """The campaign's size: 12,000 strings through `parse` (`test_fuzz_parsers` tries 300 per space by default)."""
    _check(space, data.draw(st.one_of(mutated(space), st.text(st.characters(exclude_categories=()), max_size=300))))


@pytest.mark.parametrize("space", SPACES.names())
def test_table_rows_and_nasty_fragments_through_the_cli(small_tables, space):
    """Each row of the small table answers (exit 0); each campaign fragment alone is one line (exit 2)."""
    if space != "darts":
        with gzip.open(small_tables[space], "rt") as f:
            table = load_table(space, small_tables[space])
            assert len(list(csv.reader(f))) == 7
        for g in table.genotypes:
            _cli_query(space, get_space(space).format(g), small_tables[space])
    pairs = repr([("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4).replace("0)", "0x" + "f" * 3600 + ")", 1)
    hex_input = f"Genotype(normal={pairs}, normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])"
    for fragment in [*NASTY, hex_input]:  # hex_input: the campaign's traceback (the message could not print it)
        _cli_query(space, fragment, small_tables[space])
