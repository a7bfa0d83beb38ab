"""Decoupled-head methods, DRS and ``acwa-auto-fast`` in the bench (the public APIs
:mod:`acwa.heads`, :class:`acwa.sampling.DeferredResampler` and :func:`acwa.auto.select_head`).

* ``crt``, ``lws``, ``ncm``: the ``ce`` model (shared with the ``ce`` row of the seed), its
  features of the training split, then the head (Kang et al., ICLR 2020);
* ``tau-norm``: tau needs held-out data, so the backbone trains on 80% of the training split
  and tau is chosen on the other 20% (:func:`acwa.auto.select_head` with that one candidate);
* ``weight-balancing``: stage 1 is CE with 10x the recipe's weight decay, stage 2 the
  class-balanced head with MaxNorm (Alshammari et al., CVPR 2022);
* ``drs``: CE with instance sampling, class-balanced from 80% of the epochs (Cao et al. 2019);
* ``acwa-auto-fast``: :func:`acwa.auto.select_head`: one training on 80% of the training
  split, with the loss and sampler of ``backbone`` (:func:`acwa.auto.method_recipe`; default
  inverse-frequency weighted CE; multi-label: plain BCE), then every applicable head candidate
  scored on the other 20%; ``joint`` is the backbone as trained.

Cost: each fit's ``train_seconds`` / ``train_cpu_seconds`` include the backbone training (also
when it is shared with ``ce``), the feature pass and the head fits; ``trainings`` counts the
full-model trainings (1 for all of these).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from torch import Tensor, nn

from acwa._internal.validation import check_choice
from acwa.auto import PORTFOLIO, method_recipe, select_head
from acwa.bench.registry import register_method
from acwa.bench.training import Fit, RunContext
from acwa.heads import HeadModel, extract_features, fit_crt, fit_lws, fit_ncm, fit_weight_balanced, split_model
from acwa.losses import WeightedCrossEntropyLoss
from acwa.sampling import DeferredResampler

__all__ = ["decoupled_head", "auto_fast"]

BACKBONES = tuple(m for m in PORTFOLIO if m != "autobalance")  # the single-training acwa.auto recipes
DEFER_FRACTION = 0.8  # DRS / DRW: re-balance from 80% of the epochs (Cao et al. 2019)
WB_DECAY_FACTOR = 10.0  # weight balancing, stage 1: 10x the recipe's weight decay


def decoupled_head(ctx: RunContext, make_head: Callable[[nn.Linear, Tensor, Tensor], nn.Module], base: Fit) -> Fit:
    """``base``'s backbone with the head ``make_head(head, features, labels)`` fitted on the
    training split's features; the cost adds the feature pass and the head fit to ``base``'s."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    features, head = split_model(base.model)
    assert isinstance(features, nn.Module)
    feats = extract_features(features, ctx.X, ctx.recipe.eval_batch_size, module=base.model)
    new_head = make_head(head, feats, ctx.y)
    fit = Fit(
        HeadModel(features, new_head),
        base.train_seconds + time.perf_counter() - t0,
        base.history,
        train_cpu_seconds=(base.train_cpu_seconds or 0.0) + time.process_time() - cpu0,
        trainings=1,
    )
    fit.extra["head_seconds"] = round(time.perf_counter() - t0, 4)
    return fit


def _ce(ctx: RunContext) -> Fit:
    return ctx.fit(WeightedCrossEntropyLoss(), cache_key="ce")


@register_method(
    "crt",
    family="static",
    in_default=False,
    description="cRT: CE model, new linear head trained with class-balanced sampling on its frozen features "
    "(Kang et al. 2020)",
)
def crt(ctx: RunContext) -> Fit:
    return decoupled_head(ctx, lambda h, f, y: fit_crt(f, y, h.out_features, seed=ctx.seed), _ce(ctx))


@register_method(
    "lws",
    family="static",
    in_default=False,
    description="LWS: CE model, per-class logit scales learned with class-balanced sampling, W fixed (Kang "
    "et al. 2020)",
)
def lws(ctx: RunContext) -> Fit:
    return decoupled_head(ctx, lambda h, f, y: fit_lws(h, f, y, seed=ctx.seed), _ce(ctx))


@register_method(
    "ncm",
    family="static",
    in_default=False,
    description="NCM: CE model, cosine to the class means of its L2-normalised features (Kang et al. 2020)",
)
def ncm(ctx: RunContext) -> Fit:
    return decoupled_head(ctx, lambda h, f, y: fit_ncm(f, y, h.out_features), _ce(ctx))


@register_method(
    "weight-balancing",
    family="static",
    in_default=False,
    description=f"weight balancing: CE with {WB_DECAY_FACTOR:g}x weight decay, then the head re-trained with "
    f"a class-balanced loss and MaxNorm (Alshammari et al. 2022)",
)
def weight_balancing(ctx: RunContext) -> Fit:
    stage1 = ctx.derive(recipe=replace(ctx.recipe, weight_decay=ctx.recipe.weight_decay * WB_DECAY_FACTOR))
    base = stage1.fit(WeightedCrossEntropyLoss())
    return decoupled_head(ctx, lambda h, f, y: fit_weight_balanced(h, f, y, seed=ctx.seed), base)


@register_method(
    "drs",
    family="static",
    in_default=False,
    description=f"deferred re-sampling: CE with instance sampling, class-balanced from {DEFER_FRACTION:.0%} "
    f"of the epochs (Cao et al. 2019)",
)
def drs(ctx: RunContext) -> Fit:
    start = int(DEFER_FRACTION * ctx.recipe.epochs)
    sampler = DeferredResampler(ctx.y, start_epoch=start, seed=ctx.seed, num_classes=ctx.num_classes)
    return ctx.fit(WeightedCrossEntropyLoss(), sampler=sampler)


def _select(ctx: RunContext, candidates: Any = None, backbone: str = "ce") -> Fit:
    t0, cpu0 = time.perf_counter(), time.process_time()
    history: dict[str, list[float]] = {}

    def train_fn(train_idx: Tensor) -> nn.Module:
        loss, sampler = None, None  # CE (BCE for multi-hot labels), instance sampling
        if backbone != "ce" and ctx.task != "multilabel":
            recipe = method_recipe(backbone, ctx.y[train_idx], ctx.num_classes, seed=ctx.seed)
            loss, sampler = recipe.loss, recipe.sampler
        fit = ctx.fit(loss, indices=train_idx, sampler=sampler)
        history.update(fit.history)
        return fit.model

    res = select_head(ctx.X, ctx.y, train_fn=train_fn, candidates=candidates, seed=ctx.seed)
    fit = Fit(
        res.model,
        time.perf_counter() - t0,
        history,
        train_cpu_seconds=time.process_time() - cpu0,
        trainings=res.trainings,
    )
    fit.extra["auto"] = {
        "method": res.method,
        "metric": res.metric,
        "heldout": {m: round(float(s), 4) for m, s in res.scores.items()},
        "tau": res.tau,
        "bias": None if res.bias is None else [round(float(b), 4) for b in res.bias.flatten()],
        "trainings": res.trainings,
        "seconds": {k: round(v, 3) for k, v in res.seconds.items()},
    }
    return fit


@register_method(
    "tau-norm",
    family="static",
    in_default=False,
    description="tau-normalisation w_c / ||w_c||^tau: CE model on 80% of the training split, tau in [0, 1] "
    "chosen on the other 20% (Kang et al. 2020)",
)
def tau_norm(ctx: RunContext) -> Fit:
    return _select(ctx, ["tau-norm"])


def _one_training(backbone: str = "weighted-ce") -> int:
    """acwa-auto-fast's trainings for its options (checked before any run starts)."""
    check_choice(backbone, BACKBONES, "backbone")
    return 1


@register_method(
    "acwa-auto-fast",
    family="adaptive",
    tasks=("multiclass", "binary", "multilabel"),
    options=("backbone",),
    cost=_one_training,
    in_default=False,
    description="acwa.auto.select_head: one training (weighted CE; option backbone) on 80% of the training "
    "split, then the head and correction (joint, cRT, tau-norm, LWS, NCM, weight-balanced, LA, bias...) "
    "with the best balanced accuracy (mAP) on the other 20%",
)
def auto_fast(ctx: RunContext, backbone: str = "weighted-ce") -> Fit:
    return _select(ctx, backbone=backbone)
