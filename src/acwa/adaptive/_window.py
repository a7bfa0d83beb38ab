"""The metric-window protocol: what ACWA's controller reads between two updates.

A window accumulates batches and turns them into one per-class metric vector ``[K]``:

- ``update(logits, labels)``: count a batch (no reference to it is kept, except by
  :class:`CallableWindow`, which keeps detached copies);
- ``compute() -> Tensor[K]``: the metric over the window of *all* DDP ranks, NaN for the
  classes with no true sample in it (the controller skips them);
- ``reset()``: start a new window;
- ``sync() -> Tensor[3, K]``: the window's ``(tp, fp, fn)`` counts summed over ranks, as a new
  tensor: the accumulating window is never modified, so reading a metric mid-window under DDP
  leaves local counts local;
- ``state_dict()`` / ``load_state_dict()``: validated and atomic.

Every window keeps the streaming counts (:class:`acwa.metrics.ClassStatScores`): they give the
built-in metrics, and for the other adapters the support that marks absent classes. Adapters:

- :class:`CountsWindow`: a metric name (``'f1'``, ``'recall'``, ``'precision'``) from the counts;
- :class:`CallableWindow`: a plain callable ``fn(outputs, labels) -> Tensor[K]`` on the
  concatenated window (all ranks' windows gathered in rank order under DDP);
- :class:`StatefulMetricWindow`: a torchmetrics-style object with ``update/compute/reset``
  (e.g. ``torchmetrics.F1Score(task='multiclass', num_classes=C, average=None)``).

:func:`make_window` picks the adapter for a ``metric_fn``. :data:`UPDATE_ON` and
:func:`check_update_on` are the one vocabulary for which batches feed a window in the
framework adapters.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from acwa._internal.state import all_gather_cat
from acwa._internal.validation import check_choice
from acwa.metrics import METRICS, ClassStatScores
from acwa.tasks import Task

__all__ = [
    "MetricWindow",
    "CountsWindow",
    "CallableWindow",
    "StatefulMetricWindow",
    "make_window",
    "is_stateful_metric",
    "UPDATE_ON",
    "check_update_on",
]

UPDATE_ON = ("train", "validation")
_OLD_UPDATE_ON = {"val": "validation", "eval": "validation"}


def check_update_on(value: Any, name: str = "update_on") -> str:
    """``'train'`` or ``'validation'``; the old spellings ``'val'`` (Lightning) and ``'eval'``
    (Hugging Face) still work and give a ``DeprecationWarning``."""
    if isinstance(value, str) and value in _OLD_UPDATE_ON:
        new = _OLD_UPDATE_ON[value]
        warnings.warn(f"{name}={value!r} is deprecated; use {name}={new!r}", DeprecationWarning, stacklevel=3)
        return new
    return check_choice(value, UPDATE_ON, name)


def is_stateful_metric(metric_fn: Any) -> bool:
    """Whether ``metric_fn`` has ``update``, ``compute`` and ``reset`` (a torchmetrics-style object)."""
    return all(callable(getattr(metric_fn, m, None)) for m in ("update", "compute", "reset"))


class MetricWindow:
    """Base of the adapters: the streaming counts and the protocol (see the module docstring)."""

    metric_name = "metric"

    def __init__(self, task: Task, device: Any = None) -> None:
        self.task = task
        self.stats = ClassStatScores(task=task, device=device)

    @property
    def num_classes(self) -> int:
        return self.task.size

    def update(self, logits: Tensor, labels: Tensor) -> None:
        self.stats.update(logits, labels)

    def add_stat_scores(self, counts: Tensor) -> None:
        """Add precomputed ``[3, K]`` ``(tp, fp, fn)`` counts."""
        self.stats.add_stat_scores(counts)

    def compute(self) -> Tensor:
        raise NotImplementedError

    def reset(self) -> None:
        self.stats.reset()

    def sync(self) -> Tensor:
        return self.stats.sync()

    def to(self, device: Any) -> MetricWindow:
        self.stats.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state["stats"])

    def _masked(self, metric: Any, present: Tensor) -> Tensor:
        metric = torch.as_tensor(metric).float().to(present.device)
        if metric.shape != present.shape:
            raise ValueError(
                f"metric_fn must return one value per class, shape ({self.num_classes},), got {tuple(metric.shape)}"
            )
        return torch.where(present, metric, torch.full_like(metric, float("nan")))


class CountsWindow(MetricWindow):
    """A metric from the window's counts: ``'f1'`` (default), ``'recall'`` or ``'precision'``."""

    def __init__(self, task: Task, metric: str = "f1", device: Any = None) -> None:
        super().__init__(task, device)
        self.metric_name = check_choice(metric, METRICS, "metric_fn")

    def compute(self) -> Tensor:
        return METRICS[self.metric_name](*self.sync())


class CallableWindow(MetricWindow):
    """``fn(outputs, labels) -> Tensor[K]`` on the concatenated window (it keeps the window's
    detached outputs in memory); under DDP on the windows of all ranks, so every rank computes
    the same metric."""

    def __init__(self, task: Task, fn: Callable[[Tensor, Tensor], Any], device: Any = None) -> None:
        super().__init__(task, device)
        self.fn = fn
        self.batches: list[tuple[Tensor, Tensor]] = []

    def update(self, logits: Tensor, labels: Tensor) -> None:
        super().update(logits, labels)
        self.batches.append((logits.detach().clone(), labels.detach().clone()))  # the caller may reuse its buffers

    def _tensors(self) -> tuple[Tensor, Tensor]:
        if self.batches:
            outs, labs = zip(*self.batches)
            return torch.cat(outs), torch.cat(labs)
        device = self.stats.counts.device
        return torch.empty(0, self.num_classes, device=device), torch.empty(0, dtype=torch.long, device=device)

    def compute(self) -> Tensor:
        tp, _, fn = self.sync()
        outs, labs = (all_gather_cat(t) for t in self._tensors())
        if labs.numel() == 0:
            return torch.full((self.num_classes,), float("nan"), device=tp.device)
        return self._masked(self.fn(outs, labs), tp + fn > 0)

    def reset(self) -> None:
        super().reset()
        self.batches.clear()

    def to(self, device: Any) -> CallableWindow:
        super().to(device)
        self.batches = [(o.to(device), lab.to(device)) for o, lab in self.batches]
        return self

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.batches:
            state["window"] = [(o.cpu(), lab.cpu()) for o, lab in self.batches]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        batches = state.get("window", [])
        if not isinstance(batches, (list, tuple)) or not all(
            isinstance(b, (tuple, list)) and len(b) == 2 and all(isinstance(t, Tensor) for t in b) for b in batches
        ):
            raise ValueError("state['window'] must be a list of (outputs, labels) tensor pairs from state_dict()")
        super().load_state_dict(state)
        device = self.stats.counts.device
        self.batches = [(o.to(device), lab.to(device)) for o, lab in batches]


class StatefulMetricWindow(MetricWindow):
    """A torchmetrics-style object (``update/compute/reset``) returning one value per class."""

    def __init__(self, task: Task, metric: Any, device: Any = None) -> None:
        super().__init__(task, device)
        self.metric = metric

    def update(self, logits: Tensor, labels: Tensor) -> None:
        super().update(logits, labels)
        self.metric.update(logits, labels)

    def compute(self) -> Tensor:
        tp, _, fn = self.sync()
        return self._masked(self.metric.compute(), tp + fn > 0)

    def reset(self) -> None:
        super().reset()
        self.metric.reset()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if callable(getattr(self.metric, "state_dict", None)):
            state["metric_fn"] = self.metric.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "metric_fn" in state and callable(getattr(self.metric, "load_state_dict", None)):
            self.metric.load_state_dict(state["metric_fn"])


def make_window(metric_fn: Any, task: Task, device: Any = None) -> MetricWindow:
    """The adapter for ``metric_fn``: ``None``/a name -> :class:`CountsWindow`, an object with
    ``update/compute/reset`` -> :class:`StatefulMetricWindow`, a callable -> :class:`CallableWindow`."""
    if metric_fn is None or isinstance(metric_fn, str):
        return CountsWindow(task, metric_fn or "f1", device)
    if is_stateful_metric(metric_fn):
        return StatefulMetricWindow(task, metric_fn, device)
    if callable(metric_fn):
        return CallableWindow(task, metric_fn, device)
    raise ValueError(
        "metric_fn must be None, a metric name ('f1', 'recall', 'precision'), a callable "
        f"(outputs, labels) -> Tensor[C], or an object with update/compute/reset; got {type(metric_fn).__name__}"
    )
