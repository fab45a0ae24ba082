"""A PNG of per-task training loss and evaluation metric curves, from the Trainer's log history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..metrics.keys import loss_key, main_score_key


def plot_training_curves(log_history: list[dict[str, Any]], tasks: list[str], task_metrics: dict[str, str],
                         path: str | Path) -> Path | None:
    """Plot `loss_<task>` per logging step (left) and `eval_<task>_<main metric>` per evaluation (right).

    Returns the path written, or ``None`` when the history holds nothing to plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=(11, 4))
    plotted = False
    for task in tasks:
        points = [(e["step"], e[loss_key(task)]) for e in log_history if loss_key(task) in e and "step" in e]
        if points:
            loss_axis.plot(*zip(*points, strict=True), marker=".", label=task)
            plotted = True
        key = main_score_key(task, task_metrics[task]) if task in task_metrics else None
        points = [(e["step"], e[key]) for e in log_history if key and key in e and "step" in e]
        if points:
            metric_axis.plot(*zip(*points, strict=True), marker="o", label=f"{task} ({key.rsplit('_', 1)[-1]})")
            plotted = True
    loss_axis.set(title="training loss per task", xlabel="step", ylabel="loss")
    metric_axis.set(title="evaluation metric per task", xlabel="step", ylabel="score")
    for axis in (loss_axis, metric_axis):
        if axis.lines:
            axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    if plotted:
        figure.savefig(path, dpi=100)
    plt.close(figure)
    return path if plotted else None
