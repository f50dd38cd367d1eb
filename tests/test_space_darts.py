"""DARTS space: published genotypes, text form, key invariances, validity, edits and tensor form."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from archlatent.errors import InvalidArchitecture
from archlatent.genotype import Cell
from archlatent.spaces import SPACES, get_space
from archlatent.spaces.darts import OPS, DartsSpace

# Published genotypes, copied as written in their repositories (only ones built from the 7 DARTS
# ops with 4 two-input nodes; NASNet, AmoebaNet, ENAS, SETN and FairDARTS's sparse cells are not).
PUBLISHED = {
    # quark0/darts cnn/genotypes.py (DARTS, first order); same text in yuhuixu1993/PC-DARTS genotypes.py
    "DARTS_V1": "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
    # quark0/darts cnn/genotypes.py (DARTS, second order); same text in yuhuixu1993/PC-DARTS genotypes.py
    "DARTS_V2": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    # yuhuixu1993/PC-DARTS genotypes.py: PC_DARTS_cifar (PCDARTS = PC_DARTS_cifar)
    "PCDARTS": "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))",
    # yuhuixu1993/PC-DARTS genotypes.py: PC_DARTS_image
    "PC_DARTS_image": "Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), reduce=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 2), ('max_pool_3x3', 1), ('sep_conv_3x3', 2), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 3)], reduce_concat=range(2, 6))",
    # chenxin061/pdarts genotypes.py: PDARTS (spacing as published)
    "PDARTS": "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0),('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3',0), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)], reduce_concat=range(2, 6))",
    # D-X-Y/AutoDL-Projects lib/nas_infer_model/DXYs/genotypes.py: GDAS_V1 (written there as nested
    # per-node pairs; flattened here into the DARTS form)
    "GDAS_V1": "Genotype(normal=[('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), ('sep_conv_5x5', 2), ('sep_conv_3x3', 3), ('skip_connect', 0), ('sep_conv_5x5', 4), ('sep_conv_3x3', 3)], normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('sep_conv_5x5', 2), ('sep_conv_5x5', 1), ('dil_conv_5x5', 2), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1)], reduce_concat=[2, 3, 4, 5])",
    # SNAS-Series/SNAS-Series SNAS/genotypes.py: SNAS_mild (multi-line there; joined here)
    "SNAS_mild": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('dil_conv_5x5', 2)], reduce_concat=range(2, 6))",
    # SNAS-Series/SNAS-Series SNAS/genotypes.py: SNAS_moderate (multi-line there; joined here)
    "SNAS_moderate": "Genotype(normal=[('dil_conv_5x5', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 1)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1)], reduce_concat=range(2, 6))",
    # xiangning-chen/DrNAS DARTS-space/genotypes.py: DrNAS_cifar10
    "DrNAS_cifar10": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('dil_conv_5x5', 3)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 2), ('sep_conv_5x5', 1), ('sep_conv_5x5', 1), ('dil_conv_5x5', 3), ('skip_connect', 4), ('sep_conv_5x5', 1)], reduce_concat=range(2, 6))",
    # xiangning-chen/DrNAS DARTS-space/genotypes.py: DrNAS_imagenet
    "DrNAS_imagenet": "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('dil_conv_3x3', 3), ('skip_connect', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1)], reduce_concat=range(2, 6))",
    # xiaomi-automl/FairDARTS fairdarts/genotypes.py: MdeNAS (credited there to tanglang96/MDENAS)
    "MdeNAS": "Genotype(normal=[('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 3), ('sep_conv_3x3', 1), ('dil_conv_5x5', 3), ('max_pool_3x3', 4)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('skip_connect', 0), ('skip_connect', 1), ('sep_conv_3x3', 3), ('skip_connect', 2), ('dil_conv_3x3', 3), ('sep_conv_5x5', 0)], reduce_concat=range(2, 6))",
}

GOOD_NORMAL = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4
GOOD = "Genotype(normal={n}, normal_concat={nc}, reduce={r}, reduce_concat={rc})"


@pytest.fixture(scope="module")
def space() -> DartsSpace:
    return get_space("darts")


def _text(
    normal: object = GOOD_NORMAL, reduce: object = GOOD_NORMAL, nc: str = "[2, 3, 4, 5]", rc: str = "[2, 3, 4, 5]"
) -> str:
    return GOOD.format(n=normal, r=reduce, nc=nc, rc=rc)


def _samples(space: DartsSpace, n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def _literal_pairs(text: str) -> tuple[list, list]:
    call = ast.parse(text, mode="eval").body
    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("normal", "reduce")}
    return kw["normal"], kw["reduce"]


def test_registered(space: DartsSpace) -> None:
    assert SPACES.get("darts") is DartsSpace
    assert DartsSpace.__doc__.splitlines()[0].startswith(
        'DARTS (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019)'
    )
    assert space.max_cell_nodes == 15 and space.max_nodes == 30
    assert space.node_labels == ("<pad>", "input0", "input1", "output", "add", *OPS)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_genotypes_round_trip(space: DartsSpace, name: str) -> None:
    text = PUBLISHED[name]
    g = space.parse(text)
    assert space.is_valid(g)
    assert space.pairs(g) == _literal_pairs(text)
    canonical = space.format(g)
    assert space.parse(canonical) == g and space.format(space.parse(canonical)) == canonical
    if "range" not in text and ",(" not in text and "',0" not in text:
        assert canonical == text
    c = space.canonicalize(g)
    assert c.key() == g.key() and space.canonicalize(c) == c and space.representative(g) == c


def test_published_inputs_are_distinct() -> None:
    for text in PUBLISHED.values():
        for pairs in _literal_pairs(text):
            assert all(pairs[i][1] != pairs[i + 1][1] for i in range(0, 8, 2))


def test_format_is_canonical_darts_style(space: DartsSpace) -> None:
    g = space.from_pairs(GOOD_NORMAL, GOOD_NORMAL)
    assert space.format(g) == _text()
    assert space.format(g).startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ")


def test_parse_accepts_range_quotes_whitespace_and_positional(space: DartsSpace) -> None:
    g = space.parse(PUBLISHED["DARTS_V2"])
    messy = (
        PUBLISHED["DARTS_V2"]
        .replace("'", '"')
        .replace(", ", " ,\n  ")
        .replace("[2 ,\n  3 ,\n  4 ,\n  5]", "range(2,6)")
    )
    assert "range(2,6)" in messy and '"' in messy
    assert space.parse("  " + messy + "\n") == g
    normal, reduce = space.pairs(g)
    assert space.parse(f"genotypes.Genotype({normal!r}, range(2, 6), {reduce!r}, [2, 3, 4, 5])") == g


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (PUBLISHED["DARTS_V2"][:-30], "malformed darts genotype text"),
        ("print('hi')", "must be a Genotype"),
        (_text(normal=GOOD_NORMAL[:-2] + [("none", 0), ("sep_conv_3x3", 1)]), "unknown darts op 'none'"),
        (_text(reduce=GOOD_NORMAL[:-1]), "odd count leaves a node with one input"),
        (_text(normal=GOOD_NORMAL[:-2]), "has 3 nodes, needs 4"),
        (
            _text(normal=GOOD_NORMAL[:2] + [("skip_connect", 3), ("skip_connect", 0)] + GOOD_NORMAL[4:]),
            "node 3 takes input 3",
        ),
        (
            _text(normal=GOOD_NORMAL[:2] + [("skip_connect", 4), ("skip_connect", 0)] + GOOD_NORMAL[4:]),
            "node 3 takes input 4",
        ),
        (_text(normal=GOOD_NORMAL[:2] + [("skip_connect", -1), ("skip_connect", 0)] + GOOD_NORMAL[4:]), "input -1"),
        (_text(reduce=GOOD_NORMAL[:6] + [("skip_connect", 2), ("max_pool_3x3", 2)]), "node 5 uses input 2 twice"),
        (_text(normal=GOOD_NORMAL[:7] + [("sep_conv_3x3", "1")]), r"expected an \(op, input\) pair"),
        (_text(normal=list(range(8))), r"expected an \(op, input\) pair"),
        (_text(normal="foo"), r"normal must be a list of \(op, input\) pairs"),
        (_text(nc="[2, 3, 4]"), r"normal_concat must be \[2, 3, 4, 5\]"),
        (_text(rc="range(2, 7)"), r"reduce_concat must be \[2, 3, 4, 5\]"),
        (_text(rc="range(x)"), "reduce_concat must be a list of node indices"),
        (_text().replace(", reduce_concat=[2, 3, 4, 5]", ""), "lacks reduce_concat"),
        (_text().replace("normal_concat=", "normal_cat="), "takes the fields"),
    ],
)
def test_malformed_text_raises(space: DartsSpace, text: str, match: str) -> None:
    with pytest.raises(InvalidArchitecture, match=match):
        space.parse(text)


def test_from_pairs_and_pairs(space: DartsSpace) -> None:
    normal, reduce = _literal_pairs(PUBLISHED["PDARTS"])
    g = space.from_pairs(normal, reduce)
    assert space.pairs(g) == (normal, reduce)
    assert g == space.from_pairs([list(p) for p in normal], reduce)
    cell = g.cells[0]
    assert cell.ops[:2] == ("input0", "input1") and cell.ops[14] == "output"
    op_nodes = [v for v in range(2, 14) if v % 3 != 1]
    assert [cell.ops[v] for v in op_nodes] == [op for op, _ in normal]
    assert all(cell.ops[v] == "add" and (v, 14) in cell.edges for v in (4, 7, 10, 13))
    # each op node feeds its node's add; op node 9 (node 4's second op) reads node 3's add (7),
    # op node 12 (node 5's second op) reads node 4's add (10)
    assert all((v, v + 2 - (v + 1) % 3) in cell.edges for v in op_nodes)
    assert {(7, 9), (10, 12)} <= set(cell.edges) and len(cell.edges) == 20


def test_key_and_canonical_form_ignore_input_order_within_a_node(space: DartsSpace) -> None:
    for g in _samples(space, 100):
        normal, reduce = space.pairs(g)
        for k in range(0, 8, 2):
            swapped = normal[:k] + [normal[k + 1], normal[k]] + normal[k + 2 :]
            h = space.from_pairs(swapped, reduce)
            assert h.key() == g.key() and space.canonicalize(h) == space.canonicalize(g)
            if normal[k] != normal[k + 1]:
                assert h != g


def test_key_distinguishes_inputs_ops_and_cells(space: DartsSpace) -> None:
    g = space.from_pairs(GOOD_NORMAL, GOOD_NORMAL)
    other_input = GOOD_NORMAL[:6] + [("sep_conv_3x3", 0), ("sep_conv_3x3", 2)]
    assert space.from_pairs(other_input, GOOD_NORMAL).key() != g.key()
    # input0 vs input1: identical wiring shape, only the cell input differs
    a = [("skip_connect", 0), ("sep_conv_3x3", 1)] + [("sep_conv_3x3", 0), ("sep_conv_3x3", 2)] * 3
    b = [("skip_connect", 0), ("sep_conv_3x3", 1)] + [("sep_conv_3x3", 1), ("sep_conv_3x3", 2)] * 3
    assert space.from_pairs(a, GOOD_NORMAL).key() != space.from_pairs(b, GOOD_NORMAL).key()
    assert space.from_pairs(a, b).key() != space.from_pairs(b, a).key()
    keys = {space.parse(t).key() for t in PUBLISHED.values()}
    assert len(keys) == len(PUBLISHED)


def _swap_nodes(pairs: list, n: int) -> list:
    """Swap intermediate nodes n and n + 1 (n + 1 must not read n) and renumber later references."""
    ren = {n: n + 1, n + 1: n}
    out = [(op, ren.get(j, j)) for op, j in pairs]
    i = 2 * (n - 2)
    return out[:i] + out[i + 2 : i + 4] + out[i : i + 2] + out[i + 4 :]


def test_key_invariant_under_permuting_independent_nodes(space: DartsSpace) -> None:
    seen = 0
    for g in _samples(space, 200, seed=1):
        normal, reduce = space.pairs(g)
        for n in (2, 3, 4):
            if n in (j for _, j in normal[2 * (n - 1) : 2 * n]):
                continue
            h = space.from_pairs(_swap_nodes(normal, n), reduce)
            assert h.key() == g.key() and space.canonicalize(h) == space.canonicalize(g)
            seen += 1
    assert seen > 50


def test_sample_is_valid_seeded_and_distinct_inputs(space: DartsSpace) -> None:
    a, b = _samples(space, 50, seed=3), _samples(space, 50, seed=3)
    assert a == b
    for g in a:
        assert space.is_valid(g)
        for pairs in space.pairs(g):
            for k in range(4):
                (_, x), (_, y) = pairs[2 * k], pairs[2 * k + 1]
                assert x != y and 0 <= x < k + 2 and 0 <= y < k + 2
    assert len({g.key() for g in a}) == len(a)


def test_neighbours_are_single_edits(space: DartsSpace) -> None:
    for g in _samples(space, 20, seed=4):
        old = space.pairs(g)
        neigh = space.neighbours(g)
        n_inputs = sum(max(0, 2 + p // 2 - 2) for _ in old for p in range(8))
        assert len(neigh) == 2 * 8 * (len(OPS) - 1) + n_inputs
        for h in neigh:
            new = space.pairs(h)
            assert sum(x != y for c in range(2) for x, y in zip(old[c], new[c])) == 1
        assert space.mutate(g, np.random.default_rng(0)).key() != g.key()


def test_tensor_round_trip(space: DartsSpace) -> None:
    gs = _samples(space, 200, seed=5) + [space.parse(t) for t in PUBLISHED.values()]
    batch = space.to_tensors(gs)
    assert batch.ops.shape == (len(gs), 30) and batch.adj.shape == (len(gs), 30, 30)
    assert bool(batch.mask.all())
    assert space.from_tensors(batch) == gs


def test_from_tensors_rejects_bad_wiring(space: DartsSpace) -> None:
    g = space.parse(PUBLISHED["DARTS_V2"])
    batch = space.to_tensors([g, g, g, g])
    adj, ops = batch.adj.clone(), batch.ops.clone()
    adj[0, 0, 2] = 0.0  # normal op node 2 loses its input
    adj[1, 15 + 4, 15 + 14] = 0.0  # reduce add node 4 no longer feeds the output
    adj[2, 0, 6] = 1.0  # op node 6 reads input 1 and now input 0 too
    ops[3, 15 + 5] = space.node_labels.index("output")  # an op node labelled output
    out = space.from_tensors(type(batch)(ops, adj, batch.mask))
    assert out == [None, None, None, None]
    assert space.from_tensors(batch) == [g] * 4


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: Cell(c.ops[:-1], tuple(e for e in c.edges if 14 not in e)), "must have 15 nodes"),
        (lambda c: Cell(c.ops, tuple(e for e in c.edges if e[1] != 3)), "op node 3 has no input"),
        (lambda c: Cell(c.ops[:5] + ("conv_7x1_1x7",) + c.ops[6:], c.edges), "unknown darts op 'conv_7x1_1x7'"),
        (lambda c: Cell(c.ops[:4] + ("skip_connect",) + c.ops[5:], c.edges), r"must have 'add' nodes at \[4, 7, 10, 13\]"),
        (lambda c: Cell(("input1", "input0", *c.ops[2:]), c.edges), "must start with 'input0', 'input1'"),
        (lambda c: Cell(c.ops, tuple(sorted({*c.edges, (2, 3)}))), r"op node 3 reads nodes \[1, 2\]"),
        (lambda c: Cell(c.ops, tuple(sorted({*c.edges, (2, 5)}))), "not one cell input or one intermediate"),
        (lambda c: Cell(c.ops, tuple(e for e in c.edges if e != (9, 10))), "wiring differs"),
    ],
)
def test_invalid_cells_raise(space: DartsSpace, edit, match: str) -> None:
    g = space.from_pairs(GOOD_NORMAL[:6] + [("skip_connect", 0), ("sep_conv_5x5", 1)], GOOD_NORMAL)
    with pytest.raises(InvalidArchitecture, match=match):
        space.make([edit(g.cells[0]), g.cells[1]])


def test_duplicate_inputs_rejected_in_cells(space: DartsSpace) -> None:
    g = space.from_pairs(GOOD_NORMAL, GOOD_NORMAL)
    cell = g.cells[0]
    edges = tuple(sorted(set(cell.edges) - {(1, 12)} | {(0, 12)}))  # node 5 reads input 0 twice
    with pytest.raises(InvalidArchitecture, match="node 5 uses input 0 twice"):
        space.make([Cell(cell.ops, edges), g.cells[1]])


def test_key_tells_apart_leaf_nodes_that_trade_ops(space: DartsSpace) -> None:
    """Nodes 4 and 5 both read inputs 0 and 1: trading their input-1 ops computes another function
    (the sums pair up differently), while trading the whole nodes changes nothing."""
    normal = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 1),
              ("max_pool_3x3", 0), ("dil_conv_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_5x5", 1)]
    traded = normal[:5] + [normal[7], normal[6], normal[5]]
    swapped = normal[:4] + normal[6:] + normal[4:6]
    g, h, k = (space.from_pairs(n, GOOD_NORMAL) for n in (normal, traded, swapped))
    assert g.key() != h.key() and g.key() == k.key()
    assert space.canonicalize(g) != space.canonicalize(h) and space.canonicalize(g) == space.canonicalize(k)


def _nested(text: str) -> str:
    """`text` with each pair list written as pt.darts logs it: one list of two pairs per node."""
    normal, reduce = _literal_pairs(text)
    nest = lambda pairs: [list(pairs[i : i + 2]) for i in range(0, 8, 2)]
    return f"Genotype(normal={nest(normal)}, normal_concat=range(2, 6), reduce={nest(reduce)}, reduce_concat=range(2, 6))"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_nested_pair_lists_parse_as_the_flat_form(space: DartsSpace, name: str) -> None:
    text = _nested(PUBLISHED[name])
    assert text.startswith("Genotype(normal=[[(")
    assert space.parse(text) == space.parse(PUBLISHED[name])
    assert space.format(space.parse(text)) == space.format(space.parse(PUBLISHED[name]))


def test_nested_pair_lists_of_other_tools(space: DartsSpace) -> None:
    # pt.darts-style log line (double quotes, one list per node) and AutoDL's tuples of tuples
    text = (
        'Genotype(normal=[[("sep_conv_3x3", 1), ("sep_conv_3x3", 0)], [("skip_connect", 2), ("sep_conv_3x3", 0)], '
        '[("skip_connect", 2), ("sep_conv_3x3", 0)], [("sep_conv_3x3", 0), ("dil_conv_3x3", 1)]], '
        'normal_concat=range(2, 6), reduce=[[("skip_connect", 0), ("max_pool_3x3", 1)], '
        '[("skip_connect", 2), ("sep_conv_3x3", 0)], [("skip_connect", 3), ("max_pool_3x3", 1)], '
        '[("skip_connect", 3), ("avg_pool_3x3", 1)]], reduce_concat=range(2, 6))'
    )
    g = space.parse(text)
    assert space.pairs(g)[0][:4] == [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2), ("sep_conv_3x3", 0)]
    normal, reduce = space.pairs(g)
    as_tuples = tuple(tuple(normal[i : i + 2]) for i in range(0, 8, 2))
    assert space.from_pairs(as_tuples, reduce) == g
    with pytest.raises(InvalidArchitecture, match="normal node 3 lists 3 .* pairs, needs 2"):
        space.from_pairs([normal[0:2], normal[2:4] + [("skip_connect", 1)], normal[4:6], normal[6:8]], reduce)
    with pytest.raises(InvalidArchitecture, match="node 2 uses input 0 twice"):
        space.from_pairs([[("skip_connect", 0), ("sep_conv_3x3", 0)], *[normal[i : i + 2] for i in (2, 4, 6)]], reduce)


def test_features_mark_cell_edge_and_op(space: DartsSpace) -> None:
    g = space.parse(PUBLISHED["DARTS_V2"])
    x = space.features([g])[0].reshape(2, 14, 7)
    offsets = {2: 0, 3: 2, 4: 5, 5: 9}  # edges (node, input), node by node, as in DARTS's search cell
    marked = {(c, offsets[2 + p // 2] + j, OPS.index(op))
              for c, pairs in enumerate(space.pairs(space.representative(g))) for p, (op, j) in enumerate(pairs)}
    assert {tuple(i) for i in np.argwhere(x)} == marked and len(marked) == 16
    assert space.feature_size == 196
