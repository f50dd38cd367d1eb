"""NAS-Bench-Graph tables (Qin et al., "NAS-Bench-Graph", NeurIPS 2022 Datasets and Benchmarks): the nine
``light/<dataset>.bench`` files of the ``nas-bench-graph`` wheel (1.4.0, Apache-2.0), read in place.

Each file is a pickle of ``{valid_hash: {"valid_perf", "perf", "latency", "para"}}``. It is read only
through `archlatent.safe_pickle.read_pickle`, with the sha256 of each file as 1.4.0 ships it, so a
tampered or foreign file is refused unread; the package itself is never imported. Accuracies become
percent (``valid_acc``, ``test_acc``) like every other table; ``latency_s`` is in seconds and
``params_m`` in millions. proteins holds only the cells of its five ops (2,021 of 26,206 classes): its
columns are NaN elsewhere, and a search on it stays inside its cells (pool mode).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from archlatent.errors import DataError
from archlatent.evaluators.tables.base import TABLES, BenchmarkTable, TableFormat, check_values
from archlatent.genotype import Genotype
from archlatent.safe_pickle import read_pickle
from archlatent.spaces import get_space
from archlatent.spaces.nbgraph import OPS, PROTEINS_OPS

#: sha256 of each dataset's file in nas-bench-graph 1.4.0.
DIGESTS = {
    "arxiv": "7ee21a7653297a806c0ed1be3efe6ecc06acc84e48e942da0bfde0e5d287debe",
    "citeseer": "99c7f79b73372636305bf73fb32a58b63c57bd1871a152dd62ec72d984c8c50f",
    "computers": "fdb3dc0cf405d62322f0ab9614b2083c2a5e6576c2f43e4f2214be64bc62b1b3",
    "cora": "5e69b2f9bb08d8927d9ffd4921f8494a3cea349c9c3a461334cb9dc9e11701a8",
    "cs": "71ae8469930517160b024f52db6000a4897f1aff5d765beb27bb60952ed5bd31",
    "photo": "5511b4dc3f63fa988792177227db7901290fb9b27fc6c02e3036b29e134ed6df",
    "physics": "1e309bafee0b832c8b84fa3c039c36992bc0a910238b128f26b7e9190d7f2aea",
    "proteins": "b9e7fb0902bda44fec32c948e5fde822fb22d38d674c52e43ace5197378f2d21",
    "pubmed": "10b4dcf6cfd3a24f6059f7d541a4a872960b4adac0b3dba26abed1bb9a3d904d",
}
#: The benchmark's metric names -> ours, and the factor to ours (fractions -> percent).
METRICS = {"valid_perf": ("valid_acc", 100.0), "perf": ("test_acc", 100.0), "latency": ("latency_s", 1.0),
           "para": ("params_m", 1.0)}
#: The link patterns its hash numbers (first digit of the hash, base 10), in that order.
HASH_LINKS = ((0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3), (0, 1, 1, 1), (0, 1, 1, 2),
              (0, 1, 2, 2), (0, 1, 2, 3))
#: The types a value may have (the files hold floats and numpy float64 scalars).
NUMBERS = (float, int, np.float64, np.float32)
#: What a search on proteins is told.
PROTEINS_NOTE = f"proteins holds only the cells of its five ops ({', '.join(PROTEINS_OPS)})"


@TABLES.register("nbgraph")
class NBGraphTable(TableFormat):
    """NAS-Bench-Graph: the ``light`` folder of the installed ``nas-bench-graph`` wheel, or one ``.bench`` file."""

    default_file = "nas_bench_graph_light"
    other_sources = ", or `pip install 'archlatent[bench]'` for nas-bench-graph (its files are read in place)"

    def fallback(self) -> Path | None:
        return light_folder()

    def load(self, path: Path) -> BenchmarkTable:
        return load_nbgraph(path)


def light_folder() -> Path | None:
    """The ``light`` folder of an installed nas-bench-graph, if any (found without importing it)."""
    spec = importlib.util.find_spec("nas_bench_graph")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "light"
    return folder if folder.is_dir() else None


def load_nbgraph(path: Path) -> BenchmarkTable:
    """The table of a folder holding the nine ``<dataset>.bench`` files, or of one such file.

    Rows are the classes any file holds; a dataset's columns are NaN on the rows it does not hold.
    """
    files = _files(path)
    entries = {d: _read(d, f) for d, f in files.items()}
    hashes = sorted(set().union(*entries.values()))
    space = get_space("nbgraph")
    genotypes = [_genotype(space, path, h) for h in hashes]
    rows: dict[str, list[int]] = {}
    for r, (h, g) in enumerate(zip(hashes, genotypes)):
        found = rows.setdefault(cell_id(g), [r])
        if found != [r]:
            raise DataError(f"NAS-Bench-Graph table {path} is corrupt: hashes {hashes[found[0]]} and {h} name one class")
    columns = {d: _columns(files[d], hashes, e) for d, e in entries.items()}
    listing = "".join(f"{DIGESTS[d]}  {f.name}\n" for d, f in sorted(files.items()))
    note = f" ({PROTEINS_NOTE})" if "proteins" in files else ""
    return BenchmarkTable("nbgraph", path, hashlib.sha256(listing.encode()).hexdigest(), genotypes, rows, columns,
                          cell_id, note=note)


def cell_id(genotype: Genotype) -> str:
    """A row's identity: the cell itself, one per class in this space (cheaper than the key's hash)."""
    return repr(genotype.cells)


def _files(path: Path) -> dict[str, Path]:
    """Dataset -> file: the nine of a folder, or the one file given (named as the wheel names it)."""
    if path.is_dir():
        missing = [d for d in DIGESTS if not (path / f"{d}.bench").is_file()]
        if missing:
            raise DataError(f"{path} is not a NAS-Bench-Graph folder: it lacks {', '.join(f'{d}.bench' for d in missing)}")
        return {d: path / f"{d}.bench" for d in DIGESTS}
    if path.suffix != ".bench" or path.stem not in DIGESTS:
        raise DataError(f"{path} is not a NAS-Bench-Graph file: expected one of "
                        f"{', '.join(f'{d}.bench' for d in DIGESTS)} or the folder holding them")
    return {path.stem: path}


def _read(dataset: str, file: Path) -> dict[int, dict[str, Any]]:
    """One dataset's entries: its recorded digest checked before anything is unpickled."""
    data = read_pickle(file, digests=[DIGESTS[dataset]], numpy=True, what="NAS-Bench-Graph table")
    if not isinstance(data, dict) or not all(type(h) is int and isinstance(e, dict) for h, e in data.items()):
        raise DataError(f"NAS-Bench-Graph table {file} is corrupt: not a dict of hash -> entry")
    return data


def _genotype(space: Any, path: Path, h: int) -> Genotype:
    """The class the benchmark's hash `h` names: link pattern then four ops, in base-10 digits."""
    digits = [h // 10**k % 10 for k in (3, 2, 1, 0)]
    pattern = h // 10**4
    if not 0 <= pattern < len(HASH_LINKS) or max(digits) >= len(OPS):
        raise DataError(f"NAS-Bench-Graph table {path} is corrupt: {h} is not a NAS-Bench-Graph hash")
    return space.from_links(HASH_LINKS[pattern], [OPS[d] for d in digits])


def _columns(file: Path, hashes: list[int], entries: dict[int, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Our metrics over all rows (NaN where the file has no entry), each checked on the rows it holds."""
    where = [r for r, h in enumerate(hashes) if h in entries]
    out = {}
    for theirs, (ours, factor) in METRICS.items():
        found = [entries[hashes[r]].get(theirs) for r in where]
        bad = next((k for k, v in enumerate(found) if type(v) not in NUMBERS), None)
        if bad is not None:
            raise DataError(f"NAS-Bench-Graph table {file} is corrupt: hash {hashes[where[bad]]}: {theirs} = "
                            f"{str(found[bad])[:40]!r} is not a number")
        values = np.full(len(hashes), np.nan)
        values[where] = np.array(found, dtype=np.float64) * factor
        check_values(f"NAS-Bench-Graph table {file}", ours, values[where], lambda k: f"hash {hashes[where[k]]}")
        out[ours] = values
    return out
