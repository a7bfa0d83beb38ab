"""Keras 3 state and loss of :mod:`acwa.integrations.keras`: :class:`ACWAState` (the Keras
variables: class weights, window counts, counting switch) and :class:`AdaptiveWeightedLoss`
(per-sample ``w_{y_i} l_i`` with traceable one-hot counting). See that module for the design.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from acwa.tasks import make_task

try:
    import keras
    from keras import ops
except ImportError as exc:  # keras missing, or its default TensorFlow backend missing
    raise ImportError(
        "acwa.integrations.keras needs Keras 3: pip install 'acwa-torch[keras]'. Keras defaults to the "
        "TensorFlow backend; without TensorFlow set KERAS_BACKEND=torch before importing keras. "
        f"(original error: {exc})"
    ) from exc

__all__ = ["ACWAState", "AdaptiveWeightedLoss", "UNTRACKED"]

UNTRACKED = (
    "the ACWA state of this loss is not tracked by the model, so JAX's stateless steps would drop its "
    "updates (weights frozen, counts lost); compile with metrics=[loss.state] (plus your own metrics)"
)


def _as_weight_array(initial_weights: Any, size: int) -> np.ndarray:
    if initial_weights is None:
        return np.ones(size, dtype="float32")
    if isinstance(initial_weights, torch.Tensor):
        initial_weights = initial_weights.detach().cpu().numpy()
    w = np.asarray(ops.convert_to_numpy(initial_weights) if ops.is_tensor(initial_weights) else initial_weights)
    w = w.astype("float32")
    if w.shape != (size,):
        raise ValueError(f"initial_weights must have shape ({size},), one per class; got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"initial_weights must be finite and >= 0, got {w.tolist()}")
    return w


@keras.saving.register_keras_serializable(package="acwa")
class ACWAState(keras.metrics.Metric):
    """Keras variables of one :class:`AdaptiveWeightedLoss`: ``class_weights`` [K] float32,
    ``counts`` [3, K] int32 (rows tp, fp, fn) and ``tracking`` (int32 0/1, the counting switch).

    Pass it to ``model.compile(metrics=[loss.state, ...])`` so the model tracks these variables.
    It logs nothing and Keras' per-epoch ``reset_metrics`` leaves it alone: the window is
    started and ended by :class:`~acwa.integrations.keras.ACWAKerasCallback`, the weights change only through
    :meth:`AdaptiveWeightedLoss.set_weights` or the callback.
    """

    def __init__(self, size: int = 2, initial_weights: Any = None, name: str = "acwa_state", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        w = _as_weight_array(initial_weights, size)
        self.size = size
        self.class_weights = self.add_variable((size,), "ones", "float32", "only_first_replica", "class_weights")
        self.counts = self.add_variable((3, size), "zeros", "int32", "sum", "counts")
        self.tracking = self.add_variable((), "zeros", "int32", "only_first_replica", "tracking")
        self.class_weights.assign(w)

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        """Nothing: the loss adds the counts (it sees the same ``y_true``, ``y_pred``)."""

    def reset_state(self) -> None:
        """Nothing: :class:`~acwa.integrations.keras.ACWAKerasCallback` owns the window (see :meth:`reset_counts`)."""

    def reset_counts(self) -> None:
        self.counts.assign(ops.zeros((3, self.size), dtype="int32"))

    def result(self) -> dict:
        return {}

    def get_config(self) -> dict[str, Any]:
        weights = np.asarray(ops.convert_to_numpy(self.class_weights)).tolist()
        return {"name": self.name, "size": self.size, "initial_weights": weights}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ACWAState:
        pending = _REBUILT_STATES.pop(config.get("name", ""), None)
        if pending is not None and pending.size == config.get("size"):
            return pending  # load_model: the compile metric is the state of the loss rebuilt with it
        return cls(**config)


# load_model rebuilds the compiled loss before the compiled metrics; the loss leaves its new
# state here, by name, so that the metric entry resolves to that same object (still tracked)
_REBUILT_STATES: dict[str, ACWAState] = {}


def _stat_counts(pred: Any, target: Any) -> Any:
    """``[3, K]`` int32 ``(tp, fp, fn)`` from 0/1 matrices ``[N, K]`` (one-hot rows for softmax,
    ``[1 - y, y]`` for a binary logit, multi-hot for multi-label): column sums, traceable."""
    tp = ops.sum(pred * target, axis=0)
    return ops.stack([tp, ops.sum(pred, axis=0) - tp, ops.sum(target, axis=0) - tp])


@keras.saving.register_keras_serializable(package="acwa")
class AdaptiveWeightedLoss(keras.losses.Loss):
    """Per-sample ``w_{y_i} * l_i`` with class weights ``w`` in :attr:`state`.

    Args:
        num_classes: C >= 2 softmax classes, or L labels for ``task='multilabel'``; ``None`` (or
            1, 2) for ``task='binary'``.
        initial_weights: [K] start weights (default ones), e.g. from :mod:`acwa.weights`; for a
            binary logit ``[w_neg, w_pos]`` (``[1, pos_weight]``), for multi-label each label's
            positive weight.
        from_logits: whether ``y_pred`` are logits (default) or probabilities.
        loss_fn: optional torch loss (torch backend only), e.g. ``acwa.losses.FocalLoss(gamma=2)``:
            evaluated with ``reduction='none'`` (modules) or expected to return one value per
            element; default: (sparse) categorical or binary cross-entropy on any backend.
        track_counts: start with counting on (default off; the callback,
            :class:`~acwa.integrations.keras.ACWAKerasCallback`, switches it).
        task: ``'multiclass'`` (softmax ``[N, C]``; labels ``[N]``, ``[N, 1]``, one-hot or soft
            rows ``[N, C]``), ``'binary'`` (one logit ``[N]``/``[N, 1]``, labels 0/1) or
            ``'multilabel'`` (``[N, L]`` logits, multi-hot labels), as :mod:`acwa.tasks`.
        threshold: logit threshold of a positive prediction (binary, multi-label); default 0.
        reduction, name, dtype: as :class:`keras.losses.Loss`.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        initial_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        from_logits: bool = True,
        loss_fn: Callable[..., Any] | None = None,
        track_counts: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str = "adaptive_weighted_loss",
        dtype: str | None = None,
        task: str = "multiclass",
        threshold: float = 0.0,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.task_spec = make_task(task, num_classes, threshold=threshold)  # the acwa.tasks notion
        self.task, self.threshold, self.size = self.task_spec.name, float(threshold), self.task_spec.size
        self.num_classes = self.size if num_classes is None else int(num_classes)
        if loss_fn is not None and not callable(loss_fn):
            raise ValueError(f"loss_fn must be callable (e.g. acwa.losses.FocalLoss()), got {type(loss_fn).__name__}")
        if loss_fn is not None and keras.backend.backend() != "torch":
            raise ValueError(
                f"loss_fn (a torch loss) needs KERAS_BACKEND=torch, the backend is {keras.backend.backend()!r}"
            )
        self.from_logits = bool(from_logits)
        # a positive prediction: logit > threshold, i.e. probability > sigmoid(threshold)
        self._cut = self.threshold if self.from_logits else 1.0 / (1.0 + math.exp(-self.threshold))
        self.loss_fn = loss_fn
        self.state = ACWAState(self.size, initial_weights, name=f"{name}_state")
        self.track_counts = track_counts

    # ------------------------------------------------------------------ loss
    def call(self, y_true: Any, y_pred: Any) -> Any:
        self._check_tracked()
        if self.task == "multiclass":
            return self._multiclass(y_true, y_pred)
        shape = (-1,) if self.task == "binary" else (-1, self.size)
        if self.task == "binary" and not (len(y_pred.shape) == 1 or tuple(y_pred.shape)[1:] == (1,)):
            raise ValueError(
                f"task='binary' needs one logit per sample ([N] or [N, 1]), got y_pred {tuple(y_pred.shape)}; "
                "softmax outputs [N, C] use task='multiclass'"
            )
        if self.task == "multilabel" and (len(y_pred.shape) != 2 or y_pred.shape[-1] != self.size):
            raise ValueError(f"task='multilabel' needs y_pred [N, {self.size}], got {tuple(y_pred.shape)}")
        z = ops.reshape(y_pred, shape)
        y = ops.cast(ops.reshape(y_true, shape), z.dtype)
        values = self._elementwise(y, z)
        w = ops.cast(self.state.class_weights, values.dtype)
        if self.task == "binary":
            self._add_counts(
                ops.stack([1 - y, y], axis=1), ops.cast(ops.stack([z <= self._cut, z > self._cut], 1), "int32")
            )
            return values * (w[0] + (w[1] - w[0]) * y)
        self._add_counts(y, ops.cast(z > self._cut, "int32"))
        return ops.mean(values * (1.0 + y * (w - 1.0)), axis=-1)

    def _multiclass(self, y_true: Any, y_pred: Any) -> Any:
        if len(y_pred.shape) != 2 or y_pred.shape[-1] == 1:
            raise ValueError(
                f"y_pred must be [N, C] scores with C >= 2, got shape {tuple(y_pred.shape)}; "
                "a one-logit model uses task='binary', independent sigmoid labels task='multilabel'"
            )
        c = self.size
        pred = ops.one_hot(ops.argmax(ops.stop_gradient(y_pred), axis=-1), c, dtype="int32")
        w = self.state.class_weights
        if len(y_true.shape) == 2 and y_true.shape[-1] == c and c > 1:  # one-hot or soft rows
            rows = ops.cast(y_true, y_pred.dtype)
            self._add_counts(ops.one_hot(ops.argmax(rows, axis=-1), c, dtype="int32"), pred)
            if self.loss_fn is None:
                values = ops.categorical_crossentropy(rows, y_pred, from_logits=self.from_logits)
            else:
                values = self._torch_loss(y_pred, ops.argmax(rows, axis=-1).long())
            return values * ops.sum(rows * ops.cast(w, values.dtype), axis=-1)
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        self._add_counts(ops.one_hot(labels, c, dtype="int32"), pred)
        if self.loss_fn is None:
            values = ops.sparse_categorical_crossentropy(labels, y_pred, from_logits=self.from_logits)
        else:
            values = self._torch_loss(y_pred, labels.long())
        return values * ops.take(ops.cast(w, values.dtype), labels, axis=0)

    def _elementwise(self, y: Any, z: Any) -> Any:
        if self.loss_fn is None:
            return ops.binary_crossentropy(y, z, from_logits=self.from_logits)
        return self._torch_loss(z, y)

    def _torch_loss(self, y_pred: Any, target: Any) -> Any:
        logits = y_pred
        if not self.from_logits:  # probabilities -> logits the torch loss expects
            p = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
            logits = ops.log(p) if self.task == "multiclass" else ops.log(p) - ops.log(1.0 - p)
        fn = self.loss_fn
        assert fn is not None  # only called with a loss_fn
        if hasattr(fn, "reduction"):
            saved, fn.reduction = fn.reduction, "none"
            try:
                values = fn(logits, target)
            finally:
                fn.reduction = saved
        else:
            values = fn(logits, target)
        if tuple(values.shape) != tuple(target.shape):
            raise ValueError(
                f"loss_fn returned shape {tuple(values.shape)}, expected one loss per element {tuple(target.shape)}; "
                "pass a loss with reduction='none' or an acwa.losses module"
            )
        return values

    def _add_counts(self, target: Any, pred: Any) -> None:
        """Add the batch's ``(tp, fp, fn)`` times the switch: traced every step, counted when on."""
        batch = _stat_counts(ops.stop_gradient(pred), ops.cast(ops.stop_gradient(target), "int32"))
        self.state.counts.assign_add(batch * self.state.tracking)

    def _check_tracked(self) -> None:
        """On JAX, refuse to run inside a Keras stateless step that does not carry our state."""
        if keras.backend.backend() != "jax":
            return
        try:  # keras has no public accessor for the active scope; the check is best-effort
            from keras.src.backend.common.stateless_scope import get_stateless_scope
        except ImportError:  # pragma: no cover - a future keras layout
            return
        scope = get_stateless_scope()
        mapping = getattr(scope, "state_mapping", None)
        if mapping and scope.get_current_value(self.state.class_weights) is None:
            raise ValueError(UNTRACKED)

    # ------------------------------------------------------------------ state
    @property
    def class_weights(self) -> Any:
        """The weights' Keras variable [K]."""
        return self.state.class_weights

    @property
    def counts(self) -> Any:
        """The window's ``(tp, fp, fn)`` Keras variable [3, K] int32."""
        return self.state.counts

    @property
    def track_counts(self) -> bool:
        """Whether batches are counted (the value of the switch variable)."""
        return bool(ops.convert_to_numpy(self.state.tracking))

    @track_counts.setter
    def track_counts(self, on: bool) -> None:
        self.state.tracking.assign(1 if on else 0)

    @property
    def weights(self) -> np.ndarray:
        """Current class weights as a numpy array [K]."""
        return np.asarray(ops.convert_to_numpy(self.state.class_weights))

    def set_weights(self, weights: Any) -> None:
        """Replace the class weights (between or during fits: later steps read the variable)."""
        self.state.class_weights.assign(_as_weight_array(weights, self.size))

    def reset_counts(self) -> None:
        self.state.reset_counts()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AdaptiveWeightedLoss:
        loss = super().from_config(config)
        _REBUILT_STATES[loss.state.name] = loss.state
        return loss

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            num_classes=None if self.task == "binary" else self.num_classes,
            initial_weights=self.weights.tolist(),
            from_logits=self.from_logits,
            track_counts=self.track_counts,
            task=self.task,
            threshold=self.threshold,
        )
        return config
