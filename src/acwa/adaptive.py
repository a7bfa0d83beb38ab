"""The ACWA controller: per-class metric -> class-weight update.

Adaptive Class Weight Adjustment, as documented in the ACWA README (acwa-trainer 1.0.0):

    error_c = target_c - metric_c                 ('max' mode; 'min' mode: metric_c - target_c)
    w_c    <- clip(beta * w_c + (1 - beta) * (w_c + alpha * error_c), lo, hi)

applied only to classes whose metric is defined in the window (NaN means the class was absent:
its weight is left unchanged). Algebraically the step is ``w + alpha * (1 - beta) * error``,
so the README defaults (alpha 0.02, beta 0.9) move a weight by at most 0.002 per update.

Everything here is tensor arithmetic on the weights' device: no host sync, no class loop.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ._validation import check_choice, check_num_classes

__all__ = ["acwa_update", "inverse_frequency_init", "AdaptiveClassWeights", "METRIC_MODES"]

METRIC_MODES = ("max", "min")
Target = Union[float, Sequence[float], Tensor]


def acwa_update(
    weights: Tensor,
    metric: Tensor,
    target: Union[float, Tensor],
    alpha: float,
    beta: float,
    bounds: Tuple[float, float] = (0.5, 2.0),
    mode: str = "max",
) -> Tensor:
    """One ACWA step (formula in the module docstring). NaN entries of ``metric`` keep their weight."""
    metric = metric.to(device=weights.device, dtype=weights.dtype)
    error = (target - metric) if mode == "max" else (metric - target)
    proposed = beta * weights + (1.0 - beta) * (weights + alpha * error)
    proposed = proposed.clamp(bounds[0], bounds[1])
    return torch.where(torch.isnan(metric), weights, proposed)


def inverse_frequency_init(
    class_frequencies: Union[Sequence[float], Tensor], bounds: Tuple[float, float], eps: float = 1e-6
) -> Tensor:
    """Initial weights ``w_c ∝ 1 / (f_c + eps)``, normalised to mean 1, then clipped to ``bounds``.

    ``class_frequencies`` may be frequencies or raw counts (only ratios matter). Clipping keeps
    the README's invariant that weights live inside ``weight_bounds``; widen the bounds to keep
    the full inverse-frequency ratio.
    """
    f = torch.as_tensor(class_frequencies, dtype=torch.float32).detach().clone().flatten()
    if f.numel() < 2:
        raise ValueError(f"class_frequencies must have one entry per class (>= 2), got {f.numel()}")
    if not bool(torch.isfinite(f).all()) or bool((f < 0).any()):
        raise ValueError(f"class_frequencies must be finite and >= 0, got {f.tolist()}")
    if not float(f.sum()) > 0:
        raise ValueError("class_frequencies must not all be 0")
    f = f / f.sum()
    w = 1.0 / (f + eps)
    w = w * (w.numel() / w.sum())
    return w.clamp(bounds[0], bounds[1])


def _check_bounds(bounds) -> Tuple[float, float]:
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
        target_metric: scalar or per-class target (length C).
        alpha: step size (README: 0.01-0.05). beta: smoothing (README: 0.8-0.95), in [0, 1).
        weight_bounds: (low, high) clip range, default (0.5, 2.0).
        metric_mode: 'max' (higher metric is better, e.g. F1) or 'min' (e.g. a per-class loss).
        initial_weights: optional [C] start; default all ones.
    """

    def __init__(
        self,
        num_classes: int,
        target_metric: Target = 0.85,
        alpha: float = 0.02,
        beta: float = 0.9,
        weight_bounds: Tuple[float, float] = (0.5, 2.0),
        metric_mode: str = "max",
        initial_weights: Optional[Tensor] = None,
        device=None,
    ) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.metric_mode = check_choice(metric_mode, METRIC_MODES, "metric_mode")
        if not (isinstance(alpha, (int, float)) and alpha >= 0 and alpha == alpha):
            raise ValueError(f"alpha must be a number >= 0 (README: 0.01-0.05), got {alpha!r}")
        if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
            raise ValueError(f"beta must lie in [0, 1) (README: 0.8-0.95), got {beta!r}")
        self.alpha, self.beta = float(alpha), float(beta)
        self.bounds = _check_bounds(weight_bounds)
        target = torch.as_tensor(target_metric, dtype=torch.float32)
        if target.dim() > 1 or (target.dim() == 1 and target.numel() != num_classes):
            raise ValueError(
                f"target_metric must be a scalar or have one entry per class ({num_classes}), "
                f"got shape {tuple(target.shape)}"
            )
        if not bool(torch.isfinite(target).all()):
            raise ValueError(f"target_metric must be finite, got {target.tolist()}")
        self.target = target.to(device)
        if initial_weights is None:
            w = torch.ones(num_classes)
        else:
            w = torch.as_tensor(initial_weights, dtype=torch.float32).detach().clone()
            if w.shape != (num_classes,):
                raise ValueError(f"initial weights must have shape ({num_classes},), got {tuple(w.shape)}")
        self.weights = w.to(device)
        self._history: List[Tensor] = [self.weights.clone()]
        self._history_steps: List[int] = [0]

    def to(self, device) -> "AdaptiveClassWeights":
        self.weights = self.weights.to(device)
        self.target = self.target.to(device)
        return self

    def step(self, metric: Tensor, at_step: int) -> Tensor:
        """Apply one update from a per-class ``metric`` [C] (NaN = absent, skipped)."""
        if metric.shape != (self.num_classes,):
            raise ValueError(
                f"the per-class metric must have shape ({self.num_classes},), got {tuple(metric.shape)}; "
                "a custom metric_fn must return one value per class"
            )
        self.weights = acwa_update(
            self.weights, metric, self.target, self.alpha, self.beta, self.bounds, self.metric_mode
        )
        self._history.append(self.weights.clone())
        self._history_steps.append(int(at_step))
        return self.weights

    @property
    def history(self) -> Tensor:
        return torch.stack(self._history).detach().cpu()

    @property
    def history_steps(self) -> Tensor:
        return torch.tensor(self._history_steps, dtype=torch.long)

    def state_dict(self) -> dict:
        return {
            "weights": self.weights.detach().cpu().clone(),
            "history": self.history,
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
