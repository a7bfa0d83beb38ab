"""The container every benchmark dataset is returned in, and the checks it passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BenchDataset", "MODALITIES", "DataError", "encode_labels", "check_features"]

MODALITIES = ("image", "series", "tabular", "embedding")


class DataError(ValueError):
    """A dataset cannot be used as given (the message names the problem and the fix)."""


@dataclass
class BenchDataset:
    """A train/test split ready for the benchmark.

    Shapes: images ``[N, channels, H, W]``, series ``[N, channels, length]``, tabular and
    embeddings ``[N, features]``; features float32, labels int64 in ``[0, C)``, or multi-hot
    int64 ``[N, L]`` of 0/1 for multi-label data (``class_names`` then names the L labels).
    ``long_tailed`` says whether the training split follows a long-tailed profile (then
    many/medium/few-shot accuracies are reported).
    """

    name: str
    modality: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    long_tailed: bool = True
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise DataError(f"modality must be one of {list(MODALITIES)}, got {self.modality!r}")
        self.X_train = np.ascontiguousarray(self.X_train, dtype=np.float32)
        self.X_test = np.ascontiguousarray(self.X_test, dtype=np.float32)
        self.y_train = np.asarray(self.y_train, dtype=np.int64)
        self.y_test = np.asarray(self.y_test, dtype=np.int64)
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if len(X) != len(y):
                raise DataError(f"X_{split} has {len(X)} rows but y_{split} has {len(y)} labels; they must match")
            check_features(X, f"X_{split}")
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise DataError(
                f"X_train rows have shape {self.X_train.shape[1:]} but X_test rows {self.X_test.shape[1:]}; "
                "they must match"
            )
        if self.y_train.ndim == 2 or self.y_test.ndim == 2:
            self._check_multilabel()
            return
        C = self.num_classes
        if C < 2 or len(np.unique(self.y_train)) < 2:
            raise DataError(f"{self.name}: the training labels hold a single class; a classifier needs at least two")
        if self.y_train.min() < 0 or self.y_test.min() < 0 or self.y_test.max() >= C:
            raise DataError(f"{self.name}: labels must lie in [0, {C})")

    def _check_multilabel(self) -> None:
        L = self.num_classes
        for split in ("train", "test"):
            y = getattr(self, f"y_{split}")
            if y.ndim != 2 or y.shape[1] != L:
                raise DataError(f"{self.name}: multi-hot y_{split} must have shape [N, {L}] (one column per label)")
            if y.size and not np.isin(y, (0, 1)).all():
                raise DataError(f"{self.name}: multi-hot y_{split} must hold only 0 and 1")
        empty = [self.class_names[c] for c in np.flatnonzero(self.y_train.sum(0) == 0)]
        if empty:
            raise DataError(
                f"{self.name}: label(s) {', '.join(empty)} have no positive in the training split; drop them"
            )

    @property
    def task(self) -> str:
        """``'multilabel'`` (multi-hot ``y [N, L]``), ``'binary'`` (two classes) or ``'multiclass'``."""
        if self.y_train.ndim == 2:
            return "multilabel"
        return "binary" if self.num_classes == 2 else "multiclass"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.X_train.shape[1:])

    @property
    def train_counts(self) -> np.ndarray:
        """Samples per class (multi-label: positives per label)."""
        if self.y_train.ndim == 2:
            return self.y_train.sum(0)
        return np.bincount(self.y_train, minlength=self.num_classes)

    @property
    def test_counts(self) -> np.ndarray:
        if self.y_test.ndim == 2:
            return self.y_test.sum(0)
        return np.bincount(self.y_test, minlength=self.num_classes)

    @property
    def imbalance_ratio(self) -> float:
        counts = self.train_counts
        return float(counts.max() / max(counts[counts > 0].min(), 1))

    def subset(self, max_train: int | None, max_test: int | None, seed: int = 0) -> BenchDataset:
        """A stratified random subset of at most ``max_train`` / ``max_test`` rows (every class
        keeps at least one sample; multi-label rows: a random subset), for quick runs."""
        rng = np.random.default_rng(seed)

        def pick(y: np.ndarray, limit: int | None) -> np.ndarray:
            if limit is None or limit >= len(y):
                return np.arange(len(y))
            if y.ndim == 2:
                return np.sort(rng.choice(len(y), size=limit, replace=False))
            keep = []
            for c in np.unique(y):
                idx = np.flatnonzero(y == c)
                k = max(1, int(round(limit * idx.size / len(y))))
                keep.append(rng.choice(idx, size=min(k, idx.size), replace=False))
            return np.sort(np.concatenate(keep))

        tr, te = pick(self.y_train, max_train), pick(self.y_test, max_test)
        return BenchDataset(
            self.name,
            self.modality,
            self.X_train[tr],
            self.y_train[tr],
            self.X_test[te],
            self.y_test[te],
            self.class_names,
            self.long_tailed,
            dict(self.info, max_train=max_train, max_test=max_test),
        )

    def describe(self) -> str:
        return (
            f"{self.name}: {self.modality}, {self.num_classes} classes, train {len(self.y_train)} "
            f"(counts {self.train_counts.tolist()}, IR {self.imbalance_ratio:.1f}), test {len(self.y_test)}, "
            f"input {self.input_shape}"
        )


def check_features(X: np.ndarray, name: str) -> None:
    """Features must be finite: NaN/Inf make every method fail silently."""
    if X.size and not np.isfinite(X).all():
        bad = ~np.isfinite(X.reshape(len(X), -1))
        rows = int(bad.any(axis=1).sum())
        raise DataError(f"{name} has NaN/Inf values in {rows} row(s); impute or drop them before benchmarking")


def encode_labels(y_train, y_test=None, name: str = "labels"):
    """Map arbitrary labels (ints or strings) to ``0..C-1`` in sorted order.

    Returns ``(y_train_codes, y_test_codes_or_None, class_names)``. Test labels absent from the
    training labels are an error.
    """
    y_train = np.asarray(y_train)
    if y_train.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {y_train.shape}")
    if y_train.dtype.kind == "f":
        if not np.isfinite(y_train).all():
            raise DataError(f"{name} contains NaN/Inf labels; drop those rows")
        if not np.all(y_train == np.round(y_train)):
            raise DataError(f"{name} holds non-integer floats; a classifier needs discrete labels")
        y_train = y_train.astype(np.int64)
    if y_train.size == 0:
        raise DataError(f"{name} is empty (no labels); the file needs at least one sample of two classes")
    classes = np.unique(y_train)
    if classes.size < 2:
        raise DataError(f"{name} holds a single class ({classes[0].item()!r} only); a classifier needs at least two")
    codes = np.searchsorted(classes, y_train).astype(np.int64)
    test_codes: np.ndarray | None = None
    if y_test is not None:
        y_test = np.asarray(y_test)
        if y_test.dtype.kind == "f":
            y_test = y_test.astype(np.int64)
        if y_test.dtype.kind != classes.dtype.kind and not (y_test.dtype.kind in "iu" and classes.dtype.kind in "iu"):
            y_test = y_test.astype(classes.dtype)
        unknown = np.setdiff1d(np.unique(y_test), classes)
        if unknown.size:
            raise DataError(
                f"test labels {unknown[:5].tolist()} never occur in the training labels; "
                "every test class needs training data"
            )
        test_codes = np.searchsorted(classes, y_test).astype(np.int64)
    return codes, test_codes, [str(c) for c in classes.tolist()]
