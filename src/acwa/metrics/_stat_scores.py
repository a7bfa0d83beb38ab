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

from acwa._internal.state import Stateful, all_gather_cat
from acwa._internal.validation import check_choice, check_int, check_num_classes
from acwa.metrics._ranking import (
    average_precision,
    binary_average_precision,
    binary_roc_auc,
    mean_average_precision,
    multilabel_f1,
    multilabel_stat_scores,
    roc_auc,
)
from acwa.tasks._tasks import CONFUSION_MAX_CLASSES, MulticlassTask, Task

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
    "CONFUSION_MAX_CLASSES",
    "average_precision",
    "roc_auc",
    "binary_average_precision",
    "binary_roc_auc",
    "mean_average_precision",
    "multilabel_stat_scores",
    "multilabel_f1",
]


def stat_scores(preds: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Per-class ``[tp, fp, fn]`` counts, a ``[3, C]`` int64 tensor on ``target``'s device.

    ``preds`` are class indices (or logits ``[N, C, ...]``, reduced with argmax over dim 1).
    Entries whose target equals ``ignore_index`` are not counted. Sync-free.
    """
    task = MulticlassTask(num_classes=num_classes, ignore_index=ignore_index)
    raw = torch.zeros(task.raw_size(CONFUSION_MAX_CLASSES), dtype=torch.long, device=target.device)
    task.accumulate(raw, preds, target)
    return task.raw_to_stat_scores(raw)


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


# Small CPU batches are counted together. On CPU a batch's count costs a few small kernels
# whose fixed cost (dispatch, allocation, a cold cache after the backward pass: 50-70 us inside
# a training step, benchmarks/overhead.py) does not depend on the batch size, so
# ClassStatScores.update keeps a reference to a CPU batch of at most DEFERRED_BATCH_ELEMENTS
# elements and counts its pending batches in one pass once they hold DEFERRED_WINDOW_ELEMENTS,
# or when the counts are read (counts, sync, compute, state_dict, to). The result is identical.
# Larger batches are counted at once: their count costs more than its fixed part, and holding
# them kept memory from being reused (multi-label L=100, N=256: deferred 1.12-1.13x, at once
# 1.09-1.10x the plain step, in blocks of 25 steps).
DEFERRED_BATCH_ELEMENTS = 1 << 14
DEFERRED_WINDOW_ELEMENTS = 1 << 18


class ClassStatScores(Stateful):
    """Running per-class ``tp/fp/fn`` counts over a window of batches, for any :mod:`acwa.tasks` task.

    State: one declared int64 vector (``reduce='sum'``) updated with one ``index_add_`` per
    batch; :meth:`sync` returns the counts summed over DDP ranks *without* modifying the window.

    Small CPU batches are counted together when the counts are next read (see
    :data:`DEFERRED_BATCH_ELEMENTS`): :meth:`update` keeps a reference to them until then, so
    modifying a batch's tensors in place after :meth:`update` raises ``RuntimeError`` at that
    read (pass a copy instead). Accelerator tensors, inference tensors and code under
    ``torch.compile`` are counted at once.

    >>> s = ClassStatScores(3)
    >>> s.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]))
    >>> s.compute("recall")
    tensor([1., 1., 0.])
    """

    def __init__(
        self,
        num_classes: int | None = None,
        ignore_index: int | None = None,
        device=None,
        *,
        task: Task | None = None,
        confusion_max: int | None = None,
    ) -> None:
        if task is None:
            if ignore_index is not None:
                ignore_index = check_int(ignore_index, "ignore_index", hint="e.g. -100, or None")
            task = MulticlassTask(num_classes=check_num_classes(num_classes), ignore_index=ignore_index)
        elif num_classes is not None and check_int(num_classes, "num_classes", min=1) != task.size:
            raise ValueError(f"num_classes={num_classes} but the task has {task.size} classes/labels")
        self.task = task
        self.num_classes = task.size
        self.ignore_index = task.ignore_index
        size = task.raw_size(CONFUSION_MAX_CLASSES if confusion_max is None else confusion_max)
        self._pending: list[tuple[Tensor, Tensor, bool, int, int]] = []  # batches not counted yet
        self._pending_key: tuple = ()
        self._pending_elements = 0
        self.add_state("raw_counts", torch.zeros(size, dtype=torch.long, device=device), reduce="sum", check=_nonneg)
        self._one = torch.ones((), dtype=torch.long, device=device)  # expanded as the scatter source

    @property
    def raw_counts(self) -> Tensor:
        """The declared count state (the pending batches counted first)."""
        if self._pending:
            self._count_pending()
        return self._raw_counts

    @raw_counts.setter
    def raw_counts(self, value: Tensor) -> None:  # reset, load, move: a new window state
        self._pending, self._pending_elements = [], 0
        self._raw_counts = value

    def update(self, preds: Tensor, target: Tensor, all_counted: bool = False) -> None:
        """Add a batch (logits or class indices). ``all_counted=True`` promises that no target
        equals ``ignore_index`` (already checked by the caller), which skips the masking."""
        size = preds.numel() + target.numel()
        if size <= DEFERRED_BATCH_ELEMENTS and self._defers(preds, target):
            key = (preds.dtype, preds.shape[1:], target.dtype, target.shape[1:])
            if self._pending and key != self._pending_key:
                self._count_pending()
            self._pending.append((preds.detach(), target.detach(), all_counted, preds._version, target._version))
            self._pending_key = key
            self._pending_elements += size
            if self._pending_elements >= DEFERRED_WINDOW_ELEMENTS:
                self._count_pending()
            return
        if target.device != self._raw_counts.device:
            self.to(target.device)
        if self._one.device != target.device:
            self._one = self._one.to(target.device)
        self.task.accumulate(self._raw_counts, preds, target, all_counted, self._one)

    def _defers(self, preds: Tensor, target: Tensor) -> bool:
        return (
            preds.is_cpu
            and target.is_cpu
            and self._raw_counts.is_cpu
            and not torch.compiler.is_compiling()
            and not (preds.is_inference() or target.is_inference())  # no version counter to check
        )

    def _count_pending(self) -> None:
        """Count the pending batches in one pass (``RuntimeError`` if one was modified in place)."""
        pending, self._pending, self._pending_elements = self._pending, [], 0
        if any(p._version != vp or t._version != vt for p, t, _, vp, vt in pending):
            raise RuntimeError(
                "a batch passed to update_metrics/update was modified in place before it was counted (small CPU "
                "batches are counted together when the window is read); pass a copy, e.g. labels.clone()"
            )
        if len(pending) == 1:
            preds, target = pending[0][0], pending[0][1]
        else:
            preds, target = torch.cat([p[0] for p in pending]), torch.cat([p[1] for p in pending])
        all_counted = all(p[2] for p in pending)
        self.task.accumulate(self._raw_counts, preds, target, all_counted, self._one)

    def update_stat_scores(self, counts: Tensor) -> None:
        """Add precomputed ``[3, K]`` ``(tp, fp, fn)`` counts (e.g. from a Keras loss); needs the
        O(K) layout, i.e. ``ClassStatScores(..., confusion_max=0)``."""
        counts = torch.as_tensor(counts).to(device=self.raw_counts.device, dtype=torch.long)
        if counts.shape != (3, self.num_classes) or bool((counts < 0).any()):
            raise ValueError(
                f"counts must be [3, {self.num_classes}] non-negative (tp, fp, fn), got shape {tuple(counts.shape)}"
            )
        raw = self.raw_counts
        self.raw_counts = raw + self.task.stat_scores_to_raw(counts, raw.numel())

    @property
    def counts(self) -> Tensor:
        """``[3, C]``: rows tp, fp, fn (this process's window)."""
        return self.task.raw_to_stat_scores(self.raw_counts)

    def sync(self) -> Tensor:
        """``[3, C]`` counts summed over DDP ranks, a new tensor (the window is not modified).
        Every rank must call it at the same point; without DDP it equals :attr:`counts`."""
        return self.task.raw_to_stat_scores(self.synced("raw_counts"))

    @property
    def support(self) -> Tensor:
        """Number of true samples per class in the window."""
        tp, _, fn = self.counts
        return tp + fn

    def compute(self, metric: str = "f1") -> Tensor:
        """Per-class ``metric`` of the window over all ranks (collective under DDP)."""
        check_choice(metric, METRICS, "metric")
        return METRICS[metric](*self.sync())

    def state_dict(self) -> dict:
        return {"counts": self.raw_counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or set(state) != {"counts"}:
            got = f"unknown keys {sorted(set(state) - {'counts'})}" if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"ClassStatScores state must be {{'counts': tensor}} from state_dict(), got {got}")
        super().load_state_dict({"raw_counts": state["counts"]})


def _nonneg(counts: Tensor) -> None:
    if bool((counts < 0).any()):
        raise ValueError("counts must be >= 0")
