"""The decision threshold of a binary (one-logit) model, tuned on held-out logits for a metric
or for misclassification costs, with a bootstrap interval.

With the held-out logits sorted in decreasing order, cutting after the k-th gives ``tp_k``
(positives among the top k), ``fp_k = k - tp_k``, ``fn_k = P - tp_k``; all cuts are evaluated at
once (one sort, cumulative sums). Costs ``(c_fp, c_fn)`` give the expected cost per sample
``(c_fp fp_k + c_fn fn_k) / N``; on calibrated probabilities the Bayes rule is the threshold
``p > c_fp / (c_fp + c_fn)`` (Elkan, "The Foundations of Cost-Sensitive Learning", IJCAI 2001),
and tuning on held-out logits finds it without assuming calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from acwa._internal.validation import check_choice, check_float, check_int
from acwa.metrics._bootstrap import Interval, check_bootstrap, percentile

__all__ = ["tune_threshold", "ThresholdResult", "binary_scores", "THRESHOLD_OBJECTIVES"]

THRESHOLD_OBJECTIVES = ("f1", "balanced_accuracy", "recall", "expected_cost")


@dataclass
class ThresholdResult:
    """A decision threshold for a one-logit (binary) model, from :func:`tune_threshold`.

    Predict positive when ``logit > threshold``; ``predict`` on the tuning logits reproduces
    ``score``. ``score`` is the objective at the threshold (precision for
    ``objective='recall'``, the expected cost per sample for ``'expected_cost'``, lower better).
    ``thresholds``, ``precision`` and ``recall`` are the precision-recall curve over every cut of
    the sorted logits (thresholds decreasing), so any other operating point can be read off it.
    ``threshold_interval`` / ``score_interval``: bootstrap intervals of the threshold and of the
    population score at it (``None`` with ``n_boot=0``; see :func:`tune_threshold`).
    """

    threshold: float
    score: float
    objective: str
    precision: Tensor = field(repr=False)
    recall: Tensor = field(repr=False)
    thresholds: Tensor = field(repr=False)
    threshold_interval: Interval | None = None
    score_interval: Interval | None = None

    def predict(self, logits: Tensor) -> Tensor:
        """0/1 predictions (int64) of one-logit (or two-logit) ``logits`` at the threshold."""
        return (binary_scores(logits) > self.threshold).long()


def binary_scores(logits: Tensor, name: str = "logits") -> Tensor:
    """The score of the positive class as float64 ``[N]``: a one-logit model's logit (``[N]`` or
    ``[N, 1]``), or ``z_1 - z_0`` for a two-logit model (the log-odds under the softmax)."""
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    z = logits.detach()
    if z.dim() == 2 and z.shape[1] == 2:
        z = z[:, 1] - z[:, 0]
    elif z.dim() == 2 and z.shape[1] == 1:
        z = z[:, 0]
    elif z.dim() != 1:
        raise ValueError(f"{name} must have shape [N], [N, 1] or [N, 2] (binary), got {tuple(logits.shape)}")
    if not z.is_floating_point() or not bool(torch.isfinite(z).all()):
        raise ValueError(f"{name} must be finite floating-point logits")
    return z.double()


def _binary_labels(labels: Any, n: int) -> Tensor:
    y = torch.as_tensor(labels).detach()
    if y.shape != (n,):
        raise ValueError(f"labels must hold one 0/1 entry per logit ({n}), got shape {tuple(y.shape)}")
    bad = ~((y == 0) | (y == 1))
    if bool(bad.any()):
        values = sorted(set(y[bad].tolist()))
        raise ValueError(f"labels must be 0/1 for a binary threshold, got values {values[:5]}")
    return y.long()


def _between(lower: Tensor, upper: Tensor) -> Tensor:
    """A float64 ``t`` with ``lower <= t < upper`` for each pair (``lower < upper``): the
    midpoint when it lies strictly below ``upper`` (``l/2 + u/2`` cannot overflow), else ``lower``."""
    mid = lower / 2 + upper / 2
    ok = (mid >= lower) & (mid < upper) & torch.isfinite(mid)
    return torch.where(ok, mid, lower)


def _cut_thresholds(zs: Tensor) -> Tensor:
    """Thresholds for the cuts after k = 0..N of the decreasing scores ``zs``: above the largest
    (k = 0), between neighbours, below the smallest (k = N); each reproduces its cut exactly."""
    inner = _between(zs[1:], zs[:-1])
    top = zs[0] + 1.0 if math.isfinite(float(zs[0]) + 1.0) else float(zs[0])  # z > top for none
    low = float(zs[-1])
    bottom = low - 1.0 if low - 1.0 < low else float(np.nextafter(low, -np.inf))  # z > bottom for all
    return torch.cat([torch.tensor([top], dtype=torch.float64), inner, torch.tensor([bottom], dtype=torch.float64)])


def _values(
    tp: Tensor, k: Tensor, P: int, Nn: int, objective: str, target: float, costs: tuple[float, float]
) -> Tensor:
    """The objective of each cut, oriented so that higher is better (costs negated)."""
    recall = tp / P
    precision = torch.where(k > 0, tp / k.clamp(min=1), torch.ones_like(tp))
    if objective == "f1":
        return 2 * tp / (k + P)
    if objective == "balanced_accuracy":
        return (recall + (Nn - (k - tp)) / Nn) / 2
    if objective == "expected_cost":
        return -(costs[0] * (k - tp) + costs[1] * (P - tp)) / (P + Nn)
    return torch.where(recall >= target - 1e-12, precision, torch.full_like(precision, -1.0))


def _tune(
    z: Tensor, y: Tensor, objective: str, target: float, costs: tuple[float, float]
) -> tuple[int, Tensor, Tensor, Tensor, Tensor, Tensor]:
    order = torch.argsort(z, descending=True, stable=True)
    zs, ys = z[order].cpu(), y[order].cpu().double()
    P = int(ys.sum())
    Nn = ys.numel() - P
    tp = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(ys, 0)])
    k = torch.arange(zs.numel() + 1, dtype=torch.float64)
    valid = torch.ones(zs.numel() + 1, dtype=torch.bool)  # cuts between distinct values, and both ends
    valid[1:-1] = zs[:-1] > zs[1:]
    value = _values(tp, k, max(P, 1), max(Nn, 1), objective, target, costs)
    value = torch.where(valid, value, torch.full_like(value, -math.inf))
    best = int(torch.argmax(value))  # first maximum = smallest k = highest threshold
    precision = torch.where(k > 0, tp / k.clamp(min=1), torch.ones_like(tp))
    return best, value, _cut_thresholds(zs), valid, precision, tp / max(P, 1)


def _score_at(z: Tensor, y: Tensor, t: float, objective: str, target: float, costs: tuple[float, float]) -> float:
    """The reported score of threshold ``t`` on ``(z, y)`` (precision for 'recall'; a ratio with
    an empty denominator counts as 0, precision of no positive prediction as 1)."""
    pred = z > t
    yb = y.bool()
    tp = float((pred & yb).sum())
    fp = float((pred & ~yb).sum())
    P, N = float(yb.sum()), float(y.numel())
    if objective == "recall":
        return tp / (tp + fp) if tp + fp > 0 else 1.0
    if objective == "f1":
        return 2 * tp / (tp + fp + P) if tp + fp + P > 0 else 0.0
    if objective == "balanced_accuracy":
        tpr = tp / P if P > 0 else 0.0
        tnr = (N - P - fp) / (N - P) if N > P else 0.0
        return (tpr + tnr) / 2
    return (costs[0] * fp + costs[1] * (P - tp)) / N


def _check_costs(costs: Any) -> tuple[float, float]:
    try:
        c_fp, c_fn = (float(c) for c in costs)
    except (TypeError, ValueError):
        raise ValueError(f"costs must be a pair (c_fp, c_fn) of non-negative numbers, got {costs!r}") from None
    if not (math.isfinite(c_fp) and math.isfinite(c_fn)) or c_fp < 0 or c_fn < 0 or c_fp + c_fn == 0:
        raise ValueError(f"costs (c_fp, c_fn) must be finite, non-negative and not both 0, got {costs!r}")
    return c_fp, c_fn


def tune_threshold(
    logits: Tensor,
    labels: Tensor,
    objective: str | None = None,
    target_recall: float | None = None,
    costs: Any = None,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> ThresholdResult:
    """The decision threshold of a binary model that optimises ``objective`` on held-out
    (validation or cross-fitted) logits: the binary twin of :func:`fit_class_bias`.

    With the logits sorted in decreasing order, cutting after the k-th gives ``tp_k``
    (positives among the top k), ``fp_k = k - tp_k``, ``recall = tp_k / P``,
    ``precision = tp_k / k`` and

    * ``'f1'`` (the default without ``costs``): ``2 tp_k / (k + P)``;
    * ``'balanced_accuracy'``: ``(recall + (Nn - fp_k) / Nn) / 2`` (``Nn`` negatives);
    * ``'recall'``: the best precision among the cuts whose recall reaches ``target_recall``
      (in ``(0, 1]``); ``score`` is that precision (a fraud team's "catch 90% at the best
      precision"); among equal precisions the highest threshold wins;
    * ``'expected_cost'`` (the default with ``costs=(c_fp, c_fn)``): minimises
      ``(c_fp fp_k + c_fn fn_k) / N``; ``score`` is that expected cost per sample.

    Only cuts between distinct logit values are candidates. The threshold lies between the two
    logits around the cut (their midpoint, or the lower one where the midpoint rounds onto the
    upper in float64), above the largest / below the smallest at the ends, so ``predict`` on these
    logits reproduces ``score`` exactly. Ties in the objective go to the higher threshold.

    ``n_boot`` > 0 adds bootstrap intervals at ``confidence`` (seeded by ``seed``; ``n_boot=0``
    skips them). ``threshold_interval``: the percentile interval of the threshold re-tuned on
    each resample. ``score_interval``: an interval for the population score of the chosen
    threshold. The score on the tuning data is optimistic (the threshold was chosen to maximise
    it), so the percentile interval of the chosen threshold's score over the resamples is
    shifted by the mean bootstrap optimism ``o_b = s_b(t_b) - s(t_b)`` (down for a score, up for
    a cost): the score of the threshold tuned on resample b, on that resample minus on the
    original data (Efron, "Estimating the error rate of a prediction rule", JASA 1983). It need
    not contain ``score``.
    """
    if objective is None:
        objective = "f1" if costs is None else "expected_cost"
    check_choice(objective, THRESHOLD_OBJECTIVES, "objective")
    z = binary_scores(logits)
    y = _binary_labels(labels, z.shape[0])
    P = int(y.sum())
    if P == 0 or P == y.numel():
        raise ValueError("labels must contain both classes (positives and negatives) to tune a threshold")
    target = 1.0
    if objective == "recall":
        target = check_float(
            target_recall, "target_recall", min=0.0, max=1.0, min_open=True, hint="e.g. target_recall=0.9"
        )
    elif target_recall is not None:
        raise ValueError("target_recall is only used with objective='recall'")
    c = (1.0, 1.0)
    if objective == "expected_cost":
        if costs is None:
            raise ValueError("objective='expected_cost' needs costs=(c_fp, c_fn)")
        c = _check_costs(costs)
    elif costs is not None:
        raise ValueError(f"costs are only used with objective='expected_cost', got objective={objective!r}")
    n_boot = check_int(n_boot, "n_boot", min=0, hint="0 skips the bootstrap interval; 200 is usual")
    best, value, thresholds, valid, precision, recall = _tune(z, y, objective, target, c)
    t = float(thresholds[best])
    score = -float(value[best]) if objective == "expected_cost" else float(value[best])
    t_int = s_int = None
    if n_boot > 0:
        _, confidence, seed = check_bootstrap(max(n_boot, 2), confidence, seed)
        rng = np.random.default_rng(seed)
        n = z.numel()
        ts, optimism, fixed = [], [], []
        for _ in range(n_boot):
            idx = torch.from_numpy(rng.integers(0, n, n))
            zb, yb = z[idx], y[idx]
            fixed.append(_score_at(zb, yb, t, objective, target, c))
            Pb = int(yb.sum())
            if 0 < Pb < n:
                b, vb, th, *_ = _tune(zb, yb, objective, target, c)
                tb = float(th[b])
                sb = -float(vb[b]) if objective == "expected_cost" else float(vb[b])
                ts.append(tb)
                optimism.append(sb - _score_at(z, y, tb, objective, target, c))
        t_int = percentile(ts, t, confidence)
        spread = percentile(fixed, score, confidence)
        bias = float(np.mean(optimism)) if optimism else 0.0
        s_int = Interval(score, spread.low - bias, spread.high - bias, confidence, spread.n_boot)
    keep = torch.nonzero(valid).flatten()
    return ThresholdResult(
        t, score, objective, precision[keep].float(), recall[keep].float(), thresholds[keep], t_int, s_int
    )
