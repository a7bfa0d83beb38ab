"""PyTorch Lightning: :class:`ACWALightningCallback` applies ACWA to a ``LightningModule``.

Contract (explicit, no hidden loss replacement):

* The callback attaches its :class:`acwa.ACWATrainer` to the module as ``pl_module.acwa``
  (``attr_name``) at ``setup``. ``training_step`` computes its loss with it, which applies the
  current class weights and the ACWATrainer's ``loss_fn`` (cross-entropy, or any acwa loss such
  as ``FocalLoss``): ``loss = self.acwa.get_weighted_loss(logits, y)``
  (``sum_i w_{y_i} l_i / N``).
* ``training_step`` / ``validation_step`` return a dict with the logits (and the labels):
  ``return {"loss": loss, "logits": logits, "labels": y}``. When ``"labels"`` is missing
  and the batch is ``(x, y, ...)``, ``y`` is used.
* ``update_on='train'``: every training batch feeds the window; the ACWATrainer's
  ``update_freq`` decides when a step happens. ``update_on='validation'`` (create the ACWATrainer with
  ``update_freq=None``): the batches of each validation epoch of ``fit`` (not the sanity
  check, not ``trainer.validate()``) form the window, and one step follows each of them.
* After each step the per-class weights and metric are logged as ``acwa/weight_<c>`` and
  ``acwa/<metric>_<c>`` (NaN: class absent from the window) to the Lightning loggers (at the
  current ``global_step``, whatever ``log_every_n_steps`` is) and to
  ``trainer.callback_metrics``.

DDP: the counts are all-reduced inside ``ACWATrainer.step``, so every process holds
bitwise-identical weights; every process must see the same number of batches (Lightning's
DistributedSampler pads; so does :class:`acwa.sampling.DistributedClassBalancedSampler`).
Lightning replaces a custom sampler under DDP unless ``Trainer(use_distributed_sampler=False)``;
build the loader with ``DistributedClassBalancedSampler(labels)`` inside ``train_dataloader()``
(it runs in each process, after the process group exists, so rank and world size are right).
Lightning calls ``set_epoch`` on it every epoch. The callback's state (weights, history,
window) is saved in checkpoints.

Needs ``pip install 'acwa-torch[lightning]'``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from acwa.adaptive import ACWATrainer, check_update_on, logits_of

try:
    import lightning.pytorch as pl
except ImportError:  # the standalone package
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError as exc:
        raise ImportError(
            "acwa.integrations.lightning needs PyTorch Lightning: pip install 'acwa-torch[lightning]' "
            f"(original error: {exc})"
        ) from exc

__all__ = ["ACWALightningCallback"]


class ACWALightningCallback(pl.Callback):
    """Adaptive Class Weight Adjustment for a ``LightningModule`` (contract in the module doc).

    Args:
        acwa: the :class:`acwa.ACWATrainer` to drive; or leave it out and pass its keyword
            arguments (``num_classes=10, alpha=0.05, loss_fn=FocalLoss()``, ...).
        update_on: ``'train'`` or ``'validation'`` (``'val'`` still works, deprecated).
        logits_key, labels_key: keys of the step output dict.
        attr_name: attribute of the module that receives the ACWATrainer (default ``'acwa'``).
        log: log weights and metric after each update.
    """

    def __init__(
        self,
        acwa: ACWATrainer | None = None,
        *,
        update_on: str = "train",
        logits_key: str = "logits",
        labels_key: str = "labels",
        attr_name: str = "acwa",
        log: bool = True,
        **acwa_kwargs: Any,
    ) -> None:
        super().__init__()
        update_on = check_update_on(update_on)
        if acwa is None:
            if update_on == "validation":
                acwa_kwargs.setdefault("update_freq", None)
            acwa = ACWATrainer(**acwa_kwargs)
        elif acwa_kwargs:
            raise ValueError(
                f"pass either acwa=ACWATrainer(...) or its keyword arguments, not both (got {sorted(acwa_kwargs)})"
            )
        if not isinstance(acwa, ACWATrainer):
            raise ValueError(f"acwa must be an acwa.ACWATrainer, got {type(acwa).__name__}")
        if update_on == "validation" and acwa.update_freq is not None:
            raise ValueError(
                f"update_on='validation' steps once per validation epoch; create the ACWATrainer with update_freq=None "
                f"(got update_freq={acwa.update_freq})"
            )
        self.acwa = acwa
        self._pid = os.getpid()
        self.update_on = update_on
        self.logits_key, self.labels_key = logits_key, labels_key
        self.attr_name = attr_name
        self.log_values = log
        fn = acwa.metric_fn
        self.metric_name = "f1" if fn is None else fn if isinstance(fn, str) else "metric"

    # ------------------------------------------------------------------ helpers
    def _logits_labels(self, outputs: Any, batch: Any, hook: str) -> tuple[Tensor, Tensor]:
        if not isinstance(outputs, Mapping) or self.logits_key not in outputs:
            got = sorted(outputs) if isinstance(outputs, Mapping) else type(outputs).__name__
            raise ValueError(
                f"ACWALightningCallback reads the logits from what {hook} returns: return a dict such as "
                f"{{'loss': loss, '{self.logits_key}': logits, '{self.labels_key}': y}}; got {got}"
            )
        labels = outputs.get(self.labels_key)
        if labels is None and isinstance(batch, (tuple, list)) and len(batch) >= 2 and isinstance(batch[1], Tensor):
            labels = batch[1]
        if labels is None:
            raise ValueError(
                f"ACWALightningCallback needs the labels: add '{self.labels_key}': y to the dict {hook} returns "
                "(or use (x, y) batches)"
            )
        return logits_of(outputs[self.logits_key]), labels

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epoch_level: bool) -> None:
        if not self.log_values:
            return
        values = {f"acwa/weight_{c}": w for c, w in enumerate(self.acwa.weights.tolist())}
        if self.acwa.last_metric is not None:
            values.update({f"acwa/{self.metric_name}_{c}": m for c, m in enumerate(self.acwa.last_metric.tolist())})
        if epoch_level:
            # identical on every rank: the mean over ranks (sync_dist) returns the same values
            pl_module.log_dict(values, on_step=False, on_epoch=True, sync_dist=True)
        else:
            # straight to the loggers: step-level self.log is thinned by Trainer(log_every_n_steps),
            # which would drop most updates; loggers write on rank 0 only
            pl_module.log_dict(values, on_step=True, on_epoch=False, logger=False)
            for logger in trainer.loggers:
                logger.log_metrics(values, step=trainer.global_step)

    # ------------------------------------------------------------------ hooks
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if os.getpid() != self._pid:
            # sent to a new process (ddp_spawn): torch.multiprocessing pickles tensors into shared
            # memory, so every rank would update the same count/weight storage. Make them private.
            self._pid = os.getpid()
            shared = getattr(pl_module, self.attr_name, None) is self.acwa
            self.acwa = copy.deepcopy(self.acwa)
            if shared:
                setattr(pl_module, self.attr_name, self.acwa)
        current = getattr(pl_module, self.attr_name, None)
        if current is not None and current is not self.acwa:
            raise ValueError(
                f"the module already has an attribute {self.attr_name!r}; pass attr_name=... to ACWALightningCallback"
            )
        setattr(pl_module, self.attr_name, self.acwa)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.update_on != "train":
            return
        logits, labels = self._logits_labels(outputs, batch, "training_step")
        before = self.acwa.last_metric
        self.acwa.update_metrics(logits, labels)
        if self.acwa.last_metric is not before:  # a step happened in this call
            self._log(trainer, pl_module, epoch_level=False)

    def _learns_from_validation(self, trainer) -> bool:
        # only the validation epochs of fit(): not the sanity check, not trainer.validate()
        return self.update_on == "validation" and not trainer.sanity_checking and trainer.state.fn == "fit"

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self._learns_from_validation(trainer) and self.acwa.initialized:
            self.acwa.reset_window()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx: int = 0) -> None:
        if not self._learns_from_validation(trainer):
            return
        logits, labels = self._logits_labels(outputs, batch, "validation_step")
        self.acwa.update_metrics(logits, labels)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not self._learns_from_validation(trainer) or not self.acwa.initialized:
            return
        self.acwa.step()
        self._log(trainer, pl_module, epoch_level=True)

    # ------------------------------------------------------------------ checkpoints
    @property
    def state_key(self) -> str:
        # the name checkpoints were saved under before the rename (ACWACallback): they keep loading
        return "ACWACallback"

    def state_dict(self) -> dict:
        return {"acwa": self.acwa.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.acwa.load_state_dict(state_dict["acwa"])


def __getattr__(name: str) -> Any:
    if name == "ACWACallback":
        import warnings

        warnings.warn(
            "acwa.integrations.lightning.ACWACallback is deprecated; use ACWALightningCallback",
            DeprecationWarning,
            stacklevel=2,
        )
        return ACWALightningCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
