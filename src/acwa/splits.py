"""Stratified index splits that follow the class imbalance.

Used wherever validation data must come from the training split (validation-driven ACWA,
AutoBalance, the bench's ``X, y`` files). :func:`multilabel_folds` is the multi-hot twin of
:func:`stratified_folds` (iterative stratification) for cross-fitting multi-label data.
"""

from __future__ import annotations

import numpy as np
import torch

from acwa._internal.validation import check_float, check_int

__all__ = ["stratified_split", "stratified_folds", "multilabel_folds"]


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


def _multi_hot_rows(labels) -> np.ndarray:
    """A multi-hot ``[N, L]`` matrix in {0, 1} (int, bool or whole floats) as a bool array."""
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(f"labels must be a non-empty multi-hot matrix [N, L], got shape {y.shape}")
    if y.dtype.kind not in "biuf" or not bool(np.all((y == 0) | (y == 1))):
        raise ValueError(
            "labels must be a multi-hot matrix holding only 0 and 1 (one column per label); "
            "threshold soft labels first (labels > 0.5)"
        )
    return y.astype(bool)


def multilabel_folds(labels, num_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Assign every row of a multi-hot matrix ``[N, L]`` to one of ``num_folds`` folds so that
    each label's positives are spread over the folds in proportion: iterative stratification
    (Sechidis, Tsoumakas and Vlahavas, "On the stratification of multi-label data", ECML PKDD
    2011), then a repair pass.

    Iterative stratification keeps, per fold ``j``, the number of rows ``c_j`` (start ``N / K``)
    and of positives of each label ``c_j^l`` (start ``n_l / K``) it still wants. While rows with
    positives remain, it takes the label ``l`` with the fewest remaining positives (ties: at
    random) and deals each of its remaining rows, in random order, to the fold wanting the most
    positives of ``l`` (ties: the fold wanting the most rows, then at random), decrementing that
    fold's wants for every label of the row. Rare labels go first, so they are spread before
    common labels fill the folds. Rows without any positive then fill the folds wanting the most
    rows.

    Repair: a label with ``n_l >= K`` positives can still miss a fold (its rows were dealt for a
    rarer label they also carry). For each such gap, rarest label first, one row of ``l`` moves
    in from the fold holding the most positives of ``l``, chosen so that the donor fold keeps
    every one of its labels, and a row without ``l`` whose labels the fold keeps moves back (the
    fold sizes stay). A gap no move can close is left (e.g. three labels with two positives each,
    on the rows {a, b}, {a, c}, {b, c}, cannot all be split over two folds), so the guarantee is
    "as far as possible"; a label with fewer than ``K`` positives is absent from some folds.

    Returns an int64 numpy array ``[N]`` of fold ids in ``[0, num_folds)``. Deterministic for a
    given ``seed``.
    """
    y = _multi_hot_rows(labels)
    num_folds = check_int(num_folds, "num_folds", hint="cross-fitting needs at least two folds")
    if num_folds < 2:
        raise ValueError(f"num_folds must be an int >= 2, got {num_folds!r}")
    n, L = y.shape
    if num_folds > n:
        raise ValueError(f"num_folds ({num_folds}) exceeds the number of samples ({n}); lower num_folds")
    rng = np.random.default_rng(seed)
    yi = y.astype(np.int64)
    want_rows = np.full(num_folds, n / num_folds)
    want = np.tile(yi.sum(0) / num_folds, (num_folds, 1))  # [K, L]
    folds = np.full(n, -1, dtype=np.int64)

    def pick(best: np.ndarray) -> int:
        return int(best[0]) if best.size == 1 else int(rng.choice(best))

    while True:
        free = folds < 0
        remaining = yi[free].sum(0)
        if not (remaining > 0).any():
            break
        rarest = np.flatnonzero(remaining == remaining[remaining > 0].min())
        label = pick(rarest)
        for r in rng.permutation(np.flatnonzero(free & y[:, label])):
            w = want[:, label]
            best = np.flatnonzero(w == w.max())
            if best.size > 1:
                best = best[want_rows[best] == want_rows[best].max()]
            j = pick(best)
            folds[r] = j
            want[j] -= yi[r]
            want_rows[j] -= 1
    for r in rng.permutation(np.flatnonzero(folds < 0)):
        j = pick(np.flatnonzero(want_rows == want_rows.max()))
        folds[r] = j
        want_rows[j] -= 1
    _repair_folds(yi, folds, num_folds, rng)
    return folds


def _repair_folds(y: np.ndarray, folds: np.ndarray, num_folds: int, rng: np.random.Generator) -> None:
    """Close the gaps of labels with >= num_folds positives in place (see multilabel_folds)."""
    totals = y.sum(0)
    counts = np.stack([y[folds == j].sum(0) for j in range(num_folds)])  # [K, L] positives per fold
    guarded = totals >= num_folds  # labels every fold should hold

    def keeps(row: int, fold_counts: np.ndarray) -> bool:  # fold_counts: that fold's counts without row
        return not bool((guarded & (y[row] > 0) & (fold_counts < 1)).any())

    for label in np.argsort(totals, kind="stable"):
        if not guarded[label]:
            continue
        for j in np.flatnonzero(counts[:, label] == 0).tolist():
            for donor in np.argsort(-counts[:, label], kind="stable"):
                if counts[donor, label] < 2:
                    break  # donors are sorted: no fold can spare a positive of this label
                rows = np.flatnonzero((folds == donor) & (y[:, label] > 0))
                ok = [int(r) for r in rng.permutation(rows) if keeps(r, counts[donor] - y[r])]
                if not ok:
                    continue
                _move(y, folds, counts, min(ok, key=lambda i: int(y[i].sum())), j)  # the row with fewest labels
                back = np.flatnonzero((folds == j) & (y[:, label] == 0))
                back_ok = [int(s) for s in rng.permutation(back) if keeps(s, counts[j] - y[s])]
                if back_ok:  # a row back to the donor keeps the fold sizes
                    _move(y, folds, counts, min(back_ok, key=lambda i: int(y[i].sum())), int(donor))
                break
            # no donor could spare a row: the gap stays (as far as possible)


def _move(y: np.ndarray, folds: np.ndarray, counts: np.ndarray, row: int, to: int) -> None:
    counts[folds[row]] -= y[row]
    counts[to] += y[row]
    folds[row] = to
