"""Deferred re-sampling (DRS; Cao et al., "Learning imbalanced datasets with label-distribution-
aware margin loss", NeurIPS 2019, section 3.3): sample instance-balanced until the deferral
epoch, then class-balanced. It is the sampler twin of deferred re-weighting
(:class:`acwa.losses.DeferredReweighting`): the first phase learns the representation on the
data distribution, the second re-balances the decision boundaries.

In the exponent form of :class:`acwa.sampling.ClassBalancedSampler`,
``P(class c) ∝ n_c^(1 - q(e))`` with the step schedule

    q(e) = 0   for e <  start_epoch   (instance sampling: P(class c) = n_c / N)
    q(e) = 1   for e >= start_epoch   (class-balanced: P(class c) = 1 / C)

:class:`DeferredResampler` draws without replacement by default, so an instance-sampling epoch
visits every sample exactly once (a plain shuffle) and a class-balanced epoch meets the class
quotas ``N / C`` exactly (tail samples repeat).
"""

from __future__ import annotations

from typing import Any

from acwa._internal.validation import check_int
from acwa.sampling.samplers import ClassBalancedSampler

__all__ = ["DeferredQ", "DeferredResampler"]


class DeferredQ:
    """The DRS step schedule ``q(e) = 0 if e < start_epoch else 1`` (module docstring)."""

    def __init__(self, start_epoch: int) -> None:
        self.start_epoch = check_int(start_epoch, "start_epoch", min=0, hint="e.g. int(0.8 * epochs)")

    def __call__(self, epoch: int) -> float:
        return 0.0 if epoch < self.start_epoch else 1.0

    def state_dict(self) -> dict[str, Any]:
        return {"start_epoch": self.start_epoch}

    def __repr__(self) -> str:
        return f"DeferredQ(start_epoch={self.start_epoch})"


class DeferredResampler(ClassBalancedSampler):
    """DRS: instance sampling until ``start_epoch`` (0-based), class-balanced from then on.

    ``ClassBalancedSampler(labels, q=DeferredQ(start_epoch), replacement=False, ...)``; the
    other arguments are those of :class:`ClassBalancedSampler`. Cao et al. defer to epoch 160
    of 200 (80% of training). ``state_dict`` records ``start_epoch``, and loading a state saved
    with another ``start_epoch`` raises ``ValueError``.
    """

    def __init__(
        self,
        labels: Any,
        start_epoch: int,
        num_samples: int | None = None,
        replacement: bool = False,
        seed: int = 0,
        *,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(labels, DeferredQ(start_epoch), num_samples, replacement, seed, num_classes=num_classes)

    @property
    def start_epoch(self) -> int:
        assert isinstance(self.q, DeferredQ)
        return self.q.start_epoch

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "start_epoch": self.start_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(state, dict) and state.get("start_epoch", self.start_epoch) != self.start_epoch:
            raise ValueError(
                f"state_dict was saved with start_epoch={state['start_epoch']}, this sampler defers to "
                f"{self.start_epoch}; build it with the same start_epoch"
            )
        super().load_state_dict({k: v for k, v in state.items() if k != "start_epoch"})
