"""Streaming per-class classification metrics from counts.

State is one int64 tensor ``[3, C]`` (rows tp, fp, fn) on the logits' device, updated with one
``index_add_`` per batch when the batch arrives: no host sync, no Python loop over classes or
samples, no reference to the caller's tensors kept. Under ``torch.distributed`` the counts are
summed across ranks with one ``all_reduce`` before a metric is read (:meth:`ClassStatScores.sync`).

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

from acwa._internal.state import Stateful
from acwa._internal.validation import check_choice, check_int, check_num_classes
from acwa.tasks import MulticlassTask, Task

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
]


def stat_scores(preds: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Per-class ``[tp, fp, fn]`` counts, a ``[3, C]`` int64 tensor on ``target``'s device.

    ``preds`` are class indices (or logits ``[N, C, ...]``, reduced with argmax over dim 1).
    Entries whose target equals ``ignore_index`` are not counted. Sync-free.
    """
    return MulticlassTask(num_classes=num_classes, ignore_index=ignore_index).stat_scores(preds, target)


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


class ClassStatScores(Stateful):
    """Running per-class ``tp/fp/fn`` counts over a window of batches, for any :mod:`acwa.tasks` task.

    State: one declared int64 tensor ``counts`` ``[3, K]`` (``reduce='sum'``), updated when a
    batch arrives; :meth:`sync` returns the counts summed over DDP ranks *without* modifying
    the window. :meth:`update` keeps no reference to its inputs: modifying them afterwards, or
    reusing their buffers for the next batch, changes nothing.

    >>> s = ClassStatScores(3)
    >>> s.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]))
    >>> s.compute("recall")
    tensor([1., 1., 0.])
    """

    counts: Tensor  # declared state: [3, K] rows tp, fp, fn

    def __init__(
        self, num_classes: int | None = None, ignore_index: int | None = None, device=None, *, task: Task | None = None
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
        self.add_state(
            "counts", torch.zeros(3, task.size, dtype=torch.long, device=device), reduce="sum", check=_nonneg
        )

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Count a batch (logits or class indices) into the window."""
        if target.device != self.counts.device:
            self.to(target.device)
        self.task.add_counts(self.counts, preds, target)

    def add_stat_scores(self, counts: Tensor) -> None:
        """Add precomputed ``[3, K]`` ``(tp, fp, fn)`` counts (e.g. from a Keras loss)."""
        counts = torch.as_tensor(counts).to(device=self.counts.device, dtype=torch.long)
        if counts.shape != (3, self.num_classes) or bool((counts < 0).any()):
            raise ValueError(
                f"counts must be [3, {self.num_classes}] non-negative (tp, fp, fn), got shape {tuple(counts.shape)}"
            )
        self.counts = self.counts + counts

    def sync(self) -> Tensor:
        """``[3, C]`` counts summed over DDP ranks, a new tensor (the window is not modified).
        Every rank must call it at the same point; without DDP it equals :attr:`counts`."""
        return self.synced("counts").clone()

    @property
    def support(self) -> Tensor:
        """Number of true samples per class in the window."""
        tp, _, fn = self.counts
        return tp + fn

    def compute(self, metric: str = "f1") -> Tensor:
        """Per-class ``metric`` of the window over all ranks (collective under DDP)."""
        check_choice(metric, METRICS, "metric")
        return METRICS[metric](*self.sync())

    def load_state_dict(self, state: dict) -> None:
        """Load a :meth:`state_dict`; a checkpoint of the earlier flat count vector (a K x K
        confusion matrix or three O(K) vectors, each plus one unused slot) is read too."""
        if isinstance(state, dict) and isinstance(state.get("counts"), Tensor) and state["counts"].dim() == 1:
            state = {**state, "counts": _from_flat_counts(state["counts"], self.num_classes)}
        super().load_state_dict(state)


def _from_flat_counts(flat: Tensor, k: int) -> Tensor:
    """``[3, K]`` ``(tp, fp, fn)`` from the flat layouts that acwa 0.1 checkpoints hold."""
    if flat.numel() == k * k + 1:  # confusion matrix, rows target, columns prediction
        confusion = flat[:-1].view(k, k)
        tp = confusion.diagonal()
        return torch.stack([tp, confusion.sum(0) - tp, confusion.sum(1) - tp])
    if flat.numel() in (3 * k + 1, 3 * k + 2, 3 * k):  # actual, predicted, hit (multi-label: tp, fp, fn)
        a, b, c = flat[: 3 * k].view(3, k)
        return torch.stack([a, b, c]) if flat.numel() == 3 * k else torch.stack([c, b - c, a - c])
    raise ValueError(f"state['counts'] has {flat.numel()} entries, which fits no count layout for {k} classes")


def _nonneg(counts: Tensor) -> None:
    if bool((counts < 0).any()):
        raise ValueError("counts must be >= 0")
