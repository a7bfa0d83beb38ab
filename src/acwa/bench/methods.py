"""Built-in benchmark methods, each written with the public acwa API a user would call.

Defaults follow the papers (see ``docs/bench.md`` for the table); the training recipe (model,
optimizer, epochs, batch size, seeds) is the run's, shared by all methods. Importing
:mod:`acwa.bench` registers them; :mod:`acwa.bench.registry` itself imports nothing of acwa.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from acwa import ACWATrainer, autobalance
from acwa.bench.recipes import (
    CROSSFIT_FOLDS,
    crossfit_class_bias,
    logit_adjusted_trainer,
    weighted_ce_trainer,
    with_crossfit_bias,
)
from acwa.bench.registry import register_method
from acwa.bench.training import Fit, RunContext, Trace
from acwa.losses import (
    BalancedSoftmaxLoss,
    ClassBalancedLoss,
    DeferredReweighting,
    FocalLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    VSLoss,
    WeightedCrossEntropyLoss,
    logit_adjust,
)
from acwa.sampling import SMOTE, ClassBalancedSampler, RandomOverSampler, RandomUnderSampler
from acwa.weights import effective_number, inverse_frequency

__all__ = ["crossfit_class_bias", "with_crossfit_bias", "weighted_ce_trainer", "logit_adjusted_trainer"]


def _tensors(X: Any, y: Any) -> tuple[Tensor, Tensor]:
    return torch.as_tensor(X), torch.as_tensor(y)


# ---------------------------------------------------------------------------- baseline
@register_method("ce", family="baseline", description="plain cross-entropy")
def ce(ctx: RunContext) -> Fit:
    return ctx.fit(WeightedCrossEntropyLoss(), cache_key="ce")


# ---------------------------------------------------------------------------- static
@register_method(
    "weighted-ce",
    family="static",
    description="CE with inverse-frequency class weights (acwa.weights.inverse_frequency, sum C)",
)
def weighted_ce(ctx: RunContext) -> Fit:
    return ctx.fit(WeightedCrossEntropyLoss(weight=inverse_frequency(ctx.counts)), cache_key="weighted-ce")


@register_method(
    "effective-number",
    family="static",
    description="CE with effective-number weights, beta 0.9999 (Cui et al. 2019)",
)
def effective_number_ce(ctx: RunContext) -> Fit:
    return ctx.fit(WeightedCrossEntropyLoss(weight=effective_number(ctx.counts, beta=0.9999)))


@register_method(
    "balanced-sampler",
    family="static",
    description="class-balanced sampling, q=1 (acwa.sampling.ClassBalancedSampler) + CE",
)
def balanced_sampler(ctx: RunContext) -> Fit:
    sampler = ClassBalancedSampler(ctx.y, q=1.0, seed=ctx.seed, num_classes=ctx.num_classes)
    return ctx.fit(sampler=sampler)


@register_method(
    "oversample", family="static", description="random over-sampling of every class to the majority size + CE"
)
def oversample(ctx: RunContext) -> Fit:
    X, y = _tensors(
        *RandomOverSampler(sampling_strategy="not majority", random_state=ctx.seed).fit_resample(ctx.X, ctx.y)
    )
    return ctx.fit(X=X, y=y)


@register_method(
    "undersample", family="static", description="random under-sampling of every class to the minority size + CE"
)
def undersample(ctx: RunContext) -> Fit:
    X, y = _tensors(
        *RandomUnderSampler(sampling_strategy="not minority", random_state=ctx.seed).fit_resample(ctx.X, ctx.y)
    )
    return ctx.fit(X=X, y=y)


def _smote(X: Tensor, y: Tensor, seed: int, num_classes: int) -> tuple[Tensor, Tensor]:
    counts = torch.bincount(y, minlength=num_classes)
    single = [int(c) for c in torch.nonzero(counts == 1).flatten()]
    if single:  # SMOTE needs a neighbour: duplicate classes that hold a single sample
        X, y = _tensors(
            *RandomOverSampler(sampling_strategy={c: 2 for c in single}, random_state=seed).fit_resample(X, y)
        )
        counts = torch.bincount(y, minlength=num_classes)
    k = int(min(5, int(counts[counts > 0].min()) - 1))
    return _tensors(*SMOTE(sampling_strategy="not majority", k_neighbors=k, random_state=seed).fit_resample(X, y))


@register_method(
    "smote",
    family="static",
    description="SMOTE (acwa.sampling.SMOTE, k<=5): on the inputs for tabular/embedding data; "
    "on images/series in the feature space of the CE model, then the head is re-trained",
)
def smote(ctx: RunContext) -> Fit:
    if ctx.modality in ("tabular", "embedding"):
        X, y = _smote(ctx.X.reshape(len(ctx.y), -1), ctx.y, ctx.seed, ctx.num_classes)
        return ctx.fit(X=X.reshape((-1, *ctx.input_shape)), y=y)
    # feature space (the recipe in acwa.sampling.smote): frozen CE features, SMOTE, new head
    base = ctx.fit(WeightedCrossEntropyLoss(), cache_key="ce")
    model = ctx.build_model()
    model.load_state_dict(base.model.state_dict())
    model.eval()
    with torch.no_grad():
        feats = torch.cat([model.features(xb) for xb, _ in ctx.batches()])
    F_res, y_res = _smote(feats, ctx.y, ctx.seed, ctx.num_classes)
    torch.manual_seed(ctx.seed)
    head = model.head
    assert isinstance(head, torch.nn.Linear)  # the models of acwa.bench.models end in a Linear head
    head.reset_parameters()
    head_ctx = ctx.derive(modality="embedding", input_shape=(feats.shape[1],))
    fit = head_ctx.fit(WeightedCrossEntropyLoss(), X=F_res, y=y_res, model=model.head)
    model.train()
    fit.model = torch.nn.Sequential(model.features, model.head)
    fit.train_seconds += base.train_seconds
    if fit.train_cpu_seconds is not None and base.train_cpu_seconds is not None:
        fit.train_cpu_seconds += base.train_cpu_seconds
    fit.extra["smote_space"] = "features of the CE model"
    return fit


@register_method("focal", family="static", description="focal loss, gamma 2 (Lin et al. 2017)")
def focal(ctx: RunContext) -> Fit:
    return ctx.fit(FocalLoss(gamma=2.0))


@register_method(
    "cb-focal", family="static", description="class-balanced focal loss, beta 0.9999, gamma 2 (Cui et al. 2019)"
)
def cb_focal(ctx: RunContext) -> Fit:
    return ctx.fit(ClassBalancedLoss(ctx.counts, beta=0.9999, base="focal", gamma=2.0))


@register_method(
    "ldam-drw",
    family="static",
    description="LDAM (max margin 0.5, s 30, cosine head) + deferred re-weighting from 80% of the "
    "epochs (Cao et al. 2019)",
)
def ldam_drw(ctx: RunContext) -> Fit:
    loss = LDAMLoss(ctx.counts, max_margin=0.5, scale=30.0)
    drw = DeferredReweighting(ctx.counts, start_epoch=int(0.8 * ctx.recipe.epochs), beta=0.9999)
    return ctx.fit(loss, model=ctx.build_model(cosine_head=True), on_epoch_start=lambda e, m: drw.apply(loss, e))


@register_method("la", family="static", description="logit-adjusted loss, tau 1 (Menon et al. 2021)")
def la(ctx: RunContext) -> Fit:
    return ctx.fit(LogitAdjustedLoss(ctx.counts, tau=1.0))


@register_method(
    "la-posthoc",
    family="static",
    description="CE model, post-hoc logit adjustment argmax f - tau log pi, tau 1 (Menon et al. 2021)",
)
def la_posthoc(ctx: RunContext) -> Fit:
    counts = ctx.counts
    return ctx.fit(WeightedCrossEntropyLoss(), cache_key="ce").with_posthoc(lambda z: logit_adjust(z, counts, tau=1.0))


@register_method(
    "balanced-softmax",
    family="static",
    description="balanced softmax (Ren et al. 2020)",
    same_as="la",
)
def balanced_softmax(ctx: RunContext) -> Fit:
    return ctx.fit(BalancedSoftmaxLoss(ctx.counts))


@register_method("vs", family="static", description="vector-scaling loss, gamma 0.3, tau 1 (Kini et al. 2021)")
def vs(ctx: RunContext) -> Fit:
    return ctx.fit(VSLoss(ctx.counts, gamma=0.3, tau=1.0))


# ---------------------------------------------------------------------------- adaptive
@register_method(
    "acwa",
    family="adaptive",
    tasks=("multiclass", "binary", "multilabel"),
    description="ACWA with the README defaults: F1 on training batches, target 0.85, alpha 0.02, "
    "beta 0.9, every 100 batches, bounds [0.5, 2] (multi-label: per-label positive weights)",
)
def acwa_readme(ctx: RunContext) -> Fit:
    task = "multilabel" if ctx.task == "multilabel" else None  # None: multiclass, from the logits' shape
    trainer = ACWATrainer(
        num_classes=ctx.num_classes, task=task, target_metric=0.85, alpha=0.02, beta=0.9, update_freq=100
    )
    return ctx.fit(acwa=trainer)


@register_method(
    "acwa-la-adaptive",
    family="adaptive",
    description="ACWATrainer(mode='la-adaptive'): logit-adjusted training whose offsets follow per-class "
    "recall relative to the mean, within +-0.5 of the LA start (the single-run preset; was acwa-auto)",
)
def acwa_la_adaptive(ctx: RunContext) -> Fit:
    trainer = ACWATrainer(num_classes=ctx.num_classes, mode="la-adaptive", class_frequencies=ctx.counts)
    return ctx.fit(acwa=trainer)


@register_method(
    "acwa-val",
    family="adaptive",
    description="ACWA weights driven by per-class F1 on a stratified 20% validation part of the "
    "training split, relative target, alpha 1, beta 0, bounds [0.2, 5], once per epoch",
)
def acwa_val(ctx: RunContext) -> Fit:
    train_idx, val_idx = ctx.validation_split(0.2)
    val = ctx.batches(ctx.X[val_idx], ctx.y[val_idx])
    options: dict[str, Any] = dict(target_metric="mean", alpha=1.0, beta=0.0, weight_bounds=(0.2, 5.0))
    trainer = ACWATrainer(num_classes=ctx.num_classes, update_freq=None, normalize_weights=True, **options)
    return ctx.fit(
        acwa=trainer,
        indices=train_idx,
        on_epoch_end=lambda epoch, model: trainer.update_from_validation(model, val),
    )


@register_method(
    "autobalance",
    family="adaptive",
    description="AutoBalance: parametric CE tuned on a stratified 20% validation part of the "
    "training split (Li et al. 2021; acwa.autobalance.fit)",
)
def autobalance_method(ctx: RunContext) -> Fit:
    r = ctx.recipe
    tr, va = ctx.validation_split(0.2)
    model = ctx.build_model()
    t0, cpu0 = time.perf_counter(), time.process_time()
    res = autobalance.fit(
        model,
        ctx.X[tr],
        ctx.y[tr],
        X_val=ctx.X[va],
        y_val=ctx.y[va],
        num_classes=ctx.num_classes,
        epochs=r.epochs,
        batch_size=r.batch_size,
        lr=r.lr,
        optimizer=r.optimizer,
        weight_decay=r.weight_decay,
        schedule=r.schedule,
        seed=ctx.seed,
    )
    fit = Fit(
        res.model,
        time.perf_counter() - t0,
        {"train_loss": list(res.epoch_losses)},
        train_cpu_seconds=time.process_time() - cpu0,
    )
    fit.extra["autobalance_params"] = {k: v.detach().cpu().tolist() for k, v in res.params.items()}
    fit.adapted = _autobalance_traces(getattr(res.tuner, "history", None) or [])
    return fit


def _autobalance_traces(history: list[dict[str, Tensor]]) -> list[Trace]:
    """AutoBalance's per-class loss weight and logit offset iota after each hyper-step."""
    if not history:
        return []
    x = [float(h["iteration"]) for h in history]
    axis = "training iteration (AutoBalance hyper-steps)"
    return [
        Trace(f"parametric CE {key}", [h[key].detach().cpu().double().flatten().tolist() for h in history], x, axis)
        for key in ("weight", "iota")
        if all(key in h for h in history)
    ]


@register_method(
    "crossfit-bias",
    family="adaptive",
    trainings=1 + CROSSFIT_FOLDS,
    description=f"inverse-frequency weighted CE (the weighted-ce model) + a per-class logit bias "
    f"fitted by balanced log-loss on {CROSSFIT_FOLDS}-fold cross-fitted out-of-fold logits "
    f"(acwa.posthoc; {CROSSFIT_FOLDS} extra trainings)",
)
def crossfit_bias(ctx: RunContext) -> Fit:
    return with_crossfit_bias(ctx, weighted_ce_trainer(ctx))


@register_method(
    "crossfit-la",
    family="adaptive",
    in_default=False,
    trainings=1 + CROSSFIT_FOLDS,
    description=f"logit adjustment whose training offsets tau log(pi) are corrected by -b, b the "
    f"per-class bias fitted (balanced log-loss) on {CROSSFIT_FOLDS}-fold cross-fitted "
    f"logits of LA fold models (acwa.posthoc; {CROSSFIT_FOLDS} extra trainings)",
)
def crossfit_la(ctx: RunContext) -> Fit:
    return with_crossfit_bias(ctx, logit_adjusted_trainer(ctx), at="train")
