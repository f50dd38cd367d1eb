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
