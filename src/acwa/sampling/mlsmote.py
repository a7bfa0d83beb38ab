"""MLSMOTE: synthetic minority oversampling for multi-label data (Charte, Rivera, del Jesus and
Herrera, "MLSMOTE: Approaching imbalanced multilabel learning through synthetic instance
generation", Knowledge-Based Systems 89, 2015).

With ``n_l`` positives of label l, the imbalance ratio per label is
``IRLbl(l) = max_k n_k / n_l`` and ``MeanIR`` its mean over labels with positives. Every label
with ``IRLbl(l) > MeanIR`` is a minority label. For each minority label l, for each instance s
carrying l (the label's bag):

1. its ``k`` nearest neighbours inside the bag (Euclidean, exact: :func:`acwa.sampling.knn_indices`);
2. a random neighbour r; a synthetic feature vector ``x_s + u * (x_r - x_s)`` with ``u`` drawn
   uniformly in [0, 1) per feature (as the paper's numeric-attribute rule);
3. its labels by the paper's ``'ranking'`` rule: a label is set when more than half of the
   k + 1 instances (s and its neighbours) carry it; ``'union'`` and ``'intersection'`` are the
   paper's alternatives.

So each minority label adds one synthetic instance per instance carrying it, and the bags are
read from the original data (labels are not re-ranked as synthetic instances arrive, as in the
paper). A bag with fewer than two instances cannot be interpolated and is skipped; a bag with
``m <= k`` instances uses its ``m - 1`` other instances as neighbours. ``fit_resample`` returns
the originals first, then the synthetic instances label by label (in increasing label order),
on X's device and in X's type (numpy in, numpy out).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from acwa._internal.validation import check_choice, check_int
from acwa.sampling.multilabel import multi_hot_labels
from acwa.sampling.resample import RandomState, make_generator
from acwa.sampling.smote import knn_indices

__all__ = ["MLSMOTE", "LABEL_GENERATION", "minority_labels"]

LABEL_GENERATION = ("ranking", "union", "intersection")


def minority_labels(label_counts: Tensor) -> Tensor:
    """Indices of the labels with ``IRLbl > MeanIR`` (labels without positives are left out)."""
    n = label_counts.double()
    present = n > 0
    irl = torch.where(present, n.max() / n.clamp(min=1), torch.zeros_like(n))
    mean_ir = irl[present].mean()
    return torch.nonzero(present & (irl > mean_ir)).flatten()


class MLSMOTE:
    """Multi-label SMOTE (module docstring).

    Args:
        k_neighbors: neighbours inside a label's bag (default 5, the paper's).
        label_generation: ``'ranking'`` (default), ``'union'`` or ``'intersection'``.
        random_state: None, an int seed or a ``torch.Generator``.

    After :meth:`fit_resample`, ``minority_labels_`` holds the minority labels and
    ``sample_counts_`` the number of synthetic instances per minority label.
    """

    def __init__(self, *, k_neighbors: int = 5, label_generation: str = "ranking", random_state: RandomState = None):
        self.k_neighbors = check_int(k_neighbors, "k_neighbors", min=1)
        self.label_generation = check_choice(label_generation, LABEL_GENERATION, "label_generation")
        make_generator(random_state if not isinstance(random_state, torch.Generator) else None)  # validates
        self.random_state = random_state

    def fit_resample(self, X: Any, Y: Any) -> tuple[Any, Any]:
        """``(X_resampled, Y_resampled)``: originals first, then the synthetic instances."""
        was_numpy = isinstance(X, np.ndarray)
        if not isinstance(X, (Tensor, np.ndarray)):
            raise ValueError(f"X must be a torch.Tensor or a numpy array, got {type(X).__name__}")
        Xt = torch.from_numpy(X) if isinstance(X, np.ndarray) else X
        if Xt.dim() != 2 or not Xt.is_floating_point():
            raise ValueError(f"X must be a 2-D float array [n_samples, n_features], got {Xt.dtype} {tuple(Xt.shape)}")
        if not bool(torch.isfinite(Xt).all()):
            raise ValueError("X contains NaN or Inf; impute or drop those samples before resampling")
        Yt = multi_hot_labels(Y)
        if Yt.shape[0] != Xt.shape[0]:
            raise ValueError(f"X has {Xt.shape[0]} samples but Y has {Yt.shape[0]} rows; they must match")
        g = make_generator(self.random_state)
        counts = Yt.long().sum(0)
        self.minority_labels_ = minority_labels(counts)
        self.sample_counts_: dict[int, int] = {}
        new_x, new_y = [Xt], [Yt.to(Xt.device)]
        for label in self.minority_labels_.tolist():
            bag = torch.nonzero(Yt[:, label]).flatten()
            if bag.numel() < 2:
                self.sample_counts_[label] = 0
                continue
            xs, ys = self._synthesise(Xt, Yt, bag, g)
            new_x.append(xs)
            new_y.append(ys)
            self.sample_counts_[label] = int(bag.numel())
        X_res, Y_res = torch.cat(new_x), torch.cat(new_y)
        if was_numpy:
            return X_res.cpu().numpy(), Y_res.cpu().numpy().astype(np.int64)
        return X_res, Y_res.to(Y.dtype if isinstance(Y, Tensor) else torch.int64)

    def _synthesise(self, X: Tensor, Y: Tensor, bag: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
        m = bag.numel()
        k = min(self.k_neighbors, m - 1)
        xb = X.index_select(0, bag.to(X.device))
        own = torch.arange(m, device=X.device)
        nn = knn_indices(xb, xb, k, exclude=own)  # [m, k] positions inside the bag
        pick = torch.randint(k, (m,), generator=g).to(X.device)
        ref = nn.gather(1, pick.unsqueeze(1)).squeeze(1)
        u = torch.rand(m, X.shape[1], generator=g, dtype=torch.float64).to(X.device, X.dtype)
        xs = xb + u * (xb[ref] - xb)
        yb = Y.index_select(0, bag).to(X.device)
        group = torch.cat([yb.unsqueeze(1), yb[nn.to(yb.device)]], dim=1).long()  # [m, k + 1, L]
        votes = group.sum(1)
        if self.label_generation == "ranking":
            ys = (2 * votes > k + 1).to(Y.dtype)
        elif self.label_generation == "union":
            ys = (votes > 0).to(Y.dtype)
        else:
            ys = (votes == k + 1).to(Y.dtype)
        return xs, ys
