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
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from acwa._internal.state import Stateful
from acwa._internal.validation import check_bool, check_bounds, check_choice, check_float, check_int
from acwa.weights import check_counts, inverse_frequency, log_prior

__all__ = [
    "acwa_update",
    "offset_update",
    "metric_error",
    "initial_weights",
    "log_prior_offsets",
    "AdaptiveClassWeights",
    "METRIC_MODES",
    "ADJUST_MODES",
    "PRESETS",
    "apply_preset",
    "ControllerConfig",
]

METRIC_MODES = ("max", "min")
ADJUST_MODES = ("weights", "logits", "both")
Target = float | Sequence[float] | Tensor | str


def metric_error(metric: Tensor, target: float | Tensor | str, mode: str = "max") -> Tensor:
    """``target - metric`` ('max') or ``metric - target`` ('min'); ``target='mean'`` uses the
    mean metric over present (finite) classes. Non-finite entries stay non-finite."""
    if isinstance(target, str):
        finite = torch.isfinite(metric)
        target = torch.where(finite, metric, 0.0).sum() / finite.sum().clamp_min(1)
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
    """One ACWA step (formula in the module docstring). Non-finite entries of ``metric`` (NaN:
    the class is absent from the window) keep their weight."""
    metric = metric.to(device=weights.device, dtype=weights.dtype)
    error = metric_error(metric, target, mode)
    proposed = beta * weights + (1.0 - beta) * (weights + alpha * error)
    proposed = proposed.clamp(bounds[0], bounds[1])
    return torch.where(torch.isfinite(metric), proposed, weights)


def offset_update(
    offsets: Tensor, metric: Tensor, target: float | Tensor | str, alpha: float, beta: float, mode: str = "max"
) -> Tensor:
    """``o_c <- beta o_c + (1 - beta)(o_c - alpha error_c)``; non-finite entries keep their offset."""
    metric = metric.to(device=offsets.device, dtype=offsets.dtype)
    error = metric_error(metric, target, mode)
    proposed = beta * offsets + (1.0 - beta) * (offsets - alpha * error)
    return torch.where(torch.isfinite(metric), proposed, offsets)


def log_prior_offsets(class_frequencies: Sequence[float] | Tensor, tau: float = 1.0, eps: float = 1e-6) -> Tensor:
    """Logit-adjustment offsets ``tau * log(pi_c + eps)``, centred to mean 0 (Menon et al. 2021).

    ``class_frequencies`` may be frequencies or counts (only ratios matter)."""
    f = check_counts(class_frequencies, name="class_frequencies")
    o = tau * log_prior(f / f.sum() + eps)
    return (o - o.mean()).float()


def initial_weights(
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


# mode="la-adaptive": logit-adjusted training whose offsets follow the per-class recall of training
# windows relative to the mean, within +-0.5 of the logit-adjustment start. Measured in
# BENCHMARKS.md (issue 8 ablation): far above CE, but not above plain logit adjustment.
PRESETS: dict[str, dict[str, Any]] = {
    "classic": {},
    "la-adaptive": dict(
        adjust="logits",
        target_metric="mean",
        metric_fn="recall",
        alpha=0.5,
        beta=0.0,
        update_freq=20,
        offset_radius=0.5,
    ),
}
README_DEFAULTS: dict[str, Any] = dict(
    adjust="weights", target_metric=0.85, metric_fn=None, alpha=0.02, beta=0.9, update_freq=100, offset_radius=None
)


def _is_readme_default(key: str, value: Any) -> bool:
    default = README_DEFAULTS[key]
    return value is default or (type(value) in (int, float, str) and value == default)


def apply_preset(mode: str, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with the preset's values for every key still at its README default (an
    argument set to anything else wins). ``mode='classic'`` changes nothing."""
    check_choice(mode, PRESETS, "mode")
    out = dict(given)
    out.update({k: v for k, v in PRESETS[mode].items() if k in out and _is_readme_default(k, out[k])})
    return out


def _check_target(target_metric: Target, num_classes: int) -> Tensor | str:
    if isinstance(target_metric, str):
        return check_choice(target_metric, ("mean",), "target_metric")
    try:
        target = torch.as_tensor(target_metric, dtype=torch.float32).detach().clone()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"target_metric must be a number, 'mean' or one number per class, got {target_metric!r}"
        ) from None
    if target.dim() > 1 or (target.dim() == 1 and target.numel() != num_classes):
        raise ValueError(
            f"target_metric must be a scalar, 'mean', or have one entry per class ({num_classes}), "
            f"got shape {tuple(target.shape)}"
        )
    if not bool(torch.isfinite(target).all()):
        raise ValueError(f"target_metric must be finite, got {target.tolist()}")
    return target


@dataclass(frozen=True)
class ControllerConfig:
    """Validated hyper-parameters of :class:`AdaptiveClassWeights` (one place for the checks)."""

    num_classes: int
    alpha: float = 0.02
    beta: float = 0.9
    bounds: tuple[float, float] = (0.5, 2.0)
    metric_mode: str = "max"
    adjust: str = "weights"
    normalize: bool = False
    offset_radius: float | None = None

    @classmethod
    def checked(cls, num_classes: Any, alpha: Any, beta: Any, bounds: Any, metric_mode: Any, adjust: Any,
                normalize: Any, offset_radius: Any) -> ControllerConfig:  # fmt: skip
        return cls(
            num_classes=check_int(num_classes, "num_classes", min=1, hint="classes, or labels of a multi-label model"),
            alpha=check_float(alpha, "alpha", min=0.0, hint="README: 0.01-0.05"),
            beta=check_float(beta, "beta", min=0.0, max=1.0, max_open=True, hint="README: 0.8-0.95"),
            bounds=check_bounds(bounds, "weight_bounds", min=0.0),
            metric_mode=check_choice(metric_mode, METRIC_MODES, "metric_mode"),
            adjust=check_choice(adjust, ADJUST_MODES, "adjust"),
            normalize=check_bool(normalize, "normalize"),
            offset_radius=None if offset_radius is None else check_float(offset_radius, "offset_radius", min=0.0),
        )


class AdaptiveClassWeights(Stateful):
    """Holds the class weights (and logit offsets), applies :func:`acwa_update`, records the history.

    Declared state (``reduce=None``: every DDP rank holds the same values, since each applies
    the same update to all-reduced counts): ``weights`` [C], ``offsets`` [C], ``history`` and
    ``offset_history`` (one [C] row per update; row 0 is the start) and ``history_steps``
    (a CPU int64 vector, the caller's step count at each row). Loading checks shapes,
    finiteness and ``low <= w <= high`` and is atomic.

    Args:
        num_classes: C >= 2.
        target_metric: scalar, per-class target (length C), or ``'mean'`` (relative target).
        alpha: step size (README: 0.01-0.05). beta: smoothing (README: 0.8-0.95), in [0, 1).
        weight_bounds: (low, high) clip range, default (0.5, 2.0).
        metric_mode: 'max' (higher metric is better, e.g. F1) or 'min' (e.g. a per-class loss).
        initial_weights: optional [C] start inside ``weight_bounds``; default all ones.
        adjust: what the metric moves: ``'weights'`` (README), ``'logits'`` (additive offsets)
            or ``'both'``.
        normalize: rescale the weights to mean 1 after each update.
        initial_offsets: optional [C] start of the logit offsets (e.g. :func:`log_prior_offsets`);
            default zeros.
        offset_radius: optional bound on how far each offset may move from its start
            (``|o_c - o_c^0| <= offset_radius``); ``None``: unbounded.
    """

    weights: Tensor  # declared states
    offsets: Tensor
    weight_rows: list[Tensor]
    offset_rows: list[Tensor]
    steps: Tensor

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
        cfg = ControllerConfig.checked(
            num_classes, alpha, beta, weight_bounds, metric_mode, adjust, normalize, offset_radius
        )
        self.config = cfg
        self.num_classes, self.metric_mode, self.adjust, self.normalize = (
            cfg.num_classes, cfg.metric_mode, cfg.adjust, cfg.normalize)  # fmt: skip
        self.alpha, self.beta, self.bounds, self.offset_radius = cfg.alpha, cfg.beta, cfg.bounds, cfg.offset_radius
        target = _check_target(target_metric, cfg.num_classes)
        self.target = target.to(device) if isinstance(target, Tensor) else target
        weights = self._vector(initial_weights, 1.0, "initial_weights", bounded=True).to(device)
        if initial_weights is None:  # the default start 1 moves inside weight_bounds, e.g. (1.5, 2) -> 1.5
            weights = weights.clamp(*cfg.bounds)
        offsets = self._vector(initial_offsets, 0.0, "initial_offsets").to(device)
        c = cfg.num_classes
        self.add_state("weights", weights, shape=(c,), check=self._check_weights)
        self.add_state("offsets", offsets, shape=(c,))
        self.add_state("weight_rows", [weights.clone()], item_shape=(c,), check=self._check_history)
        self.add_state("offset_rows", [offsets.clone()], item_shape=(c,), check=_nonempty)
        self.add_state("steps", torch.zeros(1, dtype=torch.long), shape=(None,), check=_steps_ok)

    def _vector(self, value: Any, fill: float, name: str, bounded: bool = False) -> Tensor:
        if value is None:
            return torch.full((self.num_classes,), fill)
        v = torch.as_tensor(value, dtype=torch.float32).detach().clone()
        if v.shape != (self.num_classes,) or not bool(torch.isfinite(v).all()):
            raise ValueError(f"{name} must be a finite vector of shape ({self.num_classes},), got {v.tolist()}")
        if bounded:
            self._check_weights(v, name)
        return v

    def _check_weights(self, w: Tensor, name: str = "weights") -> None:
        lo, hi = self.bounds
        if bool((w < lo).any() | (w > hi).any()):
            raise ValueError(
                f"{name} must lie within weight_bounds [{lo}, {hi}], got {w.tolist()}; widen weight_bounds or clip them"
            )

    def _check_history(self, rows: list) -> None:
        _nonempty(rows)
        for row in rows:
            self._check_weights(row, "history rows")

    def _check_loaded(self, state: dict[str, Any]) -> None:
        n = len(state["weight_rows"])
        if len(state["offset_rows"]) != n or state["steps"].numel() != n:
            raise ValueError(
                f"weight_rows ({n}), offset_rows ({len(state['offset_rows'])}) and steps "
                f"({state['steps'].numel()}) must have one entry per update"
            )

    def to(self, device: Any) -> AdaptiveClassWeights:
        steps = self.steps
        super().to(device)
        self.steps = steps  # host-side step numbers (CPU): appending stays sync-free
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
            if self.normalize:  # mean 1 (a zero sum, possible with a lower bound of 0, stays as it is)
                total = w.sum()
                w = torch.where(total > 0, w * (self.num_classes / total.clamp_min(1e-30)), w).clamp(*self.bounds)
            self.weights = w
        if self.adjust in ("logits", "both"):
            o = offset_update(self.offsets, metric, self.target, self.alpha, self.beta, self.metric_mode)
            if self.offset_radius is not None:  # stay within offset_radius of the start (history row 0)
                start = self.offset_rows[0]
                o = o.clamp(min=start - self.offset_radius, max=start + self.offset_radius)
            self.offsets = o
        self.weight_rows.append(self.weights.clone())
        self.offset_rows.append(self.offsets.clone())
        self.steps = torch.cat([self.steps, torch.tensor([int(at_step)])])
        return self.weights

    def set_weights(self, weights: Any) -> None:
        """Replace the current weights (finite, shape [C], inside ``weight_bounds``). Before
        the first update they become the start (history row 0); later a new history row is
        recorded at the last step."""
        w = self._vector(weights, 1.0, "weights", bounded=True).to(self.weights.device)
        self.weights = w
        if len(self.weight_rows) == 1:
            self.weight_rows = [w.clone()]
            return
        self.weight_rows.append(w.clone())
        self.offset_rows.append(self.offsets.clone())
        self.steps = torch.cat([self.steps, self.steps[-1:]])

    @property
    def history(self) -> Tensor:
        """Weights after each update, a CPU tensor [T, C]; row 0 holds the initial weights."""
        return torch.stack(self.weight_rows).detach().cpu()

    @property
    def offset_history(self) -> Tensor:
        """Offsets after each update, a CPU tensor [T, C]."""
        return torch.stack(self.offset_rows).detach().cpu()

    @property
    def history_steps(self) -> Tensor:
        """The caller's step count at each history row, int64 [T]."""
        return self.steps.clone()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state_dict`, also the pre-declared-state format (stacked ``history``
        tensors and ``history_steps`` as a list of ints); validated and atomic."""
        upgraded = _upgrade_controller_state(state)
        super().load_state_dict(upgraded)
        self.steps = upgraded["steps"].detach().to("cpu", torch.long).clone()  # validated above; stays on the host


def _nonempty(rows: list) -> None:
    if len(rows) == 0:
        raise ValueError("must hold at least the initial row")


def _steps_ok(steps: Tensor) -> None:
    if steps.numel() == 0 or bool((steps < 0).any()) or bool((steps[1:] < steps[:-1]).any()):
        raise ValueError("history_steps must be a non-empty, non-decreasing vector of step counts >= 0")


def _upgrade_controller_state(state: Any) -> Any:
    """The checkpoint format before declared state: ``history``/``offset_history`` stacked
    ``[T, C]`` tensors, ``history_steps`` a list of ints, offsets optional (older still)."""
    if not isinstance(state, dict) or "history" not in state:
        return state
    out = {k: v for k, v in state.items() if k not in ("history", "offset_history", "history_steps")}
    rows = state["history"]
    out["weight_rows"] = list(rows.unbind(0)) if isinstance(rows, Tensor) and rows.dim() == 2 else rows
    steps: Any = state.get("history_steps")
    try:
        out["steps"] = torch.as_tensor([int(s) for s in steps], dtype=torch.long)
    except (TypeError, ValueError):
        raise ValueError(f"state['history_steps'] must be a list of step counts, got {steps!r}") from None
    if "offsets" in state:
        offsets = state.get("offset_history")
        out["offset_rows"] = list(offsets.unbind(0)) if isinstance(offsets, Tensor) and offsets.dim() == 2 else offsets
    elif isinstance(state.get("weights"), Tensor):  # checkpoints from before logit offsets
        zeros = torch.zeros_like(state["weights"])
        out["offsets"] = zeros
        out["offset_rows"] = [zeros.clone() for _ in range(len(out["weight_rows"]))]
    return out
