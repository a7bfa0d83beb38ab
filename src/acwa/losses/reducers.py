"""The one reducer of the loss family: per-element values in, the loss out.

Every loss in :mod:`acwa.losses` computes unreduced per-element values ``l_i`` and hands them
to :func:`reduce_values` with a per-element weight ``w_i`` (the loss's per-class ``weight``
indexed by the target, times the caller's ``sample_weight``, e.g. ACWA's per-sample class
weights) and the boolean mask ``counted`` of the elements that count (``False`` where
``target == ignore_index``). With ``v_i = l_i * w_i * counted_i``:

==================  =====================================================================
``'none'``          ``v`` (the shape of ``values``; 0 at elements that are not counted)
``'sum'``           ``sum_i v_i``
``'mean'``          ``sum_i v_i / max(1, N_counted)``  (the default; *not* the weight sum)
``'weighted_mean'`` ``sum_i v_i / sum_i w_i counted_i`` (PyTorch's weighted ``'mean'``)
==================  =====================================================================

``'mean'`` divides by the number of counted elements, not by the batch's sum of weights, so a
weighted loss keeps one scale across batches, gradient-accumulation steps and DDP ranks
(pytorch issues #25571, #40560, #8062). ``'weighted_mean'`` reproduces
``nn.CrossEntropyLoss(weight=w)``. The design follows pytorch-metric-learning's split of a loss
into per-element values and a reducer.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acwa._internal.validation import check_choice

__all__ = ["REDUCTIONS", "check_reduction", "reduce_values", "align_weight"]

REDUCTIONS = ("none", "mean", "sum", "weighted_mean")


def check_reduction(reduction: str) -> str:
    """``reduction`` if it is one of :data:`REDUCTIONS` (else ``ValueError`` naming the choices)."""
    return check_choice(reduction, REDUCTIONS, "reduction")


def align_weight(weight: Tensor, values: Tensor, name: str = "sample_weight") -> Tensor:
    """``weight`` on ``values``' device and dtype, shaped to broadcast against ``values``.

    Ordinary broadcasting applies; in addition a weight whose shape equals the leading
    dimensions of ``values`` (e.g. one weight per sample ``[N]`` for values ``[N, L]``) is
    aligned on those leading dimensions. Anything else raises ``ValueError``.
    """
    if not isinstance(weight, Tensor):
        weight = torch.as_tensor(weight)
    w = weight.to(device=values.device, dtype=values.dtype)
    if w.shape == values.shape:  # the common case: one weight per element
        return w
    k = w.dim()
    if 0 < k < values.dim() and tuple(w.shape) == tuple(values.shape[:k]):
        return w.view(tuple(w.shape) + (1,) * (values.dim() - k))
    try:
        shape = torch.broadcast_shapes(w.shape, values.shape)
    except RuntimeError:
        shape = None
    if shape is None or tuple(shape) != tuple(values.shape):
        raise ValueError(
            f"{name} must broadcast to the per-element losses of shape {tuple(values.shape)} "
            f"(e.g. one weight per sample, shape {tuple(values.shape[:1])}), got shape {tuple(weight.shape)}"
        )
    return w


def reduce_values(
    values: Tensor,
    reduction: str = "mean",
    sample_weight: Tensor | None = None,
    counted: Tensor | None = None,
) -> Tensor:
    """Weight, mask and reduce per-element losses (table in the module docstring).

    Args:
        values: per-element losses ``[N, ...]``.
        reduction: one of :data:`REDUCTIONS`.
        sample_weight: per-element weights broadcastable to ``values`` (or matching its
            leading dimensions, see :func:`align_weight`); ``None`` means 1.
        counted: boolean mask like ``values`` (or its leading dimensions); ``None`` means every
            element counts.

    Host-sync free: the divisions use tensor clamps, never ``.item()``.
    """
    check_reduction(reduction)
    w = None if sample_weight is None else align_weight(sample_weight, values)
    if counted is not None:
        mask = align_weight(counted, values, "counted")
        w = mask if w is None else w * mask
    v = values if w is None else values * w
    if reduction == "none":
        return v
    total = v.sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        if counted is None:
            return total / max(1, values.numel())
        n = counted.sum().clamp_min(1).to(values.dtype)
        # a mask covering only the leading dims of values counts each element below it
        return total / (n * max(1, values.numel() // max(1, counted.numel())))
    if w is None:
        return total / max(1, values.numel())
    denom = torch.broadcast_to(w, values.shape).sum()
    return total / denom.clamp_min(torch.finfo(values.dtype).tiny)
