"""User data for the benchmark: ``.npz`` arrays or a ``.csv`` table.

* ``.npz`` with ``X_train, y_train, X_test, y_test``, or with ``X, y`` (then split stratified
  with the seed, ``test_fraction`` to test).
* ``.csv`` with a header row and ``target=COLUMN``: numeric columns are used as they are;
  other columns are categorical: one-hot encoded when they have <= 50 levels, integer codes
  otherwise; labels may be strings. ``drop`` leaves columns out (an identifier column, say).
  The cells ``""``, ``NA``, ``N/A``, ``NaN``, ``null`` and ``?`` (any case) are missing values:
  with ``impute='none'`` (default) they are an error naming the columns; ``'median'``
  (numeric columns) or ``'most_frequent'`` fill them with the statistic of the *training*
  split (computed after the train/test split, so nothing leaks from the test rows).

Shapes (``modality='auto'``): 2-D X is tabular; 3-D ``[N, c, L]`` with c <= 3 is a series,
other 3-D ``[N, H, W]`` an image (a channel axis is added); 4-D ``[N, c, H, W]`` an image.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from acwa.data.base import MODALITIES, BenchDataset, DataError, check_features, encode_labels
from acwa.data.table import (
    MISSING_VALUES,
    impute_column,
    is_missing,
    multi_hot,
    multilabel_split,
    parse_float,
    read_table,
)
from acwa.splits import stratified_split

__all__ = ["load_npz", "load_csv", "load_user_data", "MAX_ONE_HOT_LEVELS", "MISSING_VALUES", "IMPUTE_CHOICES"]

MAX_ONE_HOT_LEVELS = 50
IMPUTE_CHOICES = ("none", "median", "most_frequent")


def _infer_modality(X: np.ndarray, modality: str, name: str) -> tuple[np.ndarray, str]:
    if modality not in ("auto",) + MODALITIES:
        raise DataError(f"modality must be 'auto' or one of {list(MODALITIES)}, got {modality!r}")
    if X.ndim < 2:
        raise DataError(f"{name}: X must have one row per sample and at least one feature, got shape {X.shape}")
    if modality == "auto":
        if X.ndim == 2:
            modality = "tabular"
        elif X.ndim == 3:
            modality = "series" if X.shape[1] <= 3 else "image"
        elif X.ndim == 4:
            modality = "image"
        else:
            raise DataError(f"{name}: cannot use X with shape {X.shape}; give [N, features], [N, c, L] or [N, c, H, W]")
    if modality in ("tabular", "embedding") and X.ndim != 2:
        X = X.reshape(len(X), -1)
    if modality == "image" and X.ndim == 3:
        X = X[:, None]
    if modality == "series" and X.ndim == 2:
        X = X[:, None]
    if (modality == "image" and X.ndim != 4) or (modality == "series" and X.ndim != 3):
        raise DataError(f"{name}: X with shape {X.shape} does not fit modality {modality!r}")
    return X, modality


def _as_float(X: np.ndarray, key: str, name: str) -> np.ndarray:
    if X.ndim == 0:
        raise DataError(f"{name}: {key} is a single value (0-d array); save one row per sample")
    if X.dtype == object or X.dtype.kind in "USV":
        raise DataError(f"{name}: {key} must be numeric, got dtype {X.dtype}; encode it first or use a .csv file")
    if X.dtype.kind == "c":
        raise DataError(f"{name}: {key} must be real-valued, got complex dtype {X.dtype}")
    return X.astype(np.float32)


def _check_test_fraction(test_fraction: float) -> float:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.floating)):
        raise DataError(f"--test-fraction must be a number in (0, 1), got {test_fraction!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise DataError(
            f"--test-fraction must lie in (0, 1) (the share of rows held out for testing), got {test_fraction}"
        )
    return float(test_fraction)


def _split_indices(y: np.ndarray, seed: int, test_fraction: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    counts = np.unique(y, return_counts=True)[1]
    if counts.size < 2:
        raise DataError(f"{name}: the labels hold a single class; a classifier needs at least two")
    if counts.min() < 2:
        raise DataError(
            f"{name}: a class has a single sample, so a stratified train/test split is impossible; "
            "drop it or give X_train/y_train/X_test/y_test"
        )
    return stratified_split(y, val_fraction=test_fraction, seed=seed)


def _finish(
    name: str,
    X_tr: np.ndarray,
    y_tr: np.ndarray,
    X_te: np.ndarray,
    y_te: np.ndarray,
    modality: str,
    info: dict[str, Any],
) -> BenchDataset:
    for key, X, y in (("X_train", X_tr, y_tr), ("X_test", X_te, y_te)):
        if len(X) != len(y):
            raise DataError(f"{name}: {key} has {len(X)} rows but its labels have {len(y)}; lengths must match")
        if len(X) == 0:
            raise DataError(f"{name}: {key} is empty")
        check_features(X, f"{name}: {key}")
    if y_tr.ndim == 2 or y_te.ndim == 2:
        codes_tr, codes_te = y_tr, y_te
        names = info.get("label_names")
        class_names = list(names) if names else [f"label{j}" for j in range(y_tr.shape[1])]
    else:
        codes_tr, codes_te, class_names = encode_labels(y_tr, y_te, f"{name}: y_train")
    X_tr, modality = _infer_modality(X_tr, modality, name)
    X_te, _ = _infer_modality(X_te, modality, name)
    if X_tr.shape[1:] != X_te.shape[1:]:
        raise DataError(
            f"{name}: train rows have shape {X_tr.shape[1:]} but test rows {X_te.shape[1:]}; they must match"
        )
    counts = codes_tr.sum(0) if codes_tr.ndim == 2 else np.bincount(codes_tr, minlength=len(class_names))
    return BenchDataset(
        name,
        modality,
        X_tr,
        codes_tr,
        X_te,
        codes_te,
        class_names,
        long_tailed=codes_tr.ndim == 1 and bool(counts.max() > 1.5 * counts.min()),
        info=info,
    )


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if not path.is_file():
        raise DataError(f"data path is not a file: {path}")
    return path


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    name = path.name
    if not zipfile.is_zipfile(path):
        raise DataError(f"{name}: not a readable .npz archive (save it with numpy.savez)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                try:
                    member = z[k]
                    if not isinstance(member, np.ndarray):  # numpy hands back raw bytes of a non-.npy member
                        raise DataError(
                            f"{name}: member {k!r} is raw bytes, not a numpy array; save it with numpy.savez"
                        )
                    arrays[k] = member
                except ValueError as exc:
                    if "pickle" in str(exc) or "object" in str(exc):
                        raise DataError(
                            f"{name}: member {k!r} holds object arrays, which are not loaded for safety; "
                            "save plain numeric/string arrays"
                        ) from None
                    raise DataError(f"{name}: member {k!r} is not a numpy array ({exc})") from None
    except DataError:
        raise
    except Exception as exc:  # zip/npy corruption of any kind: one line, no traceback
        raise DataError(f"{name}: not a readable .npz archive ({type(exc).__name__}: {exc})") from None
    return arrays


def _labels(arrays: dict[str, np.ndarray], key: str, name: str) -> np.ndarray:
    y = arrays[key]
    if y.ndim == 0:
        raise DataError(f"{name}: {key} is a single value (0-d array); save one label per sample")
    if y.dtype.kind not in "biufUS":
        raise DataError(f"{name}: {key} must hold integer, float or string labels, got dtype {y.dtype}")
    if y.dtype.kind == "S":
        y = y.astype(str)
    if y.ndim == 2 and y.shape[1] > 1:  # multi-hot [N, L]
        if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
            raise DataError(f"{name}: a 2-D {key} is a multi-hot label matrix and must hold only 0 and 1")
        return y.astype(np.int64)
    return y.reshape(len(y), -1)[:, 0] if y.ndim > 1 and y.shape[1:] == (1,) else y.reshape(-1)


def load_npz(path: str | Path, seed: int = 0, test_fraction: float = 0.3, modality: str = "auto") -> BenchDataset:
    """Load ``X_train, y_train, X_test, y_test`` (or ``X, y``, split stratified) from an .npz."""
    path = _check_file(path)
    name = path.name
    test_fraction = _check_test_fraction(test_fraction)
    arrays = _read_npz(path)
    full = {"X_train", "y_train", "X_test", "y_test"}
    info: dict[str, Any] = {"source": str(path)}
    if full <= arrays.keys():
        X_tr = _as_float(arrays["X_train"], "X_train", name)
        X_te = _as_float(arrays["X_test"], "X_test", name)
        y_tr, y_te = _labels(arrays, "y_train", name), _labels(arrays, "y_test", name)
    elif {"X", "y"} <= arrays.keys():
        X = _as_float(arrays["X"], "X", name)
        y = _labels(arrays, "y", name)
        if len(X) != len(y):
            raise DataError(f"{name}: X has {len(X)} rows but y has {len(y)} labels; lengths must match")
        check_features(X, f"{name}: X")
        if y.ndim == 2:
            tr, te = multilabel_split(y, seed, test_fraction, name)
        else:
            encode_labels(y, None, f"{name}: y")  # label errors first (non-integer floats, NaN, one class)
            tr, te = _split_indices(y, seed, test_fraction, name)
        X_tr, y_tr, X_te, y_te = X[tr], y[tr], X[te], y[te]
        info.update(split="stratified", test_fraction=test_fraction, seed=seed)
    else:
        raise DataError(
            f"{name}: expected arrays X_train, y_train, X_test, y_test (or X, y), found {sorted(arrays) or 'none'}"
        )
    return _finish(name, X_tr, y_tr, X_te, y_te, modality, info)


def _check_columns(name: str, header: list[str], target: str | None, drop: list[str]) -> None:
    if not target:
        raise DataError(f"{name}: a .csv needs --target COLUMN naming the label column")
    if target not in header:
        raise DataError(f"{name}: no target column {target!r}; columns are: {', '.join(header)}")
    unknown = [c for c in drop if c not in header]
    if unknown:
        raise DataError(
            f"--drop: {name} has no column {', '.join(map(repr, unknown))}; columns are: {', '.join(header)}"
        )
    if target in drop:
        raise DataError(f"--drop {target}: that is the --target column; drop feature columns only")


def load_csv(
    path: str | Path,
    target: str | None,
    seed: int = 0,
    test_fraction: float = 0.3,
    drop: Sequence[str] | None = None,
    impute: str = "none",
) -> BenchDataset:
    """Load a .csv table with a header; ``target`` names the label column (split stratified).
    ``drop``: columns to leave out; ``impute``: how missing cells are filled (module docstring)."""
    path = _check_file(path)
    name = path.name
    test_fraction = _check_test_fraction(test_fraction)
    if impute not in IMPUTE_CHOICES:
        raise DataError(f"--impute must be one of {', '.join(IMPUTE_CHOICES)}, got {impute!r}")
    drop_list = [c.strip() for c in (drop or []) if c.strip()]
    header, cols = read_table(path)
    targets = [c.strip() for c in str(target).split(",")] if target else []
    columns: list[str | None] = list(targets) or [target]
    for column in columns:
        _check_columns(name, header, column, drop_list)
    target_idx = [header.index(c) for c in targets]
    if len(targets) > 1:  # multi-label: one 0/1 column per label
        y = multi_hot(name, header, cols, target_idx)
        tr, te = multilabel_split(y, seed, test_fraction, name)
    else:
        y_raw = cols[target_idx[0]]
        if any(is_missing(v) for v in y_raw):
            raise DataError(f"{name}: target column {target!r} has missing cells; drop those rows")
        y_num = [parse_float(v) for v in y_raw]
        y = np.array(y_num) if all(v is not None for v in y_num) else np.array(y_raw)
        encode_labels(y, None, f"{name}: target column {target!r}")
        tr, te = _split_indices(y, seed, test_fraction, name)
    features: list[np.ndarray] = []
    feature_names: list[str] = []
    missing_cols: list[str] = []
    notes: list[str] = []
    for j, col in enumerate(cols):
        if j in target_idx or header[j] in drop_list:
            continue
        filled = impute_column(col, tr, impute, header[j])
        if isinstance(filled, np.ndarray):
            if not np.isfinite(filled).all():
                missing_cols.append(
                    f"column {header[j]!r} has {int((~np.isfinite(filled)).sum())} empty/NaN/Inf value(s)"
                )
                continue
            features.append(filled[:, None])
            feature_names.append(header[j])
            if len(np.unique(filled)) == len(filled) > 20 and np.all(filled == np.round(filled)):
                notes.append(
                    f"column {header[j]!r} holds a distinct integer in every row (an identifier?); "
                    f"if so, leave it out with --drop {header[j]}"
                )
            continue
        if any(is_missing(v) for v in filled):
            missing_cols.append(f"column {header[j]!r} has {sum(is_missing(v) for v in filled)} missing value(s)")
            continue
        levels, codes = np.unique(np.array(filled), return_inverse=True)
        if len(levels) == len(filled) > 20:
            notes.append(
                f"column {header[j]!r} has a distinct value in every row (an identifier?); "
                f"if so, leave it out with --drop {header[j]}"
            )
        if len(levels) <= MAX_ONE_HOT_LEVELS:
            features.append(np.eye(len(levels))[codes])
            feature_names += [f"{header[j]}={lv}" for lv in levels]
        else:
            features.append(codes[:, None].astype(np.float64))
            feature_names.append(header[j])
    if missing_cols:
        raise DataError(
            f"{name}: {', '.join(missing_cols)}; impute them (--impute median|most_frequent) "
            "or drop the columns (--drop)"
        )
    if not features:
        raise DataError(f"{name}: no feature columns besides the target {target!r}")
    X = np.concatenate(features, axis=1).astype(np.float32)
    info: dict[str, Any] = {
        "source": str(path),
        "target": target,
        "label_names": targets if len(targets) > 1 else None,
        "features": feature_names,
        "split": "stratified",
        "test_fraction": test_fraction,
        "seed": seed,
        "notes": notes,
    }
    if drop_list:
        info["dropped"] = drop_list
    if impute != "none":
        info["imputed"] = impute
    return _finish(name, X[tr], y[tr], X[te], y[te], "tabular", info)


def load_user_data(
    path: str | Path,
    target: str | None = None,
    seed: int = 0,
    test_fraction: float = 0.3,
    modality: str = "auto",
    drop: Sequence[str] | None = None,
    impute: str = "none",
) -> BenchDataset:
    """Dispatch on the file suffix: ``.npz`` -> :func:`load_npz`, ``.csv`` -> :func:`load_csv`."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        if target is not None:
            raise DataError("--target applies to .csv files; an .npz gives its labels as y_train/y_test or y")
        if drop or impute != "none":
            raise DataError("--drop and --impute apply to .csv files; select and impute .npz arrays before saving")
        return load_npz(p, seed=seed, test_fraction=test_fraction, modality=modality)
    if suffix == ".csv":
        return load_csv(p, target, seed=seed, test_fraction=test_fraction, drop=drop, impute=impute)
    _check_file(p)
    raise DataError(f"{p.name}: unsupported data file type {suffix or '(none)'!r}; use .npz or .csv")
