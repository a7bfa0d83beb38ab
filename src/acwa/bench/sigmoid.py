"""Built-in methods for sigmoid models: one logit per sample on binary data (fraud, screening),
one logit per label on multi-label data (multi-hot ``y [N, L]``), each with the public acwa
losses. The multiclass methods train two softmax logits on binary data; these train one.

``ctx.counts`` is ``[n_neg, n_pos]`` on binary data (class counts) and ``[2, L]`` per label on
multi-label data (:func:`acwa.weights.label_neg_pos_counts`): the shape every count-based sigmoid
loss and :func:`acwa.weights.pos_weight` take. A binary one-logit model is scored through
:func:`acwa.bench.training.two_class_logits` (``[0, z]``: softmax gives ``sigmoid(z)``), so
its AP, ROC-AUC and balanced accuracy are those of ``sigmoid(z)`` at ``z > 0``.
"""

from __future__ import annotations

from typing import Any

from acwa import ACWATrainer
from acwa.auto.portfolio import POS_WEIGHT_CAP, sigmoid_method_loss  # one home for these losses
from acwa.bench.registry import register_method
from acwa.bench.training import Fit, RunContext, predict_logits
from acwa.losses import BinaryCrossEntropyLoss
from acwa.posthoc import tune_threshold

__all__ = ["POS_WEIGHT_CAP", "fit_sigmoid"]

_ML = ("multilabel",)
_SIGMOID = ("binary", "multilabel")


def fit_sigmoid(ctx: RunContext, loss_fn: Any = None, **kw: Any) -> Fit:
    """``ctx.fit`` with one sigmoid logit per sample (binary) or per label (multi-label)."""
    if ctx.task == "multilabel":
        return ctx.fit(loss_fn, **kw)
    return ctx.fit(loss_fn, model=ctx.build_model(outputs=1), **kw)


@register_method(
    "bce",
    family="baseline",
    tasks=_SIGMOID,
    description="binary cross-entropy: one logit per sample (binary) or per label (multi-label)",
)
def bce(ctx: RunContext) -> Fit:
    return fit_sigmoid(ctx, sigmoid_method_loss("bce", ctx.counts), cache_key="bce")


@register_method(
    "bce-pos-weight",
    family="static",
    tasks=_SIGMOID,
    description=f"BCE with pos_weight n_neg / n_pos per label, capped at {POS_WEIGHT_CAP:g} (acwa.weights.pos_weight)",
)
def bce_pos_weight(ctx: RunContext) -> Fit:
    return fit_sigmoid(ctx, sigmoid_method_loss("bce-pos-weight", ctx.counts))


@register_method(
    "sigmoid-focal",
    family="static",
    tasks=_SIGMOID,
    description="sigmoid focal loss, alpha 0.25, gamma 2 (Lin et al. 2017)",
)
def sigmoid_focal(ctx: RunContext) -> Fit:
    return fit_sigmoid(ctx, sigmoid_method_loss("sigmoid-focal", ctx.counts))


@register_method(
    "bce-la",
    family="static",
    tasks=_SIGMOID,
    description="logit-adjusted BCE: z + log(pi / (1 - pi)) in training, raw z at test (Menon et al. 2021)",
)
def bce_la(ctx: RunContext) -> Fit:
    return fit_sigmoid(ctx, sigmoid_method_loss("bce-la", ctx.counts))


@register_method(
    "bce-threshold",
    family="static",
    tasks=("binary",),
    description="BCE on 80% of the training split; decision threshold tuned for balanced accuracy on the "
    "other 20% (acwa.posthoc.tune_threshold)",
)
def bce_threshold(ctx: RunContext) -> Fit:
    train_idx, val_idx = ctx.validation_split(0.2)
    fit = fit_sigmoid(ctx, BinaryCrossEntropyLoss(), indices=train_idx)
    val_logits = predict_logits(fit.model, ctx.X[val_idx], ctx.recipe.eval_batch_size)
    threshold = tune_threshold(val_logits, ctx.y[val_idx], "balanced_accuracy", n_boot=0).threshold
    fit = fit.with_posthoc(lambda z: z - threshold)
    fit.extra["threshold"] = round(float(threshold), 4)
    return fit


@register_method(
    "acwa-bce",
    family="adaptive",
    tasks=("binary",),
    description="ACWA on a one-logit model: adaptive [w_neg, w_pos] (pos_weight) from F1 on training batches, "
    "README defaults (target 0.85, alpha 0.02, beta 0.9, every 100 batches)",
)
def acwa_bce(ctx: RunContext) -> Fit:
    trainer = ACWATrainer(task="binary", target_metric=0.85, alpha=0.02, beta=0.9, update_freq=100)
    return fit_sigmoid(ctx, acwa=trainer)


@register_method(
    "asl", family="static", tasks=_ML, description="asymmetric loss, gamma- 4, gamma+ 0, clip 0.05 (Ridnik et al. 2021)"
)
def asl(ctx: RunContext) -> Fit:
    return ctx.fit(sigmoid_method_loss("asl", ctx.counts))


@register_method(
    "distribution-balanced",
    family="static",
    tasks=_ML,
    description="distribution-balanced loss: re-balanced weights + negative-tolerant regularisation (Wu et al. 2020)",
)
def distribution_balanced(ctx: RunContext) -> Fit:
    return ctx.fit(sigmoid_method_loss("distribution-balanced", ctx.counts))
