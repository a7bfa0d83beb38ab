"""Multi-label losses (inputs: :mod:`acwa.losses.sigmoid`; they also accept one-logit binary inputs).

With ``p = sigma(z)`` per label and ``y`` in {0, 1}:

* :class:`AsymmetricLoss` (``make_loss('asl')``), Ridnik et al., "Asymmetric Loss For
  Multi-Label Classification", ICCV 2021::

      p_m = max(p - m, 0)                                   (probability shifting, clip m)
      l   = -[y (1 - p)^{gamma+} log p + (1 - y) p_m^{gamma-} log(1 - p_m)]

  defaults ``gamma+ = 0``, ``gamma- = 4``, ``m = 0.05`` (the paper's multi-label setting).
  The focusing factors keep their gradient (the paper's code can detach them), and ``log p``
  is computed exactly with ``logsigmoid`` (the paper's code clamps ``p`` at ``1e-8``, which
  differs only for logits below about -18).
* :class:`DistributionBalancedLoss` (``make_loss('distribution_balanced')``), Wu et al.,
  "Distribution-Balanced Loss for Multi-Label Classification in Long-Tailed Datasets",
  ECCV 2020, as in the paper's code (``ResampleLoss`` with ``reweight_func='rebalance'``,
  ``logit_reg`` and ``focal``). From the training counts ``n_l`` (positives) and N samples:

      r_il   = (1 / n_l) / sum_k y_ik (1 / n_k)             (re-balancing ratio; inf if no positive)
      w_il   = alpha + sigmoid(beta (r_il - mu))             (smoothed re-balancing weight)
      nu_l   = kappa / lambda * log(n_l / (N - n_l))         (negative-tolerant init bias)
      z'_il  = (z_il + nu_l) * (lambda if y_il = 0 else 1)   (negative-tolerant regularisation)
      w'_il  = w_il * (1 / lambda if y_il = 0 else 1)
      l_il   = balance * w'_il * (1 - p_t)^gamma * BCE(z'_il, y_il),   p_t = exp(-BCE(z'_il, y_il))

  with the code's defaults ``alpha = 0.1``, ``beta = 10``, ``mu = 0.2`` (``map_param``),
  ``lambda = 2`` (``neg_scale``), ``kappa = 0.05`` (``init_bias``), ``gamma = 2`` and
  ``balance = 2`` (``focal``). ``gamma = 0`` and ``balance = 1`` drop the focal part.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from acwa._internal.validation import check_float
from acwa.losses.base import LossBatch, LossOptions, Unpack, functional_twin
from acwa.losses.sigmoid import NegPosCounts, SigmoidLoss, bce_values, neg_pos_counts

__all__ = ["AsymmetricLoss", "asymmetric_loss", "DistributionBalancedLoss", "distribution_balanced_loss"]


def _focus(base: Tensor, gamma: float) -> Tensor | float:
    """``base^gamma`` with a finite gradient at ``base == 0`` (1 when ``gamma == 0``)."""
    return base.clamp_min(torch.finfo(base.dtype).tiny).pow(gamma) if gamma else 1.0


class AsymmetricLoss(SigmoidLoss):
    """Asymmetric loss, ASL (Ridnik et al., ICCV 2021; formula in the module docstring).

    Args:
        gamma_pos: focusing parameter of the positive term (default 0, ``>= 0``).
        gamma_neg: focusing parameter of the negative term (default 4, ``>= 0``).
        clip: probability margin ``m`` in ``[0, 1)`` shifted off the negatives (default 0.05).
    """

    repr_fields = ("gamma_pos", "gamma_neg", "clip")

    def __init__(
        self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05, **options: Unpack[LossOptions]
    ) -> None:
        super().__init__(**options)
        self.gamma_pos = check_float(gamma_pos, "gamma_pos", min=0.0, hint="0 in Ridnik et al. 2021")
        self.gamma_neg = check_float(gamma_neg, "gamma_neg", min=0.0, hint="4 in Ridnik et al. 2021")
        self.clip = check_float(clip, "clip", min=0.0, max=1.0, max_open=True, hint="0.05 in Ridnik et al. 2021")

    def per_element(self, batch: LossBatch) -> Tensor:
        z, y = batch.logits, batch.target
        positive = _focus(torch.sigmoid(-z), self.gamma_pos) * F.logsigmoid(z)
        if self.clip:
            p_m = (torch.sigmoid(z) - self.clip).clamp_min(0.0)
            log_1m = torch.log((torch.sigmoid(-z) + self.clip).clamp(max=1.0))  # log(1 - p_m), >= log(clip)
        else:
            p_m, log_1m = torch.sigmoid(z), F.logsigmoid(-z)
        negative = _focus(p_m, self.gamma_neg) * log_1m
        return -(y * positive + (1.0 - y) * negative)


class DistributionBalancedLoss(SigmoidLoss):
    """Distribution-balanced loss (Wu et al., ECCV 2020; formula and defaults in the module docstring).

    Args:
        class_counts: training counts ``[n_neg, n_pos]`` per label, shape ``[2, L]``
            (:func:`acwa.weights.label_neg_pos_counts`), all > 0.
        neg_scale: ``lambda`` (default 2.0); init_bias: ``kappa`` (default 0.05);
        map_alpha, map_beta, map_gamma: ``alpha, beta, mu`` of the smoothing map (0.1, 10, 0.2);
        gamma, balance: focal exponent and factor (2.0, 2.0).

    Buffers: :attr:`inv_freq` ``1 / n_l`` and :attr:`init_bias` ``nu_l``.
    """

    repr_fields = ("neg_scale", "gamma", "balance")
    inv_freq: Tensor
    init_bias: Tensor

    def __init__(
        self,
        class_counts: NegPosCounts,
        neg_scale: float = 2.0,
        init_bias: float = 0.05,
        map_alpha: float = 0.1,
        map_beta: float = 10.0,
        map_gamma: float = 0.2,
        gamma: float = 2.0,
        balance: float = 2.0,
        **options: Unpack[LossOptions],
    ) -> None:
        super().__init__(**options)
        self.neg_scale = check_float(neg_scale, "neg_scale", min=0.0, min_open=True, hint="2.0 in Wu et al. 2020")
        kappa = check_float(init_bias, "init_bias", hint="0.05 in Wu et al. 2020")
        self.map_alpha = check_float(map_alpha, "map_alpha", min=0.0, hint="0.1 in Wu et al. 2020")
        self.map_beta = check_float(map_beta, "map_beta", min=0.0, hint="10 in Wu et al. 2020")
        self.map_gamma = check_float(map_gamma, "map_gamma", hint="0.2 in Wu et al. 2020")
        self.gamma = check_float(gamma, "gamma", min=0.0, hint="2 in Wu et al. 2020; 0 drops the focal term")
        self.balance = check_float(balance, "balance", min=0.0, min_open=True, hint="2 in Wu et al. 2020")
        n_neg, n_pos = neg_pos_counts(class_counts)
        dtype = torch.get_default_dtype()
        self.register_buffer("inv_freq", (1.0 / n_pos).to(dtype))
        self.register_buffer("init_bias", (kappa / self.neg_scale * (n_pos.log() - n_neg.log())).to(dtype))

    def class_vectors(self) -> dict[str, Tensor | None]:
        return {**super().class_vectors(), "class_counts": self.inv_freq}

    def rebalance_weights(self, y: Tensor) -> Tensor:
        """``w_il = alpha + sigmoid(beta (r_il - mu))`` from the batch's labels (no gradient)."""
        inv = self.label_view(self.inv_freq, LossBatch(y, y, None))
        repeat = (y * inv).sum(-1, keepdim=True) if y.dim() > 1 else y * inv
        ratio = inv / repeat.clamp_min(torch.finfo(y.dtype).tiny)  # no positive: huge ratio, weight 1 + alpha
        return self.map_alpha + torch.sigmoid(self.map_beta * (ratio - self.map_gamma))

    def per_element(self, batch: LossBatch) -> Tensor:
        y = batch.target
        negative = 1.0 - y
        z = (batch.logits + self.label_view(self.init_bias, batch)) * (y + self.neg_scale * negative)
        w = self.rebalance_weights(y) * (y + negative / self.neg_scale)
        bce = bce_values(z, y)
        focal = _focus(-torch.expm1(-bce), self.gamma)  # (1 - p_t)^gamma, p_t = exp(-BCE)
        return self.balance * w * focal * bce


asymmetric_loss = functional_twin(AsymmetricLoss, "asymmetric_loss", "ASL (Ridnik et al. 2021).")
distribution_balanced_loss = functional_twin(
    DistributionBalancedLoss, "distribution_balanced_loss", "DB loss (Wu et al. 2020)."
)
