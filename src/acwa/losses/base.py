"""Shared machinery of the loss family: per-element values first, an explicit reduction last.

Every loss in :mod:`acwa.losses` computes unreduced per-element values ``l_i`` and then calls
:func:`reduce_loss`, which applies the per-class ``weight`` and the reduction:

=================  ==========================================================
``'none'``         ``w_{y_i} * l_i`` per element (0 where ``y_i == ignore_index``)
``'sum'``          ``sum_i w_{y_i} l_i``
``'mean'``         ``sum_i w_{y_i} l_i / N_counted``  (the default)
``'weighted_mean'`` ``sum_i w_{y_i} l_i / sum_i w_{y_i}`` (PyTorch's weighted ``'mean'``)
=================  ==========================================================

``'mean'`` divides by the number of counted elements, not by the batch's sum of weights, so a
weighted loss keeps one scale across batches, gradient-accumulation steps and DDP ranks
(pytorch issues #25571, #40560, #8062). Use ``'weighted_mean'`` to reproduce
``nn.CrossEntropyLoss(weight=w)``.

Logits are ``[N, C]`` or ``[N, C, d1, ...]`` (dense prediction), targets ``[N]`` or
``[N, d1, ...]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
from torch import Tensor, nn

from ..counts import check_counts

__all__ = [
    "REDUCTIONS",
    "reduce_loss",
    "target_log_probs",
    "as_class_vector",
    "check_loss_inputs",
    "check_class_vector",
    "counts_vector",
    "upcast",
    "class_dim_view",
    "BaseLoss",
]

REDUCTIONS = ("none", "mean", "sum", "weighted_mean")
DEFAULT_IGNORE_INDEX = -100
ClassVector = Union[Tensor, Sequence[float], None]


def as_class_vector(value: ClassVector, name: str, num_classes: int | None = None) -> Tensor | None:
    """Turn a per-class sequence into a 1-D float tensor, checking length and finiteness."""
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if t.dim() != 1:
        raise ValueError(f"{name} must be a 1-D per-class vector, got shape {tuple(t.shape)}")
    if num_classes is not None and t.numel() != num_classes:
        raise ValueError(f"{name} must have one entry per class ({num_classes}), got {t.numel()}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {t.tolist()}")
    return t


def check_loss_inputs(logits: Tensor, target: Tensor, reduction: str) -> None:
    """Shape and option checks (no host sync)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    if not isinstance(logits, Tensor) or logits.dim() < 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"logits must have shape [N, C] or [N, C, d1, ...], got {shape}")
    expected = (logits.shape[0],) + tuple(logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must have shape {expected} to match logits {tuple(logits.shape)}, got {tuple(target.shape)}"
        )
    if target.is_floating_point():
        raise ValueError(f"target must hold integer class indices, got dtype {target.dtype}; pass target.long()")


def _class_dim_view(v: Tensor, logits: Tensor) -> Tensor:
    """Reshape a per-class vector [C] to broadcast against logits [N, C, d1, ...]."""
    return v.view((1, -1) + (1,) * (logits.dim() - 2))


def class_dim_view(v: Tensor, logits: Tensor) -> Tensor:
    """``v`` [C] on ``logits``' device and dtype, shaped ``[1, C, 1, ...]`` to broadcast against it."""
    return _class_dim_view(v.to(device=logits.device, dtype=logits.dtype), logits)


def upcast(logits: Tensor) -> Tensor:
    """float16/bfloat16 logits (e.g. under autocast) to float32; other dtypes unchanged."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def check_class_vector(v: Tensor | None, num_classes: int, name: str) -> None:
    """Shape-only check (no host sync) that a per-class vector has ``num_classes`` entries."""
    if v is None:
        return
    if not isinstance(v, Tensor):
        v = torch.as_tensor(v)
    if v.dim() != 1 or v.numel() != num_classes:
        raise ValueError(
            f"{name} must be a 1-D per-class vector with {num_classes} entries to match the logits' "
            f"{num_classes} classes, got shape {tuple(v.shape)}"
        )


def counts_vector(class_counts, num_classes: int | None = None, name: str = "class_counts") -> Tensor:
    """Validate training-set class counts for a loss and return them as float64 ``[C]``.

    Every count-based loss needs ``n_c > 0`` (``log pi_c``, ``n_c^{-1/4}``, ``(n_c/n_max)^gamma``
    are undefined or infinite at 0), so a zero count raises ``ValueError`` with the fix: add a
    pseudo-count (``class_counts + 1``) or drop the class.
    """
    n = check_counts(class_counts, num_classes, name)
    if bool((n == 0).any()):
        bad = torch.nonzero(n == 0).flatten().tolist()
        raise ValueError(
            f"{name} has 0 samples for classes {bad}, but this loss needs n_c > 0; add a pseudo-count "
            f"({name} + 1) or remove the empty classes"
        )
    return n


def target_log_probs(logits: Tensor, target: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor, Tensor]:
    """``(log p_y, safe_target, counted)`` from ``log_softmax`` over the class dim (dim 1).

    ``safe_target`` replaces ignored entries with 0 so that gathers stay in range; ``counted``
    is the boolean mask of non-ignored entries. Computed in float32 at least (autocast-safe).
    """
    counted = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    safe_target = torch.where(counted, target, torch.zeros_like(target))
    logp = torch.log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, dim=1)
    logp_y = logp.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    return logp_y, safe_target, counted


def reduce_loss(
    loss: Tensor,
    safe_target: Tensor,
    counted: Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Apply per-class ``weight`` (indexed by target) and the reduction (table in module doc)."""
    if weight is not None:
        w = weight.to(device=loss.device, dtype=loss.dtype)[safe_target]
    else:
        w = torch.ones_like(loss)
    w = w * counted.to(loss.dtype)
    values = loss * w
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / counted.sum().clamp_min(1).to(loss.dtype)
    if reduction == "weighted_mean":
        return total / w.sum().clamp_min(torch.finfo(loss.dtype).tiny)
    raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")


class BaseLoss(nn.Module):
    """Module twin of a functional loss: stores ``weight``, ``ignore_index`` and ``reduction``.

    ``reduction`` is a plain attribute, so callers that need per-sample values (such as
    :class:`acwa.ACWATrainer`) can set it to ``'none'``.
    """

    def __init__(self, weight: ClassVector = None, ignore_index: int = DEFAULT_IGNORE_INDEX, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
        self.register_buffer("weight", as_class_vector(weight, "weight"))
        self.ignore_index = ignore_index
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, ignore_index={self.ignore_index}"
