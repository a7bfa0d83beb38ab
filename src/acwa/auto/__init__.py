"""``acwa.auto``: choose an imbalance method per dataset from the training data alone.

:func:`select_method` (or :class:`AutoSelector`) cross-fits a small portfolio of methods
(:data:`PORTFOLIO`, default :data:`DEFAULT_CANDIDATES`) with the user's own training function,
scores every candidate on out-of-fold logits, picks the winner, fits a post-hoc per-class bias
(binary: a threshold) when it helps, and retrains the winner on all the data.
:func:`method_recipe` builds each method's loss and sampler for the training function.
"""

from .portfolio import DEFAULT_CANDIDATES, PORTFOLIO, MethodRecipe, method_recipe
from .scoring import METRICS
from .select import AutoSelector, CandidateScore, SelectionResult, TrainAndPredict, select_method

__all__ = [
    "select_method",
    "AutoSelector",
    "SelectionResult",
    "CandidateScore",
    "TrainAndPredict",
    "method_recipe",
    "MethodRecipe",
    "PORTFOLIO",
    "DEFAULT_CANDIDATES",
    "METRICS",
]
