"""Focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017).

    FL_i = -alpha_{y_i} (1 - p_{y_i})^gamma log p_{y_i},   p = softmax(f(x_i))

``gamma`` is a scalar or one value per class (gamma_{y_i} is used); ``alpha`` is an optional
per-class factor. gamma = 0 and alpha = None give plain cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
from torch import Tensor

from .base import (
    DEFAULT_IGNORE_INDEX,
    BaseLoss,
    ClassVector,
    as_class_vector,
    check_class_vector,
    check_loss_inputs,
    reduce_loss,
    target_log_probs,
)

__all__ = ["focal_loss", "FocalLoss"]

Gamma = Union[float, Sequence[float], Tensor]


def _check_gamma(gamma: Gamma) -> float | Tensor:
    if isinstance(gamma, (int, float)) and not isinstance(gamma, bool):
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0 (0 gives cross-entropy), got {gamma}")
        return float(gamma)
    g = as_class_vector(gamma, "gamma")
    if bool((g < 0).any()):
        raise ValueError(f"gamma must be >= 0 for every class, got {g.tolist()}")
    return g


def focal_loss(
    logits: Tensor,
    target: Tensor,
    gamma: Gamma = 2.0,
    alpha: ClassVector = None,
    weight: Tensor | None = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    reduction: str = "mean",
) -> Tensor:
    """Functional focal loss; see the module docstring and :func:`acwa.losses.base.reduce_loss`."""
    check_loss_inputs(logits, target, reduction)
    gamma = _check_gamma(gamma) if not isinstance(gamma, Tensor) else gamma
    num_classes = logits.shape[1]
    check_class_vector(weight, num_classes, "weight")
    check_class_vector(alpha, num_classes, "alpha")
    if isinstance(gamma, Tensor):
        check_class_vector(gamma, num_classes, "gamma")
    logp_y, safe_target, counted = target_log_probs(logits, target, ignore_index)
    if isinstance(gamma, Tensor):
        g = gamma.to(device=logp_y.device, dtype=logp_y.dtype)[safe_target]
    else:
        g = gamma
    # 1 - p = -expm1(log p) (accurate when p -> 1); clamping at the smallest normal number keeps
    # (1 - p)^gamma and its gradient finite at p == 1, also for 0 < gamma < 1 (0^0 = 1)
    one_minus_p = (-torch.expm1(logp_y)).clamp_min(torch.finfo(logp_y.dtype).tiny)
    modulating = one_minus_p.pow(g) if not (isinstance(g, float) and g == 0.0) else 1.0
    loss = -modulating * logp_y
    if alpha is not None:
        a = torch.as_tensor(alpha, dtype=loss.dtype, device=loss.device)
        loss = loss * a[safe_target]
    return reduce_loss(loss, safe_target, counted, weight, reduction)


class FocalLoss(BaseLoss):
    """Focal loss module. ``FocalLoss(gamma=2.0, alpha=None, weight=None, reduction='mean')``.

    ``l_i = -alpha_{y_i} (1 - p_{y_i})^{gamma_{y_i}} log p_{y_i}`` (Lin et al., ICCV 2017), then
    the per-class ``weight`` and the reduction. ``gamma`` >= 0, a scalar or one per class.

    ``reduction='mean'`` (default) divides by the number of counted samples; see
    :mod:`acwa.losses.base` for ``'none'``, ``'sum'`` and ``'weighted_mean'``.
    """

    def __init__(
        self,
        gamma: Gamma = 2.0,
        alpha: ClassVector = None,
        weight: ClassVector = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        g = _check_gamma(gamma)
        if isinstance(g, Tensor):
            self.register_buffer("gamma", g)
        else:
            self.gamma = g
        self.register_buffer("alpha", as_class_vector(alpha, "alpha"))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return focal_loss(logits, target, self.gamma, self.alpha, self.weight, self.ignore_index, self.reduction)
