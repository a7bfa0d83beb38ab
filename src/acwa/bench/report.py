"""Reports of a benchmark run: ``results.json``, ``report.md``, a self-contained ``report.html``
(PNGs embedded as base64) and the PNG files, all built from the results dict alone, so
``acwa report results.json`` (:func:`write_report`) rebuilds them.

The report leads with one line (:func:`takeaway`): the best method overall and the best
single-training method, with their gain over ce and their cost. Then the warnings, the ranked
table (reference rows beside it, unranked; methods equal by construction marked), per-class F1
and the figures of :mod:`acwa.bench.figures`.
"""

from __future__ import annotations

import base64
import html
import json
import warnings
from pathlib import Path
from typing import Any

from acwa.bench.calibration import extra_tables as _extra_tables
from acwa.bench.calibration import interval_verdict
from acwa.bench.figures import FAMILY_COLOURS, baseline_row, make_figures
from acwa.bench.scoring import BENCH_METRICS, DEFAULT_RANK_BY

__all__ = ["write_report", "summary_table", "markdown_report", "html_report", "takeaway", "SECTIONS"]

_COLUMNS = (
    "balanced_accuracy",
    "macro_f1",
    "accuracy",
    "average_precision",
    "roc_auc",
    "minority_recall",
    "mean_average_precision",
    "micro_f1",
)
_SHOTS = ("many_shot_accuracy", "medium_shot_accuracy", "few_shot_accuracy")
SECTIONS = {  # figure key -> section title (every title is unique)
    "ranking": "Ranking chart",
    "per_class_f1": "Per-class F1 of the top methods",
    "per_class_f1_heatmap": "Per-class F1 of every method",
    "confusion": "Confusion matrices (row-normalised: recall on the diagonal)",
    "reliability": "Reliability diagrams",
    "adaptation": "What the adaptive methods adapt",
    "training_curves": "Training curves",
}


def _fmt(mean: float | None, std: float | None = None, digits: int = 3) -> str:
    if mean is None:
        return "–"
    if std is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _rank_by(results: dict[str, Any]) -> str:
    return results["config"].get("rank_by", DEFAULT_RANK_BY)


def _baseline(summary: list[dict[str, Any]]) -> dict[str, Any] | None:
    return baseline_row(summary)


def _columns(summary: list[dict[str, Any]], rank_by: str) -> list[str]:
    present = [k for k in (*_COLUMNS, *_SHOTS) if any(r.get(f"{k}_mean") is not None for r in summary)]
    return [rank_by] + [k for k in present if k != rank_by]


def _name(r: dict[str, Any]) -> str:
    return r["method"] + (f" (= {r['same_as']})" if r.get("same_as") else "")


def _cost(r: dict[str, Any], base: dict[str, Any] | None) -> str:
    s = r.get("train_seconds_mean")
    if s is None:
        return "cost unknown"
    rel = f", {s / base['train_seconds_mean']:.1f}x {base['method']}" if base and base.get("train_seconds_mean") else ""
    return f"{s:.1f} s per run{rel}"


def takeaway(results: dict[str, Any]) -> str:
    """One line: the best method and the best single-training method, their gain over ce and
    their cost (and how the best reference row compares)."""
    summary, rank_by = results["summary"], _rank_by(results)
    label = BENCH_METRICS[rank_by].label
    ranked = [r for r in summary if r.get("rank") is not None and r.get(f"{rank_by}_mean") is not None]
    if not ranked:
        return "No method finished, so there is no winner (see Not run)."
    base = _baseline(summary)
    trainings = {m["method"]: m.get("trainings", 1) for m in results["config"].get("method_info", [])}

    def describe(r: dict[str, Any]) -> str:
        gain = (
            ""
            if base is None or r is base or base.get(f"{rank_by}_mean") is None
            else f", {r[f'{rank_by}_mean'] - base[f'{rank_by}_mean']:+.3f} vs {base['method']}"
        )
        return f"{r['method']} ({label} {_fmt(r[f'{rank_by}_mean'], r.get(f'{rank_by}_std'))}{gain}; {_cost(r, base)})"

    best = ranked[0]
    line = f"Best: {describe(best)}."
    single = next((r for r in ranked if trainings.get(r["method"], 1) == 1), None)
    if single is best:
        line = line[:-1] + ", also the best single-training method."
    elif single is not None:
        line += f" Best single-training method: {describe(single)}."
    refs = [r for r in summary if r.get("rank") is None and r.get(f"{rank_by}_mean") is not None]
    if refs:
        ref = refs[0]
        d = ref[f"{rank_by}_mean"] - best[f"{rank_by}_mean"]
        verdict = "beats" if d > 0 else "does not beat"
        line += f" Reference {ref['method']} ({label} {_fmt(ref[f'{rank_by}_mean'])}) {verdict} it ({d:+.3f})."
    verdict = interval_verdict(results)
    if verdict:
        line += " " + verdict
    if results.get("partial"):
        line = "PARTIAL (interrupted). " + line
    return line


def _rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    summary, rank_by = results["summary"], _rank_by(results)
    base = _baseline(summary)
    cols = _columns(summary, rank_by)
    cpu = bool(summary) and all(r.get("train_cpu_seconds_mean") is not None for r in summary)
    delta_head = "Δ vs " + ("ce" if base is None else base["method"])
    head = ["#", "method", "family", BENCH_METRICS[rank_by].label, delta_head] + [
        BENCH_METRICS[k].label for k in cols[1:]
    ]
    head += ["train s"] + (["CPU s"] if cpu else [])
    rows = []
    for r in summary:
        mean = r.get(f"{rank_by}_mean")
        ref = None if base is None else base.get(f"{rank_by}_mean")
        delta = "–" if ref is None or mean is None else f"{mean - ref:+.3f}"
        row = ["ref" if r.get("rank") is None else str(r["rank"]), _name(r), r["family"]]
        row += [_fmt(mean, r.get(f"{rank_by}_std")), delta]
        row += [_fmt(r.get(f"{k}_mean"), r.get(f"{k}_std") if k in _COLUMNS else None) for k in cols[1:]]
        row += [_fmt(r.get("train_seconds_mean"), digits=1)]
        row += [_fmt(r.get("train_cpu_seconds_mean"), digits=1)] if cpu else []
        rows.append(row)
    return head, rows


def summary_table(results: dict[str, Any], fmt: str = "text") -> str:
    """The ranked table: ``fmt='text'`` for the terminal, ``'md'`` for markdown."""
    head, rows = _rows(results)
    if fmt == "md":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in (1, 2) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def _setup_lines(results: dict[str, Any]) -> list[str]:
    cfg = results["config"]
    r = cfg["recipe"]
    counts = cfg.get("train_counts") or []
    ir = (max(counts) / max(min(c for c in counts if c > 0), 1)) if counts else float("nan")
    seeds = cfg["seeds"] if isinstance(cfg["seeds"], list) else f"{cfg['seeds']['count']} seeds"
    ranked = BENCH_METRICS[_rank_by(results)]
    lines = [
        f"- data: `{results['dataset']}` ({cfg['modality']}, {cfg['num_classes']} classes); train counts "
        f"{counts} (imbalance ratio {ir:.1f}); test counts {cfg.get('test_counts')}",
        f"- model `{cfg['model']}`, {r['optimizer']} lr {r['lr']} wd {r['weight_decay']}, {r['schedule']} schedule, "
        f"{r['epochs']} epochs, batch {r['batch_size']}; seeds {seeds}; {cfg['threads']} CPU thread(s)"
        + ("; features standardised on the training split" if cfg.get("standardised_features") else ""),
        f"- ranked by {ranked.label} ({ranked.description}); total time "
        f"{cfg.get('total_seconds', float('nan')):.1f} s wall, {cfg.get('cpu_seconds', float('nan')):.1f} s CPU; "
        f"torch {cfg['torch']}, python {cfg['python']}",
    ]
    if cfg.get("split"):
        lines.append("- split: " + ", ".join(f"{k} {v}" for k, v in cfg["split"].items()))
    if cfg.get("source"):
        lines.append(f"- source: {cfg['source']}; licence: {cfg.get('license') or 'see the source'}")
    if cfg.get("command"):
        lines.append(f"- command: `{cfg['command']}`")
    return lines


NOTES = [
    "Mean ± sample std over seeds (no ± with one seed); Δ vs ce = difference in the ranking metric to plain "
    "cross-entropy. The test split is the same for every seed and is never used in training or tuning (methods "
    "that need validation data split it from the training split).",
    "many / medium / few = mean recall of the classes in the top, middle and bottom third by training count; AP, "
    "ROC-AUC and min. recall (two classes) score the minority class.",
    "# ref = a reference row (scikit-learn, class_weight='balanced'), shown beside the acwa methods but not ranked. "
    "'(= la)' marks a method equal to la by construction (same numbers).",
    "train s = wall-clock training seconds per run, CPU s = its CPU seconds; la-posthoc reuses the ce model of the "
    "same seed, so it shows ce's time.",
]


def _options_note(info: dict[str, Any]) -> str:
    """`` [this run: folds=3, ...; N trainings]`` for a method run with options, else ``''``."""
    options = info.get("options") or {}
    if not options:
        return ""
    listed = ", ".join(f"{k}={','.join(v) if isinstance(v, (list, tuple)) else v}" for k, v in options.items())
    return f" [this run: {listed}; {info.get('trainings', 1)} trainings]"


AUTO_NOTE = (
    "What acwa-auto chose, per seed, from the training split alone: every candidate's pooled out-of-fold score "
    "(the test split plays no part), the raw out-of-fold winner and its per-fold gain over la (mean ± standard "
    "error; la is kept unless the gain exceeds one standard error), and whether the cross-fitted post-hoc "
    "correction raised the out-of-fold score and was applied."
)


def auto_choices(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-seed table of ``acwa-auto``'s choices (empty without such runs)."""
    rows = []
    for r in results["runs"]:
        info = (r.get("extra") or {}).get("auto")
        if r["method"] != "acwa-auto" or not info:
            continue
        # results written before session 7 hold the scores under oof_<metric> only
        oof: dict[str, float] = info.get("oof") or next((v for k, v in info.items() if k.startswith("oof_")), {})
        gain = info.get("fallback_gain")
        corrected = info.get("bias") is not None or info.get("thresholds") is not None
        rows.append(
            [
                str(r["seed"]),
                info["method"],
                ", ".join(f"{m} {v:.4f}" for m, v in sorted(oof.items(), key=lambda kv: -kv[1])),
                info.get("best_oof") or info["method"],
                "–" if gain is None else f"{gain[0]:+.4f} ± {gain[1]:.4f}",
                "applied" if corrected else "not applied",
                str(info.get("trainings", "")),
                _fmt(r.get(_rank_by(results))),
            ]
        )
    metric = BENCH_METRICS[_rank_by(results)].label
    head = ["seed", "chosen", f"out-of-fold {_auto_metric(results)}", "OOF winner", "gain over la", "correction"]
    return head + ["trainings", f"test {metric}"], rows


def _auto_metric(results: dict[str, Any]) -> str:
    for r in results["runs"]:
        info = (r.get("extra") or {}).get("auto")
        if info and info.get("metric"):
            return str(info["metric"])
    return "score"


def _not_run(results: dict[str, Any]) -> list[str]:
    return [f"`{s['method']}`: skipped, {s['reason']}" for s in results.get("skipped", [])] + [
        f"`{f['method']}` seed {f['seed']}: failed, {f['error']}" for f in results.get("failures", [])
    ]


def markdown_report(results: dict[str, Any], figures: dict[str, str]) -> str:
    cfg = results["config"]
    out = [f"# acwa bench: {results['dataset']}", "", f"**{takeaway(results)}**", ""] + _setup_lines(results)
    if results.get("warnings"):
        out += ["", "## Warnings", ""] + [f"- {w}" for w in results["warnings"]]
    out += ["", "## Results", "", summary_table(results, "md"), ""] + [f"- {n}" for n in NOTES] + [""]
    for title, note, head, rows in _extra_tables(results):
        out += [f"## {title}", "", note, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    classes = cfg.get("class_names") or []
    if results["summary"]:
        out += [
            "## Per-class F1 (mean over seeds)",
            "",
            "| method | " + " | ".join(f"{c} (n={n})" for c, n in zip(classes, cfg.get("train_counts") or [])) + " |",
            "|---|" + "---|" * len(classes),
        ]
        out += [
            f"| {_name(r)} | " + " | ".join(_fmt(v, digits=2) for v in r["per_class_f1_mean"]) + " |"
            for r in results["summary"]
        ]
        out.append("")
    head, auto_rows = auto_choices(results)
    if auto_rows:
        out += ["## acwa-auto: the choice per seed", "", AUTO_NOTE, "", "| " + " | ".join(head) + " |"]
        out += ["|" + "---|" * len(head)] + ["| " + " | ".join(row) + " |" for row in auto_rows] + [""]
    if _not_run(results):
        out += ["## Not run", ""] + [f"- {line}" for line in _not_run(results)] + [""]
    for key, file in figures.items():
        out += [f"## {SECTIONS.get(key, key)}", "", f"![{SECTIONS.get(key, key)}]({file})", ""]
    out += ["## Methods", ""] + [
        f"- `{m['method']}` ({m['family']}): {m['description']}{_options_note(m)}" for m in cfg.get("method_info", [])
    ]
    return "\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222}h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{padding:.25em .45em;border-bottom:1px solid #eee;
text-align:right;white-space:nowrap}th{background:#f5f5f5}td.l,th.l{text-align:left}tr:hover{background:#fafafa}
.fam{display:inline-block;padding:0 .4em;border-radius:3px;color:#fff;font-size:.8em}.scroll{overflow-x:auto}
.pos{color:#1a7f37}.neg{color:#cf222e}ul.setup li{margin:.15em 0}img{max-width:100%;margin:.5em 0}
.note{color:#555;font-size:.9em}code{background:#f3f3f3;padding:0 .25em;border-radius:3px}
.takeaway{font-size:1.15em;background:#f0f6ff;border-left:4px solid #1f77b4;padding:.6em .9em}
.warn{background:#fff8e5;border-left:4px solid #d4a72c;padding:.4em .9em}
"""


def _code_spans(text: str) -> str:
    bits = html.escape(text).split("`")
    return "".join(f"<code>{b}</code>" if i % 2 else b for i, b in enumerate(bits))


def html_report(results: dict[str, Any], figures: dict[str, str], out_dir: Path) -> str:
    e = html.escape
    cfg = results["config"]
    title = f"acwa bench: {e(results['dataset'])}"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p class='takeaway' id='takeaway'>{e(takeaway(results))}</p>",
        "<ul class='setup'>",
        *[f"<li>{_code_spans(line[2:])}</li>" for line in _setup_lines(results)],
        "</ul>",
    ]
    if results.get("warnings"):
        parts += ["<h2>Warnings</h2><div class='warn'><ul>", *[f"<li>{e(w)}</li>" for w in results["warnings"]]]
        parts.append("</ul></div>")
    head, rows = _rows(results)
    parts.append("<h2>Results</h2><div class='scroll'><table><tr>")
    parts += [f"<th{' class=l' if i in (1, 2) else ''}>{e(h)}</th>" for i, h in enumerate(head)]
    parts.append("</tr>")
    for r, cells in zip(results["summary"], rows):
        delta = cells[4]
        dcls = "" if delta == "–" or abs(float(delta)) < 5e-4 else ("pos" if float(delta) > 0 else "neg")
        colour = FAMILY_COLOURS.get(r["family"], "#999")
        tds = [f"<td>{e(cells[0])}</td>", f"<td class='l'><b>{e(cells[1])}</b></td>"]
        tds.append(f"<td class='l'><span class='fam' style='background:{colour}'>{e(cells[2])}</span></td>")
        tds += [f"<td>{e(cells[3])}</td>", f"<td class='{dcls}'>{e(delta)}</td>"]
        tds += [f"<td>{e(c)}</td>" for c in cells[5:]]
        parts.append("<tr>" + "".join(tds) + "</tr>")
    parts.append("</table></div>")
    parts += [f"<p class='note'>{e(n)}</p>" for n in NOTES]
    for title, note, head, rows in _extra_tables(results):
        parts += [f"<h2>{e(title)}</h2>", f"<p class='note'>{e(note)}</p>", "<div class='scroll'><table><tr>"]
        parts += [f"<th{' class=l' if i == 0 else ''}>{e(h)}</th>" for i, h in enumerate(head)] + ["</tr>"]
        parts += [
            "<tr>" + "".join(f"<td{' class=l' if i == 0 else ''}>{e(c)}</td>" for i, c in enumerate(row)) + "</tr>"
            for row in rows
        ]
        parts.append("</table></div>")
    auto_head, auto_rows = auto_choices(results)
    if auto_rows:
        parts += ["<h2>acwa-auto: the choice per seed</h2>", f"<p class='note'>{e(AUTO_NOTE)}</p>"]
        parts.append(
            "<div class='scroll'><table><tr>" + "".join(f"<th class=l>{e(h)}</th>" for h in auto_head) + "</tr>"
        )
        parts += ["<tr>" + "".join(f"<td class='l'>{e(c)}</td>" for c in row) + "</tr>" for row in auto_rows]
        parts.append("</table></div>")
    if _not_run(results):
        parts += ["<h2>Not run</h2><ul>", *[f"<li>{_code_spans(line)}</li>" for line in _not_run(results)], "</ul>"]
    for key, file in figures.items():
        data = base64.b64encode((Path(out_dir) / file).read_bytes()).decode("ascii")
        section = e(SECTIONS.get(key, key))
        parts.append(f"<h2>{section}</h2><img alt='{section}' src='data:image/png;base64,{data}'>")
    if cfg.get("method_info"):
        parts.append("<h2>Methods</h2><ul>")
        parts += [
            f"<li><code>{e(m['method'])}</code> ({m['family']}): {e(m['description'] + _options_note(m))}</li>"
            for m in cfg["method_info"]
        ]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_reports(results: dict[str, Any], figures: dict[str, str], out_dir: Path) -> None:
    (out_dir / "report.md").write_text(markdown_report(results, figures))
    (out_dir / "report.html").write_text(html_report(results, figures, out_dir))


def write_report(results: dict[str, Any], out_dir: str | Path, plots: bool = True) -> dict[str, str]:
    """Write results.json, report.md and report.html into ``out_dir``, then the PNGs (``plots``;
    needs matplotlib) and the reports again with them; returns the paths written.

    The results and the reports are written before any figure is drawn: a figure that fails
    (matplotlib missing a backend, a broken install) costs only the figures, with one warning."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    figures: dict[str, str] = {}
    _write_reports(results, figures, out_dir)
    if plots:
        try:
            figures = make_figures(results, out_dir)
        except Exception as err:  # noqa: BLE001 - any plotting failure: keep the written results
            warnings.warn(
                f"the report's figures were not drawn ({type(err).__name__}: {err}); results.json, report.md "
                "and report.html are complete without them",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            _write_reports(results, figures, out_dir)
    written = {name: str(out_dir / f"report.{ext}") for name, ext in (("markdown", "md"), ("html", "html"))}
    written["results"] = str(out_dir / "results.json")
    written.update({k: str(out_dir / v) for k, v in figures.items()})
    return written
