"""Class-balanced loss (Cui et al., "Class-Balanced Loss Based on Effective Number of
Samples", CVPR 2019).

    w^CB_c = (1 - beta) / (1 - beta^{n_c}),  normalised so that sum_c w^CB_c = C
    l_i    = w^CB_{y_i} * L_base(f(x_i), y_i)

with ``L_base`` one of

* ``'ce'``:      ``-log softmax(f)_y``
* ``'focal'``:   ``-(1 - p_y)^gamma log p_y``, ``p = softmax(f)`` (softmax focal, as :class:`FocalLoss`)
* ``'sigmoid'``: ``sum_c BCE(sigma(f_c), 1[c = y])``, one-vs-all sigmoid summed over classes

The class-balanced weights act as a per-class ``weight`` (multiplied with an optional user
``weight``), so ``reduction='weighted_mean'`` with ``base='ce'`` equals
``nn.CrossEntropyLoss(weight=w^CB)``. ``n_c`` are the training-set counts
(:func:`acwa.weights.class_counts`), never a batch's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..weights import effective_number
from .base import (
    DEFAULT_IGNORE_INDEX,
    BaseLoss,
    ClassVector,
    check_class_vector,
    check_loss_inputs,
    counts_vector,
    reduce_loss,
    target_log_probs,
    upcast,
)
from .focal import Gamma, _check_gamma, focal_loss

__all__ = ["CB_BASES", "class_balanced_loss", "ClassBalancedLoss"]

CB_BASES = ("ce", "focal", "sigmoid")


def _cb_weights(class_counts, beta: float) -> Tensor:
    return effective_number(counts_vector(class_counts), beta=beta, normalize="sum_to_C")


def _check_base(base: str) -> str:
    if base not in CB_BASES:
        raise ValueError(f"base must be one of {list(CB_BASES)}, got {base!r}")
    return base


def _combine(cb: Tensor, weight: Tensor | None) -> Tensor:
    return cb if weight is None else cb * weight.to(device=cb.device, dtype=cb.dtype)


def _cb_from_weights(
    logits: Tensor,
    target: Tensor,
    cb: Tensor,
    base: str,
    gamma,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
) -> Tensor:
    check_loss_inputs(logits, target, reduction)
    check_class_vector(cb, logits.shape[1], "class_counts")
    check_class_vector(weight, logits.shape[1], "weight")
    w = _combine(cb.to(logits.device), weight)
    if base == "ce":
        logp_y, safe_target, counted = target_log_probs(logits, target, ignore_index)
        return reduce_loss(-logp_y, safe_target, counted, w, reduction)
    if base == "focal":
        return focal_loss(logits, target, gamma, None, w, ignore_index, reduction)
    # sigmoid: one-vs-all binary cross-entropy summed over the class dimension
    z = upcast(logits)
    counted = target != ignore_index
    safe_target = torch.where(counted, target, torch.zeros_like(target))
    onehot = torch.zeros_like(z).scatter_(1, safe_target.unsqueeze(1), 1.0)
    per_elem = F.binary_cross_entropy_with_logits(z, onehot, reduction="none").sum(1)
    return reduce_loss(per_elem, safe_target, counted, w, reduction)


def class_balanced_loss(
    logits: Tensor,
    target: Tensor,
    class_counts,
    beta: float = 0.9999,
    base: str = "ce",
    gamma: Gamma = 2.0,
    weight: Tensor | None = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    reduction: str = "mean",
) -> Tensor:
    """Functional twin of :class:`ClassBalancedLoss` (weights recomputed from ``class_counts``
    on each call; use the module in a training loop). ``gamma`` is used only by ``base='focal'``."""
    _check_base(base)
    g = _check_gamma(gamma) if not isinstance(gamma, Tensor) else gamma
    cb = _cb_weights(class_counts, beta)
    return _cb_from_weights(logits, target, cb, base, g, weight, ignore_index, reduction)


class ClassBalancedLoss(BaseLoss):
    """Class-balanced loss ``w^CB_{y_i} * L_base`` (Cui et al. 2019; formula in the module doc).

    Args:
        class_counts: training-set samples per class ``[C]``, all > 0.
        beta: effective-number hyper-parameter in ``[0, 1)`` (default 0.9999; 0 gives the base loss).
        base: ``'ce'`` (default), ``'focal'`` or ``'sigmoid'``.
        gamma: focusing parameter for ``base='focal'`` (default 2.0; >= 0, scalar or per class).
        weight: extra per-class weights, multiplied with ``w^CB``.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: sum over counted samples / their number N), ``'sum'``,
            ``'none'`` or ``'weighted_mean'`` (/ sum of the samples' ``w^CB * weight``).

    The class-balanced weights are the buffer :attr:`cb_weights`.
    """

    def __init__(
        self,
        class_counts,
        beta: float = 0.9999,
        base: str = "ce",
        gamma: Gamma = 2.0,
        weight: ClassVector = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.base = _check_base(base)
        self.beta = beta
        g = _check_gamma(gamma)
        if isinstance(g, Tensor):
            self.register_buffer("gamma", g)
        else:
            self.gamma = g
        self.register_buffer("cb_weights", _cb_weights(class_counts, beta))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return _cb_from_weights(
            logits, target, self.cb_weights, self.base, self.gamma, self.weight, self.ignore_index, self.reduction
        )

    def extra_repr(self) -> str:
        return f"base={self.base!r}, beta={self.beta}, " + super().extra_repr()
