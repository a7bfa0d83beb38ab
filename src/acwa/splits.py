"""Stratified index splits that follow the class imbalance.

Used wherever validation data must come from the training split (validation-driven ACWA,
AutoBalance, the bench's ``X, y`` files).
"""

from __future__ import annotations

import numpy as np
import torch

from ._validation import check_float, check_int

__all__ = ["stratified_split", "stratified_folds"]


def _integer_labels(y: np.ndarray) -> np.ndarray:
    """Discrete class labels: integers, bools or strings; float labels are rejected unless whole
    numbers (never truncated)."""
    if y.dtype.kind in "US":  # class names: only equality matters for stratification
        return y
    if y.dtype.kind == "f":
        if not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
            raise ValueError("labels must be integer class ids, got non-integer floats; encode the classes as 0..C-1")
        return y.astype(np.int64)
    if y.dtype.kind not in "iub":
        raise ValueError(f"labels must be integer class ids, got dtype {y.dtype}")
    return y


def stratified_split(
    labels, val_fraction: float = 0.2, min_per_class: int = 1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into ``(train_idx, val_idx)``, per class, in proportion.

    Each class c with n_c samples puts ``max(min_per_class, round(val_fraction * n_c))`` samples
    in validation, while keeping at least one in training; so the validation split follows the
    training imbalance and no class is missing from either side. Classes with a single sample
    cannot be split: that raises ``ValueError``.

    Returns sorted int64 numpy arrays. Deterministic for a given ``seed``.
    """
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {y.shape}")
    y = _integer_labels(y)
    val_fraction = check_float(val_fraction, "val_fraction", min=0.0, max=1.0, min_open=True, max_open=True)
    min_per_class = check_int(min_per_class, "min_per_class", min=1)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if idx.size < 2:
            raise ValueError(
                f"class {c} has {idx.size} sample; a stratified split needs >= 2 per class "
                "(merge or drop the class, or collect more data)"
            )
        n_val = min(max(min_per_class, int(round(val_fraction * idx.size))), idx.size - 1)
        perm = rng.permutation(idx)
        val.append(perm[:n_val])
        train.append(perm[n_val:])
    return np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(val)).astype(np.int64)


def stratified_folds(labels, num_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Assign every sample to one of ``num_folds`` folds, stratified: the classes, in random
    order and each shuffled, are dealt round-robin, so per class and overall the fold sizes
    differ by at most one. A class with fewer than ``num_folds`` samples is absent from some folds (and, in
    cross-fitting, from the training part of the fold that holds it out).

    Returns an int64 numpy array ``[N]`` of fold ids in ``[0, num_folds)``. Deterministic for a
    given ``seed``.
    """
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {y.shape}")
    y = _integer_labels(y)
    num_folds = check_int(num_folds, "num_folds", hint="cross-fitting needs at least two folds")
    if num_folds < 2:
        raise ValueError(f"num_folds must be an int >= 2, got {num_folds!r}")
    if num_folds > y.size:
        raise ValueError(f"num_folds ({num_folds}) exceeds the number of samples ({y.size}); lower num_folds")
    rng = np.random.default_rng(seed)
    # classes one after another, each shuffled, dealt round-robin: per class and overall, fold
    # sizes differ by at most one
    order = np.concatenate([rng.permutation(np.flatnonzero(y == c)) for c in rng.permutation(np.unique(y))])
    folds = np.empty(y.size, dtype=np.int64)
    folds[order] = np.arange(y.size) % num_folds
    return folds
