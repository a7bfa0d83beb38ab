"""Streaming per-class classification metrics from counts.

State is one int64 count vector on the logits' device, updated with one ``index_add_`` per
batch: no host sync, no Python loop over classes or samples. Up to ``CONFUSION_MAX_CLASSES``
classes it holds the C x C confusion matrix (the cheapest update); above, three O(C) vectors
(actual, predicted and correct counts per class). Either gives per-class tp/fp/fn. Under
``torch.distributed`` the counts are summed across ranks with one ``all_reduce`` before a
metric is read (:meth:`ClassStatScores.sync`).

Per-class metrics follow scikit-learn's definitions, with one deliberate difference: a class
with no true sample in the window (support 0) is NaN, never a silent 0, so that callers can
skip it. Where a class has support but a denominator is 0 (precision of a class that was never
predicted) the value is 0, as with scikit-learn's ``zero_division=0``.

- precision_c = tp_c / (tp_c + fp_c)
- recall_c    = tp_c / (tp_c + fn_c)
- f1_c        = 2 tp_c / (2 tp_c + fp_c + fn_c)
- balanced accuracy = mean over present classes of recall_c
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._validation import check_choice, check_num_classes

__all__ = [
    "stat_scores",
    "precision_from_counts",
    "recall_from_counts",
    "f1_from_counts",
    "per_class_metric",
    "balanced_accuracy",
    "macro_f1",
    "ClassStatScores",
    "METRICS",
    "all_reduce_sum",
    "all_gather_cat",
]


# Up to this many classes a window keeps the C x C confusion counts (at most 128 KiB): one fused
# index ``target * C + pred`` and one ``index_add_`` per batch, the cheapest update at small C.
# Above it, O(C) counts (actual, predicted, hit), so memory and DDP traffic stay linear in C.
CONFUSION_MAX_CLASSES = 128


def _raw_size(num_classes: int) -> int:
    c = num_classes
    return c * c + 1 if c <= CONFUSION_MAX_CLASSES else 3 * c + 1


def _accumulate_raw_counts(
    raw: Tensor, preds: Tensor, target: Tensor, num_classes: int, ignore_index: int | None, ones: Tensor | None = None
) -> None:
    """Add one batch to ``raw`` (``_raw_size(C)`` int64 entries, the last one a trash slot) with
    one in-place ``index_add_``. Layouts:

    - ``C <= CONFUSION_MAX_CLASSES``: the row-major confusion matrix, entry ``target * C + pred``;
    - otherwise ``[actual_0..C-1 | predicted_0..C-1 | hit_0..C-1]``.

    Entries whose target is ``ignore_index`` go to the trash slot, so no boolean indexing (and no
    host sync) is needed. ``ones``: an int64 vector of ones at least as long as the index (saves
    an allocation per batch).
    """
    if preds.is_floating_point():
        preds = preds.argmax(dim=1)
    preds = preds.reshape(-1)
    target = target.reshape(-1)
    c = num_classes
    trash = raw.numel() - 1
    counted = None if ignore_index is None else target != ignore_index
    if raw.numel() == c * c + 1:
        index = preds.add(target, alpha=c)
        if counted is not None:
            index = torch.where(counted, index, trash)
    else:
        hit = preds == target
        if counted is None:
            actual_idx, predicted_idx = target, preds + c
        else:
            actual_idx = torch.where(counted, target, trash)
            predicted_idx = torch.where(counted, preds + c, trash)
            if 0 <= ignore_index < c:  # an ignored target could equal its prediction
                hit = hit & counted
        index = torch.cat([actual_idx, predicted_idx, torch.where(hit, target + 2 * c, trash)])
    source = torch.ones_like(index) if ones is None or ones.numel() < index.numel() else ones[: index.numel()]
    raw.index_add_(0, index, source)


def _raw_to_stat_scores(raw: Tensor, num_classes: int) -> Tensor:
    c = num_classes
    if raw.numel() == c * c + 1:
        confusion = raw[:-1].view(c, c)  # rows: target, columns: prediction
        tp = confusion.diagonal()
        return torch.stack([tp, confusion.sum(0) - tp, confusion.sum(1) - tp])
    actual, predicted, tp = raw[:-1].view(3, c)
    return torch.stack([tp, predicted - tp, actual - tp])


def stat_scores(preds: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Per-class ``[tp, fp, fn]`` counts, a ``[3, C]`` int64 tensor on ``target``'s device.

    ``preds`` are class indices (or logits ``[N, C, ...]``, reduced with argmax over dim 1).
    Entries whose target equals ``ignore_index`` are not counted. Sync-free.
    """
    raw = torch.zeros(_raw_size(num_classes), dtype=torch.long, device=target.device)
    _accumulate_raw_counts(raw, preds, target, num_classes, ignore_index)
    return _raw_to_stat_scores(raw, num_classes)


def _ratio(num: Tensor, den: Tensor, support: Tensor) -> Tensor:
    num, den = num.double(), den.double()
    out = torch.where(den > 0, num / den.clamp_min(1), torch.zeros_like(num))
    return torch.where(support > 0, out, torch.full_like(out, float("nan"))).float()


def precision_from_counts(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
    """tp / (tp + fp); 0 if never predicted, NaN if the class has no true sample."""
    return _ratio(tp, tp + fp, tp + fn)


def recall_from_counts(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
    """tp / (tp + fn) (per-class accuracy); NaN if the class has no true sample."""
    return _ratio(tp, tp + fn, tp + fn)


def f1_from_counts(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
    """2 tp / (2 tp + fp + fn); NaN if the class has no true sample."""
    return _ratio(2 * tp, 2 * tp + fp + fn, tp + fn)


METRICS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "f1": f1_from_counts,
    "recall": recall_from_counts,
    "precision": precision_from_counts,
}


def per_class_metric(
    preds: Tensor, target: Tensor, num_classes: int, metric: str = "f1", ignore_index: int | None = None
) -> Tensor:
    """Per-class metric ``[C]`` (``'f1'``, ``'recall'`` or ``'precision'``) for one batch."""
    check_choice(metric, METRICS, "metric")
    return METRICS[metric](*stat_scores(preds, target, num_classes, ignore_index))


def balanced_accuracy(preds: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Mean recall over the classes present in ``target`` (scikit-learn's balanced accuracy)."""
    return torch.nanmean(per_class_metric(preds, target, num_classes, "recall"))


def macro_f1(preds: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Mean F1 over the classes present in ``target``."""
    return torch.nanmean(per_class_metric(preds, target, num_classes, "f1"))


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum ``t`` in place over all ranks when ``torch.distributed`` is initialised (else a no-op)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_cat(t: Tensor) -> Tensor:
    """Concatenate ``t`` from all ranks along dim 0, in rank order (identity without DDP).

    First dimensions may differ between ranks (even 0): sizes are gathered first, tensors are
    padded to the largest, gathered, and trimmed. Every rank must call it at the same point,
    with the same trailing shape and dtype. Works with gloo and NCCL.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return t
    world = dist.get_world_size()
    size = torch.tensor([t.shape[0]], dtype=torch.long, device=t.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes_host = [int(s) for s in torch.cat(sizes).tolist()]
    padded = t.new_zeros((max(sizes_host),) + tuple(t.shape[1:]))
    padded[: t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes_host)])


class ClassStatScores:
    """Running per-class ``tp/fp/fn`` counts over a window of batches.

    >>> s = ClassStatScores(3)
    >>> s.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]))
    >>> s.compute("recall")
    tensor([1., 1., 0.])
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, device=None) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = ignore_index
        self._raw = torch.zeros(_raw_size(num_classes), dtype=torch.long, device=device)
        self._ones = torch.ones(0, dtype=torch.long, device=device)

    def update(self, preds: Tensor, target: Tensor, all_counted: bool = False) -> None:
        """Add a batch (logits or class indices). ``all_counted=True`` promises that no target
        equals ``ignore_index`` (already checked by the caller), which skips the masking."""
        if target.device != self._raw.device:
            self._raw = self._raw.to(target.device)
        needed = 3 * target.numel()
        if self._ones.numel() < needed or self._ones.device != target.device:
            self._ones = torch.ones(needed, dtype=torch.long, device=target.device)
        ignore = None if all_counted else self.ignore_index
        _accumulate_raw_counts(self._raw, preds.detach(), target.detach(), self.num_classes, ignore, self._ones)

    @property
    def counts(self) -> Tensor:
        """``[3, C]``: rows tp, fp, fn."""
        return _raw_to_stat_scores(self._raw, self.num_classes)

    def sync(self) -> None:
        """Sum the counts over DDP ranks. Every rank must call it at the same point."""
        all_reduce_sum(self._raw)

    @property
    def support(self) -> Tensor:
        """Number of true samples per class in the window."""
        tp, _, fn = self.counts
        return tp + fn

    def compute(self, metric: str = "f1") -> Tensor:
        check_choice(metric, METRICS, "metric")
        return METRICS[metric](*self.counts)

    def reset(self) -> None:
        self._raw.zero_()

    def state_dict(self) -> dict:
        return {"counts": self._raw.clone()}

    def load_state_dict(self, state: dict) -> None:
        raw = state["counts"]
        if raw.shape != self._raw.shape:
            raise ValueError(f"state counts have shape {tuple(raw.shape)}, expected {tuple(self._raw.shape)}")
        self._raw = raw.to(self._raw.device).clone()
