"""Reusable training recipes built on :class:`acwa.bench.RunContext`: cross-fitted class bias.

A *base trainer* is ``train(indices, offsets=None) -> Fit``: it trains the run's model with some
method on a subset of the training split (``None``: all of it), optionally with extra logit
offsets in its loss. Cross-fitting (:func:`acwa.posthoc.cross_fitted_logits`) trains ``folds``
such models, each with one fold held out, so that every training sample gets an out-of-fold
logit vector; :func:`acwa.posthoc.fit_class_bias` then fits the per-class bias ``b`` minimising
the class-balanced log-loss on those logits (Menon et al., "Long-tail learning via logit
adjustment", ICLR 2021, give the fixed ``-tau log pi`` analogue).

>>> from acwa.bench.recipes import logit_adjusted_trainer, with_crossfit_bias   # doctest: +SKIP
>>> fit = with_crossfit_bias(ctx, logit_adjusted_trainer(ctx), at="train")        # doctest: +SKIP

These are the recipes of the ``crossfit-bias`` and ``crossfit-la`` bench methods and of
``benchmarks/crossfit.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from acwa.bench.training import Fit, RunContext, predict_logits
from acwa.losses import LogitAdjustedLoss, WeightedCrossEntropyLoss
from acwa.posthoc import cross_fitted_logits, fit_class_bias
from acwa.weights import inverse_frequency

__all__ = [
    "CROSSFIT_FOLDS",
    "BaseTrainer",
    "crossfit_class_bias",
    "with_crossfit_bias",
    "weighted_ce_trainer",
    "logit_adjusted_trainer",
]

CROSSFIT_FOLDS = 5
BaseTrainer = Callable[..., Fit]  # train(indices[, offsets]); None indices: all the data


def crossfit_class_bias(
    ctx: RunContext, train: BaseTrainer, folds: int = CROSSFIT_FOLDS
) -> tuple[Tensor, float, float]:
    """``(bias, fold seconds, fold CPU seconds)``: the per-class bias fitted by class-balanced
    log-loss (:func:`acwa.posthoc.fit_class_bias`) on the out-of-fold logits of ``folds`` models
    ``train(indices)`` (:func:`acwa.posthoc.cross_fitted_logits`)."""
    seconds, cpu = 0.0, 0.0

    def train_and_predict(train_idx: Tensor, heldout_idx: Tensor) -> Tensor:
        nonlocal seconds, cpu
        fold = train(train_idx)
        seconds += fold.train_seconds
        cpu += fold.train_cpu_seconds or 0.0
        return predict_logits(fold.model, ctx.X[heldout_idx], ctx.recipe.eval_batch_size)

    oof = cross_fitted_logits(train_and_predict, ctx.y, num_folds=folds, seed=ctx.seed)
    return fit_class_bias(oof, ctx.y, ctx.num_classes), seconds, cpu


def with_crossfit_bias(ctx: RunContext, train: BaseTrainer, at: str = "test") -> Fit:
    """The base method ``train`` corrected by its cross-fitted bias ``b``:

    - ``at='test'``: the full-data model, predicting ``logits + b``;
    - ``at='train'``: a full-data model trained on ``logits - b`` (``train(None, offsets=-b)``)
      and predicting with raw logits: logit adjustment whose offsets are estimated from
      held-out logits instead of the class prior.

    Its time includes the fold models; ``fit.extra['class_bias']`` records ``b``."""
    if at not in ("test", "train"):
        raise ValueError(f"at must be 'test' (post-hoc bias) or 'train' (training offsets), got {at!r}")
    bias, seconds, cpu = crossfit_class_bias(ctx, train)
    if at == "test":
        fit = train(None).with_posthoc(lambda z: z + bias.to(z.device))
    else:
        fit = train(None, offsets=-bias)
    fit.train_seconds += seconds
    if fit.train_cpu_seconds is not None:
        fit.train_cpu_seconds += cpu
    fit.extra["class_bias"] = [round(v, 4) for v in bias.tolist()]
    return fit


def _subset_counts(ctx: RunContext, idx: np.ndarray | Tensor) -> Tensor:
    return torch.bincount(ctx.y[torch.as_tensor(np.asarray(idx), dtype=torch.long)], minlength=ctx.num_classes)


def weighted_ce_trainer(ctx: RunContext) -> BaseTrainer:
    """Inverse-frequency weighted CE on a subset, weighted by the subset's own counts; on all the
    data it is the ``weighted-ce`` model of the run (shared within a seed)."""

    def train(idx: np.ndarray | Tensor | None) -> Fit:
        if idx is None:
            return ctx.fit(WeightedCrossEntropyLoss(weight=inverse_frequency(ctx.counts)), cache_key="weighted-ce")
        weight = inverse_frequency(_subset_counts(ctx, idx), zero_counts="max")
        return ctx.fit(WeightedCrossEntropyLoss(weight=weight), indices=idx)

    return train


def logit_adjusted_trainer(ctx: RunContext) -> BaseTrainer:
    """Logit adjustment (tau 1) with a subset's own class prior, plus optional extra offsets."""

    def train(idx: np.ndarray | Tensor | None, offsets: Tensor | None = None) -> Fit:
        counts = ctx.counts if idx is None else _subset_counts(ctx, idx)
        loss = LogitAdjustedLoss(counts.clamp_min(1), tau=1.0)  # a class missing from a fold: as rare as 1 sample
        if offsets is not None:
            buf = loss.get_buffer("offsets")
            buf += offsets.to(buf)
        return ctx.fit(loss, indices=idx)

    return train
