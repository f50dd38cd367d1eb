"""`archlatent embed`: latent means of the architectures in a file, with their keys, as .npy or CSV."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest

from archlatent.cli import main
from archlatent.encoders import load, save
from archlatent.spaces import get_space

SPACE = get_space("nb201")
#: Lines of an architecture file: two isomorphic cells (nodes 1 and 2 trade places), one other.
ISOMORPHIC = ("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
              "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|")
OTHER = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    return save(tiny_model, tmp_path_factory.mktemp("embed") / "model")


@pytest.fixture
def archs(tmp_path):
    path = tmp_path / "archs.txt"
    path.write_text(f"{ISOMORPHIC[0]}\n\n{OTHER}\n  {ISOMORPHIC[1]}  \n")
    return path


def test_npy_and_csv_hold_each_architecture_its_key_and_latent_mean(checkpoint, archs, tmp_path, capsys):
    assert SPACE.parse(ISOMORPHIC[0]) != SPACE.parse(ISOMORPHIC[1])
    assert main(["embed", "--checkpoint", str(checkpoint), str(archs), "--out", str(tmp_path / "z.npy")]) == 0
    records = np.load(tmp_path / "z.npy")  # a plain structured array: no pickle needed
    genotypes = [SPACE.parse(t) for t in (ISOMORPHIC[0], OTHER, ISOMORPHIC[1])]
    expected = load(checkpoint).embed(genotypes).numpy()
    assert list(records["arch"]) == [ISOMORPHIC[0], OTHER, ISOMORPHIC[1]]  # blank line skipped, text trimmed
    assert list(records["key"]) == [g.key() for g in genotypes]
    assert records["z"].shape == expected.shape and np.array_equal(records["z"], expected)
    assert records["key"][0] == records["key"][2] and np.array_equal(records["z"][0], records["z"][2])
    assert not np.array_equal(records["z"][0], records["z"][1])
    capsys.readouterr()
    assert main(["embed", "--checkpoint", str(checkpoint), str(archs)]) == 0  # CSV on stdout
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["arch", "key", *(f"z{i}" for i in range(expected.shape[1]))]
    assert [r[:2] for r in rows[1:]] == [[a, k] for a, k in zip(records["arch"], records["key"])]
    assert np.array_equal(np.array([[float(v) for v in r[2:]] for r in rows[1:]], dtype=np.float32), expected)
    assert main(["embed", "--checkpoint", str(checkpoint), str(archs), "--out", str(tmp_path / "z.txt"),
                 "--format", "csv"]) == 0
    assert list(csv.reader(io.StringIO((tmp_path / "z.txt").read_text()))) == rows


def test_bad_lines_are_refused_together_before_the_model_is_read(checkpoint, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    (broken / "model.pt").write_bytes(b"not weights")  # reading the model would fail: it must not be reached
    path = tmp_path / "archs.txt"
    path.write_text(f"{OTHER}\n|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|\n{OTHER}\nresnet50\n")
    out = tmp_path / "z.npy"
    assert main(["embed", "--checkpoint", str(broken), str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("archlatent embed: error:")
    assert "2 line(s)" in err and "line 2: unknown nb201 op 'nor_conv_9x9'" in err and "line 4:" in err
    assert "line 1:" not in err and "line 3:" not in err and not out.exists()


@pytest.mark.parametrize(("args", "content", "message"), [
    (["--out", "z.parquet"], OTHER, "cannot tell the format from suffix '.parquet'"),
    (["--format", "npy"], OTHER, "--format npy needs --out FILE"),
    (["--member", "1"], OTHER, "holds 1 autoencoder"),
    ([], "\n  \n", "holds no architectures"),
    ([], b"\xff\xfe|", "is not UTF-8 text"),
])
def test_bad_requests_are_one_clear_error(checkpoint, tmp_path, capsys, args, content, message):
    path = tmp_path / "archs.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    args = [a if not a.startswith("z.") else str(tmp_path / a) for a in args]
    assert main(["embed", "--checkpoint", str(checkpoint), str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
