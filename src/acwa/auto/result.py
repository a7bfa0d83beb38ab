"""What :func:`acwa.auto.select_method` returns: every candidate's out-of-fold score, the
winner, its post-hoc correction and the retrained model, with :meth:`SelectionResult.explain`
saying why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from acwa.auto.scoring import THRESHOLD_FREE
from acwa.posthoc._threshold import binary_scores

__all__ = ["CandidateScore", "SelectionResult"]


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
        """Mean of the defined fold scores (a multi-label fold without positives has none)."""
        v = self._defined
        return float(np.mean(v)) if v else float("nan")

    @property
    def fold_std(self) -> float:
        v = self._defined
        return float(np.std(v)) if v else float("nan")

    @property
    def _defined(self) -> list[float]:
        return [f for f in self.fold_scores if f == f]


@dataclass
class SelectionResult:
    """What :func:`select_method` returns.

    ``method``: the winner; ``candidates``: every candidate's :class:`CandidateScore`;
    ``bias`` (``[C]``, multi-class), ``threshold`` (one-logit binary) or ``thresholds`` (``[L]``,
    multi-label): the post-hoc correction to apply to the final model's logits, ``None`` when it
    did not improve the cross-fitted OOF score; ``model``: whatever the final
    ``train_and_predict`` call returned as its model (or None if it returned logits only);
    ``oof_logits``: each candidate's OOF logits; ``task``: ``'multiclass'``, ``'binary'`` (one
    logit) or ``'multilabel'``; ``rare_labels``: multi-label labels with fewer positives than
    folds.
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
    thresholds: Tensor | None = None
    task: str = "multiclass"
    rare_labels: list[int] = field(default_factory=list)
    best: str | None = None  # the raw OOF winner (differs from method when the fallback was kept)
    fallback_gain: tuple[float, float] | None = None  # (mean, SE) of best's per-fold gain over the fallback
    fallback_se: float = 1.0

    def adjust(self, logits: Tensor) -> Tensor:
        """``logits + bias`` (multi-class) or ``logits - thresholds`` (multi-label, so that
        ``> 0`` decides); unchanged without a correction."""
        if self.thresholds is not None:
            return logits - self.thresholds.to(device=logits.device, dtype=logits.dtype)
        if self.bias is None:
            return logits
        return logits + self.bias.to(device=logits.device, dtype=logits.dtype)

    def predict(self, logits: Tensor) -> Tensor:
        """Predictions of the final model's ``logits`` with the selected correction: class ids
        (multi-class, binary) or a multi-hot ``[N, L]`` int64 matrix (multi-label)."""
        if self.task == "multilabel":
            return (self.adjust(logits) > 0).long()
        if logits.dim() == 1 or logits.shape[1] == 1:
            return (binary_scores(logits) > (self.threshold if self.threshold is not None else 0.0)).long()
        return self.adjust(logits).argmax(1)

    def explain(self) -> str:
        """Why this method: every candidate's OOF score, the margin, the correction, the cost."""
        ranked = sorted(self.candidates.values(), key=lambda c: -c.score)
        folds = "multi-label stratified" if self.task == "multilabel" else "stratified"
        lines = [f"out-of-fold {self.metric} over {self.num_folds} {folds} folds (higher is better):"]
        width = max([18] + [len(c.method) for c in ranked])
        for c in ranked:
            mark = "  <- chosen" if c.method == self.method else ""
            lines.append(f"  {c.method:<{width}} {c.score:.4f}  (per fold {c.fold_mean:.4f} +- {c.fold_std:.4f}){mark}")
        if len(ranked) > 1:
            gap = ranked[0].score - ranked[1].score
            spread = max(ranked[0].fold_std, ranked[1].fold_std)
            sure = "larger" if gap > spread else "smaller"
            lines.append(
                f"{ranked[0].method} beats {ranked[1].method} by {gap:.4f}, {sure} than the fold spread ({spread:.4f})"
            )
        if self.fallback_gain is not None and self.best is not None:
            mean, se = self.fallback_gain
            if self.best != self.method:
                lines.append(
                    f"{self.best} has the best OOF score, but its per-fold gain over {self.method} ({mean:+.4f}, "
                    f"SE {se:.4f}) is within {self.fallback_se:g} SE: {self.method} (the fallback) is kept"
                )
            else:
                lines.append(f"{self.method}'s per-fold gain over the fallback: {mean:+.4f} (SE {se:.4f}), significant")
        kind = "per-label threshold" if self.task == "multilabel" else "threshold" if self._binary else "per-class bias"
        if self.corrected_score is None:
            free = self.task == "multilabel" and self.metric in THRESHOLD_FREE
            lines.append(
                f"post-hoc {kind}: not tried ({self.metric} does not depend on thresholds)"
                if free
                else "post-hoc correction: not tried"
            )
        elif self.bias is not None or self.threshold is not None or self.thresholds is not None:
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
        if self.rare_labels:
            lines.append(f"labels {self.rare_labels} have fewer positives than folds: some folds train without them")
        lines.append(f"cost: {self.trainings} trainings")
        return "\n".join(lines)

    @property
    def _binary(self) -> bool:
        if self.task == "multilabel":
            return False
        z = self.oof_logits[self.method]
        return z.dim() == 1 or z.shape[1] == 1

    def __str__(self) -> str:
        return self.explain()
