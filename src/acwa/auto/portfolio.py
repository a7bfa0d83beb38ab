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

:func:`method_recipe` gives the loss and, for the sampler method, the sampler of a method,
built from the labels of the samples a model trains on, so the user's training function reads
``recipe = method_recipe(method, y[train_idx], num_classes)`` and uses ``recipe.loss`` and
``recipe.sampler``. AutoBalance has no loss-and-sampler recipe: call
:func:`acwa.autobalance.fit` for it inside the training function.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.data import Sampler

from .._validation import check_choice, check_num_classes

__all__ = ["PORTFOLIO", "DEFAULT_CANDIDATES", "MethodRecipe", "method_recipe"]

PORTFOLIO: dict[str, str] = {
    "ce": "plain cross-entropy",
    "weighted-ce": "cross-entropy with inverse-frequency class weights (sum C)",
    "balanced-sampler": "plain cross-entropy on class-balanced batches (q = 1)",
    "la": "logit-adjusted loss, tau 1 (Menon et al. 2021)",
    "cb-focal": "class-balanced focal loss, beta 0.9999, gamma 2 (Cui et al. 2019)",
    "autobalance": "AutoBalance: bilevel-tuned parametric CE, then a retrain (Li et al. 2021; 2 trainings)",
}
DEFAULT_CANDIDATES: tuple[str, ...] = ("weighted-ce", "balanced-sampler", "la", "cb-focal")


@dataclass
class MethodRecipe:
    """What a training function needs for one portfolio method: the loss (``None`` for
    ``autobalance``, which trains through :func:`acwa.autobalance.fit`) and an optional sampler
    over the *training subset's* positions ``0..len(train_labels)-1``."""

    method: str
    loss: nn.Module | None
    sampler: Sampler[int] | None
    class_counts: Tensor


def method_recipe(method: str, train_labels: Tensor, num_classes: int, seed: int = 0) -> MethodRecipe:
    """The loss and sampler of ``method`` (see :data:`PORTFOLIO`) for a model trained on
    samples with labels ``train_labels``; the counts come from those labels only, so nothing
    leaks from held-out samples."""
    from ..losses import ClassBalancedLoss, LogitAdjustedLoss, WeightedCrossEntropyLoss
    from ..sampling import ClassBalancedSampler
    from ..weights import inverse_frequency

    check_choice(method, PORTFOLIO, "method")
    C = check_num_classes(num_classes)
    y = torch.as_tensor(train_labels)
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
