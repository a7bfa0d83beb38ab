"""SMOTE, Borderline-SMOTE and ADASYN on torch tensors (CPU or GPU).

All three follow imbalanced-learn's algorithms and conventions (``fit_resample``,
``sampling_strategy`` via the shared parser, ``k_neighbors``, ``random_state``; originals first,
then the new samples class by class) so a strategy gives the same class counts. The k-nearest
neighbour search is exact and brute force: a chunked ``||a||^2 - 2 a.b + ||b||^2`` distance
matrix on centred data (one float32 GEMM per chunk, bounded memory) screens k + 4 candidates
with a blocked top-k (minimum per block of 64 columns, then top-k inside the best blocks); the
candidates' distances are then recomputed exactly as ``||a - b||^2`` in X's dtype and
re-sorted, so rounding in the expansion cannot reorder the k nearest (a true neighbour is
missed only if more than 4 points sit within float32 rounding of it). Everything runs on X's
device.

* SMOTE (Chawla et al. 2002, JAIR 16): for a targeted class c with n_c samples, draw
  (i, j) uniformly among the n_c * k (sample, neighbour) pairs, j among the k nearest samples
  of class c to x_i, and u ~ U[0, 1): x_new = x_i + u (x_j - x_i). Every new point lies on the
  segment between a class-c sample and one of its k nearest class-c neighbours.
* Borderline-SMOTE (Han et al. 2005, ICIC): only "danger" samples seed new points: those
  whose m nearest neighbours in the whole X contain m' samples of other classes with
  m/2 <= m' < m. ``kind='borderline-1'`` interpolates towards class-c neighbours;
  ``'borderline-2'`` towards neighbours of any class, the step towards another class scaled
  by U[0, 0.5) (so the point stays nearer x_i). If a class has no danger sample, no sample is
  generated for it (as imbalanced-learn) and a ``UserWarning`` says so.
* ADASYN (He et al. 2008, IJCNN): class-c sample i gets round(r_i * G) new points, r_i the
  share of other classes among its k nearest neighbours in X normalised to sum 1, G the
  strategy's number of new samples (so the total may differ from G by rounding, as in
  imbalanced-learn); points are interpolated towards class-c neighbours as in SMOTE.

``k_neighbors >= n_c`` for a class to be over-sampled raises ``ValueError`` (no fallback:
the class has fewer than k other samples to interpolate with; lower ``k_neighbors`` or use
:class:`RandomOverSampler` for it).

SMOTE on embeddings (recipe): SMOTE interpolates vectors, so for images, text or sequences
apply it in a feature space: embed the training set with a frozen (pre-trained) encoder,
``X_res, y_res = SMOTE(k_neighbors=5).fit_resample(emb, y)``, and train the classifier head on
(X_res, y_res). Interpolating raw pixels or token ids does not give valid samples.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from acwa._internal.validation import check_int
from acwa.sampling._labels import group_by_class
from acwa.sampling.resample import BaseResampler, RandomState

__all__ = ["knn_indices", "SMOTE", "BorderlineSMOTE", "ADASYN"]

_EXTRA_CANDIDATES = 4
_BLOCK = 64  # columns per block in the blocked top-k search


def knn_indices(
    query: Tensor,
    data: Tensor,
    k: int,
    exclude: Tensor | None = None,
    chunk_bytes: int = 64 * 2**20,
) -> Tensor:
    """Indices [n_query, k] of the k nearest rows of ``data`` to each row of ``query``
    (Euclidean, nearest first), exact, in chunks of at most ``chunk_bytes`` of distances.

    ``exclude[i]`` is an index of ``data`` that query row i may not return (itself, when the
    query rows are rows of ``data``).
    """
    nq, nd = query.shape[0], data.shape[0]
    avail = nd - (1 if exclude is not None else 0)
    if not 1 <= k <= avail:
        raise ValueError(f"k must lie in [1, {avail}] for {nd} reference points, got {k}")
    n_cand = min(k + _EXTRA_CANDIDATES, avail)
    # screen: centred data (better conditioned expansion), float32 GEMM; then exact re-ranking
    center = data.mean(0, keepdim=True)
    screen_dtype = torch.float32 if data.dtype == torch.float64 else data.dtype
    ds = (data - center).to(screen_dtype)
    ds_sq = (ds * ds).sum(1)
    blocked = nd >= 4 * n_cand * _BLOCK
    if blocked:  # pad to whole blocks with points at distance +inf (zero rows, +inf norm)
        pad = (-nd) % _BLOCK
        ds = torch.cat([ds, ds.new_zeros(pad, ds.shape[1])])
        ds_sq = torch.cat([ds_sq, ds_sq.new_full((pad,), float("inf"))])
    rows = max(1, min(nq, chunk_bytes // max(1, ds.shape[0] * ds.element_size())))
    out = torch.empty(nq, k, dtype=torch.long, device=query.device)
    for start in range(0, nq, rows):
        q = query[start : start + rows]
        qs = (q - center).to(screen_dtype)
        d2 = torch.addmm(ds_sq.unsqueeze(0), qs, ds.t(), beta=1.0, alpha=-2.0)
        if exclude is not None:
            d2.scatter_(1, exclude[start : start + rows].unsqueeze(1), float("inf"))
        cand = _smallest(d2, n_cand, blocked)
        exact = (data[cand] - q.unsqueeze(1)).pow(2).sum(-1)
        order = torch.sort(exact, dim=1, stable=True).indices[:, :k]
        out[start : start + rows] = cand.gather(1, order)
    return out


def _smallest(d2: Tensor, m: int, blocked: bool) -> Tensor:
    """Column indices of the m smallest entries of each row of d2 (any order).

    Blocked search: the m smallest entries of a row lie in the m blocks (of ``_BLOCK``
    columns) with the smallest block minima, because every block holding one of them has a
    minimum <= the m-th smallest value and at most m blocks can; so a cheap ``amin`` per
    block, a ``topk`` over block minima and a ``topk`` over m blocks replace a ``topk`` over
    the whole row.
    """
    if not blocked:
        return torch.topk(d2, m, dim=1, largest=False, sorted=False).indices
    r, c = d2.shape
    mins = d2.view(r, c // _BLOCK, _BLOCK).amin(2)
    blocks = torch.topk(mins, m, dim=1, largest=False, sorted=False).indices
    cols = (blocks.unsqueeze(2) * _BLOCK + torch.arange(_BLOCK, device=d2.device)).view(r, m * _BLOCK)
    sel = torch.topk(d2.gather(1, cols), m, dim=1, largest=False, sorted=False).indices
    return cols.gather(1, sel)


def _check_k(value: Any, name: str) -> int:
    v = check_int(value, name)
    if v < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return v


def _check_class_size(c: int, n_c: int, k: int, name: str = "k_neighbors") -> None:
    if k >= n_c:
        raise ValueError(
            f"{name}={k} but class {c} has only {n_c} samples: interpolation needs k < class size; "
            f"use {name} <= {max(n_c - 1, 0)}, or RandomOverSampler for this class"
            + (" (a single sample cannot be interpolated)" if n_c == 1 else "")
        )


def _interpolate(base: Tensor, nbr: Tensor, steps: Tensor, out: Tensor | None = None) -> Tensor:
    """base + steps * (nbr - base), fused (torch.lerp), optionally written into ``out``."""
    return (
        torch.lerp(base, nbr, steps.unsqueeze(1), out=out)
        if out is not None
        else torch.lerp(base, nbr, steps.unsqueeze(1))
    )


class _SMOTEBase(BaseResampler):
    _sampling_type = "over-sampling"
    _require_2d = True
    _require_float = True

    def __init__(
        self, *, sampling_strategy: Any = "auto", random_state: RandomState = None, k_neighbors: int = 5
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state)
        self.k_neighbors = _check_k(k_neighbors, "k_neighbors")

    @staticmethod
    def _members(groups, c: int, device) -> Tensor:
        return torch.from_numpy(groups[c]).to(device)

    def _draw_pairs(self, n_rows: int, k: int, n_new: int, g: torch.Generator, dtype, device):
        """imbalanced-learn's draw: a flat index over the n_rows * k (row, neighbour) pairs, then u."""
        flat = torch.randint(n_rows * k, (n_new,), generator=g)
        steps = torch.rand(n_new, generator=g, dtype=torch.float64)
        return (flat // k).to(device), (flat % k).to(device), steps.to(device, dtype)


class SMOTE(_SMOTEBase):
    """SMOTE over-sampling on torch tensors (see the module doc for the rule).

    Args:
        sampling_strategy: see :mod:`acwa.sampling.strategy` (default 'auto' = 'not majority').
        random_state: None, int or ``torch.Generator``.
        k_neighbors: k nearest same-class neighbours to interpolate towards (default 5).
    """

    def _fit_resample(self, X, y, y_np, g):
        k = self.k_neighbors
        n = X.shape[0]
        total = n + sum(self.sampling_strategy_.values())
        X_out = torch.empty((total,) + tuple(X.shape[1:]), dtype=X.dtype, device=X.device)
        y_out = torch.empty(total, dtype=y.dtype, device=y.device)
        X_out[:n] = X
        y_out[:n] = y
        start = n
        groups = group_by_class(y_np)
        for c, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            members = self._members(groups, c, X.device)
            _check_class_size(c, members.numel(), k)
            Xc = X.index_select(0, members)
            nn = knn_indices(Xc, Xc, k, exclude=torch.arange(Xc.shape[0], device=X.device))
            rows, cols, steps = self._draw_pairs(Xc.shape[0], k, n_new, g, X.dtype, X.device)
            _interpolate(Xc[rows], Xc[nn[rows, cols]], steps, out=X_out[start : start + n_new])
            y_out[start : start + n_new] = c
            start += n_new
        return X_out, y_out


class BorderlineSMOTE(_SMOTEBase):
    """Borderline-SMOTE (kinds 'borderline-1' and 'borderline-2'; see the module doc).

    Args:
        k_neighbors: neighbours to interpolate towards (default 5).
        m_neighbors: neighbours in the whole X that decide "danger" (default 10).
        kind: 'borderline-1' (class-c neighbours) or 'borderline-2' (any class).

    ``in_danger_indices_`` maps each resampled class to the indices of its danger samples.
    """

    def __init__(
        self,
        *,
        sampling_strategy: Any = "auto",
        random_state: RandomState = None,
        k_neighbors: int = 5,
        m_neighbors: int = 10,
        kind: str = "borderline-1",
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state, k_neighbors=k_neighbors)
        self.m_neighbors = _check_k(m_neighbors, "m_neighbors")
        if kind not in ("borderline-1", "borderline-2"):
            raise ValueError(f"kind must be 'borderline-1' or 'borderline-2', got {kind!r}")
        self.kind = kind

    def _fit_resample(self, X, y, y_np, g):
        k, m = self.k_neighbors, self.m_neighbors
        n = X.shape[0]
        if m >= n:
            raise ValueError(f"m_neighbors={m} must be < the number of samples ({n})")
        y_long = torch.from_numpy(y_np.astype(np.int64)).to(X.device)
        new_X, new_y = [X], [y]
        groups = group_by_class(y_np)
        self.in_danger_indices_ = {}
        for c, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            members = self._members(groups, c, X.device)
            Xc = X.index_select(0, members)
            nn_m = knn_indices(Xc, X, m, exclude=members)
            n_other = (y_long[nn_m] != c).sum(1)
            danger = (n_other * 2 >= m) & (n_other < m)
            danger_idx = torch.nonzero(danger).squeeze(1)
            if danger_idx.numel() == 0:
                warnings.warn(
                    f"BorderlineSMOTE: class {c} has no sample in danger (m_neighbors={m}); no sample generated for it",
                    UserWarning,
                    stacklevel=3,
                )
                continue
            self.in_danger_indices_[c] = members[danger_idx]
            X_danger = Xc.index_select(0, danger_idx)
            if self.kind == "borderline-1":
                _check_class_size(c, members.numel(), k)
                pool, pool_y = Xc, None
                nn = knn_indices(X_danger, Xc, k, exclude=danger_idx)
            else:
                pool, pool_y = X, y_long
                nn = knn_indices(X_danger, X, k, exclude=members[danger_idx])
            rows, cols, steps = self._draw_pairs(X_danger.shape[0], k, n_new, g, X.dtype, X.device)
            nbr_idx = nn[rows, cols]
            base, nbr = X_danger[rows], pool[nbr_idx]
            diff = nbr - base
            if pool_y is not None:
                other = pool_y[nbr_idx] != c
                shrink = (torch.rand(n_new, generator=g, dtype=torch.float64) * 0.5).to(X.device, X.dtype)
                diff = diff * torch.where(other, shrink, torch.ones_like(shrink)).unsqueeze(1)
            new_X.append(base + steps.unsqueeze(1) * diff)
            new_y.append(torch.full((n_new,), c, dtype=y.dtype, device=y.device))
        return torch.cat(new_X), torch.cat(new_y)


class ADASYN(_SMOTEBase):
    """ADASYN over-sampling (He et al. 2008): more new points near harder samples.

    Args:
        k_neighbors: k, used both to measure hardness (neighbours in X) and to interpolate
            (class-c neighbours). Default 5.
    """

    def _fit_resample(self, X, y, y_np, g):
        k = self.k_neighbors
        if k >= X.shape[0]:
            raise ValueError(f"k_neighbors={k} must be < the number of samples ({X.shape[0]})")
        y_long = torch.from_numpy(y_np.astype(np.int64)).to(X.device)
        new_X, new_y = [X], [y]
        groups = group_by_class(y_np)
        for c, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            members = self._members(groups, c, X.device)
            Xc = X.index_select(0, members)
            nn_all = knn_indices(Xc, X, k, exclude=members)
            ratio = (y_long[nn_all] != c).sum(1).to(torch.float64) / k
            total = ratio.sum()
            if not bool(total > 0):
                raise ValueError(
                    f"ADASYN: no neighbour of class {c} belongs to another class, so no sample is hard; "
                    "use SMOTE for this class"
                )
            per_row = torch.round(ratio / total * n_new).long()  # round half to even, as np.rint
            n_gen = int(per_row.sum())
            if n_gen == 0:
                raise ValueError(f"ADASYN: rounding leaves no sample to generate for class {c}; use SMOTE")
            _check_class_size(c, members.numel(), k)
            nn = knn_indices(Xc, Xc, k, exclude=torch.arange(Xc.shape[0], device=X.device))
            rows = torch.repeat_interleave(torch.arange(Xc.shape[0], device=X.device), per_row.to(X.device))
            cols = torch.randint(k, (n_gen,), generator=g).to(X.device)
            steps = torch.rand(n_gen, generator=g, dtype=torch.float64).to(X.device, X.dtype)
            new_X.append(_interpolate(Xc[rows], Xc[nn[rows, cols]], steps))
            new_y.append(torch.full((n_gen,), c, dtype=y.dtype, device=y.device))
        return torch.cat(new_X), torch.cat(new_y)
