"""The report's figures (matplotlib, ``pip install 'acwa-torch[bench]'``), built from the
results dict alone:

* ``ranking``: the ranking metric per method (mean ± std over seeds), reference rows hatched;
* ``per_class_f1`` / ``per_class_f1_heatmap``: per-class F1 of the highlighted / all methods;
* ``confusion``: row-normalised confusion matrices of the top methods and ce (seed 0);
* ``adaptation``: for each adaptive method, what it adapts (class weights, logit offsets, loss
  parameters) against the update number or iteration, one panel per quantity;
* ``training_curves``: small multiples of the top methods' training balanced accuracy per
  epoch (one comparable quantity), ce in grey in every panel.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from acwa.bench.scoring import BENCH_METRICS, DEFAULT_RANK_BY

__all__ = ["FAMILY_COLOURS", "make_figures", "highlighted", "adaptive_traces", "baseline_row"]

FAMILY_COLOURS = {"baseline": "#7f7f7f", "static": "#1f77b4", "adaptive": "#d62728", "reference": "#2ca02c"}
TOP = 3  # methods shown in detail besides ce


def _figure(w: float, h: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover
        raise ImportError("bench plots need matplotlib: pip install 'acwa-torch[bench]'") from exc
    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def seed0(results: dict[str, Any], method: str) -> dict[str, Any] | None:
    runs = [r for r in results["runs"] if r["method"] == method]
    return min(runs, key=lambda r: r["seed"]) if runs else None


def baseline_row(summary: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row the others are compared with: ``ce``, else the first of family ``'baseline'``
    (``bce`` on multi-label data)."""
    return next((r for r in summary if r["method"] == "ce"), None) or next(
        (r for r in summary if r["family"] == "baseline"), None
    )


def highlighted(results: dict[str, Any], top: int = TOP) -> list[str]:
    """The baseline and the ``top`` best-ranked acwa methods (reference rows excluded)."""
    ranked = [r["method"] for r in results["summary"] if r.get("rank") is not None and not r.get("same_as")]
    base = baseline_row(results["summary"])
    name = None if base is None else base["method"]
    pick = [n for n in ranked if n == name]
    pick += [n for n in ranked if n != name][:top]
    return sorted(pick, key=ranked.index)


def _moves(trace: dict[str, Any]) -> bool:
    return len(trace["x"]) >= 2 and float(np.ptp(np.asarray(trace["values"], dtype=np.float64))) > 0


def adaptive_traces(run: dict[str, Any]) -> list[dict[str, Any]]:
    """What a run adapted (results of older versions: the weight history); a trace with a single
    point means that no update happened."""
    traces = run.get("adapted")
    if traces is None and run.get("weight_history"):
        wh = run["weight_history"]
        traces = [{"name": "class weights", "values": wh, "x": list(range(len(wh))), "x_label": "update number"}]
    traces = [t for t in traces or [] if len(t["x"]) >= 1]
    moving = [
        t for t in traces if len(t["x"]) >= 2 and np.ptp(np.asarray(t["values"], dtype=np.float64), axis=0).max() > 0
    ]
    return moving or traces[:1]  # what moved; else one note that nothing did


def _class_ticks(ax: Any, classes: list[str], axis: str = "x") -> None:
    C = len(classes)
    labels = [textwrap.shorten(c, 14, placeholder="…") for c in classes] if C <= 12 else [str(i) for i in range(C)]
    if axis == "x":
        ax.set_xticks(np.arange(C), labels, rotation=35 if C > 4 else 0, ha="right" if C > 4 else "center")
    else:
        ax.set_yticks(np.arange(C), labels)


def _ranking(results: dict[str, Any], rank_by: str, out_dir: Path) -> str:
    summary = [r for r in results["summary"] if r.get(f"{rank_by}_mean") is not None]
    fig = _figure(7.5, 0.4 * len(summary) + 1.3)
    ax = fig.add_subplot()
    rev = summary[::-1]
    y = np.arange(len(rev))
    means = [r[f"{rank_by}_mean"] for r in rev]
    bars = ax.barh(
        y,
        means,
        xerr=[r.get(f"{rank_by}_std") or 0 for r in rev],
        color=[FAMILY_COLOURS.get(r["family"], "#999") for r in rev],
        alpha=0.85,
        capsize=3,
    )
    for bar, r in zip(bars, rev):
        if r["family"] == "reference":
            bar.set_hatch("//")
    ax.set_yticks(y, [r["method"] for r in rev])
    base = baseline_row(summary)
    if base is not None and base.get(f"{rank_by}_mean") is not None:
        ax.axvline(base[f"{rank_by}_mean"], color="k", ls="--", lw=1)
    lo, hi = min(means), max(means)
    ax.set_xlim(max(0.0, lo - 0.1), min(1.0, hi + 0.05) if hi <= 1 else hi * 1.05)
    n = len(results["config"]["seeds"]) if isinstance(results["config"]["seeds"], list) else 0
    ax.set_xlabel(
        f"test {BENCH_METRICS[rank_by].description} ({BENCH_METRICS[rank_by].label}; mean ± std over {n} seed(s))"
    )
    from matplotlib.patches import Patch

    families = sorted({r["family"] for r in summary}, key=list(FAMILY_COLOURS).index)
    ax.legend(handles=[Patch(color=FAMILY_COLOURS[f], label=f) for f in families], loc="lower right", fontsize="small")
    dashed = "" if base is None else f" (dashed: {base['method']})"
    ax.set_title(f"{results['dataset']}: methods ranked by {BENCH_METRICS[rank_by].label}{dashed}")
    fig.savefig(out_dir / "ranking.png")
    return "ranking.png"


def _per_class(results: dict[str, Any], classes: list[str], out_dir: Path) -> dict[str, str]:
    summary, hl = results["summary"], highlighted(results)
    by = {r["method"]: r for r in summary}
    C = len(classes)
    fig = _figure(max(6.5, 0.7 * C + 2), 3.8)
    ax = fig.add_subplot()
    width = 0.8 / max(len(hl), 1)
    for i, m in enumerate(hl):
        vals = [v if v is not None else 0 for v in by[m]["per_class_f1_mean"]]
        ax.bar(np.arange(C) + (i - (len(hl) - 1) / 2) * width, vals, width, label=m)
    _class_ticks(ax, classes)
    ax.set_ylabel("test F1 (mean over seeds)")
    ax.set_ylim(0, 1.12)
    counts = results["config"].get("train_counts")
    if counts and C <= 20:
        ax.set_xlabel("class (training counts " + ", ".join(str(c) for c in counts) + ")", fontsize="small")
    ax.legend(fontsize="small", ncol=len(hl), loc="upper right")
    ax.set_title("per-class F1: the baseline and the top methods")
    fig.savefig(out_dir / "per_class_f1.png")

    fig = _figure(max(6.5, 0.6 * C + 3), 0.36 * len(summary) + 1.8)
    ax = fig.add_subplot()
    mat = np.array([[np.nan if v is None else v for v in r["per_class_f1_mean"]] for r in summary])
    im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(np.arange(len(summary)), [r["method"] for r in summary])
    _class_ticks(ax, classes)
    if C <= 12:
        for i in range(mat.shape[0]):
            for j in range(C):
                if not math.isnan(mat[i, j]):
                    colour = "white" if mat[i, j] < 0.6 else "black"
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=8, color=colour)
    fig.colorbar(im, ax=ax, fraction=0.03)
    ax.set_title("per-class test F1, all methods (ranked)")
    fig.savefig(out_dir / "per_class_f1_heatmap.png")
    return {"per_class_f1": "per_class_f1.png", "per_class_f1_heatmap": "per_class_f1_heatmap.png"}


def _confusion(results: dict[str, Any], classes: list[str], out_dir: Path) -> str | None:
    hl = [m for m in highlighted(results) if (seed0(results, m) or {}).get("confusion_matrix") is not None]
    if not hl:
        return None  # multi-label data: no confusion matrix
    C = len(classes)
    side = 3.6 if C <= 6 else 4.4
    cols = min(len(hl), 2 if C > 6 else 4)
    rows = math.ceil(len(hl) / cols)
    fig = _figure(side * cols + 0.4, side * rows + 0.4)
    for i, m in enumerate(hl):
        ax = fig.add_subplot(rows, cols, i + 1)
        run = seed0(results, m)
        if run is None:
            continue
        cm = np.array(run["confusion_matrix"], dtype=np.float64)
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
        if C <= 12:
            for a in range(C):
                for b in range(C):
                    if cm[a, b] >= 0.005:
                        text = "1" if cm[a, b] >= 0.995 else f"{cm[a, b]:.2f}"[1:]
                        colour = "white" if cm[a, b] > 0.6 else "black"
                        ax.text(b, a, text, ha="center", va="center", fontsize=9 if C <= 8 else 7.5, color=colour)
        ax.set_title(f"{m} (seed {run['seed']})", fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        _class_ticks(ax, classes, "x")
        _class_ticks(ax, classes, "y")
    fig.suptitle("confusion matrices, row-normalised (diagonal = recall)", fontsize=11)
    fig.savefig(out_dir / "confusion.png")
    return "confusion.png"


def _reliability(results: dict[str, Any], out_dir: Path) -> str | None:
    """Top-label reliability diagrams (seed 0, equal-mass bins), raw and temperature-scaled."""
    hl = [m for m in highlighted(results) if (seed0(results, m) or {}).get("reliability")]
    if not hl:
        return None  # multi-label data, or results from before calibration was recorded
    fig = _figure(3.3 * len(hl) + 0.4, 3.5)
    for i, m in enumerate(hl):
        ax = fig.add_subplot(1, len(hl), i + 1)
        run = seed0(results, m) or {}
        ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
        for name, colour in (("raw", "#d62728"), ("scaled", "#1f77b4")):
            b = run["reliability"].get(name)
            if b:
                ax.plot(b["confidence"], b["outcome"], marker="o", ms=3, color=colour, label=name)
        ece = run.get("classwise_ece")
        ax.set_title(f"{m}" + (f" (cw-ECE {ece:.3f})" if ece is not None else ""), fontsize=9)
        ax.set_xlabel("confidence (top label)")
        ax.set_ylabel("accuracy" if i == 0 else "")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "reliability: raw vs temperature-scaled (cross-fitted on test halves), 15 equal-mass bins", fontsize=10
    )
    fig.savefig(out_dir / "reliability.png")
    return "reliability.png"


def _adaptation(results: dict[str, Any], classes: list[str], out_dir: Path) -> str | None:
    panels = []
    for r in results["summary"]:
        run = seed0(results, r["method"])
        if run is not None:
            panels += [(r["method"], run, t) for t in adaptive_traces(run)]
    if not panels:
        return None
    from matplotlib.ticker import MaxNLocator

    fig = _figure(7.5, sum(2.9 if _moves(t) else 0.8 for _, _, t in panels) + 0.3)
    for i, (m, run, trace) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, i + 1)
        if len(trace["x"]) < 2:  # nothing to plot against: say so instead of a one-point axis
            ax.axis("off")
            ax.text(
                0.5,
                0.5,
                f"{m}: {trace['name']} never updated during training\n({trace['x_label']}; "
                "no update fell within the run)",
                ha="center",
                va="center",
                fontsize=11,
                transform=ax.transAxes,
            )
            continue
        values = np.array(trace["values"], dtype=np.float64)
        x = np.array(trace["x"], dtype=np.float64)
        labels = trace.get("series_labels") or classes
        for c in range(values.shape[1]):
            label = labels[c] if c < len(labels) else str(c)
            ax.plot(x, values[:, c], marker="o" if len(x) <= 30 else None, ms=3, lw=1.2, label=label)
        ax.set_title(f"{m}: {trace['name']} (seed {run['seed']}, {len(x) - 1} update(s))", fontsize=10)
        ax.set_xlabel(trace["x_label"])
        ax.set_ylabel(trace["name"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if values.shape[1] <= 12:
            ax.legend(fontsize="x-small", ncol=min(values.shape[1], 5), loc="best")
    fig.savefig(out_dir / "adaptation.png")
    return "adaptation.png"


def _training_curves(results: dict[str, Any], out_dir: Path) -> str | None:
    key = "train_balanced_accuracy"
    ranked = [r["method"] for r in results["summary"] if r.get("rank") is not None]
    curves = {m: (seed0(results, m) or {}).get("history", {}).get(key) for m in ranked}
    shown = [m for m in ranked if curves[m]][:6]
    if not shown:
        return None
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = _figure(3.6 * cols + 0.3, 2.7 * rows + 0.6)
    base = baseline_row(results["summary"])
    base_name = "ce" if base is None else base["method"]
    ce = curves.get(base_name)
    for i, m in enumerate(shown):
        ax = fig.add_subplot(rows, cols, i + 1)
        if ce and m != base_name:
            ax.plot(np.arange(1, len(ce) + 1), ce, color="#999", lw=1.2, label=base_name)
        ax.plot(np.arange(1, len(curves[m]) + 1), curves[m], color="#d62728", lw=1.6, label=m)
        ax.set_title(m, fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("epoch")
        ax.legend(fontsize="x-small", loc="lower right")
    fig.suptitle(f"balanced accuracy on the training batches per epoch (seed 0; grey: {base_name})", fontsize=11)
    fig.savefig(out_dir / "training_curves.png")
    return "training_curves.png"


def make_figures(results: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Write the PNGs into ``out_dir``; returns ``{name: file name}``."""
    out_dir = Path(out_dir)
    if not results["summary"]:
        return {}
    cfg = results["config"]
    classes = [str(c) for c in cfg.get("class_names") or []]
    rank_by = cfg.get("rank_by", DEFAULT_RANK_BY)
    files = {"ranking": _ranking(results, rank_by, out_dir)}
    files.update(_per_class(results, classes, out_dir))
    for name, fn in (
        ("confusion", lambda: _confusion(results, classes, out_dir)),
        ("reliability", lambda: _reliability(results, out_dir)),
        ("adaptation", lambda: _adaptation(results, classes, out_dir)),
        ("training_curves", lambda: _training_curves(results, out_dir)),
    ):
        written = fn()
        if written is not None:
            files[name] = written
    return files
