"""Cost-aware decisions: the Bayes decision for a misclassification cost matrix, and a
cross-fitted per-class logit bias that minimises the expected cost.

With ``K[i, j]`` the cost of predicting ``j`` when the truth is ``i`` (``[C, C]``, finite,
non-negative) and calibrated probabilities ``p(i|x)``, the Bayes decision minimises the
conditional risk (Elkan, "The Foundations of Cost-Sensitive Learning", IJCAI 2001;
Duda, Hart & Stork, *Pattern Classification*, 2.2):

    d(x) = argmin_j  sum_i p(i|x) K[i, j]

For two classes and ``K = [[0, c_fp], [c_fn, 0]]`` this is ``p(1|x) > c_fp / (c_fp + c_fn)``.
The empirical expected cost of decisions ``d_n`` on labelled data is ``mean_n K[y_n, d_n]``.

When the probabilities are not well calibrated the Bayes rule is off; :func:`fit_cost_bias`
fits a per-class bias ``b`` of the logits so that the Bayes decision on ``softmax(z + b)``
minimises the empirical expected cost on held-out logits (coordinate descent over a grid of
``b_c``). As with :func:`acwa.posthoc.fit_class_bias` in ``acwa.auto``, the bias is kept only
when it helps out of fold: it is cross-fitted over stratified folds of the held-out logits
(fitted on the other folds, applied to each fold), and kept (refitted on all of them) only if
its out-of-fold cost is below the cost of the plain Bayes decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from acwa._internal.validation import check_int
from acwa.metrics._bootstrap import Interval, check_bootstrap, percentile
from acwa.splits import stratified_folds

__all__ = ["check_costs", "bayes_decision", "expected_cost", "fit_cost_bias", "CostBias"]

GRID = torch.linspace(-4.0, 4.0, 41, dtype=torch.float64)


def check_costs(costs: Any, num_classes: int | None = None, name: str = "costs") -> Tensor:
    """``costs`` as a float64 ``[C, C]`` matrix ``K[true, pred]``: finite, non-negative, with
    ``C = num_classes`` when given. Two classes also take the pair ``(c_fp, c_fn)``, read as
    ``[[0, c_fp], [c_fn, 0]]``."""
    try:
        K = torch.as_tensor(costs, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"{name} must be a [C, C] cost matrix K[true, pred] or a pair (c_fp, c_fn), got {costs!r}"
        ) from None
    if K.shape == (2,):
        if num_classes not in (None, 2):
            raise ValueError(
                f"{name}: a pair (c_fp, c_fn) is for two classes, but there are {num_classes} classes; "
                f"pass a [{num_classes}, {num_classes}] matrix"
            )
        K = torch.tensor([[0.0, float(K[0])], [float(K[1]), 0.0]], dtype=torch.float64)
    if K.dim() != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 2:
        raise ValueError(f"{name} must be a square [C, C] matrix K[true, pred] with C >= 2, got shape {tuple(K.shape)}")
    if num_classes is not None and K.shape[0] != num_classes:
        raise ValueError(
            f"{name} is [{K.shape[0]}, {K.shape[0]}] but the model has {num_classes} classes; "
            f"pass a [{num_classes}, {num_classes}] matrix"
        )
    if not bool(torch.isfinite(K).all()):
        raise ValueError(f"{name} must be finite, got {K.tolist()}")
    if bool((K < 0).any()):
        raise ValueError(f"{name} must be non-negative (a gain is a smaller cost: shift the row), got {K.tolist()}")
    return K


def _probs2d(probs: Tensor) -> Tensor:
    if not isinstance(probs, Tensor) or probs.dim() not in (1, 2):
        raise ValueError("probs must be a torch.Tensor [N, C] (softmax rows) or [N] (binary: the positive class)")
    p = probs.detach().double()
    if p.dim() == 1:
        p = torch.stack([1 - p, p], 1)
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError("probs must be finite probabilities")
    return p


def bayes_decision(probs: Tensor, costs: Any) -> Tensor:
    """``argmin_j sum_i p(i|x) K[i, j]`` (int64 ``[N]``, ties to the smaller class id) for
    probabilities ``[N, C]`` (or the binary positive-class ``[N]``) and costs ``K[true, pred]``."""
    p = _probs2d(probs)
    K = check_costs(costs, p.shape[1]).to(p.device)
    return torch.argmin(p @ K, dim=1)


def _per_sample_cost(preds: Tensor, labels: Tensor, K: Tensor) -> Tensor:
    return K[labels.long().cpu(), preds.long().cpu()]


def expected_cost(preds: Tensor, labels: Tensor, costs: Any) -> float:
    """Empirical expected cost ``mean_n K[y_n, d_n]`` of decisions ``preds`` against ``labels``."""
    if (
        not isinstance(preds, Tensor)
        or not isinstance(labels, Tensor)
        or preds.shape != labels.shape
        or preds.dim() != 1
    ):
        raise ValueError("preds and labels must be 1-D tensors of class ids of the same length")
    K = check_costs(costs)
    C = K.shape[0]
    for t, nm in ((preds, "preds"), (labels, "labels")):
        bad = (t < 0) | (t >= C)
        if bool(bad.any()):
            raise ValueError(
                f"{nm} hold class ids {sorted(set(t[bad].tolist()))[:5]} outside [0, {C}) of the cost matrix"
            )
    return float(_per_sample_cost(preds, labels, K).mean())


def _decide(z: Tensor, b: Tensor, K: Tensor) -> Tensor:
    return torch.argmin(torch.softmax(z + b, 1) @ K, 1)


def _fit(z: Tensor, y: Tensor, K: Tensor, sweeps: int) -> Tensor:
    """Coordinate descent of the empirical cost over ``b_c`` in :data:`GRID` (ties: the value
    nearest the current one)."""
    C = z.shape[1]
    b = torch.zeros(C, dtype=torch.float64)
    best = float(K[y, _decide(z, b, K)].mean())
    for _ in range(sweeps):
        changed = False
        for c in range(C):
            cur = float(b[c])
            grid: list[float] = GRID.tolist()
            for g in sorted(grid, key=lambda v: abs(v - cur)):
                trial = b.clone()
                trial[c] = g
                cost = float(K[y, _decide(z, trial, K)].mean())
                if cost < best - 1e-12:
                    best, b, changed = cost, trial, True
        if not changed:
            break
    return b - b.mean()


@dataclass
class CostBias:
    """A per-class logit bias for cost-sensitive decisions, from :func:`fit_cost_bias`.

    ``bias`` is zero when ``kept`` is False. ``raw_cost``: the expected cost of the plain Bayes
    decision on the held-out logits; ``crossfit_cost``: that of the cross-fitted bias;
    ``difference``: a paired bootstrap interval of ``crossfit_cost - raw_cost`` (``None`` with
    ``n_boot=0``).
    """

    bias: Tensor
    kept: bool
    raw_cost: float
    crossfit_cost: float
    costs: Tensor = field(repr=False)
    difference: Interval | None = None

    def predict(self, logits: Tensor) -> Tensor:
        """The Bayes decision on ``softmax(logits + bias)`` for the cost matrix."""
        z = logits.detach().double()
        return _decide(z, self.bias.to(z.device), self.costs.to(z.device))


def fit_cost_bias(
    logits: Tensor,
    labels: Tensor,
    costs: Any,
    num_folds: int = 5,
    seed: int = 0,
    sweeps: int = 3,
    n_boot: int = 200,
    confidence: float = 0.95,
) -> CostBias:
    """A per-class bias minimising the expected cost of the Bayes decision on held-out
    (validation or out-of-fold, ideally calibrated) ``logits [N, C]``, kept only when its
    cross-fitted cost beats the plain Bayes decision (module docstring)."""
    if not isinstance(logits, Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        raise ValueError(
            "logits must be floating-point [N, C]; for a one-logit binary model use tune_threshold(costs=...)"
        )
    z = logits.detach().double().cpu()
    if not bool(torch.isfinite(z).all()):
        raise ValueError("logits must be finite")
    y = torch.as_tensor(labels).detach().cpu()
    if y.shape != (z.shape[0],) or y.is_floating_point():
        raise ValueError(f"labels must be integer class ids [N] ({z.shape[0]}), got shape {tuple(y.shape)}")
    C = z.shape[1]
    bad = (y < 0) | (y >= C)
    if bool(bad.any()):
        raise ValueError(f"labels hold class ids {sorted(set(y[bad].tolist()))[:5]} outside [0, {C})")
    y = y.long()
    if int((torch.bincount(y, minlength=C) > 0).sum()) < 2:
        raise ValueError("labels hold a single class; fitting a cost bias needs held-out samples of several classes")
    K = check_costs(costs, C)
    num_folds = check_int(num_folds, "num_folds", min=2, hint="5 folds is usual")
    sweeps = check_int(sweeps, "sweeps", min=1)
    n_boot = check_int(n_boot, "n_boot", min=0, hint="0 skips the interval")
    folds = torch.from_numpy(stratified_folds(y, num_folds=num_folds, seed=seed))
    raw = K[y, _decide(z, torch.zeros(C, dtype=torch.float64), K)]
    cf = torch.empty_like(raw)
    for k in range(num_folds):
        rows = folds == k
        if not bool(rows.any()):
            continue
        fit_rows = ~rows
        b = _fit(z[fit_rows], y[fit_rows], K, sweeps) if bool(fit_rows.any()) else torch.zeros(C, dtype=torch.float64)
        cf[rows] = K[y[rows], _decide(z[rows], b, K)]
    raw_cost, cf_cost = float(raw.mean()), float(cf.mean())
    kept = cf_cost < raw_cost
    bias = _fit(z, y, K, sweeps) if kept else torch.zeros(C, dtype=torch.float64)
    diff = None
    if n_boot > 0:
        _, confidence, seed_ = check_bootstrap(max(n_boot, 2), confidence, seed)
        d = (cf - raw).numpy()
        idx = np.random.default_rng(seed_).integers(0, d.size, (n_boot, d.size))
        diff = percentile(d[idx].mean(1), float(d.mean()), confidence)
    return CostBias(bias.float(), kept, raw_cost, cf_cost, K, diff)
