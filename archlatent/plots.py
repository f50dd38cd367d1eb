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


def regret_png(tests: Mapping[str, np.ndarray], target: float, *, title: str = "") -> bytes:
    """Test accuracy of the best-by-validation architecture against queries: mean over seeds, a band
    from the 10th to the 90th percentile, and the best validation architecture's test accuracy.

    Shapes: tests[method] [seeds, budget]. The curve is not monotone: a better validation accuracy
    can come with a lower test accuracy.
    """
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    for name, t in tests.items():
        x = np.arange(1, t.shape[1] + 1)
        ax.plot(x, t.mean(0), label=name)
        low, high = np.percentile(t, [10, 90], axis=0)
        ax.fill_between(x, low, high, alpha=0.15)
    ax.axhline(target, color="k", linestyle="--", linewidth=1, label=f"best validation arch ({target:.2f})")
    ax.set(xlabel="queries (distinct architectures evaluated)",
           ylabel="test acc. of the best-by-validation arch (%)", title=title)
    ax.set_ylim(bottom=max(np.nanmin([np.nanpercentile(t, 10) for t in tests.values()]) - 0.5, 0.0),
                top=target + 0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    return _png(fig)


def pareto_png(points: Sequence[Mapping[str, float]], front: Sequence[Mapping[str, float]],
               objectives: Sequence[str]) -> bytes:
    """Every evaluated architecture on the first two objectives, the non-dominated ones joined."""
    x, y = objectives[1], objectives[0]
    fig = _figure(6.5, 4.5)
    ax = fig.add_subplot()
    ax.scatter([p[x] for p in points], [p[y] for p in points], s=10, alpha=0.4, label="evaluated")
    best = sorted(front, key=lambda p: p[x])
    ax.plot([p[x] for p in best], [p[y] for p in best], color="C3", marker="o", drawstyle="steps-post",
            label=f"Pareto front ({len(best)})")
    ax.set(xlabel=f"{x} ({'max' if maximized(x) else 'min'})", ylabel=f"{y} ({'max' if maximized(y) else 'min'})")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def latent_map_png(xy: np.ndarray, colour: np.ndarray | None, path: np.ndarray | None, *, title: str,
                   share: Sequence[float], colour_label: str | None) -> bytes:
    """Architectures at their 2-D latent coordinates, coloured by `colour` (grey where unknown), and a
    search's path on top (start and end marked). Shapes: xy [n, 2], colour [n], path [k, 2]."""
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
        ax.plot(path[:, 0], path[:, 1], color="C3", linewidth=0.8, alpha=0.8, marker=".", markersize=4,
                label=f"search path ({len(path)} evaluated)")
        ax.scatter(*path[0], marker="o", s=60, facecolors="none", edgecolors="k", label="first query", zorder=5)
        ax.scatter(*path[-1], marker="*", s=120, c="k", label="last query", zorder=5)
    ax.set(xlabel=f"principal axis 1 ({100 * share[0]:.0f} % of variance)",
           ylabel=f"principal axis 2 ({100 * share[1]:.0f} % of variance)", title=title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return _png(fig)
