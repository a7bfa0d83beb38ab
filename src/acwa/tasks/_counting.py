"""Per-class counts: the sync-free kernel behind every ``(tp, fp, fn)`` of the library.

Counts are one int64 tensor ``[3, K]`` whose rows are ``tp, fp, fn`` (O(K) memory and DDP
traffic at any K). :func:`add_class_counts` adds a batch of flat class indices with one
``index_add_``; entries that are not counted (ignored labels) add 0, so no boolean indexing and
no host sync is needed. :func:`argmax_classes` is ``argmax`` over the class dim, blocked on CPU
for large C.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["BLOCKED_ARGMAX_MIN_CLASSES", "add_class_counts", "argmax_classes"]

# On CPU, ``argmax`` over the class dim is a scalar (non-vectorised) reduction; from this many
# classes on, :func:`argmax_classes` finds the maximum block first with the vectorised ``amax``
# (exact; measured in BENCHMARKS.md).
BLOCKED_ARGMAX_MIN_CLASSES = 256
_ARGMAX_BLOCK = 32


def argmax_classes(logits: Tensor) -> Tensor:
    """``logits.argmax(dim=1)``, exactly (first maximum on ties) for finite logits.

    For 2-D CPU logits with C >= :data:`BLOCKED_ARGMAX_MIN_CLASSES`: the per-block maxima of
    blocks of 32 columns (``amax``, vectorised), the first block holding the row maximum, the
    first maximum inside it, and the tail columns compared last (a tie keeps the earlier index).
    """
    if logits.dim() != 2 or logits.device.type != "cpu" or logits.shape[1] < BLOCKED_ARGMAX_MIN_CLASSES:
        return logits.argmax(dim=1)
    n, c = logits.shape
    b = _ARGMAX_BLOCK
    m = c // b
    blocks = logits.as_strided((n, m, b), (logits.stride(0), b * logits.stride(1), logits.stride(1)))
    block_max = blocks.amax(2)
    block = block_max.argmax(1)
    rows = torch.arange(n, device=logits.device)
    best = block * b + blocks[rows, block].argmax(1)
    if m * b < c:
        tail = logits[:, m * b :]
        tail_idx = tail.argmax(1)
        best = torch.where(tail[rows, tail_idx] > block_max[rows, block], tail_idx + m * b, best)
    return best


def add_class_counts(counts: Tensor, pred: Tensor, target: Tensor, counted: Tensor | None = None) -> None:
    """Add flat class indices to ``counts`` ``[3, K]`` (rows tp, fp, fn) in place.

    For each counted entry ``i``: a hit (``pred_i == target_i``) adds 1 to ``tp[target_i]``;
    a miss adds 1 to ``fp[pred_i]`` and to ``fn[target_i]``. ``counted`` (bool, like
    ``target``) marks the entries to count; the others add 0 wherever their indices point.
    """
    k = counts.shape[1]
    pred = pred.long()
    target = target.long()
    hit = pred == target
    if counted is None:
        miss = ~hit
    else:
        target = torch.where(counted, target, 0)  # ignored labels (e.g. -100) index a real slot, adding 0
        hit = hit & counted
        miss = counted ^ hit  # counted and not a hit
    index = torch.cat([target, pred + k, target + 2 * k])
    source = torch.cat([hit, miss, miss]).long()
    counts.view(-1).index_add_(0, index, source)
