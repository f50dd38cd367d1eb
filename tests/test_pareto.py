"""Pareto fronts: the fast scan agrees with brute force; hypervolume behaves."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from archlatent.pareto import front_report, hypervolume, nondominated


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
