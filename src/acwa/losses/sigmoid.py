"""The sigmoid family: one-logit binary and multi-label losses on the same template.

Inputs (checked by :mod:`acwa.tasks`):

* binary: logits ``[N]`` or ``[N, 1]`` with labels ``[N]`` in {0, 1} (int, bool or float);
  per-element values are ``[N]``;
* multi-label: logits ``[N, L]`` with a multi-hot matrix ``[N, L]``; values are ``[N, L]``.

Integer labels equal to ``ignore_index`` (default -100) are not counted. ``weight`` is a
per-label factor ``[L]`` (binary: one entry), ``sample_weight`` a per-sample ``[N]`` or
per-element weight; ``reduction='mean'`` divides by the number of counted *elements* (as
``nn.BCEWithLogitsLoss``). Count-based sigmoid losses take ``class_counts`` as the
``[n_neg, n_pos]`` counts of :func:`acwa.weights.label_neg_pos_counts`: shape ``[2]`` (binary) or
``[2, L]`` (one column per label).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from acwa.losses.base import BaseLoss, LossBatch, as_class_vector, check_class_vector, combine_weights, upcast
from acwa.losses.reducers import check_reduction
from acwa.tasks import BinaryTask, MultilabelTask

__all__ = ["SigmoidLoss", "NegPosCounts", "PosWeight", "check_pos_weight", "neg_pos_counts", "bce_values"]

NegPosCounts = Tensor | np.ndarray | Sequence[float] | Sequence[Sequence[float]]  # [2] or [2, L]
PosWeight = Tensor | float | Sequence[float] | None


def check_pos_weight(pos_weight: PosWeight, name: str = "pos_weight") -> Tensor | None:
    """``pos_weight`` (a number or one per label) as a float vector ``>= 0``, finite."""
    if pos_weight is None:
        return None
    t = torch.as_tensor(pos_weight, dtype=torch.get_default_dtype())
    return as_class_vector(t.reshape(-1) if t.dim() == 0 else t, name)


def neg_pos_counts(class_counts: NegPosCounts, name: str = "class_counts") -> tuple[Tensor, Tensor]:
    """``(n_neg, n_pos)`` float64 ``[L]`` from ``[2]`` / ``[2, L]`` counts (or a multi-hot label matrix
    is *not* accepted: pass ``acwa.weights.label_neg_pos_counts(labels)``). Both must be > 0 for every label."""
    t = torch.as_tensor(np.asarray(class_counts) if not isinstance(class_counts, Tensor) else class_counts).detach()
    if t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be real counts [n_neg, n_pos], got dtype {t.dtype}")
    t = t.to(torch.float64)
    if t.dim() == 1:
        t = t.unsqueeze(1)
    if t.dim() != 2 or t.shape[0] != 2:
        raise ValueError(
            f"{name} must be [n_neg, n_pos] (shape [2], or [2, L] for L labels, e.g. "
            f"acwa.weights.label_neg_pos_counts(train_labels)), got shape {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()) or bool((t <= 0).any()):
        raise ValueError(
            f"{name} must be finite with n_neg > 0 and n_pos > 0 for every label, got {t.tolist()}; "
            "add a pseudo-count (class_counts + 1) for a label without positives or negatives"
        )
    return t[0], t[1]


def bce_values(z: Tensor, y: Tensor, pos_weight: Tensor | None = None) -> Tensor:
    """``-[pos_weight * y log sigma(z) + (1 - y) log(1 - sigma(z))]`` per element (stable)."""
    pw = None if pos_weight is None else pos_weight.to(device=z.device, dtype=z.dtype)
    return F.binary_cross_entropy_with_logits(z, y, pos_weight=pw, reduction="none")


class SigmoidLoss(BaseLoss):
    """Template of the sigmoid family: :meth:`prepare` reads binary or multi-label inputs
    (module docstring); subclasses implement :meth:`per_element` on ``batch.logits`` ``[N]`` /
    ``[N, L]`` and 0/1 float ``batch.target`` of the same shape."""

    soft_targets = False

    def prepare(self, logits: Tensor, target: Tensor) -> LossBatch:
        check_reduction(self.reduction)
        if not isinstance(logits, Tensor) or logits.dim() not in (1, 2):
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ValueError(
                f"logits of a sigmoid loss must be [N] or [N, 1] (binary) or [N, L] (multi-label), got {shape}; "
                "C >= 2 softmax logits with class indices use make_loss('ce'), make_loss('focal'), ..."
            )
        binary = logits.dim() == 1 or logits.shape[1] == 1
        check_values = self.check_values_now(logits)
        ignore = self._ignore_for_check(target, check_values)
        if binary:
            BinaryTask(ignore_index=ignore).check(logits, target, check_values)
            z, y = upcast(logits).reshape(-1), target.reshape(-1)
        else:
            MultilabelTask(num_labels=logits.shape[1], ignore_index=ignore).check(logits, target, check_values)
            z, y = upcast(logits), target
        counted = None
        if not y.is_floating_point() and y.dtype != torch.bool:
            counted = y != self.ignore_index
            y = torch.where(counted, y, torch.zeros_like(y))
        num_labels = 1 if binary else logits.shape[1]
        for name, v in self.class_vectors().items():
            check_class_vector(v, num_labels, name)
        return LossBatch(z, y.to(z.dtype), counted)

    def _ignore_for_check(self, target: Tensor, check_values: bool) -> int | None:
        """``ignore_index`` for the task's label check, or ``None`` when no label can equal it
        (float/bool labels, or integer labels whose minimum is >= 0: one ``aminmax`` read,
        cheaper than filtering the ignored entries out)."""
        if not isinstance(target, Tensor) or target.is_floating_point() or target.dtype == torch.bool:
            return None
        if check_values and target.numel() and int(target.min()) >= 0 and self.ignore_index < 0:
            return None
        return self.ignore_index

    def label_view(self, v: Tensor, batch: LossBatch) -> Tensor:
        """A per-label vector ``[L]`` broadcast to the per-element values (``[N]`` or ``[N, L]``)."""
        v = v.to(device=batch.logits.device, dtype=batch.logits.dtype)
        return (v.reshape(()) if batch.logits.dim() == 1 else v.view(1, -1)).expand_as(batch.logits)

    def element_weight(self, batch: LossBatch, sample_weight: Tensor | None) -> Tensor | None:
        w = None if self.weight is None else self.label_view(self.weight, batch)
        return combine_weights(w, sample_weight)
