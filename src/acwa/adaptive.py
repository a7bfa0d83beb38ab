"""The ACWA controller: per-class metric -> class-weight update.

Adaptive Class Weight Adjustment, as documented in the ACWA README (acwa-trainer 1.0.0):

    error_c = target_c - metric_c                 ('max' mode; 'min' mode: metric_c - target_c)
    w_c    <- clip(beta * w_c + (1 - beta) * (w_c + alpha * error_c), lo, hi)

applied only to classes whose metric is defined in the window (NaN means the class was absent:
its weight is left unchanged). Algebraically the step is ``w + alpha * (1 - beta) * error``,
so the README defaults (alpha 0.02, beta 0.9) move a weight by at most 0.002 per update.

Beyond the README (same update, same API, opt-in):

- ``target_metric="mean"``: a *relative* target, the mean metric over the classes present in
  the window, so ``error_c = mean_k metric_k - metric_c`` pushes classes towards equal metric
  instead of towards an absolute goal that every class may already exceed.
- ``normalize=True``: after each update the weights are rescaled to mean 1 (then clipped), so
  only their ratios move.
- ``adjust="logits"`` (or ``"both"``): the controller also keeps additive logit offsets
  ``o`` [C], used in the training loss as ``loss(f + o, y)`` (the logit-adjusted loss of
  Menon et al., ICLR 2021, when ``o = tau log pi``), and updates them with the mirrored rule

      o_c <- beta * o_c + (1 - beta) * (o_c - alpha * error_c)

  A class below target gets a lower training offset, so the network must raise its raw logit
  for that class and predicts it more often at test time. Additive logit terms keep their
  effect on over-parameterised networks where loss weights fade (Kini et al., NeurIPS 2021).

Everything here is tensor arithmetic on the weights' device: no host sync, no class loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
from torch import Tensor

from ._validation import check_choice, check_num_classes
from .counts import check_counts, log_prior
from .weights import inverse_frequency

__all__ = [
    "acwa_update",
    "offset_update",
    "metric_error",
    "inverse_frequency_init",
    "log_prior_offsets",
    "AdaptiveClassWeights",
    "METRIC_MODES",
    "ADJUST_MODES",
]

METRIC_MODES = ("max", "min")
ADJUST_MODES = ("weights", "logits", "both")
Target = Union[float, Sequence[float], Tensor, str]


def metric_error(metric: Tensor, target: float | Tensor | str, mode: str = "max") -> Tensor:
    """``target - metric`` ('max') or ``metric - target`` ('min'); ``target='mean'`` uses the
    mean metric over present (non-NaN) classes. NaN stays NaN."""
    if isinstance(target, str):
        target = torch.nanmean(metric)
    return (target - metric) if mode == "max" else (metric - target)


def acwa_update(
    weights: Tensor,
    metric: Tensor,
    target: float | Tensor | str,
    alpha: float,
    beta: float,
    bounds: tuple[float, float] = (0.5, 2.0),
    mode: str = "max",
) -> Tensor:
    """One ACWA step (formula in the module docstring). NaN entries of ``metric`` keep their weight."""
    metric = metric.to(device=weights.device, dtype=weights.dtype)
    error = metric_error(metric, target, mode)
    proposed = beta * weights + (1.0 - beta) * (weights + alpha * error)
    proposed = proposed.clamp(bounds[0], bounds[1])
    return torch.where(torch.isnan(metric), weights, proposed)


def offset_update(
    offsets: Tensor, metric: Tensor, target: float | Tensor | str, alpha: float, beta: float, mode: str = "max"
) -> Tensor:
    """``o_c <- beta o_c + (1 - beta)(o_c - alpha error_c)``; NaN entries keep their offset."""
    metric = metric.to(device=offsets.device, dtype=offsets.dtype)
    error = metric_error(metric, target, mode)
    proposed = beta * offsets + (1.0 - beta) * (offsets - alpha * error)
    return torch.where(torch.isnan(metric), offsets, proposed)


def log_prior_offsets(class_frequencies: Sequence[float] | Tensor, tau: float = 1.0, eps: float = 1e-6) -> Tensor:
    """Logit-adjustment offsets ``tau * log(pi_c + eps)``, centred to mean 0 (Menon et al. 2021).

    ``class_frequencies`` may be frequencies or counts (only ratios matter)."""
    f = check_counts(class_frequencies, name="class_frequencies")
    o = tau * log_prior(f / f.sum() + eps)
    return (o - o.mean()).float()


def inverse_frequency_init(
    class_frequencies: Sequence[float] | Tensor, bounds: tuple[float, float], eps: float = 1e-6
) -> Tensor:
    """Initial weights ``w_c ∝ 1 / (f_c + eps)``, normalised to mean 1, then clipped to ``bounds``.

    ``class_frequencies`` may be frequencies or raw counts (only ratios matter). Clipping keeps
    the README's invariant that weights live inside ``weight_bounds``; widen the bounds to keep
    the full inverse-frequency ratio.
    """
    f = check_counts(class_frequencies, name="class_frequencies")
    w = inverse_frequency(f / f.sum() + eps, normalize="sum_to_C")
    return w.float().clamp(bounds[0], bounds[1])


def _check_bounds(bounds) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"weight_bounds must be a pair (low, high), got {bounds!r}") from None
    if not (0.0 <= lo <= hi) or not torch.isfinite(torch.tensor(hi)):
        raise ValueError(f"weight_bounds must satisfy 0 <= low <= high < inf, got {bounds!r}")
    return lo, hi


class AdaptiveClassWeights:
    """Holds the class weights and applies :func:`acwa_update`; records the history.

    Args:
        num_classes: C >= 2.
        target_metric: scalar, per-class target (length C), or ``'mean'`` (relative target).
        alpha: step size (README: 0.01-0.05). beta: smoothing (README: 0.8-0.95), in [0, 1).
        weight_bounds: (low, high) clip range, default (0.5, 2.0).
        metric_mode: 'max' (higher metric is better, e.g. F1) or 'min' (e.g. a per-class loss).
        initial_weights: optional [C] start; default all ones.
        adjust: what the metric moves: ``'weights'`` (README), ``'logits'`` (additive offsets)
            or ``'both'``.
        normalize: rescale the weights to mean 1 after each update.
        initial_offsets: optional [C] start of the logit offsets (e.g. :func:`log_prior_offsets`);
            default zeros.
        offset_radius: optional bound on how far each offset may move from its start
            (``|o_c - o_c^0| <= offset_radius``); ``None``: unbounded.
    """

    def __init__(
        self,
        num_classes: int,
        target_metric: Target = 0.85,
        alpha: float = 0.02,
        beta: float = 0.9,
        weight_bounds: tuple[float, float] = (0.5, 2.0),
        metric_mode: str = "max",
        initial_weights: Tensor | None = None,
        device=None,
        adjust: str = "weights",
        normalize: bool = False,
        initial_offsets: Tensor | None = None,
        offset_radius: float | None = None,
    ) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.metric_mode = check_choice(metric_mode, METRIC_MODES, "metric_mode")
        if not (isinstance(alpha, (int, float)) and alpha >= 0 and alpha == alpha):
            raise ValueError(f"alpha must be a number >= 0 (README: 0.01-0.05), got {alpha!r}")
        if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
            raise ValueError(f"beta must lie in [0, 1) (README: 0.8-0.95), got {beta!r}")
        self.alpha, self.beta = float(alpha), float(beta)
        self.bounds = _check_bounds(weight_bounds)
        self.adjust = check_choice(adjust, ADJUST_MODES, "adjust")
        self.normalize = bool(normalize)
        if isinstance(target_metric, str):
            self.target = check_choice(target_metric, ("mean",), "target_metric")
        else:
            target = torch.as_tensor(target_metric, dtype=torch.float32)
            if target.dim() > 1 or (target.dim() == 1 and target.numel() != num_classes):
                raise ValueError(
                    f"target_metric must be a scalar, 'mean', or have one entry per class ({num_classes}), "
                    f"got shape {tuple(target.shape)}"
                )
            if not bool(torch.isfinite(target).all()):
                raise ValueError(f"target_metric must be finite, got {target.tolist()}")
            self.target = target.to(device)
        self.weights = self._vector(initial_weights, 1.0, "initial weights").to(device)
        self.offsets = self._vector(initial_offsets, 0.0, "initial_offsets").to(device)
        if offset_radius is not None and not (isinstance(offset_radius, (int, float)) and offset_radius >= 0):
            raise ValueError(f"offset_radius must be a number >= 0 or None, got {offset_radius!r}")
        self.offset_radius = offset_radius
        self._history: list[Tensor] = [self.weights.clone()]
        self._offset_history: list[Tensor] = [self.offsets.clone()]
        self._history_steps: list[int] = [0]

    def _vector(self, value, fill: float, name: str) -> Tensor:
        if value is None:
            return torch.full((self.num_classes,), fill)
        v = torch.as_tensor(value, dtype=torch.float32).detach().clone()
        if v.shape != (self.num_classes,) or not bool(torch.isfinite(v).all()):
            raise ValueError(f"{name} must be a finite vector of shape ({self.num_classes},), got {v.tolist()}")
        return v

    def to(self, device) -> AdaptiveClassWeights:
        self.weights = self.weights.to(device)
        self.offsets = self.offsets.to(device)
        self._history = [row.to(device) for row in self._history]
        self._offset_history = [row.to(device) for row in self._offset_history]
        if isinstance(self.target, Tensor):
            self.target = self.target.to(device)
        return self

    def step(self, metric: Tensor, at_step: int) -> Tensor:
        """Apply one update from a per-class ``metric`` [C] (NaN = absent, skipped)."""
        if metric.shape != (self.num_classes,):
            raise ValueError(
                f"the per-class metric must have shape ({self.num_classes},), got {tuple(metric.shape)}; "
                "a custom metric_fn must return one value per class"
            )
        if self.adjust in ("weights", "both"):
            w = acwa_update(self.weights, metric, self.target, self.alpha, self.beta, self.bounds, self.metric_mode)
            if self.normalize:
                w = (w * (self.num_classes / w.sum())).clamp(*self.bounds)
            self.weights = w
        if self.adjust in ("logits", "both"):
            o = offset_update(self.offsets, metric, self.target, self.alpha, self.beta, self.metric_mode)
            if self.offset_radius is not None:  # stay within offset_radius of the start (history row 0)
                start = self._offset_history[0]
                o = o.clamp(min=start - self.offset_radius, max=start + self.offset_radius)
            self.offsets = o
        self._history.append(self.weights.clone())
        self._offset_history.append(self.offsets.clone())
        self._history_steps.append(int(at_step))
        return self.weights

    @property
    def history(self) -> Tensor:
        return torch.stack(self._history).detach().cpu()

    @property
    def offset_history(self) -> Tensor:
        return torch.stack(self._offset_history).detach().cpu()

    @property
    def history_steps(self) -> Tensor:
        return torch.tensor(self._history_steps, dtype=torch.long)

    def state_dict(self) -> dict:
        return {
            "weights": self.weights.detach().cpu().clone(),
            "history": self.history,
            "offsets": self.offsets.detach().cpu().clone(),
            "offset_history": self.offset_history,
            "history_steps": list(self._history_steps),
        }

    def load_state_dict(self, state: dict) -> None:
        device = self.weights.device
        w = state["weights"]
        if w.shape != (self.num_classes,):
            raise ValueError(f"state weights have shape {tuple(w.shape)}, expected ({self.num_classes},)")
        self.weights = w.to(device).clone()
        self._history = [row.to(device) for row in state["history"]]
        self._history_steps = list(state["history_steps"])
        if "offsets" in state:
            self.offsets = state["offsets"].to(device).clone()
            self._offset_history = [row.to(device) for row in state["offset_history"]]
