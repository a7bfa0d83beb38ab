"""Value checks of the task notion (:mod:`acwa.tasks`): floating logits and 0/1 labels."""

from __future__ import annotations

import torch
from torch import Tensor

from acwa._internal.validation import all_finite, value_range

__all__ = ["check_floating", "check_zero_one", "check_zero_one_or_ignored", "flat_long"]


def check_floating(logits: Tensor, name: str, check_values: bool) -> None:
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of logits, got {type(logits).__name__}")
    if check_values and not logits.is_floating_point():
        raise ValueError(f"{name} must be floating point logits, got dtype {logits.dtype}")
    if check_values and logits.numel() and not all_finite(logits):
        raise ValueError(f"{name} contains NaN or Inf values; check the model, the learning rate and the inputs")


def check_zero_one(labels: Tensor, name: str, what: str) -> None:
    if labels.is_complex():
        raise ValueError(f"{name} must hold 0/1 values, got dtype {labels.dtype}")
    if labels.numel() and not bool(((labels == 0) | (labels == 1)).all()):
        bad = labels[(labels != 0) & (labels != 1)].flatten()[0]
        raise ValueError(
            f"{name} must be {what} with values 0 or 1, found {float(bad):g}; threshold or encode the labels first"
        )


def check_zero_one_or_ignored(labels: Tensor, ignore_index: int | None, name: str, what: str) -> bool:
    """Values in {0, 1} or ``ignore_index`` (one reduction, one host read); returns True when
    no element is ignored."""
    if labels.is_complex():
        raise ValueError(f"{name} must hold 0/1 values, got dtype {labels.dtype}")
    if labels.numel() == 0:
        return True
    if labels.dtype == torch.bool:
        return True
    # fast path, one cheap reduction: integers in [0, 1]; floats with y (y - 1) == 0 everywhere
    if labels.is_floating_point():
        ok = (labels * (labels - 1)).abs().sum().item() == 0.0
    else:
        lo, hi = value_range(labels)
        ok = lo >= 0 and hi <= 1
    if ok:
        return True
    valid = (labels == 0) | (labels == 1)
    if ignore_index is None:
        code = int((~valid).any())
    else:  # 0: all 0/1, 1: some ignored, 2: a bad value
        code = int(torch.where(valid, 0, torch.where(labels == ignore_index, 1, 2)).amax())
    if code == 2 or (ignore_index is None and code):
        kept = labels if ignore_index is None else labels[labels != ignore_index]
        check_zero_one(kept, name, what)
    return code == 0


def flat_long(t: Tensor) -> Tensor:
    if t.dim() != 1:
        t = t.reshape(-1)
    return t if t.dtype == torch.long else t.long()
