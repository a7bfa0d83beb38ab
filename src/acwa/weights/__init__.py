"""``acwa.weights``: counts and priors of the training labels, and static class weights
computed once from them (inverse frequency, effective number, median frequency, ``pos_weight``).
Counts come from the whole training set, never from a batch."""

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
from ._counts import Counts, check_counts, class_counts, label_counts, log_prior, positive_counts

__all__ = [
    "Counts",
    "class_counts",
    "label_counts",
    "positive_counts",
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
