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

from acwa._internal.validation import check_float
from acwa.losses.base import LossBatch, Unpack, check_finite_vector, class_dim_view, counts_vector, functional_twin
from acwa.losses.cross_entropy import CEOptions, LogitTransformLoss
from acwa.losses.logit_adjusted import OVERFLOW_HINT, _check_tau

__all__ = ["vs_parameters", "vs_loss", "VSLoss"]


def _check_vs_gamma(gamma) -> float:
    return check_float(gamma, "gamma", min=0.0, hint="0.3 in Kini et al. 2021; 0 gives logit adjustment")


def vs_parameters(class_counts, gamma: float = 0.3, tau: float = 1.0) -> tuple[Tensor, Tensor]:
    """``(Delta, iota)`` per class: ``Delta_c = (n_c/n_max)^gamma``, ``iota_c = tau log pi_c`` (float ``[C]`` each)."""
    gamma, tau = _check_vs_gamma(gamma), _check_tau(tau)
    n = counts_vector(class_counts)
    delta = (n / n.max()).pow(gamma)
    iota = tau * (n / n.sum()).log()
    dtype = torch.get_default_dtype()
    return delta.to(dtype), check_finite_vector(iota.to(dtype), "iota = tau * log pi", OVERFLOW_HINT)


class VSLoss(LogitTransformLoss):
    """Vector-scaling loss ``-w_y log softmax(Delta * f + iota)_y`` (Kini et al., NeurIPS 2021).

    Args:
        class_counts: training-set samples per class ``[C]``, all > 0.
        gamma: exponent of the multiplicative term ``(n_c / n_max)^gamma`` (default 0.3, >= 0).
        tau: strength of the additive term ``tau log pi_c`` (default 1.0).
        weight: per-class weights ``w`` ``[C]``.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: / number of counted samples), ``'sum'``, ``'none'`` or
            ``'weighted_mean'`` (/ sum of the samples' weights).
        label_smoothing: smoothing ``eps`` of the CE target (default 0).

    ``Delta`` and ``iota`` are the buffers :attr:`delta` and :attr:`iota`.
    """

    repr_fields = ("gamma", "tau")

    delta: Tensor
    iota: Tensor

    def __init__(self, class_counts, gamma: float = 0.3, tau: float = 1.0, **options: Unpack[CEOptions]) -> None:
        super().__init__(**options)
        delta, iota = vs_parameters(class_counts, gamma, tau)
        self.gamma, self.tau = float(gamma), float(tau)
        self.register_buffer("delta", delta)
        self.register_buffer("iota", iota)

    def class_vectors(self) -> dict[str, Tensor | None]:
        return {**super().class_vectors(), "class_counts": self.delta}

    def transform(self, batch: LossBatch) -> Tensor:
        z = batch.logits
        return class_dim_view(self.delta, z) * z + class_dim_view(self.iota, z)


vs_loss = functional_twin(
    VSLoss,
    "vs_loss",
    "``-log softmax(Delta f + iota)_y`` (``Delta``, ``iota`` recomputed per call).",
)
