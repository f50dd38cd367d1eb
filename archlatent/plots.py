"""Figures of results, drawn off-screen with matplotlib's Agg backend and returned as PNG bytes.

The library never draws while it runs; commands call these on finished results and write the
bytes where they belong (with `archlatent.files.write_atomic`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from archlatent.errors import ArchLatentError
from archlatent.objectives import maximized
from archlatent.pareto import ParetoFront

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def front_png(front: ParetoFront, *, title: str, cost_label: str = "path MFLOPs") -> bytes:
    """Every point a sampler recorded (accuracy vs cost) and the Pareto front as a step line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points, best = front.points(), front.front()
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter([p.cost for p in points], [p.accuracy for p in points], s=8, alpha=0.4, label="sampled")
    ax.step(
        [p.cost for p in best], [p.accuracy for p in best], where="post", color="C3", marker="o", label="Pareto front"
    )
    ax.set_xlabel(cost_label)
    ax.set_ylabel("validation-batch accuracy (%)")
    ax.set_title(f"{title}: {len(best)} non-dominated of {len(points)}")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def curves_png(curves: Sequence[Mapping[str, float]], *, title: str | None = None) -> bytes:
    """Pretraining curves: losses (log scale) and exact reconstruction per epoch, integer epoch ticks,
    legends outside the axes."""
    if not curves:
        raise ArchLatentError("no training curves to plot")
    epochs = [int(c["epoch"]) for c in curves]
    fig = _figure(11, 3.8)
    ax1, ax2 = fig.subplots(1, 2)
    for key, label in (("loss", "total"), ("ops", "ops CE"), ("adj", "edges BCE"), ("rank", "ranking")):
        values = [c.get(key, float("nan")) for c in curves]
        if any(v > 0 for v in values):
            ax1.plot(epochs, values, marker=".", label=label)
    ax1.set(yscale="log", xlabel="epoch", ylabel="loss per architecture")
    for key, label in (("train_exact", "train (sampled z)"), ("heldout_exact", "held-out (mu)")):
        ax2.plot(epochs, [100.0 * c.get(key, float("nan")) for c in curves], marker=".", label=label)
    ax2.set(xlabel="epoch", ylabel="exact reconstruction (%)")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def regret_figure(tests: Mapping[str, np.ndarray], target: float, *, title: str = "") -> Figure:
    """Regret against queries: `target` (the test accuracy of the table's best validation
    architecture) minus the test accuracy of each run's best-by-validation architecture so far, in
    percentage points; the mean over seeds as a line and the 10th-90th percentile of seeds as a band.

    Shapes: tests[method] [seeds, budget]. Regret is not monotone and can dip below 0: a better
    validation accuracy can come with a lower test accuracy, and another cell can test higher than
    the target. The y axis starts after the first tenth of the queries, where every method is still
    near random, so the differences that matter are visible.
    """
    fig = _figure(8, 5.2)
    ax = fig.add_subplot()
    tops = []
    for i, (name, t) in enumerate(tests.items()):
        regret = target - t
        x = np.arange(1, t.shape[1] + 1)
        ax.plot(x, np.nanmean(regret, 0), color=f"C{i}", label=f"{name} (mean)")
        low, high = np.nanpercentile(regret, [10, 90], axis=0)
        ax.fill_between(x, low, high, color=f"C{i}", alpha=0.15, linewidth=0)
        tops.append(float(high[max(len(high) // 10 - 1, 0)]))
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="0.5", alpha=0.3, linewidth=0))
    labels.append("band: 10th-90th percentile of seeds")
    ax.axhline(0.0, color="k", linestyle="--", linewidth=1)
    handles.append(ax.lines[-1])
    labels.append(f"0 = the best validation arch found (test {target:.2f})")
    ax.set(xlabel="queries (distinct architectures evaluated)",
           ylabel="regret: test acc. below the target (points)", title=title)
    bottom = min(float(np.nanmin([np.nanpercentile(target - t, 10) for t in tests.values()])), 0.0)
    ax.set_ylim(bottom=bottom - 0.05, top=max(max(tops), 0.1) * 1.05)
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small")
    fig.tight_layout()
    return fig


def regret_png(tests: Mapping[str, np.ndarray], target: float, *, title: str = "") -> bytes:
    """`regret_figure` as PNG bytes."""
    return _png(regret_figure(tests, target, title=title))


def _direction(metric: str) -> str:
    return f"{metric}, {'higher' if maximized(metric) else 'lower'} is better"


def robust_limits(values: np.ndarray, *, bad_low: bool) -> tuple[float, float]:
    """Axis limits holding `values` except far outliers on their bad side (below Q1 - 3 IQR when
    `bad_low`, above Q3 + 3 IQR otherwise), padded by 5 % of the span, so one broken cell (a 10 %
    accuracy) does not squeeze every other point into a strip."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return 0.0, 1.0
    q1, q3 = np.percentile(v, [25, 75])
    fence = 3 * (q3 - q1)
    kept = v[v >= q1 - fence] if bad_low else v[v <= q3 + fence]
    low, high = float(kept.min()), float(kept.max())
    pad = 0.05 * (high - low) or 0.5
    return low - pad, high + pad


def pareto_figure(points: Sequence[Mapping[str, float]], front: Sequence[Mapping[str, float]],
                  objectives: Sequence[str], *, title: str = "",
                  exact: Sequence[Mapping[str, float]] | None = None) -> Figure:
    """Every evaluated architecture on the first two objectives, the found non-dominated ones joined,
    and the table's exact front (`exact`) as a dashed line when it is known.

    The first objective's axis leaves out far outliers on its bad side (`robust_limits`); they are
    drawn as triangles on the axis edge and counted in the legend.
    """
    x, y = objectives[1], objectives[0]
    fig = _figure(7.5, 4.8)
    ax = fig.add_subplot()
    xs, ys = np.array([p[x] for p in points], dtype=float), np.array([p[y] for p in points], dtype=float)
    exact_ys = np.array([p[y] for p in exact or ()], dtype=float)
    low, high = robust_limits(np.concatenate([ys, exact_ys]), bad_low=maximized(y))
    inside = (ys >= low) & (ys <= high)
    ax.scatter(xs[inside], ys[inside], s=10, alpha=0.4, label=f"evaluated ({len(points)})")
    if (~inside).any():
        edge = low if maximized(y) else high
        ax.scatter(xs[~inside], np.full((~inside).sum(), edge), marker="v" if maximized(y) else "^", s=30, c="0.3",
                   clip_on=False, zorder=4,
                   label=f"{(~inside).sum()} {'below' if maximized(y) else 'above'} the axis "
                         f"({'lowest' if maximized(y) else 'highest'} {_extreme(ys[~inside], maximized(y)):.4g})")
    if exact:
        true = sorted(exact, key=lambda p: p[x])
        ax.plot([p[x] for p in true], [p[y] for p in true], color="0.25", linestyle="--", linewidth=1,
                drawstyle="steps-post", label=f"exact front of the table ({len(true)})")
    best = sorted(front, key=lambda p: p[x])
    ax.plot([p[x] for p in best], [p[y] for p in best], color="C3", marker="o", drawstyle="steps-post",
            label=f"found front ({len(best)})")
    ax.set_ylim(low, high)
    ax.set(xlabel=_direction(x), ylabel=_direction(y), title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    return fig


def _extreme(values: np.ndarray, low: bool) -> float:
    return float(values.min() if low else values.max())


def pareto_png(points: Sequence[Mapping[str, float]], front: Sequence[Mapping[str, float]],
               objectives: Sequence[str], *, title: str = "",
               exact: Sequence[Mapping[str, float]] | None = None) -> bytes:
    """`pareto_figure` as PNG bytes."""
    return _png(pareto_figure(points, front, objectives, title=title, exact=exact))


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def incumbents(scores: np.ndarray) -> np.ndarray:
    """Indices where the best-so-far score improves (the first query included; NaN never improves)."""
    best, out = -np.inf, []
    for i, v in enumerate(np.asarray(scores, dtype=float)):
        if v > best:
            best = v
            out.append(i)
    return np.array(out, dtype=int)


def latent_map_figure(xy: np.ndarray, colour: np.ndarray | None, path: np.ndarray | None, *, title: str,
                      share: Sequence[float], colour_label: str | None, scores: np.ndarray | None = None) -> Figure:
    """Architectures at their 2-D latent coordinates, coloured by `colour` (grey where unknown), and a
    search on top: every evaluated architecture as a hollow dot, the best-so-far path (each
    improvement, in query order) as a line, the first query circled and the best one starred.

    `scores` are the search objective of each path point, larger better (negate a cost); without
    them the path is drawn in query order and the star marks the last query.
    Shapes: xy [n, 2], colour [n], path [k, 2], scores [k].
    """
    import textwrap

    fig = _figure(8, 6.5)
    ax = fig.add_subplot()
    if colour is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=3, c="0.6", alpha=0.5, label="architectures", rasterized=True)
    else:
        known = np.isfinite(colour)
        if not known.all():
            ax.scatter(xy[~known, 0], xy[~known, 1], s=3, c="0.8", alpha=0.5, label="not in the table", rasterized=True)
        low = np.percentile(colour[known], 5)
        dots = ax.scatter(xy[known, 0], xy[known, 1], s=3, c=colour[known], cmap="viridis", vmin=low, rasterized=True)
        fig.colorbar(dots, ax=ax, label=f"{colour_label} (colour floor: 5th percentile)")
    if path is not None and len(path):
        _draw_path(ax, path, scores)
    ax.set(xlabel=f"principal axis 1 ({100 * share[0]:.0f} % of variance)",
           ylabel=f"principal axis 2 ({100 * share[1]:.0f} % of variance)")
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize="medium")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return fig


def _draw_path(ax: Axes, path: np.ndarray, scores: np.ndarray | None) -> None:
    """`latent_map_figure`'s search layer: evaluated points, the best-so-far path, first and best marked."""
    ax.scatter(path[:, 0], path[:, 1], s=22, facecolors="none", edgecolors="k", linewidths=0.8, alpha=0.8,
               label=f"evaluated ({len(path)})", zorder=3)
    if scores is None:
        steps, star, name = np.arange(len(path)), len(path) - 1, "last query"
    else:
        steps = incumbents(scores)
        star, name = int(steps[-1]) if len(steps) else len(path) - 1, "best"
    from matplotlib import patheffects

    ax.plot(path[steps, 0], path[steps, 1], color="C3", linewidth=1.6, marker="o", markersize=4, zorder=4,
            path_effects=[patheffects.withStroke(linewidth=3.5, foreground="w")],
            label=f"best so far ({len(steps)} improvements)" if scores is not None else "search path")
    ax.scatter(*path[0], marker="o", s=70, facecolors="none", edgecolors="k", label="first query", zorder=5)
    ax.scatter(*path[star], marker="*", s=220, c="C3", edgecolors="k", label=f"{name} (query {star + 1})", zorder=6)


def latent_map_png(xy: np.ndarray, colour: np.ndarray | None, path: np.ndarray | None, *, title: str,
                   share: Sequence[float], colour_label: str | None, scores: np.ndarray | None = None) -> bytes:
    """`latent_map_figure` as PNG bytes."""
    return _png(latent_map_figure(xy, colour, path, title=title, share=share, colour_label=colour_label, scores=scores))
