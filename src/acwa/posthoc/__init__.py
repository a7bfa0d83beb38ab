"""``acwa.posthoc``: decisions after training, fitted on held-out or cross-fitted logits: a
per-class logit bias (:func:`fit_class_bias`, :func:`cross_fitted_logits`), a binary decision
threshold (:func:`tune_threshold`), calibration (:class:`Calibrator`: temperature, vector and
bias scaling), prior shift (:func:`shift_prior`, :func:`correct_prior`, EM
:func:`estimate_prior`) and cost-aware decisions (:func:`bayes_decision`, :func:`fit_cost_bias`)."""

from ._calibration import CALIBRATION_METHODS, Calibrator, fit_temperature
from ._costs import CostBias, bayes_decision, check_costs, expected_cost, fit_cost_bias
from ._decisions import cross_fitted_logits, fit_class_bias
from ._prior import check_prior, correct_prior, estimate_prior, shift_prior
from ._threshold import THRESHOLD_OBJECTIVES, ThresholdResult, binary_scores, tune_threshold

__all__ = [
    "fit_class_bias",
    "cross_fitted_logits",
    "tune_threshold",
    "ThresholdResult",
    "binary_scores",
    "THRESHOLD_OBJECTIVES",
    "Calibrator",
    "CALIBRATION_METHODS",
    "fit_temperature",
    "shift_prior",
    "correct_prior",
    "estimate_prior",
    "check_prior",
    "bayes_decision",
    "expected_cost",
    "check_costs",
    "fit_cost_bias",
    "CostBias",
]
