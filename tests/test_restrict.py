"""Restricted spaces: base-space genotypes, sampling and edits inside the restriction, stored forms, supernets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from archlatent import ArchLatentError, InvalidArchitecture, get_space
from archlatent.oneshot.checkpoints import save_atomic
from archlatent.oneshot.nets import SUPERNETS
from archlatent.oneshot.nets.mixed import build_single_path
from archlatent.oneshot.samplers import SAMPLERS
from archlatent.spaces import darts, nb201
from archlatent.spaces.restrict import RestrictedSpace, restriction_of

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def _random_restriction(name: str, seed: int, keep: float = 0.4) -> RestrictedSpace:
    """A restriction keeping about `keep` of the ops, at least one per edge."""
    base = get_space(name)
    mask = RestrictedSpace.full(base).mask()
    rng = np.random.default_rng(seed)
    kept = rng.random(mask.shape) < keep
    kept[np.arange(mask.shape[0])[:, None], np.arange(mask.shape[1]), rng.integers(mask.shape[2], size=mask.shape[:2])] = True
    return RestrictedSpace.from_mask(base, kept)


def _allows(space: RestrictedSpace, genotype) -> bool:
    return all(op in space.allowed[c][e] for c, e, op in space.active(genotype))


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_sample_and_neighbours_never_leave_the_restriction(name):
    space = _random_restriction(name, seed=1)
    base = get_space(name)
    rng = np.random.default_rng(0)
    seen = set()
    for i in range(60):
        g = space.sample(rng)
        assert _allows(space, g) and space.is_valid(g) and base.is_valid(g) and g.space == name
        assert base.format(g) == space.format(g) and base.parse(space.format(g)).key() == g.key()
        seen |= {(c, e, op) for c, e, op in space.active(g)}
        assert _allows(space, space.canonicalize(g)) and space.canonicalize(g).key() == g.key()
        if i < 3:  # a DARTS genotype has ~100 neighbours
            neighbours = space.neighbours(g)
            assert neighbours and all(_allows(space, n) for n in neighbours)
            assert len(neighbours) < len(base.neighbours(g))
            assert space.mutate(g, rng).key() != g.key()
    assert seen <= {(c, e, op) for c, cell in enumerate(space.allowed) for e, ops in enumerate(cell) for op in ops}
    assert len(seen) > space.candidates() // 2  # sampling reaches most allowed candidates, not a corner


def test_a_genotype_outside_the_restriction_is_refused_by_name():
    base = get_space("darts")
    allowed = [[("sep_conv_3x3", "max_pool_3x3")] * darts.N_EDGES for _ in range(2)]
    space = RestrictedSpace(base, allowed)
    outside = base.parse(DARTS_V2)  # has skip_connect and dil_conv_3x3
    assert base.is_valid(outside) and not space.is_valid(outside)
    with pytest.raises(InvalidArchitecture, match=r"op 'skip_connect' on normal edge 0->4 is outside the restricted"):
        space.parse(DARTS_V2)
    with pytest.raises(InvalidArchitecture, match="allowed there: max_pool_3x3, sep_conv_3x3"):
        space.validate(outside)
    inside = space.sample(np.random.default_rng(0))
    assert space.parse(space.format(inside)) == inside


def test_bad_restrictions_are_one_clear_error():
    darts_space, nb = get_space("darts"), get_space("nb201")
    with pytest.raises(ArchLatentError, match="unknown nb201 op"):
        RestrictedSpace(nb, [[("conv_7x7",)] * 6])
    with pytest.raises(ArchLatentError, match="1 cell"):
        RestrictedSpace(nb, [[("none",)] * 5])
    with pytest.raises(ArchLatentError, match="edge 1->2 allows no op"):
        RestrictedSpace(nb, [[("none",), ("none",), (), ("none",), ("none",), ("none",)]])
    closed = [[darts.OPS] * darts.N_EDGES, [darts.OPS] * darts.N_EDGES]
    closed[1][darts.edge_index(2, 0)] = ()
    with pytest.raises(ArchLatentError, match="reduce node 2 needs ops on at least two inputs"):
        RestrictedSpace(darts_space, closed)
    with pytest.raises(ArchLatentError, match="no per-edge ops"):
        RestrictedSpace.full(get_space("nb101"))
    with pytest.raises(ArchLatentError, match="'space' and 'allowed'"):
        RestrictedSpace.from_dict(["not", "a", "dict"])


def test_closed_darts_edges_are_never_sampled():
    base = get_space("darts")
    allowed = [[darts.OPS] * darts.N_EDGES for _ in range(2)]
    for node in range(3, 6):  # node n keeps only inputs 0 and 1
        for j in range(2, node):
            allowed[0][darts.edge_index(node, j)] = ()
    space = RestrictedSpace(base, allowed)
    rng = np.random.default_rng(3)
    for _ in range(40):
        normal, _ = base.pairs(space.sample(rng))
        assert {j for _, j in normal} == {0, 1}


def test_stored_forms_round_trip_through_json_and_a_checkpoint(tmp_path):
    space = _random_restriction("darts", seed=4)
    doc = json.loads(json.dumps(space.to_dict()))
    assert RestrictedSpace.from_dict(doc) == space and hash(RestrictedSpace.from_dict(doc)) == hash(space)
    save_atomic({"restriction": space.to_dict()}, tmp_path / "r.pt")
    again = RestrictedSpace.from_dict(torch.load(tmp_path / "r.pt", weights_only=True)["restriction"])
    assert again == space and (again.mask() == space.mask()).all()
    assert RestrictedSpace.from_mask(get_space("darts"), space.mask()) == space
    assert restriction_of(space) is space and restriction_of(get_space("darts")) == RestrictedSpace.full(get_space("darts"))
    assert space != RestrictedSpace.full(get_space("darts"))


def test_nb201_restriction_enumerates_its_product():
    space = RestrictedSpace(get_space("nb201"), [[("none", "skip_connect"), ("nor_conv_3x3",)] + [nb201.OPS[:2]] * 4])
    cells = list(space.enumerate())
    assert space.size() == len(cells) == 2 * 1 * 2**4 and len({space.format(g) for g in cells}) == len(cells)
    assert all(space.is_valid(g) for g in cells)
    assert space.summary() == "nb201 restricted to cell 11/30 (cell, edge, op) candidates"


@pytest.mark.parametrize(("name", "size"), [("nb201", {"C": 4, "N": 1}), ("darts", {"C": 4, "layers": 3})])
def test_single_path_supernet_builds_only_allowed_ops_and_refuses_others(name, size):
    space = _random_restriction(name, seed=2, keep=0.3)
    full = build_single_path(name, seed=0, **size)
    net = build_single_path(space, seed=0, **size)
    assert net.space is space and sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in full.parameters())
    names = {n for n, _ in net.named_parameters()}
    assert names < {n for n, _ in full.named_parameters()}  # same names: weights move between them
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(5)
    assert net(x, space.sample(rng)).shape == (2, 10)
    outside = next(g for g in (get_space(name).sample(rng) for _ in range(200)) if not space.is_valid(g))
    with pytest.raises(InvalidArchitecture, match="outside the restricted"):
        net(x, outside)
    with pytest.raises(ArchLatentError, match=f"takes a \\(restricted\\) {name} space"):
        SUPERNETS.create(name, space=get_space("nb101"), **size)


@pytest.mark.parametrize("sampler", ["uniform", "ddas", "ddas-cost"])
@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_samplers_stay_inside_a_restriction(sampler, name):
    space = _random_restriction(name, seed=6, keep=0.25)
    s = SAMPLERS.create(sampler, space, seed=0, cost=lambda g: 1.0)
    for _ in range(30):
        g = s.sample()
        assert _allows(space, g)
        s.feedback(g, 50.0)
