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

import warnings
from collections import deque
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from acwa._internal.state import Stateful
from acwa._internal.validation import check_num_classes
from acwa.autobalance.augment import ClassAugment
from acwa.autobalance.build import build_hyper_optimizer, build_loss, model_device
from acwa.autobalance.checks import (
    check_class_labels,
    check_group_labels,
    check_val_classes,
    frequency_rank_groups,
    lower_params,
    train_objective,
)
from acwa.autobalance.config import AutoBalanceConfig
from acwa.autobalance.hypergrad import implicit_hypergradient
from acwa.autobalance.objectives import make_objective
from acwa.autobalance.persistence import COMPONENT_KEYS, check_components, dump_components, load_components
from acwa.autobalance.results import TunedLoss
from acwa.autobalance.valdata import ValData, ValidationStream

__all__ = [
    "AutoBalance",
    "AutoBalanceConfig",
    "frequency_rank_groups",
    "check_group_labels",
    "check_val_classes",
    "train_objective",
]


def _non_negative(value: Any) -> None:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")


class AutoBalance(TunedLoss, Stateful):
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
    * ``keep_best`` [True]: remember the loss parameters with the lowest upper objective seen
      (each hyper-step scores the parameters in effect since the previous one, the first scores
      the start); :meth:`frozen_loss` and :meth:`best_params` return them, so a retrain with
      the tuned loss never uses parameters that scored worse than the start on the search split.
    * ``objective_exclude`` [()]: classes left out of the upper objective (their validation
      samples are dropped): classes with no honest validation sample. :func:`fit` puts a class
      with a single training sample in both splits and excludes it here, since a memorised
      sample tells the hypergradient that the class needs no help.

    All options are fields of :class:`~acwa.autobalance.AutoBalanceConfig` and are validated
    there; pass them as keywords or as ``config=AutoBalanceConfig(...)``. The tuner's counters,
    generators, buffered batches, history and best parameters are declared state
    (:class:`acwa._internal.state.Stateful`): :meth:`state_dict` / :meth:`load_state_dict` (checked, atomic).
    """

    # declared state (see _declare_state)
    iteration: int
    epoch: int
    hyper_steps: int
    skipped_steps: int
    warned_nonfinite: bool
    best_val_loss: float
    best_hparams: list[Tensor]

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        *,
        val_data: ValData,
        optimizer: torch.optim.Optimizer | None = None,
        config: AutoBalanceConfig | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if config is not None and options:
            raise ValueError(f"pass either config= or keyword options, not both (got {sorted(options)})")
        cfg = config if config is not None else AutoBalanceConfig.from_options(options)
        self.config, self.model, self.optimizer = cfg, model, optimizer
        self.num_classes = check_num_classes(num_classes)
        self.num_groups = cfg.num_groups
        device = model_device(model)
        self.loss = build_loss(self.num_classes, cfg, device)
        augment = ClassAugment(self.num_classes, cfg.augment) if isinstance(cfg.augment, str) else cfg.augment
        self.augment = None if augment is None else augment.to(device)
        self.val = ValidationStream(val_data, self.num_classes, self.num_groups, cfg.objective_exclude)
        self.val_class_counts = self.val.class_counts
        self._init_upper(cfg, optimizer)
        self._generator = torch.Generator().manual_seed(cfg.seed)
        self._aug_generator: torch.Generator | None = None
        self._buffer: deque = deque(maxlen=cfg.train_batches)
        self.history: list[dict[str, Tensor]] = []
        self.last_info: dict[str, object] = {}
        self._declare_state()

    def _init_upper(self, cfg: AutoBalanceConfig, optimizer: torch.optim.Optimizer | None) -> None:
        """The upper problem: objective, tuned and lower parameters, curvature settings, hyper-optimiser."""
        self.objective = make_objective(
            cfg.objective,
            self.num_classes,
            class_counts=self.val_class_counts,
            num_groups=self.num_groups,
            temperature=cfg.objective_temperature,
            positive_classes=cfg.positive_classes,
        )
        self.hparams: list[nn.Parameter] = [p for p in self.loss.parameters() if p.requires_grad]
        self.hparams += [] if self.augment is None else [self.augment.magnitude]
        if not self.hparams:
            raise ValueError("nothing to tune: learn is empty and no augment was given")
        self.lower_params = lower_params(self.model, cfg.hyper_params)
        if not self.lower_params:
            raise ValueError("the model has no parameter with requires_grad=True")
        group0: dict[str, Any] = optimizer.param_groups[0] if optimizer is not None else {}
        step = cfg.neumann_step
        self.neumann_step: float | str = "auto" if step == "auto" else float(step or group0.get("lr", 1.0))
        self.damping = float(cfg.damping if cfg.damping is not None else group0.get("weight_decay", 0.0))
        self.hyper_optimizer = build_hyper_optimizer(cfg, self.hparams)

    def _declare_state(self) -> None:
        for name in ("iteration", "epoch", "hyper_steps", "skipped_steps"):
            self.add_state(name, 0, check=_non_negative)
        self.add_state("warned_nonfinite", False)
        # best upper objective seen and the parameters that gave it (absent from old checkpoints)
        self.add_state("best_val_loss", float("inf"), optional=True)
        self.add_state("best_hparams", [], optional=True)

    # ------------------------------------------------------------------ lower level
    def _aug_gen(self, device: torch.device) -> torch.Generator | None:
        if self.augment is None:
            return None
        if self._aug_generator is None or self._aug_generator.device != torch.device(device):
            gen = torch.Generator(device=device)
            gen.manual_seed(self.config.seed + 1)
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
        if y.is_floating_point() or y.dtype == torch.bool:
            check_class_labels(y, "y")  # raises: float labels would be truncated
        group = check_group_labels(group, y.shape[0], self.num_groups)
        self._buffer.append((x.detach(), y.detach(), None if group is None else group.detach()))
        self.iteration += 1
        if self.hyper_step_due():
            self.hyper_step()
            return True
        return False

    def hyper_step_due(self) -> bool:
        return self.epoch >= self.config.warm_start_epochs and self.iteration % self.config.hyper_every == 0

    def end_epoch(self) -> None:
        """Call once per epoch (drives ``warm_start_epochs``)."""
        self.epoch += 1

    # ------------------------------------------------------------------ upper level
    def _val_logits_loss(self, xv: Tensor, yv: Tensor, gv: Tensor | None) -> Tensor:
        was_training = self.model.training
        self.model.eval()  # no BatchNorm update, no dropout; gradients still flow
        try:
            logits = self.model(xv)
        finally:
            self.model.train(was_training)
        return self.objective(logits, yv, gv)

    def hypergradient(
        self, train_data: Sequence[tuple] | None = None, val_batch: tuple | None = None
    ) -> tuple[list[Tensor], dict]:
        """Implicit hypergradient on the buffered training batches and a validation draw.

        Returns ``(grads, info)`` aligned with :attr:`hparams`; does not step anything. The model
        buffers (BatchNorm statistics) are restored after the training-side forward pass.
        """
        device = model_device(self.model)
        batches = list(train_data) if train_data is not None else list(self._buffer)
        if not batches:
            raise ValueError("no training batch recorded yet: call step()/record() first or pass train_data")
        if val_batch is None:
            val_batch = self.draw_validation(device)
        xv, yv, gv = (tuple(val_batch) + (None,))[:3]

        def train_loss_fn() -> Tensor:
            return torch.stack([self.train_loss(*b) for b in batches]).mean()

        # the training-side forward runs in the model's own mode (BatchNorm uses batch statistics,
        # as in the lower steps) but must not move the running statistics: restore every buffer
        # once the Hessian products are done (restoring earlier would break double backward)
        saved = [b.detach().clone() for b in self.model.buffers()]
        try:
            return implicit_hypergradient(
                train_loss_fn,
                lambda: self._val_logits_loss(xv, yv, gv),
                self.lower_params,
                self.hparams,
                self.config.solver,
                self.config.neumann_terms,
                self.neumann_step,
                self.damping,
            )
        finally:
            with torch.no_grad():
                for b, s in zip(self.model.buffers(), saved):
                    b.copy_(s)

    def draw_validation(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor | None]:
        """The validation draw of one hyper-step (``val_batches * val_batch_size`` samples)."""
        return self.val.draw(device, self.config.val_batches, self.config.val_batch_size, self._generator)

    def hyper_step(self, train_data: Sequence[tuple] | None = None, val_batch: tuple | None = None) -> bool:
        """Compute the hypergradient and take one hyper-optimiser step. Returns False if skipped."""
        grads, info = self.hypergradient(train_data, val_batch)
        norm = torch.sqrt(torch.stack([(g.double() ** 2).sum() for g in grads]).sum())
        self.last_info = dict(info, hypergrad_norm=norm)
        if not bool(torch.isfinite(norm)):  # one host sync per hyper-step
            self._skip_nonfinite()
            return False
        self._remember_if_best(info["val_loss"])
        if self.config.max_hyper_grad_norm is not None:
            scale = (self.config.max_hyper_grad_norm / (norm + 1e-12)).clamp(max=1.0)
            grads = [g * scale.to(g.dtype) for g in grads]
        for p, g in zip(self.hparams, grads):
            p.grad = g.to(p.dtype)
        self.hyper_optimizer.step()
        self.hyper_optimizer.zero_grad(set_to_none=True)
        self._project()
        self.hyper_steps += 1
        entry = {"iteration": torch.tensor(self.iteration), "val_loss": info["val_loss"]}
        entry.update(self.effective_params())
        entry["hypergrad_norm"] = norm.detach()
        self.history.append(entry)
        return True

    def _skip_nonfinite(self) -> None:
        self.skipped_steps += 1
        if not self.warned_nonfinite:
            warnings.warn(
                "AutoBalance: non-finite hypergradient; the hyper-step was skipped and the loss "
                "parameters are unchanged (check the learning rates, neumann_step and damping). "
                "Further skips are counted in .skipped_steps without warning.",
                RuntimeWarning,
                stacklevel=3,
            )
            self.warned_nonfinite = True

    def _remember_if_best(self, val_loss: Tensor) -> None:
        """Keep the parameters in effect now if their upper objective is the lowest seen."""
        value = float(val_loss)
        if self.config.keep_best and value == value and value < self.best_val_loss:
            self.best_val_loss = value
            self.best_hparams = [p.detach().clone() for p in self.hparams]

    @torch.no_grad()
    def score_current(self) -> float:
        """Upper objective of the current parameters on a validation draw; it also counts for
        ``keep_best`` (call it once the search ends: the last parameters are scored too)."""
        xv, yv, gv = self.draw_validation(model_device(self.model))
        value = self._val_logits_loss(xv, yv, gv)
        self._remember_if_best(value)
        return float(value)

    @torch.no_grad()
    def _project(self) -> None:
        loss = self.loss
        # softmax is invariant to a shift of every logit: keep iota centred (no drift)
        loss.iota.sub_(loss.iota.mean(dim=-1, keepdim=True))
        if loss.delta_transform == "identity":
            loss.delta.clamp_(0.05, 20.0)
        else:
            loss.delta.clamp_(-8.0, 8.0)
        loss.weight.clamp_(*self.config.weight_bounds)
        if self.augment is not None:
            self.augment.project()

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the tuner exactly (the model and its optimiser are saved
        by the caller, as usual): loss and augmentation parameters, hyper-optimiser state,
        counters, the random generators, the buffered training batches, the history and the
        best parameters. With tensor ``val_data`` a resumed run is identical to an
        uninterrupted one; a validation ``DataLoader`` restarts its iterator on resume."""
        return {**super().state_dict(), **dump_components(self)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state_dict`; every entry is checked first (keys, shapes, finiteness),
        so a bad dict raises ``ValueError`` naming the key and leaves the tuner unchanged."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict from AutoBalance.state_dict(), got {type(state).__name__}")
        components = check_components(self, state)
        super().load_state_dict({k: v for k, v in state.items() if k not in COMPONENT_KEYS})
        load_components(self, components)
        self.val.restart()

    def _check_loaded(self, state: dict[str, Any]) -> None:
        best = state.get("best_hparams") or []
        if best and [tuple(b.shape) for b in best] != [tuple(p.shape) for p in self.hparams]:
            raise ValueError("state['best_hparams'] does not match the tuned parameters of this tuner")

    def to(self, device: Any) -> AutoBalance:
        """Move the loss, the augmentation and the tensor state to ``device`` (the model is the caller's)."""
        super().to(device)
        self.loss.to(device)
        if self.augment is not None:
            self.augment.to(device)
        return self
