"""Hugging Face ``transformers.Trainer``: ACWA, static class weights, any acwa loss, and
class-balanced sampling.

The Trainer has no class-weight or sampler option (transformers #15450, #35061); the usual
workaround, overriding ``compute_loss``, breaks whenever its signature changes (#36331) and
gets gradient accumulation wrong unless it divides by ``num_items_in_batch``. This module plugs
into the Trainer's own ``compute_loss_func`` hook instead:

* :class:`ACWALossFunction` is a ``compute_loss_func``:
  ``loss = sum_i w_{y_i} l_i / num_items_in_batch``, where ``num_items_in_batch`` is the
  Trainer's count of non-ignored labels over the whole accumulated batch (and over all
  processes with ``average_tokens_across_devices``). Without it (evaluation, or a caller
  that does not pass it) the divisor is the batch's own count (acwa's ``'mean'``). Because
  the function is registered as ``compute_loss_func``, the Trainer counts the items, treats
  the loss as already scaled for gradient accumulation and rescales it for DDP, exactly as it
  does for its built-in losses. Weights ``w`` come from an :class:`acwa.ACWATrainer` (adaptive),
  from ``class_weights`` (static, e.g. :mod:`acwa.weights`), or are 1; ``l_i`` is cross-entropy
  or any acwa loss.
* :class:`ACWATrainerCallback` (a ``TrainerCallback``) applies validation-driven updates after
  each evaluation and adds ``acwa/weight_<c>`` and ``acwa/<metric>_<c>`` to the logs.
* :class:`ImbalancedTrainer` (a ``transformers.Trainer``) wires both up from keyword
  arguments, logs the weights with every log line, and overrides ``_get_train_sampler`` to
  draw class-balanced epochs (:class:`acwa.sampling.DistributedClassBalancedSampler` in its
  global mode: Accelerate shards the batches across processes).

Tested with transformers 5.x. Needs ``pip install 'acwa-torch[huggingface]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from acwa.adaptive import ACWATrainer, check_update_on, logits_of

try:
    from transformers import Trainer, TrainerCallback
except ImportError as exc:
    raise ImportError(
        "acwa.integrations.huggingface needs transformers: pip install 'acwa-torch[huggingface]' "
        f"(original error: {exc})"
    ) from exc

__all__ = ["ACWALossFunction", "ACWATrainerCallback", "ImbalancedTrainer", "dataset_labels", "model_task"]


class ACWALossFunction:
    """``compute_loss_func(outputs, labels, num_items_in_batch=None)`` with class weights.

    Args:
        acwa: an :class:`acwa.ACWATrainer` for adaptive weights (its ``loss_fn`` is the loss).
            With ``update_on='train'`` its ``update_freq`` drives the updates from training
            batches; with ``update_on='validation'`` pass ``update_freq=None``: evaluation
            batches fill the window and :class:`ACWATrainerCallback` steps after each evaluation.
        class_weights: static per-class weights [C] (not with ``acwa``).
        loss_fn: per-sample loss for static/unit weights (e.g. ``acwa.losses.FocalLoss()``);
            with ``acwa``, give it to ``ACWATrainer(loss_fn=...)`` instead.
        update_on: ``'train'`` or ``'validation'`` (``'eval'`` still works, deprecated).
        ignore_index: label excluded from loss and counts (the Trainer counts ``labels != -100``).
        task: for static/unit weights, the :mod:`acwa.tasks` task (``'binary'`` for a one-logit
            head, ``'multilabel'`` for ``problem_type='multi_label_classification'``); ``None``:
            read from the shapes. :class:`ImbalancedTrainer` takes it from the model's config
            (:func:`model_task`); with ``acwa``, pass ``ACWATrainer(task=...)``.

    Logits ``[N, C]`` (sequence classification) or ``[N, T, C]`` with labels ``[N, T]`` (token
    classification; flattened). Which batches feed the ACWA window: :attr:`training` when a
    caller sets it (:class:`ImbalancedTrainer` does), else ``torch.is_grad_enabled()`` (the
    Trainer evaluates under ``no_grad``); evaluation batches only while
    :attr:`count_evaluation` is true (:class:`ImbalancedTrainer`: inside ``evaluate()`` of its
    own ``eval_dataset``; never ``predict()`` or ``evaluate(other_dataset)``).
    """

    def __init__(
        self,
        acwa: ACWATrainer | None = None,
        class_weights: Sequence[float] | Tensor | None = None,
        loss_fn: Any = None,
        update_on: str = "train",
        ignore_index: int = -100,
        task: str | None = None,
    ) -> None:
        update_on = check_update_on(update_on)
        if acwa is not None:
            if not isinstance(acwa, ACWATrainer):
                raise ValueError(f"acwa must be an acwa.ACWATrainer, got {type(acwa).__name__}")
            if class_weights is not None or loss_fn is not None:
                raise ValueError(
                    "with acwa=ACWATrainer(...) pass the loss as ACWATrainer(loss_fn=...) and initial weights as "
                    "ACWATrainer(class_frequencies=...), not class_weights/loss_fn"
                )
            if update_on == "validation" and acwa.update_freq is not None:
                raise ValueError(
                    f"update_on='validation' steps once per evaluation; create the ACWATrainer with update_freq=None "
                    f"(got update_freq={acwa.update_freq})"
                )
            self.weighter = acwa
        else:
            self.weighter = _static_weighter(class_weights, loss_fn, ignore_index, task)
        self.adaptive = acwa is not None
        self.update_on = update_on
        self.ignore_index = self.weighter.ignore_index
        self.training: bool | None = None
        # may evaluation batches fill the window? ImbalancedTrainer allows it only while it
        # evaluates its own eval_dataset (never in predict() or evaluate(other_dataset))
        self.count_evaluation = True

    @property
    def acwa(self) -> ACWATrainer | None:
        return self.weighter if self.adaptive else None

    @property
    def weights(self) -> Tensor | None:
        """Current class weights [C] (None until the number of classes is known)."""
        return self.weighter.weights if self.weighter.initialized else None

    def __call__(self, outputs: Any, labels: Tensor | None, num_items_in_batch: Tensor | int | None = None) -> Tensor:
        if labels is None:
            raise ValueError(
                "ACWALossFunction needs labels: the batch has no 'labels' entry (set label_names in TrainingArguments "
                "or name the column 'labels')"
            )
        logits = logits_of(outputs)
        if logits.dim() > 2:  # token classification: [N, T, C] with labels [N, T]
            logits, labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
        mean = self.weighter.get_weighted_loss(logits, labels)  # sum_i w_{y_i} l_i / N_counted
        if num_items_in_batch is not None:
            ignore = self.ignore_index
            counted = (torch.ne(labels, ignore).sum() if ignore is not None else torch.tensor(labels.numel())).to(
                device=mean.device, dtype=mean.dtype
            )
            mean = mean * counted / torch.as_tensor(num_items_in_batch, device=mean.device).to(mean.dtype)
        if self.adaptive:
            training = torch.is_grad_enabled() if self.training is None else self.training
            if training == (self.update_on == "train") and (training or self.count_evaluation):
                self.weighter.update_metrics(logits.detach(), labels)
        return mean


def _static_weighter(class_weights: Any, loss_fn: Any, ignore_index: int, task: str | None = None) -> ACWATrainer:
    """A never-stepped ACWATrainer: per-sample losses and the weighted sum with fixed weights."""
    num_classes, bounds = None, (0.5, 2.0)
    if class_weights is not None:
        class_weights = torch.as_tensor(class_weights, dtype=torch.float32).detach().clone()
        if class_weights.dim() != 1 or class_weights.numel() < 2:
            raise ValueError(f"class_weights must be a vector [C] with C >= 2, got shape {tuple(class_weights.shape)}")
        if not bool(torch.isfinite(class_weights).all()) or bool((class_weights < 0).any()):
            raise ValueError(f"class_weights must be finite and >= 0, got {class_weights.tolist()}")
        num_classes = class_weights.numel()
        bounds = (float(class_weights.min()), float(class_weights.max()))  # static: never clipped
    weighter = ACWATrainer(
        num_classes=num_classes,
        loss_fn=loss_fn,
        update_freq=None,
        ignore_index=ignore_index,
        weight_bounds=bounds,
        task=task,
    )
    if class_weights is not None:
        weighter.set_weights(class_weights)
    return weighter


class ACWATrainerCallback(TrainerCallback):
    """Validation-driven ACWA steps and weight logging for any ``transformers.Trainer``.

    ``Trainer(..., compute_loss_func=fn, callbacks=[ACWATrainerCallback(fn)])`` where ``fn`` is
    an :class:`ACWALossFunction`. After each evaluation (``update_on='validation'``) it applies one ACWA
    step from the evaluation batches (counts all-reduced across processes). On every log it
    adds ``acwa/weight_<c>`` (and ``acwa/<metric>_<c>`` after an update) to ``logs``; reporters
    registered before it (TensorBoard, W&B) see them only if it comes first:
    ``trainer.callback_handler.callbacks.insert(0, cb)``. :class:`ImbalancedTrainer` does that.
    """

    def __init__(self, loss_func: ACWALossFunction) -> None:
        if not isinstance(loss_func, ACWALossFunction):
            raise ValueError(f"loss_func must be an ACWALossFunction, got {type(loss_func).__name__}")
        self.loss_func = loss_func
        fn = loss_func.weighter.metric_fn
        self.metric_name = "f1" if fn is None else fn if isinstance(fn, str) else "metric"

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        acwa = self.loss_func.acwa
        chosen = self.loss_func.count_evaluation  # ImbalancedTrainer: its own eval_dataset only
        if acwa is not None and self.loss_func.update_on == "validation" and acwa.initialized and chosen:
            acwa.step()

    def on_predict(self, args, state, control, metrics=None, **kwargs):
        # a plain Trainer's predict() ran the loss on labelled test batches: drop them from the window
        acwa = self.loss_func.acwa
        if acwa is not None and self.loss_func.update_on == "validation" and acwa.initialized:
            acwa.reset_window()

    def acwa_logs(self) -> dict:
        """``{'acwa/weight_c': w_c, 'acwa/<metric>_c': m_c}`` as Python floats."""
        out: dict[str, float] = {}
        weights = self.loss_func.weights
        if weights is None:
            return out
        out.update({f"acwa/weight_{c}": w for c, w in enumerate(weights.tolist())})
        acwa = self.loss_func.acwa
        if acwa is not None and acwa.last_metric is not None:
            out.update({f"acwa/{self.metric_name}_{c}": m for c, m in enumerate(acwa.last_metric.tolist())})
        return out

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None:
            for k, v in self.acwa_logs().items():
                logs.setdefault(k, v)


def dataset_labels(dataset: Any, label_column: str = "labels") -> Tensor:
    """Class labels of a training set without running the model: a ``datasets.Dataset`` column
    (``label_column``, or ``'label'``), ``dataset.targets`` / ``get_labels()`` (see
    :func:`acwa.sampling.extract_labels`), or, for a map-style dataset of dicts, ``dataset[i][label_column]``
    (this reads every item once)."""
    from acwa.sampling import extract_labels

    names = getattr(dataset, "column_names", None)
    if isinstance(names, (list, tuple)):
        for col in (label_column, "label"):
            if col in names:
                return torch.as_tensor(dataset[col]).long()
    try:
        return torch.as_tensor(extract_labels(dataset))
    except (ValueError, TypeError):
        pass
    try:
        first = dataset[0]
    except Exception:  # noqa: BLE001 - fall through to the message below
        first = None
    if isinstance(first, dict) and label_column in first:
        return torch.as_tensor([int(dataset[i][label_column]) for i in range(len(dataset))]).long()
    raise ValueError(
        f"cannot read class labels from {type(dataset).__name__}: pass sampler_labels=... to ImbalancedTrainer, "
        f"or give the dataset a '{label_column}' column / .targets"
    )


def model_task(model: Any) -> str | None:
    """The :mod:`acwa.tasks` task a Hugging Face model's config implies: ``'multilabel'`` for
    ``problem_type='multi_label_classification'``, ``'binary'`` for a one-logit head
    (``num_labels=1``, not ``problem_type='regression'``), else ``None`` (read from the shapes)."""
    config = getattr(model, "config", None)
    problem = getattr(config, "problem_type", None)
    if problem == "multi_label_classification":
        return "multilabel"
    if getattr(config, "num_labels", None) == 1 and problem != "regression":
        return "binary"
    return None


class ImbalancedTrainer(Trainer):
    """``transformers.Trainer`` with class weights (adaptive or static), any acwa loss and
    class-balanced sampling. All ``Trainer`` arguments pass through; extra keywords:

    Args:
        acwa: :class:`acwa.ACWATrainer` for adaptive weights (see :class:`ACWALossFunction`).
        class_weights: static weights [C] (e.g. ``acwa.weights`` of the training counts).
        loss_fn: any acwa loss (or a callable returning one value per sample) for static/unit weights.
        acwa_update_on: ``'train'`` (every ``acwa.update_freq`` training batches) or
            ``'validation'`` (one step after each evaluation; needs ``ACWATrainer(update_freq=None)``;
            ``'eval'`` still works, deprecated).
        sampler: ``None`` (the Trainer's random sampler), ``'class_balanced'`` (``q`` below), or
            any ``torch.utils.data.Sampler`` over the training set. Under multi-process
            training the class-balanced sampler yields the same global draw on every process
            and Accelerate shards its batches.
        sampling_q: exponent q of p_c ∝ n_c^(1-q): 1 class-balanced, 0.5 square-root, 0 natural.
        sampler_labels: training labels for the sampler when they cannot be read from the
            dataset (see :func:`dataset_labels`).

    The loss is :class:`ACWALossFunction`, registered as ``compute_loss_func`` (so
    ``num_items_in_batch`` normalisation and gradient-accumulation scaling follow the
    Trainer's own rules); passing ``compute_loss_func`` as well is an error.
    """

    def __init__(
        self,
        *args: Any,
        acwa: ACWATrainer | None = None,
        class_weights: Sequence[float] | Tensor | None = None,
        loss_fn: Any = None,
        acwa_update_on: str = "train",
        sampler: Any = None,
        sampling_q: float = 1.0,
        sampler_labels: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("compute_loss_func") is not None:
            raise ValueError(
                "ImbalancedTrainer computes the loss itself (ACWALossFunction); pass acwa=/class_weights=/loss_fn= "
                "instead of compute_loss_func, or use a plain transformers.Trainer with ACWALossFunction"
            )
        if sampler is not None and sampler != "class_balanced" and not isinstance(sampler, torch.utils.data.Sampler):
            raise ValueError(f"sampler must be None, 'class_balanced' or a torch Sampler, got {sampler!r}")
        task = None if acwa is not None else model_task(kwargs.get("model", args[0] if args else None))
        self.acwa_loss = ACWALossFunction(acwa, class_weights, loss_fn, acwa_update_on, task=task)
        self.acwa_loss.count_evaluation = False  # on only inside evaluate() of the own eval_dataset
        self.acwa_callback = ACWATrainerCallback(self.acwa_loss)
        self.acwa_sampler = sampler
        self.sampling_q = sampling_q
        self.sampler_labels = sampler_labels
        kwargs["compute_loss_func"] = self.acwa_loss
        super().__init__(*args, **kwargs)
        self.callback_handler.callbacks.insert(0, self.acwa_callback)  # before the reporters, see its on_log

    @property
    def acwa(self) -> ACWATrainer | None:
        return self.acwa_loss.acwa

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict,
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ):
        """The Trainer's ``compute_loss`` (labels popped, model run without them, our
        ``compute_loss_func`` applied with ``num_items_in_batch``), telling the loss function
        whether this batch is a training batch (it feeds the ACWA window accordingly)."""
        self.acwa_loss.training = model.training
        try:
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        finally:
            self.acwa_loss.training = None

    def _is_own_eval(self, eval_dataset: Any) -> bool:
        own = self.eval_dataset
        if eval_dataset is None or eval_dataset is own:
            return True
        if isinstance(own, dict):  # Trainer.evaluate runs one evaluation per named eval set
            return isinstance(eval_dataset, str) or any(eval_dataset is d for d in own.values())
        return False

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval"):
        """``Trainer.evaluate``; only an evaluation of the Trainer's own ``eval_dataset`` feeds
        the ACWA window (``acwa_update_on='validation'``), each one a fresh window."""
        own, saved = self._is_own_eval(eval_dataset), self.acwa_loss.count_evaluation
        acwa = self.acwa
        if own and acwa is not None and acwa.initialized and self.acwa_loss.update_on == "validation":
            acwa.reset_window()
        self.acwa_loss.count_evaluation = own
        try:
            return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        finally:
            self.acwa_loss.count_evaluation = saved

    def predict(self, test_dataset: Any, ignore_keys: list[str] | None = None, metric_key_prefix: str = "test"):
        """``Trainer.predict``; its batches never reach the ACWA window, even with labels."""
        saved, self.acwa_loss.count_evaluation = self.acwa_loss.count_evaluation, False
        try:
            return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        finally:
            self.acwa_loss.count_evaluation = saved

    def _get_train_sampler(self, train_dataset=None):
        if self.acwa_sampler is None:
            return super()._get_train_sampler(train_dataset)
        if isinstance(self.acwa_sampler, torch.utils.data.Sampler):
            return self.acwa_sampler
        from acwa.sampling import DistributedClassBalancedSampler

        dataset = self.train_dataset if train_dataset is None else train_dataset
        labels = self.sampler_labels if self.sampler_labels is not None else dataset_labels(dataset)
        # global mode: the same draw on every process; accelerate.prepare shards the batches
        return DistributedClassBalancedSampler(
            labels,
            num_replicas=self.args.world_size,
            rank=self.args.process_index,
            q=self.sampling_q,
            seed=self.args.seed,
            shard=False,
        )

    def log(self, logs: dict, start_time: float | None = None) -> None:
        logs.update({k: v for k, v in self.acwa_callback.acwa_logs().items() if k not in logs})
        super().log(logs, start_time)
