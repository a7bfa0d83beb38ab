"""Focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017), softmax form.

    FL_i = -w_{y_i} (1 - p_{y_i})^gamma log p_{y_i},   p = softmax(f(x_i))

``gamma`` is a scalar or one value per class (gamma_{y_i} is used), finite and ``>= 0``; the
per-class factor ``w`` (the paper's alpha) is the loss's ``weight``, as for every acwa loss
(``alpha=`` is its deprecated old name). gamma = 0 and no weight give plain cross-entropy.
Targets are class indices (the focusing term has no soft-target form here).
The one-logit / multi-label sigmoid form with scalar alpha is :class:`acwa.losses.SigmoidFocalLoss`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from acwa._internal.validation import check_float
from acwa.losses.base import BaseLoss, ClassVector, LossBatch, LossOptions, Unpack, as_class_vector, functional_twin

__all__ = ["focal_loss", "FocalLoss", "focal_values"]

Gamma = float | Sequence[float] | Tensor


def _check_gamma(gamma: Gamma) -> float | Tensor:
    if isinstance(gamma, Sequence) or getattr(gamma, "ndim", 0) > 0:  # one gamma per class
        g = as_class_vector(gamma, "gamma", nonnegative=False)  # type: ignore[arg-type]
        assert g is not None
        if bool((g < 0).any()):
            raise ValueError(f"gamma must be >= 0 for every class, got {g.tolist()}")
        return g
    return check_float(gamma, "gamma", min=0.0, hint="2.0 in Lin et al. 2017; 0 gives cross-entropy")


def focal_values(batch: LossBatch, gamma: float | Tensor) -> Tensor:
    """Per-element ``-(1 - p_y)^gamma_y log p_y`` for hard targets (weights: the reducer's)."""
    logp_y = torch.log_softmax(batch.logits, dim=1).gather(1, batch.target.unsqueeze(1)).squeeze(1)
    g = batch.pick(gamma) if isinstance(gamma, Tensor) else gamma
    # 1 - p = -expm1(log p) (accurate when p -> 1); clamping at the smallest normal number keeps
    # (1 - p)^gamma and its gradient finite at p == 1, also for 0 < gamma < 1 (0^0 = 1)
    one_minus_p = (-torch.expm1(logp_y)).clamp_min(torch.finfo(logp_y.dtype).tiny)
    modulating = one_minus_p.pow(g) if not (isinstance(g, float) and g == 0.0) else 1.0
    return -modulating * logp_y


class FocalLoss(BaseLoss):
    """Focal loss module. ``FocalLoss(gamma=2.0, weight=None, reduction='mean')``.

    ``l_i = -(1 - p_{y_i})^{gamma_{y_i}} log p_{y_i}`` (Lin et al., ICCV 2017), then the
    per-class ``weight`` (the paper's alpha_t), the caller's ``sample_weight`` and the reduction.

    ``reduction='mean'`` (default) divides by the number of counted samples; see
    :mod:`acwa.losses.reducers` for ``'none'``, ``'sum'`` and ``'weighted_mean'``.
    """

    soft_targets = False
    gamma: float | Tensor

    def __init__(self, gamma: Gamma = 2.0, alpha: ClassVector = None, **options: Unpack[LossOptions]) -> None:
        if alpha is not None:
            if options.get("weight") is not None:
                raise ValueError("pass the per-class factor as weight= only (alpha= is its deprecated name), not both")
            warnings.warn("FocalLoss(alpha=w) is deprecated; use FocalLoss(weight=w)", DeprecationWarning, stacklevel=2)
            options["weight"] = alpha
        super().__init__(**options)
        g = _check_gamma(gamma)
        if isinstance(g, Tensor):
            self.register_buffer("gamma", g)
        else:
            self.gamma = g

    @property
    def alpha(self) -> Tensor | None:
        """Deprecated name of :attr:`weight`."""
        return self.weight

    def class_vectors(self) -> dict[str, Tensor | None]:
        gamma = self.gamma if isinstance(self.gamma, Tensor) else None
        return {**super().class_vectors(), "gamma": gamma}

    def per_element(self, batch: LossBatch) -> Tensor:
        return focal_values(batch, self.gamma)


focal_loss = functional_twin(FocalLoss, "focal_loss", "``-w_y (1 - p_y)^gamma log p_y`` (module docstring).")
