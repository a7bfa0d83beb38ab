"""Long-tailed training sets from (roughly) balanced ones: the standard "LT-rho" protocol.

    n_c = max(1, floor(n_max * rho ** (-c / (C - 1)))),   c = 0 .. C-1

(Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019; Cao et al.,
"LDAM", NeurIPS 2019). Class 0 keeps ``n_max`` samples, class C-1 keeps ``n_max / rho``; the
imbalance ratio n_0 / n_{C-1} is rho (up to rounding). Apply it to the training split only and
keep the test split balanced, so that test accuracy equals balanced accuracy.
"""

from __future__ import annotations

import numpy as np

from acwa.splits import stratified_split

__all__ = ["long_tail_counts", "make_long_tailed", "split_then_long_tail"]


def _check_rho(rho: float) -> float:
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.integer, np.floating)) or not np.isfinite(rho):
        raise ValueError(f"rho must be a finite number >= 1 (imbalance ratio n_max / n_min), got {rho!r}")
    if rho < 1:
        raise ValueError(f"rho must be >= 1 (imbalance ratio n_max / n_min; 1 keeps the data balanced), got {rho}")
    return float(rho)


def long_tail_counts(n_max: int, num_classes: int, rho: float) -> np.ndarray:
    """Per-class sizes of an LT-rho profile: ``n_c = max(1, floor(n_max * rho**(-c/(C-1))))``.

    >>> long_tail_counts(6000, 10, 100).tolist()
    [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]
    """
    rho = _check_rho(rho)
    if isinstance(n_max, bool) or int(n_max) != n_max or n_max < 1:
        raise ValueError(f"n_max must be an int >= 1, got {n_max!r}")
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    c = np.arange(num_classes, dtype=np.float64)
    # the small epsilon keeps exact powers (e.g. 6000 * 100**-1 = 60) from flooring to 59
    counts = np.floor(n_max * rho ** (-c / (num_classes - 1)) + 1e-9).astype(np.int64)
    return np.maximum(counts, 1)


def make_long_tailed(
    X,
    y,
    rho: float,
    seed: int = 0,
    n_max: int | None = None,
    return_indices: bool = False,
) -> tuple[np.ndarray, ...]:
    """Subsample ``(X, y)`` to an LT-rho profile (see :func:`long_tail_counts`).

    Classes are ranked by label order (the smallest label keeps the most samples), as in the
    CIFAR-LT protocol. ``n_max`` defaults to the size of the largest class; a class with fewer
    samples than its target keeps all it has. The kept samples of each class are drawn at random
    with ``seed`` and returned in their original order, so the result is deterministic.

    Args:
        X: array-like [N, ...] (numpy array or torch tensor).
        y: integer labels [N] in ``[0, C)``.
        rho: imbalance ratio n_max / n_min, >= 1.
        seed: random seed for which samples are kept.
        n_max: size of the head class (default: the largest class count).
        return_indices: also return the kept indices into ``X``.

    Returns:
        ``(X_lt, y_lt)``, or ``(X_lt, y_lt, indices)`` with ``return_indices=True``.
    """
    rho = _check_rho(rho)
    X_arr = X.detach().cpu().numpy() if hasattr(X, "detach") else np.asarray(X)
    y_arr = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
    if y_arr.ndim != 1:
        raise ValueError(f"y must be 1-D class labels, got shape {y_arr.shape}")
    if len(X_arr) != len(y_arr):
        raise ValueError(f"X and y must have the same length, got {len(X_arr)} and {len(y_arr)}")
    if y_arr.size == 0 or not np.issubdtype(y_arr.dtype, np.integer):
        raise ValueError(
            f"y must be non-empty integer labels in [0, C), got dtype {y_arr.dtype} and {y_arr.size} samples"
        )
    if y_arr.min() < 0:
        raise ValueError(f"y must hold labels in [0, C), found {int(y_arr.min())}")
    num_classes = int(y_arr.max()) + 1
    if num_classes < 2:
        raise ValueError("y must contain at least two classes to build a long-tailed set")
    available = np.bincount(y_arr, minlength=num_classes)
    if n_max is None:
        n_max = int(available.max())
    target = long_tail_counts(n_max, num_classes, rho)
    rng = np.random.default_rng(seed)
    keep = []
    for c in range(num_classes):
        idx = np.flatnonzero(y_arr == c)
        k = min(int(target[c]), idx.size)
        if k > 0:
            keep.append(rng.choice(idx, size=k, replace=False))
    indices = np.sort(np.concatenate(keep)).astype(np.int64)
    out = (X_arr[indices], y_arr[indices])
    return out + (indices,) if return_indices else out


def split_then_long_tail(
    X: np.ndarray, y: np.ndarray, rho: float | None, seed: int, test_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)``: a stratified ``test_fraction`` split with ``seed``,
    then (when ``rho > 1``) the LT-rho profile applied to the training split only."""
    tr, te = stratified_split(y, val_fraction=test_fraction, seed=seed)
    X_tr, y_tr = X[tr], y[tr]
    if rho is not None and rho > 1:
        X_tr, y_tr = make_long_tailed(X_tr, y_tr, rho, seed=seed)
    return X_tr, y_tr, X[te], y[te]
