"""Value checks of the task notion (:mod:`acwa.tasks`): floating logits and 0/1 labels."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["check_floating", "check_zero_one", "flat_long"]


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


def flat_long(t: Tensor) -> Tensor:
    if t.dim() != 1:
        t = t.reshape(-1)
    return t if t.dtype == torch.long else t.long()
