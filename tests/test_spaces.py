"""Conformance suite: every registered search space obeys the same contract."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlatent import SPACES, Cell, Genotype, InvalidArchitecture, get_space

NAMES = SPACES.names()

#: Malformed texts per space, with the words the error must contain. A new space must add its own.
MALFORMED: dict[str, list[tuple[str, str]]] = {
    "nb201": [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "3 '\\+'-separated nodes"),
        ("|conv_7x7~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "unknown nb201 op"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "needs 2 input edge"),
        ("|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "into node 1 must come from an earlier node 0..0"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~2|+|skip_connect~0|nor_conv_3x3~1|skip_connect~3|",
         "into node 2 must come from an earlier node 0..1"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "node 2 names source node 0 twice"),
        ("|nor_conv_3x3|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "malformed nb201 edge"),
    ],
    "nb101": [
        ('{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]', "JSON"),
        ('{"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv9x9", "output"]}', "unknown"),
        ('{"matrix": [[0, 1, 0], [0, 0, 1], [0, 1, 0]], "ops": ["input", "conv3x3-bn-relu", "output"]}', "triangular|cycle|diagonal"),
        (
            ('{"matrix": [[0,1,1,1,1,1,1],[0,0,1,1,1,0,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],'
            '[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]], "ops": ["input","conv3x3-bn-relu","conv3x3-bn-relu",'
            '"conv3x3-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","output"]}'),
            "edges",
        ),
    ],
    "nbgraph": [
        ('{"links": [0, 0, 1, 2], "ops": ["gcn", "gat", "skip", "fc"]', "not valid JSON"),
        ('{"links": [0, 0, 1, 2], "ops": ["gcn", "gat", "skip", "conv"]}', "unknown nbgraph op"),
        ('{"links": [0, 2, 1, 2], "ops": ["gcn", "gat", "skip", "fc"]}', "node 2 reads 2"),
        ('{"links": [0, 0, 1], "ops": ["gcn", "gat", "skip", "fc"]}', "list of 4 integers"),
        ('{"links": [0, 0, 1, 2], "ops": ["skip", "skip", "skip", "skip"]}', "all-skip"),
        ('{"links": [0, 0, 1, 2], "ops": ["gcn", "gat", "skip", "fc"], "x": 1}', "exactly the keys"),
        ('{"links": [0, 0, 1, 2], "ops": ["gcn", "gat", "skip", "fc"], "links": [0, 0, 0, 0]}', "'links'\\] twice"),
    ],
    "darts": [
        (("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2, 3, 4, 5], "
         "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"), "4|nodes|pairs"),
        ("Genotype(normal=[('sep_conv_3x3', 0)", "malformed|truncated|parse|syntax"),
    ],
}


@pytest.fixture(params=NAMES)
def space(request):
    return get_space(request.param)


def _samples(space, n: int, seed: int = 0) -> list[Genotype]:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def test_registry_has_the_three_spaces():
    assert {"nb201", "nb101", "darts"} <= set(NAMES)


def test_thousand_samples_are_valid(space):
    samples = _samples(space, 1000)
    assert all(space.is_valid(g) and g.space == space.name for g in samples)
    assert len({g.key() for g in samples}) > 100  # sampling explores the space


def test_text_round_trip(space):
    for g in _samples(space, 200, seed=1):
        text = space.format(g)
        assert space.parse(text) == g
        assert space.format(space.parse(text)) == text


def test_tensor_round_trip(space):
    samples = _samples(space, 300, seed=2)
    batch = space.to_tensors(samples)
    assert batch.ops.shape == (300, space.max_nodes) and batch.adj.shape == (300, space.max_nodes, space.max_nodes)
    assert space.from_tensors(batch) == samples


def test_random_tensors_decode_to_none_or_valid(space):
    gen = np.random.default_rng(3)
    batch = space.to_tensors(_samples(space, 64, seed=3))
    noisy_ops = batch.ops.clone()
    flip = gen.random(noisy_ops.shape) < 0.2
    noisy_ops[flip] = 1 + int(gen.integers(len(space.node_labels) - 1))
    decoded = space.from_tensors(type(batch)(noisy_ops, batch.adj, batch.mask))
    assert all(g is None or space.is_valid(g) for g in decoded)


def _relabel(cell: Cell, rng: np.random.Generator) -> Cell:
    """The same DAG under a random topological order of its vertices."""
    n = len(cell.ops)
    preds = {v: {i for i, j in cell.edges if j == v} for v in range(n)}
    order: list[int] = []
    while len(order) < n:
        ready = [v for v in range(n) if v not in order and preds[v] <= set(order)]
        order.append(ready[int(rng.integers(len(ready)))])
    new = {old: k for k, old in enumerate(order)}
    return Cell(tuple(cell.ops[v] for v in order), tuple(sorted((new[i], new[j]) for i, j in cell.edges)))


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**32 - 1))
def test_key_invariant_under_relabelling(name, seed):
    space = get_space(name)
    rng = np.random.default_rng(seed)
    g = space.sample(rng)
    relabelled = Genotype(g.space, tuple(_relabel(c, rng) for c in g.cells))
    assert relabelled.key() == g.key()


def test_mutate_gives_valid_different_genotype(space):
    rng = np.random.default_rng(4)
    for g in _samples(space, 100, seed=4):
        child = space.mutate(g, rng)
        assert space.is_valid(child) and child.key() != g.key()


def test_canonicalize_keeps_key_and_is_idempotent(space):
    for g in _samples(space, 200, seed=5):
        c = space.canonicalize(g)
        assert c.key() == g.key() and space.is_valid(c) and space.canonicalize(c) == c


def test_malformed_text_raises_named_error(space):
    assert space.name in MALFORMED, f"add malformed examples for space {space.name}"
    for text, words in MALFORMED[space.name]:
        with pytest.raises(InvalidArchitecture, match=words):
            space.parse(text)


def test_truncated_text_raises(space):
    for g in _samples(space, 20, seed=6):
        text = space.format(g)
        for cut in (len(text) // 3, len(text) // 2, len(text) - 1):
            with pytest.raises(InvalidArchitecture):
                space.parse(text[:cut])


def test_genotype_of_another_space_refused(space):
    other = get_space(next(n for n in NAMES if n != space.name))
    g = other.sample(np.random.default_rng(7))
    with pytest.raises(InvalidArchitecture, match=f"space {other.name!r}"):
        space.validate(g)
    with pytest.raises(InvalidArchitecture):
        space.to_tensors([g])


# -- one representative per isomorphism class ---------------------------------------------------------
def _nb201_variants(space, g: Genotype, rng: np.random.Generator) -> list[Genotype]:
    """Cells isomorphic to `g`: nodes 1 and 2 swapped when edge 1->2 is none; a dead edge given another op
    that leaves it dead."""
    from archlatent.spaces.nb201 import OPS, _surviving_edges

    e01, e02, e12, e03, e13, e23 = ops = space.edge_ops(g)
    out = [space.from_ops((e02, e01, e12, e03, e23, e13))] if e12 == "none" else []
    for e in set(range(6)) - _surviving_edges(ops):
        new = ops[:e] + (OPS[int(rng.integers(len(OPS)))],) + ops[e + 1 :]
        if e not in _surviving_edges(new):
            out.append(space.from_ops(new))
    return out


def _nb101_variants(space, g: Genotype, rng: np.random.Generator) -> list[Genotype]:
    """The stored and the pruned cell under random topological relabellings."""
    return [space.make([_relabel(c, rng)]) for c in (g.cells[0], g.canonical_cells[0]) for _ in range(2)]


def _darts_variants(space, g: Genotype, rng: np.random.Generator) -> list[Genotype]:
    """Each cell's nodes in a random order that still reads only earlier nodes, and its pairs swapped at random."""
    cells = []
    for pairs in space.pairs(g):
        nodes = [pairs[2 * k : 2 * k + 2] for k in range(4)]
        order: list[int] = []
        while len(order) < 4:  # old nodes whose intermediate inputs are already placed
            ready = [k for k in range(4) if k not in order and all(j < 2 or j - 2 in order for _, j in nodes[k])]
            order.append(ready[int(rng.integers(len(ready)))])
        new = {0: 0, 1: 1} | {2 + old: 2 + k for k, old in enumerate(order)}
        node_pairs = [[(op, new[j]) for op, j in nodes[old]] for old in order]
        cells.append([p for two in node_pairs for p in (two[::-1] if rng.random() < 0.5 else two)])
    return [space.from_pairs(*cells)]


def _nbgraph_variants(space, g: Genotype, rng: np.random.Generator) -> list[Genotype]:
    """The raw cell under a random topological relabelling; with a spare skip (one reading the input),
    that skip moved below a leaf op (its only child) or between a node and its input (contracted)."""
    links, ops = space.links_ops(g)
    parent, op = {v: links[v - 1] for v in range(1, 5)}, {v: ops[v - 1] for v in range(1, 5)}
    out = [_nbgraph_relabelled(space, parent, op, rng)]
    spare = [v for v in parent if op[v] == "skip" and parent[v] == 0 and v not in parent.values()]
    leaves = [v for v in parent if op[v] != "skip" and v not in parent.values()]
    if spare and leaves:
        out.append(_nbgraph_relabelled(space, parent | {spare[0]: leaves[int(rng.integers(len(leaves)))]}, op, rng))
    if spare:
        v = [u for u in parent if u != spare[0]][int(rng.integers(3))]
        out.append(_nbgraph_relabelled(space, parent | {spare[0]: parent[v], v: spare[0]}, op, rng))
    return out


def _nbgraph_relabelled(space, parent: dict[int, int], op: dict[int, str], rng: np.random.Generator) -> Genotype:
    """The tree `parent` (node -> its input, 0 the raw input) laid out in a random topological order."""
    order: list[int] = []
    while len(order) < 4:
        ready = [v for v in parent if v not in order and (parent[v] == 0 or parent[v] in order)]
        order.append(ready[int(rng.integers(len(ready)))])
    new = {0: 0} | {v: k + 1 for k, v in enumerate(order)}
    return space.from_links([new[parent[v]] for v in order], [op[v] for v in order])


#: Key-preserving edits per space, made without looking at keys. A new space must add its own.
VARIANTS = {"nb201": _nb201_variants, "nb101": _nb101_variants, "darts": _darts_variants,
            "nbgraph": _nbgraph_variants}
#: Spaces whose constructors return each class's one genotype: their variants differ only as raw input
#: (their own tests check that the raw variants differ).
BUILT_CANONICAL = {"nbgraph"}


def test_representative_is_one_genotype_per_key(space):
    assert space.name in VARIANTS, f"add key-preserving variants for space {space.name}"
    rng = np.random.default_rng(8)
    samples = _samples(space, 300, seed=8)
    varied = 0
    for g in samples:
        rep = space.representative(g)
        assert space.is_valid(rep) and rep.key() == g.key() and space.representative(rep) == rep
        for h in VARIANTS[space.name](space, g, rng):
            assert h.key() == g.key() and space.representative(h) == rep
            varied += h != g
    assert varied > 50 or space.name in BUILT_CANONICAL
    reps = {g.key(): space.representative(g) for g in samples}
    assert len(set(reps.values())) == len(reps)  # different keys, different representatives


def test_nb201_representatives_are_the_8765_classes():
    space = get_space("nb201")
    reps: dict[str, Genotype] = {}
    for g in space.enumerate():
        assert reps.setdefault(g.key(), space.representative(g)) == space.representative(g)
    assert len(reps) == len(set(reps.values())) == 8765
    a = space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|")
    b = space.parse("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|")
    assert space.canonicalize(a) != space.canonicalize(b)  # canonicalize keeps the benchmark row
    assert space.representative(a) == space.representative(b)


# -- features -------------------------------------------------------------------------------------------
def test_features_fixed_length_and_one_row_per_key(space):
    samples = _samples(space, 200, seed=9)
    x = space.features(samples)
    assert x.shape == (200, space.feature_size) and x.dtype == np.float32 and space.feature_size > 0
    assert np.array_equal(x, space.features(samples)) and set(np.unique(x)) <= {0.0, 1.0}
    rng = np.random.default_rng(9)
    pairs = [(g, h) for g in samples[:50] for h in VARIANTS[space.name](space, g, rng)]
    assert np.array_equal(space.features([h for _, h in pairs]), space.features([g for g, _ in pairs]))
    rows = {g.key(): row.tobytes() for g, row in zip(samples, x)}
    assert len(set(rows.values())) == len(rows)  # different keys, different rows
    assert space.features([]).shape == (0, space.feature_size)


def test_decode_logits_reads_random_logits_as_valid_cells_or_none(space):
    """Every space reads decoder logits into its tensor form; DARTS's constrained decoding is always valid."""
    import torch

    from archlatent.encoders.base import NO_EDGE

    g = torch.Generator().manual_seed(0)
    n, labels = space.max_nodes, len(space.node_labels)
    block = torch.arange(n) // space.max_cell_nodes
    slots = torch.triu(torch.ones(n, n, dtype=torch.bool), 1) & (block[:, None] == block[None, :])
    op_logits = torch.randn(200, n, labels, generator=g)
    adj_logits = torch.randn(200, n, n, generator=g).masked_fill(~slots, NO_EDGE)
    decoded = space.from_tensors(space.decode_logits(op_logits, adj_logits, slots))
    assert all(d is None or space.is_valid(d) for d in decoded)
    if space.name == "darts":
        assert all(d is not None for d in decoded) and len({d.key() for d in decoded}) > 190
    # a cell's own one-hot logits decode back to it
    sample = [space.sample(np.random.default_rng(i)) for i in range(20)]
    batch = space.to_tensors(sample)
    exact = space.decode_logits(torch.nn.functional.one_hot(batch.ops, labels).float() * 10 - 5,
                                (batch.adj * 20 - 10).masked_fill(~slots, NO_EDGE), slots)
    assert space.from_tensors(exact) == sample
