"""The figures' data (axis limits, what each line and marker holds, legends, titles) on real NB201 rows,
read off the matplotlib figures the PNG functions draw rather than off pixels."""

from __future__ import annotations

import numpy as np
import pytest

from archlatent.pareto import front_report, nondominated, objective_matrix
from archlatent.plots import (
    incumbents,
    latent_map_figure,
    pareto_figure,
    regret_figure,
    robust_limits,
)


def _line(ax, label_start: str):
    found = [line for line in ax.get_lines() if line.get_label().startswith(label_start)]
    assert len(found) == 1, [line.get_label() for line in ax.get_lines()]
    return found[0]


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture(scope="module")
def rows(nb201_table):
    """Every NB201 row's CIFAR-10 metrics, as a search's `result.metrics` values hold them."""
    from archlatent.evaluators.tabular import TabularEvaluator

    return TabularEvaluator(nb201_table, "cifar10").all_metrics()


def _sample_with_outlier(rows, n: int = 100, seed: int = 0) -> list[dict[str, float]]:
    """`n` random rows of the table and its worst cell by validation accuracy (about 10 %)."""
    rng = np.random.default_rng(seed)
    picked = [rows[i] for i in rng.choice(len(rows), n, replace=False)]
    return [*picked, min(rows, key=lambda r: r["valid_acc"])]


def test_pareto_axis_leaves_out_the_broken_cell_and_marks_it(rows):
    objectives = ["valid_acc", "flops_m"]
    points = _sample_with_outlier(rows)
    worst = points[-1]["valid_acc"]
    assert worst < 20  # NB201 holds cells that do not train
    mask = nondominated(objective_matrix(points, objectives))
    front = [p for p, m in zip(points, mask) if m]
    ax = pareto_figure(points, front, objectives, title="nb201 cifar10, random, budget 101").axes[0]
    low, high = ax.get_ylim()
    ordinary = [p["valid_acc"] for p in points[:-1]]
    assert worst < low < np.percentile(ordinary, 5) and high >= max(ordinary)
    below = sum(p["valid_acc"] < low for p in points)
    edge = [c for c in ax.collections if c.get_label().startswith(f"{below} below the axis (lowest {worst:.4g})")]
    assert len(edge) == 1 and np.allclose(edge[0].get_offsets()[:, 1], low)  # drawn on the axis edge
    assert ax.get_title() == "nb201 cifar10, random, budget 101"
    assert ax.get_xlabel() == "flops_m, lower is better" and ax.get_ylabel() == "valid_acc, higher is better"
    found = _line(ax, "found front")
    assert sorted(found.get_xdata()) == sorted(p["flops_m"] for p in front)
    assert not [line for line in ax.get_lines() if line.get_label().startswith("exact front")]  # not known here


def test_pareto_draws_the_tables_exact_front_when_known(rows):
    objectives = ["valid_acc", "flops_m"]
    points = _sample_with_outlier(rows, seed=1)
    report = front_report(points, rows, objectives)
    exact = report["true_front"]
    assert len(exact) == report["true_front_size"] and all(set(p) == set(objectives) for p in exact)
    front = [points[i] for i in report["front"]]
    ax = pareto_figure(points, front, objectives, exact=exact).axes[0]
    line = _line(ax, f"exact front of the table ({len(exact)})")
    assert list(line.get_xdata()) == sorted(p["flops_m"] for p in exact)
    assert max(line.get_ydata()) == pytest.approx(max(r["valid_acc"] for r in rows))  # the table's best cell
    assert ax.get_ylim()[1] >= max(line.get_ydata())  # the exact front fits under the axis top


def test_robust_limits_trim_only_the_bad_side():
    values = np.array([90.0, 91.0, 92.0, 93.0, 10.0])
    low, high = robust_limits(values, bad_low=True)
    assert 10.0 < low < 90.0 and high > 93.0
    low, high = robust_limits(values, bad_low=False)  # a cost: a low value is no outlier
    assert low < 10.0


def test_latent_map_stars_the_best_and_draws_the_best_so_far_path(nb201_table, tiny_model):
    from archlatent.spaces import get_space

    space = get_space("nb201")
    rng = np.random.default_rng(0)
    genotypes = [space.sample(rng) for _ in range(300)]
    z = tiny_model.embed(genotypes).numpy()
    xy = z[:, :2] - z[:, :2].mean(0)
    path = xy[:60]  # a "search" of 60 queries over the first cells, scored by the table
    valid = nb201_table.metrics("cifar10")["valid_acc"]
    scores = np.array([float(np.mean(valid[nb201_table.row_ids(g)])) for g in genotypes[:60]])
    title = "transformer (member 1 of 3) on nb201: 15,625 architectures, PCA of the latent means, with a run"
    fig = latent_map_figure(xy, np.r_[scores, np.full(240, np.nan)], path, title=title,
                            share=[0.3, 0.2], colour_label="valid_acc", scores=scores)
    ax = fig.axes[0]
    best = int(np.argmax(scores))
    star = [c for c in ax.collections if c.get_label().startswith("best (query")]
    assert len(star) == 1 and star[0].get_label() == f"best (query {best + 1})"
    assert np.allclose(star[0].get_offsets()[0], path[best])
    steps = incumbents(scores)
    assert steps[0] == 0 and steps[-1] == best and np.all(np.diff(scores[steps]) > 0)
    line = _line(ax, "best so far")
    assert np.allclose(line.get_xydata(), path[steps]) and len(steps) < len(path)  # not the query-order tangle
    fig.canvas.draw()
    box = ax.title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width  # the title is not clipped at either edge
    assert max(len(t) for t in ax.get_title().splitlines()) <= 70


def test_incumbents_skip_nan_and_ties():
    assert incumbents(np.array([1.0, np.nan, 1.0, 3.0, 2.0, 3.0, 4.0])).tolist() == [0, 3, 6]


def test_regret_plots_target_minus_test_with_labelled_bands(nb201_table):
    """Random search on the table (seeds x queries): regret = the best validation cell's test accuracy
    minus the test accuracy of the best-by-validation cell so far."""
    from archlatent.evaluators.tabular import TabularEvaluator

    evaluator = TabularEvaluator(nb201_table, "cifar10")
    valid, test = evaluator.columns["valid_acc"], evaluator.columns["test_acc"]
    target = float(test[int(np.argmax(valid))])
    rng = np.random.default_rng(0)
    tests = np.zeros((20, 50))
    for seed in range(20):
        rows = rng.choice(len(valid), 50, replace=False)
        best_so_far = np.maximum.accumulate(valid[rows])
        tests[seed] = [test[rows[np.flatnonzero(valid[rows][: i + 1] == best_so_far[i])[0]]] for i in range(50)]
    ax = regret_figure({"random": tests}, target, title="nb201 cifar10, 20 seeds").axes[0]
    mean = _line(ax, "random (mean)")
    assert np.allclose(mean.get_ydata(), (target - tests).mean(0))
    assert "band: 10th-90th percentile of seeds" in _legend(ax)
    assert "regret" in ax.get_ylabel() and ax.get_ylim()[0] <= 0.0
    assert ax.get_ylim()[1] < (target - tests[:, 0]).max()  # the first queries' huge regrets do not set the axis
