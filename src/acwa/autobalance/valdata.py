"""Validation batches for the upper problem of :class:`~acwa.autobalance.AutoBalance`.

:class:`ValidationStream` takes either in-memory tensors ``(X_val, y_val[, group_val])`` or a
``DataLoader``, checks that every class has a validation sample (the balanced objectives
divide by the per-class validation counts), and hands out the validation draw of each
hyper-step: ``val_batches * val_batch_size`` random samples (all of them when there are fewer),
or the next ``val_batches`` batches of the loader.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Union

import torch
from torch import Tensor

from acwa._internal.validation import check_int
from acwa.autobalance.checks import check_class_labels, check_features, check_group_labels, check_val_classes

__all__ = ["ValidationStream", "ValData"]

ValData = Union[tuple[Tensor, Tensor], tuple[Tensor, Tensor, Tensor], "torch.utils.data.DataLoader"]


class ValidationStream:
    """Validation data of the tuner; :attr:`class_counts` are the per-class validation counts."""

    def __init__(
        self, val_data: ValData, num_classes: int, num_groups: int | None, exclude: Sequence[int] = ()
    ) -> None:
        self.num_classes = num_classes
        self.num_groups = num_groups
        self.exclude = sorted({check_int(c, "objective_exclude", min=0, max=num_classes - 1) for c in exclude})
        if len(self.exclude) > num_classes - 2:
            raise ValueError(f"objective_exclude={self.exclude} leaves fewer than two classes in the upper objective")
        self._excluded = torch.zeros(num_classes, dtype=torch.bool)
        self._excluded[self.exclude] = True
        self.loader: Any = None
        self.tensors: tuple[Tensor, Tensor, Tensor | None] | None = None
        self._iter: Iterator | None = None
        if isinstance(val_data, (tuple, list)):
            self._from_tensors(val_data)
        elif isinstance(val_data, torch.utils.data.DataLoader):
            self._from_loader(val_data)
        else:
            raise ValueError(
                f"val_data must be (X_val, y_val[, group_val]) tensors or a DataLoader, got {type(val_data).__name__}"
            )

    def _from_tensors(self, val_data: tuple | list) -> None:
        if len(val_data) not in (2, 3):
            raise ValueError("val_data must be (X_val, y_val) or (X_val, y_val, group_val) or a DataLoader")
        X = check_features(val_data[0], "X_val")
        y = torch.as_tensor(val_data[1])
        if y.dim() >= 1 and X.shape[0] != y.shape[0]:
            raise ValueError(f"X_val has {X.shape[0]} samples but y_val has {y.shape[0]}")
        y = check_class_labels(y, "y_val", X.shape[0], self.num_classes)
        g = val_data[2] if len(val_data) == 3 else None
        g = check_group_labels(g, y.shape[0], self.num_groups, "val group")
        if self.exclude:
            keep = ~self._excluded[y.cpu()]
            X, y, g = X[keep.to(X.device)], y[keep.to(y.device)], None if g is None else g[keep.to(g.device)]
        self.class_counts = self._counts(y)
        self.tensors = (X, y, g)

    def _counts(self, y: Tensor) -> Tensor:
        """Validation counts; every class not excluded needs a sample (excluded ones count 0)."""
        if not self.exclude:
            return check_val_classes(y, self.num_classes)
        padded = torch.cat([y.long().cpu(), torch.tensor(self.exclude, dtype=torch.long)])
        counts = check_val_classes(padded, self.num_classes)  # raises for a missing class not excluded
        counts[self.exclude] = 0
        return counts

    def _from_loader(self, loader: torch.utils.data.DataLoader) -> None:
        ys = []
        for batch in loader:
            ys.append(check_class_labels(batch[1], "validation labels").cpu())
            ys[-1] = ys[-1][~self._excluded[ys[-1]]] if self.exclude else ys[-1]
            if self.num_groups:
                if len(batch) < 3:
                    raise ValueError("the validation DataLoader must yield (x, y, group) when num_groups is set")
                check_group_labels(batch[2], len(batch[1]), self.num_groups, "val group")
        self.class_counts = self._counts(torch.cat(ys))
        self.loader = loader

    def draw(
        self, device: torch.device, val_batches: int, val_batch_size: int, generator: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The validation draw of one hyper-step, on ``device``."""
        if self.tensors is not None:
            X, y, g = self.tensors
            n = y.shape[0]
            k = val_batches * val_batch_size
            idx = torch.arange(n) if k >= n else torch.randperm(n, generator=generator)[:k]
            return (
                X[idx.to(X.device)].to(device),
                y[idx.to(y.device)].to(device),
                None if g is None else g[idx.to(g.device)].to(device),
            )
        xs, ys, gs = [], [], []
        for _ in range(val_batches):
            batch = self._next_batch()
            yb = torch.as_tensor(batch[1]).long()
            keep = ~self._excluded[yb.cpu()] if self.exclude else torch.ones(yb.shape[0], dtype=torch.bool)
            xs.append(torch.as_tensor(batch[0])[keep].to(device))
            ys.append(yb[keep].to(device))
            if self.num_groups:
                gs.append(torch.as_tensor(batch[2]).long()[keep].to(device))
        return torch.cat(xs), torch.cat(ys), (torch.cat(gs) if gs else None)

    def full(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor | None] | None:
        """All in-memory validation data on ``device`` (None for a DataLoader)."""
        if self.tensors is None:
            return None
        X, y, g = self.tensors
        return X.to(device), y.to(device), None if g is None else g.to(device)

    def _next_batch(self) -> Any:
        try:
            if self._iter is None:
                raise StopIteration
            return next(self._iter)
        except StopIteration:
            self._iter = iter(self.loader)
            return next(self._iter)

    def restart(self) -> None:
        """Forget the loader position (a resumed tuner restarts its validation iterator)."""
        self._iter = None
