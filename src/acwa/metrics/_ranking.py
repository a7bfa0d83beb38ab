"""Threshold-free and multi-label metrics, tensor-native (re-exported by :mod:`acwa.metrics`).

All follow scikit-learn's definitions (checked against it in tests/test_metrics.py) and run
vectorised on the scores' device: one sort per call, no Python loop over labels or samples.

- average precision (PR-AUC), sklearn's step-wise form
  ``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, in decreasing order;
- ROC-AUC, the probability that a random positive scores above a random negative (ties count
  one half), i.e. the trapezoidal area under the ROC curve;
- multi-label F1 at a logit threshold: per label, macro (mean over labels) and micro (from the
  summed counts).

A label (column) without positives has no AP, and one without positives or without negatives
has no ROC-AUC: those entries are NaN, and the means skip them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acwa._internal.validation import check_choice
from acwa.tasks import MultilabelTask

__all__ = [
    "average_precision",
    "roc_auc",
    "binary_average_precision",
    "binary_roc_auc",
    "mean_average_precision",
    "multilabel_stat_scores",
    "multilabel_f1",
]


def _columns(scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(scores, Tensor) or not isinstance(labels, Tensor):
        raise ValueError("scores and labels must be torch.Tensors")
    s = scores.detach()
    y = labels.detach()
    if s.dim() == 2 and s.shape[1] == 1 and y.dim() == 1:
        s = s[:, 0]
    if tuple(s.shape) != tuple(y.shape) or s.dim() not in (1, 2):
        raise ValueError(
            f"scores and labels must have the same shape, [N] (binary) or [N, L] (multi-label); got scores "
            f"{tuple(scores.shape)} and labels {tuple(labels.shape)}"
        )
    if y.numel() and not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("labels must hold 0/1 values (multi-hot for [N, L]); threshold or encode them first")
    s = s.float() if s.dtype in (torch.float16, torch.bfloat16) or not s.is_floating_point() else s
    return (s, y) if s.dim() == 2 else (s.unsqueeze(1), y.unsqueeze(1))


def _groups(scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per column, sorted by decreasing score and grouped by tied score: for each sample
    position ``(pos_in_group, neg_in_group, tp_before_group, is_group_end)`` (group values are
    stored at each group's last position; elsewhere the first two are 0)."""
    n, k = scores.shape
    order = torch.sort(scores, dim=0, descending=True, stable=True)
    y = labels.to(torch.float64).gather(0, order.indices)
    s = order.values
    end = torch.ones_like(s, dtype=torch.bool)
    end[:-1] = s[1:] != s[:-1]
    tps = y.cumsum(0)
    fps = (1 - y).cumsum(0)
    # counts at each group end, and at the previous group end (0 before the first group)
    tp_end = torch.where(end, tps, torch.zeros_like(tps))
    fp_end = torch.where(end, fps, torch.zeros_like(fps))
    prev_tp = _previous_end(tp_end, end)
    prev_fp = _previous_end(fp_end, end)
    pos = torch.where(end, tps - prev_tp, torch.zeros_like(tps))
    neg = torch.where(end, fps - prev_fp, torch.zeros_like(fps))
    return pos, neg, prev_tp, end


def _previous_end(values_at_end: Tensor, end: Tensor) -> Tensor:
    """At each position, the value at the previous group end (running max of end values,
    shifted by one group; values are non-decreasing down each column)."""
    running = torch.cummax(values_at_end, dim=0).values  # value at the last end at or above
    shifted = torch.zeros_like(running)
    shifted[1:] = running[:-1]
    return shifted


def average_precision(scores: Tensor, labels: Tensor) -> Tensor:
    """Per-column average precision ``[L]`` (``[N]`` input: a 0-d tensor); NaN without positives."""
    s, y = _columns(scores, labels)
    pos, neg, prev_tp, end = _groups(s, y)
    n_pos = pos.sum(0)
    tp_end = prev_tp + pos
    seen = torch.arange(1, s.shape[0] + 1, device=s.device, dtype=torch.float64).unsqueeze(1)
    precision = torch.where(end, tp_end / seen, torch.zeros_like(tp_end))
    ap = (pos * precision).sum(0) / n_pos.clamp_min(1)
    ap = torch.where(n_pos > 0, ap, torch.full_like(ap, float("nan"))).float()
    return ap if scores.dim() == 2 and labels.dim() == 2 else ap[0]


def roc_auc(scores: Tensor, labels: Tensor) -> Tensor:
    """Per-column ROC-AUC ``[L]`` (``[N]`` input: a 0-d tensor); NaN without both classes.

    ``AUC = sum_g neg_g (tp_before_g + pos_g / 2) / (P N)`` over groups ``g`` of tied scores in
    decreasing order (the Mann-Whitney statistic)."""
    s, y = _columns(scores, labels)
    pos, neg, prev_tp, _ = _groups(s, y)
    n_pos, n_neg = pos.sum(0), neg.sum(0)
    auc = (neg * (prev_tp + pos / 2)).sum(0) / (n_pos * n_neg).clamp_min(1)
    auc = torch.where((n_pos > 0) & (n_neg > 0), auc, torch.full_like(auc, float("nan"))).float()
    return auc if scores.dim() == 2 and labels.dim() == 2 else auc[0]


def binary_average_precision(scores: Tensor, labels: Tensor) -> Tensor:
    """Average precision (PR-AUC) of one-logit scores ``[N]`` (or ``[N, 1]``) against 0/1 labels."""
    return average_precision(scores.reshape(-1), labels.reshape(-1))


def binary_roc_auc(scores: Tensor, labels: Tensor) -> Tensor:
    """ROC-AUC of one-logit scores ``[N]`` (or ``[N, 1]``) against 0/1 labels."""
    return roc_auc(scores.reshape(-1), labels.reshape(-1))


def mean_average_precision(scores: Tensor, labels: Tensor) -> Tensor:
    """mAP: the mean of :func:`average_precision` over the labels that have positives."""
    return torch.nanmean(average_precision(scores, labels))


def multilabel_stat_scores(logits: Tensor, labels: Tensor, threshold: float = 0.0) -> Tensor:
    """Per-label ``[tp, fp, fn]`` ``[3, L]`` at ``logit > threshold`` (the task's counts)."""
    s, y = _columns(logits, labels)
    if s.shape[1] == 0:
        return torch.zeros(3, 0, dtype=torch.long, device=s.device)
    return MultilabelTask(num_labels=s.shape[1], threshold=threshold).stat_scores(s, y)


def multilabel_f1(logits: Tensor, labels: Tensor, threshold: float = 0.0, average: str | None = None) -> Tensor:
    """F1 of multi-label predictions ``logit > threshold``.

    ``average=None``: per label ``2 tp / (2 tp + fp + fn)`` ``[L]`` (NaN for a label without
    positives); ``'macro'``: their mean over labels with positives; ``'micro'``: F1 of the
    counts summed over labels."""
    check_choice(average, (None, "macro", "micro"), "average")
    tp, fp, fn = multilabel_stat_scores(logits, labels, threshold).double()
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        den = 2 * tp + fp + fn
        return torch.where(den > 0, 2 * tp / den.clamp_min(1), torch.zeros_like(den)).float()
    den = 2 * tp + fp + fn
    f1 = torch.where(den > 0, 2 * tp / den.clamp_min(1), torch.zeros_like(den))
    f1 = torch.where(tp + fn > 0, f1, torch.full_like(f1, float("nan"))).float()
    return f1 if average is None else torch.nanmean(f1)
