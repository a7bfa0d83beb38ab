"""One training, then the head: choose a decoupled head and a logit correction on held-out data.

:func:`select_method` pays ``folds x candidates + 1`` trainings; a deep-learning user can
rarely afford that. :func:`select_head` trains the user's model *once* and chooses among
head-level candidates (:data:`acwa.auto.HEAD_CANDIDATES`: the decoupled heads of
:mod:`acwa.heads`, post-hoc logit adjustment, the cross-fitted class bias or binary threshold
of :mod:`acwa.posthoc`), which cost a feature pass and a few epochs on ``[N, d]`` vectors:

1. hold out a stratified part (``holdout``, default 20%) of the *training* data
   (:func:`acwa.splits.stratified_split`; a class with a single sample stays in training;
   multi-label: one fold of :func:`acwa.splits.multilabel_folds`);
2. train the backbone once on the other part: ``train_fn(train_idx) -> model``. Features of
   samples a backbone trained on are nearly separable (Kang et al., ICLR 2020), so a head
   scored on them looks better than it is: the held-out samples are never trained on. With an
   already trained ``model``, pass ``heldout_idx``, the samples it did not train on;
3. extract the features of all training samples once (:func:`acwa.heads.extract_features`);
4. fit every applicable candidate on the training part's features (``crt``, ``lws``,
   ``weight-balanced``, ``reweighted``, ``ncm``) or on nothing (``joint``, ``la-posthoc``);
   candidates tuned on held-out logits (``tau-norm``'s tau, ``bias``, ``threshold``) are
   cross-fitted inside the held-out part (``tune_folds`` folds: tuned on the others, scored on
   each), then tuned on all of it for the final model;
5. score each on the held-out part with ``metric`` (balanced accuracy; multi-label: mAP) and
   keep the best (ties: the earlier candidate in :data:`HEAD_CANDIDATES` order).

The test split is never touched: everything happens inside the training data the caller
passes. The returned model is the backbone trained on the training part with the chosen head
(and correction); the backbone is not retrained on the held-out part (that would be a second
training), but with ``refit=True`` (default) a head fitted on features is fitted again on the
features of all samples once chosen, so the held-out samples of the tail classes count.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from acwa.auto._head_result import HEAD_CANDIDATES, HeadSelection
from acwa.auto.scoring import SELECTION_METRICS, resolve_metric
from acwa.heads import (
    TAU_GRID,
    HeadModel,
    choose_tau,
    extract_features,
    fit_crt,
    fit_lws,
    fit_ncm,
    fit_reweighted,
    fit_weight_balanced,
    split_model,
    tau_normalize,
)
from acwa.heads._features import label_task
from acwa.posthoc import fit_class_bias, tune_threshold
from acwa.splits import multilabel_folds, stratified_folds, stratified_split

__all__ = ["select_head", "HEAD_TASKS"]

HEAD_TASKS: dict[str, tuple[str, ...]] = {
    "multiclass": ("joint", "la-posthoc", "bias", "tau-norm", "ncm", "crt", "lws", "weight-balanced", "reweighted"),
    "binary": ("joint", "la-posthoc", "threshold", "crt", "weight-balanced", "reweighted"),
    "multilabel": ("joint", "crt", "weight-balanced", "reweighted"),
}
"""The candidates that apply to each kind of head (the default candidates)."""

_FITTED = ("crt", "lws", "ncm", "weight-balanced", "reweighted")  # heads fitted on the training part's features
_WHY = {
    "tau-norm": "a positive scale of a single sigmoid logit changes no decision and no ranking",
    "lws": "a positive scale of a single sigmoid logit changes no decision and no ranking",
    "ncm": "class means need exactly one class per sample (multi-class heads only)",
    "bias": "a one-logit or multi-label head takes a threshold, not a per-class bias",
    "threshold": "thresholds apply to one-logit binary heads only",
    "la-posthoc": "a per-label shift changes no label's ranking (mAP)",
}


def _check_labels(labels: Any) -> Tensor:
    y = torch.as_tensor(labels).detach().cpu()
    if y.dim() == 2:
        label_task(y, y.shape[1])  # multi-hot check; one-hot rows refused with the argmax hint
        return y.long()
    task, y = label_task(y, max(int(y.max()) + 1, 2) if y.numel() and not y.is_floating_point() else 2)
    counts = torch.bincount(y)
    if int(counts.max()) < 2:
        raise ValueError(
            "labels: no class has two samples, so nothing can be held out to choose a head; "
            "collect more data or merge classes"
        )
    if int((counts > 0).sum()) < 2:
        raise ValueError("labels must contain at least two classes")
    return y


def _split(y: Tensor, holdout: float, seed: int) -> tuple[Tensor, Tensor]:
    if y.dim() == 2:
        k = max(2, int(round(1 / holdout)))
        folds = multilabel_folds(y, num_folds=k, seed=seed)
        return torch.from_numpy(np.flatnonzero(folds != 0)), torch.from_numpy(np.flatnonzero(folds == 0))
    counts = torch.bincount(y)
    single = torch.isin(y, torch.nonzero(counts == 1).flatten()).numpy()
    multi = np.flatnonzero(~single)
    tr, ho = stratified_split(y.numpy()[multi], val_fraction=holdout, min_per_class=1, seed=seed)
    train = np.sort(np.concatenate([multi[tr], np.flatnonzero(single)]))
    return torch.from_numpy(train), torch.from_numpy(np.sort(multi[ho]))


def _check_candidates(candidates: Sequence[str] | None, multilabel: bool) -> tuple[str, ...] | None:
    if candidates is None:
        return None
    if isinstance(candidates, str) or not all(isinstance(c, str) for c in candidates) or not candidates:
        raise ValueError(f"candidates must be a non-empty sequence of names, got {candidates!r}")
    unknown = [c for c in candidates if c not in HEAD_CANDIDATES]
    if unknown:
        raise ValueError(f"unknown candidates {unknown}; choose among {', '.join(HEAD_CANDIDATES)}")
    if multilabel:
        wrong = [c for c in candidates if c not in HEAD_TASKS["multilabel"]]
        if wrong:
            raise ValueError(
                f"candidates {wrong} do not apply to multi-label heads; "
                f"choose among {', '.join(HEAD_TASKS['multilabel'])}"
            )
    return tuple(dict.fromkeys(candidates))


def select_head(
    X: Tensor,
    labels: Tensor,
    *,
    train_fn: Callable[[Tensor], nn.Module] | None = None,
    model: nn.Module | None = None,
    heldout_idx: Tensor | Sequence[int] | None = None,
    features_fn: Callable[[Tensor], Tensor] | None = None,
    head: nn.Linear | None = None,
    holdout: float = 0.2,
    candidates: Sequence[str] | None = None,
    metric: str | None = None,
    head_epochs: int = 20,
    tune_folds: int = 3,
    refit: bool = True,
    batch_size: int = 1024,
    seed: int = 0,
) -> HeadSelection:
    """Train once, choose the head and correction on held-out training data (module docstring).

    Args:
        X: training inputs ``[N, ...]`` (only the training split: the test split stays out).
        labels: class ids ``[N]`` (multi-class, or 0/1 for a one-logit binary model) or
            multi-hot ``[N, L]``; one-hot rows are refused (pass ``labels.argmax(1)``).
        train_fn: ``train_fn(train_idx) -> model``: train the user's model on ``X[train_idx]``
            with its usual recipe; called once. Plain CE / BCE with instance sampling gives the
            representation Kang et al. found best for re-trained heads; a re-balanced recipe
            (e.g. :func:`acwa.auto.method_recipe` ``'weighted-ce'``) also makes ``joint`` a
            re-balanced model, and the heads are still chosen against it.
        model, heldout_idx: instead of ``train_fn``, an already trained model and the indices of
            the samples it did *not* train on (the held-out part).
        features_fn, head: the backbone ``x -> [n, d]`` and the linear head (default
            ``model.features`` and ``model.head`` / ``fc`` / ``classifier``).
        holdout: fraction held out (0 < holdout < 1; default 0.2).
        candidates: names of :data:`HEAD_CANDIDATES` (default: all that apply to the head,
            :data:`HEAD_TASKS`); unknown names raise before any training.
        metric: a name of :data:`acwa.auto.SELECTION_METRICS` (default balanced accuracy; multi-label:
            ``'mean_average_precision'``).
        head_epochs: epochs of the trained heads; tune_folds: folds inside the held-out part
            for the tuned candidates; batch_size: of the feature pass; seed: split and heads.
        refit: once chosen, a head fitted on features (``crt``, ``lws``, ``ncm``,
            ``weight-balanced``, ``reweighted``) is fitted again on the features of all the
            samples (training and held-out part; no backbone training), so the tail classes'
            held-out samples count too; the scores stay those of the held-out comparison.
    """
    t_start = time.perf_counter()
    y = _check_labels(labels)
    multilabel = y.dim() == 2
    chosen = _check_candidates(candidates, multilabel)
    if (train_fn is None) == (model is None):
        raise ValueError("pass exactly one of train_fn (train_idx -> trained model) and model (already trained)")
    if model is not None and heldout_idx is None:
        raise ValueError(
            "model is already trained: pass heldout_idx, the indices of training samples it did not train on "
            "(features of trained-on samples are nearly separable, so heads must be chosen on unseen ones), "
            "or pass train_fn and let select_head hold them out"
        )
    if not isinstance(refit, bool):
        raise ValueError(f"refit must be True or False, got {refit!r}")
    if not isinstance(holdout, (int, float)) or isinstance(holdout, bool) or not 0 < holdout < 1:
        raise ValueError(f"holdout must be a fraction in (0, 1) of the training samples, got {holdout!r}")
    metric_name = metric if metric is not None else ("mean_average_precision" if multilabel else "balanced_accuracy")
    if metric_name not in SELECTION_METRICS:
        raise ValueError(f"metric must be one of {list(SELECTION_METRICS)}, got {metric_name!r}")
    if len(X) != y.shape[0]:
        raise ValueError(f"X has {len(X)} samples but labels has {y.shape[0]}")
    if model is None:
        train_idx, ho_idx = _split(y, float(holdout), seed)
        assert train_fn is not None
        model = train_fn(train_idx)
        if not isinstance(model, nn.Module):
            raise ValueError(f"train_fn must return the trained nn.Module, got {type(model).__name__}")
        trainings = 1
    else:
        ho_idx = torch.unique(torch.as_tensor(heldout_idx, dtype=torch.long).flatten())
        if ho_idx.numel() == 0 or int(ho_idx.min()) < 0 or int(ho_idx.max()) >= y.shape[0]:
            raise ValueError(f"heldout_idx must be non-empty indices into the {y.shape[0]} training samples")
        train_idx = torch.from_numpy(np.setdiff1d(np.arange(y.shape[0]), ho_idx.numpy()))
        trainings = 0
    t_trained = time.perf_counter()
    if features_fn is None or head is None:
        f_fn, h = split_model(model)
        features_fn, head = features_fn or f_fn, head or h
    if not isinstance(head, nn.Linear):
        raise ValueError(f"head must be an nn.Linear, got {type(head).__name__}")
    feats = extract_features(features_fn, X, batch_size, module=model)
    t_feats = time.perf_counter()
    task, _ = label_task(y, head.out_features)
    applicable = HEAD_TASKS[task]
    names = chosen or applicable
    skipped = {n: _WHY.get(n, "does not apply") for n in names if n not in applicable}
    run = [n for n in names if n in applicable]
    if not run:
        raise ValueError(f"no candidate applies to a {task} head; choose among {', '.join(applicable)}")
    ctx = _Context(feats[train_idx], y[train_idx], feats[ho_idx], y[ho_idx], head, task, seed, head_epochs)
    _, score = resolve_metric(metric_name)
    scores: dict[str, float] = {}
    finals: dict[str, tuple[nn.Module, Tensor | None, float | None]] = {}
    for name in run:
        scores[name], finals[name] = ctx.candidate(name, score, tune_folds)
    best = max(run, key=lambda n: scores[n])
    final_head, bias, tau = finals[best]
    if refit and best in _FITTED:
        all_idx = torch.cat([train_idx, ho_idx])
        full = _Context(feats[all_idx], y[all_idx], feats[ho_idx], y[ho_idx], head, task, seed, head_epochs)
        final_head = full.candidate(best, score, tune_folds)[1][0]
    final_head = final_head.to(head.weight.device)  # the heads were fitted on CPU features
    seconds = {
        "training": t_trained - t_start,
        "features": t_feats - t_trained,
        "heads": time.perf_counter() - t_feats,
    }
    return HeadSelection(
        best,
        scores,
        HeadModel(features_fn, final_head, bias),
        final_head,
        bias,
        task,
        metric_name,
        train_idx,
        ho_idx,
        trainings,
        tau=tau,
        skipped=skipped,
        seconds=seconds,
    )


class _Context:
    """The training part's and held-out part's features and labels, and how to fit each candidate."""

    def __init__(
        self, f_tr: Tensor, y_tr: Tensor, f_ho: Tensor, y_ho: Tensor, head: nn.Linear, task: str, seed: int, epochs: int
    ) -> None:
        self.f_tr, self.y_tr, self.f_ho, self.y_ho = f_tr, y_tr, f_ho, y_ho
        self.head, self.task, self.seed, self.epochs = (
            copy.deepcopy(head).cpu().requires_grad_(False),
            task,
            seed,
            epochs,
        )
        self.outputs = head.out_features

    def _log_prior(self) -> Tensor:
        if self.task == "binary":
            pi = float(self.y_tr.double().mean())
            pi = min(max(pi, 1e-6), 1 - 1e-6)
            return torch.tensor([math.log(pi / (1 - pi))])
        counts = torch.bincount(self.y_tr, minlength=self.outputs).double().clamp_min(1)
        return (counts / counts.sum()).log().float()

    def candidate(
        self, name: str, score: Callable[[Tensor, Tensor], float], tune_folds: int
    ) -> tuple[float, tuple[nn.Module, Tensor | None, float | None]]:
        """``(held-out score, (final head, bias, tau))`` of one candidate."""
        opts = dict(epochs=self.epochs, seed=self.seed)
        with torch.no_grad():
            z_ho = self.head(self.f_ho)
        if name in ("joint", "la-posthoc"):
            bias = -self._log_prior() if name == "la-posthoc" else None
            return score(z_ho if bias is None else z_ho + bias, self.y_ho), (self.head, bias, None)
        if name in ("bias", "tau-norm", "threshold"):
            return self._tuned(name, z_ho, score, tune_folds)
        fitted: nn.Module
        if name == "ncm":
            fitted = fit_ncm(self.f_tr, self.y_tr, self.outputs)
        elif name == "crt":
            fitted = fit_crt(self.f_tr, self.y_tr, self.outputs, **opts)
        elif name == "lws":
            fitted = fit_lws(self.head, self.f_tr, self.y_tr, **opts)
        elif name == "weight-balanced":
            fitted = fit_weight_balanced(self.head, self.f_tr, self.y_tr, **opts)
        else:
            fitted = fit_reweighted(self.f_tr, self.y_tr, self.outputs, **opts)
        with torch.no_grad():
            return score(fitted(self.f_ho), self.y_ho), (fitted, None, None)

    def _tune(self, name: str, z: Tensor, f: Tensor, y: Tensor, score: Callable[[Tensor, Tensor], float]) -> Any:
        if name == "bias":
            return fit_class_bias(z, y, self.outputs)
        if name == "threshold":
            return torch.tensor([-tune_threshold(z, y, "balanced_accuracy").threshold])
        return choose_tau(self.head, f, y, score, TAU_GRID)[0]

    def _apply(self, name: str, tuned: Any, z: Tensor, f: Tensor) -> Tensor:
        if name == "tau-norm":
            with torch.no_grad():
                return tau_normalize(self.head, tuned)(f)
        return z + tuned

    def _tuned(
        self, name: str, z: Tensor, score: Callable[[Tensor, Tensor], float], tune_folds: int
    ) -> tuple[float, tuple[nn.Module, Tensor | None, float | None]]:
        """Cross-fitted inside the held-out part: tuned on the other folds, applied to each fold."""
        f, y = self.f_ho, self.y_ho
        k = max(2, min(tune_folds, y.shape[0]))
        folds = torch.from_numpy(stratified_folds(y, num_folds=k, seed=self.seed))
        out = z.clone()
        for j in range(k):
            rows, rest = folds == j, folds != j
            if not bool(rows.any()) or torch.unique(y[rest]).numel() < 2:
                continue  # a fold without others to tune on keeps the raw logits
            out[rows] = self._apply(name, self._tune(name, z[rest], f[rest], y[rest], score), z[rows], f[rows])
        tuned = self._tune(name, z, f, y, score)
        if name == "tau-norm":
            return score(out, y), (tau_normalize(self.head, tuned), None, float(tuned))
        return score(out, y), (self.head, tuned.float(), None)
