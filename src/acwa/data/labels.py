"""Only the labels of a user file, for ``acwa weights`` (no features are parsed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acwa.data.base import DataError, encode_labels
from acwa.data.table import is_missing, parse_float, read_table
from acwa.data.user import _check_file, _labels, _read_npz

__all__ = ["load_labels"]


def load_labels(path: str | Path, target: str | None = None) -> tuple[np.ndarray, list[str]]:
    """``(codes int64 [N], class_names)`` of a ``.csv`` target column or of an ``.npz``'s
    ``y_train`` (else ``y``); codes index the sorted class names."""
    p = _check_file(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        header, cols = read_table(p)
        if not target:
            raise DataError(f"{p.name}: a .csv needs --target COLUMN naming the label column")
        if target not in header:
            raise DataError(f"{p.name}: no target column {target!r}; columns are: {', '.join(header)}")
        raw = cols[header.index(target)]
        if any(is_missing(v) for v in raw):
            raise DataError(f"{p.name}: target column {target!r} has missing cells; drop those rows")
        nums = [parse_float(v) for v in raw]
        y = np.array(nums) if all(v is not None for v in nums) else np.array(raw)
    elif suffix == ".npz":
        if target is not None:
            raise DataError("--target applies to .csv files; an .npz gives its labels as y_train or y")
        arrays = _read_npz(p)
        key = "y_train" if "y_train" in arrays else "y" if "y" in arrays else None
        if key is None:
            raise DataError(f"{p.name}: expected an array y_train or y, found {sorted(arrays) or 'none'}")
        y = _labels(arrays, key, p.name)
    else:
        raise DataError(f"{p.name}: unsupported data file type {suffix or '(none)'!r}; use .npz or .csv")
    codes, _, names = encode_labels(y, None, f"{p.name}: labels")
    return codes, names
