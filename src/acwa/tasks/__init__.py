"""``acwa.tasks``: the one task notion (multiclass incl. soft targets, binary one-logit,
multi-label). How outputs and labels are read, checked and counted, and how a per-class
weight becomes a per-element weight; counts, metrics, ACWA, weights, losses and samplers ask a
:class:`Task` instead of assuming ``[N, C]`` softmax. See :mod:`acwa.tasks._tasks` for the table.
"""

from acwa._internal.deprecation import deprecated_names

from ._tasks import TASKS, BinaryTask, MulticlassTask, MultilabelTask, Task, infer_task, make_task

__all__ = ["TASKS", "Task", "MulticlassTask", "BinaryTask", "MultilabelTask", "make_task", "infer_task"]


def _implied_task(logits, labels, num_classes=None):
    return infer_task(logits, labels, None, num_classes)


__getattr__ = deprecated_names("acwa.tasks", {"implied_task": (lambda: _implied_task, "acwa.tasks.infer_task")})
