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

Binary one-logit and multi-label (sigmoid) losses:

* ``BinaryCrossEntropyLoss`` / ``binary_cross_entropy``: BCE with ``pos_weight``.
* ``SigmoidFocalLoss`` / ``sigmoid_focal_loss``: Lin et al., ICCV 2017 (RetinaNet form).
* ``BinaryLogitAdjustedLoss`` / ``binary_logit_adjusted_loss``: Menon et al., ICLR 2021, one logit.
* ``AsymmetricLoss`` / ``asymmetric_loss``: Ridnik et al., ICCV 2021.
* ``DistributionBalancedLoss`` / ``distribution_balanced_loss``: Wu et al., ECCV 2020.

:func:`make_loss` builds any of them by name and validates the options in one place.
Static class weights live in :mod:`acwa.weights`.
"""

from acwa.losses.base import BaseLoss, LossBatch
from acwa.losses.binary import (
    BinaryCrossEntropyLoss,
    BinaryLogitAdjustedLoss,
    SigmoidFocalLoss,
    binary_cross_entropy,
    binary_logit_adjusted_loss,
    sigmoid_focal_loss,
)
from acwa.losses.class_balanced import CB_BASES, ClassBalancedLoss, class_balanced_loss
from acwa.losses.cross_entropy import LogitTransformLoss, WeightedCrossEntropyLoss, weighted_cross_entropy
from acwa.losses.factory import LOSS_NAMES, SIGMOID_LOSS_NAMES, LossSpec, list_losses, make_loss, register_loss
from acwa.losses.focal import FocalLoss, focal_loss
from acwa.losses.ldam import DeferredReweighting, LDAMLoss, NormedLinear, drw_weights, ldam_loss, ldam_margins
from acwa.losses.logit_adjusted import (
    BalancedSoftmaxLoss,
    LogitAdjustedLoss,
    balanced_softmax_loss,
    logit_adjust,
    logit_adjusted_loss,
)
from acwa.losses.multilabel import AsymmetricLoss, DistributionBalancedLoss, asymmetric_loss, distribution_balanced_loss
from acwa.losses.parametric import ParametricCrossEntropyLoss, parametric_cross_entropy
from acwa.losses.reducers import REDUCTIONS, check_reduction, reduce_values
from acwa.losses.vs import VSLoss, vs_loss, vs_parameters

__all__ = [
    "REDUCTIONS",
    "check_reduction",
    "reduce_values",
    "BaseLoss",
    "LossBatch",
    "LogitTransformLoss",
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
    "BalancedSoftmaxLoss",
    "balanced_softmax_loss",
    "VSLoss",
    "vs_loss",
    "vs_parameters",
    "ParametricCrossEntropyLoss",
    "parametric_cross_entropy",
    "BinaryCrossEntropyLoss",
    "binary_cross_entropy",
    "SigmoidFocalLoss",
    "sigmoid_focal_loss",
    "BinaryLogitAdjustedLoss",
    "binary_logit_adjusted_loss",
    "AsymmetricLoss",
    "asymmetric_loss",
    "DistributionBalancedLoss",
    "distribution_balanced_loss",
    "LOSS_NAMES",
    "SIGMOID_LOSS_NAMES",
    "make_loss",
    "register_loss",
    "list_losses",
    "LossSpec",
]
