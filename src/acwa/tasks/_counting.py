"""Streaming confusion counts: the sync-free kernels behind every per-class count.

- :func:`accumulate_confusion` adds flat ``(pred, target)`` class indices to a flat int64 state
  with one ``index_add_``: the K x K confusion matrix up to :data:`CONFUSION_MAX_CLASSES`
  classes, three O(K) vectors (actual, predicted, hit) above; a trash slot takes ignored entries.
- :func:`raw_to_stat_scores` reads ``(tp, fp, fn)`` ``[3, K]`` back from either layout.
- :func:`argmax_classes` is ``argmax`` over the class dim, blocked on CPU for large C.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "CONFUSION_MAX_CLASSES",
    "BLOCKED_ARGMAX_MIN_CLASSES",
    "accumulate_confusion",
    "raw_to_stat_scores",
    "confusion_stat_scores",
    "is_confusion_layout",
    "argmax_classes",
]

# On CPU, ``argmax`` over the class dim is a scalar (non-vectorised) reduction; from this many
# classes on, :func:`argmax_classes` finds the maximum block first with the vectorised ``amax``
# (measured in BENCHMARKS.md, issue 14: 2-3x faster at C = 1000).
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


# Up to this many classes a window keeps the K x K confusion counts (at most 128 KiB): one fused
# index ``target * K + pred`` and one ``index_add_`` per batch, the cheapest update at small K.
# Above it, O(K) counts (actual, predicted, hit), so memory and DDP traffic stay linear in K.
CONFUSION_MAX_CLASSES = 128


def accumulate_confusion(
    raw: Tensor, pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None, ones: Tensor | None = None
) -> None:
    """Add flat class indices to ``raw`` with one in-place ``index_add_``. Layouts:

    - ``raw.numel() == C * C + 1``: the row-major confusion matrix, entry ``target * C + pred``;
    - ``raw.numel() == 3 * C + 1``: ``[actual_0..C-1 | predicted_0..C-1 | hit_0..C-1]``.

    The last entry is a trash slot: entries whose target is ``ignore_index`` go there, so no
    boolean indexing (and no host sync) is needed.
    """
    c = num_classes
    trash = raw.numel() - 1
    counted = None if ignore_index is None else target != ignore_index
    if is_confusion_layout(raw.numel(), c):
        index = pred.add(target, alpha=c)
        if counted is not None:
            index = torch.where(counted, index, trash)
    else:
        hit = pred == target
        if counted is None:
            actual_idx, predicted_idx = target, pred + c
        else:
            actual_idx = torch.where(counted, target, trash)
            predicted_idx = torch.where(counted, pred + c, trash)
            hit = hit & counted  # an ignored target inside [0, C) could equal its prediction
        index = torch.cat([actual_idx, predicted_idx, torch.where(hit, target + 2 * c, trash)])
    if ones is None:
        source = torch.ones_like(index)
    elif ones.dim() == 0:  # a scalar one, expanded: no allocation, no shape-dependent state
        source = ones.expand(index.shape)
    else:
        source = ones[: index.numel()] if ones.numel() >= index.numel() else torch.ones_like(index)
    raw.index_add_(0, index, source)


def raw_to_stat_scores(raw: Tensor, num_classes: int) -> Tensor:
    """``[3, C]`` ``(tp, fp, fn)`` from either layout of :func:`accumulate_confusion`."""
    c = num_classes
    if is_confusion_layout(raw.numel(), c):
        confusion = raw[:-1].view(c, c)  # rows: target, columns: prediction
        tp = confusion.diagonal()
        return torch.stack([tp, confusion.sum(0) - tp, confusion.sum(1) - tp])
    actual, predicted, tp = raw[: 3 * c].view(3, c)
    return torch.stack([tp, predicted - tp, actual - tp])


def is_confusion_layout(raw_size: int, num_classes: int) -> bool:
    return raw_size == num_classes * num_classes + 1


def confusion_stat_scores(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None) -> Tensor:
    """``(tp, fp, fn)`` ``[3, C]`` of flat class indices (entries at ``ignore_index`` dropped)."""
    c = num_classes
    raw = torch.zeros(c * c + 1 if c <= CONFUSION_MAX_CLASSES else 3 * c + 1, dtype=torch.long, device=target.device)
    accumulate_confusion(raw, pred, target, c, ignore_index)
    return raw_to_stat_scores(raw, c)
