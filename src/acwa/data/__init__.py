"""Benchmark datasets (offline sources) and long-tail builders.

>>> from acwa.data import load_dataset, make_long_tailed
>>> ds = load_dataset("digits-lt", rho=100, seed=0)   # LT-100 train, balanced test
>>> ds.train_counts.tolist()[:3]
[90, 54, 32]

Built-in names: :func:`list_datasets`. User files: :func:`load_user_data` (``.npz`` or
``.csv``). Every loader returns a :class:`BenchDataset`.
"""

from .base import MODALITIES, BenchDataset, DataError, encode_labels
from .builtin import (
    DATASETS,
    cache_dir,
    cached_embeddings,
    dataset_available,
    embed_texts,
    list_datasets,
    load_dataset,
    read_rotten_tomatoes,
)
from .longtail import long_tail_counts, make_long_tailed
from .user import load_csv, load_npz, load_user_data

__all__ = [
    "BenchDataset",
    "DataError",
    "MODALITIES",
    "DATASETS",
    "list_datasets",
    "load_dataset",
    "dataset_available",
    "embed_texts",
    "cached_embeddings",
    "cache_dir",
    "read_rotten_tomatoes",
    "long_tail_counts",
    "make_long_tailed",
    "load_npz",
    "load_csv",
    "load_user_data",
    "encode_labels",
]
