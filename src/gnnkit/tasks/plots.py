"""Learning curves as a PNG, drawn with matplotlib's Agg canvas.

The figure is built on ``matplotlib.figure.Figure`` with an Agg canvas directly instead of pyplot,
so plotting works without a display and never changes the user's global matplotlib backend.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoint import atomic_write_bytes

LEARNING_CURVES = "learning_curves.png"


def plot_learning_curves(rows: list[dict], path, x: str = "epoch", title: str = "") -> Path | None:
    """Plot every ``*loss*`` column in the left panel and every other metric in the right panel.

    ``rows`` are the per-epoch dicts of a :class:`~gnnkit.tasks.metrics_log.MetricsLog`. Columns
    named ``time*`` or ``*_time_s`` and the ``x`` column are not plotted. Returns the path written,
    or ``None`` when matplotlib is missing or there is nothing to plot.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is part of the 'full' extra
        return None
    if not rows:
        return None
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns and k != x and isinstance(row[k], (int, float)))
    columns = [c for c in columns if not (c.startswith("time") or c.endswith("_time_s") or c in ("fold", "run"))]
    loss_columns = [c for c in columns if "loss" in c]
    score_columns = [c for c in columns if "loss" not in c]
    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    panels = [(loss_columns, "loss"), (score_columns, "metric")]
    panels = [(cols, label) for cols, label in panels if cols]
    if not panels:
        return None
    for index, (cols, label) in enumerate(panels, start=1):
        axis = figure.add_subplot(1, len(panels), index)
        for column in cols:
            points = [(row[x], row[column]) for row in rows if x in row and isinstance(row.get(column), (int, float))]
            if points:
                xs, ys = zip(*points)
                axis.plot(xs, ys, label=column, linewidth=1.2)
        axis.set_xlabel(x)
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()

    def write(handle):
        figure.savefig(handle, format="png")

    return atomic_write_bytes(path, write)
