"""Pareto fronts: the fast scan agrees with brute force; hypervolumes match hand-computed areas."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archlatent import ArchLatentError, get_space
from archlatent.pareto import (
    ParetoFront,
    front_report,
    hypervolume,
    hypervolume_at,
    nondominated,
    normalized_hypervolume,
)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 60), d=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_nondominated_matches_brute_force(n, d, seed):
    f = np.random.default_rng(seed).integers(0, 6, (n, d)).astype(float)  # small ints: many ties
    le = (f[:, None, :] <= f[None, :, :]).all(-1)
    lt = (f[:, None, :] < f[None, :, :]).any(-1)
    assert (nondominated(f) == ~(le & lt).any(0)).all()


def test_hypervolume_grows_with_a_better_front_and_report_is_bounded():
    ideal, nadir = np.zeros(2), np.ones(2)
    weak = np.array([[0.8, 0.8]])
    strong = np.array([[0.2, 0.6], [0.6, 0.2]])
    assert 0 < hypervolume(weak, ideal, nadir) < hypervolume(strong, ideal, nadir) <= 1.21
    everything = [{"acc": a, "cost": c} for a, c in [(90, 5), (80, 1), (70, 3), (95, 9)]]
    report = front_report(everything[:2], everything, ["acc", "cost"])
    assert report["front"] == [0, 1] and report["true_front_size"] == 3
    assert 0 < report["hypervolume"] < report["true_hypervolume"]


def test_nondominated_keeps_equal_points_and_drops_dominated_ones():
    points = [(90.0, 10.0), (80.0, 5.0), (85.0, 12.0), (90.0, 10.0), (70.0, 1.0)]  # (accuracy, cost)
    f = np.array([(-acc, cost) for acc, cost in points])
    assert np.flatnonzero(nondominated(f)).tolist() == [0, 1, 3, 4]


def test_hypervolume_at_by_hand():
    # minimization; reference (0, 1): one point (-0.5, 0.5) dominates a 0.5 x 0.5 box
    assert hypervolume_at(np.array([[-0.5, 0.5]]), np.array([0.0, 1.0])) == pytest.approx(0.25)
    assert hypervolume_at(np.array([[-0.5, 0.5], [-1.0, 1.0]]), np.array([0.0, 1.0])) == pytest.approx(0.25)
    two = np.array([[-0.5, 0.5], [-0.8, 0.75]])
    assert hypervolume_at(two, np.array([0.0, 1.0])) == pytest.approx(0.25 * 0.5 + 0.25 * 0.8)
    assert hypervolume_at(np.empty((0, 2)), np.array([0.0, 1.0])) == 0.0


def _front(points):
    space = get_space("nb201")
    distinct = {g.key(): g for g in itertools.islice(space.enumerate(), 3000)}  # one cell per key
    genotypes = list(distinct.values())[: len(points)]
    costs = {g.key(): cost for g, (_, cost) in zip(genotypes, points)}
    front = ParetoFront(lambda g: costs[g.key()])
    for g, (acc, _) in zip(genotypes, points):
        front.add(g, acc)
    return front


def test_normalized_hypervolume_by_hand():
    """DDAS's figure: accuracy / 100 up, cost / max_cost down, reference (accuracy 0, cost 1.1)."""
    points = [(80.0, 2.0), (60.0, 1.0), (90.0, 4.0), (70.0, 3.0)]  # (70, 3) is dominated by (80, 2)
    # scaled front, cheapest first: (0.6, 0.25), (0.8, 0.5), (0.9, 1.0); boxes up to the next cost / 1.1
    by_hand = (0.5 - 0.25) * 0.6 + (1.0 - 0.5) * 0.8 + (1.1 - 1.0) * 0.9
    assert by_hand == pytest.approx(0.64)
    assert normalized_hypervolume(points, max_cost=4.0) == pytest.approx(by_hand, abs=1e-12)
    assert normalized_hypervolume([*points, (99.0, 5.0)], max_cost=4.0) == pytest.approx(by_hand)  # beyond 1.1
    assert normalized_hypervolume([(50.0, 5.0)], max_cost=10.0) == pytest.approx(0.5 * 0.6)
    front = _front(points)
    assert [(p.accuracy, p.cost) for p in front.front()] == [(60.0, 1.0), (80.0, 2.0), (90.0, 4.0)]
    assert front.cost_range() == (1.0, 4.0) and front.hypervolume() == pytest.approx(by_hand, abs=1e-12)
    assert _front([]).hypervolume() == 0.0
    with pytest.raises(ArchLatentError, match="positive max_cost"):
        normalized_hypervolume(points, max_cost=0.0)


def test_pareto_front_keeps_the_latest_accuracy_and_computes_costs_once():
    space = get_space("nb201")
    g = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    calls = []
    front = ParetoFront(lambda genotype: calls.append(genotype) or 2.0)
    front.add(g, 10.0)
    front.add(g, 30.0)
    assert len(calls) == 1 and [(p.accuracy, p.cost) for p in front.points()] == [(30.0, 2.0)]
