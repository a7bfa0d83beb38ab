"""Vector-scaling (VS) loss (Kini et al., "Label-Imbalanced and Group-Sensitive Classification
under Overparameterization", NeurIPS 2021).

    Delta_c = (n_c / n_max)^gamma          (multiplicative, shrinks rare classes' logits)
    iota_c  = tau * log pi_c,  pi_c = n_c / sum_k n_k   (additive, as in logit adjustment)
    l_i     = -w_{y_i} log softmax(Delta * f(x_i) + iota)_{y_i}

Defaults ``gamma = 0.3``, ``tau = 1.0``. ``gamma = 0`` gives the logit-adjusted loss (Menon et
al. 2021), ``tau = 0`` the CDT loss (Ye et al. 2020), both 0 plain cross-entropy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import (
    DEFAULT_IGNORE_INDEX,
    BaseLoss,
    ClassVector,
    check_class_vector,
    check_loss_inputs,
    class_dim_view,
    counts_vector,
    reduce_loss,
    target_log_probs,
    upcast,
)
from .logit_adjusted import _check_tau

__all__ = ["vs_parameters", "vs_loss", "VSLoss"]


def _check_vs_gamma(gamma) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 <= gamma < float("inf"):
        raise ValueError(
            f"gamma must be a finite number >= 0 (0.3 in Kini et al. 2021; 0 gives logit adjustment), got {gamma!r}"
        )
    return float(gamma)


def vs_parameters(class_counts, gamma: float = 0.3, tau: float = 1.0):
    """``(Delta, iota)`` per class: ``Delta_c = (n_c/n_max)^gamma``, ``iota_c = tau log pi_c`` (float ``[C]`` each)."""
    gamma, tau = _check_vs_gamma(gamma), _check_tau(tau)
    n = counts_vector(class_counts)
    delta = (n / n.max()).pow(gamma)
    iota = tau * (n / n.sum()).log()
    dtype = torch.get_default_dtype()
    return delta.to(dtype), iota.to(dtype)


def _vs_from_params(
    logits: Tensor,
    target: Tensor,
    delta: Tensor,
    iota: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
) -> Tensor:
    check_loss_inputs(logits, target, reduction)
    check_class_vector(delta, logits.shape[1], "class_counts")
    check_class_vector(weight, logits.shape[1], "weight")
    z = upcast(logits)
    adjusted = class_dim_view(delta, z) * z + class_dim_view(iota, z)
    logp_y, safe_target, counted = target_log_probs(adjusted, target, ignore_index)
    return reduce_loss(-logp_y, safe_target, counted, weight, reduction)


def vs_loss(
    logits: Tensor,
    target: Tensor,
    class_counts,
    gamma: float = 0.3,
    tau: float = 1.0,
    weight: Tensor | None = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    reduction: str = "mean",
) -> Tensor:
    """Functional twin of :class:`VSLoss` (``Delta``, ``iota`` recomputed from ``class_counts`` per call)."""
    delta, iota = vs_parameters(class_counts, gamma, tau)
    return _vs_from_params(logits, target, delta, iota, weight, ignore_index, reduction)


class VSLoss(BaseLoss):
    """Vector-scaling loss ``-w_y log softmax(Delta * f + iota)_y`` (Kini et al., NeurIPS 2021).

    Args:
        class_counts: training-set samples per class ``[C]``, all > 0.
        gamma: exponent of the multiplicative term ``(n_c / n_max)^gamma`` (default 0.3, >= 0).
        tau: strength of the additive term ``tau log pi_c`` (default 1.0).
        weight: per-class weights ``w`` ``[C]``.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: / number of counted samples), ``'sum'``, ``'none'`` or
            ``'weighted_mean'`` (/ sum of the samples' weights).

    ``Delta`` and ``iota`` are the buffers :attr:`delta` and :attr:`iota`.
    """

    def __init__(
        self,
        class_counts,
        gamma: float = 0.3,
        tau: float = 1.0,
        weight: ClassVector = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.gamma, self.tau = _check_vs_gamma(gamma), _check_tau(tau)
        delta, iota = vs_parameters(class_counts, gamma, tau)
        self.register_buffer("delta", delta)
        self.register_buffer("iota", iota)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return _vs_from_params(logits, target, self.delta, self.iota, self.weight, self.ignore_index, self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, tau={self.tau}, " + super().extra_repr()
