"""acwa: make deep classifiers work on imbalanced data.

- :class:`ACWATrainer`: adaptive class weights (and logit offsets) that follow a live per-class
  metric; :mod:`acwa.adaptive` holds the trainer and its parts (controller, window, loss weighting).
- :mod:`acwa.tasks`: the one task notion (multiclass, binary one-logit, multi-label).
- :mod:`acwa.losses` (focal, class-balanced, LDAM-DRW, logit adjustment, balanced softmax, VS,
  parametric CE; :func:`make_loss`), :mod:`acwa.weights` (static class weights).
- :mod:`acwa.sampling` (class-balanced and distributed samplers, over/under-sampling, SMOTE,
  generative oversampling), :mod:`acwa.autobalance` (bilevel loss tuning).
- :mod:`acwa.posthoc` (a per-class logit bias fitted on held-out or cross-fitted logits; a
  binary decision threshold), :mod:`acwa.auto` (choose the method per dataset by cross-fitting,
  or the head after one training), :mod:`acwa.heads` (decoupled heads: cRT, tau-norm, LWS, NCM,
  weight balancing).
- :mod:`acwa.metrics` (streaming per-class counts), :mod:`acwa.splits`, :class:`EarlyStopping`.
- :mod:`acwa.integrations` (Lightning, Hugging Face, Keras), :mod:`acwa.data` and
  :mod:`acwa.bench` (the ``acwa bench`` command).
"""

from . import adaptive, auto, heads, losses, metrics, posthoc, tasks, weights
from .adaptive import ACWATrainer, AdaptiveClassWeights, EarlyStopping, acwa_update
from .losses import (
    AsymmetricLoss,
    BalancedSoftmaxLoss,
    BinaryCrossEntropyLoss,
    BinaryLogitAdjustedLoss,
    ClassBalancedLoss,
    DeferredReweighting,
    DistributionBalancedLoss,
    FocalLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    NormedLinear,
    ParametricCrossEntropyLoss,
    SigmoidFocalLoss,
    VSLoss,
    WeightedCrossEntropyLoss,
    logit_adjust,
    make_loss,
)
from .splits import stratified_split

__version__ = "0.1.0"

__all__ = [
    "ACWATrainer",
    "AdaptiveClassWeights",
    "acwa_update",
    "EarlyStopping",
    "stratified_split",
    "make_loss",
    "FocalLoss",
    "WeightedCrossEntropyLoss",
    "ClassBalancedLoss",
    "LDAMLoss",
    "NormedLinear",
    "DeferredReweighting",
    "LogitAdjustedLoss",
    "BalancedSoftmaxLoss",
    "VSLoss",
    "ParametricCrossEntropyLoss",
    "BinaryCrossEntropyLoss",
    "SigmoidFocalLoss",
    "BinaryLogitAdjustedLoss",
    "AsymmetricLoss",
    "DistributionBalancedLoss",
    "logit_adjust",
    "adaptive",
    "auto",
    "heads",
    "losses",
    "metrics",
    "posthoc",
    "tasks",
    "weights",
    "__version__",
]
