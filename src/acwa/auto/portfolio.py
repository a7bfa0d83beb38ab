"""The portfolio of methods :func:`acwa.auto.select_method` chooses from, and the recipe of each.

Each method is a way to train an ordinary classifier on imbalanced data that needs nothing
but the training labels:

============================  ==============================================================
``ce``                        plain cross-entropy (a reference; not in the default portfolio)
``weighted-ce``               CE with inverse-frequency class weights, ``w_c ∝ 1 / n_c``
                              normalised to sum C (:func:`acwa.weights.inverse_frequency`)
``balanced-sampler``          plain CE on class-balanced batches (q = 1: every class drawn
                              equally often; :class:`acwa.sampling.ClassBalancedSampler`)
``la``                        logit-adjusted loss, tau = 1 (Menon et al., ICLR 2021):
                              CE on ``f(x) + log pi``
``cb-focal``                  class-balanced focal loss, beta = 0.9999, gamma = 2 (Cui et al.,
                              CVPR 2019)
``autobalance``               AutoBalance (Li et al., NeurIPS 2021): a parametric CE tuned by a
                              bilevel search, then a retrain (:func:`acwa.autobalance.fit`); two
                              trainings per call, so it is opt-in
============================  ==============================================================

Multi-label data (multi-hot labels ``[N, L]``, one sigmoid logit per label) has its own
portfolio, :data:`MULTILABEL_PORTFOLIO`, the bench's multi-label methods with the same names and
settings; the counts ``[n_neg, n_pos]`` per label (:func:`acwa.weights.label_neg_pos_counts`) come from
the training labels:

============================  ==============================================================
``bce``                       plain binary cross-entropy per label
``bce-pos-weight``            BCE with ``pos_weight_l = n_neg_l / n_pos_l``, capped at 100
                              (:func:`acwa.weights.pos_weight`)
``sigmoid-focal``             sigmoid focal loss, alpha 0.25, gamma 2 (Lin et al., ICCV 2017)
``bce-la``                    logit-adjusted BCE: BCE on ``z + tau log(pi_l / (1 - pi_l))``,
                              tau 1 (Menon et al., ICLR 2021)
``asl``                       asymmetric loss, gamma- 4, gamma+ 0, clip 0.05 (Ridnik et al.,
                              ICCV 2021)
``distribution-balanced``     distribution-balanced loss (Wu et al., ECCV 2020): re-balanced
                              weights + negative-tolerant regularisation
============================  ==============================================================

A label without training positives (or negatives), e.g. a rare label whose positives are all
held out in a fold, gets a pseudo-count of 1 where a loss needs ``n > 0`` (``bce-la``,
``distribution-balanced``) and the cap 100 as ``pos_weight``.

:data:`DEFAULT_MULTILABEL_CANDIDATES` (used when the labels are multi-hot and no candidates are
given) is ``bce``, ``bce-pos-weight``, ``asl`` and ``distribution-balanced``: four different
mechanisms (none; per-label re-weighting, which also reshapes the shared features; asymmetric
focusing with negative clipping; co-occurrence-aware re-balancing). Left out: ``bce-la``, whose
population optimum is BCE's up to a fixed per-label logit shift, so it ranks every label's
samples as BCE does (same mAP up to optimisation noise); and ``sigmoid-focal``, whose alpha 0.25
weights the positives *down* (on yeast it had the lowest macro-F1, BENCHMARKS.md). Both default
tuples have four methods, so the budget is the same for both kinds of labels.

:func:`method_recipe` gives the loss and, for the sampler method, the sampler of a method,
built from the labels of the samples a model trains on, so the user's training function reads
``recipe = method_recipe(method, y[train_idx], num_classes)`` and uses ``recipe.loss`` and
``recipe.sampler`` (multi-label: ``method_recipe(method, Y[train_idx], L)``). AutoBalance has
no loss-and-sampler recipe: call :func:`acwa.autobalance.fit` for it inside the training
function.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.data import Sampler

from acwa._internal.validation import check_choice, check_int, check_num_classes

__all__ = [
    "PORTFOLIO",
    "MULTILABEL_PORTFOLIO",
    "DEFAULT_CANDIDATES",
    "DEFAULT_MULTILABEL_CANDIDATES",
    "POS_WEIGHT_CAP",
    "MethodRecipe",
    "method_recipe",
    "check_multi_hot",
    "sigmoid_method_loss",
]

PORTFOLIO: dict[str, str] = {
    "ce": "plain cross-entropy",
    "weighted-ce": "cross-entropy with inverse-frequency class weights (sum C)",
    "balanced-sampler": "plain cross-entropy on class-balanced batches (q = 1)",
    "la": "logit-adjusted loss, tau 1 (Menon et al. 2021)",
    "cb-focal": "class-balanced focal loss, beta 0.9999, gamma 2 (Cui et al. 2019)",
    "autobalance": "AutoBalance: bilevel-tuned parametric CE, then a retrain (Li et al. 2021; 2 trainings)",
}
DEFAULT_CANDIDATES: tuple[str, ...] = ("weighted-ce", "balanced-sampler", "la", "cb-focal")

POS_WEIGHT_CAP = 100.0  # the pos_weight cap of the bench's and acwa.auto's bce-pos-weight
MULTILABEL_PORTFOLIO: dict[str, str] = {
    "bce": "binary cross-entropy per label",
    "bce-pos-weight": f"BCE with pos_weight n_neg / n_pos per label, capped at {POS_WEIGHT_CAP:g}",
    "sigmoid-focal": "sigmoid focal loss, alpha 0.25, gamma 2 (Lin et al. 2017)",
    "bce-la": "logit-adjusted BCE, tau 1 (Menon et al. 2021)",
    "asl": "asymmetric loss, gamma- 4, gamma+ 0, clip 0.05 (Ridnik et al. 2021)",
    "distribution-balanced": "distribution-balanced loss (Wu et al. 2020)",
}
DEFAULT_MULTILABEL_CANDIDATES: tuple[str, ...] = ("bce", "bce-pos-weight", "asl", "distribution-balanced")
_ALL_METHODS = {**PORTFOLIO, **MULTILABEL_PORTFOLIO}


@dataclass
class MethodRecipe:
    """What a training function needs for one portfolio method: the loss (``None`` for
    ``autobalance``, which trains through :func:`acwa.autobalance.fit`), an optional sampler
    over the *training subset's* positions ``0..len(train_labels)-1``, and the counts it was
    built from: samples per class ``[C]``, or ``[n_neg, n_pos]`` per label ``[2, L]``
    (multi-label)."""

    method: str
    loss: nn.Module | None
    sampler: Sampler[int] | None
    class_counts: Tensor


def method_recipe(method: str, train_labels: Tensor, num_classes: int, seed: int = 0) -> MethodRecipe:
    """The loss and sampler of ``method`` for a model trained on samples with labels
    ``train_labels``; the counts come from those labels only, so nothing leaks from held-out
    samples.

    ``method`` is a name of :data:`PORTFOLIO` with class ids ``train_labels [n]`` and
    ``num_classes = C``, or of :data:`MULTILABEL_PORTFOLIO` with multi-hot ``train_labels
    [n, L]`` and ``num_classes = L``. A method given the other kind of labels raises
    ``ValueError``.
    """
    check_choice(method, _ALL_METHODS, "method")
    C = check_num_classes(num_classes) if method in PORTFOLIO else check_int(num_classes, "num_classes", min=1)
    if method in MULTILABEL_PORTFOLIO:
        return _multilabel_recipe(method, train_labels, C)
    from acwa.losses import ClassBalancedLoss, LogitAdjustedLoss, WeightedCrossEntropyLoss
    from acwa.sampling import ClassBalancedSampler
    from acwa.weights import inverse_frequency

    y = torch.as_tensor(train_labels)
    if y.dim() == 2:
        raise ValueError(
            f"method {method!r} trains a softmax over class ids, but train_labels is 2-D {list(y.shape)} "
            f"(multi-hot?); pass class ids [n], or for multi-label data a multi-label method: "
            f"{', '.join(MULTILABEL_PORTFOLIO)}"
        )
    if y.is_floating_point() or y.dim() != 1 or y.numel() == 0:
        raise ValueError(f"train_labels must be a non-empty 1-D integer tensor, got {y.dtype} {list(y.shape)}")
    counts = torch.bincount(y.long().cpu(), minlength=C).double()
    present = counts > 0
    safe = torch.where(present, counts, torch.ones_like(counts))  # an absent class gets the rarest weight
    loss: nn.Module | None
    sampler = None
    if method == "ce":
        loss = WeightedCrossEntropyLoss()
    elif method == "weighted-ce":
        loss = WeightedCrossEntropyLoss(weight=inverse_frequency(safe))
    elif method == "balanced-sampler":
        loss = WeightedCrossEntropyLoss()
        sampler = ClassBalancedSampler(y.long().cpu(), q=1.0, seed=seed, num_classes=C)
    elif method == "la":
        loss = LogitAdjustedLoss(safe, tau=1.0)
    elif method == "cb-focal":
        loss = ClassBalancedLoss(safe, beta=0.9999, base="focal", gamma=2.0)
    else:  # autobalance trains through acwa.autobalance.fit
        loss = None
    return MethodRecipe(method, loss, sampler, counts)


def check_multi_hot(labels: Tensor, name: str = "labels") -> Tensor:
    """``labels`` as an int64 multi-hot matrix ``[n, L]`` (int, bool or float 0/1 accepted);
    ``ValueError`` naming ``name`` for another shape or values other than 0 and 1."""
    y = torch.as_tensor(labels).detach().cpu()
    if y.dim() != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty multi-hot matrix [n, L], got shape {list(y.shape)}")
    if y.is_complex() or not bool(((y == 0) | (y == 1)).all()):
        bad = y[~((y == 0) | (y == 1))][:3].tolist()
        raise ValueError(
            f"{name} must hold only 0 and 1 (multi-hot [n, L], one column per label), got values like {bad}; "
            "threshold soft labels first (labels > 0.5)"
        )
    return y.long()


def _multilabel_recipe(method: str, train_labels: Tensor, num_labels: int) -> MethodRecipe:
    from acwa.weights import label_neg_pos_counts

    raw = torch.as_tensor(train_labels)
    if raw.dim() != 2:
        raise ValueError(
            f"method {method!r} is a multi-label method (one sigmoid logit per label): train_labels must be "
            f"multi-hot [n, L], got shape {list(raw.shape)}; for class ids use one of {', '.join(PORTFOLIO)}"
        )
    y = check_multi_hot(raw, "train_labels")
    if y.shape[1] != num_labels:
        raise ValueError(
            f"train_labels has {y.shape[1]} columns but num_classes={num_labels}; for multi-label data "
            "num_classes is the number of labels L (one column per label)"
        )
    counts = label_neg_pos_counts(y).double()  # [2, L]: n_neg, n_pos per label
    return MethodRecipe(method, sigmoid_method_loss(method, counts), None, counts)


def sigmoid_method_loss(method: str, counts: Tensor) -> nn.Module:
    """The loss of a :data:`MULTILABEL_PORTFOLIO` method from ``[n_neg, n_pos]`` training counts:
    shape ``[2]`` (a one-logit binary model) or ``[2, L]`` per label. A zero count (a label
    without positives or negatives in the subset) becomes a pseudo-count of 1 where the loss
    needs ``n > 0`` and the cap :data:`POS_WEIGHT_CAP` as ``pos_weight``. The bench's sigmoid
    methods build their losses here too."""
    from acwa.losses import (
        AsymmetricLoss,
        BinaryCrossEntropyLoss,
        BinaryLogitAdjustedLoss,
        DistributionBalancedLoss,
        SigmoidFocalLoss,
    )
    from acwa.weights import pos_weight

    check_choice(method, MULTILABEL_PORTFOLIO, "method")
    counts = torch.as_tensor(counts).double()
    safe = counts.clamp_min(1)
    if method == "bce":
        return BinaryCrossEntropyLoss()
    if method == "bce-pos-weight":
        return BinaryCrossEntropyLoss(pos_weight=pos_weight(counts, max_weight=POS_WEIGHT_CAP))
    if method == "sigmoid-focal":
        return SigmoidFocalLoss(alpha=0.25, gamma=2.0)
    if method == "bce-la":
        return BinaryLogitAdjustedLoss(safe, tau=1.0)
    if method == "asl":
        return AsymmetricLoss()
    return DistributionBalancedLoss(safe)
