"""Early stopping on a monitored value, as in the ACWA README's example."""

from __future__ import annotations

import math

from ._validation import check_choice

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop when the monitored value has not improved by more than ``min_delta`` for
    ``patience`` consecutive calls.

    >>> stopper = EarlyStopping(patience=5, mode="max")
    >>> for epoch in range(100):
    ...     val_f1 = 0.5  # evaluate here
    ...     if stopper.step(val_f1):
    ...         break
    """

    def __init__(self, patience: int = 5, mode: str = "max", min_delta: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {patience!r}")
        check_choice(mode, ("max", "min"), "mode")
        if not (min_delta >= 0):
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.patience, self.mode, self.min_delta = patience, mode, float(min_delta)
        self.best = -math.inf if mode == "max" else math.inf
        self.counter = 0
        self.improved = False
        self.should_stop = False

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

    def state_dict(self) -> dict:
        return {"best": self.best, "counter": self.counter, "should_stop": self.should_stop}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.counter, self.should_stop = state["best"], state["counter"], state["should_stop"]
