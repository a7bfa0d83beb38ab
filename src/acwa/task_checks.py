"""Value checks of the task notion (:mod:`acwa.tasks`): floating logits, 0/1 labels and the
one-host-read fast path for the common multiclass batch."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ._validation import check_logits_labels as _check_logits_labels

__all__ = ["check_floating", "check_zero_one", "check_logits_labels", "flat_long"]


def _finite_sum(t: Tensor) -> bool:
    s = t.sum(dtype=torch.float32) if t.dtype in (torch.float16, torch.bfloat16) else t.sum()
    return math.isfinite(float(s))


def check_floating(logits: Tensor, name: str, check_values: bool) -> None:
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of logits, got {type(logits).__name__}")
    if check_values and not logits.is_floating_point():
        raise ValueError(f"{name} must be floating point logits, got dtype {logits.dtype}")
    if check_values and logits.numel() and not _finite_sum(logits.detach()):
        raise ValueError(f"{name} contains NaN or Inf values; check the model, the learning rate and the inputs")


def check_zero_one(labels: Tensor, name: str, what: str) -> None:
    if labels.is_complex():
        raise ValueError(f"{name} must hold 0/1 values, got dtype {labels.dtype}")
    if labels.numel() and not bool(((labels == 0) | (labels == 1)).all()):
        bad = labels[(labels != 0) & (labels != 1)].flatten()[0]
        raise ValueError(
            f"{name} must be {what} with values 0 or 1, found {float(bad):g}; threshold or encode the labels first"
        )


def check_logits_labels(
    logits: Any, labels: Any, num_classes: int, ignore_index: int | None, check_values: bool
) -> bool | None:
    """:func:`acwa._validation.check_logits_labels`, with one host read in the common case
    (finite float logits ``[N, C]``, class indices ``[N]`` in range); anything else takes the
    full check, which names the problem."""
    if check_values and _plain_batch(logits, labels, num_classes) and labels.numel():
        z = logits.detach()
        # NaN/Inf propagate through a sum (half precision summed in float32 against overflow)
        total = z.sum(dtype=torch.float32) if z.dtype in (torch.float16, torch.bfloat16) else z.sum()
        lo, hi = torch.aminmax(labels.detach())
        s, lo_v, hi_v = torch.stack([total.double(), lo.double(), hi.double()]).tolist()
        if math.isfinite(s) and lo_v >= 0 and hi_v < num_classes:
            return True
    return _check_logits_labels(logits, labels, num_classes, ignore_index, check_values)


def flat_long(t: Tensor) -> Tensor:
    if t.dim() != 1:
        t = t.reshape(-1)
    return t if t.dtype == torch.long else t.long()


def _plain_batch(logits: Any, labels: Any, num_classes: int) -> bool:
    """Shapes and dtypes of the common case, checked without touching values."""
    return (
        isinstance(logits, Tensor)
        and isinstance(labels, Tensor)
        and logits.dim() == 2
        and logits.shape[1] == num_classes
        and logits.is_floating_point()
        and labels.dim() == 1
        and labels.shape[0] == logits.shape[0]
        and not (labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool)
    )
