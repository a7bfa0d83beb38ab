"""AutoBalance: bilevel tuning of a parametric loss on validation data (Li, Zhang,
Thrampoulidis, Chen and Oymak, "AutoBalance: Optimized Loss Functions for Imbalanced Data",
NeurIPS 2021, arXiv 2201.01212).

* :class:`AutoBalance`: the tuner for a plain training loop (``step`` / ``record`` /
  ``hyper_step``, ``state_dict`` for resume).
* :func:`fit`: the whole protocol on tensors (stratified split, search, continue or retrain).
* :func:`implicit_hypergradient`: the IFT hypergradient (damped Neumann series or CG over
  Hessian-vector products) for any ``nn.Module``.
* :mod:`objectives <acwa.autobalance.objectives>`: balanced / standard / smoothed worst-class
  CE, DEO and worst-group for groups, blends.
* :class:`ClassAugment`: per-class augmentation magnitude tuned as a hyperparameter.

The tuned loss is :class:`acwa.losses.ParametricCrossEntropyLoss` (its one home).
"""

from acwa.autobalance.augment import AUGMENT_KINDS, AugmentedBatch, ClassAugment
from acwa.autobalance.config import AutoBalanceConfig
from acwa.autobalance.fit import AutoBalanceResult, fit, predict
from acwa.autobalance.hypergrad import SOLVERS, implicit_hypergradient, inverse_hvp
from acwa.autobalance.objectives import (
    OBJECTIVES,
    balanced_objective,
    blend,
    deo_objective,
    make_objective,
    standard_objective,
    worst_class_objective,
    worst_group_objective,
)
from acwa.autobalance.tuner import (
    AutoBalance,
    frequency_rank_groups,
)

__all__ = [
    "AutoBalance",
    "AutoBalanceConfig",
    "fit",
    "predict",
    "AutoBalanceResult",
    "implicit_hypergradient",
    "inverse_hvp",
    "SOLVERS",
    "OBJECTIVES",
    "make_objective",
    "standard_objective",
    "balanced_objective",
    "worst_class_objective",
    "deo_objective",
    "worst_group_objective",
    "blend",
    "ClassAugment",
    "AugmentedBatch",
    "AUGMENT_KINDS",
    "frequency_rank_groups",
]
