"""Built-in benchmark methods, each written with the public acwa API a user would call.

Each method registers only if the public API it needs can be imported: a method whose module
has not landed is absent, never a stub. Defaults follow the papers (see
``docs/bench.md`` for the table); the training recipe (model, optimizer, epochs,
batch size, seeds) is the run's, shared by all methods.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from torch import Tensor

from .registry import register_method
from .training import Fit, RunContext, predict_logits


def _has(module: str, *names: str) -> bool:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    return all(hasattr(mod, n) for n in names)


# ---------------------------------------------------------------------------- baseline
if _has("acwa.losses", "WeightedCrossEntropyLoss"):
    from acwa.losses import WeightedCrossEntropyLoss

    @register_method("ce", family="baseline", description="plain cross-entropy")
    def ce(ctx: RunContext) -> Fit:
        return ctx.fit(WeightedCrossEntropyLoss(), cache_key="ce")


# ---------------------------------------------------------------------------- static
if _has("acwa.weights", "inverse_frequency") and _has("acwa.losses", "WeightedCrossEntropyLoss"):
    from acwa.losses import WeightedCrossEntropyLoss
    from acwa.weights import inverse_frequency

    @register_method(
        "weighted-ce",
        family="static",
        description="CE with inverse-frequency class weights (acwa.weights.inverse_frequency, sum C)",
    )
    def weighted_ce(ctx: RunContext) -> Fit:
        return ctx.fit(WeightedCrossEntropyLoss(weight=inverse_frequency(ctx.counts)), cache_key="weighted-ce")


if _has("acwa.weights", "effective_number") and _has("acwa.losses", "WeightedCrossEntropyLoss"):
    from acwa.losses import WeightedCrossEntropyLoss
    from acwa.weights import effective_number

    @register_method(
        "effective-number",
        family="static",
        description="CE with effective-number weights, beta 0.9999 (Cui et al. 2019)",
    )
    def effective_number_ce(ctx: RunContext) -> Fit:
        return ctx.fit(WeightedCrossEntropyLoss(weight=effective_number(ctx.counts, beta=0.9999)))


if _has("acwa.sampling", "ClassBalancedSampler"):
    from acwa.sampling import ClassBalancedSampler

    @register_method(
        "balanced-sampler",
        family="static",
        description="class-balanced sampling, q=1 (acwa.sampling.ClassBalancedSampler) + CE",
    )
    def balanced_sampler(ctx: RunContext) -> Fit:
        sampler = ClassBalancedSampler(ctx.y, q=1.0, seed=ctx.seed, num_classes=ctx.num_classes)
        return ctx.fit(sampler=sampler)


if _has("acwa.sampling", "RandomOverSampler"):
    from acwa.sampling import RandomOverSampler

    @register_method(
        "oversample", family="static", description="random over-sampling of every class to the majority size + CE"
    )
    def oversample(ctx: RunContext) -> Fit:
        X, y = RandomOverSampler(sampling_strategy="not majority", random_state=ctx.seed).fit_resample(ctx.X, ctx.y)
        return ctx.fit(X=X, y=y)


if _has("acwa.sampling", "RandomUnderSampler"):
    from acwa.sampling import RandomUnderSampler

    @register_method(
        "undersample", family="static", description="random under-sampling of every class to the minority size + CE"
    )
    def undersample(ctx: RunContext) -> Fit:
        X, y = RandomUnderSampler(sampling_strategy="not minority", random_state=ctx.seed).fit_resample(ctx.X, ctx.y)
        return ctx.fit(X=X, y=y)


if _has("acwa.sampling", "SMOTE", "RandomOverSampler"):
    from acwa.sampling import SMOTE, RandomOverSampler

    def _smote(X: Tensor, y: Tensor, seed: int, num_classes: int):
        counts = torch.bincount(y, minlength=num_classes)
        single = [int(c) for c in torch.nonzero(counts == 1).flatten()]
        if single:  # SMOTE needs a neighbour: duplicate classes that hold a single sample
            X, y = RandomOverSampler(sampling_strategy={c: 2 for c in single}, random_state=seed).fit_resample(X, y)
            counts = torch.bincount(y, minlength=num_classes)
        k = int(min(5, int(counts[counts > 0].min()) - 1))
        return SMOTE(sampling_strategy="not majority", k_neighbors=k, random_state=seed).fit_resample(X, y)

    @register_method(
        "smote",
        family="static",
        description="SMOTE (acwa.sampling.SMOTE, k<=5): on the inputs for tabular/embedding data; "
        "on images/series in the feature space of the CE model, then the head is re-trained",
    )
    def smote(ctx: RunContext) -> Fit:
        if ctx.modality in ("tabular", "embedding"):
            X, y = _smote(ctx.X.reshape(len(ctx.y), -1), ctx.y, ctx.seed, ctx.num_classes)
            return ctx.fit(X=X.reshape((-1,) + ctx.input_shape), y=y)
        # feature space (the recipe in acwa.sampling.smote): frozen CE features, SMOTE, new head
        base = ctx.fit(WeightedCrossEntropyLoss(), cache_key="ce")
        model = ctx.build_model()
        model.load_state_dict(base.model.state_dict())
        model.eval()
        with torch.no_grad():
            feats = torch.cat([model.features(xb) for xb, _ in ctx.batches()])
        F_res, y_res = _smote(feats, ctx.y, ctx.seed, ctx.num_classes)
        torch.manual_seed(ctx.seed)
        model.head.reset_parameters()
        head_ctx = RunContext.__new__(RunContext)
        head_ctx.__dict__.update(ctx.__dict__)
        head_ctx.modality, head_ctx.input_shape = "embedding", (feats.shape[1],)
        head_ctx._cache = {}
        fit = head_ctx.fit(WeightedCrossEntropyLoss(), X=F_res, y=y_res, model=model.head)
        model.train()
        fit.model = torch.nn.Sequential(model.features, model.head)
        fit.train_seconds += base.train_seconds
        if fit.train_cpu_seconds is not None and base.train_cpu_seconds is not None:
            fit.train_cpu_seconds += base.train_cpu_seconds
        fit.extra["smote_space"] = "features of the CE model"
        return fit


if _has("acwa.losses", "FocalLoss"):
    from acwa.losses import FocalLoss

    @register_method("focal", family="static", description="focal loss, gamma 2 (Lin et al. 2017)")
    def focal(ctx: RunContext) -> Fit:
        return ctx.fit(FocalLoss(gamma=2.0))


if _has("acwa.losses", "ClassBalancedLoss"):
    from acwa.losses import ClassBalancedLoss

    @register_method(
        "cb-focal", family="static", description="class-balanced focal loss, beta 0.9999, gamma 2 (Cui et al. 2019)"
    )
    def cb_focal(ctx: RunContext) -> Fit:
        return ctx.fit(ClassBalancedLoss(ctx.counts, beta=0.9999, base="focal", gamma=2.0))


if _has("acwa.losses", "LDAMLoss", "DeferredReweighting", "NormedLinear"):
    from acwa.losses import DeferredReweighting, LDAMLoss

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


if _has("acwa.losses", "LogitAdjustedLoss"):
    from acwa.losses import LogitAdjustedLoss

    @register_method("la", family="static", description="logit-adjusted loss, tau 1 (Menon et al. 2021)")
    def la(ctx: RunContext) -> Fit:
        return ctx.fit(LogitAdjustedLoss(ctx.counts, tau=1.0))


if _has("acwa.losses", "logit_adjust", "WeightedCrossEntropyLoss"):
    from acwa.losses import WeightedCrossEntropyLoss, logit_adjust

    @register_method(
        "la-posthoc",
        family="static",
        description="CE model, post-hoc logit adjustment argmax f - tau log pi, tau 1 (Menon et al. 2021)",
    )
    def la_posthoc(ctx: RunContext) -> Fit:
        counts = ctx.counts
        return ctx.fit(WeightedCrossEntropyLoss(), cache_key="ce").with_posthoc(
            lambda z: logit_adjust(z, counts, tau=1.0)
        )


if _has("acwa.losses", "BalancedSoftmaxLoss"):
    from acwa.losses import BalancedSoftmaxLoss

    @register_method("balanced-softmax", family="static", description="balanced softmax (Ren et al. 2020)")
    def balanced_softmax(ctx: RunContext) -> Fit:
        return ctx.fit(BalancedSoftmaxLoss(ctx.counts))


if _has("acwa.losses", "VSLoss"):
    from acwa.losses import VSLoss

    @register_method("vs", family="static", description="vector-scaling loss, gamma 0.3, tau 1 (Kini et al. 2021)")
    def vs(ctx: RunContext) -> Fit:
        return ctx.fit(VSLoss(ctx.counts, gamma=0.3, tau=1.0))


# ---------------------------------------------------------------------------- adaptive
if _has("acwa", "ACWATrainer"):
    from acwa import ACWATrainer

    @register_method(
        "acwa",
        family="adaptive",
        description="ACWA with the README defaults: F1 on training batches, target 0.85, alpha 0.02, "
        "beta 0.9, every 100 batches, bounds [0.5, 2]",
    )
    def acwa_readme(ctx: RunContext) -> Fit:
        trainer = ACWATrainer(num_classes=ctx.num_classes, target_metric=0.85, alpha=0.02, beta=0.9, update_freq=100)
        return ctx.fit(acwa=trainer)

    @register_method(
        "acwa-auto",
        family="adaptive",
        description="ACWATrainer(mode='auto'): logit-adjusted training whose offsets follow per-class "
        "recall relative to the mean, within +-0.5 of the LA start",
    )
    def acwa_auto(ctx: RunContext) -> Fit:
        trainer = ACWATrainer(num_classes=ctx.num_classes, mode="auto", class_frequencies=ctx.counts)
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
        trainer = ACWATrainer(
            num_classes=ctx.num_classes,
            update_freq=None,
            target_metric="mean",
            alpha=1.0,
            beta=0.0,
            weight_bounds=(0.2, 5.0),
            normalize_weights=True,
        )
        return ctx.fit(
            acwa=trainer,
            indices=train_idx,
            on_epoch_end=lambda epoch, model: trainer.update_from_validation(model, val),
        )


if _has("acwa.autobalance", "fit"):
    import time

    from acwa import autobalance as _ab

    @register_method(
        "autobalance",
        family="adaptive",
        description="AutoBalance: parametric CE tuned on a stratified 20% validation part of the "
        "training split (Li et al. 2021; acwa.autobalance.fit)",
    )
    def autobalance(ctx: RunContext) -> Fit:
        r = ctx.recipe
        tr, va = ctx.validation_split(0.2)
        model = ctx.build_model()
        t0, cpu0 = time.perf_counter(), time.process_time()
        res = _ab.fit(
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
        try:
            fit.extra["autobalance_params"] = {k: v.detach().cpu().tolist() for k, v in res.params.items()}
        except Exception:  # the parameter summary is informative only
            pass
        return fit


if _has("acwa.posthoc", "fit_class_bias", "cross_fitted_logits") and _has("acwa.weights", "inverse_frequency"):
    from acwa.losses import LogitAdjustedLoss, WeightedCrossEntropyLoss
    from acwa.posthoc import cross_fitted_logits, fit_class_bias
    from acwa.weights import inverse_frequency

    CROSSFIT_FOLDS = 5
    BaseTrainer = Callable[..., Fit]  # train(indices[, offsets]); None indices: all the data; offsets for at="train"

    def crossfit_class_bias(ctx: RunContext, train: BaseTrainer, folds: int = CROSSFIT_FOLDS):
        """``(bias, fold seconds, fold CPU seconds)``: the per-class bias fitted (:mod:`acwa.posthoc`)
        on the out-of-fold logits of ``folds`` models ``train(indices)``."""
        seconds, cpu = 0.0, 0.0

        def train_and_predict(train_idx, heldout_idx):
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

        Its time includes the fold models."""
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

    def weighted_ce_trainer(ctx: RunContext) -> BaseTrainer:
        """Inverse-frequency weighted CE on a subset, weighted by the subset's own counts."""

        def train(idx: Tensor | None) -> Fit:
            if idx is None:  # the weighted-ce model (shared within a run)
                return ctx.fit(WeightedCrossEntropyLoss(weight=inverse_frequency(ctx.counts)), cache_key="weighted-ce")
            counts = torch.bincount(ctx.y[idx], minlength=ctx.num_classes)
            return ctx.fit(WeightedCrossEntropyLoss(weight=inverse_frequency(counts, zero_counts="max")), indices=idx)

        return train

    @register_method(
        "crossfit-bias",
        family="adaptive",
        description=f"inverse-frequency weighted CE (the weighted-ce model) + a per-class logit bias "
        f"fitted by balanced log-loss on {CROSSFIT_FOLDS}-fold cross-fitted out-of-fold logits "
        f"(acwa.posthoc; {CROSSFIT_FOLDS} extra trainings)",
    )
    def crossfit_bias(ctx: RunContext) -> Fit:
        return with_crossfit_bias(ctx, weighted_ce_trainer(ctx))

    def logit_adjusted_trainer(ctx: RunContext) -> BaseTrainer:
        """Logit adjustment (tau 1) with a subset's own class prior, plus optional extra offsets."""

        def train(idx: Tensor | None, offsets: Tensor | None = None) -> Fit:
            counts = ctx.counts if idx is None else torch.bincount(ctx.y[idx], minlength=ctx.num_classes)
            loss = LogitAdjustedLoss(counts.clamp_min(1), tau=1.0)  # a class missing from a fold: as rare as 1 sample
            if offsets is not None:
                loss.offsets += offsets.to(loss.offsets)
            return ctx.fit(loss, indices=idx)

        return train

    @register_method(
        "crossfit-la",
        family="adaptive",
        in_default=False,
        description=f"logit adjustment whose training offsets tau log(pi) are corrected by -b, b the "
        f"per-class bias fitted (balanced log-loss) on {CROSSFIT_FOLDS}-fold cross-fitted "
        f"logits of LA fold models (acwa.posthoc; {CROSSFIT_FOLDS} extra trainings)",
    )
    def crossfit_la(ctx: RunContext) -> Fit:
        return with_crossfit_bias(ctx, logit_adjusted_trainer(ctx), at="train")
