"""What :func:`acwa.auto.select_head` returns: each head candidate's held-out score, the winner
and the final model, with :meth:`HeadSelection.explain` saying why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

__all__ = ["HEAD_CANDIDATES", "HeadSelection"]

HEAD_CANDIDATES: dict[str, str] = {
    "joint": "the head trained with the backbone (plain instance-sampled training), unchanged",
    "la-posthoc": "post-hoc logit adjustment z - log pi (Menon et al. 2021); one logit: z - log(pi / (1 - pi))",
    "bias": "a per-class logit bias fitted by balanced log-loss on held-out logits (acwa.posthoc.fit_class_bias)",
    "threshold": "one logit: the balanced-accuracy threshold on held-out logits (acwa.posthoc.tune_threshold)",
    "tau-norm": "tau-normalised head w_c / ||w_c||^tau, tau in 0, 0.1, ..., 1 chosen on held-out (Kang et al. 2020)",
    "ncm": "nearest class mean, cosine on L2-normalised features (Kang et al. 2020)",
    "crt": "classifier re-training: a new linear head with class-balanced sampling (Kang et al. 2020)",
    "lws": "learnable weight scaling f_c (w_c x + b_c), class-balanced sampling (Kang et al. 2020)",
    "weight-balanced": "the head fine-tuned with a class-balanced loss + MaxNorm (Alshammari et al. 2022)",
    "reweighted": "a new linear head trained with an inverse-frequency weighted loss (BCE: pos_weight)",
}
"""Every head candidate :func:`acwa.auto.select_head` knows, in the default order (ties go to the
earlier, simpler one)."""


@dataclass
class HeadSelection:
    """What :func:`acwa.auto.select_head` returns.

    ``method``: the winning candidate; ``scores``: each candidate's held-out ``metric``
    (tuned candidates -- ``tau-norm``, ``bias``, ``threshold`` -- cross-fitted inside the
    held-out part, so they are not scored on the rows they were tuned on); ``model``: the
    final :class:`acwa.heads.HeadModel` (``head(features(x)) + bias``); ``head`` and ``bias``
    its parts; ``tau``: the chosen tau when ``method == 'tau-norm'``; ``task``:
    ``'multiclass'``, ``'binary'`` (one logit) or ``'multilabel'``; ``train_idx`` /
    ``heldout_idx``: the split of the training data (the backbone never saw ``heldout_idx``);
    ``trainings``: backbone trainings run (1 with ``train_fn``, 0 with a given ``model``);
    ``skipped``: candidates that do not apply to this head, with the reason; ``seconds``: wall
    seconds of the backbone training, the feature pass and the head fits.
    """

    method: str
    scores: dict[str, float]
    model: nn.Module
    head: nn.Module
    bias: Tensor | None
    task: str
    metric: str
    train_idx: Tensor
    heldout_idx: Tensor
    trainings: int
    tau: float | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def ranking(self) -> list[tuple[str, float]]:
        """Candidates by held-out score, best first (ties: candidate order)."""
        order = list(self.scores)
        return sorted(self.scores.items(), key=lambda kv: (-kv[1], order.index(kv[0])))

    def explain(self) -> str:
        """A short account of the choice: split, scores, winner, what was skipped and the cost."""
        n_tr, n_ho = int(self.train_idx.numel()), int(self.heldout_idx.numel())
        lines = [
            f"acwa.auto.select_head: {self.task} head, {self.metric} on a stratified held-out part of the "
            f"training data ({n_ho} of {n_tr + n_ho} samples; the backbone trained on the other {n_tr}, "
            f"{self.trainings} training(s)); the test split was not used.",
            "held-out scores (tau-norm / bias / threshold cross-fitted inside the held-out part):",
        ]
        for name, score in self.ranking():
            mark = "  <- chosen" if name == self.method else ""
            lines.append(f"  {name:<16} {score:.4f}  {HEAD_CANDIDATES.get(name, '')}{mark}")
        if self.tau is not None:
            lines.append(f"tau = {self.tau:g} (chosen on all held-out samples)")
        if self.bias is not None:
            lines.append(f"logit correction added to the head: {[round(float(b), 3) for b in self.bias.flatten()]}")
        for name, why in self.skipped.items():
            lines.append(f"skipped {name}: {why}")
        if self.seconds:
            lines.append("cost (wall s): " + ", ".join(f"{k} {v:.2f}" for k, v in self.seconds.items()))
        return "\n".join(lines)
