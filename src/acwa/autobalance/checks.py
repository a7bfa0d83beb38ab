"""Input checks and small building blocks of the AutoBalance tuner: frequency-rank parameter
sharing, group and validation-label checks, the training objective of one batch and the choice
of lower-level parameters that enter the hypergradient."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from acwa._internal.validation import check_int
from acwa.autobalance.augment import ClassAugment
from acwa.losses import ParametricCrossEntropyLoss, parametric_cross_entropy

__all__ = [
    "frequency_rank_groups",
    "check_group_labels",
    "check_val_classes",
    "check_features",
    "check_class_labels",
    "train_objective",
    "lower_params",
]


def frequency_rank_groups(class_counts: Tensor | Sequence[float], num_slots: int) -> Tensor:
    """Share parameters among classes of neighbouring frequency rank.

    Classes are sorted by training count (most frequent first, ties by class id) and the ranks
    are cut into ``num_slots`` consecutive chunks of near-equal size; returns ``param_index``
    (LongTensor [C], slot of each class) for :class:`ParametricCrossEntropyLoss`.
    """
    n = torch.as_tensor(class_counts, dtype=torch.float64)
    C = n.numel()
    if n.dim() != 1 or C < 2:
        raise ValueError(f"class_counts must be a 1-D vector with >= 2 classes, got shape {list(n.shape)}")
    num_slots = check_int(num_slots, "num_slots")
    if not 1 <= num_slots <= C:
        raise ValueError(f"num_slots must lie in [1, num_classes={C}], got {num_slots}")
    order = torch.sort(-n, stable=True).indices  # most frequent first, ties by class id
    index = torch.empty(C, dtype=torch.long)
    index[order] = torch.arange(C) * num_slots // C
    return index


def check_group_labels(group: Tensor | None, n: int, num_groups: int | None, name: str = "group") -> Tensor | None:
    """ValueError unless ``group`` is an integer vector of length ``n`` with ids in [0, num_groups)."""
    if group is None:
        if num_groups:
            raise ValueError(f"{name} is required: the tuner was built with num_groups={num_groups}")
        return None
    if not num_groups:
        raise ValueError(f"{name} was given but num_groups is None; build AutoBalance(..., num_groups=G)")
    group = torch.as_tensor(group)
    if group.is_floating_point() or group.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer group ids, got dtype {group.dtype}")
    if group.dim() != 1 or group.shape[0] != n:
        raise ValueError(f"{name} must have one group id per sample: expected shape [{n}], got {list(group.shape)}")
    if group.numel() and group.device.type == "cpu":
        lo, hi = int(group.min()), int(group.max())
        if lo < 0 or hi >= num_groups:
            raise ValueError(f"{name} ids must lie in [0, {num_groups}), got values in [{lo}, {hi}]")
    return group.long()


def check_val_classes(y_val: Tensor, num_classes: int) -> Tensor:
    """Validation class counts; ValueError if a class has no validation sample."""
    y_val = torch.as_tensor(y_val)
    if y_val.is_floating_point() or y_val.dim() != 1 or y_val.numel() == 0:
        raise ValueError(
            f"validation labels must be a non-empty 1-D integer tensor, got {y_val.dtype} {list(y_val.shape)}"
        )
    lo, hi = int(y_val.min()), int(y_val.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"validation labels must lie in [0, {num_classes}), got values in [{lo}, {hi}]")
    counts = torch.bincount(y_val.long().cpu(), minlength=num_classes)
    missing = torch.nonzero(counts == 0).flatten().tolist()
    if missing:
        raise ValueError(
            f"the validation split has no sample of class(es) {missing}; every class needs >= 1 validation "
            "sample (use acwa.splits.stratified_split(labels, val_fraction, min_per_class=1))"
        )
    return counts


def train_objective(
    model: nn.Module,
    loss: ParametricCrossEntropyLoss,
    x: Tensor,
    y: Tensor,
    group: Tensor | None = None,
    augment: ClassAugment | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mean training loss ``L_train`` of one batch: augment (if any), forward, parametric CE."""
    if augment is None:
        return loss(model(x), y, group) if loss.num_groups else loss(model(x), y)
    batch = augment(x, y, generator)
    logits = model(batch.x)
    delta, iota, weight = loss.effective()

    def per_sample(labels: Tensor) -> Tensor:
        return parametric_cross_entropy(logits, labels, delta, iota, weight, group, loss.ignore_index, "none")

    return augment.mixed_loss(per_sample, batch)


def lower_params(model: nn.Module, spec) -> list[nn.Parameter]:
    """Lower-level parameters that enter the hypergradient: all (None), 'last' (those of the last
    submodule that owns parameters, e.g. the classifier head), or an explicit sequence."""
    if spec is None or spec == "all":
        return [p for p in model.parameters() if p.requires_grad]
    if spec == "last":
        owners = [m for m in model.modules() if any(p.requires_grad for p in m.parameters(recurse=False))]
        if not owners:
            return []
        return [p for p in owners[-1].parameters(recurse=False) if p.requires_grad]
    if isinstance(spec, str):
        raise ValueError(f"hyper_params must be None/'all', 'last' or a sequence of parameters, got {spec!r}")
    return list(spec)


def check_features(X: object, name: str) -> Tensor:
    """``X`` as a tensor with one row per sample and finite values (NaN/Inf would silently turn
    the model weights into NaN after one step)."""
    X = torch.as_tensor(X)
    if X.dim() < 1 or X.shape[0] == 0:
        raise ValueError(f"{name} must have one row per sample, got shape {list(X.shape)}")
    if (X.is_floating_point() or X.is_complex()) and not bool(torch.isfinite(X).all()):
        bad = int((~torch.isfinite(X)).flatten(1).any(1).sum()) if X.dim() > 1 else int((~torch.isfinite(X)).sum())
        raise ValueError(f"{name} contains NaN or Inf values in {bad} sample(s); impute or drop them before training")
    return X


def check_class_labels(y: object, name: str, n: int | None = None, num_classes: int | None = None) -> Tensor:
    """``y`` as a 1-D int64 tensor of class ids (any integer width); float and bool labels are
    rejected instead of being truncated by ``.long()``."""
    y = torch.as_tensor(y)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(
            f"{name} must hold integer class ids, got dtype {y.dtype}; convert with y.long() after "
            "checking that the values are whole numbers (one-hot targets: y.argmax(1))"
        )
    if y.dim() != 1:
        raise ValueError(f"{name} must be a 1-D vector of class ids, got shape {list(y.shape)}")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} labels but there are {n} samples")
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"{name} must be >= 0, got {int(y.min())}; encode the classes as 0..C-1")
    if num_classes is not None and y.numel() and int(y.max()) >= num_classes:
        raise ValueError(f"{name} must lie in [0, {num_classes}), got {int(y.max())}; check num_classes")
    return y.long()
