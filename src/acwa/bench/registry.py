"""The one method registry shared by the Python API (:func:`acwa.bench.run_bench`) and the CLI
(``acwa bench --methods ...``).

A method is a name, a ``family`` (``'baseline'``, ``'static'``, ``'adaptive'``, or ``'reference'``
for a non-acwa model shown beside the others but not ranked), a one-line
description and a function ``fn(ctx: RunContext) -> Fit`` that trains with the run's shared
recipe through :meth:`acwa.bench.RunContext.fit`, using the public acwa API exactly as a user
would. Built-in methods are registered by :mod:`acwa.bench.methods`, which ``import acwa.bench``
loads; this module is a leaf: it imports nothing of acwa, so any module may register methods.

Adding a method takes a few lines::

    from acwa import ACWATrainer
    from acwa.bench import register_method

    @register_method("acwa-val", family="adaptive",
                     description="ACWA driven by a validation split of the training data")
    def acwa_val(ctx):
        train_idx, val_idx = ctx.validation_split(0.2)          # from the training split only
        val = ctx.batches(ctx.X[val_idx], ctx.y[val_idx])
        trainer = ACWATrainer(num_classes=ctx.num_classes, update_freq=None)
        return ctx.fit(acwa=trainer, indices=train_idx,
                       on_epoch_end=lambda epoch, model: trainer.update_from_validation(model, val))

``modalities`` restricts a method to some data kinds (e.g. SMOTE: ``('tabular', 'embedding')``);
the runner skips it elsewhere and says so in the report. ``same_as='la'`` declares a method equal
by construction to another one (balanced softmax is logit adjustment with tau 1 up to a constant
logit shift): the report marks the pair.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

__all__ = [
    "FAMILIES",
    "TASKS",
    "Method",
    "METHODS",
    "register_method",
    "unregister_method",
    "get_method",
    "list_methods",
    "resolve_methods",
]

FAMILIES = ("baseline", "static", "adaptive", "reference")
TASKS = ("multiclass", "binary", "multilabel")


@dataclass(frozen=True)
class Method:
    """A registered method (see the module docstring)."""

    name: str
    family: str
    description: str
    fn: Callable[..., Any]
    modalities: tuple[str, ...] | None = None  # None: every modality
    in_default: bool = True  # False: opt-in, run by name or with 'all' (e.g. a costly method)
    same_as: str | None = None  # equal by construction to this method (marked in the report)
    trainings: int = 1  # models trained per run (cross-fitting: 1 + folds); 1 = a single-training method
    requires: tuple[str, ...] = ()  # optional packages it imports; the runner skips it, with the reason, without them
    tasks: tuple[str, ...] = ("multiclass", "binary")  # label shapes it trains on ('multilabel': multi-hot y)
    options: tuple[str, ...] = ()  # keyword arguments of fn a run may set (run_bench(method_options=...))
    cost: Callable[..., int] | None = None  # trainings per run for given options (default: trainings)

    def supports(self, modality: str, task: str = "multiclass") -> bool:
        return (self.modalities is None or modality in self.modalities) and task in self.tasks

    def with_options(self, options: Mapping[str, Any]) -> Method:
        """This method with some of its declared :attr:`options` set (``fn`` becomes a picklable
        ``functools.partial``); unknown option names raise ``ValueError`` listing the valid ones."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(self.options) if self.options else "none"
            raise ValueError(f"method {self.name!r} has no option(s) {', '.join(unknown)}; its options: {valid}")
        if not options:
            return self
        trainings = self.cost(**options) if self.cost is not None else self.trainings
        return replace(self, fn=partial(self.fn, **options), trainings=int(trainings))


METHODS: dict[str, Method] = {}


def register_method(
    name: str,
    family: str,
    description: str = "",
    modalities: Sequence[str] | None = None,
    replace: bool = False,
    in_default: bool = True,
    same_as: str | None = None,
    trainings: int = 1,
    requires: Sequence[str] = (),
    tasks: Sequence[str] = ("multiclass", "binary"),
    options: Sequence[str] = (),
    cost: Callable[..., int] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``fn(ctx) -> Fit`` under ``name`` (lower-case, dashes).
    ``in_default=False`` leaves it out of the default set (``acwa bench`` without ``--methods``);
    ``same_as``: a method it equals by construction; ``trainings``: models it trains per run;
    ``requires``: optional packages it imports (the runner skips the method without them);
    ``tasks``: the label shapes it handles (``'multiclass'``, ``'binary'``, ``'multilabel'``);
    ``options``: keyword arguments of ``fn`` a run may set (``run_bench(method_options=...)``,
    e.g. ``acwa bench --auto-folds 3``) and ``cost(**options)``: the trainings they imply."""
    if (
        not isinstance(name, str)
        or not name
        or name != name.strip().lower()
        or " " in name
        or name in ("all", "default")
    ):
        raise ValueError(
            f"method name must be a non-empty lower-case string without spaces (not 'all' or 'default'), got {name!r}"
        )
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    bad_tasks = [t for t in tasks if t not in TASKS]
    if bad_tasks or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {list(TASKS)}, got {list(tasks)!r}")
    if isinstance(trainings, bool) or not isinstance(trainings, int) or trainings < 1:
        raise ValueError(f"trainings must be an int >= 1 (models trained per run), got {trainings!r}")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in METHODS and not replace:
            raise ValueError(f"method {name!r} is already registered; pass replace=True to override it")
        METHODS[name] = Method(
            name,
            family,
            description or (fn.__doc__ or "").strip().split("\n")[0],
            fn,
            tuple(modalities) if modalities is not None else None,
            bool(in_default),
            same_as,
            int(trainings),
            tuple(requires),
            tuple(tasks),
            tuple(options),
            cost,
        )
        return fn

    return decorator


def unregister_method(name: str) -> None:
    """Remove ``name`` from the registry (no error when absent)."""
    METHODS.pop(name, None)


def get_method(name: str) -> Method:
    """The registered :class:`Method` called ``name`` (unknown names list the valid ones)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid names: {', '.join(METHODS)}")
    return METHODS[name]


def list_methods(family: str | None = None) -> list[str]:
    """Registered method names by family (baseline, static, adaptive, reference), each family in
    registration order."""
    order = {f: i for i, f in enumerate(FAMILIES)}
    names = sorted(METHODS, key=lambda n: order[METHODS[n].family])
    return [n for n in names if family is None or METHODS[n].family == family]


def resolve_methods(spec: str | Sequence[str] | None) -> list[str]:
    """``'default'`` (None: every method registered with ``in_default``), ``'all'``, ``'a,b,c'``
    or a list of names -> validated names (unknown names list the valid ones). ``default`` and
    ``all`` may appear inside a list too (``'default,crossfit-la'``)."""
    groups = {"default": [n for n in list_methods() if METHODS[n].in_default], "all": list_methods()}
    if spec is None:
        return groups["default"]
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    names = [m for n in names if n for m in groups.get(n, [n])]
    if not names:
        raise ValueError(f"no method given; valid names: default, all, {', '.join(list_methods())}")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(
            f"unknown method(s) {', '.join(unknown)}; valid names: default, all, {', '.join(list_methods())}"
        )
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen
