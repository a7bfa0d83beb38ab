"""The shared training recipe and the context every benchmark method trains through.

A method (see :mod:`acwa.bench.registry`) receives a :class:`RunContext` and calls
:meth:`RunContext.fit` with its loss (and optionally a sampler, resampled data, a validation
split, per-step / per-epoch hooks). ``fit`` runs the one loop of the run: the same model,
optimizer, epochs, batch size and seed for every method, so differences come from the method.

Determinism: the model is initialised right after ``torch.manual_seed(seed)``; mini-batch
order comes from a ``torch.Generator`` seeded with ``seed``; so, with the same number of CPU
threads, the same seed gives the same numbers.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from acwa.bench.models import Classifier, build_model
from acwa.data import BenchDataset
from acwa.metrics import stat_scores
from acwa.splits import stratified_split
from acwa.weights import label_neg_pos_counts
from acwa.weights._class_weights import class_counts as count_classes

__all__ = [
    "Recipe",
    "default_recipe",
    "RunContext",
    "Fit",
    "Trace",
    "acwa_traces",
    "predict_logits",
    "two_class_logits",
    "mixup",
]


@dataclass
class Recipe:
    """One training recipe shared by all methods of a run."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adam"  # 'adam' | 'sgd' (momentum 0.9)
    schedule: str = "cosine"  # 'cosine' (per epoch, to 0) | 'constant'
    eval_batch_size: int = 1024

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# Per-dataset defaults: chosen so that the default run stays fast on 2 CPU cores.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits-lt": dict(epochs=25, batch_size=32),
    "fashion-mnist-lt": dict(epochs=8, batch_size=128, lr=2e-3),
    "ecg5000": dict(epochs=40, batch_size=32),
    "rotten-tomatoes": dict(epochs=15, batch_size=128),
    "credit-card-fraud": dict(epochs=5, batch_size=512),  # 199k training rows
}
_MODALITY_DEFAULTS: dict[str, dict[str, Any]] = {
    "image": dict(epochs=30, batch_size=64),
    "series": dict(epochs=40, batch_size=32),
    "tabular": dict(epochs=40, batch_size=64),
    "embedding": dict(epochs=20, batch_size=128),
}


def default_recipe(dataset: BenchDataset, **overrides: Any) -> Recipe:
    """The recipe for ``dataset`` (by name, else by modality), with ``overrides`` applied
    (``None`` values are ignored)."""
    kw: dict[str, Any] = dict(_DEFAULTS.get(dataset.name) or _MODALITY_DEFAULTS[dataset.modality])
    kw.update({k: v for k, v in overrides.items() if v is not None})
    recipe = Recipe(**kw)
    if isinstance(recipe.epochs, bool) or not isinstance(recipe.epochs, int) or recipe.epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {recipe.epochs!r}")
    if isinstance(recipe.batch_size, bool) or not isinstance(recipe.batch_size, int) or recipe.batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {recipe.batch_size!r}")
    if recipe.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {recipe.optimizer!r}")
    return recipe


@dataclass
class Trace:
    """What an adaptive method adapted, for the report: ``values[t]`` (one value per class, or
    per parameter) after update ``x[t]``; ``x_label`` names the axis (e.g. ``'update number
    (every 100 batches)'``, ``'epoch'``)."""

    name: str
    values: list[list[float]]
    x: list[float]
    x_label: str
    series_labels: list[str] | None = None  # default: the class names

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Fit:
    """What a method returns: the trained model, how to turn its test logits into
    predictions (``posthoc``, e.g. post-hoc logit adjustment), and what happened in training."""

    model: nn.Module
    train_seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    posthoc: Callable[[Tensor], Tensor] | None = None
    weight_history: np.ndarray | None = None  # [T, C] class weights (ACWA-style methods)
    weight_history_steps: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    train_cpu_seconds: float | None = None  # CPU time of the training (robust on a shared CPU)
    adapted: list[Trace] = field(default_factory=list)  # what an adaptive method adapted
    trainings: int | None = None  # full-model trainings behind this fit (None: the method's declared count)

    def with_posthoc(self, fn: Callable[[Tensor], Tensor]) -> Fit:
        return Fit(
            self.model,
            self.train_seconds,
            self.history,
            fn,
            self.weight_history,
            self.weight_history_steps,
            dict(self.extra),
            self.train_cpu_seconds,
            list(self.adapted),
            self.trainings,
        )


LossFn = Callable[[Tensor, Tensor], Tensor]


def acwa_traces(trainer: Any) -> list[Trace]:
    """The class weights (and, when ``adjust`` moves them, the logit offsets) of an
    :class:`acwa.ACWATrainer` after each update, against the update number."""
    freq = getattr(trainer, "update_freq", None)
    axis = f"update number (every {freq} training batches)" if freq else "update number (validation updates)"
    weights = trainer.weight_history.detach().cpu().double()
    traces = [Trace("class weights", weights.tolist(), list(range(len(weights))), axis)]
    if getattr(trainer, "adjust", "weights") in ("logits", "both"):
        offsets = trainer.offset_history.detach().cpu().double()
        traces.append(Trace("logit offsets", offsets.tolist(), list(range(len(offsets))), axis))
    return traces


def two_class_logits(logits: Tensor) -> Tensor:
    """``[N, 2]`` logits ``[0, z]`` of a one-logit binary model's ``[N, 1]`` (or ``[N]``) logits
    ``z``: softmax gives ``(1 - sigmoid(z), sigmoid(z))`` and argmax predicts 1 iff ``z > 0``, so a
    one-logit model is scored exactly like a two-logit one. Other shapes pass through."""
    if logits.dim() == 1:
        logits = logits.unsqueeze(1)
    if logits.dim() != 2 or logits.shape[1] != 1:
        return logits
    return torch.cat([torch.zeros_like(logits), logits], dim=1)


def _multilabel_counts(logits: Tensor, y: Tensor) -> Tensor:
    """``[3, L]`` tp / fp / fn of the decisions ``z > 0`` against multi-hot ``y``."""
    pred, target = logits > 0, y > 0.5
    return torch.stack([(pred & target).sum(0), (pred & ~target).sum(0), (~pred & target).sum(0)])


def mixup(num_classes: int, alpha: float = 0.2, seed: int = 0) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """mixup (Zhang et al., ICLR 2018) as a :meth:`RunContext.fit` ``batch_transform``: each
    batch becomes ``lam x + (1 - lam) x[perm]`` with the soft targets
    ``lam onehot(y) + (1 - lam) onehot(y[perm])`` (rows sum to 1), one ``lam ~ Beta(alpha,
    alpha)`` per batch as timm's ``Mixup``; ``lam`` and ``perm`` come from a generator seeded
    with ``seed``."""
    rng = np.random.default_rng(seed)

    def transform(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        lam = float(rng.beta(alpha, alpha))
        perm = torch.from_numpy(rng.permutation(len(y)))
        onehot = torch.nn.functional.one_hot(y.long(), num_classes).to(torch.float32)
        return lam * x + (1 - lam) * x[perm], lam * onehot + (1 - lam) * onehot[perm]

    return transform


@torch.no_grad()
def predict_logits(model: nn.Module, X: Tensor, batch_size: int = 1024) -> Tensor:
    """The model's logits for ``X`` in eval mode (its train/eval mode is restored)."""
    was = model.training
    model.eval()
    out = torch.cat([model(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])
    model.train(was)
    return out


class RunContext:
    """Everything one (method, seed) run may use. Only the training split is here: the test
    split stays with the runner, so no method can see it.

    Attributes:
        dataset_name, modality, num_classes, class_names, seed, recipe.
        X, y: training tensors (features standardised on this split for tabular/embeddings).
        counts: training samples per class, int64 ``[C]`` (:func:`acwa.weights.class_counts`).
    """

    def __init__(
        self,
        dataset: BenchDataset,
        X: Tensor,
        y: Tensor,
        recipe: Recipe,
        seed: int,
        cache: dict[Any, Fit] | None = None,
    ) -> None:
        self.dataset_name = dataset.name
        self.modality = dataset.modality
        self.input_shape = tuple(X.shape[1:])
        self.num_classes = dataset.num_classes
        self.class_names = list(dataset.class_names)
        self.X, self.y = X, y
        self.recipe = recipe
        self.seed = seed
        self.task = dataset.task
        # multiclass: samples per class [C]; multi-label: [n_neg, n_pos] per label, [2, L]
        self.counts = label_neg_pos_counts(y, self.num_classes) if y.dim() == 2 else count_classes(y, self.num_classes)
        self._cache = cache if cache is not None else {}

    # ------------------------------------------------------------------ building blocks
    def build_model(self, cosine_head: bool = False, outputs: int | None = None) -> Classifier:
        """The run's model, initialised from ``seed`` (``cosine_head``: LDAM's NormedLinear), with
        ``outputs`` logits (default one per class; ``1`` for a one-logit binary model)."""
        torch.manual_seed(self.seed)
        n_out = self.num_classes if outputs is None else outputs
        model = build_model(self.modality, self.input_shape, n_out)
        if cosine_head:
            from acwa.losses import NormedLinear

            model.head = NormedLinear(model.features_dim, n_out)
        return model

    def validation_split(self, fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
        """Stratified ``(train_idx, val_idx)`` into the training split (never the test split),
        following the imbalance with >= 1 validation sample per class
        (:func:`acwa.splits.stratified_split`). A class with a single training sample cannot be
        split: that sample goes to both parts (documented overlap, tail classes only)."""
        y = self.y.numpy()
        if y.ndim == 2:  # multi-label: a seeded random split
            perm = np.random.default_rng(self.seed).permutation(len(y))
            n_val = max(1, int(round(fraction * len(y))))
            return np.sort(perm[n_val:]), np.sort(perm[:n_val])
        counts = np.bincount(y, minlength=self.num_classes)
        single = np.isin(y, np.flatnonzero(counts == 1))
        if not single.any():
            return stratified_split(y, val_fraction=fraction, min_per_class=1, seed=self.seed)
        multi = np.flatnonzero(~single)
        if multi.size == 0:
            both = np.arange(len(y))
            return both, both.copy()
        tr, va = stratified_split(y[multi], val_fraction=fraction, min_per_class=1, seed=self.seed)
        shared = np.flatnonzero(single)
        return np.sort(np.concatenate([multi[tr], shared])), np.sort(np.concatenate([multi[va], shared]))

    def derive(self, **changes: Any) -> RunContext:
        """A copy of this context with some attributes changed (e.g. ``modality``, ``input_shape``,
        ``X``, ``y``) and its own empty model cache: for a method that trains a second model on
        other inputs (SMOTE in feature space trains a head on embeddings)."""
        unknown = set(changes) - set(vars(self))
        if unknown:
            raise ValueError(f"derive() got unknown attribute(s) {sorted(unknown)}; valid: {sorted(vars(self))}")
        other = copy.copy(self)
        vars(other).update(changes)
        other._cache = {}
        return other

    def batches(
        self, X: Tensor | None = None, y: Tensor | None = None, batch_size: int | None = None
    ) -> list[tuple[Tensor, Tensor]]:
        """Fixed-order ``(inputs, labels)`` batches, e.g. a validation loader for
        ``ACWATrainer.update_from_validation``."""
        X = self.X if X is None else X
        y = self.y if y is None else y
        bs = batch_size or self.recipe.eval_batch_size
        return [(X[i : i + bs], y[i : i + bs]) for i in range(0, len(y), bs)]

    def make_optimizer(self, params: Iterable[Tensor]) -> torch.optim.Optimizer:
        r = self.recipe
        if r.optimizer == "sgd":
            return torch.optim.SGD(params, lr=r.lr, momentum=0.9, weight_decay=r.weight_decay)
        return torch.optim.Adam(params, lr=r.lr, weight_decay=r.weight_decay)

    # ------------------------------------------------------------------ the loop
    def fit(
        self,
        loss_fn: LossFn | None = None,
        *,
        X: Tensor | None = None,
        y: Tensor | None = None,
        indices: Sequence[int] | np.ndarray | Tensor | None = None,
        sampler: Iterable[int] | None = None,
        model: nn.Module | None = None,
        acwa: Any = None,
        after_step: Callable[[Tensor, Tensor], Any] | None = None,
        on_epoch_start: Callable[[int, nn.Module], Any] | None = None,
        on_epoch_end: Callable[[int, nn.Module], Any] | None = None,
        extra_params: Sequence[Tensor] = (),
        cache_key: Any = None,
        batch_transform: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None,
    ) -> Fit:
        """Train the run's model with the shared recipe and return a :class:`Fit`.

        Args:
            loss_fn: ``(logits, labels) -> scalar``; default cross-entropy, or
                ``acwa.get_weighted_loss`` when ``acwa`` is given.
            X, y: training data to use instead of the context's (resampled data); or
            indices: a subset of the context's training data (e.g. after a validation split).
            sampler: an index sampler over the training data (one pass = one epoch), e.g.
                :class:`acwa.sampling.ClassBalancedSampler`; default: a seeded shuffle.
            model: a model to train (default :meth:`build_model`).
            acwa: an :class:`acwa.ACWATrainer`; its weighted loss is used and, when it has an
                ``update_freq``, ``acwa.update_metrics(outputs, labels)`` runs after every step
                (the README loop). Its ``weight_history`` goes into the report.
            after_step: ``(logits, labels)`` hook after each optimizer step.
            on_epoch_start / on_epoch_end: ``(epoch, model)`` hooks (0-based epochs).
            extra_params: further tensors to optimise with the model (e.g. loss parameters).
            cache_key: runs of the same seed with the same key share one training
                (``la-posthoc`` reuses ``ce``'s model).
            batch_transform: ``(inputs, labels) -> (inputs, targets)`` applied to each training
                batch before the forward pass, e.g. :func:`mixup` (soft-target rows); the
                loss and ``after_step`` see the targets, the epoch's training counts the labels.
        """
        key = (cache_key, self.seed) if cache_key is not None else None
        if key is not None and key in self._cache:
            return self._cache[key]
        X = self.X if X is None else X
        y = self.y if y is None else y
        if indices is not None:
            idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
            X, y = X[idx], y[idx]
        if model is None:
            model = self.build_model()
        multilabel = y.dim() == 2
        if multilabel:
            y = y.float()  # multi-hot targets of the sigmoid losses
        if loss_fn is None:
            default: LossFn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
            loss_fn = acwa.get_weighted_loss if acwa is not None else default
        if acwa is not None and after_step is None and getattr(acwa, "update_freq", None):
            after_step = acwa.update_metrics
        params = list(model.parameters()) + [p for p in extra_params]
        opt = self.make_optimizer(params)
        r = self.recipe
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs) if r.schedule == "cosine" else None
        gen = torch.Generator().manual_seed(self.seed)
        C = self.num_classes
        history: dict[str, list[float]] = {"train_loss": [], "train_balanced_accuracy": []}
        t0, cpu0 = time.perf_counter(), time.process_time()
        for epoch in range(r.epochs):
            if on_epoch_start is not None:
                on_epoch_start(epoch, model)
            model.train()
            if sampler is not None:
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(epoch)
                order = torch.as_tensor(list(iter(sampler)), dtype=torch.long)
            else:
                order = torch.randperm(len(y), generator=gen)
            loss_sum = torch.zeros((), dtype=torch.float64)
            counts = torch.zeros(3, C, dtype=torch.long)
            n_batches = 0
            for start in range(0, len(order), r.batch_size):
                bidx = order[start : start + r.batch_size]
                if len(bidx) < 2 and len(order) > 1:
                    continue  # a batch of one breaks BatchNorm; skip the remainder
                xb, yb = X[bidx], y[bidx]
                xb, targets = batch_transform(xb, yb) if batch_transform is not None else (xb, yb)
                logits = model(xb)
                loss = loss_fn(logits, targets)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if after_step is not None:
                    after_step(logits.detach(), targets)
                loss_sum += loss.detach().double()
                scored = logits.detach()
                counts += _multilabel_counts(scored, yb) if multilabel else stat_scores(two_class_logits(scored), yb, C)
                n_batches += 1
            if sched is not None:
                sched.step()
            tp, fn = counts[0].double(), counts[2].double()
            support = tp + fn
            recall = tp[support > 0] / support[support > 0]
            history["train_loss"].append(float(loss_sum / max(n_batches, 1)))
            history["train_balanced_accuracy"].append(float(recall.mean()) if recall.numel() else float("nan"))
            if on_epoch_end is not None:
                on_epoch_end(epoch, model)
        seconds = time.perf_counter() - t0
        fit = Fit(model, seconds, history, train_cpu_seconds=time.process_time() - cpu0)
        if acwa is not None:
            fit.weight_history = np.asarray(acwa.weight_history.detach().cpu().numpy())
            fit.weight_history_steps = np.asarray(acwa.weight_history_steps.detach().cpu().numpy())
            fit.adapted = acwa_traces(acwa)
        if key is not None:
            self._cache[key] = fit
        return fit
