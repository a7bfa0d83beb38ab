"""Class-weighted cross-entropy with an explicit reduction.

    l_i = -w_{y_i} log softmax(f(x_i))_{y_i}

With ``reduction='mean'`` (the default) the sum is divided by the number of counted samples
N, not by ``sum_i w_{y_i}`` as PyTorch's ``nn.CrossEntropyLoss(weight=w)`` does; the latter is
``reduction='weighted_mean'``. Dividing by N keeps one loss scale across batches, gradient
accumulation and DDP ranks (pytorch issues #25571, #40560, #8062). Static weights come from
:mod:`acwa.weights` (e.g. inverse frequency, or the effective number of Cui et al. 2019).
"""

from __future__ import annotations

from torch import Tensor

from .base import (
    DEFAULT_IGNORE_INDEX,
    BaseLoss,
    ClassVector,
    check_class_vector,
    check_loss_inputs,
    reduce_loss,
    target_log_probs,
)

__all__ = ["weighted_cross_entropy", "WeightedCrossEntropyLoss"]


def weighted_cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    reduction: str = "mean",
) -> Tensor:
    """Functional twin of :class:`WeightedCrossEntropyLoss`: ``-w_y log p_y`` reduced by
    ``reduction`` (default ``'mean'``: divided by the number of non-ignored samples)."""
    check_loss_inputs(logits, target, reduction)
    check_class_vector(weight, logits.shape[1], "weight")
    logp_y, safe_target, counted = target_log_probs(logits, target, ignore_index)
    return reduce_loss(-logp_y, safe_target, counted, weight, reduction)


class WeightedCrossEntropyLoss(BaseLoss):
    """Cross-entropy ``l_i = -w_{y_i} log p_{y_i}``, ``p = softmax(f(x_i))``.

    Args:
        weight: per-class weights ``[C]`` (``None``: all 1), e.g. ``acwa.weights.inverse_frequency(counts)``.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: ``sum_i w_{y_i} l_i / N``), ``'sum'``, ``'none'``
            (shape of ``target``, 0 at ignored entries) or ``'weighted_mean'``
            (``/ sum_i w_{y_i}``, equal to ``nn.CrossEntropyLoss(weight=w)``).
    """

    def __init__(
        self, weight: ClassVector = None, ignore_index: int = DEFAULT_IGNORE_INDEX, reduction: str = "mean"
    ) -> None:
        super().__init__(weight, ignore_index, reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return weighted_cross_entropy(logits, target, self.weight, self.ignore_index, self.reduction)
