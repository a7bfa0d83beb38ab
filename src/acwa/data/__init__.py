"""Benchmark datasets (offline sources) and long-tail builders.

>>> from acwa.data import load_dataset, make_long_tailed
>>> ds = load_dataset("digits-lt", rho=100, seed=0)   # LT-100 train, balanced test
>>> ds.train_counts.tolist()[:3]
[90, 54, 32]

Built-in names: :func:`list_datasets`. User files: :func:`load_user_data` (``.npz`` or
``.csv``). Every loader returns a :class:`BenchDataset`.
"""

from acwa.data.base import MODALITIES, BenchDataset, DataError, encode_labels
from acwa.data.builtin import DATASETS, dataset_available, list_datasets, load_dataset
from acwa.data.labels import load_labels
from acwa.data.longtail import long_tail_counts, make_long_tailed
from acwa.data.sources import cache_dir
from acwa.data.text import cached_embeddings, embed_texts, read_rotten_tomatoes
from acwa.data.ucr import load_ucr, read_ucr_tsv, ucr_data_dir
from acwa.data.user import load_csv, load_npz, load_user_data

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
    "read_ucr_tsv",
    "ucr_data_dir",
    "load_ucr",
    "long_tail_counts",
    "make_long_tailed",
    "load_npz",
    "load_csv",
    "load_user_data",
    "load_labels",
    "encode_labels",
]
