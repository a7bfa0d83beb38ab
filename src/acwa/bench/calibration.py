"""Calibration, costs and paired intervals of a benchmark run.

Per run (:func:`calibration_metrics`, on the test logits that the accuracy metrics use):

* ``log_loss``, ``brier``, ``classwise_ece`` of the raw probabilities (softmax; a sigmoid per
  label on multi-label data), see :mod:`acwa.metrics`; classwise ECE uses 15 equal-mass bins;
* the same after temperature scaling (``*_ts``), cross-fitted on the test split: it is cut in two
  stratified halves, a temperature (:class:`acwa.posthoc.Calibrator`) is fitted on each half and
  applied to the other, so no sample is scored by a temperature fitted on it (cheap: no extra
  training; it measures what temperature scaling can recover, with the test prior);
* ``reliability``: the top-label reliability bins of the raw and the scaled probabilities.

Per run, with a cost matrix ``K[true, pred]`` (``--costs``): ``expected_cost`` ``mean K[y, d]`` of
the Bayes decision ``d = argmin_j sum_i p(i|x) K[i, j]`` (:func:`acwa.posthoc.bayes_decision`) on
probabilities calibrated by bias-corrected temperature scaling, cross-fitted as above (a
re-balanced model's probabilities are offset by the prior it was trained for, which a temperature
alone cannot remove), and ``decision_cost``, the same mean cost of the method's
own decision (its argmax, or its tuned threshold), which ignores the costs.

Per method (:func:`paired_intervals`): a paired bootstrap interval (:func:`acwa.metrics.paired_bootstrap`,
95%, 500 draws, pairing within each seed) of the difference of the ranking metric from ``ce`` and
from the best method, for the metrics that are read from the predictions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from acwa.bench.scoring import BENCH_METRICS
from acwa.metrics import brier_score, classwise_ece, log_loss, paired_bootstrap, reliability_bins
from acwa.posthoc import Calibrator, bayes_decision, check_costs
from acwa.splits import stratified_folds

__all__ = [
    "calibration_metrics",
    "parse_costs",
    "add_expected_costs",
    "paired_intervals",
    "interval_verdict",
    "extra_tables",
    "PRIVATE_KEY",
    "N_BOOT",
]

PRIVATE_KEY = "_test"  # per-run test outputs, kept in memory only (never written)
N_BOOT = 500
CONFIDENCE = 0.95


def _probs(z: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return torch.sigmoid(z.double()) if multilabel else torch.softmax(z.double(), 1)


def _scaled(z: torch.Tensor, y: torch.Tensor, multilabel: bool, method: str = "temperature") -> torch.Tensor | None:
    """Calibrated probabilities (``method`` of :class:`acwa.posthoc.Calibrator`), cross-fitted
    over two halves of the test split."""
    if multilabel:
        halves = torch.arange(y.shape[0]) % 2
    else:
        halves = torch.from_numpy(stratified_folds(y, num_folds=2, seed=0))
    out = torch.empty(z.shape, dtype=torch.float64)
    for k in (0, 1):
        fit, use = halves != k, halves == k
        try:
            cal = Calibrator(method, task="multilabel" if multilabel else "multiclass").fit(z[fit], y[fit])
        except ValueError:  # a half with a single class: no temperature
            return None
        out[use] = cal.predict_proba(z[use])
    return out


def calibration_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Raw and temperature-scaled log-loss, Brier score and classwise ECE, the reliability bins,
    and (under :data:`PRIVATE_KEY`) the per-sample outputs the costs and intervals need."""
    z = logits.detach().cpu().double()
    y = y.detach().cpu()
    multilabel = y.dim() == 2
    out: dict[str, Any] = {}
    p = _probs(z, multilabel)
    p_ts = _scaled(z, y, multilabel)
    for suffix, q in (("", p), ("_ts", p_ts)):
        if q is None:
            continue
        out[f"log_loss{suffix}"] = log_loss(q, y)
        out[f"brier{suffix}"] = brier_score(q, y)
        out[f"classwise_ece{suffix}"] = classwise_ece(q, y)
    if not multilabel:
        rel = {}
        for name, q in (("raw", p), ("scaled", p_ts)):
            if q is not None:
                conf, pred = q.max(1)
                rel[name] = reliability_bins(conf, (pred == y).double())
        out["reliability"] = rel
        nll = -(p.gather(1, y.long().unsqueeze(1)).squeeze(1).clamp_min(1e-300)).log()
        p_bcts = _scaled(z, y, multilabel, "bias")  # the decisions under costs: a bias removes a prior offset
        out[PRIVATE_KEY] = {
            "preds": z.argmax(1).numpy().astype(np.int64),
            "nll": nll.numpy(),
            "probs_ts": (p if p_ts is None else p_ts).numpy(),
            "probs_bcts": (p if p_bcts is None else p_bcts).numpy(),
        }
    return out


def parse_costs(text: str, num_classes: int | None = None) -> list[list[float]]:
    """``--costs``: a ``c_fp,c_fn`` pair (two classes), a JSON file (a ``[C, C]`` list, or
    ``{"costs": [[...]]}``) or a CSV file (C rows of C numbers, no header); ``K[true, pred]``."""
    text = str(text).strip()
    path = Path(text)
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            matrix: Any = data.get("costs") if isinstance(data, dict) else data
        elif path.suffix.lower() == ".csv":
            lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
            matrix = [[float(v) for v in ln.split(",")] for ln in lines]
        else:
            matrix = [float(v) for v in text.split(",")]
    except FileNotFoundError:
        raise ValueError(f"--costs: file {text} not found") from None
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"--costs: cannot read {text!r} ({exc}); give c_fp,c_fn or a .json/.csv [C, C] matrix K[true, pred]"
        ) from None
    K = check_costs(matrix, num_classes, name="--costs")
    return K.tolist()


def add_expected_costs(
    runs: Sequence[dict[str, Any]], private: dict[tuple[str, int], Any], y_test: np.ndarray, costs: Any
) -> None:
    """``expected_cost`` of every run (the Bayes decision on its calibrated probabilities)
    and ``decision_cost`` (its own decision, which ignores the costs)."""
    K = check_costs(costs)
    y = torch.from_numpy(y_test).long()
    for r in runs:
        p = private.get((r["method"], r["seed"]))
        if p is not None:
            d = bayes_decision(torch.from_numpy(p["probs_bcts"]), K)
            r["expected_cost"] = float(K[y, d].mean())
            r["decision_cost"] = float(K[y, torch.from_numpy(p["preds"])].mean())


def _scorer(metric: str, num_classes: int, costs: Any) -> tuple[Callable[[Any, Any], float], str] | None:
    """(score(values, y), which per-sample values) for the metrics read from predictions."""

    def recall(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        support = np.bincount(y, minlength=num_classes)
        hit = np.bincount(y[pred == y], minlength=num_classes)
        return hit[support > 0] / support[support > 0]

    def macro_f1(pred: np.ndarray, y: np.ndarray) -> float:
        tp = np.bincount(y[pred == y], minlength=num_classes).astype(float)
        fp = np.bincount(pred[pred != y], minlength=num_classes)
        fn = np.bincount(y[pred != y], minlength=num_classes)
        present = np.bincount(y, minlength=num_classes) > 0
        return float((2 * tp / np.maximum(2 * tp + fp + fn, 1))[present].mean())

    if metric == "accuracy":
        return (lambda p, y: float(np.mean(p == y))), "preds"
    if metric == "balanced_accuracy":
        return (lambda p, y: float(recall(p, y).mean())), "preds"
    if metric == "macro_f1":
        return macro_f1, "preds"
    if metric == "log_loss":
        return (lambda v, y: float(np.mean(v))), "nll"
    if metric == "expected_cost" and costs is not None:
        K = np.asarray(costs, dtype=np.float64)
        return (lambda d, y: float(K[y, d].mean())), "cost_preds"
    return None


def paired_intervals(
    results_runs: Sequence[dict[str, Any]],
    private: dict[tuple[str, int], Any],
    summary: Sequence[dict[str, Any]],
    y_test: np.ndarray,
    metric: str,
    num_classes: int,
    costs: Any = None,
) -> dict[str, Any] | None:
    """Paired bootstrap intervals of each ranked method's difference from ``ce`` and from the
    best method on ``metric`` (None when the metric is not read from predictions)."""
    found = _scorer(metric, num_classes, costs)
    ranked = [r["method"] for r in summary if r.get("rank") is not None]
    if found is None or not ranked:
        return None
    score, key = found
    y = np.asarray(y_test).astype(np.int64)
    K = None if costs is None else check_costs(costs)
    values: dict[str, dict[int, np.ndarray]] = {}
    for r in results_runs:
        p = private.get((r["method"], r["seed"]))
        if p is None:
            continue
        if key == "cost_preds":
            v = bayes_decision(torch.from_numpy(p["probs_bcts"]), K).numpy()
        else:
            v = p[key]
        values.setdefault(r["method"], {})[r["seed"]] = v
    best = ranked[0]
    out: dict[str, Any] = {"metric": metric, "confidence": CONFIDENCE, "n_boot": N_BOOT, "best": best}
    for ref_name, label in (("ce", "vs_ce"), (best, "vs_best")):
        if ref_name not in values:
            continue
        out[label] = {}
        for m in ranked:
            if m == ref_name or m not in values:
                continue
            seeds = sorted(set(values[m]) & set(values[ref_name]))
            if not seeds:
                continue
            iv = paired_bootstrap(
                score,
                [values[m][s] for s in seeds],
                [values[ref_name][s] for s in seeds],
                [y] * len(seeds),
                n_boot=N_BOOT,
                confidence=CONFIDENCE,
            )
            out[label][m] = iv.to_dict()
    return out


_CALIBRATION = (
    "log_loss", "brier", "classwise_ece", "log_loss_ts", "brier_ts", "classwise_ece_ts",
    "expected_cost", "decision_cost",
)  # fmt: skip


def extra_tables(results: dict[str, Any]) -> list[tuple[str, str, list[str], list[list[str]]]]:
    """(title, note, head, rows) of the calibration table and the paired-interval table; empty
    for results written before they existed."""
    tables = []
    summary = results["summary"]
    cols = [k for k in _CALIBRATION if any(r.get(f"{k}_mean") is not None for r in summary)]
    if cols:
        note = (
            "Lower is better. TS: temperature scaling cross-fitted on two stratified halves of the test split "
            "(fitted on one half, scored on the other). Expected cost: the Bayes decision on probabilities "
            "calibrated the same way by bias-corrected temperature scaling; own-decision cost: the method's own "
            "decision, which ignores the costs."
        )
        rows = [
            [r["method"] + (f" (= {r['same_as']})" if r.get("same_as") else "")]
            + [_fmt(r.get(f"{k}_mean"), r.get(f"{k}_std")) for k in cols]
            for r in summary
        ]
        tables.append(("Calibration", note, ["method"] + [BENCH_METRICS[k].label for k in cols], rows))
    iv = results.get("intervals")
    if iv:
        pct = f"{round(100 * iv['confidence'])}%"

        def cell(d: dict[str, float] | None) -> str:
            if d is None:
                return "–"
            mark = " *" if d["low"] > 0 or d["high"] < 0 else ""
            return f"{d['estimate']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]{mark}"

        names = [r["method"] for r in summary if r.get("rank") is not None]
        rows = [[m, cell(iv.get("vs_ce", {}).get(m)), cell(iv.get("vs_best", {}).get(m))] for m in names]
        note = (
            f"{BENCH_METRICS[iv['metric']].label}: difference and {pct} paired bootstrap interval "
            f"({iv['n_boot']} draws, "
            "test samples resampled once per draw, paired within each seed, averaged over seeds); * the interval "
            "excludes 0."
        )
        tables.append(("Paired differences", note, ["method", "Δ vs ce", f"Δ vs {iv['best']}"], rows))
    return tables


def _fmt(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def interval_verdict(results: dict[str, Any]) -> str:
    """One sentence: is the winner ahead of every other method beyond the paired interval, or
    tied with some? Empty when the results hold no intervals (older results.json files)."""
    iv = results.get("intervals")
    if not iv or not iv.get("vs_best"):
        return ""
    pct = f"{round(100 * iv['confidence'])}%"
    tied = [m for m, d in iv["vs_best"].items() if d["low"] <= 0 <= d["high"]]
    if not tied:
        return f"{iv['best']} is ahead of every other method beyond the {pct} paired bootstrap interval."
    closest = min(tied, key=lambda m: abs(iv["vs_best"][m]["estimate"]))
    d = iv["vs_best"][closest]
    names = ", ".join(tied[:4]) + (f" and {len(tied) - 4} more" if len(tied) > 4 else "")
    return (
        f"{iv['best']} is tied with {names}: the {pct} paired bootstrap interval of the difference includes 0 "
        f"(e.g. {closest} {d['estimate']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}])."
    )
