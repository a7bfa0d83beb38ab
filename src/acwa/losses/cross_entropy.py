"""Class-weighted cross-entropy, and the logit-transform template the CE family shares.

    l_i = -w_{y_i} log softmax(T(f(x_i)))_{y_i}

``T`` is the identity for :class:`WeightedCrossEntropyLoss`; the logit-transform losses (logit
adjustment, balanced softmax, VS, LDAM, parametric CE) subclass :class:`LogitTransformLoss`
and implement only ``T`` (:meth:`LogitTransformLoss.transform`).

Soft targets (mixup, cutmix): probability rows ``q_i`` ``[N, C]`` give
``l_i = -sum_c q_ic log softmax(T(f))_c`` with the per-element weight ``sum_c q_ic w_c``
(equal to ``w_{y_i}`` for one-hot rows). ``label_smoothing = eps`` replaces the target
distribution by ``(1 - eps) q + eps / C`` (as ``F.cross_entropy(label_smoothing=eps)``).

With ``reduction='mean'`` (the default) the sum is divided by the number of counted samples
N, not by ``sum_i w_{y_i}`` as PyTorch's ``nn.CrossEntropyLoss(weight=w)`` does; the latter is
``reduction='weighted_mean'``. Static weights come from :mod:`acwa.weights`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acwa._internal.validation import check_float
from acwa.losses.base import DEFAULT_IGNORE_INDEX, BaseLoss, ClassVector, LossBatch, LossOptions, functional_twin

__all__ = [
    "CEOptions",
    "cross_entropy_values",
    "LogitTransformLoss",
    "weighted_cross_entropy",
    "WeightedCrossEntropyLoss",
]


class CEOptions(LossOptions, total=False):
    """The shared options of the cross-entropy family (:class:`LogitTransformLoss`)."""

    label_smoothing: float


def check_label_smoothing(label_smoothing: float) -> float:
    return check_float(label_smoothing, "label_smoothing", min=0.0, max=1.0, max_open=True, hint="0.1 is common")


def cross_entropy_values(z: Tensor, batch: LossBatch, label_smoothing: float = 0.0) -> Tensor:
    """Per-element ``-sum_c q_ic log softmax(z)_c`` (hard targets: ``-log softmax(z)_y``), smoothed by ``eps``."""
    logp = torch.log_softmax(z, dim=1)
    if batch.soft:
        nll = -(batch.target * logp).sum(1)
    else:
        nll = -logp.gather(1, batch.target.unsqueeze(1)).squeeze(1)
    if label_smoothing:
        nll = (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(1)
    return nll


class LogitTransformLoss(BaseLoss):
    """Cross-entropy on transformed logits ``T(f)``; subclasses implement :meth:`transform` only.

    ``label_smoothing`` in ``[0, 1)`` (default 0) smooths the target distribution (module doc).
    """

    def __init__(
        self,
        weight: ClassVector = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        validate: bool | None = None,
    ) -> None:
        super().__init__(weight, ignore_index, reduction, validate)
        self.label_smoothing = check_label_smoothing(label_smoothing)

    def transform(self, batch: LossBatch) -> Tensor:
        """``T(f)`` for ``batch.logits`` ``[N, C, ...]`` (identity here)."""
        return batch.logits

    def per_element(self, batch: LossBatch) -> Tensor:
        return cross_entropy_values(self.transform(batch), batch, self.label_smoothing)

    def extra_repr(self) -> str:
        ls = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return super().extra_repr() + ls


class WeightedCrossEntropyLoss(LogitTransformLoss):
    """Cross-entropy ``l_i = -w_{y_i} log p_{y_i}``, ``p = softmax(f(x_i))``.

    Args:
        weight: per-class weights ``[C]`` (``None``: all 1), e.g. ``acwa.weights.inverse_frequency(counts)``.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: ``sum_i w_{y_i} l_i / N``), ``'sum'``, ``'none'``
            (shape of ``target``, 0 at ignored entries) or ``'weighted_mean'``
            (``/ sum_i w_{y_i}``, equal to ``nn.CrossEntropyLoss(weight=w)``).
        label_smoothing: smoothing ``eps`` in ``[0, 1)`` (default 0).

    Targets are class indices or probability rows (soft targets, module doc).
    """


weighted_cross_entropy = functional_twin(
    WeightedCrossEntropyLoss,
    "weighted_cross_entropy",
    "``-w_y log p_y`` reduced by ``reduction`` (default ``'mean'``: / the number of non-ignored samples).",
)
