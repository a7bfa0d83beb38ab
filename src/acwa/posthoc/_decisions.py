"""Post-hoc per-class logit bias, fitted on held-out or cross-fitted logits.

A trained classifier predicts ``argmax_c f_c(x) + b_c``. The bias ``b`` is fitted on logits of
samples the model did not train on, by minimising the class-balanced log-loss

    L(b) = (1/C') sum_c (1/n_c) sum_{i: y_i = c} -log softmax(z_i + b)_{y_i}  +  l2 * ||b - mean(b)||^2

(``C'`` classes present in the held-out labels, ``n_c`` held-out samples of class c; a class
with no held-out sample takes no part and gets ``b_c = 0``). ``L`` is convex in ``b``, so
L-BFGS finds its minimum; the result is centred to mean 0 (a common shift changes no argmax).
Minimising the balanced log-loss calibrates the model to a uniform class prior, the
Bayes-optimal target for balanced accuracy (Menon et al., "Long-tail learning via logit
adjustment", ICLR 2021, derive the fixed ``-tau log pi`` version of this correction; here it is
estimated from data, per class).

Where do held-out logits come from without giving up training data? From cross-fitting
(:func:`cross_fitted_logits`): K models, each trained with one fold held out, predict that fold;
every training sample gets an out-of-fold logit vector. The final model is trained on all the
data, and the bias fitted on the out-of-fold logits is added to its logits. This costs K extra
trainings and is what the ``crossfit-bias`` benchmark method does; with a real validation set,
call :func:`fit_class_bias` on its logits directly.

The bias can also shape training instead of prediction: train the final model with its loss on
``logits - b`` and predict with the raw logits (at the population optimum of the softmax
cross-entropy both give the same decision rule). On top of logit adjustment this is the ``crossfit-la``
benchmark method: logit adjustment whose offsets are estimated from held-out logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from acwa._internal.progress import progress_iter
from acwa._internal.validation import (
    check_float,
    check_int,
    check_logits_labels,
    check_num_classes,
)
from acwa.splits import multilabel_folds, stratified_folds

__all__ = ["fit_class_bias", "cross_fitted_logits"]


def _check_logits_labels(logits: Tensor, labels: Tensor, num_classes: int | None) -> int:
    C = None if num_classes is None else check_num_classes(num_classes)
    check_logits_labels(logits, labels, C, logits_name="logits")
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape [N, C], one row per held-out sample, got {tuple(logits.shape)}")
    if labels.numel() == 0:
        raise ValueError("labels is empty: fit_class_bias needs at least one held-out sample")
    return logits.shape[1]


def fit_class_bias(
    logits: Tensor,
    labels: Tensor,
    num_classes: int | None = None,
    l2: float = 1e-2,
    max_iter: int = 200,
) -> Tensor:
    """The per-class bias ``b`` [C] minimising the class-balanced log-loss of ``logits + b``.

    Args:
        logits: ``[N, C]`` held-out (validation or out-of-fold) logits.
        labels: ``[N]`` their labels.
        num_classes: C (default ``logits.shape[1]``).
        l2: ridge penalty on the centred bias; it keeps ``b`` finite when a class is always (or
            never) predicted correctly.
        max_iter: L-BFGS iterations.

    Returns:
        ``b``, float32 on the logits' device. The classes present in ``labels`` have mean bias 0;
        a class absent from them takes no part in the fit and gets 0. Predict with
        ``(logits + b).argmax(1)``.
    """
    C = _check_logits_labels(logits, labels, num_classes)
    l2 = check_float(l2, "l2", hint="a small ridge such as 1e-2 keeps the bias finite")
    if not l2 > 0:
        raise ValueError(f"l2 must be a positive finite number, got {l2!r}")
    max_iter = check_int(max_iter, "max_iter", min=1, hint="L-BFGS iterations; 0 would return an unfitted bias")
    present = torch.bincount(labels.detach().long().cpu(), minlength=C) > 0
    # classes without held-out samples carry no evidence: they take no part in the fit and keep
    # a neutral bias (0, the mean of the others), instead of being pushed down for never being right
    keep = torch.nonzero(present).flatten().to(logits.device)
    remap = torch.cumsum(present.long(), 0) - 1
    z = logits.detach().double().index_select(1, keep)
    y = remap.to(logits.device)[labels.detach().long()]
    counts = torch.bincount(y, minlength=keep.numel()).double()
    sample_w = (1.0 / (counts * keep.numel()))[y]  # each present class weighs 1/C'
    b = torch.zeros(keep.numel(), dtype=torch.float64, device=z.device, requires_grad=True)
    opt = torch.optim.LBFGS([b], max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-10)

    def closure() -> Tensor:
        opt.zero_grad()
        centred = b - b.mean()
        loss = (sample_w * F.cross_entropy(z + b, y, reduction="none")).sum() + l2 * centred.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    fitted = b.detach() - b.detach().mean()
    out = torch.zeros(C, dtype=torch.float32, device=logits.device)
    out[keep] = fitted.float()
    return out


def _fold_ids(labels: Tensor, num_folds: int, seed: int) -> tuple[Tensor, str]:
    """(fold id per row, label kind): ``'ids'`` for class ids / binary 0/1 targets ``[N]``,
    ``'multihot'`` for ``[N, L]``."""
    if not isinstance(labels, Tensor) or labels.dim() not in (1, 2):
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(
            "labels must be a torch.Tensor of class ids [N] (multiclass, or 0/1 for a binary one-logit "
            f"model) or a multi-hot matrix [N, L] (multi-label), got {shape}"
        )
    if labels.is_complex():
        raise ValueError(f"labels must hold class ids or 0/1 values, got dtype {labels.dtype}")
    if labels.shape[0] == 0:
        raise ValueError("labels is empty: cross-fitting needs at least num_folds samples")
    y = labels.detach().cpu()
    if labels.dim() == 2:
        if labels.shape[1] == 0 or not bool(((y == 0) | (y == 1)).all()):
            raise ValueError(
                "labels [N, L] must be a multi-hot matrix of 0/1 (int, bool or float), one column per label; "
                "threshold soft labels first (labels > 0.5)"
            )
        return torch.from_numpy(multilabel_folds(y, num_folds=num_folds, seed=seed)), "multihot"
    if y.is_floating_point() or y.dtype == torch.bool:
        if not bool(((y == 0) | (y == 1)).all()):
            raise ValueError(
                f"labels must hold integer class ids, got dtype {labels.dtype} with values other than 0/1; "
                "pass labels.long() (float labels are taken only as 0/1 binary targets)"
            )
        y = y.long()
    return torch.from_numpy(stratified_folds(y, num_folds=num_folds, seed=seed)), "ids"


def cross_fitted_logits(
    train_and_predict: Callable[[Tensor, Tensor], Tensor],
    labels: Tensor,
    num_folds: int = 5,
    seed: int = 0,
    progress: bool = False,
) -> Tensor:
    """Out-of-fold logits for multiclass, binary one-logit or multi-label data (K folds, K models).

    For each of ``num_folds`` folds, ``train_and_predict(train_idx, heldout_idx)`` trains a fresh
    model on ``train_idx`` and returns its logits for ``heldout_idx`` (both int64 index tensors
    into the training data). Every row of the result is predicted by a model that never saw that
    sample.

    The three task shapes (the shape of the returned logits follows the model):

    * multiclass: ``labels`` class ids ``[N]``, the model returns ``[n, C]``: result ``[N, C]``;
    * binary one-logit: ``labels`` 0/1 ``[N]`` (int, bool or float), the model returns ``[n]``
      or ``[n, 1]``: result ``[N]`` or ``[N, 1]``, as :class:`acwa.posthoc.Calibrator` takes them;
    * multi-label: ``labels`` multi-hot ``[N, L]`` (int, bool or float 0/1), the model returns
      ``[n, L]``: result ``[N, L]``.

    Folds: class ids are stratified per class (:func:`acwa.splits.stratified_folds`); multi-hot
    rows by iterative stratification over the labels (:func:`acwa.splits.multilabel_folds`), so
    each label's positives are spread over the folds as far as possible.

    Returns float32 logits on the CPU. A class (label) with fewer samples (positives) than folds
    is missing from the training part of the fold that holds it out; its out-of-fold logits then
    say how the model treats a class it has not seen, which is what pushes its bias up.
    ``progress=True`` shows a bar over the folds (tqdm).
    """
    if not callable(train_and_predict):
        raise ValueError(
            "train_and_predict must be callable (train_idx, heldout_idx) -> logits, "
            f"got {type(train_and_predict).__name__}"
        )
    folds, kind = _fold_ids(labels, num_folds, seed)
    out: Tensor | None = None
    for k in progress_iter(range(num_folds), progress, "cross-fitting folds", num_folds):
        train_idx = torch.nonzero(folds != k).flatten()
        heldout_idx = torch.nonzero(folds == k).flatten()
        z = train_and_predict(train_idx, heldout_idx)
        n = heldout_idx.numel()
        if kind == "multihot":
            want = f"[{n}, {labels.shape[1]}] (one logit per label)"
            ok = isinstance(z, Tensor) and tuple(z.shape) == (n, labels.shape[1])
        else:
            want = f"[{n}, C] (multiclass), or [{n}] / [{n}, 1] (binary one-logit)"
            ok = isinstance(z, Tensor) and z.dim() in (1, 2) and z.shape[0] == n
        if not ok:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"train_and_predict must return logits {want} for the held-out fold {k}, got {shape}")
        if out is not None and z.shape[1:] != out.shape[1:]:
            raise ValueError(
                f"train_and_predict returned logits {tuple(z.shape)} for fold {k}, whose rows have shape "
                f"{tuple(z.shape[1:])}, but rows of shape {tuple(out.shape[1:])} for an earlier fold; every fold "
                "model must output all C classes (build the model with num_classes=C even when a class is absent "
                "from a fold's training part)"
            )
        if not z.is_floating_point() or not bool(torch.isfinite(z).all()):
            raise ValueError(f"train_and_predict returned NaN/Inf or non-float logits for fold {k}")
        if out is None:
            if kind == "ids":
                _check_ids_fit_logits(labels, z)
            out = torch.empty((labels.shape[0], *z.shape[1:]), dtype=torch.float32)
        out[heldout_idx] = z.detach().float().cpu()
    assert out is not None  # num_folds >= 2 folds were filled
    return out


def _check_ids_fit_logits(labels: Tensor, z: Tensor) -> None:
    """Class ids ``[N]`` against the first fold's logits: one logit takes 0/1 targets, ``C``
    logits take ids in ``[0, C)``."""
    y = labels.detach().cpu()
    width = 1 if z.dim() == 1 else z.shape[1]
    if width == 1:
        bad = ~((y == 0) | (y == 1))
        if bool(bad.any()):
            raise ValueError(
                f"train_and_predict returns one logit per sample (binary), but labels hold values "
                f"{sorted(set(y[bad].tolist()))[:5]}; binary labels must be 0/1 (or return [n, C] logits "
                "for C classes)"
            )
        return
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(
            f"labels must hold integer class ids for [n, {width}] (multiclass) logits, got dtype {labels.dtype}; "
            "pass labels.long()"
        )
    bad = (y < 0) | (y >= width)
    if bool(bad.any()):
        raise ValueError(
            f"labels hold class ids {sorted(set(y[bad].tolist()))[:5]} outside [0, {width}) for the "
            f"{width} logit columns train_and_predict returns; build the model with num_classes=C"
        )
