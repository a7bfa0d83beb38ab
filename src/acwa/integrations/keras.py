"""Keras 3: adaptive (or static) class weights inside the loss, updated by a callback.

Keras fixes ``class_weight`` for the whole of ``fit`` and refuses it for torch DataLoaders and
Python generators (keras #8684, #20294). Here the weights live in the loss instead:

* :class:`AdaptiveWeightedLoss` holds the per-class weights ``w`` in a non-trainable
  ``keras.Variable`` and returns ``w_{y_i} * l_i`` per sample (``l_i`` sparse categorical
  cross-entropy, or any :mod:`acwa.losses` loss on the torch backend); Keras' default
  ``'sum_over_batch_size'`` reduction then gives ``sum_i w_{y_i} l_i / N`` (acwa's ``'mean'``:
  divided by N, not by the sum of weights). It also accumulates per-class tp/fp/fn counts of
  the batches it sees into a second variable (``counts``, int32 ``[3, C]``), with
  ``keras.ops`` only. Used alone with fixed ``initial_weights`` it is a static weighted loss that
  works with every input type.
* :class:`ACWAKerasCallback` feeds those counts into the same metric window
  (:class:`acwa.window.CountsWindow`) and controller (:class:`acwa.adaptive.AdaptiveClassWeights`)
  that :class:`acwa.ACWATrainer` uses, every ``update_freq`` training batches, once per epoch,
  or after each validation pass: a per-class metric (F1 by default) and the ACWA update
  ``w <- clip(beta*w + (1-beta)*(w + alpha*(target - metric)), lo, hi)`` (in torch on CPU
  copies, then assigned back to the variable). ``ACWACallback`` is its deprecated old name.

Needs ``pip install 'acwa-torch[keras]'`` and a backend: ``KERAS_BACKEND=torch`` (tested);
TensorFlow/JAX use the same ``keras.ops`` code but are not tested here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .._validation import check_choice, check_int, check_num_classes
from ..adaptive import AdaptiveClassWeights
from ..metrics import METRICS
from ..tasks import MulticlassTask
from ..window import CountsWindow, check_update_on

try:
    import keras
    from keras import ops
except ImportError as exc:  # keras missing, or its default TensorFlow backend missing
    raise ImportError(
        "acwa.integrations.keras needs Keras 3: pip install 'acwa-torch[keras]'. Keras defaults to the "
        "TensorFlow backend; without TensorFlow set KERAS_BACKEND=torch before importing keras. "
        f"(original error: {exc})"
    ) from exc

__all__ = ["AdaptiveWeightedLoss", "ACWAKerasCallback"]


def _as_weight_array(initial_weights: Any, num_classes: int) -> np.ndarray:
    if initial_weights is None:
        return np.ones(num_classes, dtype="float32")
    w = np.asarray(
        initial_weights.detach().cpu().numpy() if isinstance(initial_weights, torch.Tensor) else initial_weights,
        dtype="float32",
    )
    if w.shape != (num_classes,):
        raise ValueError(f"initial_weights must have shape ({num_classes},), one per class; got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"initial_weights must be finite and >= 0, got {w.tolist()}")
    return w


class AdaptiveWeightedLoss(keras.losses.Loss):
    """Per-sample ``w_{y_i} * l_i`` with class weights ``w`` in a ``keras.Variable``.

    Args:
        num_classes: C >= 2.
        initial_weights: [C] start weights (default ones), e.g. from :mod:`acwa.weights`.
        from_logits: whether ``y_pred`` are logits (default) or probabilities.
        loss_fn: optional torch loss for the torch backend, e.g. ``acwa.losses.FocalLoss(gamma=2)``:
            evaluated with ``reduction='none'`` (modules) or expected to return one value per
            sample; default: sparse categorical cross-entropy (any backend).
        track_counts: accumulate per-class tp/fp/fn into :attr:`counts` (default off;
            :class:`ACWAKerasCallback` switches it on for the phase it learns from).
        reduction, name, dtype: as :class:`keras.losses.Loss`.

    ``y_true`` holds class indices, shape ``[N]`` or ``[N, 1]`` (one-hot ``[N, C]`` is turned into
    indices); ``y_pred`` is ``[N, C]``.
    """

    def __init__(
        self,
        num_classes: int,
        initial_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        from_logits: bool = True,
        loss_fn: Callable[..., Any] | None = None,
        track_counts: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str = "adaptive_weighted_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.num_classes = check_num_classes(num_classes)
        if loss_fn is not None:
            if not callable(loss_fn):
                raise ValueError(
                    f"loss_fn must be callable (e.g. acwa.losses.FocalLoss()), got {type(loss_fn).__name__}"
                )
            if keras.backend.backend() != "torch":
                raise ValueError(
                    f"loss_fn (a torch loss) needs KERAS_BACKEND=torch, the backend is {keras.backend.backend()!r}"
                )
        self.from_logits = bool(from_logits)
        self.loss_fn = loss_fn
        self.track_counts = bool(track_counts)
        self.class_weights = keras.Variable(
            _as_weight_array(initial_weights, num_classes), trainable=False, dtype="float32", name="acwa_class_weights"
        )
        self.counts = keras.Variable(
            np.zeros((3, num_classes), dtype="int32"), trainable=False, dtype="int32", name="acwa_class_counts"
        )

    # ------------------------------------------------------------------ loss
    def _labels(self, y_true):
        shape = tuple(y_true.shape)
        if len(shape) == 2 and shape[-1] == self.num_classes:
            y_true = ops.argmax(y_true, axis=-1)  # one-hot
        return ops.cast(ops.reshape(y_true, (-1,)), "int32")

    def _per_sample(self, labels, y_pred):
        if self.loss_fn is None:
            return ops.sparse_categorical_crossentropy(labels, y_pred, from_logits=self.from_logits)
        logits = y_pred if self.from_logits else ops.log(ops.clip(y_pred, 1e-12, 1.0))
        fn, target = self.loss_fn, labels.long()
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
                f"loss_fn returned shape {tuple(values.shape)}, expected one loss per sample {tuple(target.shape)}; "
                "pass a loss with reduction='none' or an acwa.losses module"
            )
        return values

    def call(self, y_true, y_pred):
        if len(y_pred.shape) != 2:
            raise ValueError(f"y_pred must be [N, C] scores, got shape {tuple(y_pred.shape)}")
        labels = self._labels(y_true)
        values = self._per_sample(labels, y_pred)
        if self.track_counts:
            self._update_counts(labels, y_pred)
        w = ops.take(ops.cast(self.class_weights, values.dtype), labels, axis=0)
        return values * w

    def _update_counts(self, labels, y_pred) -> None:
        """tp/fp/fn of the batch with three bincounts (no class loop), added to :attr:`counts`."""
        c = self.num_classes
        labels = ops.stop_gradient(labels)
        preds = ops.cast(ops.argmax(ops.stop_gradient(y_pred), axis=-1), "int32")
        hit = ops.cast(ops.equal(preds, labels), "int32")
        tp = ops.bincount(labels, weights=hit, minlength=c)
        predicted = ops.bincount(preds, minlength=c)
        actual = ops.bincount(labels, minlength=c)
        self.counts.assign_add(ops.cast(ops.stack([tp, predicted - tp, actual - tp]), "int32"))

    # ------------------------------------------------------------------ state
    @property
    def weights(self) -> np.ndarray:
        """Current class weights as a numpy array [C]."""
        return np.asarray(ops.convert_to_numpy(self.class_weights))

    def set_weights(self, weights: Any) -> None:
        self.class_weights.assign(_as_weight_array(weights, self.num_classes))

    def reset_counts(self) -> None:
        self.counts.assign(np.zeros((3, self.num_classes), dtype="int32"))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            initial_weights=self.weights.tolist(),
            from_logits=self.from_logits,
            track_counts=self.track_counts,
        )
        return config


class ACWAKerasCallback(keras.callbacks.Callback):
    """Adaptive Class Weight Adjustment for :class:`AdaptiveWeightedLoss` during ``fit``.

    Every update reads the loss's tp/fp/fn counts of the window, computes the per-class
    ``metric`` (NaN for classes absent from the window: their weight is kept), applies
    :func:`acwa.adaptive.acwa_update` through an :class:`~acwa.adaptive.AdaptiveClassWeights`
    controller, writes the weights back to the loss's variable and starts a new window.

    Args:
        loss: the :class:`AdaptiveWeightedLoss` passed to ``model.compile``.
        target_metric, alpha, beta, weight_bounds: as :class:`acwa.ACWATrainer` (README defaults).
        update_freq: ``'epoch'`` (default) or an int K: update every K training batches.
        metric: ``'f1'``, ``'recall'`` or ``'precision'``.
        update_on: ``'train'`` (counts from training batches) or ``'validation'`` (counts from
            the validation pass of ``fit``, one update after each; needs ``validation_data``).
        log: add ``acwa_weight_<c>`` and ``acwa_<metric>_<c>`` to the epoch logs (so they reach
            ``History``, CSVLogger, TensorBoard, ...).
    """

    def __init__(
        self,
        loss: AdaptiveWeightedLoss,
        target_metric: float | Sequence[float] = 0.85,
        alpha: float = 0.02,
        beta: float = 0.9,
        update_freq: int | str = "epoch",
        metric: str = "f1",
        update_on: str = "train",
        weight_bounds: tuple[float, float] = (0.5, 2.0),
        log: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(loss, AdaptiveWeightedLoss):
            raise ValueError(
                "loss must be an acwa.integrations.keras.AdaptiveWeightedLoss (the one given to compile), "
                f"got {type(loss).__name__}"
            )
        check_choice(metric, METRICS, "metric")
        update_on = check_update_on(update_on)
        if update_freq != "epoch":
            update_freq = check_int(update_freq, "update_freq", min=1, hint="or 'epoch'; training batches")
        if update_on == "validation" and update_freq != "epoch":
            raise ValueError("update_on='validation' updates once per validation pass; leave update_freq='epoch'")
        self.loss = loss
        self.metric = metric
        self.update_on = update_on
        self.update_freq = update_freq
        self.log = log
        self.controller = AdaptiveClassWeights(
            loss.num_classes, target_metric, alpha, beta, weight_bounds, "max", torch.from_numpy(loss.weights.copy())
        )
        # the window protocol of ACWATrainer, fed with the loss's in-graph (tp, fp, fn) counts
        self.window = CountsWindow(MulticlassTask(num_classes=loss.num_classes), metric, confusion_max=0)
        self.last_metric: torch.Tensor | None = None
        self.num_batches = 0
        self._validated = self._warned = False

    @property
    def weights(self) -> torch.Tensor:
        return self.controller.weights

    @property
    def weight_history(self) -> torch.Tensor:
        """Weights after each update [T, C]; row 0 holds the initial weights."""
        return self.controller.history

    def update(self) -> torch.Tensor:
        """One ACWA step from the counts accumulated so far; returns the per-class metric."""
        counts = torch.from_numpy(np.asarray(ops.convert_to_numpy(self.loss.counts)).astype(np.int64))
        self.window.update_stat_scores(counts)
        self.last_metric = self.window.compute()
        self.controller.step(self.last_metric, self.num_batches)
        self.window.reset()
        self.loss.set_weights(self.controller.weights.numpy())
        self.loss.reset_counts()
        return self.last_metric

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None) -> None:
        self.loss.reset_counts()
        self.loss.track_counts = self.update_on == "train"

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.num_batches += 1
        freq = self.update_freq
        if self.update_on == "train" and isinstance(freq, int) and self.num_batches % freq == 0:
            self.update()

    def on_test_begin(self, logs=None) -> None:
        self._train_counts = ops.convert_to_numpy(self.loss.counts).copy()  # keep the training window
        self.loss.reset_counts()
        self.loss.track_counts = self.update_on == "validation"

    def on_test_end(self, logs=None) -> None:
        if self.update_on == "validation":
            self.update()
            self._validated = True
        self.loss.counts.assign(self._train_counts)
        self.loss.track_counts = self.update_on == "train"

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.update_on == "train" and self.update_freq == "epoch":
            self.update()
        if self.update_on == "validation" and not self._validated and not self._warned:
            warnings.warn(
                "ACWAKerasCallback(update_on='validation') saw no validation pass this epoch, so the class weights "
                "did not change; pass validation_data to fit (and check validation_freq)",
                stacklevel=2,
            )
            self._warned = True
        self._validated = False
        if self.log and logs is not None:
            for c, w in enumerate(self.controller.weights.tolist()):
                logs[f"acwa_weight_{c}"] = w
            if self.last_metric is not None:
                for c, m in enumerate(self.last_metric.tolist()):
                    logs[f"acwa_{self.metric}_{c}"] = m

    def on_train_end(self, logs=None) -> None:
        self.loss.track_counts = False


def __getattr__(name: str) -> Any:
    if name == "ACWACallback":
        warnings.warn(
            "acwa.integrations.keras.ACWACallback is deprecated; use ACWAKerasCallback",
            DeprecationWarning,
            stacklevel=2,
        )
        return ACWAKerasCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
