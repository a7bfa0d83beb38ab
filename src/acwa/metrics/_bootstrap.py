"""Percentile bootstrap intervals for a score, and paired intervals for the difference of two
methods' scores on the same test samples (Efron & Tibshirani, *An Introduction to the
Bootstrap*, 1993, ch. 13 and 16).

One draw resamples the ``N`` test rows with replacement (``rng.integers(0, N, N)``, numpy's
PCG64 seeded with ``seed``) and recomputes the score; the interval at ``confidence = 1 - a`` is
the ``a/2`` and ``1 - a/2`` quantiles of the ``n_boot`` draws (``numpy.quantile``, linear).

Paired (Koehn, "Statistical Significance Tests for Machine Translation Evaluation", EMNLP 2004):
both methods are scored on the *same* resampled indices of each draw, and the interval is on
``score(a) - score(b)``, not on each score, so the sampling noise they share cancels. Over
several seeds (one test set and one pair of predictions per seed) each draw resamples every
seed's test set, pairs the two methods within each seed, and averages the differences over the
seeds: the interval is for the mean difference over seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Interval", "bootstrap_interval", "paired_bootstrap"]


@dataclass(frozen=True)
class Interval:
    """A point ``estimate`` with its percentile bootstrap interval ``[low, high]``."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_boot: int

    def contains(self, value: float) -> bool:
        """``low <= value <= high``."""
        return self.low <= value <= self.high

    def excludes_zero(self) -> bool:
        """Whether the interval lies strictly on one side of 0 (a difference beyond the noise)."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def check_bootstrap(n_boot: Any, confidence: Any, seed: Any) -> tuple[int, float, int]:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ValueError(f"n_boot must be an int >= 2 (1000 is usual), got {n_boot!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    return int(n_boot), float(confidence), int(seed)


def percentile(draws: Sequence[float] | np.ndarray, estimate: float, confidence: float) -> Interval:
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    a = 1 - confidence
    if d.size == 0:
        return Interval(float(estimate), float("nan"), float("nan"), confidence, 0)
    lo, hi = np.quantile(d, [a / 2, 1 - a / 2])
    return Interval(float(estimate), float(lo), float(hi), confidence, int(d.size))


def _length(arrays: Sequence[Any]) -> int:
    if not arrays:
        raise ValueError("pass at least one array of per-sample values to resample")
    n = len(arrays[0])
    if n == 0 or any(len(x) != n for x in arrays):
        raise ValueError(f"every array must have the same non-zero length, got {[len(x) for x in arrays]}")
    return n


def bootstrap_interval(
    score: Callable[..., float],
    *arrays: Any,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``score(*arrays)`` (module docstring): the arrays
    (numpy arrays or torch tensors, same length ``N``) are resampled by the same row indices."""
    n_boot, confidence, seed = check_bootstrap(n_boot, confidence, seed)
    n = _length(arrays)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        draws.append(float(score(*(x[idx] for x in arrays))))
    return percentile(draws, float(score(*arrays)), confidence)


def _per_seed(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def paired_bootstrap(
    score: Callable[[Any, Any], float],
    a: Any,
    b: Any,
    labels: Any,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Paired percentile interval of ``score(a, labels) - score(b, labels)``.

    ``a``, ``b`` (two methods' outputs on the same test samples) and ``labels`` are arrays or
    tensors, or lists of them, one entry per training seed; the estimate and every draw are the
    mean over seeds of the within-seed difference (module docstring). ``score(outputs, labels)``
    returns a float (higher or lower better: the interval is on the signed difference).
    """
    n_boot, confidence, seed = check_bootstrap(n_boot, confidence, seed)
    A, B, Y = _per_seed(a), _per_seed(b), _per_seed(labels)
    if not len(A) == len(B) == len(Y):
        raise ValueError(f"a, b and labels must hold the same number of seeds, got {len(A)}, {len(B)}, {len(Y)}")
    sizes = [_length([x, z, y]) for x, z, y in zip(A, B, Y)]
    rng = np.random.default_rng(seed)
    estimate = float(np.mean([score(x, y) - score(z, y) for x, z, y in zip(A, B, Y)]))
    draws = np.empty(n_boot)
    for d in range(n_boot):
        diffs = []
        for x, z, y, n in zip(A, B, Y, sizes):
            idx = rng.integers(0, n, n)
            diffs.append(score(x[idx], y[idx]) - score(z[idx], y[idx]))
        draws[d] = np.mean(diffs)
    return percentile(draws, estimate, confidence)
