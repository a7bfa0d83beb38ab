"""Reading a ``.csv`` table for the benchmark: cells, missing values, imputation, multi-hot targets."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from acwa.data.base import DataError

__all__ = [
    "MISSING_VALUES",
    "parse_float",
    "is_missing",
    "read_table",
    "impute_column",
    "multi_hot",
    "multilabel_split",
]

MISSING_VALUES = ("", "na", "n/a", "nan", "null", "?")  # compared lower-case, after stripping


def parse_float(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def is_missing(v: str) -> bool:
    return v.lower() in MISSING_VALUES


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    name = path.name
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise DataError(f"{name}: not a UTF-8 text csv file") from None
    except csv.Error as exc:
        raise DataError(f"{name}: not a readable csv file ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise DataError(f"{name}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if bad:
        raise DataError(f"{name}: line {bad[0]} has a different number of fields than the header ({len(header)})")
    return header, [[v.strip() for v in col] for col in zip(*body)]


def impute_column(col: list[str], train: np.ndarray, how: str, column: str) -> list[str] | np.ndarray:
    """Column with missing cells filled from the training rows (numeric -> float array)."""
    missing = np.array([is_missing(v) for v in col])
    nums = [None if m else parse_float(v) for v, m in zip(col, missing)]
    numeric = all(v is not None for v, m in zip(nums, missing) if not m) and not missing.all()
    if numeric:
        arr = np.array([np.nan if v is None else v for v in nums], dtype=np.float64)
        if missing.any() and how != "none":
            known = arr[train][~missing[train]]
            if known.size == 0:
                raise DataError(f"--impute: column {column!r} has no value in the training rows; --drop {column}")
            if how == "median":
                fill = float(np.median(known))
            else:
                values, counts = np.unique(known, return_counts=True)
                fill = float(values[np.argmax(counts)])
            arr[missing] = fill
        return arr
    if missing.any() and how == "median":
        raise DataError(
            f"--impute median: column {column!r} is not numeric; use --impute most_frequent or --drop {column}"
        )
    if missing.any() and how == "most_frequent":
        known = [v for v, m, t in zip(col, missing, np.isin(np.arange(len(col)), train)) if t and not m]
        if not known:
            raise DataError(f"--impute: column {column!r} has no value in the training rows; --drop {column}")
        levels, counts = np.unique(np.array(known), return_counts=True)
        mode = str(levels[np.argmax(counts)])
        return [mode if m else v for v, m in zip(col, missing)]
    return col


def multi_hot(name: str, header: list[str], cols: list[list[str]], idx: list[int]) -> np.ndarray:
    out = np.zeros((len(cols[0]), len(idx)), dtype=np.int64)
    for k, j in enumerate(idx):
        values = [parse_float(v) for v in cols[j]]
        if any(v not in (0.0, 1.0) for v in values):
            raise DataError(f"{name}: --target column {header[j]!r} must hold 0/1 (one multi-hot column per label)")
        out[:, k] = np.array(values, dtype=np.float64).astype(np.int64)
    return out


def multilabel_split(y: np.ndarray, seed: int, test_fraction: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of multi-hot rows with a positive of every label on both sides."""
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * len(y))))
    for _ in range(100):
        perm = rng.permutation(len(y))
        te, tr = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        if y[tr].sum(0).min() > 0 and y[te].sum(0).min() > 0:
            return tr, te
    rare = int(np.argmin(y.sum(0)))
    raise DataError(f"{name}: label {rare} has too few positives ({int(y[:, rare].sum())}) for a train/test split")
