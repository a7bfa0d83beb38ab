"""``acwa.weights``: counts and priors of the training labels, and static class weights
computed once from them (inverse frequency, effective number, median frequency, ``pos_weight``).
Counts come from the whole training set, never from a batch.

- :func:`class_counts`: samples per class ``[C]`` from class indices (binary 0/1 labels: ``[2]``);
- :func:`label_positive_counts`: positives per label ``[L]`` from multi-hot labels ``[N, L]``;
- :func:`label_neg_pos_counts`: ``[2, L]`` negatives and positives per label (binary: ``[2, 1]``),
  the form every ``class_counts=`` of a one-logit or multi-label model takes.
"""

from acwa._internal.deprecation import deprecated_names

from ._class_weights import (
    NORMALIZATIONS,
    WEIGHTINGS,
    ZERO_COUNT_RULES,
    class_weights,
    effective_number,
    inverse_frequency,
    median_frequency,
    normalize_weights,
    pos_weight,
)
from ._counts import Counts, check_counts, class_counts, label_neg_pos_counts, label_positive_counts, log_prior

__all__ = [
    "Counts",
    "class_counts",
    "label_positive_counts",
    "label_neg_pos_counts",
    "check_counts",
    "log_prior",
    "class_weights",
    "inverse_frequency",
    "effective_number",
    "median_frequency",
    "pos_weight",
    "normalize_weights",
    "WEIGHTINGS",
    "NORMALIZATIONS",
    "ZERO_COUNT_RULES",
]

__getattr__ = deprecated_names(
    "acwa.weights",
    {
        "label_counts": (lambda: label_positive_counts, "acwa.weights.label_positive_counts (same [L] result)"),
        "positive_counts": (lambda: label_neg_pos_counts, "acwa.weights.label_neg_pos_counts (same [2, L] result)"),
    },
)
