"""``acwa.adaptive``: the adaptive trainer (ACWA) and its parts.

- :class:`ACWATrainer`: the seed README's API (``get_weighted_loss``, ``update_metrics``,
  ``weights``, ``weight_history``, ``state_dict``), a facade over the three parts below.
- The **controller** (:class:`AdaptiveClassWeights`, :func:`acwa_update`): the update rule
  ``w <- clip(beta*w + (1-beta)*(w + alpha*(target - metric_c)), lo, hi)`` and its presets.
- The **metric window** (:func:`make_window`): streaming per-class counts between two updates,
  or a user's callable / torchmetrics object.
- The **loss weighting** (:class:`ClassWeightedLoss`): per-sample weights from class weights,
  one reduction.
- :class:`EarlyStopping` and :func:`evaluate` (a model over a loader, eval mode, no grad).
"""

from acwa._internal.deprecation import deprecated_names

from ._controller import (
    ADJUST_MODES,
    METRIC_MODES,
    PRESETS,
    AdaptiveClassWeights,
    acwa_update,
    apply_preset,
    initial_weights,
    log_prior_offsets,
    metric_error,
    offset_update,
)
from ._early_stopping import EarlyStopping
from ._evaluation import evaluate, logits_of
from ._loss_weighting import ClassWeightedLoss
from ._trainer import ACWATrainer
from ._window import (
    UPDATE_ON,
    MetricWindow,
    check_update_on,
    make_window,
)

__all__ = [
    "ACWATrainer",
    "AdaptiveClassWeights",
    "acwa_update",
    "offset_update",
    "metric_error",
    "log_prior_offsets",
    "initial_weights",
    "apply_preset",
    "PRESETS",
    "METRIC_MODES",
    "ADJUST_MODES",
    "EarlyStopping",
    "evaluate",
    "logits_of",
    "ClassWeightedLoss",
    "MetricWindow",
    "make_window",
    "UPDATE_ON",
    "check_update_on",
]

__getattr__ = deprecated_names(
    "acwa.adaptive",
    {
        "inverse_frequency_init": (
            lambda: initial_weights,
            "acwa.adaptive.initial_weights (or acwa.weights.inverse_frequency)",
        )
    },
)
