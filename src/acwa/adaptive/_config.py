"""Validated options of :class:`acwa.ACWATrainer` (one place for its checks and presets)."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from acwa._internal.validation import check_bool, check_choice, check_float, check_int, check_num_classes
from acwa.adaptive._controller import (
    AdaptiveClassWeights,
    ControllerConfig,
    _check_target,
    apply_preset,
    initial_weights,
    log_prior_offsets,
)
from acwa.adaptive._window import is_stateful_metric, make_window
from acwa.tasks import TASKS
from acwa.weights import check_counts

__all__ = ["TrainerConfig", "Option"]

MODES = ("classic", "la-adaptive")


@dataclass(frozen=True)
class TrainerConfig:
    """Every option of :class:`acwa.ACWATrainer` after presets and validation."""

    num_classes: int | None
    target_metric: Any
    alpha: float
    beta: float
    update_freq: int | None
    metric_fn: Any
    metric_mode: str
    loss_fn: Any
    class_frequencies: Any
    weight_bounds: tuple[float, float]
    ignore_index: int | None
    validate_inputs: bool | None
    eps: float
    adjust: str
    normalize_weights: bool
    logit_tau: float
    offset_radius: float | None
    mode: str
    task: str | None
    threshold: float

    @classmethod
    def checked(cls, args: dict[str, Any]) -> TrainerConfig:
        """Resolve the preset, the ``class_counts``/``class_frequencies`` alias, and validate."""
        args = dict(args)
        counts = args.pop("class_counts")
        if counts is not None:
            if args["class_frequencies"] is not None:
                raise ValueError("pass class_counts or class_frequencies (the same input), not both")
            args["class_frequencies"] = counts
        if args["class_frequencies"] is not None:
            args["class_frequencies"], args["task"] = _per_class_frequencies(args["class_frequencies"], args["task"])
        if args["mode"] == "auto":
            warnings.warn("mode='auto' is deprecated; use mode='la-adaptive'", DeprecationWarning, stacklevel=3)
            args["mode"] = "la-adaptive"
        mode = check_choice(args["mode"], MODES, "mode")
        args = apply_preset(mode, args)
        if mode != "classic" and args["class_frequencies"] is None:
            raise ValueError(
                f"mode={mode!r} needs class_frequencies (training-set class counts or frequencies) "
                "for its logit-adjustment start, e.g. acwa.weights.class_counts(train_labels, C)"
            )
        args["num_classes"] = _num_classes(args["num_classes"], args["class_frequencies"], args["task"])
        _check_hyper_parameters(args)
        return cls(**args)

    def replace(self, **changes: Any) -> TrainerConfig:
        """A copy with ``update_freq`` and/or ``validate_inputs`` changed (validated)."""
        unknown = set(changes) - {"update_freq", "validate_inputs"}
        if unknown:
            raise ValueError(
                f"only update_freq and validate_inputs can change after construction, got {sorted(unknown)}"
            )
        if "update_freq" in changes and changes["update_freq"] is not None:
            freq = check_int(changes["update_freq"], "update_freq", min=0, hint="README: 50-200; None for manual steps")
            changes["update_freq"] = freq or None
        if changes.get("validate_inputs") is not None:
            changes["validate_inputs"] = check_bool(changes["validate_inputs"], "validate_inputs")
        return dataclasses.replace(self, **changes)

    def controller(self, size: int, device: Any, task: str = "multiclass") -> AdaptiveClassWeights:
        """The controller for ``size`` classes, initialised from ``class_frequencies`` when given:
        inverse-frequency weights (``adjust='weights'``) or logit-adjustment offsets. Multi-label:
        per-label positive frequencies ``p_l`` give positive weights ``(1 - p_l) / p_l`` (the
        static ``pos_weight``), clipped to ``weight_bounds``, and offsets ``tau log(p_l/(1-p_l))``."""
        init_w = init_o = None
        if self.class_frequencies is not None and task == "multilabel":
            init_w, init_o = _multilabel_init(self.class_frequencies, self.weight_bounds, self.logit_tau, self.eps)
            init_w, init_o = (init_w, None) if self.adjust == "weights" else (None, init_o)
        elif self.class_frequencies is not None:
            if self.adjust == "weights":
                init_w = initial_weights(self.class_frequencies, self.weight_bounds, self.eps)
            else:
                init_o = log_prior_offsets(self.class_frequencies, self.logit_tau, self.eps)
        return AdaptiveClassWeights(
            size,
            self.target_metric,
            self.alpha,
            self.beta,
            self.weight_bounds,
            self.metric_mode,
            init_w,
            device,
            adjust=self.adjust,
            normalize=self.normalize_weights,
            initial_offsets=init_o,
            offset_radius=self.offset_radius,
        )


def _multilabel_init(frequencies: Any, bounds: tuple[float, float], tau: float, eps: float) -> tuple[Any, Any]:
    p = check_counts(frequencies, name="class_frequencies")
    if bool((p > 1).any()):
        raise ValueError(
            "with task='multilabel', class_frequencies are per-label positive frequencies in [0, 1] "
            "(acwa.weights.label_positive_counts(labels) / len(labels)), got values above 1"
        )
    p = p.clamp(eps, 1 - eps)
    return ((1 - p) / p).float().clamp(*bounds), (tau * (p / (1 - p)).log()).float()


def _per_class_frequencies(counts: Any, task: Any) -> tuple[Any, Any]:
    """``class_counts`` in the forms the library's count helpers return, read per task:

    - ``[K]``: counts or frequencies per class (multi-label: per-label positive frequencies);
    - ``[2, L]`` negatives and positives per label (:func:`acwa.weights.label_neg_pos_counts`):
      multi-label, read as positive frequencies ``n_pos / (n_neg + n_pos)``;
    - ``[2, 1]`` (the same helper on binary labels): binary, read as class counts ``[2]``.

    Returns the 1-D vector and the task (implied by a ``[2, L]`` shape when not given)."""
    if isinstance(counts, (str, bytes)):
        raise ValueError(f"class_counts must be numbers, got {counts!r}")
    t = torch.as_tensor(np.asarray(counts) if not isinstance(counts, Tensor) else counts)
    if t.dim() != 2:
        return counts, task
    if t.shape[0] != 2 or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(
            f"class_counts of shape {tuple(t.shape)}: a 2-D count table must be [2, L] negatives and positives per "
            "label (acwa.weights.label_neg_pos_counts(labels)); per-class counts are 1-D (acwa.weights.class_counts)"
        )
    if t.shape[1] == 1 and task in (None, "binary"):
        return t.reshape(2), "binary"
    if task not in (None, "multilabel"):
        raise ValueError(f"class_counts of shape {tuple(t.shape)} are per-label counts, but task={task!r}")
    neg, pos = check_counts(t.double().reshape(-1), name="class_counts").view(2, -1)
    total = neg + pos
    if bool((total == 0).any()):
        raise ValueError("class_counts [2, L] has a label with no samples at all; count the whole training set")
    return pos / total, "multilabel"


def _num_classes(num_classes: Any, frequencies: Any, task: Any) -> int | None:
    if task is not None:
        check_choice(task, TASKS, "task")
    if frequencies is not None:
        n_freq = check_counts(frequencies, name="class_frequencies").numel()
        if num_classes is None:
            num_classes = n_freq
        elif n_freq != num_classes:
            raise ValueError(
                f"class_frequencies has {n_freq} entries but num_classes={num_classes}; give one per class"
            )
    if num_classes is None:
        return 2 if task == "binary" else None
    if task == "binary":
        return check_int(num_classes, "num_classes", min=2, max=2, hint="task='binary' has 2 classes (one logit)")
    if task == "multilabel":
        return check_int(num_classes, "num_classes", min=1, hint="the number of labels")
    return check_num_classes(num_classes)


def _check_hyper_parameters(args: dict[str, Any]) -> None:
    freq = args["update_freq"]
    if freq is not None:
        freq = check_int(freq, "update_freq", min=0, hint="README: 50-200; None for manual steps")
    args["update_freq"] = freq or None
    ControllerConfig.checked(
        args["num_classes"] or 2,
        args["alpha"],
        args["beta"],
        args["weight_bounds"],
        args["metric_mode"],
        args["adjust"],
        args["normalize_weights"],
        args["offset_radius"],
    )
    args["weight_bounds"] = tuple(float(b) for b in args["weight_bounds"])
    if args["num_classes"] is not None or isinstance(args["target_metric"], str):
        _check_target(args["target_metric"], args["num_classes"] or 2)
    fn = args["metric_fn"]
    if isinstance(fn, str) or not (fn is None or callable(fn) or is_stateful_metric(fn)):
        make_window(fn, _PROBE_TASK)  # raises the metric_fn error
    if args["loss_fn"] is not None and not callable(args["loss_fn"]):
        raise ValueError(
            f"loss_fn must be callable (e.g. acwa.FocalLoss(gamma=2.0)), got {type(args['loss_fn']).__name__}"
        )
    if args["ignore_index"] is not None:
        args["ignore_index"] = check_int(args["ignore_index"], "ignore_index", hint="e.g. -100")
    if args["validate_inputs"] is not None:
        args["validate_inputs"] = check_bool(args["validate_inputs"], "validate_inputs")
    args["eps"] = check_float(args["eps"], "eps", min=0.0)
    args["logit_tau"] = check_float(args["logit_tau"], "logit_tau")
    args["threshold"] = check_float(args["threshold"], "threshold", hint="a logit threshold; 0 means p > 0.5")
    if isinstance(args["target_metric"], Tensor):
        args["target_metric"] = args["target_metric"].detach().clone()


def _probe_task() -> Any:
    from acwa.tasks import MulticlassTask

    return MulticlassTask(num_classes=2)


_PROBE_TASK = _probe_task()


class Option:
    """A trainer option read from its validated :class:`TrainerConfig`. Assigning one raises an
    ``AttributeError`` that names the supported way to change it; ``mutable`` options (read on
    every call) are re-validated and take effect at the next batch."""

    def __init__(self, mutable: bool = False) -> None:
        self.mutable = mutable
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj.config, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        if not self.mutable:
            raise AttributeError(
                f"{type(obj).__name__}.{self.name} is fixed at construction (the task, controller and loss were "
                f"built with it); build a new trainer, {type(obj).__name__}(..., {self.name}=...), and carry the "
                "weights over with new.load_state_dict(old.state_dict())"
            )
        obj._config = obj.config.replace(**{self.name: value})
