"""The loss side of ACWA: per-element losses, per-element class weights, one reduction.

:class:`ClassWeightedLoss` evaluates a loss on a batch and returns

    L = sum_i s_i * l_i / N_counted,      s_i = task.sample_weight(w)_i

where ``w`` are the current class weights, ``l_i`` the per-element losses (0 where the label is
``ignore_index``, in every task) and ``N_counted`` the number of elements whose label is not
ignored (acwa's ``'mean'``: divided by the count, not by the sum of weights, so the scale is the
same across batches and DDP ranks).

How ``l_i`` is obtained, decided once when the loss is wrapped:

- ``loss_fn=None``: cross-entropy (multiclass) or binary cross-entropy (binary one-logit,
  multi-label), the formulas of :class:`acwa.losses.WeightedCrossEntropyLoss` and
  :class:`acwa.losses.BinaryCrossEntropyLoss`. The weighted sum is one call of PyTorch's kernel
  with the weights as its ``weight`` (``F.cross_entropy(z, y, weight=w, reduction='sum')``, or
  ``F.binary_cross_entropy_with_logits(z, y, weight=s, reduction='sum')``); soft-target rows and
  :meth:`ClassWeightedLoss.per_sample_loss` use those acwa losses;
- an acwa loss (its ``forward`` takes ``sample_weight=``): a shallow copy with
  ``reduction='none'`` and ``validate=False`` (the trainer checks each batch itself) receives
  ``s`` through ``sample_weight``, so its reducer applies it;
- any other loss with a ``reduction`` attribute (``nn.CrossEntropyLoss``, timm losses): a
  shallow copy with ``reduction='none'``; ``loss_fn`` itself is never modified;
- a plain callable must return one value per element.

A loss that returns a scalar cannot be weighted per sample: it raises ``ValueError`` naming
the fix. The copy shares parameters and buffers with ``loss_fn`` (device moves and learnable
parameters follow).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from acwa.losses import BinaryCrossEntropyLoss, WeightedCrossEntropyLoss
from acwa.tasks import MulticlassTask, Task

__all__ = ["ClassWeightedLoss", "accepts_sample_weight"]


def accepts_sample_weight(fn: Any) -> bool:
    """Whether ``fn`` (a module's ``forward`` or a callable) takes a ``sample_weight`` keyword."""
    target = getattr(fn, "forward", fn)
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    return "sample_weight" in params


class ClassWeightedLoss:
    """``sum_i s_i l_i / N_counted`` for one task (formula and dispatch in the module docstring)."""

    def __init__(self, loss_fn: Callable[..., Tensor] | None, task: Task) -> None:
        if loss_fn is not None and not callable(loss_fn):
            raise ValueError(f"loss_fn must be callable (e.g. acwa.FocalLoss(gamma=2.0)), got {type(loss_fn).__name__}")
        self.task = task
        self.builtin = loss_fn is None
        self.per_element_fn = _per_element_view(loss_fn if loss_fn is not None else _default_loss(task))
        self.takes_sample_weight = accepts_sample_weight(self.per_element_fn)

    def per_sample_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Unweighted per-element losses (0 where ``labels == ignore_index``)."""
        return self._values(logits, self._index_labels(labels), None)[0]

    def _index_labels(self, labels: Tensor) -> Tensor:
        """Class indices of any integer width as int64 (what indexing and the kernels take)."""
        hard = isinstance(self.task, MulticlassTask) and not labels.is_floating_point()
        return labels.long() if hard and labels.dtype != torch.long else labels

    def __call__(self, logits: Tensor, labels: Tensor, class_weights: Tensor) -> Tensor:
        """The weighted mean loss ``sum_i s_i l_i / N_counted``."""
        labels = self._index_labels(labels)
        dtype = torch.promote_types(logits.dtype, torch.float32)
        if self.builtin and not (isinstance(self.task, MulticlassTask) and labels.is_floating_point()):
            return self._builtin(logits.to(dtype), labels, class_weights.to(dtype))
        weight = self.task.sample_weight(class_weights.to(dtype), labels)
        values, weighted, counted = self._values(logits, labels, weight)
        if not weighted:
            values = weight.to(values.dtype).reshape(values.shape) * values
        return values.sum() / self._count(labels, counted, values.dtype)

    def _values(self, logits: Tensor, labels: Tensor, weight: Tensor | None) -> tuple[Tensor, bool, Tensor | None]:
        """Per-element values (masked to 0 where not counted), whether ``weight`` was applied by
        the loss, and the counted mask."""
        counted = self.task.counted(labels)
        target = labels
        if counted is not None and not isinstance(self.task, MulticlassTask):
            target = torch.where(counted, labels, 0)  # sigmoid losses read float labels as they are
        if weight is not None and self.takes_sample_weight:
            if logits.dim() == 2 and logits.shape[1] == 1:  # one logit column: sigmoid losses return [N]
                weight = weight.reshape(-1)
            values = self.per_element_fn(logits, target, sample_weight=weight)
        else:
            values = self.per_element_fn(logits, target)
        values = _checked(values, labels)
        weighted = weight is not None and self.takes_sample_weight
        if counted is not None and not weighted:  # a weighted acwa loss is 0 there already (s_i = 0)
            values = values * counted.reshape(values.shape).to(values.dtype)
        return values, weighted, counted

    def _builtin(self, z: Tensor, labels: Tensor, w: Tensor) -> Tensor:
        """The built-in loss's weighted sum in one PyTorch kernel, over ``N_counted``."""
        counted = self.task.counted(labels)
        if isinstance(self.task, MulticlassTask):
            ignore = -100 if self.task.ignore_index is None else self.task.ignore_index
            total = F.cross_entropy(z, labels, weight=w, ignore_index=ignore, reduction="sum")
        else:
            y = labels if counted is None else torch.where(counted, labels, 0)
            z = z.reshape(y.shape)
            s = self.task.sample_weight(w, labels).reshape(y.shape)  # 0 where not counted
            total = F.binary_cross_entropy_with_logits(z, y.to(z.dtype), weight=s, reduction="sum")
        return total / self._count(labels, counted, z.dtype)

    def _count(self, labels: Tensor, counted: Tensor | None, dtype: torch.dtype) -> Tensor | int:
        if counted is not None:
            return counted.sum().clamp_min(1).to(dtype)
        soft_rows = isinstance(self.task, MulticlassTask) and labels.is_floating_point()
        return max(1, labels.shape[0] if soft_rows else labels.numel())


def _default_loss(task: Task) -> Callable[..., Tensor]:
    if isinstance(task, MulticlassTask):
        ignore = -100 if task.ignore_index is None else task.ignore_index
        return WeightedCrossEntropyLoss(ignore_index=ignore, reduction="none", validate=False)
    return BinaryCrossEntropyLoss(reduction="none", validate=False)


def _checked(values: Any, labels: Tensor) -> Tensor:
    expected = tuple(labels.shape[:1]) if labels.is_floating_point() and labels.dim() == 2 else tuple(labels.shape)
    if isinstance(values, Tensor) and values.numel() == labels.numel() and tuple(values.shape) != expected:
        values = values.reshape(labels.shape)  # e.g. binary [N] losses for [N, 1] labels
    if not isinstance(values, Tensor) or tuple(values.shape) not in (expected, tuple(labels.shape)):
        shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(
            f"loss_fn returned shape {shape}, but ACWA needs one loss per sample (shape {expected}); "
            "pass a loss with reduction='none' (e.g. nn.CrossEntropyLoss(reduction='none')), an acwa.losses "
            "module (e.g. acwa.losses.FocalLoss), which takes ACWA's weights per sample, or loss_fn=None "
            "(cross-entropy, soft targets included; binary cross-entropy for one-logit and multi-label models)"
        )
    return values


def _per_element_view(loss_fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``loss_fn`` itself when it has no ``reduction``; else a shallow copy with ``reduction='none'``
    (parameters and buffers shared; ``loss_fn`` untouched)."""
    if not hasattr(loss_fn, "reduction"):
        return loss_fn
    if getattr(loss_fn, "reduction", None) == "none" and getattr(loss_fn, "validate", False) is False:
        return loss_fn
    view = copy.copy(loss_fn)
    if hasattr(view, "validate"):  # acwa losses: the trainer checks every batch itself
        view.validate = False
    try:
        view.reduction = "none"
    except AttributeError as err:
        raise ValueError(
            f"loss_fn {type(loss_fn).__name__} has a read-only 'reduction'; pass a loss with reduction='none'"
        ) from err
    return view
