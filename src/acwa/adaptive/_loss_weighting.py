"""The loss side of ACWA: per-element losses, per-element class weights, one reduction.

:class:`ClassWeightedLoss` evaluates ``loss_fn`` on a batch and returns

    L = sum_i s_i * l_i / N_counted,      s_i = task.sample_weight(w)_i

where ``w`` are the current class weights, ``l_i`` the per-element losses and ``N_counted`` the
number of elements whose label is not ``ignore_index`` (acwa's ``'mean'``: divided by the
count, not by the sum of weights, so the scale is the same across batches and DDP ranks).

How ``l_i`` is obtained, decided once when the loss is wrapped:

- ``loss_fn=None``: cross-entropy, fused with the weights into one kernel
  (``F.cross_entropy(z, y, weight=w / N, reduction='sum')``);
- an acwa loss (its ``forward`` takes ``sample_weight=``): a shallow copy with
  ``reduction='none'`` (and ``validate=False``: the trainer has checked the batch, per its
  ``validate_inputs``) receives ``s`` through ``sample_weight`` (the loss's reducer applies it);
- any other loss with a ``reduction`` attribute (``nn.CrossEntropyLoss``, timm losses): a
  shallow copy with ``reduction='none'``; ``loss_fn`` itself is never modified;
- a plain callable must return one value per element.

A loss that returns a scalar cannot be weighted per sample: it raises ``ValueError`` naming
the fix. The copy shares parameters and buffers with ``loss_fn`` (device moves and learnable
parameters follow); other attributes changed on ``loss_fn`` later are not seen by the copy:
build a new trainer, or change them on :attr:`ClassWeightedLoss.per_element_fn`.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from acwa.tasks._tasks import BinaryTask, MulticlassTask, Task

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
        self.loss_fn = loss_fn
        self.task = task
        self.ignore_index = task.ignore_index
        self.takes_sample_weight = loss_fn is not None and accepts_sample_weight(loss_fn)
        self.per_element_fn = _per_element_view(loss_fn) if loss_fn is not None else None
        self._scaled: tuple | None = None  # (weights, version, N, dtype, weights / N)
        self._bce_cache: tuple | None = None  # (weights, version, dtype, N, a, d)

    def per_sample_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Unweighted per-element losses of ``loss_fn`` (0 where ``labels == ignore_index``)."""
        if self.per_element_fn is None:
            if labels.is_floating_point() or not isinstance(self.task, MulticlassTask):
                return self._default_values(logits, labels)
            labels = labels.long()
            return F.cross_entropy(logits, labels, reduction="none", ignore_index=_ce_ignore(self.ignore_index))
        return self._checked(self.per_element_fn(logits, labels), labels)

    def __call__(self, logits: Tensor, labels: Tensor, class_weights: Tensor, all_counted: bool | None) -> Tensor:
        """The weighted mean loss. ``all_counted=True`` promises that no label is ignored (then
        ``w / N`` is cached until the weights change: no extra kernel per step)."""
        hard = isinstance(self.task, MulticlassTask) and not labels.is_floating_point()
        if hard and labels.dtype != torch.long:  # any integer width: the kernels index with int64
            labels = labels.long()
        if self.loss_fn is None and hard:  # fused: sum_i (w_{y_i} / N) CE_i in one kernel
            w = self._weights_over_count(class_weights, labels, logits.dtype, all_counted)
            return F.cross_entropy(
                logits, labels, weight=w, ignore_index=_ce_ignore(self.ignore_index), reduction="sum"
            )
        if self.loss_fn is None and not isinstance(self.task, MulticlassTask):
            return self._fused_bce(logits, labels, class_weights, all_counted)
        weight = self.task.sample_weight(class_weights.to(torch.promote_types(logits.dtype, torch.float32)), labels)
        if self.per_element_fn is None:
            values = self._default_values(logits, labels)
        elif self.takes_sample_weight:
            values = self._checked(self.per_element_fn(logits, labels, sample_weight=weight), labels)
            return values.sum() / self._count(labels, values.dtype, all_counted)
        else:
            values = self._checked(self.per_element_fn(logits, labels), labels)
        return (weight.to(values.dtype) * values).sum() / self._count(labels, values.dtype, all_counted)

    def _default_values(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy with soft targets ``-sum_c q_c log p_c`` (multiclass), or binary
        cross-entropy with logits per element (binary ``[N]``, multi-label ``[N, L]``)."""
        if isinstance(self.task, MulticlassTask):
            return F.cross_entropy(logits, labels, reduction="none")
        target = labels.reshape(-1) if labels.dim() == 2 and logits.dim() == 1 else labels
        z = logits.reshape(target.shape)
        counted = self.task.counted(target)
        y = target.to(z.dtype) if counted is None else torch.where(counted, target, 0).to(z.dtype)
        return F.binary_cross_entropy_with_logits(
            z.float() if z.dtype in (torch.float16, torch.bfloat16) else z,
            y.to(torch.promote_types(z.dtype, torch.float32)),
            reduction="none",
        )

    def _fused_bce(self, logits: Tensor, labels: Tensor, w: Tensor, all_counted: bool | None) -> Tensor:
        """Binary / multi-label default loss as one ``binary_cross_entropy_with_logits`` call:
        ``sum_e s_e BCE_e / N`` with the task's per-element weights ``s`` (binary ``w_{y_i}``,
        multi-label ``y_il w_l + 1 - y_il``) and ``N`` the counted elements.

        With no ignored element ``s / N = a + y * d`` is one ``addcmul`` of cached tensors
        (binary ``a = w_0 / N``, ``d = (w_1 - w_0) / N``; multi-label ``a = 1 / (N L)``,
        ``d = (w - 1) / (N L)``), recomputed only when the weights or ``N`` change. With ignored
        elements ``s`` is 0 there and ``N`` counts the rest."""
        target = labels.reshape(-1) if labels.dim() != 1 and isinstance(self.task, BinaryTask) else labels
        z = logits if logits.shape == target.shape else logits.reshape(target.shape)
        z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
        counted = None if all_counted else self.task.counted(target)
        if counted is None:
            y = target.to(z.dtype)
            base, delta = self._bce_weights(w, z.dtype, z.numel())
            return F.binary_cross_entropy_with_logits(z, y, weight=torch.addcmul(base, y, delta), reduction="sum")
        y = torch.where(counted, target, 0)
        weight = self.task.sample_weight(w.to(z.dtype), target) / self._count(target, z.dtype, False)
        return F.binary_cross_entropy_with_logits(z, y.to(z.dtype), weight=weight, reduction="sum")

    def _bce_weights(self, w: Tensor, dtype: torch.dtype, n: int) -> tuple[Tensor, Tensor]:
        """``(a, d)`` of :meth:`_fused_bce`, cached on the weights' identity and version, the
        dtype and ``n`` (computed afresh, inside the graph, under ``torch.compile``)."""
        if torch.compiler.is_compiling():
            return self._bce_pair(w, dtype, n)
        key = (w, w._version, dtype, n)
        cached = self._bce_cache
        if cached is None or cached[0] is not w or cached[1:4] != key[1:]:
            self._bce_cache = cached = key + self._bce_pair(w, dtype, n)
        return cached[4], cached[5]

    def _bce_pair(self, w: Tensor, dtype: torch.dtype, n: int) -> tuple[Tensor, Tensor]:
        wd, n = w.to(dtype), max(1, n)
        if isinstance(self.task, BinaryTask):
            return wd[0] / n, (wd[1] - wd[0]) / n
        return torch.full((), 1.0 / n, dtype=dtype, device=w.device), (wd - 1.0) / n

    def _count(self, labels: Tensor, dtype: torch.dtype, all_counted: bool | None) -> Tensor | int:
        counted = None if all_counted else self.task.counted(labels)
        if counted is not None:
            return counted.sum().clamp_min(1).to(dtype)
        soft_rows = isinstance(self.task, MulticlassTask) and labels.is_floating_point()
        return max(1, labels.shape[0] if soft_rows else labels.numel())

    def _weights_over_count(self, w: Tensor, labels: Tensor, dtype: torch.dtype, all_counted: bool | None) -> Tensor:
        """``w / N_counted`` [C]; cached on the host-known N when no label is ignored."""
        if not all_counted:
            return w.to(dtype) / self._count(labels, dtype, False)
        key = (w, w._version, labels.numel(), dtype)
        cached = self._scaled
        if cached is None or cached[0] is not w or cached[1:4] != key[1:]:
            self._scaled = cached = key + (w.to(dtype) / max(1, labels.numel()),)
        return cached[-1]

    @staticmethod
    def _checked(values: Any, labels: Tensor) -> Tensor:
        expected = tuple(labels.shape[:1]) if labels.is_floating_point() and labels.dim() == 2 else tuple(labels.shape)
        if not isinstance(values, Tensor) or tuple(values.shape) not in (expected, tuple(labels.shape)):
            shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
            raise ValueError(
                f"loss_fn returned shape {shape}, but ACWA needs one loss per sample (shape {expected}); "
                "pass a loss with reduction='none' (e.g. nn.CrossEntropyLoss(reduction='none')), an acwa.losses "
                "module (e.g. acwa.losses.FocalLoss), which takes ACWA's weights per sample, or loss_fn=None "
                "(cross-entropy, soft targets included; binary cross-entropy for one-logit and multi-label models)"
            )
        return values


def _ce_ignore(ignore_index: int | None) -> int:
    return -100 if ignore_index is None else ignore_index


def _per_element_view(loss_fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``loss_fn`` itself when it has no ``reduction``; else a shallow copy with ``reduction='none'``
    (parameters and buffers shared; ``loss_fn`` untouched)."""
    if not hasattr(loss_fn, "reduction"):
        return loss_fn
    if getattr(loss_fn, "reduction", None) == "none":
        return loss_fn
    view = copy.copy(loss_fn)
    if hasattr(view, "validate"):  # acwa losses: the trainer has validated the batch already
        view.validate = False
    try:
        view.reduction = "none"
    except AttributeError as err:
        raise ValueError(
            f"loss_fn {type(loss_fn).__name__} has a read-only 'reduction'; pass a loss with reduction='none'"
        ) from err
    return view
