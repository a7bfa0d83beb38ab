"""Sigmoid losses for one-logit binary models and multi-label heads (inputs: :mod:`acwa.losses.sigmoid`).

With ``p = sigma(z)`` and ``y`` in {0, 1}:

* :class:`BinaryCrossEntropyLoss` (``make_loss('bce')``), the loss of
  ``nn.BCEWithLogitsLoss(pos_weight=...)``::

      l = -[pos_weight * y log p + (1 - y) log(1 - p)]

  ``pos_weight`` is a number or one per label; ``n_neg / n_pos`` balances the classes
  (:func:`acwa.weights.pos_weight`).
* :class:`SigmoidFocalLoss` (``make_loss('sigmoid_focal')``), Lin et al., "Focal Loss for Dense
  Object Detection", ICCV 2017, RetinaNet form (as ``torchvision.ops.sigmoid_focal_loss``)::

      p_t = p y + (1 - p)(1 - y),  alpha_t = alpha y + (1 - alpha)(1 - y)
      l   = -alpha_t (1 - p_t)^gamma log p_t                (alpha=None: no alpha_t)

  defaults ``alpha = 0.25``, ``gamma = 2``.
* :class:`BinaryLogitAdjustedLoss` (``make_loss('binary_logit_adjusted')``), the two-class
  logit adjustment of Menon et al., ICLR 2021, written for one logit: with the training prior
  ``pi = n_pos / (n_neg + n_pos)`` (per label),

      l = BCE(z + tau * log(pi / (1 - pi)), y)

  which equals softmax logit adjustment of the two logits ``(0, z)``. Predict with the raw ``z``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acwa._internal.validation import check_float, check_probability
from acwa.losses.base import LossBatch, LossOptions, Unpack, check_finite_vector, functional_twin
from acwa.losses.logit_adjusted import OVERFLOW_HINT, _check_tau
from acwa.losses.sigmoid import NegPosCounts, PosWeight, SigmoidLoss, bce_values, check_pos_weight, neg_pos_counts

__all__ = [
    "BinaryCrossEntropyLoss",
    "binary_cross_entropy",
    "SigmoidFocalLoss",
    "sigmoid_focal_loss",
    "sigmoid_focal_values",
    "BinaryLogitAdjustedLoss",
    "binary_logit_adjusted_loss",
]


class BinaryCrossEntropyLoss(SigmoidLoss):
    """``-[pos_weight y log p + (1 - y) log(1 - p)]`` per element (module docstring).

    Args:
        pos_weight: weight of the positive term, a number or one per label (``>= 0``;
            ``None``: 1). ``acwa.weights.pos_weight(counts)`` gives ``n_neg / n_pos``.
        weight: per-label factor ``[L]``; ignore_index, reduction as every acwa loss.
    """

    pos_weight: Tensor | None

    def __init__(self, pos_weight: PosWeight = None, **options: Unpack[LossOptions]) -> None:
        super().__init__(**options)
        self.register_buffer("pos_weight", check_pos_weight(pos_weight))

    def class_vectors(self) -> dict[str, Tensor | None]:
        pw = self.pos_weight if self.pos_weight is not None and self.pos_weight.numel() > 1 else None
        return {**super().class_vectors(), "pos_weight": pw}

    def per_element(self, batch: LossBatch) -> Tensor:
        pw = None if self.pos_weight is None else self.label_view(self.pos_weight, batch)
        return bce_values(batch.logits, batch.target, pw)


def sigmoid_focal_values(z: Tensor, y: Tensor, alpha: float | None, gamma: float) -> Tensor:
    """Per-element RetinaNet focal loss ``-alpha_t (1 - p_t)^gamma log p_t`` (module docstring)."""
    ce = bce_values(z, y)
    if gamma:
        # 1 - p_t from sigmoids of +-z (accurate at saturation); the clamp keeps the gradient
        # of (1 - p_t)^gamma finite at 1 - p_t == 0 for gamma < 1
        one_minus_pt = torch.sigmoid(-z) * y + torch.sigmoid(z) * (1.0 - y)
        ce = ce * one_minus_pt.clamp_min(torch.finfo(z.dtype).tiny).pow(gamma)
    if alpha is None:
        return ce
    return ce * (alpha * y + (1.0 - alpha) * (1.0 - y))


class SigmoidFocalLoss(SigmoidLoss):
    """Sigmoid focal loss, RetinaNet form (Lin et al., ICCV 2017; module docstring).

    Args:
        alpha: weight of the positive class in ``[0, 1]`` (default 0.25; ``None`` disables
            ``alpha_t``, as ``alpha=-1`` in torchvision).
        gamma: focusing parameter ``>= 0`` (default 2.0; 0 and ``alpha=None`` give BCE).
    """

    repr_fields = ("alpha", "gamma")

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0, **options: Unpack[LossOptions]) -> None:
        super().__init__(**options)
        hint = "0.25 in Lin et al. 2017; None disables alpha"
        self.alpha = None if alpha is None else check_probability(alpha, "alpha", hint=hint)
        self.gamma = check_float(gamma, "gamma", min=0.0, hint="2.0 in Lin et al. 2017; 0 gives BCE")

    def per_element(self, batch: LossBatch) -> Tensor:
        return sigmoid_focal_values(batch.logits, batch.target, self.alpha, self.gamma)


class BinaryLogitAdjustedLoss(SigmoidLoss):
    """Logit-adjusted BCE ``BCE(z + tau log(pi / (1 - pi)), y)`` (Menon et al. 2021; module docstring).

    Args:
        class_counts: training counts ``[n_neg, n_pos]`` (shape ``[2]``, or ``[2, L]`` per label,
            from :func:`acwa.weights.label_neg_pos_counts`), all > 0.
        tau: adjustment strength (default 1.0; 0 gives BCE).

    The offsets ``tau log(pi / (1 - pi))`` are the buffer :attr:`offsets` ``[L]``.
    """

    repr_fields = ("tau",)
    offsets: Tensor

    def __init__(self, class_counts: NegPosCounts, tau: float = 1.0, **options: Unpack[LossOptions]) -> None:
        super().__init__(**options)
        self.tau = _check_tau(tau)
        n_neg, n_pos = neg_pos_counts(class_counts)
        log_odds = (n_pos.log() - n_neg.log()).to(torch.get_default_dtype())
        self.register_buffer("offsets", check_finite_vector(self.tau * log_odds, "offsets", OVERFLOW_HINT))

    def class_vectors(self) -> dict[str, Tensor | None]:
        return {**super().class_vectors(), "class_counts": self.offsets}

    def per_element(self, batch: LossBatch) -> Tensor:
        return bce_values(batch.logits + self.label_view(self.offsets, batch), batch.target)


binary_cross_entropy = functional_twin(
    BinaryCrossEntropyLoss, "binary_cross_entropy", "``-[pos_weight y log p + (1 - y) log(1 - p)]``."
)
sigmoid_focal_loss = functional_twin(SigmoidFocalLoss, "sigmoid_focal_loss", "``-alpha_t (1 - p_t)^gamma log p_t``.")
binary_logit_adjusted_loss = functional_twin(
    BinaryLogitAdjustedLoss, "binary_logit_adjusted_loss", "``BCE(z + tau log(pi / (1 - pi)), y)``."
)
