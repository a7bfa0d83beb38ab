"""Imbalance-aware classification losses. One template (:mod:`acwa.losses.base`): each loss
validates its inputs once, computes per-element values and hands them, with the caller's
``sample_weight``, to the one reducer (:mod:`acwa.losses.reducers`); each module has a
functional twin.

* ``WeightedCrossEntropyLoss`` / ``weighted_cross_entropy``: class-weighted CE.
* ``FocalLoss`` / ``focal_loss``: Lin et al., ICCV 2017.
* ``ClassBalancedLoss`` / ``class_balanced_loss``: Cui et al., CVPR 2019.
* ``LDAMLoss`` / ``ldam_loss`` with the ``NormedLinear`` cosine head, and the
  ``DeferredReweighting`` / ``drw_weights`` schedule: Cao et al., NeurIPS 2019.
* ``LogitAdjustedLoss`` / ``logit_adjusted_loss``, post-hoc ``logit_adjust``: Menon et al., ICLR 2021.
* ``BalancedSoftmaxLoss`` / ``balanced_softmax_loss``: Ren et al., NeurIPS 2020.
* ``VSLoss`` / ``vs_loss``: Kini et al., NeurIPS 2021.
* ``ParametricCrossEntropyLoss`` / ``parametric_cross_entropy``: Li et al. (AutoBalance), NeurIPS 2021.

:func:`make_loss` builds any of them by name and validates the options in one place.
Static class weights live in :mod:`acwa.weights`.
"""

from .base import BaseLoss, LossBatch, reduce_loss
from .class_balanced import CB_BASES, ClassBalancedLoss, class_balanced_loss
from .cross_entropy import LogitTransformLoss, WeightedCrossEntropyLoss, weighted_cross_entropy
from .factory import LOSS_NAMES, make_loss
from .focal import FocalLoss, focal_loss
from .ldam import DeferredReweighting, LDAMLoss, NormedLinear, drw_weights, ldam_loss, ldam_margins
from .logit_adjusted import (
    BalancedSoftmaxLoss,
    LogitAdjustedLoss,
    balanced_softmax_loss,
    log_prior,
    logit_adjust,
    logit_adjusted_loss,
)
from .parametric import ParametricCrossEntropyLoss, parametric_cross_entropy
from .reducers import REDUCTIONS, check_reduction, reduce_values
from .vs import VSLoss, vs_loss, vs_parameters

__all__ = [
    "REDUCTIONS",
    "check_reduction",
    "reduce_values",
    "BaseLoss",
    "LossBatch",
    "LogitTransformLoss",
    "reduce_loss",
    "WeightedCrossEntropyLoss",
    "weighted_cross_entropy",
    "FocalLoss",
    "focal_loss",
    "CB_BASES",
    "ClassBalancedLoss",
    "class_balanced_loss",
    "LDAMLoss",
    "ldam_loss",
    "ldam_margins",
    "NormedLinear",
    "DeferredReweighting",
    "drw_weights",
    "LogitAdjustedLoss",
    "logit_adjusted_loss",
    "logit_adjust",
    "log_prior",
    "BalancedSoftmaxLoss",
    "balanced_softmax_loss",
    "VSLoss",
    "vs_loss",
    "vs_parameters",
    "ParametricCrossEntropyLoss",
    "parametric_cross_entropy",
    "LOSS_NAMES",
    "make_loss",
]
