"""The loss template: validate the inputs once, compute per-element values, hand them to the reducer.

Every loss in :mod:`acwa.losses` is a :class:`BaseLoss`. Its ``forward(logits, target,
sample_weight=None)`` runs the same three steps:

1. :meth:`BaseLoss.prepare` checks the inputs once and returns a :class:`LossBatch`
   (upcast logits, targets made safe to gather, the mask of counted elements);
2. :meth:`BaseLoss.per_element` computes the unreduced per-element values ``l_i`` (the only
   step a loss must write; the logit-transform losses write only their transform, see
   :class:`acwa.losses.cross_entropy.LogitTransformLoss`);
3. :func:`acwa.losses.reducers.reduce_values` multiplies ``l_i`` by the per-element weight
   ``w_i = weight_{y_i} * sample_weight_i`` and reduces (table in :mod:`acwa.losses.reducers`).

``sample_weight`` (e.g. ACWA's per-sample class weights) is the caller's per-element weight
and enters before the module's ``reduction``; ``reduction`` stays a plain attribute, so foreign
code that sets it keeps working.

Multiclass inputs: logits ``[N, C]`` or ``[N, C, d1, ...]`` (dense prediction) with class
indices ``[N]`` / ``[N, d1, ...]`` (any integer dtype), or probability rows ``[N, C, ...]``
(soft targets: mixup, cutmix) where a loss allows them. A single logit column is a binary
problem: see :mod:`acwa.losses.binary`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import torch
from torch import Tensor, nn
from typing_extensions import Unpack

from acwa._internal.validation import check_int, check_labels, should_check_values
from acwa.losses.reducers import REDUCTIONS, align_weight, check_reduction, reduce_values
from acwa.tasks._tasks import SOFT_TARGET_TOLERANCE
from acwa.weights import check_counts

__all__ = [
    "REDUCTIONS",
    "SOFT_TARGET_ATOL",
    "LossBatch",
    "LossOptions",
    "Unpack",
    "functional_twin",
    "init_options",
    "DEFAULT_IGNORE_INDEX",
    "BINARY_HINT",
    "BaseLoss",
    "reduce_loss",
    "combine_weights",
    "as_class_vector",
    "check_class_vector",
    "check_finite_vector",
    "OFFSET_LIMIT",
    "counts_vector",
    "upcast",
    "class_dim_view",
    "prepare_multiclass",
]

DEFAULT_IGNORE_INDEX = -100
SOFT_TARGET_ATOL = SOFT_TARGET_TOLERANCE  # soft rows sum to 1 within this (acwa.tasks' tolerance)
BINARY_HINT = (
    "a single logit column is a binary problem: use make_loss('bce', pos_weight=...), "
    "make_loss('sigmoid_focal') or make_loss('binary_logit_adjusted', class_counts=[n_neg, n_pos])"
)
ClassVector = Tensor | Sequence[float] | None


class LossOptions(TypedDict, total=False):
    """The options every loss shares, spelled once (:class:`BaseLoss`); subclasses take ``**options``."""

    weight: ClassVector
    ignore_index: int
    reduction: str
    validate: bool | None


def as_class_vector(
    value: ClassVector, name: str, num_classes: int | None = None, nonnegative: bool = True
) -> Tensor | None:
    """A per-class sequence as a 1-D float tensor, checked for length, finiteness and (by default) sign."""
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if t.dim() != 1:
        raise ValueError(f"{name} must be a 1-D per-class vector, got shape {tuple(t.shape)}")
    if num_classes is not None and t.numel() != num_classes:
        raise ValueError(f"{name} must have one entry per class ({num_classes}), got {t.numel()}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {t.tolist()}")
    if nonnegative and bool((t < 0).any()):
        raise ValueError(f"{name} must be >= 0 for every class, got {t.tolist()}; a negative weight flips the loss")
    return t


OFFSET_LIMIT = 1e5  # |per-class logit offset| a loss accepts (float32 logits keep ~1e-2 precision)


def check_finite_vector(v: Tensor, name: str, hint: str, limit: float = OFFSET_LIMIT) -> Tensor:
    """``v`` if every entry is finite with ``|v_c| <= limit``, else ``ValueError``.

    Catches hyper-parameters whose derived per-class offsets overflow: beyond ``1e5`` float32
    logits lose their precision next to the offset and batch sums overflow (``tau=1e38``)."""
    big = v.detach().abs().max() if v.numel() else v.new_zeros(())
    if not bool(torch.isfinite(v).all()) or float(big) > limit:
        raise ValueError(f"{name} overflows: |value| must be <= {limit:g}, got max |value| {float(big):g}; {hint}")
    return v


def check_class_vector(v: Tensor | None, num_classes: int, name: str) -> None:
    """Shape-only check (no host sync) that a per-class vector has ``num_classes`` entries."""
    if v is None:
        return
    if not isinstance(v, Tensor):
        v = torch.as_tensor(v)
    if v.dim() != 1 or v.numel() != num_classes:
        raise ValueError(
            f"{name} must be a 1-D per-class vector with {num_classes} entries to match the logits' "
            f"{num_classes} classes, got shape {tuple(v.shape)}"
        )


def counts_vector(class_counts, num_classes: int | None = None, name: str = "class_counts") -> Tensor:
    """Validate training-set class counts for a loss and return them as float64 ``[C]``.

    Every count-based loss needs ``n_c > 0`` (``log pi_c``, ``n_c^{-1/4}``, ``(n_c/n_max)^gamma``
    are undefined or infinite at 0), so a zero count raises ``ValueError`` with the fix: add a
    pseudo-count (``class_counts + 1``) or drop the class.
    """
    n = check_counts(class_counts, num_classes, name)
    if bool((n == 0).any()):
        bad = torch.nonzero(n == 0).flatten().tolist()
        raise ValueError(
            f"{name} has 0 samples for classes {bad}, but this loss needs n_c > 0; add a pseudo-count "
            f"({name} + 1) or remove the empty classes"
        )
    return n


def class_dim_view(v: Tensor, logits: Tensor) -> Tensor:
    """``v`` [C] on ``logits``' device and dtype, shaped ``[1, C, 1, ...]`` to broadcast against it."""
    return v.to(device=logits.device, dtype=logits.dtype).view((1, -1) + (1,) * (logits.dim() - 2))


def upcast(logits: Tensor) -> Tensor:
    """float16/bfloat16 logits (e.g. under autocast) to float32; other dtypes unchanged."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


@dataclass(frozen=True)
class LossBatch:
    """Checked inputs of one forward pass.

    ``logits``: float32 at least, ``[N, C, ...]`` (binary: ``[N]``). ``target``: hard class
    indices made safe to gather (ignored entries -> 0), or probability rows ``[N, C, ...]``
    when ``soft``, or 0/1 floats for the sigmoid losses. ``counted``: boolean mask of the
    elements that count, ``None`` when all do.
    """

    logits: Tensor
    target: Tensor
    counted: Tensor | None
    soft: bool = False
    group: Tensor | None = None  # per-sample group ids (group-sensitive losses)

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[1]) if self.logits.dim() > 1 else 1

    def pick(self, v: Tensor) -> Tensor:
        """Per-class ``v`` ``[C]`` as per-element values: ``v_{y_i}``, or ``sum_c q_ic v_c`` for soft rows."""
        v = v.to(device=self.logits.device, dtype=self.logits.dtype)
        if self.soft:
            return (self.target * class_dim_view(v, self.logits)).sum(1)
        return v[self.target]


def _check_soft_rows(target: Tensor, logits: Tensor, check_values: bool) -> None:
    if tuple(target.shape) != tuple(logits.shape):
        raise ValueError(
            f"soft targets must have the logits' shape {tuple(logits.shape)} (one probability row per "
            f"sample), got {tuple(target.shape)}"
        )
    if check_values and target.numel():
        q = target.double()
        bad = ((q.sum(1) - 1.0).abs() > SOFT_TARGET_ATOL).any() | (q < -SOFT_TARGET_ATOL).any()
        if bool(bad | ~torch.isfinite(q).all()):
            raise ValueError(
                f"soft targets must be probability rows: entries >= 0 summing to 1 over the class dim "
                f"(within {SOFT_TARGET_ATOL}); normalise them (target / target.sum(1, keepdim=True)) "
                "or pass class indices"
            )


def prepare_multiclass(
    logits: Tensor,
    target: Tensor,
    ignore_index: int | None = DEFAULT_IGNORE_INDEX,
    soft_ok: bool = True,
    check_values: bool = True,
) -> LossBatch:
    """Check softmax-family inputs and return a :class:`LossBatch` (value checks: one host read).

    Hard targets: any integer dtype, out-of-range labels (other than ``ignore_index``) raise
    ``ValueError``. Soft targets (floating ``[N, C, ...]`` rows, when ``soft_ok``): rows must
    sum to 1 within :data:`SOFT_TARGET_ATOL`; ``ignore_index`` does not apply to them.
    """
    if not isinstance(logits, Tensor) or logits.dim() < 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"logits must have shape [N, C] or [N, C, d1, ...], got {shape}; {BINARY_HINT}")
    if logits.shape[1] < 2:
        raise ValueError(
            f"logits have {logits.shape[1]} class column(s), but a softmax loss needs C >= 2 "
            f"(a softmax over one column is constant); {BINARY_HINT}"
        )
    if not isinstance(target, Tensor):
        raise ValueError(f"target must be a torch.Tensor of class indices, got {type(target).__name__}")
    z = upcast(logits)
    if target.is_floating_point() and target.dim() == logits.dim() and soft_ok:
        _check_soft_rows(target, logits, check_values)
        return LossBatch(z, target.to(z.dtype), None, soft=True)
    expected = (logits.shape[0],) + tuple(logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must have shape {expected} to match logits {tuple(logits.shape)}, got {tuple(target.shape)}"
            + ("" if soft_ok else "; this loss takes class indices only (no soft targets)")
        )
    if target.is_floating_point():
        raise ValueError(f"target must hold integer class indices, got dtype {target.dtype}; pass target.long()")
    check_labels(target, logits.shape[1], ignore_index, "target", check_values)
    if ignore_index is None:
        return LossBatch(z, target.long(), None)
    counted = target != ignore_index
    safe = torch.where(counted, target, torch.zeros_like(target)).long()
    return LossBatch(z, safe, counted)


def combine_weights(w: Tensor | None, sample_weight: Tensor | None) -> Tensor | None:
    """Per-element ``w * sample_weight`` (either may be ``None``, meaning 1)."""
    if sample_weight is None:
        return w
    if not isinstance(sample_weight, Tensor):
        sample_weight = torch.as_tensor(sample_weight)
    return sample_weight if w is None else w * align_weight(sample_weight, w)


def reduce_loss(
    loss: Tensor,
    safe_target: Tensor,
    counted: Tensor | None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    sample_weight: Tensor | None = None,
) -> Tensor:
    """Per-class ``weight`` indexed by ``safe_target``, times ``sample_weight``, then the reducer."""
    w = None if weight is None else weight.to(device=loss.device, dtype=loss.dtype)[safe_target]
    return reduce_values(loss, reduction, combine_weights(w, sample_weight), counted)


class BaseLoss(nn.Module):
    """The template every acwa loss follows (module docstring): ``prepare`` -> ``per_element`` -> reducer.

    Stores the per-class ``weight`` (a buffer, ``>= 0``), ``ignore_index`` and ``reduction``
    (a plain attribute). ``validate`` controls the value checks that read tensors back to the
    host (label range, soft-target rows): ``None`` (auto) checks on every CPU call and on the
    first call on an accelerator, ``True``/``False`` always/never.

    Subclasses implement :meth:`per_element` and list their per-class buffers in
    :meth:`class_vectors` (shape-checked against the logits). Set ``soft_targets = False`` on a
    loss whose formula has no soft-target form.
    """

    soft_targets: bool = True
    weight: Tensor | None

    def __init__(
        self,
        weight: ClassVector = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        reduction: str = "mean",
        validate: bool | None = None,
    ) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.register_buffer("weight", as_class_vector(weight, "weight"))
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.validate = validate
        self._values_checked = False

    # -- the template -------------------------------------------------------------------------
    def forward(self, logits: Tensor, target: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        return self.reduce(self.prepare(logits, target), sample_weight)

    def reduce(self, batch: LossBatch, sample_weight: Tensor | None = None) -> Tensor:
        """Per-element values of ``batch``, weighted and reduced by :func:`reduce_values`."""
        values = self.per_element(batch)
        return reduce_values(values, self.reduction, self.element_weight(batch, sample_weight), batch.counted)

    def check_values_now(self, logits: Tensor) -> bool:
        """Whether this call reads tensor values back to the host (see ``validate``)."""
        first = not self._values_checked
        if first:
            self._values_checked = True
        return should_check_values(logits, self.validate, first)

    def prepare(self, logits: Tensor, target: Tensor) -> LossBatch:
        """Check the inputs once (multiclass by default) and the per-class buffers' lengths."""
        check_reduction(self.reduction)
        batch = prepare_multiclass(logits, target, self.ignore_index, self.soft_targets, self.check_values_now(logits))
        for name, v in self.class_vectors().items():
            check_class_vector(v, batch.num_classes, name)
        return batch

    def class_vectors(self) -> dict[str, Tensor | None]:
        """Per-class tensors to check against the logits' C (name in the error -> tensor)."""
        return {"weight": self.weight}

    def per_element(self, batch: LossBatch) -> Tensor:
        """Unreduced per-element losses, the shape of ``batch.counted`` (before any weight)."""
        raise NotImplementedError(f"{type(self).__name__} must implement per_element(batch)")

    def element_weight(self, batch: LossBatch, sample_weight: Tensor | None) -> Tensor | None:
        """``weight_{y_i} * sample_weight_i`` (``None`` when neither is set)."""
        return combine_weights(None if self.weight is None else batch.pick(self.weight), sample_weight)

    repr_fields: tuple[str, ...] = ()  # hyper-parameters shown first in repr()

    def extra_repr(self) -> str:
        own = "".join(f"{n}={getattr(self, n)!r}, " for n in self.repr_fields)
        return f"{own}reduction={self.reduction!r}, ignore_index={self.ignore_index}"


_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def init_parameters(cls: type) -> list[inspect.Parameter]:
    """Constructor parameters of a loss class, in positional order, following ``**options`` up
    the MRO to the constructor that spells them (used by :func:`make_loss` and the twins)."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]
        found.update({p.name: p for p in params if p.kind in _NAMED and p.name not in found})
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return list(found.values())


def init_options(cls: type) -> list[str]:
    """Names of :func:`init_parameters`."""
    return [p.name for p in init_parameters(cls)]


def functional_twin(cls: type[BaseLoss], name: str, summary: str) -> Callable[..., Tensor]:
    """The functional twin of a loss module: ``twin(logits, target, *options, sample_weight=None)``
    equals ``cls(*options)(logits, target, sample_weight)``. Hyper-parameters are validated and
    per-class vectors recomputed on each call: use the module in a training loop."""
    params = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in init_parameters(cls)]
    names = [p.name for p in params]

    def twin(logits: Tensor, target: Tensor, *args: Any, sample_weight: Tensor | None = None, **kw: Any) -> Tensor:
        if len(args) > len(names):
            raise TypeError(f"{twin.__name__}() takes at most {len(names)} options after (logits, target)")
        for name, value in zip(names, args):
            if name in kw:
                raise TypeError(f"{twin.__name__}() got option {name!r} by position and by name")
            kw[name] = value
        return cls(**kw)(logits, target, sample_weight)

    twin.__name__ = twin.__qualname__ = name
    twin.__module__ = cls.__module__
    twin.__doc__ = f"Functional twin of :class:`{cls.__name__}`: {summary}"
    head = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Tensor) for n in ("logits", "target")
    ]
    tail = inspect.Parameter("sample_weight", inspect.Parameter.KEYWORD_ONLY, default=None)
    twin.__signature__ = inspect.Signature([*head, *params, tail], return_annotation=Tensor)  # type: ignore[attr-defined]
    return twin
