"""Built-in methods for multi-label data (multi-hot ``y [N, L]``, one sigmoid logit per label),
each with the public acwa losses. ``ctx.counts`` is ``[n_neg, n_pos]`` per label
(:func:`acwa.counts.positive_counts`). The multiclass methods skip multi-label data.
"""

from __future__ import annotations

from ..losses import AsymmetricLoss, BinaryCrossEntropyLoss, DistributionBalancedLoss, SigmoidFocalLoss
from ..weights import pos_weight
from .registry import register_method
from .training import Fit, RunContext

__all__ = ["POS_WEIGHT_CAP"]

POS_WEIGHT_CAP = 100.0
_ML = ("multilabel",)


@register_method("bce", family="baseline", tasks=_ML, description="binary cross-entropy per label (multi-label)")
def bce(ctx: RunContext) -> Fit:
    return ctx.fit(BinaryCrossEntropyLoss(), cache_key="bce")


@register_method(
    "bce-pos-weight",
    family="static",
    tasks=_ML,
    description=f"BCE with pos_weight n_neg / n_pos per label, capped at {POS_WEIGHT_CAP:g} (acwa.weights.pos_weight)",
)
def bce_pos_weight(ctx: RunContext) -> Fit:
    return ctx.fit(BinaryCrossEntropyLoss(pos_weight=pos_weight(ctx.counts, max_weight=POS_WEIGHT_CAP)))


@register_method(
    "sigmoid-focal", family="static", tasks=_ML, description="sigmoid focal loss, alpha 0.25, gamma 2 (Lin et al. 2017)"
)
def sigmoid_focal(ctx: RunContext) -> Fit:
    return ctx.fit(SigmoidFocalLoss(alpha=0.25, gamma=2.0))


@register_method(
    "asl", family="static", tasks=_ML, description="asymmetric loss, gamma- 4, gamma+ 0, clip 0.05 (Ridnik et al. 2021)"
)
def asl(ctx: RunContext) -> Fit:
    return ctx.fit(AsymmetricLoss())


@register_method(
    "distribution-balanced",
    family="static",
    tasks=_ML,
    description="distribution-balanced loss: re-balanced weights + negative-tolerant regularisation (Wu et al. 2020)",
)
def distribution_balanced(ctx: RunContext) -> Fit:
    return ctx.fit(DistributionBalancedLoss(ctx.counts))
