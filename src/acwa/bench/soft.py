"""Built-in soft-target methods: training on mixup batches (Zhang et al., ICLR 2018), whose
targets are probability rows ``q_i = lam onehot(y_i) + (1 - lam) onehot(y_j)``.

* ``weighted-ce-mixup``: CE on the soft targets with inverse-frequency class weights; a soft row
  weighs ``sum_c q_ic w_c`` (:class:`acwa.losses.WeightedCrossEntropyLoss`);
* ``acwa-mixup``: ACWA on the same batches (:class:`acwa.ACWATrainer` with soft targets:
  per-sample weight ``sum_c q_ic w_c``, counts at the target's argmax).

Both are opt-in (``--methods all`` or by name): mixup is a regulariser, not a re-balancing
method, and they exercise the soft-target path of the losses and of ACWA on real data.
"""

from __future__ import annotations

from acwa import ACWATrainer
from acwa.bench.registry import register_method
from acwa.bench.training import Fit, RunContext, mixup
from acwa.losses import WeightedCrossEntropyLoss
from acwa.weights import inverse_frequency

__all__ = ["MIXUP_ALPHA"]

MIXUP_ALPHA = 0.2  # Zhang et al. 2018 (ImageNet); timm's default mixup_alpha is 0.8
_MC = ("multiclass", "binary")


@register_method(
    "weighted-ce-mixup",
    family="static",
    in_default=False,
    tasks=_MC,
    description=f"mixup (alpha {MIXUP_ALPHA:g}, Zhang et al. 2018) + inverse-frequency weighted CE on the soft "
    "targets, row weight sum_c q_c w_c",
)
def weighted_ce_mixup(ctx: RunContext) -> Fit:
    loss = WeightedCrossEntropyLoss(weight=inverse_frequency(ctx.counts))
    return ctx.fit(loss, batch_transform=mixup(ctx.num_classes, MIXUP_ALPHA, seed=ctx.seed))


@register_method(
    "acwa-mixup",
    family="adaptive",
    in_default=False,
    tasks=_MC,
    description=f"ACWA (README defaults) on mixup batches (alpha {MIXUP_ALPHA:g}): soft targets, row weight "
    "sum_c q_c w_c, counted at the target's argmax",
)
def acwa_mixup(ctx: RunContext) -> Fit:
    trainer = ACWATrainer(num_classes=ctx.num_classes, target_metric=0.85, alpha=0.02, beta=0.9, update_freq=100)
    return ctx.fit(acwa=trainer, batch_transform=mixup(ctx.num_classes, MIXUP_ALPHA, seed=ctx.seed))
