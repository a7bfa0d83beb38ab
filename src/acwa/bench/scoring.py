"""Test metrics of one run, their summary over seeds, and the ranking.

Metrics are computed on the test split only, after training:

* every task: ``accuracy``, ``balanced_accuracy`` (mean per-class recall over the classes present
  in the test split), ``macro_f1``, per-class F1 and recall, the confusion matrix;
* long-tailed data with >= 3 classes: ``many/medium/few_shot_accuracy``: classes ranked by training count and cut
  in thirds (``numpy.array_split``: 10 classes -> 4/3/3, 5 -> 2/2/1), each group's accuracy being
  the mean recall of its classes (equal to the group's accuracy on a balanced test split);
* two classes: the *minority* class is the rarer one in the training split, its score the
  softmax probability ``p = softmax(z)_minority``; ``average_precision``
  ``AP = sum_k (R_k - R_{k-1}) P_k`` over the thresholds at the distinct scores (as
  ``sklearn.metrics.average_precision_score``), ``roc_auc`` (the Mann-Whitney probability that a
  positive outscores a negative, ties counting 1/2), ``minority_precision``, ``minority_recall``
  and ``minority_f1`` of the argmax prediction.

:data:`BENCH_METRICS` names each scalar metric with its label and direction; ``rank_by`` may be any of
them that the run computed. Rows of family ``'reference'`` are summarised but never ranked.

Multi-label data (multi-hot ``y [N, L]``, a sigmoid per label, decision ``z > 0``): per-label F1
and recall, ``macro_f1`` (mean per-label F1), ``micro_f1`` (pooled counts),
``balanced_accuracy`` (mean over labels of ``(TPR + TNR) / 2``), ``accuracy`` (fraction of
correct label decisions, 1 - Hamming loss) and ``mean_average_precision`` (mAP: mean per-label
AP of ``sigma(z)`` over the labels with a test positive; the default ``rank_by`` there).

Calibration (``log_loss``, ``brier``, ``classwise_ece``, their temperature-scaled ``*_ts``) and
``expected_cost`` (with ``--costs``): :mod:`acwa.bench.calibration`; lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from acwa.metrics import f1_from_counts, recall_from_counts, stat_scores

__all__ = [
    "Metric",
    "BENCH_METRICS",
    "DEFAULT_RANK_BY",
    "evaluate",
    "shot_groups",
    "summarise",
    "rankable_metrics",
    "check_rank_by",
    "expected_metrics",
    "TASK_RANK_BY",
    "average_precision",
    "roc_auc",
]


@dataclass(frozen=True)
class Metric:
    """A scalar test metric: its key in a run, a short label for tables, what it measures."""

    key: str
    label: str
    description: str
    higher_is_better: bool = True


BENCH_METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("balanced_accuracy", "bal. acc", "mean per-class recall"),
        Metric("macro_f1", "macro-F1", "mean per-class F1"),
        Metric("accuracy", "accuracy", "fraction of correct predictions"),
        Metric("many_shot_accuracy", "many", "mean recall of the top third of classes by training count"),
        Metric("medium_shot_accuracy", "medium", "mean recall of the middle third of classes"),
        Metric("few_shot_accuracy", "few", "mean recall of the bottom third of classes"),
        Metric("average_precision", "AP", "average precision of the minority class (two classes)"),
        Metric("roc_auc", "ROC-AUC", "area under the ROC curve of the minority class (two classes)"),
        Metric("minority_precision", "min. prec", "precision of the minority class (two classes)"),
        Metric("minority_recall", "min. recall", "recall of the minority class (two classes)"),
        Metric("minority_f1", "min. F1", "F1 of the minority class (two classes)"),
        Metric("mean_average_precision", "mAP", "mean over labels of the average precision (multi-label)"),
        Metric("micro_f1", "micro-F1", "F1 of all label decisions pooled (multi-label)"),
        Metric("log_loss", "log-loss", "negative log-likelihood of the test labels", False),
        Metric("brier", "Brier", "Brier score of the probabilities", False),
        Metric("classwise_ece", "cw-ECE", "classwise ECE, 15 equal-mass bins", False),
        Metric("log_loss_ts", "log-loss (TS)", "log-loss after temperature scaling (cross-fitted)", False),
        Metric("brier_ts", "Brier (TS)", "Brier score after temperature scaling", False),
        Metric("classwise_ece_ts", "cw-ECE (TS)", "classwise ECE after temperature scaling", False),
        Metric("expected_cost", "exp. cost", "mean cost K[y, d] of the Bayes decision for --costs", False),
        Metric(
            "decision_cost", "own-decision cost", "mean cost K[y, d] of the method's own decision for --costs", False
        ),
    )
}
DEFAULT_RANK_BY = "balanced_accuracy"
TASK_RANK_BY = {
    "multiclass": "balanced_accuracy",
    "binary": "balanced_accuracy",
    "multilabel": "mean_average_precision",
}
_COST_KEYS = ("train_seconds", "train_cpu_seconds", "trainings")


def clean(x: float | None) -> float | None:
    """``None`` for a missing or non-finite value (JSON has no NaN), else a float."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


def shot_groups(train_counts: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """Class indices of the many / medium / few-shot groups: classes ranked by training count
    (descending, ties by index) and cut in thirds."""
    order = np.argsort(-np.asarray(train_counts), kind="stable")
    return list(np.array_split(order, 3))


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """``sum_k (R_k - R_{k-1}) P_k`` over thresholds at the distinct scores, high to low; None
    without positives."""
    pos = np.asarray(positive, dtype=bool)
    if not pos.any():
        return None
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    s, p = np.asarray(scores, dtype=np.float64)[order], pos[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # end of each block of tied scores
    tp = np.cumsum(p)[last].astype(np.float64)
    precision, recall = tp / (last + 1), tp / pos.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative) + P(tie) / 2, from mid-ranks; None when a
    class is absent."""
    pos = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_s) != 0) + 1]
    ends = np.r_[first[1:], len(s)]
    mid = (first + ends - 1) / 2.0 + 1.0  # mid-rank of each tied block (1-based)
    ranks[order] = np.repeat(mid, ends - first)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _binary_metrics(logits: torch.Tensor, y: np.ndarray, preds: np.ndarray, minority: int) -> dict[str, Any]:
    score = torch.softmax(logits.double(), dim=1)[:, minority].numpy()
    positive = y == minority
    predicted = preds == minority
    tp = int((positive & predicted).sum())
    precision = tp / int(predicted.sum()) if predicted.any() else None
    recall = tp / int(positive.sum()) if positive.any() else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "minority_class": minority,
        "average_precision": average_precision(score, positive),
        "roc_auc": roc_auc(score, positive),
        "minority_precision": precision,
        "minority_recall": recall,
        "minority_f1": f1,
    }


def _multilabel_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    scores = torch.sigmoid(logits.double()).numpy()
    target = y.numpy().astype(bool)
    pred = logits.numpy() > 0
    tp = (pred & target).sum(0).astype(np.float64)
    fp = (pred & ~target).sum(0).astype(np.float64)
    fn = (~pred & target).sum(0).astype(np.float64)
    tn = (~pred & ~target).sum(0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        specificity = np.where(tn + fp > 0, tn / (tn + fp), np.nan)
    present = tp + fn > 0
    ap = [average_precision(scores[:, j], target[:, j]) for j in range(target.shape[1])]
    pooled = 2 * tp.sum() + fp.sum() + fn.sum()
    return {
        "accuracy": float((pred == target).mean()),
        "balanced_accuracy": float(np.nanmean((recall + specificity) / 2)),
        "macro_f1": float(f1[present].mean()),
        "micro_f1": float(2 * tp.sum() / pooled) if pooled else 0.0,
        "mean_average_precision": float(np.mean([a for a in ap if a is not None])),
        "per_class_f1": [clean(v) for v in f1.tolist()],
        "per_class_recall": [clean(v) for v in recall.tolist()],
        "per_class_average_precision": [clean(v) for v in ap],
        "confusion_matrix": None,
    }


@torch.no_grad()
def evaluate(
    logits: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    train_counts: Sequence[int] | np.ndarray | None = None,
    long_tailed: bool = True,
) -> dict[str, Any]:
    """Test metrics from logits ``[N, C]`` and labels ``[N]`` (multi-label: multi-hot ``[N, L]``;
    see the module docstring)."""
    logits = logits.detach().cpu().float()
    y = y.detach().cpu()
    if y.dim() == 2:
        return _multilabel_metrics(logits, y)
    preds = logits.argmax(1)
    tp, fp, fn = stat_scores(preds, y, num_classes)
    f1 = f1_from_counts(tp, fp, fn).double().numpy()
    recall = recall_from_counts(tp, fp, fn).double().numpy()
    present = (tp + fn).numpy() > 0
    y_np, p_np = y.numpy(), preds.numpy()
    conf = np.bincount(y_np * num_classes + p_np, minlength=num_classes**2).reshape(num_classes, num_classes)
    out: dict[str, Any] = {
        "accuracy": float((preds == y).double().mean()),
        "balanced_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "per_class_f1": [clean(v) for v in f1.tolist()],
        "per_class_recall": [clean(v) for v in recall.tolist()],
        "confusion_matrix": conf.tolist(),
    }
    if long_tailed and train_counts is not None and num_classes >= 3:  # thirds need >= 3 classes
        for name, group in zip(("many", "medium", "few"), shot_groups(train_counts)):
            vals = recall[group][present[group]]
            out[f"{name}_shot_accuracy"] = float(vals.mean()) if vals.size else None
    if num_classes == 2:
        counts = np.asarray(train_counts if train_counts is not None else np.bincount(y_np, minlength=2))
        out.update(_binary_metrics(logits, y_np, p_np, int(np.argmin(counts))))
    return out


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof 1; None for a single value) of the non-missing values."""
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return None, None
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else None


def rankable_metrics(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The :data:`BENCH_METRICS` keys every run computed (what ``rank_by`` may be)."""
    if not runs:
        return [DEFAULT_RANK_BY]
    return [k for k in BENCH_METRICS if all(r.get(k) is not None for r in runs)]


def check_rank_by(rank_by: str, available: Sequence[str] | None = None) -> str:
    """Validate a ``rank_by`` metric name (against the metrics a run computed, when given)."""
    if not isinstance(rank_by, str) or rank_by not in BENCH_METRICS:
        raise ValueError(f"rank_by must be one of {', '.join(BENCH_METRICS)}, got {rank_by!r}")
    if available is not None and rank_by not in available:
        raise ValueError(
            f"rank_by {rank_by!r} is not computed for this data; choose one of {', '.join(available)}"
            + (" (AP, ROC-AUC and minority metrics need two classes)" if rank_by in _BINARY_ONLY else "")
            + (" (expected_cost needs a cost matrix: --costs / costs=)" if rank_by == "expected_cost" else "")
        )
    return rank_by


_BINARY_ONLY = ("average_precision", "roc_auc", "minority_precision", "minority_recall", "minority_f1")


def summarise(
    runs: list[dict[str, Any]], methods: Sequence[str], rank_by: str = DEFAULT_RANK_BY
) -> list[dict[str, Any]]:
    """Per method: mean and sample std over seeds (ddof 1; std None for one seed) of every scalar
    metric and cost, and the per-class means. Rows are ordered best first by ``rank_by``;
    ``rank`` counts the non-reference rows only (family ``'reference'`` gets ``rank`` None)."""
    check_rank_by(rank_by)
    rows = []
    for name in methods:
        rs = [r for r in runs if r["method"] == name]
        if not rs:
            continue
        row: dict[str, Any] = {"method": name, "family": rs[0]["family"], "seeds": len(rs)}
        for key in (*BENCH_METRICS, *_COST_KEYS):
            if all(key in r for r in rs):
                row[f"{key}_mean"], row[f"{key}_std"] = mean_std([r.get(key) for r in rs])
        C = len(rs[0]["per_class_f1"])
        for key in ("per_class_f1", "per_class_recall"):
            row[f"{key}_mean"] = [mean_std([r[key][c] for r in rs])[0] for c in range(C)]
        rows.append(row)
    sign = 1.0 if BENCH_METRICS[rank_by].higher_is_better else -1.0

    def order(r: dict[str, Any]) -> tuple[int, float]:
        v = r.get(f"{rank_by}_mean")
        return (0 if v is not None else 1, -sign * v if v is not None else 0.0)

    rows.sort(key=order)
    rank = 0
    for r in rows:
        if r["family"] == "reference":
            r["rank"] = None
        else:
            rank += 1
            r["rank"] = rank
    return rows


def expected_metrics(task: str, long_tailed: bool, num_classes: int, costs: bool = False) -> list[str]:
    """The metrics every run on a dataset computes (what ``rank_by`` may be)."""
    row: dict[str, Any] = {"balanced_accuracy": 0.0, "macro_f1": 0.0, "accuracy": 0.0}
    row.update(log_loss=0.0, brier=0.0, classwise_ece=0.0)
    if costs:
        row.update(expected_cost=0.0, decision_cost=0.0)
    if task == "multilabel":
        row.update(mean_average_precision=0.0, micro_f1=0.0)
    if long_tailed and num_classes >= 3:
        row.update(many_shot_accuracy=0.0, medium_shot_accuracy=0.0, few_shot_accuracy=0.0)
    if num_classes == 2:
        row.update(average_precision=0.0, roc_auc=0.0, minority_precision=0.0, minority_recall=0.0, minority_f1=0.0)
    return rankable_metrics([row])
