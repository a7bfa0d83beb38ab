"""Label extraction and the per-class index used by every sampler.

Samplers need the class of every sample, never the sample itself. :func:`extract_labels`
reads labels from (in this order):

1. a ``torch.Tensor``, ``numpy.ndarray``, list or tuple of integer class indices;
2. ``torch.utils.data.Subset`` -> the labels of its dataset at its indices (recursively),
   ``ConcatDataset`` -> the concatenated labels of its parts; objects with ``__array__``
   (pandas Series, ...) via ``numpy.asarray``;
3. ``dataset.targets`` (torchvision-style datasets);
4. ``dataset.get_labels()`` (torchsampler convention);
5. a zero-argument callable returning any of 1.

It never calls ``dataset[i]``: loading every sample just to read its label is what makes
``ImbalancedDatasetSampler`` slow on large image sets (torchsampler #21). A dataset without
``targets``/``get_labels`` raises ``ValueError`` that says how to pass labels directly.

:class:`ClassIndex` groups sample indices by class once (an O(N) radix sort for labels below
2^15), so that a sampler draws a class first and then a uniform position inside that class:
no multinomial over N samples, which fails above 2^24 categories (pytorch #2576).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["extract_labels", "ClassIndex", "group_by_class"]


def group_by_class(y: np.ndarray):
    """{class: sorted int64 indices of its samples} for the classes present in ``y``, in one
    stable sort (O(N) for narrow label dtypes) instead of one scan per class."""
    order = np.argsort(y, kind="stable")
    classes, counts = np.unique(y, return_counts=True)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return {int(c): order[bounds[i] : bounds[i + 1]] for i, c in enumerate(classes)}


def _to_numpy_labels(values: Any, name: str) -> np.ndarray:
    if isinstance(values, Tensor):
        if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
            raise ValueError(
                f"{name} must hold integer class indices, got a tensor of dtype {values.dtype}; "
                "pass labels.long() (one-hot targets: labels.argmax(1))"
            )
        arr = values.detach().cpu().numpy()
    else:
        arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D sequence of class indices, got shape {tuple(arr.shape)}; "
            "one-hot targets: pass labels.argmax(1)"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty: a sampler needs at least one labelled sample (check the dataset)")
    if arr.dtype == object or arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        elif arr.dtype == object:
            try:
                arr = arr.astype(np.int64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name} must hold integer class indices, got dtype object; "
                    "encode string labels first (e.g. sklearn.preprocessing.LabelEncoder)"
                ) from None
        else:
            raise ValueError(
                f"{name} must hold integer class indices, got dtype {arr.dtype}; encode labels as 0..C-1 integers"
            )
    if arr.dtype.kind == "i":
        lo = int(arr.min())
        if lo < 0:
            raise ValueError(
                f"{name} must be non-negative class indices 0..C-1, found {lo}; "
                "drop ignore_index entries (e.g. -100) or re-encode the labels"
            )
    return arr


def extract_labels(source: Any, name: str = "labels") -> np.ndarray:
    """Return the labels of ``source`` as a 1-D non-negative integer ``numpy`` array.

    The array keeps a narrow dtype when it arrives with one (a ``uint8`` tensor of 2^25 labels
    stays 32 MiB). See the module docstring for the accepted sources. Raises ``ValueError`` for
    empty, non-integer, multi-dimensional or negative labels.
    """
    if isinstance(source, (Tensor, np.ndarray, list, tuple)) or hasattr(source, "__array__"):
        return _to_numpy_labels(source if isinstance(source, (Tensor, list, tuple)) else np.asarray(source), name)
    # torch.utils.data.ConcatDataset (or anything with .datasets and .cumulative_sizes)
    if hasattr(source, "datasets") and hasattr(source, "cumulative_sizes"):
        parts = [extract_labels(d, name) for d in source.datasets]
        return np.concatenate([p.astype(np.int64, copy=False) for p in parts])
    # torch.utils.data.Subset (or anything with .dataset and .indices)
    if hasattr(source, "dataset") and hasattr(source, "indices"):
        base = extract_labels(source.dataset, name)
        idx = np.asarray(source.indices, dtype=np.int64)
        if idx.size == 0:
            raise ValueError(f"{name}: the Subset is empty (no indices)")
        return base[idx]
    if hasattr(source, "targets"):
        return _to_numpy_labels(source.targets, f"{name} (dataset.targets)")
    if hasattr(source, "get_labels") and callable(source.get_labels):
        return _to_numpy_labels(source.get_labels(), f"{name} (dataset.get_labels())")
    if callable(source) and not hasattr(source, "__getitem__"):
        return _to_numpy_labels(source(), f"{name} (callable)")
    raise ValueError(
        f"{name}: cannot read labels from {type(source).__name__} without loading samples; "
        "pass the labels (tensor/array/list), a dataset with .targets or .get_labels(), "
        "or a zero-argument callable returning the labels"
    )


class ClassIndex:
    """Sample indices grouped by class: ``order[offsets[c]:offsets[c+1]]`` are class c's samples.

    Built once in O(N) for labels below 2^15 (numpy's stable radix sort on int16), O(N log N)
    otherwise. ``order`` is stored as int32 when N < 2^31 (half the memory of int64).

    Attributes: ``num_samples`` (N), ``num_classes`` (C = max label + 1, or the given value),
    ``counts`` (int64 [C] tensor), ``offsets`` (int64 [C] tensor, start of each class in
    ``order``), ``order`` (int32/int64 [N] tensor).
    """

    def __init__(self, labels: np.ndarray, num_classes: int | None = None) -> None:
        n = int(labels.shape[0])
        c_max = int(labels.max()) + 1
        if num_classes is None:
            num_classes = c_max
        elif c_max > num_classes:
            raise ValueError(
                f"labels contain class {c_max - 1} but num_classes={num_classes}; pass num_classes >= max label + 1"
            )
        if num_classes >= 2**24:
            raise ValueError(f"num_classes must be < 2^24, got {num_classes}")
        if labels.dtype.itemsize <= 2:
            key = labels  # numpy sorts 8/16-bit integers with a stable radix sort, O(N)
        elif c_max <= 127:
            key = labels.astype(np.int8)
        elif c_max <= 32767:
            key = labels.astype(np.int16)
        else:
            key = labels.astype(np.int64, copy=False)
        order = np.argsort(key, kind="stable")
        if n < 2**31:
            order = order.astype(np.int32)
        kt = torch.from_numpy(
            key.view(np.uint8)
            if key.dtype == np.int8
            else key.astype(np.int64, copy=False)
            if key.dtype.kind == "u" and key.dtype.itemsize > 1
            else key
        )
        counts = torch.bincount(kt, minlength=num_classes).numpy()
        self.num_samples = n
        self.num_classes = int(num_classes)
        self.counts = torch.from_numpy(counts.astype(np.int64))
        self.offsets = torch.cumsum(self.counts, 0) - self.counts
        self.order = torch.from_numpy(order)

    def gather(self, classes: Tensor, positions: Tensor) -> Tensor:
        """Dataset indices of position ``positions[i]`` inside class ``classes[i]`` (int64)."""
        return self.order[self.offsets[classes] + positions].long()
