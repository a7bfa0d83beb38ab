"""Keras 3 (torch, TensorFlow and JAX backends): adaptive or static class weights inside the loss.

Keras fixes ``class_weight`` for the whole of ``fit`` and refuses it for torch DataLoaders and
Python generators (keras #8684, #20294). Here the weights live in Keras-tracked state instead:

* :class:`ACWAState` (a ``keras.metrics.Metric``) holds the class weights ``w`` [K], the window's
  per-class ``(tp, fp, fn)`` counts [3, K] and the counting switch, all as Keras variables. Listed
  in ``compile(metrics=[loss.state])`` they travel through ``fit``, ``evaluate``, ``tf.function``
  and XLA (``jit_compile=True``) steps, and through JAX's stateless train step, which returns
  them as part of its state (required on JAX, harmless elsewhere).
* :class:`AdaptiveWeightedLoss` returns ``w_{y_i} l_i`` per sample (the per-element weights of
  :mod:`acwa.tasks`: ``w_{y_i}`` or ``sum_c q_ic w_c`` for softmax, ``w_0 + (w_1 - w_0) y_i`` for a
  binary logit, ``1 + y_il (w_l - 1)`` per label for multi-label). Keras' ``'sum_over_batch_size'``
  reduction then gives ``sum_i w_{y_i} l_i / N`` (acwa's ``'mean'``). It adds the batch's counts to
  the state with one-hot sums (no ``bincount``: that neither traces on JAX nor compiles under XLA),
  multiplied by the switch variable, so no Python flag is frozen into a traced step.
* :class:`ACWAKerasCallback` reads the counts every ``update_freq`` training batches, once per epoch
  or after each validation pass, turns them into a per-class metric with :mod:`acwa.metrics` and
  applies the ACWA rule through :class:`acwa.adaptive.AdaptiveClassWeights`
  (``w <- clip(beta*w + (1-beta)*(w + alpha*(target - metric)), lo, hi)``).

Counts come only from the data the callback learns from: training batches (``update_on='train'``)
or the validation pass of ``fit`` (``'validation'``). ``predict`` never computes the loss, and
``evaluate`` outside ``fit`` runs with the switch off.

Needs ``pip install 'acwa-torch[keras]'`` plus a backend (tested: torch 2.13, TensorFlow 2.21,
JAX 0.10 with keras 3.15).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from acwa._internal.validation import check_choice, check_int
from acwa.adaptive import AdaptiveClassWeights
from acwa.adaptive._window import UPDATE_ON, CountsWindow, check_update_on  # noqa: F401 - UPDATE_ON re-exported
from acwa.metrics import METRICS

try:
    import keras
    from keras import ops
except ImportError as exc:  # keras missing, or its default TensorFlow backend missing
    raise ImportError(
        "acwa.integrations.keras needs Keras 3: pip install 'acwa-torch[keras]'. Keras defaults to the "
        "TensorFlow backend; without TensorFlow set KERAS_BACKEND=torch before importing keras. "
        f"(original error: {exc})"
    ) from exc

from acwa.integrations.keras_loss import UNTRACKED, ACWAState, AdaptiveWeightedLoss

__all__ = ["ACWAState", "AdaptiveWeightedLoss", "ACWAKerasCallback"]


class ACWAKerasCallback(keras.callbacks.Callback):
    """Adaptive Class Weight Adjustment for :class:`AdaptiveWeightedLoss` during ``fit``.

    Every update reads the loss's tp/fp/fn counts of the window, computes the per-class
    ``metric`` with :data:`acwa.metrics.METRICS` (NaN for classes absent from the window: their
    weight is kept), steps an :class:`~acwa.adaptive.AdaptiveClassWeights` controller, writes the
    weights back to the loss's variable and starts a new window. At the start of each ``fit`` the
    controller adopts the loss's current weights (so a ``set_weights`` between fits counts).

    Args:
        loss: the :class:`AdaptiveWeightedLoss` passed to ``model.compile``.
        target_metric, alpha, beta, weight_bounds: as :class:`acwa.ACWATrainer` (README defaults).
        update_freq: ``'epoch'`` (default) or an int K: update every K training batches.
        metric: ``'f1'``, ``'recall'`` or ``'precision'``.
        update_on: ``'train'`` (counts from training batches) or ``'validation'`` (counts from
            the validation pass of ``fit``, one update after each; needs ``validation_data``).
        log: add ``acwa_weight_<c>`` and ``acwa_<metric>_<c>`` to the epoch logs (so they reach
            ``History``, CSVLogger, TensorBoard, ...).

    An ``evaluate`` started inside an epoch by another callback without this one in its
    ``callbacks`` would be counted with the training window; pass ``callbacks=[acwa_callback]``.
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
        self.loss, self.metric, self.update_on, self.update_freq, self.log = loss, metric, update_on, update_freq, log
        self.controller = AdaptiveClassWeights(
            loss.size, target_metric, alpha, beta, weight_bounds, "max", torch.from_numpy(loss.weights.copy())
        )
        self.window = CountsWindow(loss.task_spec, metric)
        self.last_metric: torch.Tensor | None = None
        self.num_batches = 0
        self._epoch_start = 0
        self._validated = self._warned = self._in_fit = False

    @property
    def weights(self) -> torch.Tensor:
        return self.controller.weights

    @property
    def weight_history(self) -> torch.Tensor:
        """Weights after each update [T, K]; row 0 holds the initial weights."""
        return self.controller.history

    def update(self) -> torch.Tensor:
        """One ACWA step from the counts accumulated so far; returns the per-class metric."""
        self._sync()
        counts = torch.from_numpy(np.asarray(ops.convert_to_numpy(self.loss.counts)).astype(np.int64))
        self.window.add_stat_scores(counts)  # the window protocol of ACWATrainer, fed in-graph counts
        self.last_metric = self.window.compute()
        self.window.reset()
        self.controller.step(self.last_metric, self.num_batches)
        self.loss.set_weights(self.controller.weights.numpy())
        self.loss.reset_counts()
        return self.last_metric

    def _sync(self) -> None:
        """JAX keeps the state in the fit loop between steps: write it back to the variables
        (the next step then reloads them, with our changes)."""
        sync = getattr(self.model, "jax_state_sync", None) if self.model is not None else None
        if callable(sync):
            sync()

    def _counting(self, on: bool) -> None:
        self._sync()
        self.loss.track_counts = on

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: Any = None) -> None:
        if keras.backend.backend() == "jax" and self.model is not None:
            tracked = {id(v) for v in self.model.metrics_variables}
            if id(self.loss.state.counts) not in tracked:
                raise ValueError(UNTRACKED)
        current = torch.from_numpy(self.loss.weights.copy())
        if not torch.equal(current, self.controller.weights.float().cpu()):
            self.controller.set_weights(current)  # set_weights between fits: the loss holds the truth
        self.loss.reset_counts()
        self._in_fit = True
        self._counting(self.update_on == "train")

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._epoch_start = self.num_batches

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        done = self._epoch_start + batch + 1  # batch: the last step of this call (steps_per_execution)
        steps = (self.params or {}).get("steps")
        if steps:  # a partial last call of an epoch reports a step past the end
            done = min(done, self._epoch_start + steps)
        before, self.num_batches = self.num_batches, done
        freq = self.update_freq
        if self.update_on == "train" and isinstance(freq, int) and done // freq > before // freq:
            self.update()

    def on_test_begin(self, logs: Any = None) -> None:
        self._counting(False)  # an evaluate outside fit never counts
        if self.update_on == "validation" and self._in_fit:
            self.loss.reset_counts()
            self._counting(True)

    def on_test_end(self, logs: Any = None) -> None:
        if not self._in_fit:
            return
        if self.update_on == "validation":
            self.update()
            self._validated = True
        self._counting(self.update_on == "train")

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
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

    def on_train_end(self, logs: Any = None) -> None:
        self._in_fit = False
        self._counting(False)


def __getattr__(name: str) -> Any:
    if name == "ACWACallback":  # the old name, kept as a deprecated alias
        warnings.warn(
            "acwa.integrations.keras.ACWACallback is deprecated; use ACWAKerasCallback",
            DeprecationWarning,
            stacklevel=2,
        )
        return ACWAKerasCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
