"""``acwa.posthoc``: decisions after training, fitted on held-out or cross-fitted logits: a
per-class logit bias (:func:`fit_class_bias`, :func:`cross_fitted_logits`) and a binary decision
threshold (:func:`tune_threshold`)."""

from ._decisions import (
    THRESHOLD_OBJECTIVES,
    ThresholdResult,
    binary_scores,
    cross_fitted_logits,
    fit_class_bias,
    tune_threshold,
)

__all__ = [
    "fit_class_bias",
    "cross_fitted_logits",
    "tune_threshold",
    "ThresholdResult",
    "binary_scores",
    "THRESHOLD_OBJECTIVES",
]
