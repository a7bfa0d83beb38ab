"""Class and label counts, priors and the checks every count-based piece shares.

The ground floor of the library: weights, losses, the controller and the samplers all take
training-set counts through :func:`check_counts` and priors through :func:`log_prior`.

- :func:`class_counts`: samples per class from class indices (multiclass, or binary {0, 1}).
- :func:`label_positive_counts`: positives per label ``[L]`` from a multi-hot matrix ``[N, L]``.
- :func:`label_neg_pos_counts`: negatives and positives per label ``[2, L]`` (binary: ``[2, 1]``),
  the counts every multi-label / one-logit ``class_counts=`` takes.
- :func:`check_counts`: validate per-class counts (1-D, finite, >= 0, not all 0).
- :func:`log_prior`: ``log pi_c = log(n_c / sum_k n_k)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from acwa._internal.validation import check_int, check_num_classes, value_range

__all__ = ["Counts", "class_counts", "label_positive_counts", "label_neg_pos_counts", "check_counts", "log_prior"]

Counts = Tensor | np.ndarray | Sequence[float]


def _as_tensor(values: Counts, name: str = "labels") -> Tensor:
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "biuf":
            raise ValueError(
                f"{name} must be numbers, got a NumPy array of dtype {values.dtype}; encode the labels as integers "
                "first (e.g. acwa.data.encode_labels or numpy.unique(..., return_inverse=True))"
            )
        return torch.from_numpy(values)
    if isinstance(values, Tensor):
        return values
    try:
        t = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"{name} must be numbers (a tensor, array or sequence of class indices or counts), got "
            f"{type(values).__name__} that torch cannot read ({err}); encode the labels as integers first"
        ) from err
    return t.long() if t.numel() == 0 else t


def class_counts(labels: Counts, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Number of samples per class, an int64 tensor ``[num_classes]`` on the labels' device.

    One ``torch.bincount`` pass (10M labels take tens of milliseconds on a CPU). ``labels``
    is a tensor, a NumPy array or a sequence of integer class indices; entries equal to
    ``ignore_index`` are skipped. Labels outside ``[0, num_classes)`` raise ``ValueError``.
    """
    num_classes = check_num_classes(num_classes)
    labels = _as_tensor(labels)
    if labels.numel() == 0 and not labels.is_complex():  # e.g. np.array([]) (float64): no samples
        return torch.zeros(num_classes, dtype=torch.long, device=labels.device)
    if labels.dim() == 2 and labels.shape[1] == num_classes and labels.shape[1] > 1 and labels.numel():
        flat = labels.reshape(-1)
        if bool(((flat == 0) | (flat == 1)).all()):
            raise ValueError(
                f"labels look multi-hot (shape {tuple(labels.shape)}, values 0/1), but class_counts needs "
                "class indices [N]; for multi-label data use acwa.weights.label_positive_counts(labels), for one-hot "
                "rows pass labels.argmax(1)"
            )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"labels must hold integer class indices, got dtype {labels.dtype}; pass labels.long() "
            "(one-hot labels: labels.argmax(1))"
        )
    labels = labels.reshape(-1)
    if labels.numel() == 0:
        return torch.zeros(num_classes, dtype=torch.long, device=labels.device)
    ignored = None
    if ignore_index is not None:
        # count ignored entries as class 0, then take them back (cheaper than compacting)
        ignored = labels == ignore_index
        labels = labels.masked_fill(ignored, 0)
    lo, hi = value_range(labels)
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"labels must lie in [0, {num_classes}), found {bad}; check num_classes and the label encoding"
            + ("" if ignore_index is None else f" (ignore_index={ignore_index} is skipped)")
        )
    if labels.dtype != torch.long:
        labels = labels.long()
    counts = torch.bincount(labels, minlength=num_classes)
    if ignored is not None:
        counts[0] -= ignored.sum()
    return counts


def check_counts(counts: Counts, num_classes: int | None = None, name: str = "class_counts") -> Tensor:
    """Validate per-class counts and return them as a float64 tensor ``[C]``.

    Raises ``ValueError`` for: not 1-D, fewer than 2 classes, a length other than
    ``num_classes``, NaN/Inf, negative entries, or all entries 0. Zero entries are allowed
    here; each consumer decides what a zero-count class means.
    """
    t = _as_tensor(counts).detach()
    if t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be real numbers (samples per class), got dtype {t.dtype}")
    t = t.to(torch.float64)
    if t.dim() != 1:
        raise ValueError(f"{name} must be a 1-D vector with one count per class, got shape {tuple(t.shape)}")
    if t.numel() < 2:
        raise ValueError(f"{name} must have one entry per class (at least 2 classes), got {t.numel()}")
    if num_classes is not None and t.numel() != num_classes:
        raise ValueError(
            f"{name} has {t.numel()} entries but there are {num_classes} classes; give one count per class "
            "(e.g. acwa.weights.class_counts(train_labels, num_classes))"
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {t.tolist()}")
    if bool((t < 0).any()):
        bad = torch.nonzero(t < 0).flatten().tolist()
        raise ValueError(
            f"{name} must be >= 0 (samples per class), got negative entries at classes {bad}: {t.tolist()}"
        )
    if not bool((t > 0).any()):
        raise ValueError(f"{name} must not be all 0; count the labels of the whole training set")
    return t


def label_positive_counts(labels: Counts, num_labels: int | None = None) -> Tensor:
    """Positives per label, an int64 tensor ``[L]``, from a multi-hot matrix ``[N, L]`` in {0, 1}.

    Values other than 0/1 raise ``ValueError`` (they would silently miscount).
    """
    y = _as_tensor(labels)
    if y.dim() != 2:
        raise ValueError(
            f"labels must be a multi-hot matrix [N, L], got shape {tuple(y.shape)}; "
            "for class indices use acwa.weights.class_counts(labels, num_classes)"
        )
    if num_labels is not None and y.shape[1] != check_int(num_labels, "num_labels", min=1):
        raise ValueError(f"labels have {y.shape[1]} columns but num_labels={num_labels}; give one column per label")
    if y.is_complex():
        raise ValueError(f"labels must be 0/1 numbers, got dtype {y.dtype}")
    if y.numel() and not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("multi-hot labels must hold only 0 and 1; threshold soft labels first (labels > 0.5)")
    return y.to(torch.long).sum(0)


def label_neg_pos_counts(labels: Counts, num_labels: int | None = None) -> Tensor:
    """``[n_neg, n_pos]`` per label as a ``[2, L]`` int64 tensor, from multi-hot labels ``[N, L]``
    (binary 0/1 labels ``[N]`` give ``[2, 1]``)."""
    y = _as_tensor(labels)
    if y.dim() == 1:
        y = y.unsqueeze(1)
    pos = label_positive_counts(y, num_labels)
    return torch.stack([y.shape[0] - pos, pos])


def log_prior(class_counts: Counts) -> Tensor:
    """``log pi_c = log(n_c / sum_k n_k)`` as a float ``[C]`` (computed in float64; counts > 0)."""
    n = check_counts(class_counts)
    if bool((n == 0).any()):
        bad = torch.nonzero(n == 0).flatten().tolist()
        raise ValueError(
            f"class_counts has 0 samples for classes {bad}, so log pi_c is -inf; add a pseudo-count "
            "(class_counts + 1) or remove the empty classes"
        )
    return (n / n.sum()).log().to(torch.get_default_dtype())
