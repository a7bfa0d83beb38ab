"""``acwa.auto``: choose an imbalance method per dataset from the training data alone.

:func:`select_method` (or :class:`AutoSelector`) cross-fits a small portfolio of methods
with the user's own training function, scores every candidate on out-of-fold logits, picks the
winner, fits a post-hoc per-class bias (binary: a threshold; multi-label: per-label thresholds
for a threshold metric) when it helps, and retrains the winner on all the data.

Class ids ``[N]``: :data:`PORTFOLIO`, default :data:`DEFAULT_CANDIDATES`, balanced accuracy.
Multi-hot labels ``[N, L]`` (one sigmoid logit per label): :data:`MULTILABEL_PORTFOLIO`,
default :data:`DEFAULT_MULTILABEL_CANDIDATES`, mean average precision, folds from
:func:`acwa.splits.multilabel_folds`. :func:`method_recipe` builds each method's loss and
sampler for the training function.

:func:`select_head` is the one-training alternative for deep models: it trains the model once
on part of the training data and chooses a decoupled head (:mod:`acwa.heads`) and a logit
correction among :data:`HEAD_CANDIDATES` on the held-out part; :class:`HeadSelection` says why.
"""

from acwa._internal.deprecation import deprecated_names
from acwa.auto._head_result import HEAD_CANDIDATES, HeadSelection
from acwa.auto._select_head import HEAD_TASKS, select_head
from acwa.auto.portfolio import (
    DEFAULT_CANDIDATES,
    DEFAULT_MULTILABEL_CANDIDATES,
    MULTILABEL_PORTFOLIO,
    PORTFOLIO,
    MethodRecipe,
    method_recipe,
)
from acwa.auto.result import CandidateScore, SelectionResult
from acwa.auto.scoring import SELECTION_METRICS
from acwa.auto.select import AutoSelector, TrainAndPredict, select_method

__all__ = [
    "select_head",
    "HeadSelection",
    "HEAD_CANDIDATES",
    "HEAD_TASKS",
    "select_method",
    "AutoSelector",
    "SelectionResult",
    "CandidateScore",
    "TrainAndPredict",
    "method_recipe",
    "MethodRecipe",
    "PORTFOLIO",
    "MULTILABEL_PORTFOLIO",
    "DEFAULT_CANDIDATES",
    "DEFAULT_MULTILABEL_CANDIDATES",
    "SELECTION_METRICS",
]

__getattr__ = deprecated_names(
    "acwa.auto",
    {"METRICS": (lambda: SELECTION_METRICS, "acwa.auto.SELECTION_METRICS (the scores a selection ranks by)")},
)
