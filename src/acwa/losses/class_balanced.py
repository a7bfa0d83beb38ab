"""Class-balanced loss (Cui et al., "Class-Balanced Loss Based on Effective Number of
Samples", CVPR 2019).

    w^CB_c = (1 - beta) / (1 - beta^{n_c}),  normalised so that sum_c w^CB_c = C
    l_i    = w^CB_{y_i} * L_base(f(x_i), y_i)

with ``L_base`` one of

* ``'ce'``:      ``-log softmax(f)_y``
* ``'focal'``:   ``-(1 - p_y)^gamma log p_y``, ``p = softmax(f)`` (softmax focal, as :class:`FocalLoss`)
* ``'sigmoid'``: ``sum_c BCE(sigma(f_c), 1[c = y])``, one-vs-all sigmoid summed over classes

The class-balanced weights act as a per-class ``weight`` (multiplied with an optional user
``weight``), so ``reduction='weighted_mean'`` with ``base='ce'`` equals
``nn.CrossEntropyLoss(weight=w^CB)``. ``n_c`` are the training-set counts
(:func:`acwa.weights.class_counts`), never a batch's. Soft targets (probability rows) work
with ``base='ce'`` and ``'sigmoid'`` (the one-vs-all targets become ``q_ic``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from acwa._internal.validation import check_choice
from acwa.losses.base import BaseLoss, LossBatch, LossOptions, Unpack, combine_weights, counts_vector, functional_twin
from acwa.losses.cross_entropy import cross_entropy_values
from acwa.losses.focal import Gamma, _check_gamma, focal_values
from acwa.weights import effective_number

__all__ = ["CB_BASES", "class_balanced_loss", "ClassBalancedLoss"]

CB_BASES = ("ce", "focal", "sigmoid")


def _one_vs_all_bce(batch: LossBatch) -> Tensor:
    z = batch.logits
    q = batch.target if batch.soft else F.one_hot(batch.target, z.shape[1]).movedim(-1, 1).to(z.dtype)
    return F.binary_cross_entropy_with_logits(z, q, reduction="none").sum(1)


class ClassBalancedLoss(BaseLoss):
    """Class-balanced loss ``w^CB_{y_i} * L_base`` (Cui et al. 2019; formula in the module doc).

    Args:
        class_counts: training-set samples per class ``[C]``, all > 0.
        beta: effective-number hyper-parameter in ``[0, 1)`` (default 0.9999; 0 gives the base loss).
        base: ``'ce'`` (default), ``'focal'`` or ``'sigmoid'``.
        gamma: focusing parameter for ``base='focal'`` (default 2.0; >= 0, scalar or per class).
        weight: extra per-class weights, multiplied with ``w^CB``.
        ignore_index: target value excluded from the loss and from N (default -100).
        reduction: ``'mean'`` (default: sum over counted samples / their number N), ``'sum'``,
            ``'none'`` or ``'weighted_mean'`` (/ sum of the samples' ``w^CB * weight``).

    The class-balanced weights are the buffer :attr:`cb_weights`.
    """

    repr_fields = ("base", "beta")
    cb_weights: Tensor
    gamma: float | Tensor

    def __init__(
        self,
        class_counts,
        beta: float = 0.9999,
        base: str = "ce",
        gamma: Gamma = 2.0,
        **options: Unpack[LossOptions],
    ) -> None:
        super().__init__(**options)
        self.base = check_choice(base, CB_BASES, "base")
        self.soft_targets = base != "focal"
        g = _check_gamma(gamma)
        if isinstance(g, Tensor):
            self.register_buffer("gamma", g)
        else:
            self.gamma = g
        self.register_buffer("cb_weights", effective_number(counts_vector(class_counts), beta=beta))
        self.beta = float(beta)

    def class_vectors(self) -> dict[str, Tensor | None]:
        gamma = self.gamma if isinstance(self.gamma, Tensor) else None
        return {**super().class_vectors(), "class_counts": self.cb_weights, "gamma": gamma}

    def per_element(self, batch: LossBatch) -> Tensor:
        if self.base == "ce":
            return cross_entropy_values(batch.logits, batch)
        if self.base == "focal":
            return focal_values(batch, self.gamma)
        return _one_vs_all_bce(batch)

    def element_weight(self, batch: LossBatch, sample_weight: Tensor | None) -> Tensor | None:
        w = self.cb_weights if self.weight is None else self.cb_weights * self.weight.to(self.cb_weights)
        return combine_weights(batch.pick(w), sample_weight)  # soft rows: sum_c q_ic w^CB_c weight_c


class_balanced_loss = functional_twin(
    ClassBalancedLoss,
    "class_balanced_loss",
    "``w^CB_y * L_base`` (weights recomputed from ``class_counts`` on each call; ``gamma`` only for base='focal').",
)
