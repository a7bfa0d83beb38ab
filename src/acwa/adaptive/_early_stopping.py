"""Early stopping on a monitored value, as in the ACWA README's example."""

from __future__ import annotations

import math

from acwa._internal.state import Stateful
from acwa._internal.validation import check_choice, check_float, check_int

__all__ = ["EarlyStopping"]


class EarlyStopping(Stateful):
    """Stop when the monitored value has not improved by more than ``min_delta`` for
    ``patience`` consecutive calls.

    >>> stopper = EarlyStopping(patience=5, mode="max")
    >>> for epoch in range(100):
    ...     val_f1 = 0.5  # evaluate here
    ...     if stopper.step(val_f1):
    ...         break
    """

    best: float  # declared states
    counter: int
    should_stop: bool

    def __init__(self, patience: int = 5, mode: str = "max", min_delta: float = 0.0) -> None:
        self.patience = check_int(patience, "patience", min=1, hint="calls without improvement before stopping")
        self.mode = check_choice(mode, ("max", "min"), "mode")
        self.min_delta = check_float(min_delta, "min_delta", min=0.0)
        self.add_state("best", -math.inf if mode == "max" else math.inf, check=_not_nan)
        self.add_state("counter", 0, check=_nonnegative)
        self.add_state("should_stop", False)
        self.improved = False

    def step(self, value: float) -> bool:
        """Record ``value``; return True when training should stop."""
        value = float(value)
        if math.isnan(value):
            raise ValueError("EarlyStopping.step got NaN; check the monitored metric")
        if self.mode == "max":
            self.improved = value > self.best + self.min_delta
        else:
            self.improved = value < self.best - self.min_delta
        if self.improved:
            self.best, self.counter = value, 0
        else:
            self.counter += 1
        self.should_stop = self.counter >= self.patience
        return self.should_stop


def _not_nan(value: float) -> None:
    if math.isnan(value):
        raise ValueError("must not be NaN")


def _nonnegative(value: int) -> None:
    if value < 0:
        raise ValueError("must be >= 0")
