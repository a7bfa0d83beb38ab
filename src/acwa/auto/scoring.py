"""Out-of-fold scores for :func:`acwa.auto.select_method`.

A metric maps ``(logits, labels)`` to a float, higher is better. Predictions are the arg-max of
multi-class logits ``[N, C]``, or ``logit > 0`` for one-logit binary logits ``[N, 1]``.
Per-class metrics average over the classes present in ``labels`` (scikit-learn's convention).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ..metrics import balanced_accuracy, macro_f1

__all__ = ["METRICS", "MetricFn", "predictions", "resolve_metric"]

MetricFn = Callable[[Tensor, Tensor], float]


def predictions(logits: Tensor) -> tuple[Tensor, int]:
    """``(class predictions, number of classes)`` of ``[N, C]`` or one-logit ``[N, 1]`` logits."""
    if logits.dim() == 2 and logits.shape[1] == 1:
        return (logits[:, 0] > 0).long(), 2
    return logits.argmax(1), logits.shape[1]


def _balanced_accuracy(logits: Tensor, labels: Tensor) -> float:
    preds, c = predictions(logits)
    return float(balanced_accuracy(preds, labels, c))


def _macro_f1(logits: Tensor, labels: Tensor) -> float:
    preds, c = predictions(logits)
    return float(macro_f1(preds, labels, c))


def _accuracy(logits: Tensor, labels: Tensor) -> float:
    preds, _ = predictions(logits)
    return float((preds == labels).double().mean()) if labels.numel() else float("nan")


METRICS: dict[str, MetricFn] = {
    "balanced_accuracy": _balanced_accuracy,
    "macro_f1": _macro_f1,
    "accuracy": _accuracy,
}


def resolve_metric(metric: str | MetricFn) -> tuple[str, MetricFn]:
    """``(name, fn)``; a user callable's result is checked to be a finite number."""
    if isinstance(metric, str):
        return metric, METRICS[metric]
    name = getattr(metric, "__name__", "metric")

    def checked(logits: Tensor, labels: Tensor) -> float:
        value = metric(logits, labels)
        value = float(value.item() if isinstance(value, Tensor) else value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"metric {name} returned {value}; it must return a finite number (higher is better)")
        return value

    return name, checked
