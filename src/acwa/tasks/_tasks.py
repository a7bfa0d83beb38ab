"""The task notion: how outputs and labels are read, checked and counted, and how a per-class
weight becomes a per-element weight. Counts, metrics, ACWA, weights, losses and samplers ask
a :class:`Task` instead of assuming ``[N, C]`` softmax (as torchmetrics' ``task=`` dispatch).

=============  ===============================  ==============================  ===========
task           logits                           labels                          K (state)
=============  ===============================  ==============================  ===========
multiclass     ``[N, C]`` or ``[N, C, d...]``   class indices ``[N, d...]``     C classes
               ``[N, C]``                       soft rows ``[N, C]`` (simplex)
binary         ``[N]`` or ``[N, 1]`` (1 logit)  ``{0, 1}`` int, bool or float   2 (neg, pos)
multilabel     ``[N, L]``                       multi-hot ``[N, L]`` in {0, 1}  L labels
=============  ===============================  ==============================  ===========

Per-class counts ``[3, K]`` (tp, fp, fn):

- multiclass: prediction ``argmax_c z_c`` (soft rows are counted at ``argmax_c q_c``, the
  usual choice for mixup/cutmix targets);
- binary: prediction ``z > threshold`` (logit; default 0, i.e. p > 0.5); both classes are
  counted, so class 1's F1 is the positive-class F1 and class 0's the negative-class F1;
- multilabel: per label, ``z_l > threshold`` against ``y_l`` (positive-class counts per label).

Per-element weights from a per-class weight vector ``w`` [K] (:meth:`Task.sample_weight`):

- multiclass: ``w_{y_i}``; soft rows: ``sum_c q_ic w_c`` (equal to ``w_{y_i}`` for one-hot);
- binary: ``w_{y_i}`` with ``w = [w_neg, w_pos]`` (``pos_weight = w_pos / w_neg``);
- multilabel: ``y_il w_l + (1 - y_il)``: ``w`` is each label's positive weight, negatives keep 1.

Every method is vectorised and sync-free; :meth:`Task.check` reads values back to the host only
when ``check_values`` is true (see :func:`acwa._internal.validation.should_check_values`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from acwa._internal.validation import check_choice, check_float, check_int, check_labels, check_logits_labels
from acwa.tasks._checks import check_floating, check_zero_one_or_ignored, flat_long
from acwa.tasks._counting import (
    CONFUSION_MAX_CLASSES,
    accumulate_confusion,
    argmax_classes,
    confusion_stat_scores,
    is_confusion_layout,
    raw_to_stat_scores,
)

__all__ = [
    "TASKS",
    "Task",
    "MulticlassTask",
    "BinaryTask",
    "MultilabelTask",
    "make_task",
    "infer_task",
    "implied_task",
    "accumulate_confusion",
    "raw_to_stat_scores",
    "confusion_stat_scores",
    "CONFUSION_MAX_CLASSES",
    "argmax_classes",
]

TASKS = ("multiclass", "binary", "multilabel")
SOFT_TARGET_TOLERANCE = 1e-3  # |sum_c q_ic - 1| allowed for soft-target rows


@dataclass(frozen=True)
class Task:
    """Base of the three tasks. ``size`` is K, the length of every per-class state vector."""

    name: str = ""
    ignore_index: int | None = None

    @property
    def size(self) -> int:
        raise NotImplementedError

    def check(self, logits: Tensor, labels: Tensor, check_values: bool = True, finite: bool = True) -> bool | None:
        """Validate a batch. Returns True when no element is ignored, False when some are,
        None when values were not checked. ``finite=False`` leaves out the finiteness of the
        logits (a caller that reads the loss value checks it there: one reduction less)."""
        raise NotImplementedError

    def check_values(self, logits: Tensor, labels: Tensor, finite: bool = True) -> bool:
        """The value part of :meth:`check` alone (dtypes, finite logits unless ``finite=False``,
        label values), for a batch whose shapes passed :meth:`check` before; returns its answer."""
        raise NotImplementedError

    def predictions_targets(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Flat ``(pred, target)`` class indices in ``[0, K)`` (multiclass; binary predictions
        as bool), or 0/1 matrices ``[M, L]`` (multilabel)."""
        raise NotImplementedError

    def counted(self, labels: Tensor) -> Tensor | None:
        """Boolean mask of counted elements (None: every element counts)."""
        return None if self.ignore_index is None else labels != self.ignore_index

    def sample_weight(self, class_weights: Tensor, labels: Tensor) -> Tensor:
        """Per-element weights from per-class weights ``[K]`` (see the module table)."""
        raise NotImplementedError

    def shift_logits(self, logits: Tensor, offsets: Tensor) -> Tensor:
        """Training logits with additive per-class offsets ``o`` [K] (logit adjustment):
        multiclass ``z + o``, binary ``z + (o_1 - o_0)``, multi-label ``z_l + o_l``."""
        o = offsets.to(logits.dtype)
        return logits + o.view((1, -1) + (1,) * (logits.dim() - 2))

    def stat_scores(self, logits: Tensor, labels: Tensor) -> Tensor:
        """``[3, K]`` int64 ``(tp, fp, fn)`` of one batch (ignored elements not counted)."""
        raw = torch.zeros(self.raw_size(), dtype=torch.long, device=labels.device)
        self.accumulate(raw, logits, labels)
        return self.raw_to_stat_scores(raw)

    # -- streaming counts: a flat int64 state vector updated in place (see ClassStatScores)
    def raw_size(self, confusion_max: int | None = None) -> int:
        """Length of the flat count state: the K x K confusion matrix plus a trash slot up to
        ``confusion_max`` (default :data:`CONFUSION_MAX_CLASSES`) classes, three O(K) vectors
        plus a trash slot above."""
        k = self.size
        limit = CONFUSION_MAX_CLASSES if confusion_max is None else confusion_max
        if k <= limit:
            return k * k + 1
        return 3 * k + 2 if k == 3 else 3 * k + 1  # K = 3: one spare slot keeps the layouts apart

    def accumulate(
        self, raw: Tensor, logits: Tensor, labels: Tensor, all_counted: bool = False, ones: Tensor | None = None
    ) -> None:
        """Add one batch to ``raw`` in place (one ``index_add_``, sync-free). ``all_counted``
        promises that no label is ignored (skips the masking); ``ones``: an int64 scalar one
        (expanded) or a vector of ones at least ``3 N`` long (saves an allocation per batch). The layout follows from
        ``raw``'s length (see :meth:`raw_size`)."""
        pred, target = self.predictions_targets(logits, labels)
        ignore = None if all_counted else self._ignore_for_counts()
        accumulate_confusion(raw, pred, target, self.size, ignore, ones)

    def raw_to_stat_scores(self, raw: Tensor) -> Tensor:
        """``[3, K]`` ``(tp, fp, fn)`` from the flat count state."""
        return raw_to_stat_scores(raw, self.size)

    def stat_scores_to_raw(self, counts: Tensor, raw_size: int) -> Tensor:
        """A flat count state of the O(K) layout holding ``[3, K]`` ``(tp, fp, fn)`` (the K x K
        layout cannot be rebuilt from them; see :meth:`raw_size` with ``confusion_max=0``)."""
        if is_confusion_layout(raw_size, self.size):
            raise ValueError("precomputed (tp, fp, fn) counts need the O(K) count layout (confusion_max=0)")
        tp, fp, fn = counts
        return torch.cat([tp + fn, tp + fp, tp, tp.new_zeros(raw_size - 3 * self.size)])

    def _ignore_for_counts(self) -> int | None:
        return self.ignore_index


@dataclass(frozen=True)
class MulticlassTask(Task):
    """Softmax over C >= 2 logit columns; labels are class indices or soft-target rows."""

    name: str = "multiclass"
    num_classes: int = 2
    ignore_index: int | None = -100

    def __post_init__(self) -> None:
        check_int(self.num_classes, "num_classes", min=2, hint="a one-logit binary model uses task='binary'")

    @property
    def size(self) -> int:
        return self.num_classes

    @staticmethod
    def is_soft(logits: Tensor, labels: Tensor) -> bool:
        """Soft targets: floating labels with the logits' shape ``[N, C]``."""
        return labels.is_floating_point() and labels.dim() == 2 and tuple(labels.shape) == tuple(logits.shape)

    def check(self, logits: Tensor, labels: Tensor, check_values: bool = True, finite: bool = True) -> bool | None:
        soft = isinstance(logits, Tensor) and isinstance(labels, Tensor) and self.is_soft(logits, labels)
        if not soft:
            if isinstance(logits, Tensor) and logits.dim() >= 1 and (logits.dim() == 1 or logits.shape[1] == 1):
                raise ValueError(
                    f"outputs have shape {tuple(logits.shape)}: a softmax needs C >= 2 logit columns; one logit per "
                    "sample is a binary model: use task='binary' (labels in {0, 1})"
                )
            check_logits_labels(logits, labels, self.num_classes, self.ignore_index, check_values=False)
        return self.check_values(logits, labels, finite) if check_values else None

    def check_values(self, logits: Tensor, labels: Tensor, finite: bool = True) -> bool:
        check_floating(logits, "outputs", True, finite)
        if self.is_soft(logits, labels):
            if labels.numel():
                rows = labels.sum(1)
                if not bool((labels >= 0).all() & ((rows - 1).abs() <= SOFT_TARGET_TOLERANCE).all()):
                    raise ValueError(
                        "soft-target labels [N, C] must be probability rows (>= 0, each summing to 1 within "
                        f"{SOFT_TARGET_TOLERANCE}); normalise them (labels / labels.sum(1, keepdim=True)) "
                        "or pass class indices"
                    )
            return True
        all_counted = check_labels(labels, self.num_classes, self.ignore_index)
        if all_counted and self.ignore_index is not None and 0 <= self.ignore_index < self.num_classes:
            # an ignore_index inside [0, C) passes the range check: look for it
            all_counted = not bool((labels == self.ignore_index).any())
        return bool(all_counted)

    def predictions_targets(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """``argmax`` over dim 1 of the logits (class-index predictions pass through) and the
        labels (soft rows: their argmax), flat int64."""
        if self.is_soft(logits, labels):
            return logits.detach().argmax(dim=1), labels.detach().argmax(dim=1)
        pred = argmax_classes(logits.detach()) if logits.is_floating_point() else logits.detach()
        return flat_long(pred), flat_long(labels.detach())

    def _ignore_for_counts(self) -> int | None:
        return self.ignore_index

    def counted(self, labels: Tensor) -> Tensor | None:
        if labels.is_floating_point():
            return None
        return super().counted(labels)

    def sample_weight(self, class_weights: Tensor, labels: Tensor) -> Tensor:
        w = class_weights
        if labels.is_floating_point():  # soft rows [N, C]: sum_c q_ic w_c
            return labels.to(w.dtype) @ w
        if self.ignore_index is None:
            return w[labels]
        counted = labels != self.ignore_index
        return torch.where(counted, w[torch.where(counted, labels, 0)], torch.zeros((), dtype=w.dtype, device=w.device))


@dataclass(frozen=True)
class BinaryTask(Task):
    """One logit per sample (``[N]`` or ``[N, 1]``), labels in {0, 1}; counted at ``threshold``."""

    name: str = "binary"
    threshold: float = 0.0
    ignore_index: int | None = None

    def __post_init__(self) -> None:
        check_float(self.threshold, "threshold", hint="a logit threshold; 0 means p > 0.5")

    @property
    def size(self) -> int:
        return 2

    def check(self, logits: Tensor, labels: Tensor, check_values: bool = True, finite: bool = True) -> bool | None:
        check_floating(logits, "outputs", False)
        if not isinstance(labels, Tensor):
            raise ValueError(f"labels must be a torch.Tensor of 0/1 values, got {type(labels).__name__}")
        if logits.dim() == 2 and logits.shape[1] == 1:
            expected: tuple[int, ...] = (logits.shape[0],)
            ok = tuple(labels.shape) in (expected, tuple(logits.shape))
        else:
            ok = logits.dim() == 1 and tuple(labels.shape) == tuple(logits.shape)
        if not ok:
            raise ValueError(
                f"a binary model outputs one logit per sample ([N] or [N, 1]) with labels [N]; got outputs "
                f"{tuple(logits.shape)} and labels {tuple(labels.shape)}. Multi-label data uses task='multilabel', "
                "C >= 2 softmax logits use task='multiclass'"
            )
        return self.check_values(logits, labels, finite) if check_values else None

    def check_values(self, logits: Tensor, labels: Tensor, finite: bool = True) -> bool:
        check_floating(logits, "outputs", True, finite)
        return check_zero_one_or_ignored(labels, self.ignore_index, "labels", "binary labels")

    def predictions_targets(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        # bool predictions (a comparison records no graph): the confusion index ``pred + 2 * target``
        # promotes them to int64 in one kernel
        pred = (logits if logits.dim() == 1 else logits.detach().reshape(-1)) > self.threshold
        return pred, flat_long(labels)

    def sample_weight(self, class_weights: Tensor, labels: Tensor) -> Tensor:
        y = labels.reshape(-1).to(class_weights.dtype)
        w = class_weights[0] + (class_weights[1] - class_weights[0]) * y
        counted = self.counted(labels.reshape(-1))
        return w if counted is None else torch.where(counted, w, torch.zeros_like(w))

    def shift_logits(self, logits: Tensor, offsets: Tensor) -> Tensor:
        o = offsets.to(logits.dtype)
        return logits + (o[1] - o[0])


@dataclass(frozen=True)
class MultilabelTask(Task):
    """L independent sigmoid logits ``[N, L]`` with multi-hot labels; counted at ``threshold``."""

    name: str = "multilabel"
    num_labels: int = 2
    threshold: float = 0.0
    ignore_index: int | None = None

    def __post_init__(self) -> None:
        check_int(self.num_labels, "num_labels", min=1)
        check_float(self.threshold, "threshold", hint="a logit threshold; 0 means p > 0.5")

    @property
    def size(self) -> int:
        return self.num_labels

    def check(self, logits: Tensor, labels: Tensor, check_values: bool = True, finite: bool = True) -> bool | None:
        check_floating(logits, "outputs", False)
        if not isinstance(labels, Tensor):
            raise ValueError(f"labels must be a torch.Tensor multi-hot matrix [N, L], got {type(labels).__name__}")
        if logits.dim() != 2 or tuple(labels.shape) != tuple(logits.shape):
            raise ValueError(
                f"multi-label outputs and labels must both be [N, L]; got outputs {tuple(logits.shape)} and labels "
                f"{tuple(labels.shape)}. Class indices [N] belong to task='multiclass'"
            )
        if logits.shape[1] != self.num_labels:
            raise ValueError(
                f"outputs have {logits.shape[1]} label columns but num_labels={self.num_labels}; "
                "make the model's last layer output one logit per label"
            )
        return self.check_values(logits, labels, finite) if check_values else None

    def check_values(self, logits: Tensor, labels: Tensor, finite: bool = True) -> bool:
        check_floating(logits, "outputs", True, finite)
        return check_zero_one_or_ignored(labels, self.ignore_index, "labels", "a multi-hot matrix")

    def predictions_targets(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        return (logits.detach() > self.threshold).long(), labels.detach().long()

    def sample_weight(self, class_weights: Tensor, labels: Tensor) -> Tensor:
        y = labels.to(class_weights.dtype)
        w = 1.0 + y * (class_weights - 1.0)
        counted = self.counted(labels)
        return w if counted is None else w * counted.to(w.dtype)

    def raw_size(self, confusion_max: int | None = None) -> int:
        return 3 * self.num_labels

    def accumulate(
        self, raw: Tensor, logits: Tensor, labels: Tensor, all_counted: bool = False, ones: Tensor | None = None
    ) -> None:
        # int32 0/1 matrices summed one by one: half the memory traffic of int64 (a batch has
        # < 2**31 rows). Inside a training step (cold caches) this beat boolean planes summed in
        # one reduction (L=1000: 0.55 vs 0.78 ms; L=100: 93 vs 159 us), although those win when
        # timed alone in a warm loop (0.30 vs 1.06 ms at L=1000)
        pred = (logits.detach() > self.threshold).int()
        counted = None if all_counted else self.counted(labels)
        target = labels.int() if counted is None else torch.where(counted, labels, 0).int()
        if counted is not None:
            pred = pred * counted.int()
        tp = (pred * target).sum(0, dtype=torch.int32)
        pos_pred, pos_true = pred.sum(0, dtype=torch.int32), target.sum(0, dtype=torch.int32)
        raw.view(3, -1).add_(torch.stack([tp, pos_pred - tp, pos_true - tp]))

    def raw_to_stat_scores(self, raw: Tensor) -> Tensor:
        return raw.view(3, self.num_labels)

    def stat_scores_to_raw(self, counts: Tensor, raw_size: int) -> Tensor:
        return counts.reshape(-1).clone()


def make_task(
    task: str,
    num_classes: int | None = None,
    *,
    threshold: float = 0.0,
    ignore_index: int | None = -100,
) -> Task:
    """A task by name. ``num_classes`` is C (multiclass) or L (multilabel); binary needs none."""
    check_choice(task, TASKS, "task")
    if task == "binary":
        if num_classes not in (None, 1, 2):
            raise ValueError(f"task='binary' has one logit (2 classes), got num_classes={num_classes}")
        return BinaryTask(threshold=threshold, ignore_index=ignore_index)
    if num_classes is None:
        raise ValueError(
            f"task={task!r} needs num_classes (the number of {'labels' if task == 'multilabel' else 'classes'})"
        )
    if task == "multilabel":
        return MultilabelTask(num_labels=num_classes, threshold=threshold, ignore_index=ignore_index)
    return MulticlassTask(num_classes=num_classes, ignore_index=ignore_index)


def infer_task(logits: Tensor, labels: Tensor, task: str | None = None) -> str:
    """The task name the shapes imply; with ``task`` given, that task if the shapes agree.

    ``[N]``/``[N, 1]`` logits -> binary; ``[N, L]`` logits with same-shape labels that are
    0/1 and not soft rows -> multilabel (pass ``task='multiclass'`` for one-hot rows); other
    ``[N, C, ...]`` -> multiclass. A contradiction is a ``ValueError``.
    """
    if not isinstance(logits, Tensor) or not isinstance(labels, Tensor):
        raise ValueError("outputs and labels must be torch.Tensors to infer the task")
    one_logit = logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1)
    if one_logit:
        implied = "binary"
    elif logits.dim() == 2 and tuple(labels.shape) == tuple(logits.shape):
        soft_rows = labels.is_floating_point() and bool(((labels.sum(1) - 1).abs() <= SOFT_TARGET_TOLERANCE).all())
        implied = "multiclass" if soft_rows and task != "multilabel" else "multilabel"
    else:
        implied = "multiclass"
    if task is None:
        return implied
    check_choice(task, TASKS, "task")
    if task != implied and not (task == "multiclass" and implied == "multilabel"):
        raise ValueError(
            f"task={task!r} contradicts the shapes: outputs {tuple(logits.shape)} with labels {tuple(labels.shape)} "
            f"look like task={implied!r}; fix the model's output or pass task={implied!r}"
        )
    return task


def implied_task(logits: Tensor, labels: Tensor, num_classes: int | None) -> str:
    """The task ACWATrainer infers from a first batch: 1-D logits -> binary; ``[N, L]`` logits
    with same-shape 0/1 labels -> multi-label (fractional values: soft targets); otherwise
    multiclass (``[N, 1]`` logits need ``task='binary'``)."""
    if not isinstance(logits, Tensor) or not isinstance(labels, Tensor):
        return "multiclass"  # the multiclass check names the type error
    if logits.dim() == 1:
        return "binary" if num_classes in (None, 2) else "multiclass"
    if logits.dim() == 2 and logits.shape[1] >= 2 and tuple(labels.shape) == tuple(logits.shape):
        if labels.is_floating_point() and labels.numel() and not bool(((labels == 0) | (labels == 1)).all()):
            return "multiclass"  # fractional values: soft targets (their check names a bad row sum)
        return infer_task(logits, labels)
    return "multiclass"
