"""Choose a method per dataset from the training data alone, by cross-fitting.

No single imbalance method wins everywhere (see BENCHMARKS.md); out-of-fold predictions on the
training split are the one honest signal a user has without a test set. :func:`select_method`:

1. deals the training samples into ``num_folds`` stratified folds
   (:func:`acwa.splits.stratified_folds`); a class with a single sample cannot be held out
   without leaving training, so its sample is in the training part of every fold (and, being
   never out-of-fold, takes no part in scoring); every other class keeps >= 1 training sample
   in every fold;
2. for each candidate method, calls the user's ``train_and_predict(method, train_idx,
   heldout_idx)`` once per fold through :func:`acwa.posthoc.cross_fitted_logits`, giving every
   sample an out-of-fold (OOF) logit vector;
3. scores each candidate on its OOF logits with ``metric`` (balanced accuracy by default):
   pooled over all samples (the selection criterion) and per fold (the spread);
4. fits the post-hoc correction on each candidate's OOF logits (reported for every
   candidate; cheap, it works on logits): a per-class bias
   (:func:`acwa.posthoc.fit_class_bias`) or, for a one-logit binary model, a decision threshold
   (:func:`acwa.posthoc.tune_threshold`). It counts only if it improves the OOF score when
   itself cross-fitted (the correction for fold k is fitted on the other folds' OOF logits), so
   the comparison is not flattered by fitting and scoring on the same logits;
5. picks the candidate with the best raw OOF score (ties: the earlier candidate) and keeps its
   correction, refitted on all its OOF logits, when the cross-fitted correction helped;
6. retrains the winner on all training data: ``train_and_predict(winner, all_idx, empty_idx)``
   (``predict_idx`` is then an empty index tensor; return ``(logits [0, C], model)``).

Cost: ``num_folds * len(candidates) + 1`` calls of ``train_and_predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._validation import check_bool, check_choice, check_int
from ..posthoc import binary_scores, cross_fitted_logits, fit_class_bias, tune_threshold
from ..splits import stratified_folds
from .portfolio import DEFAULT_CANDIDATES
from .scoring import METRICS, MetricFn, resolve_metric

__all__ = ["AutoSelector", "SelectionResult", "CandidateScore", "select_method", "TrainAndPredict"]

TrainAndPredict = Callable[[str, Tensor, Tensor], Any]
"""``(method, train_idx, predict_idx) -> logits`` or ``(logits, model)``: train a fresh model
with ``method`` on the training samples ``train_idx`` and return its logits for
``predict_idx`` (``[len(predict_idx), C]``, or ``[len(predict_idx)]`` for a one-logit model)."""


@dataclass
class CandidateScore:
    """One candidate's out-of-fold result: ``score`` pooled over all scored samples (the
    selection criterion), ``fold_scores`` per fold (their spread says how sure the choice is)
    and ``corrected`` the pooled score after the cross-fitted post-hoc correction (None when
    not tried; reported, not used to choose: selecting on it did worse, see BENCHMARKS.md)."""

    method: str
    score: float
    fold_scores: list[float]
    corrected: float | None = None

    @property
    def fold_mean(self) -> float:
        return float(np.mean(self.fold_scores))

    @property
    def fold_std(self) -> float:
        return float(np.std(self.fold_scores))


@dataclass
class SelectionResult:
    """What :func:`select_method` returns.

    ``method``: the winner; ``candidates``: every candidate's :class:`CandidateScore`;
    ``bias`` (``[C]``, multi-class) or ``threshold`` (one-logit binary): the post-hoc correction
    to apply to the final model's logits, ``None`` when it did not improve the cross-fitted OOF
    score; ``model``: whatever the final ``train_and_predict`` call returned as its model (or
    None if it returned logits only); ``oof_logits``: each candidate's OOF logits.
    """

    method: str
    candidates: dict[str, CandidateScore]
    bias: Tensor | None
    threshold: float | None
    raw_score: float
    corrected_score: float | None
    model: Any
    oof_logits: dict[str, Tensor]
    trainings: int
    num_folds: int
    metric: str
    unscored: list[int] = field(default_factory=list)

    def adjust(self, logits: Tensor) -> Tensor:
        """``logits + bias`` (multi-class; unchanged without a bias)."""
        if self.bias is None:
            return logits
        return logits + self.bias.to(device=logits.device, dtype=logits.dtype)

    def predict(self, logits: Tensor) -> Tensor:
        """Class predictions of the final model's ``logits`` with the selected correction."""
        if logits.dim() == 1 or logits.shape[1] == 1:
            return (binary_scores(logits) > (self.threshold if self.threshold is not None else 0.0)).long()
        return self.adjust(logits).argmax(1)

    def explain(self) -> str:
        """Why this method: every candidate's OOF score, the margin, the correction, the cost."""
        ranked = sorted(self.candidates.values(), key=lambda c: -c.score)
        lines = [f"out-of-fold {self.metric} over {self.num_folds} stratified folds (higher is better):"]
        for c in ranked:
            mark = "  <- chosen" if c.method == self.method else ""
            lines.append(f"  {c.method:<18} {c.score:.4f}  (per fold {c.fold_mean:.4f} +- {c.fold_std:.4f}){mark}")
        if len(ranked) > 1:
            gap = ranked[0].score - ranked[1].score
            spread = max(ranked[0].fold_std, ranked[1].fold_std)
            sure = "larger" if gap > spread else "smaller"
            lines.append(
                f"{self.method} beats {ranked[1].method} by {gap:.4f}, {sure} than the fold spread ({spread:.4f})"
            )
        kind = "threshold" if self._binary else "per-class bias"
        if self.corrected_score is None:
            lines.append("post-hoc correction: not tried")
        elif self.bias is not None or self.threshold is not None:
            lines.append(
                f"post-hoc {kind}: cross-fitted OOF {self.metric} {self.raw_score:.4f} -> "
                f"{self.corrected_score:.4f}, applied"
            )
        else:
            lines.append(
                f"post-hoc {kind}: cross-fitted OOF {self.metric} {self.raw_score:.4f} -> "
                f"{self.corrected_score:.4f}, no gain, not applied"
            )
        if self.unscored:
            lines.append(f"classes {self.unscored} have one sample: trained on in every fold, not scored")
        lines.append(f"cost: {self.trainings} trainings")
        return "\n".join(lines)

    @property
    def _binary(self) -> bool:
        z = self.oof_logits[self.method]
        return z.dim() == 1 or z.shape[1] == 1

    def __str__(self) -> str:
        return self.explain()


@dataclass
class AutoSelector:
    """Options of the selection (see the module docstring); :meth:`fit` runs it.

    ``candidates``: methods passed to the training function (default
    :data:`acwa.auto.DEFAULT_CANDIDATES`); ``num_folds`` (>= 2, default 5: on digits-lt 5
    folds picked the test-best method in 4/5 seeds against 3/5 with 3, BENCHMARKS.md); ``metric``: a name
    of :data:`acwa.auto.METRICS` or ``f(logits, labels) -> float`` (higher is better);
    ``correct``: try the post-hoc bias/threshold; ``retrain``: train the winner on all data;
    ``seed``: fold assignment.
    """

    candidates: Sequence[str] = DEFAULT_CANDIDATES
    num_folds: int = 5
    metric: str | MetricFn = "balanced_accuracy"
    correct: bool = True
    retrain: bool = True
    seed: int = 0
    verbose: bool = False

    def __post_init__(self) -> None:
        self.num_folds = check_int(self.num_folds, "num_folds", min=2)
        self.seed = check_int(self.seed, "seed")
        self.correct = check_bool(self.correct, "correct")
        self.retrain = check_bool(self.retrain, "retrain")
        self.verbose = check_bool(self.verbose, "verbose")
        if isinstance(self.candidates, str) or not all(isinstance(c, str) for c in self.candidates):
            raise ValueError(f"candidates must be a sequence of method names, got {self.candidates!r}")
        self.candidates = tuple(self.candidates)
        if not self.candidates or len(set(self.candidates)) != len(self.candidates):
            raise ValueError(f"candidates must be non-empty and distinct, got {list(self.candidates)}")
        if isinstance(self.metric, str):
            check_choice(self.metric, METRICS, "metric")
        elif not callable(self.metric):
            raise ValueError(f"metric must be a name in {list(METRICS)} or a callable, got {self.metric!r}")

    @property
    def budget(self) -> int:
        """Trainings this selection costs: ``num_folds * len(candidates) + 1``."""
        return self.num_folds * len(self.candidates) + int(self.retrain)

    def fit(self, train_and_predict: TrainAndPredict, labels: Tensor) -> SelectionResult:
        """Run the selection for the training labels ``labels`` (``[N]`` class ids)."""
        if not callable(train_and_predict):
            raise ValueError("train_and_predict must be callable (method, train_idx, predict_idx) -> logits")
        y = _check_labels(labels)
        metric_name, metric = resolve_metric(self.metric)
        counts = torch.bincount(y)
        single = torch.nonzero(counts == 1).flatten()
        always = torch.nonzero(torch.isin(y, single)).flatten()
        scored = ~torch.isin(y, single)
        folds = torch.from_numpy(stratified_folds(y, num_folds=self.num_folds, seed=self.seed))
        calls = [0]

        def run(method: str, train_idx: Tensor, predict_idx: Tensor) -> tuple[Tensor, Any]:
            calls[0] += 1
            out = train_and_predict(method, train_idx, predict_idx)
            logits, model = out if isinstance(out, tuple) else (out, None)
            if not isinstance(logits, Tensor):
                raise ValueError(f"train_and_predict({method!r}, ...) must return logits, got {type(logits).__name__}")
            return (logits.unsqueeze(1) if logits.dim() == 1 else logits), model

        oof: dict[str, Tensor] = {}
        scores: dict[str, CandidateScore] = {}
        for method in self.candidates:

            def fold_fn(train_idx: Tensor, heldout_idx: Tensor, method: str = method) -> Tensor:
                train = torch.unique(torch.cat([train_idx, always]))  # sorted, singletons always in
                return run(method, train, heldout_idx)[0]

            z = cross_fitted_logits(fold_fn, y, num_folds=self.num_folds, seed=self.seed)
            if not bool(torch.isfinite(z).all()):
                raise ValueError(f"train_and_predict returned NaN/Inf logits for method {method!r}")
            oof[method] = z
            scores[method] = _score(method, z, y, folds, scored, metric, self.num_folds)
            if self.verbose:
                print(f"acwa.auto: {method}: OOF {metric_name} {scores[method].score:.4f}")
        fits = {}
        if self.correct:  # cheap (post-hoc fits on logits): every candidate, so the choice sees it
            for m in self.candidates:
                fits[m] = _correction(oof[m], y, folds, scored, metric, scores[m].score)
                scores[m].corrected = fits[m][2]
        winner = max(self.candidates, key=lambda m: scores[m].score)  # raw OOF score; first maximum wins ties
        bias, threshold, corrected = fits.get(winner, (None, None, None))
        model = run(winner, torch.arange(y.numel()), torch.zeros(0, dtype=torch.long))[1] if self.retrain else None
        return SelectionResult(
            winner,
            scores,
            bias,
            threshold,
            scores[winner].score,
            corrected,
            model,
            oof,
            calls[0],
            self.num_folds,
            metric_name,
            single.tolist(),
        )


def select_method(
    train_and_predict: TrainAndPredict,
    labels: Tensor,
    *,
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    num_folds: int = 5,
    metric: str | MetricFn = "balanced_accuracy",
    correct: bool = True,
    retrain: bool = True,
    seed: int = 0,
    verbose: bool = False,
) -> SelectionResult:
    """Cross-fit ``candidates``, pick the best out-of-fold ``metric``, fit the post-hoc
    correction when it helps, retrain the winner (module docstring). Budget:
    ``num_folds * len(candidates) + 1`` trainings."""
    selector = AutoSelector(candidates, num_folds, metric, correct, retrain, seed, verbose)
    return selector.fit(train_and_predict, labels)


def _check_labels(labels: Any) -> Tensor:
    y = torch.as_tensor(labels).detach().cpu()
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"labels must hold integer class ids, got dtype {y.dtype}; pass labels.long()")
    if y.dim() != 1 or y.numel() == 0:
        raise ValueError(f"labels must be a non-empty 1-D tensor of class ids, got shape {list(y.shape)}")
    if int(y.min()) < 0:
        raise ValueError(f"labels must be >= 0 (classes 0..C-1), got {int(y.min())}")
    if torch.unique(y).numel() < 2:
        raise ValueError("labels must contain at least two classes to compare methods")
    return y.long()


def _score(
    method: str, z: Tensor, y: Tensor, folds: Tensor, scored: Tensor, metric: MetricFn, num_folds: int
) -> CandidateScore:
    pooled = metric(z[scored], y[scored])
    per_fold = [metric(z[(folds == k) & scored], y[(folds == k) & scored]) for k in range(num_folds)]
    return CandidateScore(method, pooled, per_fold)


def _correction(
    z: Tensor, y: Tensor, folds: Tensor, scored: Tensor, metric: MetricFn, raw: float
) -> tuple[Tensor | None, float | None, float]:
    """(bias, threshold, cross-fitted corrected score): the correction is kept only if the
    cross-fitted score beats ``raw``."""
    binary = z.shape[1] == 1
    adjusted = z.clone()
    for k in torch.unique(folds).tolist():
        fit_rows = (folds != k) & scored
        rows = folds == k
        if binary:
            t = tune_threshold(z[fit_rows], y[fit_rows], "balanced_accuracy").threshold
            adjusted[rows] = z[rows] - t
        else:
            adjusted[rows] = z[rows] + fit_class_bias(z[fit_rows], y[fit_rows], z.shape[1])
    corrected = metric(adjusted[scored], y[scored])
    if not corrected > raw:
        return None, None, corrected
    if binary:
        return None, tune_threshold(z[scored], y[scored], "balanced_accuracy").threshold, corrected
    return fit_class_bias(z[scored], y[scored], z.shape[1]), None, corrected
