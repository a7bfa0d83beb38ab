"""The validated options of :class:`acwa.autobalance.AutoBalance`.

:class:`AutoBalanceConfig` holds every option of the tuner besides the model, the number of
classes, the validation data and the optimiser. Each field is checked through the shared
validation vocabulary (:mod:`acwa._internal.validation`) when the config is built, so a bad value fails
at construction with a message naming the option, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from torch import Tensor, nn

from acwa._internal.validation import check_bounds, check_choice, check_float, check_int
from acwa.autobalance.augment import ClassAugment
from acwa.autobalance.hypergrad import SOLVERS

__all__ = ["AutoBalanceConfig", "HYPER_OPTIMIZERS"]

HYPER_OPTIMIZERS = ("adam", "sgd")


def _int_at_least(value: Any, name: str, min: int) -> int:
    """check_int with the tuner's historical wording: "<name> must be an int >= <min>"."""
    v = check_int(value, name)
    if v < min:
        raise ValueError(f"{name} must be an int >= {min}, got {v!r}")
    return v


def _optional_int(value: Any, name: str, min: int) -> int | None:
    return None if value is None else _int_at_least(value, name, min)


@dataclass
class AutoBalanceConfig:
    """Options of :class:`~acwa.autobalance.AutoBalance` (see its docstring for each one).

    Build it from keyword arguments, ``AutoBalanceConfig(hyper_lr=0.05)``; unknown names are
    rejected by :meth:`from_options` with the list of valid ones.
    """

    class_counts: Tensor | Sequence[float] | None = None
    num_groups: int | None = None
    share_slots: int | None = None
    la_tau: float | None = None
    learn: Sequence[str] = ("delta", "iota")
    delta_transform: str = "sigmoid"
    objective: Any = "balanced"
    objective_temperature: float = 0.1
    positive_classes: Sequence[int] | None = None
    hyper_every: int = 20
    solver: str = "neumann"
    neumann_terms: int = 5
    neumann_step: None | float | str = None
    damping: float | None = None
    train_batches: int = 2
    val_batches: int = 2
    val_batch_size: int = 256
    warm_start_epochs: float = 0
    hyper_optimizer: str | Callable = "adam"
    hyper_lr: float = 0.02
    hyper_momentum: float = 0.9
    max_hyper_grad_norm: float | None = 1.0
    augment: None | str | ClassAugment = None
    hyper_params: None | str | Sequence[nn.Parameter] = None
    weight_bounds: tuple[float, float] = (0.05, 20.0)
    keep_best: bool = True
    objective_exclude: Sequence[int] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hyper_every", "train_batches", "val_batches", "val_batch_size"):
            setattr(self, name, _int_at_least(getattr(self, name), name, 1))
        self.neumann_terms = _int_at_least(self.neumann_terms, "neumann_terms", 0)
        self.num_groups = _optional_int(self.num_groups, "num_groups", 1)
        self.share_slots = _optional_int(self.share_slots, "share_slots", 1)
        self.seed = check_int(self.seed, "seed")
        check_choice(self.solver, SOLVERS, "solver")
        self.hyper_lr = check_float(self.hyper_lr, "hyper_lr", min=0.0, min_open=True)
        self.hyper_momentum = check_float(self.hyper_momentum, "hyper_momentum", min=0.0, max=1.0, max_open=True)
        self.objective_temperature = check_float(
            self.objective_temperature, "objective_temperature", min=0.0, min_open=True
        )
        self.warm_start_epochs = check_float(self.warm_start_epochs, "warm_start_epochs", min=0.0)
        if self.la_tau is not None:
            self.la_tau = check_float(self.la_tau, "la_tau")
        if self.damping is not None:
            self.damping = check_float(self.damping, "damping", min=0.0)
        if self.max_hyper_grad_norm is not None:
            self.max_hyper_grad_norm = check_float(
                self.max_hyper_grad_norm, "max_hyper_grad_norm", min=0.0, min_open=True
            )
        if self.neumann_step is not None and self.neumann_step != "auto":
            self.neumann_step = check_float(
                self.neumann_step,
                "neumann_step",
                min=0.0,
                min_open=True,
                hint="or pass 'auto' (1/lambda_max) or None (the optimizer's lr)",
            )
        self.weight_bounds = check_bounds(self.weight_bounds, "weight_bounds", min=0.0)
        if self.weight_bounds[0] <= 0:
            raise ValueError(f"weight_bounds must satisfy 0 < lo <= hi, got {self.weight_bounds}")
        if not callable(self.hyper_optimizer):
            check_choice(self.hyper_optimizer, HYPER_OPTIMIZERS, "hyper_optimizer")
        if isinstance(self.augment, str):
            check_choice(self.augment, ("noise", "mixup"), "augment")
        elif self.augment is not None and not isinstance(self.augment, ClassAugment):
            raise ValueError(f"augment must be None, 'noise', 'mixup' or a ClassAugment, got {self.augment!r}")
        if self.keep_best not in (True, False):
            raise ValueError(f"keep_best must be True or False, got {self.keep_best!r}")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> AutoBalanceConfig:
        """The config from keyword options; an unknown name is a ``ValueError`` listing the valid ones."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"unknown AutoBalance option(s) {unknown}; valid options are {valid}")
        return cls(**options)
