"""Reports of a benchmark run: ``results.json``, ``report.md``, a self-contained ``report.html``
(PNGs embedded as base64) and the PNG files, all built from the results dict alone
(so ``write_report(json.load(open('results.json')), out)`` rebuilds them).

Figures (matplotlib, ``pip install 'acwa-torch[bench]'``): ranking of balanced accuracy,
per-class F1 (bars for the baseline, the best method and ACWA; heatmap for all methods),
row-normalised confusion matrices, ACWA class-weight evolution (``ACWATrainer.weight_history``)
and training curves (per-epoch training loss and training balanced accuracy, seed 0).
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_report", "summary_table", "markdown_report", "html_report", "make_figures"]

FAMILY_COLOURS = {"baseline": "#7f7f7f", "static": "#1f77b4", "adaptive": "#d62728"}


def _fmt(mean: float | None, std: float | None = None, digits: int = 3) -> str:
    if mean is None:
        return "–"
    if std is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _baseline(summary: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in summary if r["method"] == "ce"), None)


def summary_table(results: dict[str, Any], fmt: str = "text") -> str:
    """The ranked table: ``fmt='text'`` for the terminal, ``'md'`` for markdown."""
    summary = results["summary"]
    base = _baseline(summary)
    shots = any(r.get("few_shot_accuracy_mean") is not None for r in summary)
    head = ["#", "method", "family", "bal. acc", "Δ vs ce", "macro-F1", "accuracy"]
    if shots:
        head += ["many", "medium", "few"]
    cpu = all(r.get("train_cpu_seconds_mean") is not None for r in summary) and bool(summary)
    head += ["train s"] + (["CPU s"] if cpu else [])
    rows = []
    for r in summary:
        delta = "–" if base is None else f"{r['balanced_accuracy_mean'] - base['balanced_accuracy_mean']:+.3f}"
        row = [
            str(r["rank"]),
            r["method"],
            r["family"],
            _fmt(r["balanced_accuracy_mean"], r["balanced_accuracy_std"]),
            delta,
            _fmt(r["macro_f1_mean"], r["macro_f1_std"]),
            _fmt(r["accuracy_mean"], r.get("accuracy_std")),
        ]
        if shots:
            row += [_fmt(r.get(f"{g}_shot_accuracy_mean")) for g in ("many", "medium", "few")]
        row += [f"{r['train_seconds_mean']:.1f}"] + ([f"{r['train_cpu_seconds_mean']:.1f}"] if cpu else [])
        rows.append(row)
    if fmt == "md":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(
        c.rjust(w) if i not in (1, 2) else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
    )
    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


# ---------------------------------------------------------------------------- figures
def _figure(w: float, h: float):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover
        raise ImportError("bench reports need matplotlib: pip install 'acwa-torch[bench]'") from exc
    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _seed0(results, method: str) -> dict[str, Any] | None:
    runs = [r for r in results["runs"] if r["method"] == method]
    return min(runs, key=lambda r: r["seed"]) if runs else None


def _highlight(results) -> list[str]:
    """Methods shown in detail: the baseline, the best method, the best static one, and ACWA."""
    summary = results["summary"]
    names = [r["method"] for r in summary]
    pick = []
    for cand in (
        ["ce"],
        names[:1],
        [r["method"] for r in summary if r["family"] == "static"][:1],
        ["acwa"],
        [r["method"] for r in summary if r["family"] == "adaptive"][:1],
    ):
        for n in cand:
            if n in names and n not in pick:
                pick.append(n)
    return pick[:4]


def make_figures(results: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Write the PNGs; returns ``{name: file name}``."""
    out_dir = Path(out_dir)
    summary = results["summary"]
    cfg = results["config"]
    classes = [str(c) for c in cfg.get("class_names") or []]
    files: dict[str, str] = {}
    if not summary:
        return files

    # 1. ranking
    fig = _figure(7, 0.38 * len(summary) + 1.2)
    ax = fig.add_subplot()
    rev = summary[::-1]
    y = np.arange(len(rev))
    ax.barh(
        y,
        [r["balanced_accuracy_mean"] for r in rev],
        xerr=[r["balanced_accuracy_std"] or 0 for r in rev],
        color=[FAMILY_COLOURS[r["family"]] for r in rev],
        alpha=0.85,
        capsize=3,
    )
    ax.set_yticks(y, [r["method"] for r in rev])
    base = _baseline(summary)
    if base is not None:
        ax.axvline(base["balanced_accuracy_mean"], color="k", ls="--", lw=1, label="ce")
    lo = min(r["balanced_accuracy_mean"] for r in summary)
    ax.set_xlim(max(0.0, lo - 0.1), min(1.0, max(r["balanced_accuracy_mean"] for r in summary) + 0.05))
    n_seeds = len(cfg["seeds"])
    ax.set_xlabel(f"test balanced accuracy (mean ± std over {n_seeds} seed{'s' if n_seeds > 1 else ''})")
    handles = [
        __import__("matplotlib.patches", fromlist=["Patch"]).Patch(color=c, label=f) for f, c in FAMILY_COLOURS.items()
    ]
    ax.legend(handles=handles, loc="lower right", fontsize="small")
    ax.set_title(f"{results['dataset']}: methods ranked")
    files["ranking"] = "ranking.png"
    fig.savefig(out_dir / files["ranking"])

    # 2. per-class F1: bars for highlighted methods, heatmap for all
    hl = _highlight(results)
    C = len(classes)
    fig = _figure(max(6, 0.6 * C + 2), 3.6)
    ax = fig.add_subplot()
    width = 0.8 / max(len(hl), 1)
    by = {r["method"]: r for r in summary}
    for i, m in enumerate(hl):
        vals = [v if v is not None else 0 for v in by[m]["per_class_f1_mean"]]
        ax.bar(np.arange(C) + (i - (len(hl) - 1) / 2) * width, vals, width, label=m)
    ax.set_xticks(
        np.arange(C), classes, rotation=30 if C > 6 else 0, ha="right" if C > 6 else "center", fontsize="small"
    )
    ax.set_ylabel("test F1 (mean over seeds)")
    ax.set_ylim(0, 1.05)
    counts = cfg.get("train_counts")
    if counts:
        ax.set_xlabel("class (training count: " + ", ".join(str(c) for c in counts) + ")", fontsize="small")
    ax.legend(fontsize="small", ncol=len(hl))
    ax.set_title("per-class F1")
    files["per_class_f1"] = "per_class_f1.png"
    fig.savefig(out_dir / files["per_class_f1"])

    fig = _figure(max(6, 0.55 * C + 3), 0.32 * len(summary) + 1.6)
    ax = fig.add_subplot()
    mat = np.array([[np.nan if v is None else v for v in r["per_class_f1_mean"]] for r in summary])
    im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(np.arange(len(summary)), [r["method"] for r in summary], fontsize="small")
    ax.set_xticks(
        np.arange(C), classes, rotation=30 if C > 6 else 0, ha="right" if C > 6 else "center", fontsize="small"
    )
    if C * len(summary) <= 250:
        for i in range(mat.shape[0]):
            for j in range(C):
                if not math.isnan(mat[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{mat[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6.5,
                        color="white" if mat[i, j] < 0.6 else "black",
                    )
    fig.colorbar(im, ax=ax, fraction=0.03)
    ax.set_title("per-class test F1, all methods (ranked)")
    files["per_class_f1_heatmap"] = "per_class_f1_heatmap.png"
    fig.savefig(out_dir / files["per_class_f1_heatmap"])

    # 3. confusion matrices (seed 0, row-normalised)
    fig = _figure(3.4 * len(hl) + 0.5, 3.6)
    for i, m in enumerate(hl):
        ax = fig.add_subplot(1, len(hl), i + 1)
        run = _seed0(results, m)
        cm = np.array(run["confusion_matrix"], dtype=np.float64)
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
        if C <= 12:
            for a in range(C):
                for b in range(C):
                    if cm[a, b] >= 0.005:
                        ax.text(
                            b,
                            a,
                            f"{cm[a, b]:.2f}"[1:] if cm[a, b] < 1 else "1",
                            ha="center",
                            va="center",
                            fontsize=6 if C > 6 else 8,
                            color="white" if cm[a, b] > 0.6 else "black",
                        )
        ax.set_title(f"{m} (seed {run['seed']})", fontsize="medium")
        ax.set_xlabel("predicted")
        if i == 0:
            ax.set_ylabel("true")
        ticks = np.arange(C)
        ax.set_xticks(ticks, [str(t) for t in ticks] if C > 6 else classes, fontsize="x-small")
        ax.set_yticks(ticks, [str(t) for t in ticks] if C > 6 else classes, fontsize="x-small")
    files["confusion"] = "confusion.png"
    fig.savefig(out_dir / files["confusion"])

    # 4. ACWA weight evolution
    wruns = [(r["method"], r) for r in (_seed0(results, m["method"]) for m in summary) if r and r.get("weight_history")]
    if wruns:
        fig = _figure(6.5, 3.2 * len(wruns))
        for i, (m, run) in enumerate(wruns):
            ax = fig.add_subplot(len(wruns), 1, i + 1)
            wh = np.array(run["weight_history"], dtype=np.float64)
            steps = np.array(run.get("weight_history_steps") or np.arange(len(wh)))
            for c in range(wh.shape[1]):
                ax.plot(
                    steps,
                    wh[:, c],
                    marker="o" if len(wh) < 15 else None,
                    ms=3,
                    label=classes[c] if c < len(classes) else str(c),
                )
            ax.set_title(f"{m}: class weights (seed {run['seed']}, {len(wh) - 1} update(s))", fontsize="medium")
            ax.set_xlabel("update_metrics calls (training batches)")
            ax.set_ylabel("class weight")
            if wh.shape[1] <= 12:
                ax.legend(fontsize="x-small", ncol=2)
            files["acwa_weights"] = "acwa_weights.png"
        fig.savefig(out_dir / files["acwa_weights"])

    # 5. training curves
    fig = _figure(11, 3.6)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    cmap = __import__("matplotlib").colormaps["tab20"]
    for i, r in enumerate(summary):
        run = _seed0(results, r["method"])
        hist = run.get("history") or {}
        ls = "-" if r["family"] != "static" else "--"
        if hist.get("train_loss"):
            ax1.plot(
                np.arange(1, len(hist["train_loss"]) + 1),
                hist["train_loss"],
                ls,
                label=r["method"],
                lw=1.2,
                color=cmap(i % 20),
            )
        if hist.get("train_balanced_accuracy"):
            ax2.plot(
                np.arange(1, len(hist["train_balanced_accuracy"]) + 1),
                hist["train_balanced_accuracy"],
                ls,
                lw=1.2,
                label=r["method"],
                color=cmap(i % 20),
            )
    ax1.set_yscale("log")
    ax1.set_title("training loss per epoch (seed 0; each method's own loss)", fontsize="medium")
    ax2.set_title("balanced accuracy on training batches (seed 0)", fontsize="medium")
    for ax in (ax1, ax2):
        ax.set_xlabel("epoch")
    ax2.legend(fontsize="x-small", ncol=2, loc="lower right")
    files["training_curves"] = "training_curves.png"
    fig.savefig(out_dir / files["training_curves"])
    return files


# ---------------------------------------------------------------------------- text reports
def _setup_lines(results) -> list[str]:
    cfg = results["config"]
    r = cfg["recipe"]
    counts = cfg.get("train_counts") or []
    ir = (max(counts) / max(min(c for c in counts if c > 0), 1)) if counts else float("nan")
    lines = [
        f"- data: `{results['dataset']}` ({cfg['modality']}, {cfg['num_classes']} classes); train counts "
        f"{counts} (imbalance ratio {ir:.1f}); test counts {cfg.get('test_counts')}",
        f"- model `{cfg['model']}`, {r['optimizer']} lr {r['lr']} wd {r['weight_decay']}, {r['schedule']} schedule, "
        f"{r['epochs']} epochs, batch {r['batch_size']}; seeds {cfg['seeds']}; {cfg['threads']} CPU thread(s)"
        + ("; features standardised on the training split" if cfg.get("standardised_features") else ""),
        f"- total time {cfg.get('total_seconds', float('nan')):.1f} s wall, {cfg.get('cpu_seconds', float('nan')):.1f} s CPU; torch {cfg['torch']}, python {cfg['python']}",
    ]
    if cfg.get("source"):
        lines.append(f"- source: {cfg['source']}; licence: {cfg.get('license') or 'see the source'}")
    if cfg.get("command"):
        lines.append(f"- command: `{cfg['command']}`")
    return lines


NOTES = [
    "Balanced accuracy = mean per-class recall on the test split; Δ vs ce = difference in mean balanced accuracy "
    "to plain cross-entropy. Mean ± sample std over seeds; the test split is the same for every seed and is never "
    "used in training or tuning (methods that need validation data split it from the training split).",
    "many / medium / few = mean recall of the classes in the top, middle and bottom third by training count.",
    "train s = wall-clock training seconds per run, CPU s = its CPU seconds (single-threaded: about the wall time "
    "on an idle CPU, and robust when the CPU is shared); la-posthoc reuses the ce model of the same seed, so it shows "
    "ce's time.",
]


def markdown_report(results: dict[str, Any], figures: dict[str, str]) -> str:
    cfg = results["config"]
    out = (
        [f"# acwa bench: {results['dataset']}", ""]
        + _setup_lines(results)
        + ["", "## Ranking", "", summary_table(results, "md"), ""]
    )
    out += [f"- {n}" for n in NOTES] + [""]
    classes = cfg.get("class_names") or []
    if results["summary"]:
        out += [
            "## Per-class F1 (mean over seeds)",
            "",
            "| method | " + " | ".join(f"{c} (n={n})" for c, n in zip(classes, cfg.get("train_counts") or [])) + " |",
            "|---|" + "---|" * len(classes),
        ]
        for r in results["summary"]:
            out.append(f"| {r['method']} | " + " | ".join(_fmt(v, digits=2) for v in r["per_class_f1_mean"]) + " |")
        out.append("")
    if results.get("skipped") or results.get("failures"):
        out += ["## Not run", ""]
        out += [f"- `{s['method']}`: skipped, {s['reason']}" for s in results.get("skipped", [])]
        out += [f"- `{f['method']}` seed {f['seed']}: failed, {f['error']}" for f in results.get("failures", [])]
        out.append("")
    titles = {
        "ranking": "Ranking",
        "per_class_f1": "Per-class F1",
        "per_class_f1_heatmap": "Per-class F1, all methods",
        "confusion": "Confusion matrices",
        "acwa_weights": "ACWA class weights",
        "training_curves": "Training curves",
    }
    if figures:
        out += ["## Figures", ""]
        out += [f"![{titles.get(k, k)}]({v})" for k, v in figures.items()]
        out.append("")
    out += ["## Methods", ""] + [
        f"- `{m['method']}` ({m['family']}): {m['description']}" for m in cfg.get("method_info", [])
    ]
    return "\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}th,td{padding:.3em .6em;border-bottom:1px solid #eee;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}tr:hover{background:#fafafa}
.fam{display:inline-block;padding:0 .4em;border-radius:3px;color:#fff;font-size:.8em}
.pos{color:#1a7f37}.neg{color:#cf222e}ul.setup li{margin:.15em 0}img{max-width:100%;margin:.5em 0}
.note{color:#555;font-size:.9em}code{background:#f3f3f3;padding:0 .25em;border-radius:3px}
"""


def html_report(results: dict[str, Any], figures: dict[str, str], out_dir: Path) -> str:
    e = html.escape
    cfg = results["config"]
    summary = results["summary"]
    base = _baseline(summary)
    shots = any(r.get("few_shot_accuracy_mean") is not None for r in summary)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>acwa bench: {e(results['dataset'])}</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>acwa bench: {e(results['dataset'])}</h1>",
        "<ul class='setup'>",
    ]
    for line in _setup_lines(results):
        text = e(line[2:])
        # render `code` spans
        bits = text.split("`")
        parts.append("<li>" + "".join(f"<code>{b}</code>" if i % 2 else b for i, b in enumerate(bits)) + "</li>")
    parts.append(
        "</ul><h2>Ranking</h2><table><tr><th>#</th><th class='l'>method</th><th class='l'>family</th>"
        "<th>balanced acc</th><th>Δ vs ce</th><th>macro-F1</th><th>accuracy</th>"
        + ("<th>many</th><th>medium</th><th>few</th>" if shots else "")
        + "<th>train s</th><th>CPU s</th></tr>"
    )
    for r in summary:
        d = None if base is None else r["balanced_accuracy_mean"] - base["balanced_accuracy_mean"]
        dcls = "" if d is None or abs(d) < 5e-4 else ("pos" if d > 0 else "neg")
        parts.append(
            f"<tr><td>{r['rank']}</td><td class='l'><b>{e(r['method'])}</b></td>"
            f"<td class='l'><span class='fam' style='background:{FAMILY_COLOURS[r['family']]}'>{r['family']}</span></td>"
            f"<td>{_fmt(r['balanced_accuracy_mean'], r['balanced_accuracy_std'])}</td>"
            f"<td class='{dcls}'>{'–' if d is None else f'{d:+.3f}'}</td>"
            f"<td>{_fmt(r['macro_f1_mean'], r['macro_f1_std'])}</td><td>{_fmt(r['accuracy_mean'], r.get('accuracy_std'))}</td>"
            + (
                "".join(f"<td>{_fmt(r.get(f'{g}_shot_accuracy_mean'))}</td>" for g in ("many", "medium", "few"))
                if shots
                else ""
            )
            + f"<td>{r['train_seconds_mean']:.1f}</td><td>{_fmt(r.get('train_cpu_seconds_mean'), digits=1)}</td></tr>"
        )
    parts.append("</table>")
    parts += [f"<p class='note'>{e(n)}</p>" for n in NOTES]
    if results.get("skipped") or results.get("failures"):
        parts.append("<h2>Not run</h2><ul>")
        parts += [
            f"<li><code>{e(s['method'])}</code>: skipped, {e(s['reason'])}</li>" for s in results.get("skipped", [])
        ]
        parts += [
            f"<li><code>{e(f['method'])}</code> seed {f['seed']}: failed, {e(f['error'])}</li>"
            for f in results.get("failures", [])
        ]
        parts.append("</ul>")
    sections = [
        ("ranking", "Ranking"),
        ("per_class_f1", "Per-class F1"),
        ("per_class_f1_heatmap", "Per-class F1, all methods"),
        ("confusion", "Confusion matrices (row-normalised: recall on the diagonal)"),
        ("acwa_weights", "ACWA class-weight evolution"),
        ("training_curves", "Training curves"),
    ]
    for key, title in sections:
        if key in figures:
            data = base64.b64encode((Path(out_dir) / figures[key]).read_bytes()).decode("ascii")
            parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{data}'>")
    if cfg.get("method_info"):
        parts.append("<h2>Methods</h2><ul>")
        parts += [
            f"<li><code>{e(m['method'])}</code> ({m['family']}): {e(m['description'])}</li>" for m in cfg["method_info"]
        ]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(results: dict[str, Any], out_dir) -> dict[str, str]:
    """Write results.json, the PNGs, report.md and report.html into ``out_dir``; returns the
    paths written."""
    from .registry import METHODS

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = results["config"]
    if "method_info" not in cfg:
        cfg["method_info"] = [
            {"method": n, "family": METHODS[n].family, "description": METHODS[n].description}
            for n in cfg.get("methods", [])
            if n in METHODS
        ]
    cfg["out"] = str(out_dir)
    figures = make_figures(results, out_dir)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    (out_dir / "report.md").write_text(markdown_report(results, figures))
    (out_dir / "report.html").write_text(html_report(results, figures, out_dir))
    written = {
        "results": str(out_dir / "results.json"),
        "markdown": str(out_dir / "report.md"),
        "html": str(out_dir / "report.html"),
    }
    written.update({k: str(out_dir / v) for k, v in figures.items()})
    return written
