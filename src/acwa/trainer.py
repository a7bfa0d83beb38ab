"""``ACWATrainer``: the ACWA README's API over the controller (:mod:`acwa.adaptive`) and the
streaming per-class counts (:mod:`acwa.metrics`).

Basic use, exactly as in the README::

    trainer = ACWATrainer(num_classes=10, target_metric=0.85, alpha=0.02, beta=0.9, update_freq=100)
    for inputs, labels in dataloader:
        outputs = model(inputs)
        loss = trainer.get_weighted_loss(outputs, labels)   # mean_i w_{y_i} * l_i
        loss.backward(); optimizer.step(); optimizer.zero_grad()
        trainer.update_metrics(outputs, labels)             # every update_freq calls: one ACWA step

Validation-driven weights (what the README's feature list describes): pass ``update_freq=None``
so training batches never move the weights, and once per epoch call
``trainer.update_from_validation(model, val_loader)`` (or feed validation outputs to
``update_metrics`` yourself and call ``trainer.step()``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._validation import check_choice, check_logits_labels, check_num_classes, should_check_values
from .adaptive import ADJUST_MODES, METRIC_MODES, AdaptiveClassWeights, inverse_frequency_init, log_prior_offsets
from .metrics import METRICS, ClassStatScores, all_gather_cat

__all__ = ["ACWATrainer"]

MetricFn = Union[None, str, Callable[[Tensor, Tensor], Tensor], Any]

# mode="auto": logit-adjusted training whose offsets follow the per-class recall of training
# windows relative to the mean, within +-0.5 of the logit-adjustment start. Measured in
# BENCHMARKS.md (issue 8 ablation): far above CE, but not above plain logit adjustment.
PRESETS = {
    "classic": {},
    "auto": dict(
        adjust="logits",
        target_metric="mean",
        metric_fn="recall",
        alpha=0.5,
        beta=0.0,
        update_freq=20,
        offset_radius=0.5,
    ),
}
_README_DEFAULTS = dict(
    adjust="weights", target_metric=0.85, metric_fn=None, alpha=0.02, beta=0.9, update_freq=100, offset_radius=None
)


def _is_readme_default(key: str, value: Any) -> bool:
    default = _README_DEFAULTS[key]
    return value is default or (type(value) in (int, float, str) and value == default)


def logits_of(outputs: Any) -> Tensor:
    """Logits from a tensor, a Hugging Face style output (``.logits``) or a tuple (first item)."""
    if isinstance(outputs, Tensor):
        return outputs
    logits = getattr(outputs, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    if isinstance(outputs, (tuple, list)) and outputs and isinstance(outputs[0], Tensor):
        return outputs[0]
    raise ValueError(f"outputs must be a logits tensor [N, C] (or have a .logits tensor), got {type(outputs).__name__}")


def _is_stateful_metric(metric_fn: Any) -> bool:
    return all(callable(getattr(metric_fn, m, None)) for m in ("update", "compute", "reset"))


class ACWATrainer:
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
        loss_fn: any loss. Modules with a ``reduction`` attribute are evaluated with
            ``reduction='none'``; other callables must return one value per sample.
            Default: cross-entropy.
        class_frequencies: per-class frequencies (or counts) for inverse-frequency initial
            weights ``∝ 1/(f_c + eps)``, normalised to mean 1 and clipped to ``weight_bounds``.
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
            offset_radius`` (see ``PRESETS``; arguments you set to other values win) and needs
            ``class_frequencies`` for its logit-adjustment start.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        target_metric: float | Sequence[float] | Tensor = 0.85,
        alpha: float = 0.02,
        beta: float = 0.9,
        update_freq: int | None = 100,
        metric_fn: MetricFn = None,
        metric_mode: str = "max",
        loss_fn: Callable[..., Tensor] | None = None,
        class_frequencies: Sequence[float] | Tensor | None = None,
        model: nn.Module | None = None,
        weight_bounds: tuple[float, float] = (0.5, 2.0),
        ignore_index: int = -100,
        validate_inputs: bool | None = None,
        eps: float = 1e-6,
        adjust: str = "weights",
        normalize_weights: bool = False,
        logit_tau: float = 1.0,
        offset_radius: float | None = None,
        mode: str = "classic",
    ) -> None:
        check_choice(mode, PRESETS, "mode")
        if mode != "classic":
            given = dict(
                adjust=adjust,
                target_metric=target_metric,
                metric_fn=metric_fn,
                alpha=alpha,
                beta=beta,
                update_freq=update_freq,
                offset_radius=offset_radius,
            )
            given.update({k: v for k, v in PRESETS[mode].items() if _is_readme_default(k, given[k])})
            adjust, target_metric, metric_fn = given["adjust"], given["target_metric"], given["metric_fn"]
            alpha, beta, update_freq, offset_radius = (
                given["alpha"],
                given["beta"],
                given["update_freq"],
                given["offset_radius"],
            )
            if class_frequencies is None:
                raise ValueError(
                    f"mode={mode!r} needs class_frequencies (training-set class counts or frequencies) "
                    "for its logit-adjustment start, e.g. acwa.weights.class_counts(train_labels, C)"
                )
        self.mode = mode
        check_choice(metric_mode, METRIC_MODES, "metric_mode")
        check_choice(adjust, ADJUST_MODES, "adjust")
        if update_freq is not None and (
            isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 0
        ):
            raise ValueError(
                f"update_freq must be an int >= 1 (README: 50-200), or None for manual steps, got {update_freq!r}"
            )
        if isinstance(metric_fn, str):
            check_choice(metric_fn, METRICS, "metric_fn")
        elif metric_fn is not None and not callable(metric_fn) and not _is_stateful_metric(metric_fn):
            raise ValueError(
                "metric_fn must be None, a metric name ('f1', 'recall', 'precision'), a callable "
                f"(outputs, labels) -> Tensor[C], or an object with update/compute/reset; got {type(metric_fn).__name__}"
            )
        if loss_fn is not None and not callable(loss_fn):
            raise ValueError(f"loss_fn must be callable (e.g. acwa.FocalLoss(gamma=2.0)), got {type(loss_fn).__name__}")
        if class_frequencies is not None:
            n_freq = len(class_frequencies)
            if num_classes is None:
                num_classes = n_freq
            elif n_freq != num_classes:
                raise ValueError(
                    f"class_frequencies has {n_freq} entries but num_classes={num_classes}; give one per class"
                )
        if num_classes is not None:
            check_num_classes(num_classes)

        self.num_classes = num_classes
        self.target_metric = target_metric
        self.alpha, self.beta = alpha, beta
        self.update_freq = update_freq or None
        self.metric_fn = metric_fn
        self.metric_mode = metric_mode
        self.loss_fn = loss_fn
        self.class_frequencies = class_frequencies
        self.weight_bounds = weight_bounds
        self.ignore_index = ignore_index
        self.validate_inputs = validate_inputs
        self.eps = eps
        self.adjust = adjust
        self.normalize_weights = normalize_weights
        self.logit_tau = logit_tau
        self.offset_radius = offset_radius
        self.device = None
        if model is not None:
            self.device = next(itertools.chain(model.parameters(), model.buffers()), torch.empty(0)).device

        self.controller: AdaptiveClassWeights | None = None
        self._stats: ClassStatScores | None = None
        self._window: list = []  # (outputs, labels) kept only for a plain callable metric_fn
        self.last_metric: Tensor | None = None
        self.num_calls = 0  # calls of update_metrics so far
        self._checked_pair: tuple | None = None  # last validated (logits, labels, their versions)
        self._checked_once = False
        self._all_counted: bool | None = None  # True: the checked batch has no ignored label
        self._scaled_weights: tuple | None = None  # (weights, version, N, dtype, weights / N)
        if num_classes is not None:
            self._build(num_classes, self.device)

    # ------------------------------------------------------------------ setup
    def _build(self, num_classes: int, device) -> None:
        init_w = init_o = None
        if self.class_frequencies is not None:
            if self.adjust == "weights":
                init_w = inverse_frequency_init(self.class_frequencies, tuple(self.weight_bounds), self.eps)
            else:
                init_o = log_prior_offsets(self.class_frequencies, self.logit_tau, self.eps)
        self.controller = AdaptiveClassWeights(
            num_classes,
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
        self._stats = ClassStatScores(num_classes, self.ignore_index, device)
        self.num_classes = num_classes

    def _is_checked_pair(self, logits: Tensor, labels: Tensor) -> bool:
        """Whether ``(logits, labels)`` is the pair checked last, or a view of it such as
        ``logits.detach()``: same storage, shape and dtype, and not modified in place since (the
        pair is held, so its memory cannot be reused by another tensor)."""
        if self._checked_pair is None:
            return False

        def same(x: Tensor, y: Tensor, version: int) -> bool:
            return (
                x.data_ptr() == y.data_ptr()
                and x.shape == y.shape
                and x.stride() == y.stride()
                and x.dtype == y.dtype
                and y._version == version
            )

        a, b, va, vb = self._checked_pair
        return same(a, logits, va) and same(b, labels, vb)

    def _prepare(self, outputs: Any, labels: Tensor) -> Tensor:
        logits = logits_of(outputs)
        # get_weighted_loss and update_metrics usually see the same pair: check it once
        if not self._is_checked_pair(logits, labels):
            check_values = should_check_values(logits, self.validate_inputs, not self._checked_once)
            self._all_counted = check_logits_labels(logits, labels, self.num_classes, self.ignore_index, check_values)
            self._checked_pair, self._checked_once = (logits, labels, logits._version, labels._version), True
        if self.controller is None:
            self._build(logits.shape[1], self.device or logits.device)
        if self.controller.weights.device != logits.device:
            self.controller.to(logits.device)
        return logits

    @property
    def weights(self) -> Tensor:
        """Current class weights, a tensor [C]."""
        if self.controller is None:
            raise RuntimeError(
                "weights are not known yet: pass num_classes or call get_weighted_loss/update_metrics first"
            )
        return self.controller.weights

    @property
    def weight_history(self) -> Tensor:
        """Weights after each update, a CPU tensor [T, C]; row 0 holds the initial weights."""
        return self.weights.new_empty(0) if self.controller is None else self.controller.history

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
        return self.controller.history_steps if self.controller is not None else torch.zeros(0, dtype=torch.long)

    # ------------------------------------------------------------------ loss
    def per_sample_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Unweighted per-sample losses of ``loss_fn`` (0 where ``labels == ignore_index``)."""
        if self.loss_fn is None:
            return F.cross_entropy(logits, labels, reduction="none", ignore_index=self.ignore_index)
        fn = self.loss_fn
        if hasattr(fn, "reduction"):
            saved = fn.reduction
            fn.reduction = "none"
            try:
                values = fn(logits, labels)
            finally:
                fn.reduction = saved
        else:
            values = fn(logits, labels)
        if not isinstance(values, Tensor) or tuple(values.shape) != tuple(labels.shape):
            shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
            raise ValueError(
                f"loss_fn returned shape {shape}, but ACWA needs one loss per sample (shape {tuple(labels.shape)}); "
                "pass a loss with reduction='none' (e.g. nn.CrossEntropyLoss(reduction='none')) "
                "or an acwa.losses module"
            )
        return values

    def get_weighted_loss(self, outputs: Any, labels: Tensor) -> Tensor:
        """``sum_i w_{y_i} * l_i / N_counted``: the ACWA-weighted mean loss of the batch."""
        logits = self._prepare(outputs, labels)
        if self.adjust != "weights":
            logits = logits + self.controller.offsets.to(logits.dtype).view((1, -1) + (1,) * (logits.dim() - 2))
        if self.loss_fn is None:  # fused: sum_i (w_{y_i} / N) CE_i in one kernel
            w = self._weights_over_count(labels, logits.dtype)
            return F.cross_entropy(logits, labels, weight=w, ignore_index=self.ignore_index, reduction="sum")
        values = self.per_sample_loss(logits, labels)
        counted = labels != self.ignore_index
        safe = torch.where(counted, labels, torch.zeros_like(labels))
        w = self._weights_over_count(labels, values.dtype)[safe] * counted.to(values.dtype)
        return (w * values).sum()

    def _weights_over_count(self, labels: Tensor, dtype: torch.dtype) -> Tensor:
        """``w / N_counted`` [C]. When the checked labels have no ignored entry, N is known on the
        host and the vector is cached until the weights change (no extra op per step); otherwise
        N is counted on the device (no host sync)."""
        w = self.controller.weights
        if not self._all_counted:
            return w.to(dtype) / (labels != self.ignore_index).sum().clamp_min(1)
        key = (w, w._version, labels.numel(), dtype)
        cached = self._scaled_weights
        if cached is None or cached[0] is not w or cached[1:4] != key[1:]:
            self._scaled_weights = cached = key + (w.to(dtype) / labels.numel(),)
        return cached[-1]

    # ------------------------------------------------------------------ metrics
    def update_metrics(self, outputs: Any, labels: Tensor) -> None:
        """Accumulate the batch into the window; every ``update_freq`` calls, apply :meth:`step`."""
        logits = self._prepare(outputs, labels).detach()
        self._checked_pair = None  # the pair is consumed: don't keep it alive
        self._stats.update(logits, labels, all_counted=bool(self._all_counted))
        if _is_stateful_metric(self.metric_fn):
            self.metric_fn.update(logits, labels)
        elif callable(self.metric_fn):
            self._window.append((logits, labels))
        self.num_calls += 1
        if self.update_freq is not None and self.num_calls % self.update_freq == 0:
            self.step()

    def compute_metric(self) -> Tensor:
        """Per-class metric of the current window [C]; NaN for classes absent from it."""
        self._stats.sync()
        fn = self.metric_fn
        if fn is None or isinstance(fn, str):  # NaN where a class has no true sample
            return self._stats.compute(fn or "f1")
        present = self._stats.support > 0
        if _is_stateful_metric(fn):
            metric = torch.as_tensor(fn.compute()).float()
        else:  # plain callable on the window; under DDP on the windows of all ranks (same metric everywhere)
            outs, labs = (all_gather_cat(t) for t in self._window_tensors())
            nan = torch.full((self.num_classes,), float("nan"))
            metric = torch.as_tensor(fn(outs, labs)).float() if labs.numel() else nan
        metric = metric.to(present.device)
        if metric.shape != present.shape:
            raise ValueError(
                f"metric_fn must return one value per class, shape ({self.num_classes},), got {tuple(metric.shape)}"
            )
        return torch.where(present, metric, torch.full_like(metric, float("nan")))

    def _window_tensors(self) -> tuple[Tensor, Tensor]:
        if self._window:
            outs, labs = zip(*self._window)
            return torch.cat(outs), torch.cat(labs)
        device = self._stats.counts.device
        return torch.empty(0, self.num_classes, device=device), torch.empty(0, dtype=torch.long, device=device)

    def reset_window(self) -> None:
        self._stats.reset()
        self._window.clear()
        if _is_stateful_metric(self.metric_fn):
            self.metric_fn.reset()

    def step(self) -> Tensor:
        """Apply one ACWA update from the window accumulated so far, then start a new window."""
        if self.controller is None:
            raise RuntimeError("nothing to step on: call update_metrics(outputs, labels) first")
        self.last_metric = self.compute_metric()
        self.controller.step(self.last_metric, self.num_calls)
        self.reset_window()
        return self.weights

    @torch.no_grad()
    def update_from_validation(self, model: nn.Module, loader, device=None) -> Tensor:
        """Validation-driven update: evaluate ``model`` on ``loader`` (eval mode, no grad), then
        :meth:`step`. Batches are ``(inputs, labels)``. Training-window counts are discarded first.
        Returns the per-class metric used."""
        if self.controller is not None:
            self.reset_window()
        was_training = model.training
        model.eval()
        device = device or self.device or next(model.parameters()).device
        try:
            for inputs, labels in loader:
                out = model(inputs.to(device))
                labels = labels.to(device)
                logits = self._prepare(out, labels)
                self._stats.update(logits, labels)
                if _is_stateful_metric(self.metric_fn):
                    self.metric_fn.update(logits, labels)
                elif callable(self.metric_fn):
                    self._window.append((logits, labels))
        finally:
            model.train(was_training)
        self.step()
        return self.last_metric

    # ------------------------------------------------------------------ state
    def __setstate__(self, state: dict) -> None:
        # Unpickling in a spawned process (torch.multiprocessing, ddp_spawn) maps tensors to
        # shared memory; give each process private copies so ranks never write the same counts.
        self.__dict__.update(state)
        if self.controller is not None:
            self.controller.load_state_dict(self.controller.state_dict())
            self._stats.load_state_dict(self._stats.state_dict())

    def state_dict(self) -> dict:
        """Everything needed to resume with identical weights: weights, history, window counts."""
        state = {"num_classes": self.num_classes, "num_calls": self.num_calls}
        if self.controller is not None:
            state["controller"] = self.controller.state_dict()
            state["stats"] = {k: v.cpu() for k, v in self._stats.state_dict().items()}
        if _is_stateful_metric(self.metric_fn) and hasattr(self.metric_fn, "state_dict"):
            state["metric_fn"] = self.metric_fn.state_dict()
        if self._window:
            state["window"] = [(o.cpu(), l.cpu()) for o, l in self._window]
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("num_classes") is not None:
            if self.num_classes is not None and self.num_classes != state["num_classes"]:
                raise ValueError(
                    f"state has num_classes={state['num_classes']} but this trainer has {self.num_classes}"
                )
            if self.controller is None:
                self._build(state["num_classes"], self.device)
        self.num_calls = int(state["num_calls"])
        if "controller" in state:
            self.controller.load_state_dict(state["controller"])
            self._stats.load_state_dict(state["stats"])
        if "metric_fn" in state and hasattr(self.metric_fn, "load_state_dict"):
            self.metric_fn.load_state_dict(state["metric_fn"])
        device = self.controller.weights.device if self.controller is not None else None
        self._window = [(o.to(device), l.to(device)) for o, l in state.get("window", [])]

    # ------------------------------------------------------------------ plots
    def plot_weight_history(
        self, path=None, ax=None, class_names: Sequence[str] | None = None, title: str = "ACWA Weight Adjustment"
    ):
        """Plot :attr:`weight_history` (one line per class); returns the matplotlib Figure and
        saves a PNG when ``path`` is given. Needs ``pip install 'acwa-torch[plot]'``."""
        from ._plotting import plot_weight_history

        return plot_weight_history(self.weight_history, self.weight_history_steps, path, ax, class_names, title)
