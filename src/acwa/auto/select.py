"""Choose a method per dataset from the training data alone, by cross-fitting.

No single imbalance method wins everywhere (see BENCHMARKS.md); out-of-fold predictions on the
training split are the one honest signal a user has without a test set. :func:`select_method`:

1. deals the training samples into ``num_folds`` stratified folds
   (:func:`acwa.splits.stratified_folds`); a class with a single sample cannot be held out
   without leaving training, so its sample is in the training part of every fold (and, being
   never out-of-fold, takes no part in scoring); every other class keeps >= 1 training sample
   in every fold;
2. for each candidate method, calls the user's ``train_and_predict(method, train_idx,
   heldout_idx)`` once per fold (in order, or on ``executor``: :mod:`acwa.auto._runs`), giving every
   sample an out-of-fold (OOF) logit vector;
3. scores each candidate on its OOF logits with ``metric`` (balanced accuracy by default):
   pooled over all samples (the selection criterion) and per fold (the spread);
4. fits the post-hoc correction on each candidate's OOF logits (reported for every
   candidate; cheap, it works on logits): a per-class bias
   (:func:`acwa.posthoc.fit_class_bias`) or, for a one-logit binary model, a decision threshold
   (:func:`acwa.posthoc.tune_threshold`). It counts only if it improves the OOF score when
   itself cross-fitted (the correction for fold k is fitted on the other folds' OOF logits), so
   the comparison is not flattered by fitting and scoring on the same logits;
5. picks the candidate with the best raw OOF score (ties: the earlier candidate), unless that
   candidate's gain over ``fallback`` (default ``'la'``, when it is a candidate) is within
   ``fallback_se`` standard errors of the per-fold paired differences: then ``fallback`` is kept
   (the one-standard-error rule of cross-validation, Hastie et al., *ESL* 7.10; logit
   adjustment is the Fisher-consistent choice for the balanced error, Menon et al., ICLR 2021,
   so it is the default a noisy OOF estimate should not overturn). It keeps the chosen
   candidate's correction, refitted on all its OOF logits, when the cross-fitted correction
   helped;
6. retrains the winner on all training data: ``train_and_predict(winner, all_idx, empty_idx)``
   (``predict_idx`` is then an empty index tensor; return ``(logits [0, C], model)``).

Cost: ``num_folds * len(candidates) + 1`` calls of ``train_and_predict``.

Multi-label data (multi-hot ``labels [N, L]``, one sigmoid logit per label) follows the same
steps, with these differences:

* folds: :func:`acwa.splits.multilabel_folds` (iterative stratification, Sechidis et al. 2011):
  every label's positives are spread over the folds, and a label with ``>= num_folds``
  positives is in every fold as far as the label co-occurrences allow. No row is kept out of
  scoring; a label with fewer positives than folds is missing from some folds' training part
  (the recipes give it a pseudo-count, :func:`acwa.auto.method_recipe`) and is listed in
  ``SelectionResult.rare_labels``;
* candidates default to :data:`acwa.auto.DEFAULT_MULTILABEL_CANDIDATES`, the metric to
  ``'mean_average_precision'`` (mAP); ``train_and_predict`` returns ``[len(predict_idx), L]``
  logits;
* the correction is a per-label decision threshold (``logit_l > t_l``,
  :func:`acwa.posthoc.tune_threshold` per label: for F1 with ``metric='macro_f1'``, else for
  balanced accuracy), cross-fitted and kept only if it raises the OOF score, as above. mAP ranks
  each label's samples and a threshold changes no ranking, so with
  ``metric='mean_average_precision'`` no correction is tried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from acwa._internal.validation import check_bool, check_choice, check_float, check_int
from acwa.auto._runs import as_logits, fold_logits
from acwa.auto.portfolio import (
    DEFAULT_CANDIDATES,
    DEFAULT_MULTILABEL_CANDIDATES,
    MULTILABEL_PORTFOLIO,
    PORTFOLIO,
    check_multi_hot,
)
from acwa.auto.result import CandidateScore, SelectionResult
from acwa.auto.scoring import SELECTION_METRICS, THRESHOLD_FREE, MetricFn, resolve_metric
from acwa.posthoc import fit_class_bias, tune_threshold
from acwa.splits import multilabel_folds, stratified_folds

__all__ = ["AutoSelector", "SelectionResult", "CandidateScore", "select_method", "TrainAndPredict"]

TrainAndPredict = Callable[[str, Tensor, Tensor], Any]
"""``(method, train_idx, predict_idx) -> logits`` or ``(logits, model)``: train a fresh model
with ``method`` on the training samples ``train_idx`` and return its logits for
``predict_idx`` (``[len(predict_idx), C]``, ``[len(predict_idx)]`` for a one-logit model, or
``[len(predict_idx), L]`` for multi-label data)."""


@dataclass
class AutoSelector:
    """Options of the selection (see the module docstring); :meth:`fit` runs it.

    ``candidates``: methods passed to the training function (default ``None``:
    :data:`acwa.auto.DEFAULT_CANDIDATES` for class ids,
    :data:`acwa.auto.DEFAULT_MULTILABEL_CANDIDATES` for multi-hot labels); ``num_folds`` (>= 2,
    default 5: on digits-lt 5 folds picked the test-best method in 4/5 seeds against 3/5 with 3,
    BENCHMARKS.md); ``metric``: a name of :data:`acwa.auto.SELECTION_METRICS` or
    ``f(logits, labels) -> float`` (higher is better; default ``None``: balanced accuracy for
    class ids, mean average precision for multi-hot labels); ``correct``: try the post-hoc
    bias/threshold; ``retrain``: train the winner on all data; ``seed``: fold assignment;
    ``fallback`` (default ``'la'``; ``None``: plain arg-max) and ``fallback_se``: the fallback is
    kept unless the OOF winner's per-fold gain over it exceeds ``fallback_se`` standard errors
    (module docstring, step 5; on ecg5000 the raw choice picked ``la``, the test-best, in 1 of 5
    seeds, the rule in 4 of 5, BENCHMARKS.md); it applies only when the fallback is a candidate.
    """

    candidates: Sequence[str] | None = None
    num_folds: int = 5
    metric: str | MetricFn | None = None
    correct: bool = True
    retrain: bool = True
    seed: int = 0
    verbose: bool = False
    fallback: str | None = "la"
    fallback_se: float = 1.0
    executor: Executor | None = None

    def __post_init__(self) -> None:
        self.num_folds = check_int(self.num_folds, "num_folds", min=2)
        self.fallback_se = check_float(self.fallback_se, "fallback_se", min=0.0, hint="1.0: the one-SE rule")
        if self.fallback is not None and not isinstance(self.fallback, str):
            raise ValueError(f"fallback must be a method name or None, got {self.fallback!r}")
        self.seed = check_int(self.seed, "seed")
        self.correct = check_bool(self.correct, "correct")
        self.retrain = check_bool(self.retrain, "retrain")
        self.verbose = check_bool(self.verbose, "verbose")
        if self.executor is not None and not isinstance(self.executor, Executor):
            raise ValueError(
                f"executor must be a concurrent.futures.Executor (e.g. ThreadPoolExecutor), got {self.executor!r}"
            )
        if self.candidates is not None:
            if isinstance(self.candidates, str) or not all(isinstance(c, str) for c in self.candidates):
                raise ValueError(f"candidates must be a sequence of method names, got {self.candidates!r}")
            self.candidates = tuple(self.candidates)
            if not self.candidates or len(set(self.candidates)) != len(self.candidates):
                raise ValueError(f"candidates must be non-empty and distinct, got {list(self.candidates)}")
        if isinstance(self.metric, str):
            check_choice(self.metric, SELECTION_METRICS, "metric")
        elif self.metric is not None and not callable(self.metric):
            raise ValueError(f"metric must be a name in {list(SELECTION_METRICS)} or a callable, got {self.metric!r}")

    @property
    def budget(self) -> int:
        """Trainings this selection costs: ``num_folds * len(candidates) + 1`` (both default
        candidate tuples have 4 methods)."""
        n = len(self.candidates) if self.candidates is not None else len(DEFAULT_CANDIDATES)
        return self.num_folds * n + int(self.retrain)

    def resolve(self, multilabel: bool) -> tuple[tuple[str, ...], str | MetricFn]:
        """The candidates and metric used for class ids (``multilabel=False``) or multi-hot
        labels; ``ValueError`` naming ``candidates`` when a portfolio method does not fit them."""
        if self.candidates is None:
            candidates = DEFAULT_MULTILABEL_CANDIDATES if multilabel else DEFAULT_CANDIDATES
        else:
            candidates = tuple(self.candidates)
        unknown = [c for c in candidates if c not in PORTFOLIO and c not in MULTILABEL_PORTFOLIO]
        if unknown:
            raise ValueError(
                f"unknown candidates {unknown}; choose among {', '.join([*PORTFOLIO, *MULTILABEL_PORTFOLIO])}"
            )
        other, kind = (PORTFOLIO, "multi-hot") if multilabel else (MULTILABEL_PORTFOLIO, "class-id")
        wrong = [c for c in candidates if c in other]
        if wrong:
            fits = MULTILABEL_PORTFOLIO if multilabel else PORTFOLIO
            raise ValueError(
                f"candidates {wrong} do not train on {kind} labels; choose among {', '.join(fits)} "
                f"(or leave candidates=None for the default {kind} portfolio)"
            )
        metric = (
            self.metric
            if self.metric is not None
            else ("mean_average_precision" if multilabel else "balanced_accuracy")
        )
        return candidates, metric

    def fit(self, train_and_predict: TrainAndPredict, labels: Tensor) -> SelectionResult:
        """Run the selection for the training labels ``labels``: ``[N]`` class ids or a
        multi-hot ``[N, L]`` matrix (multi-label)."""
        if not callable(train_and_predict):
            raise ValueError("train_and_predict must be callable (method, train_idx, predict_idx) -> logits")
        y = _check_labels(labels)
        multilabel = y.dim() == 2
        candidates, metric_choice = self.resolve(multilabel)
        metric_name, metric = resolve_metric(metric_choice)
        n = y.shape[0]
        if multilabel:
            if self.num_folds > n:
                raise ValueError(f"num_folds ({self.num_folds}) exceeds the number of samples ({n}); lower num_folds")
            single = torch.zeros(0, dtype=torch.long)
            always = single
            scored = torch.ones(n, dtype=torch.bool)
            folds = torch.from_numpy(multilabel_folds(y, num_folds=self.num_folds, seed=self.seed))
        else:
            counts = torch.bincount(y)
            single = torch.nonzero(counts == 1).flatten()
            always = torch.nonzero(torch.isin(y, single)).flatten()
            scored = ~torch.isin(y, single)
            folds = torch.from_numpy(stratified_folds(y, num_folds=self.num_folds, seed=self.seed))
        calls = [0]

        def run(method: str, train_idx: Tensor, predict_idx: Tensor) -> tuple[Tensor, Any]:
            calls[0] += 1
            return as_logits(train_and_predict(method, train_idx, predict_idx), method)

        def done(method: str, fold: int, finished: int, total: int) -> None:
            calls[0] += 1
            if self.verbose:
                print(f"acwa.auto: {method} fold {fold + 1}/{self.num_folds} trained ({finished}/{total})")

        width = y.shape[1] if multilabel else None
        oof = fold_logits(train_and_predict, candidates, folds, self.num_folds, always, width, self.executor, done)
        scores: dict[str, CandidateScore] = {}
        for method in candidates:
            scores[method] = _score(method, oof[method], y, folds, scored, metric, self.num_folds)
            if self.verbose:
                print(f"acwa.auto: {method}: OOF {metric_name} {scores[method].score:.4f}")
        fits: dict[str, tuple[Tensor | None, float | None, float | None]] = {}
        if self.correct and not (multilabel and metric_name in THRESHOLD_FREE):
            # cheap (post-hoc fits on logits): every candidate, so the choice sees it
            for m in candidates:
                if multilabel:
                    objective = "f1" if metric_name == "macro_f1" else "balanced_accuracy"
                    fits[m] = _label_thresholds(oof[m], y, folds, metric, scores[m].score, objective)
                else:
                    fits[m] = _correction(oof[m], y, folds, scored, metric, scores[m].score)
                scores[m].corrected = fits[m][2]
        best = max(candidates, key=lambda m: scores[m].score)  # raw OOF score; first maximum wins ties
        winner, gain = best, None
        if self.fallback in candidates and best != self.fallback:
            gain = paired_gain(scores[best], scores[self.fallback])
            if gain is not None and gain[0] <= self.fallback_se * gain[1]:
                winner = self.fallback
        bias, threshold, corrected = fits.get(winner, (None, None, None))
        thresholds = None
        if multilabel:
            bias, thresholds = None, bias  # the per-label thresholds [L]
        model = run(winner, torch.arange(n), torch.zeros(0, dtype=torch.long))[1] if self.retrain else None
        positives = y.sum(0) if multilabel else None
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
            thresholds=thresholds,
            task="multilabel" if multilabel else "binary" if oof[winner].shape[1] == 1 else "multiclass",
            rare_labels=[] if positives is None else torch.nonzero(positives < self.num_folds).flatten().tolist(),
            best=best,
            fallback_gain=gain,
            fallback_se=self.fallback_se,
        )


def select_method(
    train_and_predict: TrainAndPredict,
    labels: Tensor,
    *,
    candidates: Sequence[str] | None = None,
    num_folds: int = 5,
    metric: str | MetricFn | None = None,
    correct: bool = True,
    retrain: bool = True,
    seed: int = 0,
    verbose: bool = False,
    fallback: str | None = "la",
    fallback_se: float = 1.0,
    executor: Executor | None = None,
) -> SelectionResult:
    """Cross-fit ``candidates``, pick the best out-of-fold ``metric``, fit the post-hoc
    correction when it helps, retrain the winner (module docstring). ``labels``: class ids
    ``[N]`` or multi-hot ``[N, L]``; ``candidates`` / ``metric`` ``None``: the defaults for
    those labels (:class:`AutoSelector`). Budget: ``num_folds * len(candidates) + 1``
    trainings. ``executor``: a :class:`concurrent.futures.Executor` that runs the fold trainings
    (all independent; :mod:`acwa.auto._runs`): same result, each reported as it finishes
    with ``verbose``."""
    selector = AutoSelector(
        candidates, num_folds, metric, correct, retrain, seed, verbose, fallback, fallback_se, executor
    )
    return selector.fit(train_and_predict, labels)


def paired_gain(best: CandidateScore, other: CandidateScore) -> tuple[float, float] | None:
    """``(mean, standard error)`` of the per-fold differences ``best - other`` over the folds
    where both are defined; None with fewer than two such folds."""
    d = [a - b for a, b in zip(best.fold_scores, other.fold_scores) if a == a and b == b]
    if len(d) < 2:
        return None
    return float(np.mean(d)), float(np.std(d, ddof=1) / np.sqrt(len(d)))


def _check_labels(labels: Any) -> Tensor:
    """Class ids ``[N]`` (int64) or a multi-hot matrix ``[N, L]`` (int64 0/1)."""
    y = torch.as_tensor(labels).detach().cpu()
    if y.dim() == 2:
        y = check_multi_hot(y, "labels")
        if y.shape[1] > 1 and bool((y.sum(1) == 1).all()):
            raise ValueError(
                "labels holds one-hot rows (exactly one 1 per row): for a multi-class problem pass class ids "
                "labels.argmax(1); multi-hot [N, L] labels are read as multi-label data"
            )
        if not bool(y.any()):
            raise ValueError("labels (multi-hot) has no positive in any column; at least one label needs positives")
        return y
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"labels must hold integer class ids, got dtype {y.dtype}; pass labels.long()")
    if y.dim() != 1 or y.numel() == 0:
        raise ValueError(
            "labels must be a non-empty 1-D tensor of class ids or a multi-hot matrix [N, L], "
            f"got shape {list(y.shape)}"
        )
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
            t = tune_threshold(z[fit_rows], y[fit_rows], "balanced_accuracy", n_boot=0).threshold
            adjusted[rows] = z[rows] - t
        else:
            adjusted[rows] = z[rows] + fit_class_bias(z[fit_rows], y[fit_rows], z.shape[1])
    corrected = metric(adjusted[scored], y[scored])
    if not corrected > raw:
        return None, None, corrected
    if binary:
        return None, tune_threshold(z[scored], y[scored], "balanced_accuracy", n_boot=0).threshold, corrected
    return fit_class_bias(z[scored], y[scored], z.shape[1]), None, corrected


def _label_thresholds(
    z: Tensor, y: Tensor, folds: Tensor, metric: MetricFn, raw: float, objective: str
) -> tuple[Tensor | None, None, float]:
    """(per-label thresholds [L], None, cross-fitted corrected score) of multi-label OOF logits:
    the thresholds for fold k are fitted on the other folds; kept only if the score beats ``raw``."""
    adjusted = z.clone()
    for k in torch.unique(folds).tolist():
        rows = folds == k
        adjusted[rows] = z[rows] - _fit_thresholds(z[~rows], y[~rows], objective)
    corrected = metric(adjusted, y)
    if not corrected > raw:
        return None, None, corrected
    return _fit_thresholds(z, y, objective), None, corrected


def _fit_thresholds(z: Tensor, y: Tensor, objective: str) -> Tensor:
    """Per label, :func:`acwa.posthoc.tune_threshold` for ``objective``; 0 for a label without
    positives or negatives in these rows."""
    out = torch.zeros(z.shape[1], dtype=z.dtype)
    for j in range(z.shape[1]):
        pos = int(y[:, j].sum())
        if 0 < pos < y.shape[0]:
            out[j] = tune_threshold(z[:, j], y[:, j], objective, n_boot=0).threshold
    return out
