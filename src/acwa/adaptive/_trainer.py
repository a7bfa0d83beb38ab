"""``ACWATrainer``: the ACWA README's API, a thin facade over three parts:

- the **metric window** (:mod:`acwa.adaptive`): ``update/compute/reset/sync`` over the batches
  since the last update (streaming counts, a plain callable or a torchmetrics object);
- the **controller** (:class:`acwa.adaptive.AdaptiveClassWeights`): the weight/offset update
  rule, presets (:func:`acwa.adaptive.apply_preset`) and frequency-based initialisation;
- the **loss with its reducer** (:class:`acwa.adaptive.ClassWeightedLoss`).

Inputs are read through a task (:mod:`acwa.tasks`). Per step, either ``get_weighted_loss`` then
``update_metrics`` (the README), or ``step_loss`` (both, the batch checked once). Validation-driven
weights: ``update_freq=None`` and ``update_from_validation(model, val_loader)`` once per epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from acwa._internal.state import Stateful
from acwa._internal.validation import check_choice, check_int, should_check_values
from acwa.adaptive._config import Option, TrainerConfig
from acwa.adaptive._controller import AdaptiveClassWeights
from acwa.adaptive._evaluation import evaluate, logits_of, model_device
from acwa.adaptive._loss_weighting import ClassWeightedLoss
from acwa.adaptive._window import MetricWindow, make_window
from acwa.tasks import TASKS, Task, infer_task, make_task

__all__ = ["ACWATrainer", "logits_of"]


class ACWATrainer(Stateful):
    """Adaptive Class Weight Adjustment: class weights that follow a live per-class metric.

    Every ``update_freq`` calls of :meth:`update_metrics`, the per-class metric of the window
    (F1 by default, from streaming tp/fp/fn counts) drives
    ``w_c <- clip(beta*w_c + (1-beta)*(w_c + alpha*(target_c - metric_c)), lo, hi)``
    for every class present in the window; :meth:`get_weighted_loss` returns
    ``sum_i w_{y_i} l_i / N`` over non-ignored samples.

    Args:
        num_classes: C; inferred from the first logits when omitted.
        target_metric: target per-class metric, scalar or [C] (default 0.85).
        alpha: step size (default 0.02). beta: smoothing (default 0.9).
        update_freq: calls of ``update_metrics`` between updates (default 100). ``None`` or 0:
            updates happen only when :meth:`step` (or :meth:`update_from_validation`) is called.
        metric_fn: per-class metric. ``None`` -> F1; a name in ``{'f1', 'recall', 'precision'}``;
            a callable ``(outputs, labels) -> Tensor[C]`` evaluated on the concatenated window
            (it keeps the window's detached outputs in memory); or an object with
            ``update/compute/reset`` such as ``torchmetrics.F1Score(task='multiclass',
            num_classes=C, average=None)``.
        metric_mode: 'max' (higher is better) or 'min' (lower is better: a per-class error).
        loss_fn: any loss. acwa losses receive the per-sample ACWA weights through
            ``sample_weight=``; other modules with a ``reduction`` attribute are evaluated
            through a shallow copy with ``reduction='none'`` (``loss_fn`` is never modified);
            other callables must return one value per sample. Default: cross-entropy.
        class_frequencies: per-class frequencies (or counts) for inverse-frequency initial
            weights ``∝ 1/(f_c + eps)``, normalised to mean 1 and clipped to ``weight_bounds``.
            ``class_counts=`` is the same argument under its library-wide name.
        model: optional; the weights are kept on its device.
        weight_bounds: clip range (default (0.5, 2.0)).
        ignore_index: label value excluded from loss and metrics (default -100).
        validate_inputs: ``None`` (auto): value checks (finite logits, label range) on every call
            for CPU tensors, on the first call only on accelerators (so steps stay sync-free);
            ``True``: always; ``False``: shapes only.
        adjust: what the metric drives: ``'weights'`` (the README), ``'logits'`` (additive
            training-logit offsets ``o``, loss ``l(f + o, y)``) or ``'both'``
            (see :mod:`acwa.adaptive`). With ``'logits'``/``'both'``, ``class_frequencies``
            initialise the offsets to ``logit_tau * log pi`` (logit adjustment) instead of the
            weights.
        normalize_weights: rescale the weights to mean 1 after each update.
        logit_tau: scale of the logit-adjustment initialisation (default 1.0).
        offset_radius: how far each logit offset may move from its initial value (default
            unbounded).
        mode: ``'classic'`` (the README, default) or ``'auto'``, a preset that changes the
            defaults of ``adjust, target_metric, metric_fn, alpha, beta, update_freq,
            offset_radius`` (see :data:`acwa.adaptive.PRESETS`; arguments you set to other
            values win) and needs ``class_frequencies`` for its logit-adjustment start.
        task: ``'multiclass'``, ``'binary'`` (one logit) or ``'multilabel'``; ``None``: inferred
            from the first batch's shapes (see :mod:`acwa.tasks`).
        threshold: logit threshold at which binary/multi-label predictions count as positive.
    """

    num_calls: int  # declared state: calls of update_metrics so far
    # the constructor's options, read from the validated config (assigning one raises, except
    # update_freq and validate_inputs, which take effect at the next batch)
    target_metric = Option()
    alpha = Option()
    beta = Option()
    update_freq = Option(mutable=True)
    metric_fn = Option()
    metric_mode = Option()
    loss_fn = Option()
    class_frequencies = Option()
    weight_bounds = Option()
    ignore_index = Option()
    validate_inputs = Option(mutable=True)
    eps = Option()
    adjust = Option()
    normalize_weights = Option()
    logit_tau = Option()
    offset_radius = Option()
    mode = Option()
    threshold = Option()

    def __init__(
        self,
        num_classes: int | None = None,
        target_metric: float | Sequence[float] | Tensor | str = 0.85,
        alpha: float = 0.02,
        beta: float = 0.9,
        update_freq: int | None = 100,
        metric_fn: Any = None,
        metric_mode: str = "max",
        loss_fn: Callable[..., Tensor] | None = None,
        class_frequencies: Sequence[float] | Tensor | None = None,
        model: nn.Module | None = None,
        weight_bounds: tuple[float, float] = (0.5, 2.0),
        ignore_index: int | None = -100,
        validate_inputs: bool | None = None,
        eps: float = 1e-6,
        adjust: str = "weights",
        normalize_weights: bool = False,
        logit_tau: float = 1.0,
        offset_radius: float | None = None,
        mode: str = "classic",
        *,
        class_counts: Sequence[float] | Tensor | None = None,
        task: str | None = None,
        threshold: float = 0.0,
    ) -> None:
        arguments = {k: v for k, v in locals().items() if k not in ("self", "model", "__class__")}
        self._config = cfg = TrainerConfig.checked(arguments)
        self.device = model_device(model) if model is not None else None
        self._controller: AdaptiveClassWeights | None = None  # built once the classes are known
        self._window: MetricWindow | None = None
        self._task: Task | None = None
        self._loss: ClassWeightedLoss | None = None
        self.last_metric: Tensor | None = None
        self.add_state("num_calls", 0)  # calls of update_metrics so far
        self._checked_once = False  # validate_inputs=None checks accelerator batches until the first passes
        self._provisional = False  # the task is a guess until the first batch
        if cfg.num_classes is not None:
            self._build(cfg.task or "multiclass", cfg.num_classes, self.device, provisional=cfg.task is None)

    # ------------------------------------------------------------------ setup
    @property
    def config(self) -> TrainerConfig:
        """Every option after presets and validation (read-only)."""
        return self._config

    @property
    def num_classes(self) -> int | None:
        """K: classes (multiclass, binary: 2) or labels (multi-label); None until known."""
        return self._task.size if self._task is not None else self._config.num_classes

    @num_classes.setter
    def num_classes(self, value: Any) -> None:
        raise AttributeError("ACWATrainer.num_classes is fixed at construction; build a new trainer")

    def _build(self, task_name: str, size: int, device: Any, provisional: bool = False) -> None:
        cfg = self._config
        self._task = make_task(task_name, size, threshold=cfg.threshold, ignore_index=cfg.ignore_index)
        if self._controller is None or self._controller.num_classes != self._task.size:
            self._controller = cfg.controller(self._task.size, device, task_name)
        self._window = make_window(cfg.metric_fn, self._task, device)
        self._loss = ClassWeightedLoss(cfg.loss_fn, self._task)
        self._provisional = provisional

    def _resolve_task(self, logits: Tensor, labels: Tensor) -> None:
        """First batch: the task its shapes imply (or the explicit one, checked against them).
        Inferred by :func:`acwa.tasks.infer_task`."""
        name = infer_task(logits, labels, self._config.task, self._config.num_classes)
        if self._task is not None and name == self._task.name:
            self._provisional = False
            return
        if self._config.class_frequencies is not None and name == "multilabel":
            self._controller = None  # its start depends on the task: built afresh below
        if name == "binary":
            size = 2
        elif self._config.num_classes is not None:
            size = self._config.num_classes  # the task's check names any mismatch with the logits
        else:
            size = logits.shape[1] if logits.dim() >= 2 else 0
            if name == "multiclass" and size < 2:
                self._build_failed(logits, labels)
        self._build(name, size, self.device or logits.device)

    @staticmethod
    def _build_failed(logits: Tensor, labels: Tensor) -> None:
        from acwa.tasks import MulticlassTask

        MulticlassTask(num_classes=2).check(logits, labels)  # raises the shape error
        raise ValueError(f"outputs must have shape [N, C] with C >= 2, got {tuple(logits.shape)}")

    @property
    def initialized(self) -> bool:
        """Whether the number of classes (and so the weights) is known yet."""
        return self._controller is not None

    def _part(self, value: Any) -> Any:
        if value is None:
            raise RuntimeError(
                "weights are not known yet: pass num_classes or call get_weighted_loss/update_metrics first"
            )
        return value

    @property
    def controller(self) -> AdaptiveClassWeights:
        """The weight/offset controller (:class:`acwa.adaptive.AdaptiveClassWeights`)."""
        return self._part(self._controller)

    @property
    def window(self) -> MetricWindow:
        """The metric window (:mod:`acwa.adaptive`) accumulating batches between two updates."""
        return self._part(self._window)

    @property
    def task(self) -> Task:
        """The task (:mod:`acwa.tasks`); inferred from the first batch unless ``task=`` was given."""
        return self._part(self._task)

    @property
    def loss(self) -> ClassWeightedLoss:
        """The loss with its per-sample weighting (:class:`acwa.adaptive.ClassWeightedLoss`)."""
        return self._part(self._loss)

    def _prepare(self, outputs: Any, labels: Tensor) -> Tensor:
        """The logits of ``outputs``, the task resolved, and the batch checked: shapes always;
        values (finite logits, valid labels) per ``validate_inputs``: ``None`` checks every CPU
        batch and accelerator batches until the first one passes (no host sync afterwards)."""
        logits = logits_of(outputs)
        if self._task is None or self._provisional:
            self._resolve_task(logits, labels)
        assert self._task is not None and self._controller is not None
        validate = self._config.validate_inputs
        check_values = should_check_values(logits, validate, not self._checked_once) and not logits.is_meta
        self._task.check(logits, labels, check_values)
        if check_values:
            self._checked_once = True
        if self._controller.weights.device != logits.device:
            self.to(logits.device)
        return logits

    def to(self, device: Any) -> ACWATrainer:
        """Move the weights, offsets and window to ``device``."""
        if self._controller is not None and self._window is not None:
            self._controller.to(device)
            self._window.to(device)
        return self

    # ------------------------------------------------------------------ weights
    @property
    def weights(self) -> Tensor:
        """Current class weights, a tensor [C]."""
        return self.controller.weights

    def set_weights(self, weights: Sequence[float] | Tensor) -> None:
        """Set the class weights (finite, [C], inside ``weight_bounds``), e.g. static weights."""
        self.controller.set_weights(weights)

    @property
    def weight_history(self) -> Tensor:
        """Weights after each update, a CPU tensor [T, C]; row 0 holds the initial weights."""
        return torch.zeros(0) if self._controller is None else self._controller.history

    @property
    def logit_offsets(self) -> Tensor:
        """Additive training-logit offsets [C] (all zero unless ``adjust`` is 'logits'/'both')."""
        return self.controller.offsets

    @property
    def offset_history(self) -> Tensor:
        """Offsets after each update, a CPU tensor [T, C] (rows as in :attr:`weight_history`)."""
        return self.controller.offset_history

    @property
    def weight_history_steps(self) -> Tensor:
        """For each row of :attr:`weight_history`, the number of ``update_metrics`` calls so far."""
        return self._controller.history_steps if self._controller is not None else torch.zeros(0, dtype=torch.long)

    # ------------------------------------------------------------------ loss
    def per_sample_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Unweighted per-sample losses of ``loss_fn`` (0 where ``labels == ignore_index``)."""
        self._prepare(logits, labels)
        assert self._loss is not None
        return self._loss.per_sample_loss(logits, labels)

    def get_weighted_loss(self, outputs: Any, labels: Tensor) -> Tensor:
        """``sum_i w_{y_i} * l_i / N_counted``: the ACWA-weighted mean loss of the batch."""
        return self._weighted_loss(self._prepare(outputs, labels), labels)

    def _weighted_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        controller, task, loss = self._controller, self._task, self._loss
        assert controller is not None and task is not None and loss is not None
        shifted = task.shift_logits(logits, controller.offsets) if self.adjust != "weights" else logits
        return loss(shifted, labels, controller.weights)

    def step_loss(self, outputs: Any, labels: Tensor) -> Tensor:
        """One training step's bookkeeping with one check of the batch: the weighted loss of
        :meth:`get_weighted_loss`, then the batch counted as by :meth:`update_metrics` (the
        counts use the weights in force for this loss; an update they trigger applies to the
        next batch). Returns the loss to back-propagate."""
        logits = self._prepare(outputs, labels)
        value = self._weighted_loss(logits, labels)
        self._count(logits, labels)
        self.end_batch()
        return value

    # ------------------------------------------------------------------ metrics
    def update_metrics(self, outputs: Any, labels: Tensor) -> None:
        """Accumulate the batch into the window; every ``update_freq`` calls, apply :meth:`step`.
        Equal to :meth:`accumulate` followed by :meth:`end_batch`."""
        self.accumulate(outputs, labels)
        self.end_batch()

    def accumulate(self, outputs: Any, labels: Tensor) -> None:
        """Add the batch to the window without counting a call: the per-batch part of
        :meth:`update_metrics`, sync-free and compilable (``torch.compile(fullgraph=True)``
        with value checks off)."""
        self._count(self._prepare(outputs, labels), labels)

    def _count(self, logits: Tensor, labels: Tensor) -> None:
        assert self._window is not None
        self._window.update(logits.detach(), labels.detach())

    def end_batch(self) -> None:
        """Count one call of :meth:`update_metrics`; every ``update_freq`` calls, apply
        :meth:`step` (eager, between compiled steps)."""
        self.num_calls += 1
        if self.update_freq is not None and self.num_calls % self.update_freq == 0:
            self.step()

    def compute_metric(self) -> Tensor:
        """Per-class metric of the current window [C] over all ranks; NaN for classes absent from it."""
        if self._window is None:
            raise RuntimeError("nothing to compute: call update_metrics(outputs, labels) first")
        return self._window.compute()

    def reset_window(self) -> None:
        """Start a new window (the counts and any kept outputs are discarded)."""
        if self._window is not None:
            self._window.reset()

    def step(self) -> Tensor:
        """Apply one ACWA update from the window accumulated so far, then start a new window."""
        if self._controller is None:
            raise RuntimeError("nothing to step on: call update_metrics(outputs, labels) first")
        self.last_metric = self.compute_metric()
        self._controller.step(self.last_metric, self.num_calls)
        self.reset_window()
        return self.weights

    def update_from_validation(self, model: nn.Module, loader: Iterable[Any], device: Any = None) -> Tensor:
        """Validation-driven update: evaluate ``model`` on ``loader`` (eval mode, no grad, see
        :func:`acwa.adaptive.evaluate`), then :meth:`step`. Batches are ``(inputs, labels)``.
        Training-window counts are discarded first. Returns the per-class metric used."""
        self.reset_window()
        for logits, labels in evaluate(model, loader, device or self.device):
            self._count(self._prepare(logits, labels), labels)
        self.step()
        assert self.last_metric is not None
        return self.last_metric

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume with identical weights: weights, history, window counts."""
        state: dict[str, Any] = {"num_classes": self.num_classes, "num_calls": self.num_calls}
        if self.last_metric is not None:
            state["last_metric"] = self.last_metric.detach().cpu().clone()
        if self._controller is not None and self._window is not None and self._task is not None:
            state["task"] = self._task.name
            state["controller"] = self._controller.state_dict()
            state.update(self._window.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state_dict` (also one saved before declared state): every part is
        validated before anything changes, so a bad dict raises ``ValueError`` naming the key
        and leaves the trainer as it was."""
        if not isinstance(state, dict) or "num_calls" not in state:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state must be a dict from ACWATrainer.state_dict() with 'num_calls', got {got}")
        unknown = sorted(set(state) - _STATE_KEYS)
        if unknown:
            raise ValueError(
                f"state has unknown keys {unknown} for ACWATrainer; expected some of {sorted(_STATE_KEYS)}"
            )
        candidate = copy.copy(self)
        candidate._load_into(state)
        self.__dict__.update(candidate.__dict__)

    def _load_into(self, state: dict[str, Any]) -> None:
        """Load into this (shallow) copy: fresh controller and window, the live ones untouched."""
        n = state.get("num_classes")
        if n is not None and "controller" not in state:  # a built trainer always saves its controller
            raise ValueError("state has 'num_classes' but no 'controller' (the weights): it is truncated")
        if n is not None:
            task = check_choice(state.get("task", "multiclass"), TASKS, "state['task']")
            n = check_int(n, "state['num_classes']", min=1)
            if self._config.num_classes is not None and n != self.num_classes:
                raise ValueError(f"state has num_classes={n} but this trainer has {self.num_classes}")
            device = self._controller.weights.device if self._controller is not None else self.device
            self._controller = copy.deepcopy(self._controller) if self._controller is not None else None
            self._build(task, n, device)
        super().load_state_dict({"num_calls": state["num_calls"]})
        self.last_metric = _checked_last_metric(state.get("last_metric"), n)
        if "controller" in state:
            if self._controller is None or self._window is None:
                raise ValueError("state has 'controller' but no 'num_classes'")
            self._controller.load_state_dict(state["controller"])
            parts: dict[str, Any] = {k: state[k] for k in ("stats", "window", "metric_fn") if k in state}
            if "stats" not in parts:
                raise ValueError("state has 'controller' but no 'stats' (the window's counts)")
            self._window.load_state_dict(parts)

    # ------------------------------------------------------------------ plots
    def plot_weight_history(
        self, path=None, ax=None, class_names: Sequence[str] | None = None, title: str = "ACWA Weight Adjustment"
    ):
        """Plot :attr:`weight_history` (one line per class); returns the matplotlib Figure and
        saves a PNG when ``path`` is given. Needs ``pip install 'acwa-torch[plot]'``."""
        from acwa._internal.plotting import plot_weight_history

        return plot_weight_history(self.weight_history, self.weight_history_steps, path, ax, class_names, title)


_STATE_KEYS = {"num_classes", "num_calls", "task", "controller", "stats", "window", "metric_fn", "last_metric"}


def _checked_last_metric(value: Any, size: int | None) -> Tensor | None:
    if value is None:
        return None
    if not isinstance(value, Tensor) or value.dim() != 1 or (size is not None and value.numel() != size):
        raise ValueError(f"state['last_metric'] must be a 1-D tensor with one value per class ({size}), got {value!r}")
    return value.float()
