"""NAS-Bench-Graph space: its keys partition the raw cells exactly as the benchmark's ``valid_hash`` does."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlatent import InvalidArchitecture, get_space
from archlatent.spaces import nbgraph
from tests.test_spaces import _nbgraph_variants

RAW_CELLS = [(links, ops) for links in nbgraph.LINK_PATTERNS for ops in itertools.product(nbgraph.OPS, repeat=4)
             if any(op != "skip" for op in ops)]


@pytest.fixture(scope="module")
def space():
    return get_space("nbgraph")


def _same_partition(space, cells) -> tuple[int, int]:
    """Assert that our keys and the installed package's ``valid_hash`` split `cells` alike; the class count."""
    arch = pytest.importorskip("nas_bench_graph.architecture")
    ours: dict[str, set[int]] = defaultdict(set)
    theirs: dict[int, set[str]] = defaultdict(set)
    for links, ops in cells:
        key, digest = space.from_links(links, ops).key(), arch.Arch(list(links), list(ops)).valid_hash()
        ours[key].add(digest)
        theirs[digest].add(key)
    assert all(len(v) == 1 for v in ours.values()) and all(len(v) == 1 for v in theirs.values())
    return len(ours)


def test_raw_cells_and_class_counts(space):
    assert len(RAW_CELLS) == 157_440 and len(nbgraph.LINK_PATTERNS) == 24
    assert space.size() == 26_206 == len({g.key() for g in space.enumerate()})
    proteins = [g for g in space.enumerate() if set(space.links_ops(g)[1]) <= set(nbgraph.PROTEINS_OPS)]
    assert len(proteins) == 2_021


def test_keys_match_valid_hash_on_a_sample(space):
    rng = np.random.default_rng(0)
    sample = [RAW_CELLS[i] for i in rng.choice(len(RAW_CELLS), 4_000, replace=False)]
    # plus every raw cell of a few classes, so that the sample holds whole classes too
    some = {nbgraph.canonical(*cell) for cell in sample[:40]}
    sample += [cell for cell in RAW_CELLS if nbgraph.canonical(*cell) in some]
    assert _same_partition(space, sample) > 3_000


@pytest.mark.slow
def test_keys_match_valid_hash_on_every_raw_cell(space):
    """All 157,440 raw cells (~60 s): 26,206 classes, exactly the package's."""
    assert _same_partition(space, RAW_CELLS) == 26_206
    proteins = [(links, ops) for links, ops in RAW_CELLS if set(ops) <= set(nbgraph.PROTEINS_OPS)]
    assert len(proteins) == 14_976 and _same_partition(space, proteins) == 2_021


@pytest.mark.slow
def test_classes_are_the_canonical_cells_of_every_raw_cell():
    assert set(nbgraph.classes()) == {nbgraph.canonical(*cell) for cell in RAW_CELLS}


def test_plain_tree_isomorphism_would_not_do(space):
    """The skip rule matters: cells that differ only by where a skip sits share a key and a row."""
    a = space.from_links([0, 0, 0, 0], ["gat", "gat", "gat", "skip"])  # a skip reading the input
    b = space.from_links([0, 0, 0, 1], ["skip", "gat", "gat", "gat"])  # a skip feeding gat
    c = space.from_links([0, 0, 0, 1], ["gat", "gat", "gat", "skip"])  # gat's only child a skip
    assert a == b == c
    d = space.from_links([0, 1, 1, 0], ["gcn", "skip", "fc", "gat"])  # gcn feeds fc and the output
    e = space.from_links([0, 1, 0, 0], ["gcn", "fc", "gat", "skip"])  # gcn feeds fc only
    assert d.key() != e.key()


def test_raw_variants_differ_and_share_the_genotype(space):
    rng = np.random.default_rng(1)
    raw = set()
    for g in (space.sample(rng) for _ in range(200)):
        for h in _nbgraph_variants(space, g, rng):
            assert h == g
        raw.add(space.links_ops(g))
    assert len(raw) > 150


def test_only_canonical_cells_are_valid(space):
    from archlatent.genotype import Genotype

    raw = Genotype("nbgraph", (nbgraph.encode((0, 0, 0, 1), ("skip", "gat", "gat", "gat")),))
    assert not space.is_valid(raw) and space.is_valid(space.make(raw.cells))
    with pytest.raises(InvalidArchitecture, match="not the canonical cell"):
        space.validate(raw)


def test_text_form_is_the_benchmarks(space):
    g = space.parse('{ "ops" : ["gcn", "gat", "gin", "fc"],\n "links": [0, 0, 1, 2] }')
    # the canonical cell: subtrees in the benchmark's op order (gat before gcn), each in preorder
    assert json.loads(space.format(g)) == {"links": [0, 1, 0, 3], "ops": ["gat", "fc", "gcn", "gin"]}
    assert space.format(space.parse('{"links": [0, 1, 1, 0], "ops": ["skip", "gcn", "gat", "fc"]}')) == (
        '{"links":[0,0,0,0],"ops":["skip","gat","gcn","fc"]}'  # the skip feeding gcn and gat is contracted
    )


@settings(max_examples=200, deadline=None)
@given(links=st.lists(st.integers(-3, 6) | st.booleans() | st.floats(), max_size=6),
       ops=st.lists(st.sampled_from([*nbgraph.OPS, "conv", ""]) | st.integers(), max_size=6))
def test_parse_gives_a_genotype_or_one_named_error(links, ops):
    space = get_space("nbgraph")
    text = json.dumps({"links": links, "ops": ops})
    try:
        g = space.parse(text)
    except InvalidArchitecture as err:
        assert "nbgraph" in str(err) and len(str(err)) < 500
        return
    assert space.parse(space.format(g)) == g and g.key() == space.from_links(links, ops).key()


@pytest.mark.parametrize("text", ['{"links": [0, 0, 1, 2], "ops": "gcn"}', '[0, 0, 1, 2]', '{"links": [0, 0, 1, 1e999]}',
                                  '{"links": [0, 0, 1, ' + "9" * 900 + '], "ops": ["gcn", "gat", "gin", "fc"]}',
                                  '{"links": [0, 0, 1, true], "ops": ["gcn", "gat", "gin", "fc"]}', " " * 1_001])
def test_malformed_texts(space, text):
    with pytest.raises(InvalidArchitecture, match="nbgraph"):
        space.parse(text)


def test_neighbours_are_one_edit_and_other_classes(space):
    g = space.parse('{"links": [0, 0, 1, 2], "ops": ["gcn", "gat", "gin", "fc"]}')
    near = space.neighbours(g)
    assert g not in near and len({h.key() for h in near}) == len(near) > 20
    assert all(space.is_valid(h) for h in near)


def test_sample_is_uniform_over_classes(space):
    rng = np.random.default_rng(2)
    draws = [space.sample(rng).key() for _ in range(4_000)]
    assert len(set(draws)) > 3_600  # ~3,700 distinct expected among 26,206 equally likely classes
