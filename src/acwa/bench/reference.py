"""Reference rows a tabular user would try first (family ``'reference'``): scikit-learn models
with ``class_weight='balanced'`` (class c weighted ``n / (C n_c)``, King & Zeng 2001), trained
on the same split, seeds and standardised features as the acwa methods.

They are shown beside the acwa methods but not ranked among them, so the report says whether
deep re-balancing beats the usual tabular baseline. Only for tabular and embedding data;
``acwa bench --no-reference`` (``run_bench(reference=False)``) leaves them out. scikit-learn is
imported when a reference row runs (``pip install 'acwa-torch[bench]'``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from acwa.bench.registry import register_method
from acwa.bench.training import Fit, RunContext

__all__ = ["SklearnClassifier", "fit_sklearn"]

_MODALITIES = ("tabular", "embedding")


class SklearnClassifier(nn.Module):
    """A fitted scikit-learn classifier as a module returning log-probabilities ``[N, C]``
    (``log predict_proba``, clamped at 1e-12), so the bench scores it like any model."""

    def __init__(self, estimator: Any, num_classes: int) -> None:
        super().__init__()
        self.estimator = estimator
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        proba = self.estimator.predict_proba(x.detach().cpu().reshape(len(x), -1).double().numpy())
        full = np.zeros((len(x), self.num_classes))
        full[:, np.asarray(self.estimator.classes_, dtype=np.int64)] = proba
        return torch.from_numpy(np.log(np.clip(full, 1e-12, None))).float()


def fit_sklearn(ctx: RunContext, estimator: Any) -> Fit:
    """Fit ``estimator`` on the run's training split; the Fit's model is a :class:`SklearnClassifier`."""
    X = ctx.X.reshape(len(ctx.y), -1).double().numpy()
    t0, cpu0 = time.perf_counter(), time.process_time()
    estimator.fit(X, ctx.y.numpy())
    return Fit(
        SklearnClassifier(estimator, ctx.num_classes),
        time.perf_counter() - t0,
        {},
        train_cpu_seconds=time.process_time() - cpu0,
    )


def _sklearn(name: str) -> Any:
    try:
        import sklearn.ensemble
        import sklearn.linear_model
    except ImportError as exc:
        raise ImportError("reference rows need scikit-learn: pip install 'acwa-torch[bench]'") from exc
    return {
        "logreg": sklearn.linear_model.LogisticRegression,
        "hgb": sklearn.ensemble.HistGradientBoostingClassifier,
    }[name]


@register_method(
    "sk-logreg",
    family="reference",
    modalities=_MODALITIES,
    requires=("sklearn",),
    description="scikit-learn LogisticRegression(class_weight='balanced', max_iter=2000) on the standardised features",
)
def sk_logreg(ctx: RunContext) -> Fit:
    return fit_sklearn(ctx, _sklearn("logreg")(class_weight="balanced", max_iter=2000, random_state=ctx.seed))


@register_method(
    "sk-hist-gb",
    family="reference",
    modalities=_MODALITIES,
    requires=("sklearn",),
    description="scikit-learn HistGradientBoostingClassifier(class_weight='balanced'), default settings",
)
def sk_hist_gb(ctx: RunContext) -> Fit:
    return fit_sklearn(ctx, _sklearn("hgb")(class_weight="balanced", random_state=ctx.seed))
