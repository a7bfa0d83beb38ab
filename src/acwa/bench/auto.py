"""``acwa-auto``: the public selection API :func:`acwa.auto.select_method` inside the bench.

The method cross-fits the candidate methods on ``AUTO_FOLDS`` stratified folds of the
*training split*, picks the best out-of-fold score, keeps the post-hoc correction when it helps
out of fold, and retrains the winner on the whole training split: ``folds x candidates + 1``
trainings (21 by default: the API's 5 folds), all counted in its training seconds. Each candidate trains through
the run's shared loop with the loss and sampler of :func:`acwa.auto.method_recipe`, built from
the labels of the samples it trains on.

* multi-class and binary data: :data:`AUTO_CANDIDATES` (softmax models), balanced accuracy,
  post-hoc per-class bias;
* multi-label data (multi-hot ``y [N, L]``; the model has one sigmoid logit per label):
  :data:`AUTO_MULTILABEL_CANDIDATES` on multi-label stratified folds
  (:func:`acwa.splits.multilabel_folds`), mean average precision, no correction (mAP does not
  depend on thresholds).

``fit.extra['auto']`` records ``method``, ``metric`` (the name of the OOF score), ``oof`` (each
candidate's pooled OOF score), ``bias`` / ``thresholds`` (the applied correction or None),
``trainings`` and ``folds``.

``folds`` and ``candidates`` are options of the method: ``acwa bench --auto-folds 3
--auto-candidates weighted-ce,la`` or ``run_bench(method_options={"acwa-auto": {"folds": 3}})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from acwa.auto import (
    DEFAULT_CANDIDATES,
    DEFAULT_MULTILABEL_CANDIDATES,
    MULTILABEL_PORTFOLIO,
    PORTFOLIO,
    method_recipe,
    select_method,
)
from acwa.bench.registry import register_method
from acwa.bench.training import Fit, RunContext, predict_logits

__all__ = [
    "check_auto_options",
    "auto_options_from_flags",
    "AUTO_FOLDS",
    "AUTO_CANDIDATES",
    "AUTO_MULTILABEL_CANDIDATES",
    "auto_trainings",
    "select_and_train",
]

AUTO_FOLDS = 5  # the API default: 5 x 4 candidates + 1 = 21 trainings (BENCHMARKS.md: 2 folds lost 1.7 points)
AUTO_CANDIDATES: tuple[str, ...] = tuple(DEFAULT_CANDIDATES)
AUTO_MULTILABEL_CANDIDATES: tuple[str, ...] = tuple(DEFAULT_MULTILABEL_CANDIDATES)


def _rounded(t: Tensor | None) -> list[float] | None:
    return None if t is None else [round(float(v), 4) for v in t.tolist()]


def select_and_train(ctx: RunContext, folds: int = AUTO_FOLDS, candidates: Sequence[str] | None = None) -> Fit:
    """Select a method with :func:`acwa.auto.select_method` on the training split and return the
    retrained winner (with the selected post-hoc correction); ``fit.extra`` records the choice.
    ``candidates`` default: :data:`AUTO_MULTILABEL_CANDIDATES` on multi-label data, else
    :data:`AUTO_CANDIDATES`."""
    multilabel = ctx.task == "multilabel"
    if candidates is None:
        candidates = AUTO_MULTILABEL_CANDIDATES if multilabel else AUTO_CANDIDATES
    spent = {"seconds": 0.0, "cpu": 0.0}
    last: dict[str, Fit] = {}

    def train_and_predict(method: str, train_idx: Tensor, predict_idx: Tensor) -> tuple[Tensor, Any]:
        recipe = method_recipe(method, ctx.y[train_idx], ctx.num_classes, seed=ctx.seed)
        if recipe.loss is None:
            raise ValueError(f"candidate {method!r} has no loss recipe; choose among {', '.join(candidates)}")
        # multi-label: the run's model already has one sigmoid logit per label
        fit = ctx.fit(recipe.loss, indices=train_idx, sampler=recipe.sampler)
        spent["seconds"] += fit.train_seconds
        spent["cpu"] += fit.train_cpu_seconds or 0.0
        last["fit"] = fit
        if len(predict_idx) == 0:  # the final retrain predicts nothing
            return torch.zeros(0, ctx.num_classes), fit.model
        return predict_logits(fit.model, ctx.X[predict_idx], ctx.recipe.eval_batch_size), fit.model

    result = select_method(train_and_predict, ctx.y, candidates=tuple(candidates), num_folds=folds, seed=ctx.seed)
    final = last["fit"]  # the retrain of the winner on the whole training split
    fit = Fit(result.model, spent["seconds"], final.history, train_cpu_seconds=spent["cpu"])
    if result.bias is not None or result.thresholds is not None:
        fit = fit.with_posthoc(result.adjust)
    oof = {m: round(float(c.score), 4) for m, c in result.candidates.items()}
    fit.extra["auto"] = {
        "method": result.method,
        "metric": result.metric,
        "oof": oof,
        "bias": _rounded(result.bias),
        "thresholds": _rounded(result.thresholds),
        "trainings": int(result.trainings),
        "folds": int(result.num_folds),
        "best_oof": result.best,  # the raw OOF winner; differs from method when the fallback (la) was kept
        "fallback_gain": None if result.fallback_gain is None else [round(v, 4) for v in result.fallback_gain],
    }
    return fit


def check_auto_options(options: dict[str, Any], task: str, num_train: int) -> None:
    """``acwa-auto``'s ``folds`` / ``candidates`` against the dataset, before any training: a
    one-line ``ValueError`` naming the flag when they cannot run on it."""
    folds = options.get("folds")
    if folds is not None and folds > num_train:
        raise ValueError(f"--auto-folds {folds} exceeds the {num_train} training samples; lower it")
    candidates = options.get("candidates")
    if candidates is not None:
        fits = MULTILABEL_PORTFOLIO if task == "multilabel" else PORTFOLIO
        wrong = [c for c in candidates if c not in fits]
        if wrong:
            kind = "multi-label" if task == "multilabel" else f"{task} (class-id)"
            raise ValueError(
                f"--auto-candidates {','.join(wrong)} do not train on this {kind} dataset; "
                f"choose among {', '.join(c for c in fits if c != 'autobalance')}"
            )


def auto_trainings(folds: int = AUTO_FOLDS, candidates: Sequence[str] | None = None) -> int:
    """Trainings of one ``acwa-auto`` run: ``folds x candidates + 1``."""
    return int(folds) * len(AUTO_CANDIDATES if candidates is None else candidates) + 1


register_method(
    "acwa-auto",
    family="adaptive",
    trainings=auto_trainings(),
    tasks=("multiclass", "binary", "multilabel"),
    options=("folds", "candidates"),
    cost=auto_trainings,
    description=f"acwa.auto.select_method: picks among {', '.join(AUTO_CANDIDATES)} by {AUTO_FOLDS}-fold "
    f"out-of-fold balanced accuracy on the training split (la unless beaten by 1 SE), post-hoc bias if it "
    f"helps (multi-label: among "
    f"{', '.join(AUTO_MULTILABEL_CANDIDATES)} by out-of-fold mAP), retrains the winner "
    f"({auto_trainings()} trainings; --auto-folds, --auto-candidates)",
)(select_and_train)


def auto_options_from_flags(
    methods: Sequence[str], folds: int | None, candidates: str | None, fast_backbone: str | None
) -> dict[str, dict[str, Any]]:
    """``acwa bench --auto-folds`` / ``--auto-candidates`` / ``--auto-fast-backbone`` as
    ``run_bench(method_options=...)``, checked against the run's ``methods`` before any data loads."""
    from acwa.bench.heads import BACKBONES

    options: dict[str, Any] = {}
    if folds is not None:
        if folds < 2:
            raise ValueError(f"--auto-folds must be >= 2 (cross-fitting needs two folds), got {folds}")
        options["folds"] = folds
    if candidates is not None:
        names = tuple(c.strip() for c in candidates.split(",") if c.strip())
        unknown = [c for c in names if c not in PORTFOLIO and c not in MULTILABEL_PORTFOLIO]
        trainable = [c for c in {**PORTFOLIO, **MULTILABEL_PORTFOLIO} if c != "autobalance"]
        if not names or unknown or "autobalance" in names:
            bad = ", ".join(unknown) if unknown else ("autobalance" if "autobalance" in names else "none given")
            raise ValueError(f"--auto-candidates: {bad} is not a bench candidate; choose among {', '.join(trainable)}")
        options["candidates"] = names
    if options and "acwa-auto" not in methods:
        flags = " and ".join(
            f for f, v in (("--auto-folds", folds), ("--auto-candidates", candidates)) if v is not None
        )
        raise ValueError(f"{flags} set acwa-auto's options, but acwa-auto is not among --methods; add it")
    method_options = {"acwa-auto": options} if options else {}
    if fast_backbone is not None:
        if "acwa-auto-fast" not in methods:
            raise ValueError(
                "--auto-fast-backbone sets acwa-auto-fast's option, but acwa-auto-fast is not among --methods; add it"
            )
        if fast_backbone not in BACKBONES:
            raise ValueError(
                f"--auto-fast-backbone: {fast_backbone!r} is not a single-training recipe; "
                f"choose among {', '.join(BACKBONES)}"
            )
        method_options["acwa-auto-fast"] = {"backbone": fast_backbone}
    return method_options
