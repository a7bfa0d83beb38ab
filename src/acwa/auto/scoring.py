"""Out-of-fold scores for :func:`acwa.auto.select_method`.

A metric maps ``(logits, labels)`` to a float, higher is better. Every name of :data:`SELECTION_METRICS`
works on the three kinds of labels:

* class ids ``[N]`` with multi-class logits ``[N, C]`` (predictions: the arg-max) or one-logit
  binary logits ``[N, 1]`` (predictions: ``logit > 0``). Per-class metrics average over the
  classes present in ``labels`` (scikit-learn's convention);
* multi-hot labels ``[N, L]`` with one logit per label (decisions: ``logit > 0``). Per-label
  metrics average over the labels with positives (balanced accuracy: with positives and
  negatives), as the bench's multi-label scores do.

================================  ==============================================================
``balanced_accuracy``             mean per-class recall; multi-label: mean over labels of
                                  ``(TPR + TNR) / 2``
``macro_f1``                      mean per-class F1; multi-label: mean per-label F1 of
                                  ``logit > 0`` (:func:`acwa.metrics.multilabel_f1`, macro)
``accuracy``                      fraction of correct predictions; multi-label: of correct label
                                  decisions (1 - Hamming loss)
``mean_average_precision``        mAP, threshold-free: mean over labels of the average precision
                                  ``AP = sum_k (R_k - R_{k-1}) P_k`` of the logits
                                  (:func:`acwa.metrics.mean_average_precision`); class ids: one
                                  vs rest on the softmax probabilities; one-logit binary: the AP
                                  of the logit
================================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from acwa.metrics import balanced_accuracy, macro_f1, mean_average_precision, multilabel_f1

__all__ = ["SELECTION_METRICS", "THRESHOLD_FREE", "MetricFn", "predictions", "resolve_metric"]

MetricFn = Callable[[Tensor, Tensor], float]


def predictions(logits: Tensor) -> tuple[Tensor, int]:
    """``(class predictions, number of classes)`` of ``[N, C]`` or one-logit ``[N, 1]`` logits."""
    if logits.dim() == 2 and logits.shape[1] == 1:
        return (logits[:, 0] > 0).long(), 2
    return logits.argmax(1), logits.shape[1]


def _multilabel(labels: Tensor) -> bool:
    return labels.dim() == 2


def _balanced_accuracy(logits: Tensor, labels: Tensor) -> float:
    if _multilabel(labels):
        pred, target = logits > 0, labels > 0
        pos, neg = target.sum(0).double(), (~target).sum(0).double()
        tpr = (pred & target).sum(0).double() / pos.clamp_min(1)
        tnr = (~pred & ~target).sum(0).double() / neg.clamp_min(1)
        both = (pos > 0) & (neg > 0)
        return float(((tpr + tnr) / 2)[both].mean()) if bool(both.any()) else float("nan")
    preds, c = predictions(logits)
    return float(balanced_accuracy(preds, labels, c))


def _macro_f1(logits: Tensor, labels: Tensor) -> float:
    if _multilabel(labels):
        return float(multilabel_f1(logits, labels, average="macro"))
    preds, c = predictions(logits)
    return float(macro_f1(preds, labels, c))


def _accuracy(logits: Tensor, labels: Tensor) -> float:
    if _multilabel(labels):
        return float(((logits > 0) == (labels > 0)).double().mean()) if labels.numel() else float("nan")
    preds, _ = predictions(logits)
    return float((preds == labels).double().mean()) if labels.numel() else float("nan")


def _mean_average_precision(logits: Tensor, labels: Tensor) -> float:
    if _multilabel(labels):
        return float(mean_average_precision(logits, labels))
    if logits.shape[1] == 1:  # one-logit binary: the AP of the logit
        return float(mean_average_precision(logits, labels.unsqueeze(1)))
    onehot = torch.nn.functional.one_hot(labels.long(), logits.shape[1])
    return float(mean_average_precision(logits.float().softmax(1), onehot))


SELECTION_METRICS: dict[str, MetricFn] = {
    "balanced_accuracy": _balanced_accuracy,
    "macro_f1": _macro_f1,
    "accuracy": _accuracy,
    "mean_average_precision": _mean_average_precision,
}
THRESHOLD_FREE: tuple[str, ...] = ("mean_average_precision",)
"""Metrics a per-label threshold cannot change (each label's ranking stays): no correction is tried."""


def resolve_metric(metric: str | MetricFn) -> tuple[str, MetricFn]:
    """``(name, fn)``; a user callable's result is checked to be a finite number."""
    if isinstance(metric, str):
        return metric, SELECTION_METRICS[metric]
    name = getattr(metric, "__name__", "metric")

    def checked(logits: Tensor, labels: Tensor) -> float:
        value = metric(logits, labels)
        value = float(value.item() if isinstance(value, Tensor) else value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"metric {name} returned {value}; it must return a finite number (higher is better)")
        return value

    return name, checked
