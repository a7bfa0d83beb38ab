"""User data for the benchmark: ``.npz`` arrays or a ``.csv`` table.

* ``.npz`` with ``X_train, y_train, X_test, y_test``, or with ``X, y`` (then split stratified
  with the seed, ``test_fraction`` to test).
* ``.csv`` with a header row and ``target=COLUMN``: numeric columns are used as they are;
  other columns are categorical: one-hot encoded when they have <= 50 levels, integer codes
  otherwise; labels may be strings. Empty or non-finite numeric cells are an error (impute
  them first).

Shapes (``modality='auto'``): 2-D X is tabular; 3-D ``[N, c, L]`` with c <= 3 is a series,
other 3-D ``[N, H, W]`` an image (a channel axis is added); 4-D ``[N, c, H, W]`` an image.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from ..splits import stratified_split
from .base import MODALITIES, BenchDataset, DataError, check_features, encode_labels

__all__ = ["load_npz", "load_csv", "load_user_data", "MAX_ONE_HOT_LEVELS"]

MAX_ONE_HOT_LEVELS = 50


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
    if X.dtype == object or X.dtype.kind in "USV":
        raise DataError(f"{name}: {key} must be numeric, got dtype {X.dtype}; encode it first or use a .csv file")
    if X.dtype.kind == "c":
        raise DataError(f"{name}: {key} must be real-valued, got complex dtype {X.dtype}")
    return X.astype(np.float32)


def _split(X, y, seed: int, test_fraction: float, name: str):
    counts = np.unique(y, return_counts=True)[1]
    if counts.size < 2:
        raise DataError(f"{name}: the labels hold a single class; a classifier needs at least two")
    if counts.min() < 2:
        raise DataError(
            f"{name}: a class has a single sample, so a stratified train/test split is impossible; "
            "drop it or give X_train/y_train/X_test/y_test"
        )
    tr, te = stratified_split(y, val_fraction=test_fraction, seed=seed)
    return X[tr], y[tr], X[te], y[te]


def _finish(name, X_tr, y_tr, X_te, y_te, modality, info) -> BenchDataset:
    for key, X, y in (("X_train", X_tr, y_tr), ("X_test", X_te, y_te)):
        if len(X) != len(y):
            raise DataError(f"{name}: {key} has {len(X)} rows but its labels have {len(y)}; lengths must match")
        if len(X) == 0:
            raise DataError(f"{name}: {key} is empty")
        check_features(X, f"{name}: {key}")
    codes_tr, codes_te, class_names = encode_labels(y_tr, y_te, f"{name}: y_train")
    X_tr, modality = _infer_modality(X_tr, modality, name)
    X_te, _ = _infer_modality(X_te, modality, name)
    if X_tr.shape[1:] != X_te.shape[1:]:
        raise DataError(
            f"{name}: train rows have shape {X_tr.shape[1:]} but test rows {X_te.shape[1:]}; they must match"
        )
    counts = np.bincount(codes_tr, minlength=len(class_names))
    return BenchDataset(
        name,
        modality,
        X_tr,
        codes_tr,
        X_te,
        codes_te,
        class_names,
        long_tailed=bool(counts.max() > 1.5 * counts.min()),
        info=info,
    )


def _check_file(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if not path.is_file():
        raise DataError(f"data path is not a file: {path}")
    return path


def load_npz(path, seed: int = 0, test_fraction: float = 0.3, modality: str = "auto") -> BenchDataset:
    """Load ``X_train, y_train, X_test, y_test`` (or ``X, y``, split stratified) from an .npz."""
    path = _check_file(path)
    name = path.name
    if not zipfile.is_zipfile(path):
        raise DataError(f"{name}: not a readable .npz archive (save it with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{name}: not a readable .npz archive ({exc})") from None
    except ValueError as exc:
        raise DataError(
            f"{name}: holds object arrays, which are not loaded for safety; save plain numeric/string arrays ({exc})"
        ) from None
    full = {"X_train", "y_train", "X_test", "y_test"}
    info = {"source": str(path)}
    if full <= arrays.keys():
        X_tr = _as_float(arrays["X_train"], "X_train", name)
        X_te = _as_float(arrays["X_test"], "X_test", name)
        y_tr, y_te = arrays["y_train"].reshape(-1), arrays["y_test"].reshape(-1)
    elif {"X", "y"} <= arrays.keys():
        X = _as_float(arrays["X"], "X", name)
        y = arrays["y"].reshape(-1)
        if len(X) != len(y):
            raise DataError(f"{name}: X has {len(X)} rows but y has {len(y)} labels; lengths must match")
        check_features(X, f"{name}: X")
        X_tr, y_tr, X_te, y_te = _split(X, y, seed, test_fraction, name)
        info.update(split="stratified", test_fraction=test_fraction, seed=seed)
    else:
        raise DataError(
            f"{name}: expected arrays X_train, y_train, X_test, y_test (or X, y), found {sorted(arrays) or 'none'}"
        )
    return _finish(name, X_tr, y_tr, X_te, y_te, modality, info)


def _parse_float(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def load_csv(path, target: str | None, seed: int = 0, test_fraction: float = 0.3) -> BenchDataset:
    """Load a .csv table with a header; ``target`` names the label column (split stratified)."""
    path = _check_file(path)
    name = path.name
    if not target:
        raise DataError(f"{name}: a .csv needs --target COLUMN naming the label column")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise DataError(f"{name}: not a UTF-8 text csv file") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise DataError(f"{name}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise DataError(f"{name}: no target column {target!r}; columns are: {', '.join(header)}")
    body = rows[1:]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if bad:
        raise DataError(f"{name}: line {bad[0]} has a different number of fields than the header ({len(header)})")
    cols = list(zip(*body))
    t = header.index(target)
    y_raw = [v.strip() for v in cols[t]]
    if any(v == "" for v in y_raw):
        raise DataError(f"{name}: target column {target!r} has empty cells; drop those rows")
    y_num = [_parse_float(v) for v in y_raw]
    y = np.array(y_num) if all(v is not None for v in y_num) else np.array(y_raw)
    features: list[np.ndarray] = []
    feature_names: list[str] = []
    for j, col in enumerate(cols):
        if j == t:
            continue
        vals = [v.strip() for v in col]
        nums = [_parse_float(v) if v != "" else float("nan") for v in vals]
        if all(v is not None for v in nums):
            arr = np.array(nums, dtype=np.float64)
            if not np.isfinite(arr).all():
                n_bad = int((~np.isfinite(arr)).sum())
                raise DataError(f"{name}: column {header[j]!r} has {n_bad} empty/NaN/Inf value(s); impute or drop them")
            features.append(arr[:, None])
            feature_names.append(header[j])
        else:
            levels, codes = np.unique(np.array(vals), return_inverse=True)
            if len(levels) <= MAX_ONE_HOT_LEVELS:
                features.append(np.eye(len(levels))[codes])
                feature_names += [f"{header[j]}={lv}" for lv in levels]
            else:
                features.append(codes[:, None].astype(np.float64))
                feature_names.append(header[j])
    if not features:
        raise DataError(f"{name}: no feature columns besides the target {target!r}")
    X = np.concatenate(features, axis=1).astype(np.float32)
    X_tr, y_tr, X_te, y_te = _split(X, y, seed, test_fraction, name)
    info = {
        "source": str(path),
        "target": target,
        "features": feature_names,
        "split": "stratified",
        "test_fraction": test_fraction,
        "seed": seed,
    }
    return _finish(name, X_tr, y_tr, X_te, y_te, "tabular", info)


def load_user_data(
    path, target: str | None = None, seed: int = 0, test_fraction: float = 0.3, modality: str = "auto"
) -> BenchDataset:
    """Dispatch on the file suffix: ``.npz`` -> :func:`load_npz`, ``.csv`` -> :func:`load_csv`."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return load_npz(p, seed=seed, test_fraction=test_fraction, modality=modality)
    if suffix == ".csv":
        return load_csv(p, target, seed=seed, test_fraction=test_fraction)
    _check_file(p)
    raise DataError(f"{p.name}: unsupported data file type {suffix or '(none)'!r}; use .npz or .csv")
