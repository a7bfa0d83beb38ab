"""``fit``: the AutoBalance protocol end to end on in-memory tensors.

1. Stratified train/validation split of the training data that follows the imbalance, with
   >= 1 validation sample per class (:func:`acwa.splits.stratified_split`, 80/20 by default).
2. Search: train the model with :class:`AutoBalance` for ``epochs`` (hyper-steps after
   ``warm_start`` of the epochs, 40% by default as in the paper).
3. ``mode='retrain'`` (default, the paper's protocol): reset the model to its initial weights
   and train it again for ``epochs`` on all the training data (train + validation) with the
   tuned loss frozen; with ``keep_best`` (default) the frozen loss holds the parameters with the
   best upper objective seen during the search, the logit-adjustment start included, so the
   retrain never uses parameters that scored worse than the start on the search split. Costs
   two trainings. ``mode='continue'``: keep the model trained during the search (cost ~ one
   training run plus the hyper-steps).
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from acwa._internal.progress import progress_iter
from acwa._internal.validation import check_choice, check_float, check_int, check_num_classes
from acwa.autobalance.checks import check_class_labels, check_features
from acwa.autobalance.tuner import AutoBalance, check_group_labels, check_val_classes, train_objective
from acwa.splits import stratified_split

__all__ = ["fit", "AutoBalanceResult", "predict", "split_with_singletons"]


@torch.no_grad()
def predict(model: nn.Module, X: Tensor, batch_size: int = 1024) -> Tensor:
    """Arg-max class predictions in eval mode (batched; returns a CPU LongTensor)."""
    was = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    out = [model(X[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, X.shape[0], batch_size)]
    model.train(was)
    return torch.cat(out)


@dataclass
class AutoBalanceResult:
    """What :func:`fit` returns: the trained ``model``, the ``tuner`` (its loss holds the tuned
    parameters), the split indices and per-epoch training losses."""

    model: nn.Module
    tuner: AutoBalance
    train_idx: np.ndarray
    val_idx: np.ndarray
    epoch_losses: list[float] = field(default_factory=list)
    mode: str = "continue"

    def predict(self, X: Tensor, batch_size: int = 1024) -> Tensor:
        return predict(self.model, torch.as_tensor(X), batch_size)

    @property
    def params(self) -> dict[str, Tensor]:
        return self.tuner.effective_params()


def split_with_singletons(y: Tensor, val_fraction: float, seed: int):
    """:func:`acwa.splits.stratified_split`, except that a class with a single training sample
    (possible under rho = 100) puts that sample in both splits, with a warning: otherwise the
    class would be missing from validation (a ValueError) or from training."""
    counts = torch.bincount(y)
    single = (counts == 1).nonzero().flatten()
    if single.numel() == 0:
        return stratified_split(y, val_fraction, min_per_class=1, seed=seed)
    warnings.warn(
        f"classes {single.tolist()} have one training sample; it is used for both training and "
        "validation (the hypergradient sees a memorised sample for these classes)",
        RuntimeWarning,
        stacklevel=3,
    )
    is_single = (y.unsqueeze(1) == single.unsqueeze(0)).any(1).numpy()
    rest = np.flatnonzero(~is_single)
    tr, va = stratified_split(y[torch.from_numpy(rest)], val_fraction, min_per_class=1, seed=seed)
    both = np.flatnonzero(is_single)
    return np.sort(np.concatenate([rest[tr], both])), np.sort(np.concatenate([rest[va], both]))


def _make_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def _lr_at(schedule: str, base: float, epoch: int, epochs: int) -> float:
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return 0.5 * base * (1 + math.cos(math.pi * epoch / epochs))
    raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")


def fit(
    model: nn.Module,
    X_train: Tensor,
    y_train: Tensor,
    *,
    num_classes: int | None = None,
    X_val: Tensor | None = None,
    y_val: Tensor | None = None,
    groups: Tensor | None = None,
    val_groups: Tensor | None = None,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 0.05,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    schedule: str = "cosine",
    val_fraction: float = 0.2,
    warm_start: float = 0.4,
    mode: str = "retrain",
    seed: int = 0,
    verbose: bool = False,
    progress: bool = False,
    **autobalance_kwargs,
) -> AutoBalanceResult:
    """Train ``model`` on ``(X_train, y_train)`` with AutoBalance (see the module docstring).

    Without ``X_val``/``y_val`` the validation split is carved out of the training data
    (stratified, ``val_fraction``). ``groups``/``val_groups`` enable group-sensitive parameters
    (pass ``num_groups`` in ``autobalance_kwargs``). ``warm_start`` is the fraction of epochs before
    the first hyper-step. Other keyword arguments go to :class:`AutoBalance` (``objective``,
    ``la_tau``, ``learn``, ``hyper_every``, ``neumann_terms``, ``augment``, ``hyper_lr``, ...).
    Defaults that differ from :class:`AutoBalance`'s: ``la_tau=1.0`` (logit-adjustment init;
    pass ``la_tau=None`` for the neutral start), ``hyper_params='last'`` (hypergradient through
    the classifier head only; pass ``None`` for all parameters), ``hyper_every`` = min(20,
    iterations per epoch), ``hyper_lr=0.005`` (Adam steps every parameter by about ``hyper_lr``
    per hyper-step whatever the hypergradient's size, so larger steps let a noisy hypergradient
    drift the loss away from its LA start), and, when the validation split is carved from the
    training data, ``objective_exclude`` = the classes with a single sample (that sample is in
    both splits, so its validation loss is that of a memorised sample).
    The model stays on its device; data are moved per batch. Deterministic for a given ``seed``.
    ``verbose`` prints each epoch's loss; ``progress`` shows a bar over the epochs (tqdm).
    """
    check_choice(mode, ("continue", "retrain"), "mode")
    epochs = check_int(epochs, "epochs", min=1)
    batch_size = check_int(batch_size, "batch_size", min=1)
    lr = check_float(lr, "lr", min=0.0, min_open=True)
    weight_decay = check_float(weight_decay, "weight_decay", min=0.0)
    val_fraction = check_float(val_fraction, "val_fraction", min=0.0, max=1.0, min_open=True, max_open=True)
    warm_start = check_float(
        warm_start, "warm_start", min=0.0, max=1.0, max_open=True, hint="a fraction of the epochs in [0, 1)"
    )
    X_train = check_features(X_train, "X_train")
    y_train = torch.as_tensor(y_train)
    if y_train.dim() >= 1 and X_train.shape[0] != y_train.shape[0]:
        raise ValueError(f"X_train has {X_train.shape[0]} samples but y_train has {y_train.shape[0]}")
    y_train = check_class_labels(y_train, "y_train", X_train.shape[0])
    if num_classes is None:
        num_classes = int(y_train.max()) + 1
    num_classes = check_num_classes(num_classes)
    y_train = check_class_labels(y_train, "y_train", num_classes=num_classes)
    num_groups = autobalance_kwargs.get("num_groups")
    groups = check_group_labels(groups, y_train.shape[0], num_groups, "groups")
    if (X_val is None) != (y_val is None):
        raise ValueError("pass both X_val and y_val, or neither (then a stratified split is made)")
    if X_val is None:
        train_idx, val_idx = split_with_singletons(y_train, val_fraction, seed)
        if val_groups is not None:
            raise ValueError("val_groups without X_val: pass groups for the whole training data instead")
        ti, vi = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
        X_tr, y_tr, X_va, y_va = X_train[ti], y_train[ti], X_train[vi], y_train[vi]
        g_tr = None if groups is None else groups[ti]
        g_va = None if groups is None else groups[vi]
    else:
        train_idx, val_idx = np.arange(y_train.shape[0]), np.array([], dtype=np.int64)
        X_tr, y_tr, g_tr = X_train, y_train, groups
        X_va = check_features(X_val, "X_val")
        y_va = check_class_labels(y_val, "y_val", X_va.shape[0], num_classes)
        g_va = check_group_labels(val_groups, y_va.shape[0], num_groups, "val_groups")
    check_val_classes(y_va, num_classes)
    counts = torch.bincount(y_tr, minlength=num_classes)

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    init_state = copy.deepcopy(model.state_dict()) if mode == "retrain" else None
    torch.manual_seed(seed)
    opt = _make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    kwargs = dict(autobalance_kwargs)
    kwargs.setdefault("class_counts", counts)
    kwargs.setdefault("warm_start_epochs", int(round(warm_start * epochs)))
    kwargs.setdefault("seed", seed)
    kwargs.setdefault("la_tau", None if kwargs.get("share_slots") else 1.0)  # the paper's "LA init" variant
    kwargs.setdefault("hyper_params", "last")  # IFT over the classifier head: keeps the cost near 1x
    # Adam moves every parameter by ~hyper_lr per hyper-step whatever the hypergradient's size,
    # so a noisy hypergradient drifts the loss away from its LA start: small steps (BENCHMARKS.md)
    kwargs.setdefault("hyper_lr", 0.005)
    if X_val is None and "objective_exclude" not in kwargs:  # memorised singletons say nothing honest
        kwargs["objective_exclude"] = (
            torch.nonzero(torch.bincount(y_train, minlength=num_classes) == 1).flatten().tolist()
        )
    # at least one hyper-step per epoch on small data (the paper's 20 iterations otherwise)
    kwargs.setdefault("hyper_every", max(1, min(20, y_tr.shape[0] // batch_size)))
    val_data = (X_va, y_va) if g_va is None else (X_va, y_va, g_va)
    tuner = AutoBalance(model, num_classes, val_data=val_data, optimizer=opt, **kwargs)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []

    def run_epochs(step_fn, X, y, g, optim) -> None:
        n = y.shape[0]
        phase = "AutoBalance search" if step_fn == tuner.step else "AutoBalance retrain"
        for epoch in progress_iter(range(epochs), progress, phase, epochs):
            for group in optim.param_groups:
                group["lr"] = _lr_at(schedule, lr, epoch, epochs)
            model.train()
            perm = torch.randperm(n, generator=gen)
            total = torch.zeros((), device=device)
            for s in range(0, n, batch_size):
                idx = perm[s : s + batch_size]
                if idx.numel() < 2 < n:
                    continue  # a batch of one breaks BatchNorm: skip the remainder (as acwa.bench does)
                xb, yb = X[idx].to(device), y[idx].to(device)
                gb = None if g is None else g[idx].to(device)
                total = total + step_fn(xb, yb, gb)
            losses.append(float(total) / math.ceil(n / batch_size))  # one sync per epoch
            if verbose:
                print(f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.4f}")
            if step_fn == tuner.step:
                tuner.end_epoch()

    run_epochs(tuner.step, X_tr, y_tr, g_tr, opt)
    tuner.score_current()  # the last parameters compete for keep_best too
    if mode == "retrain":
        assert init_state is not None
        model.load_state_dict(init_state)
        loss_fn, aug = tuner.frozen_loss(), tuner.frozen_augment()
        opt2 = _make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
        aug_gen = torch.Generator(device=device).manual_seed(seed + 2) if aug is not None else None

        def retrain_step(xb: Tensor, yb: Tensor, gb: Tensor | None) -> Tensor:
            opt2.zero_grad(set_to_none=True)
            loss = train_objective(model, loss_fn, xb, yb, gb, aug, aug_gen)
            loss.backward()
            opt2.step()
            return loss.detach()

        if X_val is None:  # the whole training data, each sample once (singletons are in both splits)
            X_all, y_all, g_all = X_train, y_train, groups
        else:
            X_all = torch.cat([X_tr, X_va])
            y_all = torch.cat([y_tr, y_va])
            g_all = None if g_tr is None or g_va is None else torch.cat([g_tr, g_va])
        run_epochs(retrain_step, X_all, y_all, g_all, opt2)
    return AutoBalanceResult(model, tuner, train_idx, val_idx, losses, mode)
