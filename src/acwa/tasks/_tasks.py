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
from acwa.tasks._counting import add_class_counts, argmax_classes

__all__ = ["TASKS", "Task", "MulticlassTask", "BinaryTask", "MultilabelTask", "make_task", "infer_task"]

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

    def check(self, logits: Tensor, labels: Tensor, check_values: bool = True) -> None:
        """Validate a batch: shapes and dtypes always; with ``check_values``, also that every
        logit is finite (ignored rows included) and every label is valid for the task."""
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
        counts = torch.zeros(3, self.size, dtype=torch.long, device=labels.device)
        self.add_counts(counts, logits, labels)
        return counts

    def add_counts(self, counts: Tensor, logits: Tensor, labels: Tensor) -> None:
        """Add one batch to the ``[3, K]`` ``(tp, fp, fn)`` counts in place (sync-free; the
        kernel is :func:`acwa.tasks._counting.add_class_counts`)."""
        pred, target = self.predictions_targets(logits, labels)
        add_class_counts(counts, pred, target, self.counted(target))


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

    def check(self, logits: Tensor, labels: Tensor, check_values: bool = True) -> None:
        soft = isinstance(logits, Tensor) and isinstance(labels, Tensor) and self.is_soft(logits, labels)
        if not soft:
            if isinstance(logits, Tensor) and logits.dim() >= 1 and (logits.dim() == 1 or logits.shape[1] == 1):
                raise ValueError(
                    f"outputs have shape {tuple(logits.shape)}: a softmax needs C >= 2 logit columns; one logit per "
                    "sample is a binary model: use task='binary' (labels in {0, 1})"
                )
            check_logits_labels(logits, labels, self.num_classes, self.ignore_index, check_values=False)
        if check_values:
            self._check_values(logits, labels)

    def _check_values(self, logits: Tensor, labels: Tensor) -> None:
        check_floating(logits, "outputs", True)
        if self.is_soft(logits, labels):
            if labels.numel():
                rows = labels.sum(1)
                if not bool((labels >= 0).all() & ((rows - 1).abs() <= SOFT_TARGET_TOLERANCE).all()):
                    raise ValueError(
                        "soft-target labels [N, C] must be probability rows (>= 0, each summing to 1 within "
                        f"{SOFT_TARGET_TOLERANCE}); normalise them (labels / labels.sum(1, keepdim=True)) "
                        "or pass class indices"
                    )
            return
        check_labels(labels, self.num_classes, self.ignore_index)

    def predictions_targets(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """``argmax`` over dim 1 of the logits (class-index predictions pass through) and the
        labels (soft rows: their argmax), flat int64."""
        if self.is_soft(logits, labels):
            return logits.detach().argmax(dim=1), labels.detach().argmax(dim=1)
        pred = argmax_classes(logits.detach()) if logits.is_floating_point() else logits.detach()
        return flat_long(pred), flat_long(labels.detach())

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

    def check(self, logits: Tensor, labels: Tensor, check_values: bool = True) -> None:
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
        if check_values:
            self._check_values(logits, labels)

    def _check_values(self, logits: Tensor, labels: Tensor) -> None:
        check_floating(logits, "outputs", True)
        check_zero_one_or_ignored(labels, self.ignore_index, "labels", "binary labels")

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

    def check(self, logits: Tensor, labels: Tensor, check_values: bool = True) -> None:
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
        if check_values:
            self._check_values(logits, labels)

    def _check_values(self, logits: Tensor, labels: Tensor) -> None:
        check_floating(logits, "outputs", True)
        check_zero_one_or_ignored(labels, self.ignore_index, "labels", "a multi-hot matrix")

    def predictions_targets(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        return (logits.detach() > self.threshold).long(), labels.detach().long()

    def sample_weight(self, class_weights: Tensor, labels: Tensor) -> Tensor:
        y = labels.to(class_weights.dtype)
        w = 1.0 + y * (class_weights - 1.0)
        counted = self.counted(labels)
        return w if counted is None else w * counted.to(w.dtype)

    def add_counts(self, counts: Tensor, logits: Tensor, labels: Tensor) -> None:
        # per label: tp = sum y*p, fp = sum p - tp, fn = sum y - tp over the counted rows (int32
        # 0/1 matrices: a batch has < 2**31 rows)
        pred = (logits.detach() > self.threshold).int()
        counted = self.counted(labels)
        target = labels.int() if counted is None else torch.where(counted, labels, 0).int()
        if counted is not None:
            pred = pred * counted.int()
        tp = (pred * target).sum(0, dtype=torch.int32)
        pos_pred, pos_true = pred.sum(0, dtype=torch.int32), target.sum(0, dtype=torch.int32)
        counts.add_(torch.stack([tp, pos_pred - tp, pos_true - tp]))


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


def infer_task(logits: Tensor, labels: Tensor, task: str | None = None, num_classes: int | None = None) -> str:
    """The task name the shapes imply; with ``task`` given, that task if the shapes agree.

    - ``[N]`` or ``[N, 1]`` logits -> binary (with ``num_classes`` other than 2: multiclass,
      whose check then names the shape);
    - ``[N, L]`` logits (L >= 2) with same-shape labels: multi-label when every label is 0 or 1;
      soft targets (multiclass) when some are fractional. One-hot rows are 0/1, so they read as
      multi-label: pass ``task='multiclass'`` for them;
    - anything else -> multiclass.

    A contradiction (e.g. ``task='multiclass'`` with one logit per sample) is a ``ValueError``.
    """
    if not isinstance(logits, Tensor) or not isinstance(labels, Tensor):
        if task is None:
            return "multiclass"  # the multiclass check names the type error
        return check_choice(task, TASKS, "task")
    one_logit = logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1)
    if one_logit:
        implied = "binary" if num_classes in (None, 1, 2) else "multiclass"
    elif logits.dim() == 2 and tuple(labels.shape) == tuple(logits.shape):
        fractional = labels.is_floating_point() and labels.numel() and not bool(((labels == 0) | (labels == 1)).all())
        implied = "multiclass" if fractional else "multilabel"
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
