"""Class-balanced index sampler: draw a class, then a sample inside it.

Sampling rule (Mahajan et al. 2018 "Exploring the limits of weakly supervised pretraining";
Kang et al. 2020 "Decoupling representation and classifier for long-tailed recognition",
ICLR, eq. 1): with n_c training samples in class c, optional class weights w_c (default 1)
and exponent q,

    P(class c)            = pi_c = w_c * n_c^(1-q) / sum_k w_k * n_k^(1-q)     (n_c > 0)
    P(sample i | class c) = 1 / n_c
    P(sample i)           = w_{y_i} * n_{y_i}^(-q) / sum_k w_k * n_k^(1-q)

q = 1: class-balanced (every class equally often when w = 1); q = 0.5: square-root
sampling; q = 0: instance sampling (the data distribution). Classes with n_c = 0 (given by
``num_classes`` but absent from the labels) are never drawn. With ``set_class_weights(w)`` an
ACWA controller drives sampling: class c is drawn in proportion to w_c * n_c^(1-q), so
``q=1`` gives pi_c = w_c / sum w, i.e. the class weights become the sampling proportions.

The draw is class first (Walker's alias method over C classes, O(1) per draw), then a uniform position
inside the class; it never runs ``torch.multinomial`` over N per-sample weights, which is
O(N log N) per epoch, needs an N-float weight vector and fails above 2^24 samples
(pytorch #2576). Labels are read without loading samples (see :mod:`acwa.sampling._labels`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import torch
from torch import Tensor
from torch.utils.data import Sampler

from acwa._internal.state import Stateful
from acwa._internal.validation import check_bool, check_float, check_int
from acwa.sampling._labels import ClassIndex, extract_labels

__all__ = ["ClassBalancedSampler", "ProgressiveQ", "class_sampling_probabilities"]

_CHUNK = 1 << 22  # draws per chunk: bounds transient memory (~100 MB) for huge epochs


class ProgressiveQ:
    """Linear schedule of the exponent q over epochs (progressive balancing).

    ``q(e) = q_start + (q_end - q_start) * min(e / (num_epochs - 1), 1)``: instance sampling
    (q=0) at the start moving to class-balanced (q=1) at ``num_epochs - 1`` and after, in the
    spirit of Kang et al. 2020's progressively-balanced sampling (which interpolates the two
    distributions rather than the exponent; with two classes both are monotone paths between
    the same end points). Pass it as ``q=ProgressiveQ(0.0, 1.0, num_epochs=90)``.
    """

    def __init__(self, q_start: float = 0.0, q_end: float = 1.0, num_epochs: int = 10) -> None:
        self.q_start = check_float(q_start, "q_start")
        self.q_end = check_float(q_end, "q_end")
        self.num_epochs = check_int(num_epochs, "num_epochs", min=1)

    def __call__(self, epoch: int) -> float:
        frac = 1.0 if self.num_epochs == 1 else min(max(epoch, 0) / (self.num_epochs - 1), 1.0)
        return self.q_start + (self.q_end - self.q_start) * frac

    def state_dict(self) -> dict[str, Any]:
        return {"q_start": self.q_start, "q_end": self.q_end, "num_epochs": self.num_epochs}

    def __repr__(self) -> str:
        return f"ProgressiveQ(q_start={self.q_start}, q_end={self.q_end}, num_epochs={self.num_epochs})"


QType = Union[float, ProgressiveQ, Callable[[int], float]]  # noqa: UP007 (a runtime alias)


def class_sampling_probabilities(counts: Tensor, q: float, class_weights: Tensor | None = None) -> Tensor:
    """pi_c = w_c * n_c^(1-q) / sum_k w_k * n_k^(1-q), 0 where n_c = 0 (float64 [C]).

    Computed in log space, ``pi = softmax((1 - q) log n + log w)`` over the present classes, so
    any finite q (e.g. -1000, where ``n^(1-q)`` overflows) gives finite probabilities that sum
    to 1 (classes far below the largest term underflow to 0, their exact limit).
    """
    n = counts.to(torch.float64)
    present = n > 0
    logits = torch.where(present, (1.0 - q) * torch.log(n.clamp(min=1.0)), torch.full_like(n, -math.inf))
    if class_weights is not None:
        logits = logits + torch.log(class_weights.to(torch.float64))  # log 0 = -inf: never drawn
    if not bool(torch.isfinite(logits).any()):
        raise ValueError(
            "class_weights give zero probability to every class present in the labels; "
            "give at least one present class a positive weight"
        )
    return torch.softmax(logits, dim=0)


def _alias_table(pi: Tensor) -> tuple[Tensor, Tensor]:
    """Walker's alias table for drawing classes in O(1) each: draw a column j uniformly, keep j
    with probability prob[j], else take alias[j] (Walker 1977; Vose 1991, IEEE TSE 17(9)).

    Built without a Python loop, by the sweep construction written with prefix sums
    (Hübschle-Schneider and Sanders, "Parallel weighted random sampling", ESA 2019). With
    ``w = C pi``, light columns (w < 1) lay their deficits ``1 - w`` end to end on one line and
    heavy columns (w >= 1) their excesses ``w - 1`` on another of the same length; a light
    column's alias is the heavy whose excess interval holds the start of its deficit; a heavy
    whose excess ends inside a light's deficit pays the overshoot from its own column and takes
    the next heavy as its alias. O(C log C), vectorised; a class with pi = 0 is never kept and
    never an alias target.
    """
    c = pi.numel()
    w = pi.detach().to("cpu", torch.float64) * c
    prob = torch.ones(c, dtype=torch.float64)
    alias = torch.arange(c)
    heavy_mask = w >= 1.0
    if not bool(heavy_mask.any()):  # rounding: all slightly below 1, i.e. uniform
        heavy_mask = w == w.max()
    heavy = torch.nonzero(heavy_mask).flatten()
    light = torch.nonzero(~heavy_mask).flatten()
    if light.numel():
        deficit = 1.0 - w[light]
        light_end = torch.cumsum(deficit, 0)
        light_start = light_end - deficit
        heavy_end = torch.cumsum(w[heavy] - 1.0, 0)
        m = heavy.numel()
        owner = torch.searchsorted(heavy_end, light_start, right=True).clamp(max=m - 1)
        prob[light] = w[light]
        alias[light] = heavy[owner]
        j = torch.searchsorted(light_end, heavy_end, right=True)
        jj = j.clamp(max=light.numel() - 1)
        straddle = (j < light.numel()) & (light_start[jj] < heavy_end)
        overshoot = torch.where(straddle, light_end[jj] - heavy_end, torch.zeros_like(heavy_end))
        prob[heavy] = (1.0 - overshoot).clamp(0.0, 1.0)
        alias[heavy] = heavy[torch.arange(1, m + 1).clamp(max=m - 1)]
    prob[w <= 0] = 0.0
    return prob, alias


def _non_negative(value: int) -> None:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")


def _positive(value: int) -> None:
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")


def _check_q(q: Any) -> QType:
    if callable(q):
        return q
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q):
        raise ValueError(
            f"q must be a finite float (1 = class-balanced, 0.5 = square-root, 0 = instance) "
            f"or a schedule callable epoch -> q such as ProgressiveQ, got {q!r}"
        )
    return float(q)


class ClassBalancedSampler(Sampler[int], Stateful):
    """Sampler yielding dataset indices with P(sample i) ∝ w_{y_i} * n_{y_i}^(-q).

    Args:
        labels: class indices (tensor, array, list), a dataset with ``.targets`` or
            ``.get_labels()``, a ``Subset`` of one, or a zero-argument callable. Never loads
            samples.
        q: exponent (float) or schedule ``epoch -> q`` (e.g. :class:`ProgressiveQ`).
        num_samples: indices per epoch; default ``len(labels)``.
        replacement: ``True``: i.i.d. draws (class ~ pi, then a uniform sample of it).
            ``False``: exact class quotas (largest-remainder rounding of ``num_samples * pi``)
            and, inside each class, a fresh random permutation walked in order, so a sample
            repeats only when its class's quota exceeds n_c (then every sample of the class
            appears floor or ceil of quota/n_c times); the epoch is then shuffled. Costs one
            O(N log N) sort per epoch (the within-class permutations).
        seed: base seed; epoch e uses a ``torch.Generator`` seeded with ``seed + e``
            (the ``DistributedSampler`` convention).
        num_classes: C when some classes are absent from ``labels`` (default max label + 1).
        class_weights: optional initial w (see :meth:`set_class_weights`).

    Epochs: each ``iter()`` uses the current epoch, then advances it by one, so two passes
    differ even without :meth:`set_epoch` (as with ``WeightedRandomSampler``).
    ``set_epoch(e)`` pins the next pass to epoch e (Lightning and Accelerate call it).
    Draws are a pure function of (labels, q(e), w, num_samples, replacement, seed, e).
    """

    _auto_advance = True

    def __init__(
        self,
        labels: Any,
        q: QType = 1.0,
        num_samples: int | None = None,
        replacement: bool = True,
        seed: int = 0,
        *,
        num_classes: int | None = None,
        class_weights: Tensor | Sequence[float] | None = None,
    ) -> None:
        self.index = self._build_index(labels, num_classes)
        self.q = _check_q(q)
        if num_samples is None:
            num_samples = self._default_num_samples()
        self._declare_state()
        self.num_samples = check_int(num_samples, "num_samples", min=1, hint="indices per epoch")
        self.replacement = check_bool(replacement, "replacement")
        self.seed = check_int(seed, "seed")
        if class_weights is not None:
            self.set_class_weights(class_weights)

    def _build_index(self, labels: Any, num_classes: int | None) -> ClassIndex:
        """The per-class index of the items drawn (here: samples grouped by class)."""
        return ClassIndex(extract_labels(labels, "labels"), num_classes)

    def _default_num_samples(self) -> int:
        return self.index.num_samples

    def _to_dataset(self, items: Tensor) -> Tensor:
        """Dataset indices of drawn items (the identity: items are samples)."""
        return items

    def _declare_state(self) -> None:
        """The epoch state, declared once (:class:`acwa._internal.state.Stateful`); ``q`` and the class
        counts (a fingerprint of the labels) are added by :meth:`state_dict`."""
        self.add_state("epoch", 0, check=_non_negative)
        self.add_state("seed", 0)
        self.add_state("num_samples", 1, check=_positive)
        self.add_state("replacement", True)
        self.add_state("class_weights", None, check=lambda w: None if self._check_class_weights(w) is None else None)

    # ------------------------------------------------------------------ configuration
    @property
    def num_classes(self) -> int:
        return self.index.num_classes

    @property
    def class_counts(self) -> Tensor:
        """n_c per class (int64 [C])."""
        return self.index.counts.clone()

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch`` for the next pass (seed + epoch seeds its generator)."""
        self.epoch = check_int(epoch, "epoch", min=0)

    def set_class_weights(self, weights: Tensor | Sequence[float] | None) -> None:
        """Set w (length C, finite, >= 0); ``None`` restores w = 1.

        Class c is then drawn with probability ∝ w_c * n_c^(1-q). To let ACWA drive sampling,
        call ``sampler.set_class_weights(trainer.weights)`` before each epoch (under DDP, with
        the same weights on every rank: ACWA weights computed from all-reduced metrics are).
        """
        if weights is None:
            self.class_weights = None
            return
        self.class_weights = self._check_class_weights(weights)

    def _check_class_weights(self, weights: Any) -> Tensor | None:
        """w as a float64 CPU vector of length C, finite and >= 0, positive on a present class."""
        if weights is None:
            return None
        w = torch.as_tensor(weights).detach().to("cpu", torch.float64).flatten().clone()
        if w.numel() != self.num_classes:
            raise ValueError(
                f"class weights must have one entry per class ({self.num_classes}), got {w.numel()}; "
                "pass num_classes= to the sampler when some classes are absent from the labels"
            )
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
            raise ValueError(f"class weights must be finite and >= 0, got {w.tolist()[:10]}")
        class_sampling_probabilities(self.index.counts, 1.0, w)  # raises if no present class is positive
        return w

    def current_q(self, epoch: int | None = None) -> float:
        e = self.epoch if epoch is None else epoch
        q = self.q(e) if callable(self.q) else self.q
        if not math.isfinite(q):
            raise ValueError(f"the q schedule returned {q!r} at epoch {e}; it must return a finite float")
        return float(q)

    def class_probabilities(self, epoch: int | None = None) -> Tensor:
        """pi_c for ``epoch`` (default: the current one), float64 [C]."""
        return class_sampling_probabilities(self.index.counts, self.current_q(epoch), self.class_weights)

    # ------------------------------------------------------------------ drawing
    def _generator(self, epoch: int) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed(self.seed + epoch)
        return g

    def _draw(self, num: int, epoch: int) -> Tensor:
        """The epoch's global draw: ``num`` dataset indices (int64)."""
        pi = self.class_probabilities(epoch)
        g = self._generator(epoch)
        counts = self.index.counts
        if self.replacement:
            prob, alias = self._alias_for(pi)
            c = pi.numel()
            out = []
            for start in range(0, num, _CHUNK):
                m = min(_CHUNK, num - start)
                col = torch.randint(c, (m,), generator=g)
                u = torch.rand(m, generator=g, dtype=torch.float64)
                cls = torch.where(u < prob[col], col, alias[col])
                v = torch.rand(m, generator=g, dtype=torch.float64)
                n_c = counts[cls]
                pos = torch.minimum((v * n_c).long(), n_c - 1)
                out.append(self.index.gather(cls, pos))
            return out[0] if len(out) == 1 else torch.cat(out)
        # exact quotas by largest remainder
        raw = pi * num
        quota = torch.floor(raw).long()
        rest = num - int(quota.sum())
        if rest > 0:
            frac = torch.where(pi > 0, raw - quota, torch.full_like(raw, -1.0))
            quota[torch.argsort(frac, descending=True, stable=True)[:rest]] += 1
        # a fresh random order inside every class: sort by (class, random key)
        n = self.index.num_samples
        group = torch.repeat_interleave(torch.arange(self.num_classes, dtype=torch.float64), counts)
        within = torch.argsort(group + torch.rand(n, generator=g, dtype=torch.float64) * 0.5, stable=True)
        shuffled_order = self.index.order[within]
        cls = torch.repeat_interleave(torch.arange(self.num_classes), quota)
        qoff = torch.cumsum(quota, 0) - quota
        k = torch.arange(num) - qoff[cls]
        pos = k % counts[cls].clamp(min=1)
        idx = shuffled_order[self.index.offsets[cls] + pos].long()
        return idx[torch.randperm(num, generator=g)]

    def _alias_for(self, pi: Tensor) -> tuple[Tensor, Tensor]:
        """The alias table of ``pi``, rebuilt only when pi changes (q schedule, new weights)."""
        cached = self.__dict__.get("_alias_cache")
        if cached is None or cached[0].shape != pi.shape or not bool(torch.equal(cached[0], pi)):
            cached = (pi.clone(), *_alias_table(pi))
            self._alias_cache = cached
        return cached[1], cached[2]

    def sample_indices(self, epoch: int | None = None) -> Tensor:
        """The indices of one epoch (default: the current one) as an int64 tensor, without
        advancing the epoch."""
        return self._to_dataset(self._draw(self.num_samples, self.epoch if epoch is None else epoch))

    def __iter__(self) -> Iterator[int]:
        idx = self.sample_indices()
        if self._auto_advance:
            self.epoch += 1
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Epoch, seed, q (float or schedule parameters), weights and the class counts (as a
        fingerprint of the labels; the labels themselves are not stored)."""
        q = self.q.state_dict() if isinstance(self.q, ProgressiveQ) else (self.q if not callable(self.q) else None)
        return {**super().state_dict(), "q": q, "class_counts": self.index.counts.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state_dict`; everything is checked before anything is assigned."""
        if not isinstance(state, dict) or "class_counts" not in state or "q" not in state:
            raise ValueError("state must be a dict from state_dict() with 'q' and 'class_counts' entries")
        counts = torch.as_tensor(state["class_counts"])
        if counts.shape != self.index.counts.shape or not bool(torch.equal(counts, self.index.counts)):
            raise ValueError(
                "state_dict was saved for different labels (class counts differ: "
                f"{counts.tolist()[:10]}... vs {self.index.counts.tolist()[:10]}...); "
                "build the sampler over the same dataset before loading"
            )
        q = state["q"]
        if isinstance(q, dict):
            try:
                q = ProgressiveQ(**q)
            except TypeError as err:
                raise ValueError(f"state['q'] is not a ProgressiveQ state: {err}") from None
        elif q is not None:
            q = _check_q(q)
        else:  # a user callable: keep the one given to the constructor
            q = self.q
        super().load_state_dict({k: v for k, v in state.items() if k not in ("q", "class_counts")})
        self.q = q
        self.class_weights = self._check_class_weights(self.class_weights)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(N={self.index.num_samples}, C={self.num_classes}, q={self.q!r}, "
            f"num_samples={self.num_samples}, replacement={self.replacement}, seed={self.seed}, epoch={self.epoch})"
        )
