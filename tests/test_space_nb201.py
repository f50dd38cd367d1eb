"""NAS-Bench-201 space against the real table: strings, codes, isomorphism classes."""

from __future__ import annotations

import csv
import gzip

import pytest

from archlatent import InvalidArchitecture, get_space


@pytest.fixture(scope="module")
def rows(nb201_csv):
    with gzip.open(nb201_csv, "rt", newline="") as f:
        return [(r["arch"], r["ops"]) for r in csv.DictReader(f)]


def test_all_table_strings_round_trip(rows):
    space = get_space("nb201")
    assert len(rows) == 15625
    for arch, code in rows:
        g = space.parse(arch)
        assert space.format(g) == arch
        assert space.ops_code(g) == code
        assert space.from_code(code) == g


def test_enumerate_covers_the_table(rows):
    space = get_space("nb201")
    enumerated = list(space.enumerate())
    assert len(enumerated) == space.size() == 15625
    assert {space.format(g) for g in enumerated} == {arch for arch, _ in rows}


def test_isomorphism_classes_match_known_counts():
    """8,765 classes after pruning; 341 cells have no input -> output path (DESIGN.md facts)."""
    space = get_space("nb201")
    cells = list(space.enumerate())
    assert len({g.key() for g in cells}) == 8765
    assert sum(1 for g in cells if not g.canonical_cells[0].ops) == 341


def test_canonicalize_prunes_dead_edges():
    space = get_space("nb201")
    g = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
    # node 2 has no input, so its outgoing edge (2->3) is dead; edge 0->1 leads nowhere but node 1 is dead-ended
    canon = space.canonicalize(g)
    assert space.format(canon) == "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert canon.key() == g.key()


def test_isomorphic_cells_share_key_and_different_cells_do_not():
    space = get_space("nb201")
    a = space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|")
    b = space.parse("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|")
    c = space.parse("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|")
    assert a.key() == b.key() != c.key()


def test_bad_code_raises():
    with pytest.raises(InvalidArchitecture, match="6 digits"):
        get_space("nb201").from_code("12345")


def test_parse_accepts_a_node_s_edges_in_any_order(rows):
    """The official ``str2structure`` reads each node's edges in any order; `format` stays the official form."""
    space = get_space("nb201")
    for arch, _ in rows[:500]:
        nodes = arch.split("+")
        shuffled = "+".join("|" + "|".join(reversed(node.strip("|").split("|"))) + "|" for node in nodes)
        assert space.parse(shuffled) == space.parse(arch) and space.format(space.parse(shuffled)) == arch
    g = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~1|skip_connect~0|+|avg_pool_3x3~2|none~0|nor_conv_1x1~1|")
    assert space.ops_code(g) == "313024"  # edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3
    with pytest.raises(InvalidArchitecture, match="node 3 names source node 1 twice"):
        space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~1|skip_connect~0|+|avg_pool_3x3~1|none~0|nor_conv_1x1~1|")


def test_features_are_one_hot_ops_of_the_representative():
    space = get_space("nb201")
    g = space.from_code("334131")
    x = space.features([g])[0].reshape(6, 5)
    assert x.sum(axis=1).tolist() == [1.0] * 6 and x.argmax(axis=1).tolist() == [3, 3, 4, 1, 3, 1]
    dead = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
    assert space.features([dead])[0].reshape(6, 5).argmax(axis=1).tolist() == [0, 0, 0, 1, 0, 0]


def test_representative_rule_is_the_smallest_code_of_each_key():
    """The O(1) swap rule picks, for every cell, the smallest canonical ops code among all cells of its key."""
    space = get_space("nb201")
    best: dict[str, str] = {}
    for g in space.enumerate():
        code = space.ops_code(space.canonicalize(g))
        best[g.key()] = min(best.get(g.key(), code), code)
    assert all(space.ops_code(space.representative(g)) == best[g.key()] for g in space.enumerate())
