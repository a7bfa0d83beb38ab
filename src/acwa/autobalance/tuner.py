"""The AutoBalance tuner: alternate lower steps on the model with implicit hyper-steps on the
parametric loss (Li et al., "AutoBalance: Optimized Loss Functions for Imbalanced Data",
NeurIPS 2021, arXiv 2201.01212, Algorithm 1).

Lower problem: ``theta <- theta - lr * grad_theta L_train(theta; a)`` with ``L_train`` the
parametric CE (:class:`acwa.losses.ParametricCrossEntropyLoss`, parameters ``a = (Delta, iota,
w)`` per class or per (group, class)) on (optionally per-class augmented) training batches.

Upper problem: every ``hyper_every`` lower steps (after ``warm_start_epochs``), one step of the
hyper-optimiser on ``a`` along the implicit hypergradient of a validation objective
(:mod:`acwa.autobalance.objectives`), computed with :func:`implicit_hypergradient` on the last
``train_batches`` training batches and ``val_batches`` validation batches.

Differences from the authors' code, on purpose:

* the hyper-optimiser steps only at hyper-steps (their code also stepped it every iteration,
  with whatever gradient had accumulated, so results depended on the PyTorch version);
* validation passes run in ``eval()`` mode on un-augmented data, so BatchNorm statistics are
  neither used from the batch nor updated; the training-side pass of a hyper-step restores every
  model buffer afterwards, so a hyper-step never changes BatchNorm running statistics;
* the Neumann series is damped (``damping``, default: the optimiser's weight decay, which is the
  exact curvature of the regularised lower problem) and stops early when a term grows;
* a non-finite hypergradient skips the step (warning once) and never touches the parameters.
"""

from __future__ import annotations

import copy
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from typing import Union

import torch
from torch import Tensor, nn

from ..losses.parametric import ParametricCrossEntropyLoss, parametric_cross_entropy
from .augment import ClassAugment
from .hypergrad import SOLVERS, implicit_hypergradient
from .objectives import make_objective

__all__ = ["AutoBalance", "frequency_rank_groups", "check_group_labels", "check_val_classes", "train_objective"]

ValData = Union[tuple[Tensor, Tensor], tuple[Tensor, Tensor, Tensor], "torch.utils.data.DataLoader"]


def frequency_rank_groups(class_counts: Tensor | Sequence[float], num_slots: int) -> Tensor:
    """Share parameters among classes of neighbouring frequency rank.

    Classes are sorted by training count (most frequent first, ties by class id) and the ranks
    are cut into ``num_slots`` consecutive chunks of near-equal size; returns ``param_index``
    (LongTensor [C], slot of each class) for :class:`ParametricCrossEntropyLoss`.
    """
    n = torch.as_tensor(class_counts, dtype=torch.float64)
    C = n.numel()
    if n.dim() != 1 or C < 2:
        raise ValueError(f"class_counts must be a 1-D vector with >= 2 classes, got shape {list(n.shape)}")
    if not 1 <= num_slots <= C:
        raise ValueError(f"num_slots must lie in [1, num_classes={C}], got {num_slots}")
    order = sorted(range(C), key=lambda c: (-float(n[c]), c))
    index = torch.empty(C, dtype=torch.long)
    for rank, c in enumerate(order):
        index[c] = rank * num_slots // C
    return index


def check_group_labels(group: Tensor | None, n: int, num_groups: int | None, name: str = "group") -> Tensor | None:
    """ValueError unless ``group`` is an integer vector of length ``n`` with ids in [0, num_groups)."""
    if group is None:
        if num_groups:
            raise ValueError(f"{name} is required: the tuner was built with num_groups={num_groups}")
        return None
    if not num_groups:
        raise ValueError(f"{name} was given but num_groups is None; build AutoBalance(..., num_groups=G)")
    group = torch.as_tensor(group)
    if group.is_floating_point() or group.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer group ids, got dtype {group.dtype}")
    if group.dim() != 1 or group.shape[0] != n:
        raise ValueError(f"{name} must have one group id per sample: expected shape [{n}], got {list(group.shape)}")
    if group.numel() and group.device.type == "cpu":
        lo, hi = int(group.min()), int(group.max())
        if lo < 0 or hi >= num_groups:
            raise ValueError(f"{name} ids must lie in [0, {num_groups}), got values in [{lo}, {hi}]")
    return group.long()


def check_val_classes(y_val: Tensor, num_classes: int) -> Tensor:
    """Validation class counts; ValueError if a class has no validation sample."""
    y_val = torch.as_tensor(y_val)
    if y_val.is_floating_point() or y_val.dim() != 1 or y_val.numel() == 0:
        raise ValueError(
            f"validation labels must be a non-empty 1-D integer tensor, got {y_val.dtype} {list(y_val.shape)}"
        )
    lo, hi = int(y_val.min()), int(y_val.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"validation labels must lie in [0, {num_classes}), got values in [{lo}, {hi}]")
    counts = torch.bincount(y_val.long().cpu(), minlength=num_classes)
    missing = torch.nonzero(counts == 0).flatten().tolist()
    if missing:
        raise ValueError(
            f"the validation split has no sample of class(es) {missing}; every class needs >= 1 validation "
            "sample (use acwa.splits.stratified_split(labels, val_fraction, min_per_class=1))"
        )
    return counts


def train_objective(
    model: nn.Module,
    loss: ParametricCrossEntropyLoss,
    x: Tensor,
    y: Tensor,
    group: Tensor | None = None,
    augment: ClassAugment | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mean training loss ``L_train`` of one batch: augment (if any), forward, parametric CE."""
    if augment is None:
        return loss(model(x), y, group) if loss.num_groups else loss(model(x), y)
    batch = augment(x, y, generator)
    logits = model(batch.x)
    delta, iota, weight = loss.effective()

    def per_sample(labels: Tensor) -> Tensor:
        return parametric_cross_entropy(logits, labels, delta, iota, weight, group, loss.ignore_index, "none")

    return augment.mixed_loss(per_sample, batch)


def _lower_params(model: nn.Module, spec) -> list[nn.Parameter]:
    """Lower-level parameters that enter the hypergradient: all (None), 'last' (those of the last
    submodule that owns parameters, e.g. the classifier head), or an explicit sequence."""
    if spec is None or spec == "all":
        return [p for p in model.parameters() if p.requires_grad]
    if spec == "last":
        owners = [m for m in model.modules() if any(p.requires_grad for p in m.parameters(recurse=False))]
        if not owners:
            return []
        return [p for p in owners[-1].parameters(recurse=False) if p.requires_grad]
    if isinstance(spec, str):
        raise ValueError(f"hyper_params must be None/'all', 'last' or a sequence of parameters, got {spec!r}")
    return list(spec)


class AutoBalance:
    """Bilevel tuner of a parametric CE on validation data (AutoBalance, arXiv 2201.01212).

    Plain loop (``AutoBalance.step`` does zero_grad/forward/backward/optimizer.step)::

        ab = AutoBalance(model, num_classes, val_data=(X_val, y_val), optimizer=opt,
                         class_counts=train_counts)
        for epoch in range(epochs):
            for x, y in loader:
                ab.step(x, y)
            ab.end_epoch()

    or own the lower step and call ``ab.record(x, y)`` after ``optimizer.step()``, with the
    training loss from ``ab.train_loss(x, y)`` (it applies the per-class augmentation).

    Main options (defaults in brackets; the authors' settings in parentheses):

    * ``objective`` ['balanced']: a name of :data:`acwa.autobalance.OBJECTIVES`, a callable
      ``f(logits, y, group)`` or a blend ``(L1, L2, lam)``.
    * ``learn`` [('delta', 'iota')]: loss parameters to tune; ``'weight'`` adds per-class weights.
    * ``num_groups`` [None]: per-(group, class) parameters; ``step``/``record`` then need ``group``.
    * ``share_slots`` [None]: number of parameter slots shared by classes of adjacent frequency
      rank (needs ``class_counts``).
    * ``la_tau`` [None]: logit-adjustment init ``iota = la_tau * log pi`` (needs ``class_counts``).
    * ``hyper_every`` [20] (20), ``train_batches`` [2] (10), ``val_batches`` [2] (10),
      ``val_batch_size`` [256]: hyper-step frequency and batches averaged per hyper-step.
    * ``solver`` ['neumann'] or 'cg' or 'identity'; ``neumann_terms`` [5] (5); ``neumann_step``
      [optimizer lr; 'auto' = 1/lambda_max by power iteration] (1.0); ``damping`` [optimizer weight decay] (0).
    * ``hyper_optimizer`` ['adam'] or 'sgd' (the authors': SGD momentum ``hyper_momentum`` 0.9)
      or a callable ``params -> optimizer``; ``hyper_lr`` [0.02]; ``max_hyper_grad_norm`` [1.0]
      clips the hypergradient. Adam is the default because the hypergradient's scale depends on
      the Neumann step and the curvature; Adam's steps do not.
    * ``warm_start_epochs`` [0]: hyper-steps start when ``end_epoch()`` was called this often
      (the authors start after ~40% of the epochs).
    * ``augment`` [None]: 'noise' or 'mixup' (or a :class:`ClassAugment`) for a tuned per-class
      augmentation magnitude.
    * ``hyper_params`` [None = all model parameters with requires_grad]: the lower parameters
      whose curvature enters the hypergradient; ``'last'`` = the parameters of the last
      submodule that owns any (the classifier head), much cheaper: the Hessian products then
      only traverse the head, the rest of the network is held fixed in the implicit step.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        *,
        val_data: ValData,
        optimizer: torch.optim.Optimizer | None = None,
        class_counts: Tensor | Sequence[float] | None = None,
        num_groups: int | None = None,
        share_slots: int | None = None,
        la_tau: float | None = None,
        learn: Sequence[str] = ("delta", "iota"),
        delta_transform: str = "sigmoid",
        objective="balanced",
        objective_temperature: float = 0.1,
        positive_classes: Sequence[int] | None = None,
        hyper_every: int = 20,
        solver: str = "neumann",
        neumann_terms: int = 5,
        neumann_step: None | float | str = None,
        damping: float | None = None,
        train_batches: int = 2,
        val_batches: int = 2,
        val_batch_size: int = 256,
        warm_start_epochs: float = 0,
        hyper_optimizer: str | Callable = "adam",
        hyper_lr: float = 0.02,
        hyper_momentum: float = 0.9,
        max_hyper_grad_norm: float | None = 1.0,
        augment: None | str | ClassAugment = None,
        hyper_params: None | str | Sequence[nn.Parameter] = None,
        weight_bounds: tuple[float, float] = (0.05, 20.0),
        seed: int = 0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        for name, v in (
            ("hyper_every", hyper_every),
            ("train_batches", train_batches),
            ("val_batches", val_batches),
            ("val_batch_size", val_batch_size),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {list(SOLVERS)}, got {solver!r}")
        if isinstance(neumann_terms, bool) or not isinstance(neumann_terms, int) or neumann_terms < 0:
            raise ValueError(f"neumann_terms must be an int >= 0, got {neumann_terms!r}")
        if not hyper_lr > 0:
            raise ValueError(f"hyper_lr must be > 0, got {hyper_lr}")
        if damping is not None and damping < 0:
            raise ValueError(f"damping must be >= 0, got {damping}")
        if (
            neumann_step is not None
            and neumann_step != "auto"
            and not (isinstance(neumann_step, (int, float)) and neumann_step > 0)
        ):
            raise ValueError(f"neumann_step must be > 0, 'auto' or None (the optimizer's lr), got {neumann_step!r}")
        if not 0 < weight_bounds[0] <= weight_bounds[1]:
            raise ValueError(f"weight_bounds must satisfy 0 < lo <= hi, got {weight_bounds}")
        self.model = model
        self.num_classes = num_classes
        self.num_groups = num_groups
        self.optimizer = optimizer
        self.hyper_every = hyper_every
        self.solver = solver
        self.neumann_terms = neumann_terms
        self.train_batches = train_batches
        self.val_batches = val_batches
        self.val_batch_size = val_batch_size
        self.warm_start_epochs = warm_start_epochs
        self.max_hyper_grad_norm = max_hyper_grad_norm
        self.weight_bounds = (float(weight_bounds[0]), float(weight_bounds[1]))
        self.seed = seed
        device = next((p.device for p in model.parameters()), torch.device("cpu"))

        counts = None
        if class_counts is not None:
            counts = torch.as_tensor(class_counts, dtype=torch.float64)
            if counts.dim() != 1 or counts.numel() != num_classes:
                raise ValueError(
                    f"class_counts must have one entry per class ({num_classes}), got {list(counts.shape)}"
                )
        param_index = None
        if share_slots is not None:
            if counts is None:
                raise ValueError("share_slots needs class_counts (training counts) to rank classes by frequency")
            if la_tau is not None:
                raise ValueError("share_slots and la_tau cannot be combined (LA init needs one slot per class)")
            param_index = frequency_rank_groups(counts, share_slots)
        if la_tau is not None and counts is None:
            raise ValueError("la_tau (logit-adjustment init) needs class_counts")
        self.loss = ParametricCrossEntropyLoss(
            num_classes,
            num_groups=num_groups,
            param_index=param_index,
            delta_transform=delta_transform,
            class_counts=counts.tolist() if la_tau is not None else None,
            la_tau=la_tau,
            learn=learn,
        ).to(device)
        if isinstance(augment, str):
            augment = ClassAugment(num_classes, augment)
        elif augment is not None and not isinstance(augment, ClassAugment):
            raise ValueError(f"augment must be None, 'noise', 'mixup' or a ClassAugment, got {augment!r}")
        self.augment = None if augment is None else augment.to(device)

        self._set_val_data(val_data)
        self._objective_spec = objective
        self.objective = make_objective(
            objective,
            num_classes,
            class_counts=self.val_class_counts,
            num_groups=num_groups,
            temperature=objective_temperature,
            positive_classes=positive_classes,
        )

        self.hparams: list[nn.Parameter] = [p for p in self.loss.parameters() if p.requires_grad]
        if self.augment is not None:
            self.hparams.append(self.augment.magnitude)
        if not self.hparams:
            raise ValueError("nothing to tune: learn is empty and no augment was given")
        self.lower_params = _lower_params(model, hyper_params)
        if not self.lower_params:
            raise ValueError("the model has no parameter with requires_grad=True")

        group0 = optimizer.param_groups[0] if optimizer is not None else {}
        if neumann_step == "auto":
            self.neumann_step: float | str = "auto"
        else:
            self.neumann_step = float(neumann_step if neumann_step is not None else group0.get("lr", 1.0))
        self.damping = float(damping if damping is not None else group0.get("weight_decay", 0.0))
        if hyper_optimizer == "sgd":
            self.hyper_optimizer = torch.optim.SGD(self.hparams, lr=hyper_lr, momentum=hyper_momentum)
        elif hyper_optimizer == "adam":
            self.hyper_optimizer = torch.optim.Adam(self.hparams, lr=hyper_lr)
        elif callable(hyper_optimizer):
            self.hyper_optimizer = hyper_optimizer(self.hparams)
        else:
            raise ValueError(
                f"hyper_optimizer must be 'sgd', 'adam' or a callable params -> optimizer, got {hyper_optimizer!r}"
            )

        self._generator = torch.Generator().manual_seed(seed)
        self._aug_generator: torch.Generator | None = None
        self._buffer: deque = deque(maxlen=train_batches)
        self.iteration = 0
        self.epoch = 0
        self.hyper_steps = 0
        self.skipped_steps = 0
        self._warned_nonfinite = False
        self.history: list[dict[str, Tensor]] = []
        self.last_info: dict[str, object] = {}

    # ------------------------------------------------------------------ validation data
    def _set_val_data(self, val_data: ValData) -> None:
        self._val_loader = None
        self._val_iter = None
        if isinstance(val_data, (tuple, list)):
            if len(val_data) not in (2, 3):
                raise ValueError("val_data must be (X_val, y_val) or (X_val, y_val, group_val) or a DataLoader")
            X, y = torch.as_tensor(val_data[0]), torch.as_tensor(val_data[1])
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"X_val has {X.shape[0]} samples but y_val has {y.shape[0]}")
            g = val_data[2] if len(val_data) == 3 else None
            g = check_group_labels(g, y.shape[0], self.num_groups, "val group")
            self.val_class_counts = check_val_classes(y, self.num_classes)
            self._val = (X, y.long(), g)
        elif isinstance(val_data, torch.utils.data.DataLoader):
            counts = torch.zeros(self.num_classes, dtype=torch.long)
            ys = []
            for batch in val_data:
                ys.append(torch.as_tensor(batch[1]).long().cpu())
                if self.num_groups:
                    if len(batch) < 3:
                        raise ValueError("the validation DataLoader must yield (x, y, group) when num_groups is set")
                    check_group_labels(batch[2], len(batch[1]), self.num_groups, "val group")
            counts = check_val_classes(torch.cat(ys), self.num_classes)
            self.val_class_counts = counts
            self._val = None
            self._val_loader = val_data
        else:
            raise ValueError(
                f"val_data must be (X_val, y_val[, group_val]) tensors or a DataLoader, got {type(val_data).__name__}"
            )

    def _next_val_batch(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor | None]:
        if self._val is not None:
            X, y, g = self._val
            n = y.shape[0]
            k = self.val_batches * self.val_batch_size
            if k >= n:
                idx = torch.arange(n)
            else:
                idx = torch.randperm(n, generator=self._generator)[:k]
            idx_dev = idx.to(X.device)
            return (
                X[idx_dev].to(device),
                y[idx.to(y.device)].to(device),
                None if g is None else g[idx.to(g.device)].to(device),
            )
        xs, ys, gs = [], [], []
        for _ in range(self.val_batches):
            try:
                batch = next(self._val_iter) if self._val_iter is not None else None
                if batch is None:
                    raise StopIteration
            except StopIteration:
                self._val_iter = iter(self._val_loader)
                batch = next(self._val_iter)
            xs.append(torch.as_tensor(batch[0]).to(device))
            ys.append(torch.as_tensor(batch[1]).long().to(device))
            if self.num_groups:
                gs.append(torch.as_tensor(batch[2]).long().to(device))
        return torch.cat(xs), torch.cat(ys), (torch.cat(gs) if gs else None)

    # ------------------------------------------------------------------ lower level
    def _aug_gen(self, device: torch.device) -> torch.Generator | None:
        if self.augment is None:
            return None
        if self._aug_generator is None or self._aug_generator.device != torch.device(device):
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed + 1)
            self._aug_generator = gen
        return self._aug_generator

    def train_loss(self, x: Tensor, y: Tensor, group: Tensor | None = None) -> Tensor:
        """Training loss of one batch under the current loss parameters (and augmentation)."""
        return train_objective(self.model, self.loss, x, y, group, self.augment, self._aug_gen(x.device))

    def step(self, x: Tensor, y: Tensor, group: Tensor | None = None) -> Tensor:
        """One lower step (needs ``optimizer``), then a hyper-step when due. Returns the loss."""
        if self.optimizer is None:
            raise ValueError("step() needs AutoBalance(..., optimizer=...); or run your own step and call record()")
        group = check_group_labels(group, y.shape[0], self.num_groups)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.train_loss(x, y, group)
        loss.backward()
        for p in self.hparams:  # the lower step must not leave gradients on the loss parameters
            p.grad = None
        self.optimizer.step()
        self.record(x, y, group)
        return loss.detach()

    def record(self, x: Tensor, y: Tensor, group: Tensor | None = None) -> bool:
        """Count a finished lower step on batch ``(x, y[, group])``; hyper-step if due.

        Returns True when a hyper-step was attempted."""
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
        group = check_group_labels(group, y.shape[0], self.num_groups)
        self._buffer.append((x.detach(), y.detach(), None if group is None else group.detach()))
        self.iteration += 1
        if self.hyper_step_due():
            self.hyper_step()
            return True
        return False

    def hyper_step_due(self) -> bool:
        return self.epoch >= self.warm_start_epochs and self.iteration % self.hyper_every == 0

    def end_epoch(self) -> None:
        """Call once per epoch (drives ``warm_start_epochs``)."""
        self.epoch += 1

    # ------------------------------------------------------------------ upper level
    def hypergradient(self, train_data: Sequence[tuple] | None = None, val_batch: tuple | None = None):
        """Implicit hypergradient on the buffered training batches and a validation draw.

        Returns ``(grads, info)`` aligned with :attr:`hparams`; does not step anything. The model
        buffers (BatchNorm statistics) are restored after the training-side forward pass.
        """
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        batches = list(train_data) if train_data is not None else list(self._buffer)
        if not batches:
            raise ValueError("no training batch recorded yet: call step()/record() first or pass train_data")
        if val_batch is None:
            val_batch = self._next_val_batch(device)
        xv, yv, gv = (tuple(val_batch) + (None,))[:3]
        model = self.model

        def val_loss_fn() -> Tensor:
            was_training = model.training
            model.eval()  # no BatchNorm update, no dropout; gradients still flow
            try:
                logits = model(xv)
            finally:
                model.train(was_training)
            return self.objective(logits, yv, gv)

        def train_loss_fn() -> Tensor:
            return sum(self.train_loss(*b) for b in batches) / len(batches)

        # the training-side forward runs in the model's own mode (BatchNorm uses batch statistics,
        # as in the lower steps) but must not move the running statistics: restore every buffer
        # once the Hessian products are done (restoring earlier would break double backward)
        saved = [b.detach().clone() for b in model.buffers()]
        try:
            return implicit_hypergradient(
                train_loss_fn,
                val_loss_fn,
                self.lower_params,
                self.hparams,
                self.solver,
                self.neumann_terms,
                self.neumann_step,
                self.damping,
            )
        finally:
            with torch.no_grad():
                for b, s in zip(model.buffers(), saved):
                    b.copy_(s)

    def hyper_step(self, train_data: Sequence[tuple] | None = None, val_batch: tuple | None = None) -> bool:
        """Compute the hypergradient and take one hyper-optimiser step. Returns False if skipped."""
        grads, info = self.hypergradient(train_data, val_batch)
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
        self.last_info = dict(info, hypergrad_norm=norm)
        if not bool(torch.isfinite(norm)):  # one host sync per hyper-step
            self.skipped_steps += 1
            if not self._warned_nonfinite:
                warnings.warn(
                    "AutoBalance: non-finite hypergradient; the hyper-step was skipped and the loss "
                    "parameters are unchanged (check the learning rates, neumann_step and damping). "
                    "Further skips are counted in .skipped_steps without warning.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self._warned_nonfinite = True
            return False
        if self.max_hyper_grad_norm is not None:
            scale = (self.max_hyper_grad_norm / (norm + 1e-12)).clamp(max=1.0)
            grads = [g * scale.to(g.dtype) for g in grads]
        for p, g in zip(self.hparams, grads):
            p.grad = g.to(p.dtype)
        self.hyper_optimizer.step()
        self.hyper_optimizer.zero_grad(set_to_none=True)
        self._project()
        self.hyper_steps += 1
        d, i, w = self.loss.effective()
        entry = {
            "iteration": torch.tensor(self.iteration),
            "val_loss": info["val_loss"],
            "delta": d.detach().clone(),
            "iota": i.detach().clone(),
            "weight": w.detach().clone(),
            "hypergrad_norm": norm.detach(),
        }
        if self.augment is not None:
            entry["augment"] = self.augment.magnitude.detach().clone()
        self.history.append(entry)
        return True

    @torch.no_grad()
    def _project(self) -> None:
        loss = self.loss
        # softmax is invariant to a shift of every logit: keep iota centred (no drift)
        loss.iota.sub_(loss.iota.mean(dim=-1, keepdim=True))
        if loss.delta_transform == "identity":
            loss.delta.clamp_(0.05, 20.0)
        else:
            loss.delta.clamp_(-8.0, 8.0)
        loss.weight.clamp_(*self.weight_bounds)
        if self.augment is not None:
            self.augment.project()

    # ------------------------------------------------------------------ results and resume
    def frozen_loss(self) -> ParametricCrossEntropyLoss:
        """A copy of the tuned loss with ``requires_grad=False`` (for a retrain phase)."""
        loss = copy.deepcopy(self.loss)
        for p in loss.parameters():
            p.requires_grad_(False)
        return loss

    def frozen_augment(self) -> ClassAugment | None:
        if self.augment is None:
            return None
        aug = copy.deepcopy(self.augment)
        aug.magnitude.requires_grad_(False)
        return aug

    def effective_params(self) -> dict[str, Tensor]:
        """Current per-class ``delta`` (scale), ``iota``, ``weight`` (and ``augment``) tensors."""
        d, i, w = self.loss.effective()
        out = {"delta": d.detach().clone(), "iota": i.detach().clone(), "weight": w.detach().clone()}
        if self.augment is not None:
            out["augment"] = self.augment.magnitude.detach().clone()
        return out

    def state_dict(self) -> dict:
        """Everything needed to resume the tuner exactly (the model and its optimiser are saved
        by the caller, as usual): loss and augmentation parameters, hyper-optimiser state,
        counters, the random generators and the buffered training batches. With tensor
        ``val_data`` a resumed run is identical to an uninterrupted one; a validation
        ``DataLoader`` restarts its iterator on resume (its position is not saved)."""
        return {
            "loss": self.loss.state_dict(),
            "augment": None if self.augment is None else self.augment.state_dict(),
            "hyper_optimizer": self.hyper_optimizer.state_dict(),
            "iteration": self.iteration,
            "epoch": self.epoch,
            "hyper_steps": self.hyper_steps,
            "skipped_steps": self.skipped_steps,
            "warned_nonfinite": self._warned_nonfinite,
            "generator": self._generator.get_state(),
            "aug_generator": None
            if self._aug_generator is None
            else (str(self._aug_generator.device), self._aug_generator.get_state()),
            "buffer": list(self._buffer),
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict) -> None:
        self.loss.load_state_dict(state["loss"])
        if (state["augment"] is None) != (self.augment is None):
            raise ValueError("state_dict augment does not match this tuner (built with a different augment)")
        if self.augment is not None:
            self.augment.load_state_dict(state["augment"])
        self.hyper_optimizer.load_state_dict(state["hyper_optimizer"])
        self.iteration = int(state["iteration"])
        self.epoch = int(state["epoch"])
        self.hyper_steps = int(state["hyper_steps"])
        self.skipped_steps = int(state["skipped_steps"])
        self._warned_nonfinite = bool(state["warned_nonfinite"])
        self._generator.set_state(state["generator"])
        if state["aug_generator"] is not None:
            dev, st = state["aug_generator"]
            gen = torch.Generator(device=dev)
            gen.set_state(st)
            self._aug_generator = gen
        self._buffer = deque(state["buffer"], maxlen=self.train_batches)
        self.history = list(state["history"])
