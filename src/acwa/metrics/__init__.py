"""``acwa.metrics``: streaming per-class counts (tp, fp, fn) and the metrics read from them
(F1, recall, precision, balanced accuracy), plus ranking metrics (average precision, ROC-AUC,
mAP) for binary and multi-label scores, calibration metrics (top-label and classwise ECE, Brier
score, log-loss) and bootstrap intervals (one score, or the paired difference of two methods)."""

from ._bootstrap import Interval, bootstrap_interval, paired_bootstrap
from ._calibration import brier_score, classwise_ece, log_loss, reliability_bins, top_label_ece
from ._ranking import (
    average_precision,
    binary_average_precision,
    binary_roc_auc,
    mean_average_precision,
    multilabel_f1,
    multilabel_stat_scores,
    roc_auc,
)
from ._stat_scores import (
    METRICS,
    ClassStatScores,
    balanced_accuracy,
    f1_from_counts,
    macro_f1,
    per_class_metric,
    precision_from_counts,
    recall_from_counts,
    stat_scores,
)

__all__ = [
    "ClassStatScores",
    "METRICS",
    "stat_scores",
    "precision_from_counts",
    "recall_from_counts",
    "f1_from_counts",
    "per_class_metric",
    "balanced_accuracy",
    "macro_f1",
    "average_precision",
    "roc_auc",
    "binary_average_precision",
    "binary_roc_auc",
    "mean_average_precision",
    "multilabel_stat_scores",
    "multilabel_f1",
    "top_label_ece",
    "classwise_ece",
    "brier_score",
    "log_loss",
    "reliability_bins",
    "Interval",
    "bootstrap_interval",
    "paired_bootstrap",
]
