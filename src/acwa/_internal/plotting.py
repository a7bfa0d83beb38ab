"""Matplotlib helpers (optional dependency: ``pip install 'acwa-torch[plot]'``)."""

from __future__ import annotations

from collections.abc import Sequence


def require_matplotlib():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("plotting needs matplotlib: pip install 'acwa-torch[plot]'") from exc
    return plt


def plot_weight_history(history, steps, path=None, ax=None, class_names: Sequence[str] | None = None, title: str = ""):
    plt = require_matplotlib()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    history = history.numpy()
    steps = steps.numpy()
    names = list(class_names) if class_names is not None else [f"class {c}" for c in range(history.shape[1])]
    for c in range(history.shape[1]):
        ax.plot(steps, history[:, c], label=names[c])
    ax.set_title(title)
    ax.set_xlabel("Update Steps (calls of update_metrics)")
    ax.set_ylabel("Class Weight")
    if history.shape[1] <= 20:
        ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
