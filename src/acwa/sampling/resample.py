"""Random over- and under-sampling with imbalanced-learn's conventions, on torch tensors.

Every resampler has ``fit_resample(X, y) -> (X_res, y_res)``; ``sampling_strategy`` is parsed
by :func:`acwa.sampling.strategy.check_sampling_strategy` (identical class counts to
imbalanced-learn) and stored as ``sampling_strategy_``; ``random_state`` is ``None``, an int
or a ``torch.Generator``. X is a torch tensor (CPU or GPU; the result stays on X's device) or
a numpy array (the result is numpy). Random numbers are drawn on the CPU from a
``torch.Generator`` and moved to X's device, so a seed gives the same result on CPU and GPU.

Samplers that only select samples (:class:`RandomOverSampler`, :class:`RandomUnderSampler`)
set ``sample_indices_`` and can resample a ``torch.utils.data.Dataset`` at index level, with
no sample loaded or copied: :meth:`SelectionResampler.resample_dataset` returns a
``Subset(dataset, sample_indices_)``.

Output order (as imbalanced-learn): over-samplers return all original samples first, then
the new ones class by class in increasing class order; the under-sampler returns the kept
samples grouped by class in increasing class order.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Subset

from acwa._internal.validation import check_bool, check_float, check_int
from acwa.sampling._labels import extract_labels, group_by_class
from acwa.sampling.strategy import check_sampling_strategy

__all__ = ["BaseResampler", "SelectionResampler", "RandomOverSampler", "RandomUnderSampler", "resample_dataset"]

RandomState = Union[None, int, torch.Generator]  # noqa: UP007 (a runtime alias)
ArrayLike = Union[Tensor, np.ndarray]  # noqa: UP007 (a runtime alias)


def make_generator(random_state: RandomState) -> torch.Generator:
    """A CPU ``torch.Generator`` from ``None`` (seeded from torch's global RNG), an int or a
    generator (used as is)."""
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:
        seed = int(torch.randint(0, 2**62, (1,)))
    else:
        seed = check_int(random_state, "random_state", hint="pass None, an int seed or a torch.Generator")
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def prepare_X_y(X: Any, y: Any, require_2d: bool = False, require_float: bool = False):
    """Validate (X, y) and return ``(X_t, y_t, y_np, to_output)``.

    ``X_t`` is a torch view of X (numpy arrays are wrapped without a copy), ``y_t`` the labels
    as a tensor on X's device (keeping y's integer dtype), ``y_np`` a numpy copy on the host
    (for counting) and ``to_output(X_res, y_res)`` converts results back to numpy when X was.
    """
    was_numpy = isinstance(X, np.ndarray)
    if not isinstance(X, (Tensor, np.ndarray)):
        raise ValueError(f"X must be a torch.Tensor or a numpy array, got {type(X).__name__}")
    X_t: Tensor = torch.from_numpy(X) if isinstance(X, np.ndarray) else X
    if X_t.dim() < 1:
        raise ValueError("X must have a sample dimension first, got a scalar")
    y_np = extract_labels(y, "y")
    if X_t.shape[0] != y_np.shape[0]:
        raise ValueError(f"X has {X_t.shape[0]} samples but y has {y_np.shape[0]}; they must match")
    if require_2d and X_t.dim() != 2:
        raise ValueError(
            f"X must be 2-D [n_samples, n_features], got shape {tuple(X_t.shape)}; "
            "flatten images first, or resample embeddings (see the SMOTE-on-embeddings recipe)"
        )
    if require_float and not X_t.is_floating_point():
        raise ValueError(f"X must be floating point to interpolate new samples, got dtype {X_t.dtype}; pass X.float()")
    if require_float and not bool(torch.isfinite(X_t).all()):
        raise ValueError("X contains NaN or Inf; impute or drop those samples before resampling")
    if isinstance(y, Tensor):
        y_t = y.to(X_t.device)
    else:
        y_t = torch.from_numpy(np.ascontiguousarray(y_np)).to(X_t.device)

    def to_output(X_res: Tensor, y_res: Tensor):
        if was_numpy:
            return X_res.cpu().numpy(), y_res.cpu().numpy()
        return X_res, y_res

    return X_t, y_t, y_np, to_output


class BaseResampler:
    """``fit_resample`` template: validate, parse ``sampling_strategy`` once, resample."""

    _sampling_type = "over-sampling"
    _require_2d = False
    _require_float = False

    def __init__(self, *, sampling_strategy: Any = "auto", random_state: RandomState = None) -> None:
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state

    def fit_resample(self, X: ArrayLike, y: Any) -> tuple[ArrayLike, ArrayLike]:
        """Resample (X, y); returns ``(X_res, y_res)`` (see the module doc for the order)."""
        X_t, y_t, y_np, to_output = prepare_X_y(X, y, self._require_2d, self._require_float)
        self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, y_np, self._sampling_type)
        X_res, y_res = self._fit_resample(X_t, y_t, y_np, make_generator(self.random_state))
        return to_output(X_res, y_res)

    def _fit_resample(self, X: Tensor, y: Tensor, y_np: np.ndarray, g: torch.Generator) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({args})"


class SelectionResampler(BaseResampler):
    """A resampler whose output rows are input rows: ``X_res = X[sample_indices_]``."""

    def _select(self, y_np: np.ndarray, g: torch.Generator) -> Tensor:
        raise NotImplementedError

    def fit_resample_indices(self, y: Any) -> Tensor:
        """``sample_indices_`` for labels ``y`` (int64 CPU tensor), without any X."""
        y_np = extract_labels(y, "y")
        self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, y_np, self._sampling_type)
        self.sample_indices_ = self._select(y_np, make_generator(self.random_state))
        return self.sample_indices_

    def resample_dataset(self, dataset: Any, labels: Any = None) -> Subset:
        """Index-level resampling: ``Subset(dataset, sample_indices_)``; no sample is loaded or
        copied. Labels come from ``labels`` or from the dataset (``.targets``,
        ``.get_labels()``, see :func:`acwa.sampling.extract_labels`)."""
        y_np = extract_labels(dataset if labels is None else labels, "labels")
        if hasattr(dataset, "__len__") and len(dataset) != y_np.shape[0]:
            raise ValueError(f"labels have {y_np.shape[0]} entries but the dataset has {len(dataset)} samples")
        return Subset(dataset, self.fit_resample_indices(y_np).tolist())

    def _fit_resample(self, X, y, y_np, g):
        self.sample_indices_ = self._select(y_np, g)
        idx = self.sample_indices_.to(X.device)
        return X.index_select(0, idx), y.index_select(0, idx)


class RandomOverSampler(SelectionResampler):
    """Over-sample by drawing, with replacement, extra copies of samples of each targeted class.

    ``sample_indices_ = [0, 1, ..., N-1, new indices of the first targeted class, ...]``.
    ``shrinkage`` (float or {class: float}) turns the copies into a smoothed bootstrap as in
    imbalanced-learn (Menardi & Torelli 2014, ROSE): x_new = x_i + e, e ~ N(0, diag(h * s)^2),
    s the class's per-feature std, h = shrinkage * (4 / ((d + 2) N))^(1 / (d + 4)); X must
    then be a 2-D float array.
    """

    _sampling_type = "over-sampling"

    def __init__(
        self, *, sampling_strategy: Any = "auto", random_state: RandomState = None, shrinkage: Any = None
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state)
        self.shrinkage = _check_shrinkage(shrinkage)

    def _select(self, y_np, g):
        parts = [torch.arange(y_np.shape[0])]
        groups = group_by_class(y_np)
        for c, n_new in self.sampling_strategy_.items():
            members = torch.from_numpy(groups[c])
            parts.append(members[torch.randint(members.numel(), (n_new,), generator=g)])
        return torch.cat(parts)

    def _fit_resample(self, X, y, y_np, g):
        if self.shrinkage is None:
            return super()._fit_resample(X, y, y_np, g)
        shrink = (
            self.shrinkage if isinstance(self.shrinkage, dict) else {c: self.shrinkage for c in self.sampling_strategy_}
        )
        missing = set(self.sampling_strategy_) - set(shrink)
        if missing:
            raise ValueError(f"shrinkage needs a factor for every resampled class; missing {sorted(missing)}")
        if X.dim() != 2 or not X.is_floating_point():
            raise ValueError("shrinkage needs X as a 2-D float array [n_samples, n_features]")
        self.sample_indices_ = self._select(y_np, g)
        n, d = X.shape
        const = (4.0 / ((d + 2) * n)) ** (1.0 / (d + 4))
        start = n
        out = [X]
        for c, n_new in self.sampling_strategy_.items():
            boot = self.sample_indices_[start : start + n_new].to(X.device)
            start += n_new
            members = torch.from_numpy(np.flatnonzero(y_np == c)).to(X.device)  # one class: one scan
            scale = X.index_select(0, members).std(0, unbiased=False) * (float(shrink[c]) * const)
            noise = torch.randn(n_new, d, generator=g, dtype=torch.float64).to(X.device, X.dtype)
            out.append(X.index_select(0, boot) + noise * scale)
        return torch.cat(out), y.index_select(0, self.sample_indices_.to(X.device))


def _check_shrinkage(shrinkage: Any) -> Any:
    """None, a finite factor >= 0, or {class: factor}: NaN/Inf would write NaN/Inf rows."""
    if shrinkage is None:
        return None
    if isinstance(shrinkage, dict):
        return {c: check_float(v, f"shrinkage[{c!r}]", min=0.0) for c, v in shrinkage.items()}
    return check_float(shrinkage, "shrinkage", min=0.0, hint="None for plain copies, 1.0 for a smoothed bootstrap")


class RandomUnderSampler(SelectionResampler):
    """Under-sample each targeted class to its target count by random selection.

    ``replacement=False`` (default) draws without replacement. ``sample_indices_`` lists the
    kept indices grouped by class in increasing class order (imbalanced-learn's order).
    """

    _sampling_type = "under-sampling"

    def __init__(
        self, *, sampling_strategy: Any = "auto", random_state: RandomState = None, replacement: bool = False
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state)
        self.replacement = check_bool(replacement, "replacement")

    def _select(self, y_np, g):
        parts = []
        for c, members in group_by_class(y_np).items():
            members = torch.from_numpy(members)
            if c in self.sampling_strategy_:
                n = self.sampling_strategy_[c]
                if self.replacement:
                    pick = torch.randint(members.numel(), (n,), generator=g)
                else:
                    pick = torch.randperm(members.numel(), generator=g)[:n]
                members = members[pick]
            parts.append(members)
        return torch.cat(parts)


def resample_dataset(dataset: Any, sampler: SelectionResampler, labels: Any = None) -> Subset:
    """``sampler.resample_dataset(dataset, labels)``: an index-level resampled view of a
    ``Dataset`` (a ``Subset``), without loading or copying samples."""
    if not isinstance(sampler, SelectionResampler):
        raise ValueError(
            f"resample_dataset needs a selection resampler (RandomOverSampler, RandomUnderSampler), "
            f"got {type(sampler).__name__}: it creates new samples, so it needs X; use fit_resample(X, y) "
            "on features or embeddings instead"
        )
    return sampler.resample_dataset(dataset, labels)
