"""Declared state of AutoBalance and the samplers: round trip, validated and atomic loads,
config validation through the shared vocabulary, keep_best."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from acwa.autobalance import AutoBalance, AutoBalanceConfig
from acwa.sampling import ClassBalancedSampler, DistributedClassBalancedSampler, ProgressiveQ

torch.set_num_threads(1)


def _blobs(n=(30, 10, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(len(n), 4, generator=g) * 2
    X = torch.cat([means[c] + torch.randn(k, 4, generator=g) for c, k in enumerate(n)])
    y = torch.cat([torch.full((k,), c) for c, k in enumerate(n)])
    return X, y


def _tuner(**kw):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    X, y = _blobs()
    Xv, yv = _blobs((6, 3, 2), seed=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ab = AutoBalance(model, 3, val_data=(Xv, yv), optimizer=opt, class_counts=torch.bincount(y), la_tau=1.0, **kw)
    return ab, X, y


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def test_autobalance_state_round_trip_and_atomic_load():
    ab, X, y = _tuner(hyper_every=2)
    for i in range(5):
        ab.step(X[i::5], y[i::5])
    state = copy.deepcopy(ab.state_dict())
    assert {"iteration", "epoch", "hyper_steps", "best_val_loss", "best_hparams", "loss", "buffer"} <= set(state)
    assert state["hyper_steps"] == 2 and len(state["best_hparams"]) == len(ab.hparams)
    fresh, _, _ = _tuner(hyper_every=2)
    fresh.load_state_dict(state)
    assert _equal(fresh.state_dict(), state)
    # corruptions: each raises ValueError naming the key and leaves the tuner untouched
    corruptions = {
        "iteration": -1,
        "hyper_steps": 1.5,
        "loss": {"iota": torch.zeros(3)},
        "generator": torch.zeros(3),
        "buffer": [(torch.full((2, 4), float("nan")), torch.zeros(2, dtype=torch.long), None)],
        "best_hparams": [torch.zeros(7)],
    }
    for key, bad in corruptions.items():
        target, _, _ = _tuner(hyper_every=2)
        before = copy.deepcopy(target.state_dict())
        broken = dict(state, **{key: bad})
        with pytest.raises(ValueError, match=key):
            target.load_state_dict(broken)
        assert _equal(target.state_dict(), before), key
    nan_loss = copy.deepcopy(state)
    nan_loss["loss"]["iota"] = torch.full_like(nan_loss["loss"]["iota"], float("nan"))
    with pytest.raises(ValueError, match="finite"):
        fresh.load_state_dict(nan_loss)
    with pytest.raises(ValueError, match="missing"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "hyper_optimizer"})


def test_old_checkpoint_without_best_keys_loads():
    ab, X, y = _tuner(hyper_every=2)
    for i in range(4):
        ab.step(X[i::4], y[i::4])
    state = {k: v for k, v in ab.state_dict().items() if k not in ("best_val_loss", "best_hparams")}
    fresh, _, _ = _tuner(hyper_every=2)
    fresh.load_state_dict(state)
    assert fresh.iteration == 4 and fresh.hyper_steps == 2


def test_config_validates_through_the_shared_vocabulary():
    ab, _, _ = _tuner(hyper_every=np.int64(3), hyper_lr=np.float32(0.05))
    assert ab.config.hyper_every == 3 and isinstance(ab.config.hyper_every, int)
    for bad, match in (
        ({"hyper_lr": float("nan")}, "hyper_lr"),
        ({"hyper_lr": True}, "hyper_lr"),
        ({"damping": -1.0}, "damping"),
        ({"max_hyper_grad_norm": float("inf")}, "max_hyper_grad_norm"),
        ({"weight_bounds": (2.0, 1.0)}, "weight_bounds"),
        ({"neumann_step": 0.0}, "neumann_step"),
        ({"solver": "lbfgs"}, "solver"),
        ({"hyper_optimizer": "rmsprop"}, "hyper_optimizer"),
        ({"warm_start_epochs": float("nan")}, "warm_start_epochs"),
        ({"hyper_lrr": 0.1}, "unknown AutoBalance option"),
    ):
        with pytest.raises(ValueError, match=match):
            _tuner(**bad)
    with pytest.raises(ValueError, match="either config= or keyword"):
        _tuner(config=AutoBalanceConfig(), hyper_every=3)


def test_float_and_nan_inputs_are_rejected():
    X, y = _blobs()
    model = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="y_val must hold integer class ids"):
        AutoBalance(model, 3, val_data=(X, y.float()))
    Xn = X.clone()
    Xn[3, 1] = float("nan")
    with pytest.raises(ValueError, match="X_val contains NaN or Inf"):
        AutoBalance(model, 3, val_data=(Xn, y))
    from acwa.autobalance import fit

    with pytest.raises(ValueError, match="X_train contains NaN"):
        fit(nn.Linear(4, 3), Xn, y, epochs=1)
    with pytest.raises(ValueError, match="y_train must hold integer"):
        fit(nn.Linear(4, 3), X, y.float() + 0.5, epochs=1)


def test_keep_best_returns_the_lowest_objective_parameters():
    ab, X, y = _tuner(hyper_every=1, hyper_lr=0.5)
    start = [p.detach().clone() for p in ab.hparams]
    for i in range(6):
        ab.step(X[i::6], y[i::6])
    assert ab.hyper_steps == 6
    losses = [float(h["val_loss"]) for h in ab.history]
    assert ab.best_val_loss == pytest.approx(min(losses))
    best_step = int(np.argmin(losses))
    # history[k] holds the parameters *after* step k; the loss of step k scored those before it
    expected = start if best_step == 0 else None
    frozen = ab.frozen_loss()
    if expected is not None:
        for p, e in zip([p for p in frozen.parameters()], expected):
            assert torch.equal(p, e)
    tuned = [p for p in frozen.parameters()]
    assert all(not p.requires_grad for p in tuned)
    for p, b in zip(tuned, ab.best_hparams):
        assert torch.equal(p, b)
    last = ab.frozen_loss(best=False)
    for p, q in zip(last.parameters(), ab.hparams):
        assert torch.equal(p, q.detach())
    off, X, y = _tuner(hyper_every=1, keep_best=False)
    off.step(X, y)
    assert off.best_hparams == []


def _sampler_state_checks(sampler):
    sampler.set_class_weights(torch.tensor([1.0, 2.0, 0.5]))
    list(iter(sampler))
    state = copy.deepcopy(sampler.state_dict())
    assert set(state) == {"epoch", "seed", "q", "num_samples", "replacement", "class_weights", "class_counts"}
    other = type(sampler)([0] * 30 + [1] * 10 + [2] * 5, seed=5)
    other.load_state_dict(state)
    assert _equal(other.state_dict(), state)
    assert torch.equal(other.sample_indices(), sampler.sample_indices())
    for key, bad in (
        ("epoch", -3),
        ("class_weights", torch.tensor([1.0, float("nan"), 1.0])),
        ("num_samples", 0),
        ("seed", "x"),
    ):
        target = type(sampler)([0] * 30 + [1] * 10 + [2] * 5, seed=5)
        before = copy.deepcopy(target.state_dict())
        with pytest.raises(ValueError, match=key if key != "class_weights" else "class weights"):
            target.load_state_dict(dict(state, **{key: bad}))
        assert _equal(target.state_dict(), before), key
    with pytest.raises(ValueError, match="different labels"):
        type(sampler)([0] * 3 + [1] * 3 + [2] * 3).load_state_dict(state)


def test_sampler_state_is_declared_validated_and_atomic():
    labels = [0] * 30 + [1] * 10 + [2] * 5
    _sampler_state_checks(ClassBalancedSampler(labels, q=ProgressiveQ(0.0, 1.0, 4), seed=1))
    _sampler_state_checks(DistributedClassBalancedSampler(labels, num_replicas=2, rank=1, seed=1))
    s = ClassBalancedSampler(labels, num_samples=np.int64(12), seed=np.int32(2))
    assert s.num_samples == 12 and s.seed == 2
    s.epoch = 4
    s.reset("epoch")
    assert s.epoch == 0
    for kw, match in (
        ({"num_samples": 0}, "num_samples"),
        ({"seed": 1.5}, "seed"),
        ({"replacement": 1}, "replacement"),
    ):
        with pytest.raises(ValueError, match=match):
            ClassBalancedSampler(labels, **kw)


def test_objective_exclude_drops_classes_without_honest_validation_samples():
    X, y = _blobs()
    Xv, yv = _blobs((6, 3, 2), seed=1)
    keep = yv != 2
    model = nn.Linear(4, 3)
    ab = AutoBalance(model, 3, val_data=(Xv[keep], yv[keep]), objective_exclude=[2])
    assert ab.val_class_counts.tolist() == [6, 3, 0]
    ab2 = AutoBalance(model, 3, val_data=(Xv, yv), objective_exclude=[np.int64(2)])
    _, yd, _ = ab2.draw_validation(torch.device("cpu"))
    assert ab2.val_class_counts.tolist() == [6, 3, 0] and not bool((yd == 2).any())
    with pytest.raises(ValueError, match=r"no sample of class\(es\) \[1\]"):
        AutoBalance(model, 3, val_data=(Xv[yv != 1], yv[yv != 1]), objective_exclude=[2])
    with pytest.raises(ValueError, match="fewer than two classes"):
        AutoBalance(model, 3, val_data=(Xv, yv), objective_exclude=[1, 2])


def test_fit_follows_the_paper_protocol_and_never_keeps_worse_than_the_start():
    from acwa.autobalance import fit

    X, y = _blobs((40, 12, 1))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.warns(RuntimeWarning, match="one training sample"):
        res = fit(model, X, y, epochs=4, batch_size=8, warm_start=0.25)
    ab = res.tuner
    assert res.mode == "retrain" and len(res.epoch_losses) == 8  # search + retrain on all data
    assert ab.config.objective_exclude == [2] and ab.config.hyper_lr == 0.005
    first = float(ab.history[0]["val_loss"])  # scored the LA start
    assert ab.best_val_loss <= first
    assert ab.best_val_loss == pytest.approx(min([float(h["val_loss"]) for h in ab.history] + [ab.best_val_loss]))
