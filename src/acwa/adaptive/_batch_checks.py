"""The per-batch input checks of :class:`acwa.ACWATrainer`, each batch checked once.

- ``get_weighted_loss`` and ``update_metrics`` usually see the same ``(logits, labels)`` pair, or
  a view of it (``logits.detach()``): the pair checked last is held with its version counters,
  and a call on it (not modified in place since) is not checked again;
- a batch with the shapes and dtypes of the last shape-checked one gets only the value part of
  the task's check (:meth:`acwa.tasks.Task.check_values`);
- ``finite_from_loss``: the finiteness of the logits is left to the caller, which reads it from
  the loss value (:attr:`BatchChecks.needs_loss_check`).

Value checks read tensors back to the host: per ``validate_inputs`` (``None``: every batch on CPU,
the first on accelerators; see :func:`acwa._internal.validation.should_check_values`). With them off only
shapes are checked, nothing is cached, and the path traces under ``torch.compile``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acwa._internal.validation import should_check_values
from acwa.tasks._checks import same_tensor
from acwa.tasks._tasks import Task

__all__ = ["BatchChecks"]


class BatchChecks:
    """What the trainer knows of the batches it has checked (see the module docstring)."""

    def __init__(self) -> None:
        self.pair: tuple | None = None  # last value-checked (logits, labels, their versions)
        self.signature: tuple | None = None  # shapes and dtypes of the last shape-checked batch
        self.checked_once = False
        self.all_counted: bool | None = None  # True: the checked batch has no ignored label
        self.needs_loss_check = False  # the checked batch's finiteness is read from its loss value

    def is_checked(self, logits: Tensor, labels: Tensor) -> bool:
        """Whether ``(logits, labels)`` is the pair value-checked last, or a view of all of it:
        same storage, shape and dtype, unmodified since (the pair is held, so its memory cannot
        be reused by another tensor)."""
        if self.pair is None or torch.compiler.is_compiling():
            return False
        a, b, va, vb = self.pair
        return same_tensor(a, logits, va) and same_tensor(b, labels, vb)

    def check(self, task: Task, logits: Tensor, labels: Tensor, validate: bool | None, finite_from_loss: bool) -> None:
        """Check a new batch for ``task`` (shapes always, values per ``validate``)."""
        # validate given: checked_once is not read, so a compiled step guards on nothing that changes
        check_values = validate if validate is not None else should_check_values(logits, None, not self.checked_once)
        self.checked_once = True
        if not check_values or logits.is_meta:  # shapes only: no host read, no data-pointer cache
            task.check(logits, labels, False)
            self.all_counted, self.needs_loss_check = None, False
            return
        signature = (logits.shape, logits.dtype, labels.shape, labels.dtype)
        if signature == self.signature:
            self.all_counted = task.check_values(logits, labels, finite=not finite_from_loss)
        else:
            self.all_counted = task.check(logits, labels, True, finite=not finite_from_loss)
            self.signature = signature
        self.needs_loss_check = finite_from_loss
        # inference-mode tensors have no version counter: they are checked on every call
        cacheable = not (logits.is_inference() or labels.is_inference())
        self.pair = (logits, labels, logits._version, labels._version) if cacheable else None
