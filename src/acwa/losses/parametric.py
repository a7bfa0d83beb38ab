"""Parametric cross-entropy, the loss family that AutoBalance tunes (Li et al., "AutoBalance:
Optimized Loss Functions for Imbalanced Data", NeurIPS 2021, arXiv 2201.01212).

    l_i = -w_{g_i, y_i} * log softmax( Delta_{g_i} * f(x_i) + iota_{g_i} )_{y_i}

``Delta`` (multiplicative, per class), ``iota`` (additive, per class) and ``w`` (per-class
weight) are learnable :class:`torch.nn.Parameter` s. ``g_i`` is an optional group attribute
(group-sensitive classification): then every parameter is a ``[G, C]`` table and sample ``i``
uses row ``g_i``. Without groups the tables are ``[C]``.

Special cases (same convention as the VS loss, Kini et al. 2021): Delta = 1, iota = 0, w = 1 is
plain cross-entropy (exactly, the default); iota = tau * log pi is logit adjustment (Menon et
al. 2021, "LA init"); Delta_c = (n_c / n_max)^gamma is CDT; both together are VS.

Multiplicative parameterisation (``delta_transform``):

* ``'identity'`` (default): ``Delta = delta`` (the stored parameter is the scale itself).
* ``'sigmoid'``: ``Delta = 2 * sigmoid(delta)``, a bounded positive scale in (0, 2), neutral at
  ``delta = 0``. The paper uses ``sigmoid(Delta) * f``, whose neutral point ``sigmoid(1)`` is a
  uniform temperature; the factor 2 makes the default loss equal to cross-entropy exactly.

Constructor arguments ``delta``, ``iota`` and ``weight`` are always *effective* values
(``Delta``, ``iota``, ``w``); :meth:`ParametricCrossEntropyLoss.set_params` takes the same.

Parameters can be shared: ``param_index`` maps each class to one of K parameter slots (e.g.
classes grouped by frequency rank, see :func:`acwa.autobalance.frequency_rank_groups`); the
tables then hold K columns and are expanded per class with ``table[..., param_index]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from acwa._internal.validation import check_choice, check_int
from acwa.losses.base import DEFAULT_IGNORE_INDEX, LossBatch, check_finite_vector, combine_weights, prepare_multiclass
from acwa.losses.cross_entropy import LogitTransformLoss, cross_entropy_values
from acwa.losses.reducers import check_reduction, reduce_values
from acwa.weights import log_prior

__all__ = ["parametric_cross_entropy", "ParametricCrossEntropyLoss", "DELTA_TRANSFORMS"]

DELTA_TRANSFORMS = ("identity", "sigmoid")
LEARNABLE = ("delta", "iota", "weight")
TableLike = Tensor | Sequence[float] | Sequence[Sequence[float]] | float | None


def _group_rows(table: Tensor, group: Tensor | None, logits: Tensor, name: str) -> Tensor:
    """Broadcast a ``[C]`` or ``[G, C]`` table against ``logits`` ``[N, C, d1, ...]``."""
    extra = (1,) * (logits.dim() - 2)
    table = table.to(device=logits.device, dtype=logits.dtype)
    if table.dim() == 1:
        return table.view((1, -1) + extra)
    if group is None:
        raise ValueError(
            f"{name} is a per-(group, class) table of shape {tuple(table.shape)} but group=None; "
            "pass group=<LongTensor [N] of group ids>"
        )
    return table[group].view((group.shape[0], table.shape[1]) + extra)


def _check_group(group: Tensor | None, logits: Tensor, num_groups: int | None) -> Tensor | None:
    if group is None:
        return None
    if not isinstance(group, Tensor):
        group = torch.as_tensor(group)
    if group.is_floating_point() or group.dtype == torch.bool:
        raise ValueError(f"group must hold integer group ids, got dtype {group.dtype}; pass group.long()")
    if group.dim() != 1 or group.shape[0] != logits.shape[0]:
        raise ValueError(
            f"group must have shape [N] = [{logits.shape[0]}] (one group id per sample), got {tuple(group.shape)}"
        )
    group = group.to(device=logits.device, dtype=torch.long)
    if num_groups is not None and group.device.type == "cpu" and group.numel() > 0:
        lo, hi = int(group.min()), int(group.max())
        if lo < 0 or hi >= num_groups:
            raise ValueError(f"group ids must lie in [0, {num_groups}), got values in [{lo}, {hi}]")
    return group


def _parametric_logits(batch: LossBatch, delta: Tensor | None, iota: Tensor | None) -> Tensor:
    """``delta_g * f + iota_g`` (``None``: neutral)."""
    z = batch.logits
    if delta is not None:
        z = z * _group_rows(delta, batch.group, z, "delta")
    if iota is not None:
        z = z + _group_rows(iota, batch.group, z, "iota")
    return z


def _table_weight(batch: LossBatch, weight: Tensor | None) -> Tensor | None:
    """Per-element ``w_{g_i, y_i}`` from a ``[C]`` or ``[G, C]`` table (soft rows: ``sum_c q_ic w_{g_i, c}``)."""
    if weight is None or weight.dim() == 1:
        return None if weight is None else batch.pick(weight)
    rows = _group_rows(weight, batch.group, batch.logits, "weight")  # [N, C, 1, ...]
    if batch.soft:
        return (batch.target * rows).sum(1)
    rows = rows.expand((rows.shape[0], rows.shape[1]) + tuple(batch.target.shape[1:]))
    return rows.gather(1, batch.target.unsqueeze(1)).squeeze(1)


def parametric_cross_entropy(
    logits: Tensor,
    target: Tensor,
    delta: Tensor | None = None,
    iota: Tensor | None = None,
    weight: Tensor | None = None,
    group: Tensor | None = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    reduction: str = "mean",
    sample_weight: Tensor | None = None,
) -> Tensor:
    """Functional parametric CE: ``-w_{g,y} log softmax(delta_g * f + iota_g)_y`` (module docstring).

    ``delta``, ``iota`` and ``weight`` are effective values, each ``None``, ``[C]`` or ``[G, C]``
    (a ``[G, C]`` table needs ``group``, a ``[N]`` integer tensor). Gradients flow to all three.
    ``None`` means neutral (1, 0, 1). The reduction follows :func:`acwa.losses.reducers.reduce_values`
    (``'mean'`` divides by the number of counted elements).
    """
    check_reduction(reduction)
    batch = prepare_multiclass(logits, target, ignore_index, check_values=logits.device.type == "cpu")
    C = batch.num_classes
    for name, t in (("delta", delta), ("iota", iota), ("weight", weight)):
        if t is not None and (t.dim() not in (1, 2) or t.shape[-1] != C):
            raise ValueError(f"{name} must have shape [C] or [G, C] with C = {C}, got {tuple(t.shape)}")
    batch = replace(batch, group=_check_group(group, logits, None))
    values = cross_entropy_values(_parametric_logits(batch, delta, iota), batch)
    w = combine_weights(_table_weight(batch, weight), sample_weight)
    return reduce_values(values, reduction, w, batch.counted)


def _table(value: TableLike, shape: tuple, default: float, name: str) -> Tensor:
    if value is None:
        return torch.full(shape, float(default), dtype=torch.get_default_dtype())
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if t.dim() == 0:
        t = t.expand(shape).clone()
    elif len(shape) == 2 and t.dim() == 1 and t.shape[0] == shape[1]:
        t = t.expand(shape).clone()  # one per-slot vector shared by every group
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {list(shape)} (or a scalar), got {list(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {t.tolist()}")
    if name == "weight" and bool((t < 0).any()):
        raise ValueError(f"weight must be >= 0 for every class, got {t.tolist()}; a negative weight flips the loss")
    return t


def _raw_delta(delta: TableLike, shape: tuple, transform: str) -> Tensor:
    """The stored parameter for an effective scale ``delta`` (inverse of the transform)."""
    d = _table(delta, shape, 1.0, "delta")
    if transform == "sigmoid":
        if bool(((d <= 0) | (d >= 2)).any()):
            raise ValueError(f"with delta_transform='sigmoid' the scale delta must lie in (0, 2), got {d.tolist()}")
        d = torch.logit(d / 2.0)
    return d


def _slot_index(param_index: Tensor | Sequence[int] | None, num_classes: int) -> Tensor:
    if param_index is None:
        return torch.arange(num_classes)
    index = torch.as_tensor(param_index)
    if index.is_floating_point() or index.dim() != 1 or index.numel() != num_classes:
        raise ValueError(
            f"param_index must be an integer vector with one slot id per class ({num_classes}), "
            f"got {list(index.shape)} {index.dtype}"
        )
    index = index.long()
    if int(index.min()) < 0 or bool((torch.bincount(index) == 0).any()):
        raise ValueError(f"param_index must use every slot 0..K-1 (no gaps, no negatives), got {index.tolist()}")
    return index


def _la_init(iota: TableLike, class_counts, la_tau: float | None, param_index, num_classes: int) -> TableLike:
    """``iota`` itself, or the logit-adjustment init ``la_tau * log pi`` (checked)."""
    if la_tau is None and class_counts is None:
        return iota
    if class_counts is None or la_tau is None:
        raise ValueError("logit-adjustment init needs both class_counts and la_tau (e.g. la_tau=1.0)")
    if iota is not None:
        raise ValueError("pass either iota or (class_counts, la_tau) for the LA init, not both")
    if param_index is not None:
        raise ValueError("LA init (class_counts, la_tau) needs one slot per class; drop param_index")
    lp = log_prior(class_counts)
    if lp.numel() != num_classes:
        raise ValueError(f"class_counts must have one count per class ({num_classes}), got {lp.numel()}")
    return check_finite_vector(la_tau * lp, "iota = la_tau * log pi", "use a smaller la_tau (1.0 in Menon et al. 2021)")


def _refresh_identity_index(module: ParametricCrossEntropyLoss, incompatible_keys: object) -> None:
    """After ``load_state_dict``: the loaded ``param_index`` decides whether slots are shared."""
    index = module.param_index
    module.identity_index = bool((index.cpu() == torch.arange(index.numel())).all())


class ParametricCrossEntropyLoss(LogitTransformLoss):
    """Parametric CE with learnable per-class (or per-(group, class)) ``delta``, ``iota``, ``weight``.

    ``ParametricCrossEntropyLoss(num_classes, delta=None, iota=None, weight=None,
    ignore_index=-100, reduction='mean', num_groups=None, param_index=None,
    delta_transform='identity', class_counts=None, la_tau=None, learn=('delta', 'iota'), validate=None)``

    * ``delta``, ``iota``, ``weight``: effective initial values (scalar, ``[K]`` or ``[G, K]``,
      K = number of parameter slots = C unless ``param_index`` shares slots). Defaults 1, 0, 1:
      the default-constructed loss is ``torch.nn.functional.cross_entropy`` exactly.
    * ``class_counts`` + ``la_tau``: logit-adjustment init ``iota_c = la_tau * log(pi_c)``,
      pi_c = n_c / sum n (Menon et al. 2021). Needs ``param_index=None``.
    * ``num_groups``: parameters become ``[G, K]`` tables; ``forward(logits, target, group=group)``
      (an integer tensor in the third position is taken as ``group``, the former signature).
    * ``param_index``: LongTensor [C] mapping class -> slot in ``[0, K)`` (parameter sharing).
    * ``learn``: which of ``'delta', 'iota', 'weight'`` have ``requires_grad=True``. All three
      are registered parameters (in ``.parameters()`` and the ``state_dict``).

    The module's ``delta`` attribute is the stored (raw) parameter; with
    ``delta_transform='sigmoid'`` the scale is ``2*sigmoid(delta)``. :meth:`effective` returns
    the per-class effective ``(Delta, iota, w)`` tables as used in the forward pass.
    """

    param_index: Tensor
    weight: Tensor

    def __init__(
        self,
        num_classes: int,
        delta: TableLike = None,
        iota: TableLike = None,
        weight: TableLike = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        reduction: str = "mean",
        num_groups: int | None = None,
        param_index: Tensor | Sequence[int] | None = None,
        delta_transform: str = "identity",
        class_counts: Tensor | Sequence[float] | None = None,
        la_tau: float | None = None,
        learn: Sequence[str] = ("delta", "iota"),
        validate: bool | None = None,
    ) -> None:
        super().__init__(None, ignore_index, reduction, validate=validate)
        del self._buffers["weight"]  # replaced by a parameter below
        self.num_classes = check_int(num_classes, "num_classes", hint="an int >= 2")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2 (a classifier needs two classes), got {num_classes!r}")
        self.num_groups = None if num_groups is None else check_int(num_groups, "num_groups", min=1)
        self.delta_transform = check_choice(delta_transform, DELTA_TRANSFORMS, "delta_transform")
        if any(x not in LEARNABLE for x in learn):
            raise ValueError(f"learn must name parameters among {list(LEARNABLE)}, got {list(learn)}")
        index = _slot_index(param_index, self.num_classes)
        self.register_buffer("param_index", index.clone())
        self.num_slots = int(index.max()) + 1
        self.identity_index = param_index is None or bool((index == torch.arange(self.num_classes)).all())
        self.register_load_state_dict_post_hook(_refresh_identity_index)
        shape = (self.num_slots,) if num_groups is None else (self.num_groups, self.num_slots)
        iota = _la_init(iota, class_counts, la_tau, param_index, self.num_classes)
        self.delta = nn.Parameter(_raw_delta(delta, shape, delta_transform), requires_grad="delta" in learn)
        self.iota = nn.Parameter(_table(iota, shape, 0.0, "iota"), requires_grad="iota" in learn)
        self.weight = nn.Parameter(_table(weight, shape, 1.0, "weight"), requires_grad="weight" in learn)

    # ------------------------------------------------------------------ parameters
    def scale(self) -> Tensor:
        """Effective multiplicative scale Delta per slot (``delta`` or ``2*sigmoid(delta)``)."""
        return self.delta if self.delta_transform == "identity" else 2.0 * torch.sigmoid(self.delta)

    def effective(self) -> tuple:
        """``(Delta, iota, w)`` per class (``[C]`` or ``[G, C]``), differentiable w.r.t. the parameters."""
        if self.identity_index:  # one slot per class: no gather needed
            return self.scale(), self.iota, self.weight
        idx = self.param_index
        return self.scale()[..., idx], self.iota[..., idx], self.weight[..., idx]

    @torch.no_grad()
    def set_params(self, delta: TableLike = None, iota: TableLike = None, weight: TableLike = None) -> None:
        """Overwrite parameters in place from effective values (slot tables, like the constructor)."""
        shape = tuple(self.iota.shape)
        if delta is not None:
            self.delta.copy_(_raw_delta(delta, shape, self.delta_transform))
        if iota is not None:
            self.iota.copy_(_table(iota, shape, 0.0, "iota"))
        if weight is not None:
            self.weight.copy_(_table(weight, shape, 1.0, "weight"))

    # ------------------------------------------------------------------ the template
    def forward(
        self, logits: Tensor, target: Tensor, sample_weight: Tensor | None = None, group: Tensor | None = None
    ) -> Tensor:
        if isinstance(sample_weight, Tensor) and group is None and not sample_weight.is_floating_point():
            sample_weight, group = None, sample_weight  # former signature forward(logits, target, group)
        if self.num_groups is None and group is not None:
            raise ValueError("group was given but the loss has num_groups=None; build it with num_groups=G")
        if self.num_groups is not None and group is None:
            raise ValueError(f"this loss has num_groups={self.num_groups}: pass group=<LongTensor [N]> to forward")
        batch = self.prepare(logits, target)
        if batch.num_classes != self.num_classes:
            raise ValueError(f"logits have {batch.num_classes} classes but the loss was built for {self.num_classes}")
        batch = replace(batch, group=_check_group(group, logits, self.num_groups))
        return self.reduce(batch, sample_weight)

    def class_vectors(self) -> dict[str, Tensor | None]:
        return {}  # the tables are checked against num_classes in forward

    def transform(self, batch: LossBatch) -> Tensor:
        delta, iota, _ = self.effective()
        return _parametric_logits(batch, delta, iota)

    def element_weight(self, batch: LossBatch, sample_weight: Tensor | None) -> Tensor | None:
        return combine_weights(_table_weight(batch, self.effective()[2]), sample_weight)

    def extra_repr(self) -> str:
        g = "" if self.num_groups is None else f", num_groups={self.num_groups}"
        k = "" if self.num_slots == self.num_classes else f", num_slots={self.num_slots}"
        return (
            f"num_classes={self.num_classes}{g}{k}, delta_transform={self.delta_transform!r}, "
            f"reduction={self.reduction!r}, ignore_index={self.ignore_index}"
        )
