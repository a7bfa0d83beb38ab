"""Logit adjustment (Menon et al., "Long-Tail Learning via Logit Adjustment", ICLR 2021) and
Balanced Softmax (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition",
NeurIPS 2020).

    pi_c = n_c / sum_k n_k                                  (training-set class prior)
    logit-adjusted loss:  l_i = -w_{y_i} log softmax(f(x_i) + tau * log pi)_{y_i}
    post-hoc adjustment:  predict argmax_c  f_c(x) - tau * log pi_c
    balanced softmax:     l_i = -w_{y_i} log [ n_{y_i} e^{f_{y_i}} / sum_c n_c e^{f_c} ]
                              = -w_{y_i} log softmax(f(x_i) + log n)_{y_i}

Balanced Softmax equals the logit-adjusted loss with ``tau = 1`` (``log n`` and ``log pi``
differ by a constant, which softmax ignores). ``tau = 0`` gives plain cross-entropy.
At inference, a model trained with either loss is used with its raw logits ``f``; a model
trained with plain CE is corrected post hoc with :func:`logit_adjust`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acwa._internal.validation import check_float
from acwa.losses.base import (
    LossBatch,
    Unpack,
    check_class_vector,
    check_finite_vector,
    class_dim_view,
    counts_vector,
    functional_twin,
)
from acwa.losses.cross_entropy import CEOptions, LogitTransformLoss
from acwa.weights import log_prior

__all__ = [
    "log_prior",
    "logit_adjust",
    "logit_adjusted_loss",
    "LogitAdjustedLoss",
    "balanced_softmax_loss",
    "BalancedSoftmaxLoss",
    "ShiftedSoftmaxLoss",
]

OVERFLOW_HINT = "use a smaller tau (1.0 in Menon et al. 2021)"


def _check_tau(tau) -> float:
    return check_float(tau, "tau", hint="1.0 in Menon et al. 2021; 0 gives plain CE")


def logit_adjust(logits: Tensor, class_counts, tau: float = 1.0) -> Tensor:
    """Post-hoc logit adjustment (Menon et al. 2021): ``f_c(x) - tau * log pi_c``.

    Apply to the logits of a model trained with plain (or weighted) CE, then take the argmax
    for balanced-error predictions. ``logits`` is ``[N, C]`` or ``[N, C, d1, ...]``; the result
    keeps its dtype and device. ``class_counts`` are training-set counts (all > 0).
    """
    tau = _check_tau(tau)
    if not isinstance(logits, Tensor) or logits.dim() < 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"logits must have shape [N, C] or [N, C, d1, ...], got {shape}")
    lp = log_prior(class_counts)
    check_class_vector(lp, logits.shape[1], "class_counts")
    return logits - tau * class_dim_view(lp, logits)


class ShiftedSoftmaxLoss(LogitTransformLoss):
    """``-w_y log softmax(f + b)_y`` for a fixed per-class shift ``b`` (the buffer :attr:`offsets`).

    The common base of :class:`LogitAdjustedLoss` (``b = tau log pi``) and
    :class:`BalancedSoftmaxLoss` (``b = log n``).
    """

    offsets: Tensor

    def set_offsets(self, offsets: Tensor) -> None:
        """Register the shift ``b`` as the buffer :attr:`offsets` (finite in float32, else ``ValueError``)."""
        self.register_buffer("offsets", check_finite_vector(offsets, "offsets", OVERFLOW_HINT))

    def class_vectors(self) -> dict[str, Tensor | None]:
        return {**super().class_vectors(), "class_counts": self.offsets}

    def transform(self, batch: LossBatch) -> Tensor:
        return batch.logits + class_dim_view(self.offsets, batch.logits)


class LogitAdjustedLoss(ShiftedSoftmaxLoss):
    """Logit-adjusted cross-entropy (Menon et al., ICLR 2021): ``-w_y log softmax(f + tau log pi)_y``.

    Args:
        class_counts: training-set samples per class ``[C]``, all > 0.
        tau: adjustment strength (default 1.0; 0 gives plain CE).
        weight: per-class weights ``[C]``.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: / number of counted samples), ``'sum'``, ``'none'`` or
            ``'weighted_mean'`` (/ sum of the samples' weights).
        label_smoothing: smoothing ``eps`` of the CE target (default 0).

    The additive offsets ``tau * log pi`` are the buffer :attr:`offsets`. Predict with the raw
    logits (the adjustment only shapes training).
    """

    repr_fields = ("tau",)

    def __init__(self, class_counts, tau: float = 1.0, **options: Unpack[CEOptions]) -> None:
        super().__init__(**options)
        self.tau = _check_tau(tau)
        self.set_offsets(self.tau * log_prior(class_counts))


class BalancedSoftmaxLoss(ShiftedSoftmaxLoss):
    """Balanced Softmax (Ren et al., NeurIPS 2020): ``-w_y log [n_y e^{f_y} / sum_c n_c e^{f_c}]``.

    Args:
        class_counts: training-set samples per class ``[C]``, all > 0.
        weight: per-class weights ``[C]``.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: / number of counted samples), ``'sum'``, ``'none'`` or
            ``'weighted_mean'`` (/ sum of the samples' weights).
        label_smoothing: smoothing ``eps`` of the CE target (default 0).

    The offsets ``log n_c`` are the buffer :attr:`offsets`.
    """

    def __init__(self, class_counts, **options: Unpack[CEOptions]) -> None:
        super().__init__(**options)
        self.set_offsets(counts_vector(class_counts).log().to(torch.get_default_dtype()))


logit_adjusted_loss = functional_twin(LogitAdjustedLoss, "logit_adjusted_loss", "``-log softmax(f + tau log pi)_y``.")
balanced_softmax_loss = functional_twin(BalancedSoftmaxLoss, "balanced_softmax_loss", "``-log softmax(f + log n)_y``.")
