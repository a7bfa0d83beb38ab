"""AutoBalance: hypergradient vs finite differences, tuner protocol, resume, groups, bad input."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from acwa.autobalance import (
    AutoBalance,
    ClassAugment,
    balanced_objective,
    blend,
    deo_objective,
    fit,
    frequency_rank_groups,
    implicit_hypergradient,
    inverse_hvp,
    make_objective,
    worst_class_objective,
    worst_group_objective,
)
from acwa.losses import ParametricCrossEntropyLoss

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- helpers
def imbalanced_blobs(n_per_class=(60, 20, 8), d=4, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    C = len(n_per_class)
    means = torch.randn(C, d, generator=g, dtype=torch.float64) * 1.5
    xs, ys = [], []
    for c, n in enumerate(n_per_class):
        xs.append(means[c] + torch.randn(n, d, generator=g, dtype=torch.float64))
        ys.append(torch.full((n,), c, dtype=torch.long))
    return torch.cat(xs).to(dtype), torch.cat(ys)


def small_mlp(d=4, C=3, bn=False, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Linear(d, 16)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.ReLU(), nn.Linear(16, C)]
    return nn.Sequential(*layers)


def make_batches(X, y, bs, seed, epochs):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        out.append([(X[perm[i : i + bs]], y[perm[i : i + bs]]) for i in range(0, len(y) - bs + 1, bs)])
    return out


# ----------------------------------------------------------------------------- hypergradient
MU = 0.1  # L2 strength of the lower problem (strong convexity)


def _solve_inner(model, loss_fn, X, y, init=None):
    """argmin_theta loss_fn(model(X), y) + MU/2 ||theta||^2 to machine precision: Newton's method
    on the flattened parameters (float64, strongly convex, a dozen parameters)."""
    from torch.func import functional_call

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat(
        [
            (q if init is not None else p).detach().reshape(-1)
            for p, q in zip(model.parameters(), init or model.parameters())
        ]
    )

    def objective(v):
        parts, k = {}, 0
        for n, s in zip(names, shapes):
            parts[n] = v[k : k + s.numel()].view(s)
            k += s.numel()
        return loss_fn(functional_call(model, parts, (X,)), y) + 0.5 * MU * (v**2).sum()

    for _ in range(30):
        g = torch.autograd.functional.jacobian(objective, flat)
        if float(g.abs().max()) < 1e-13:
            break
        H = torch.autograd.functional.hessian(objective, flat)
        flat = flat - torch.linalg.solve(H, g)
    assert float(torch.autograd.functional.jacobian(objective, flat).abs().max()) < 1e-11
    with torch.no_grad():
        k = 0
        for p in model.parameters():
            p.copy_(flat[k : k + p.numel()].view(p.shape))
            k += p.numel()


def _logreg_problem():
    X, y = imbalanced_blobs((30, 12, 6), d=3, seed=1, dtype=torch.float64)
    Xv, yv = imbalanced_blobs((10, 5, 3), d=3, seed=2, dtype=torch.float64)
    torch.manual_seed(0)
    model = nn.Linear(3, 3).double()
    loss = ParametricCrossEntropyLoss(
        3, delta=[1.2, 0.8, 1.0], iota=[0.3, -0.1, -0.2], weight=[1.0, 1.5, 2.0], learn=("delta", "iota", "weight")
    ).double()
    return X, y, Xv, yv, model, loss


def test_hypergradient_matches_finite_differences_on_l2_logistic_regression():
    X, y, Xv, yv, model, loss = _logreg_problem()
    counts = torch.bincount(yv)
    objective = make_objective("balanced", 3, class_counts=counts)
    _solve_inner(model, loss, X, y)
    theta_star = [p.detach().clone() for p in model.parameters()]
    params, hparams = list(model.parameters()), list(loss.parameters())
    hyper, info = implicit_hypergradient(
        lambda: loss(model(X), y),
        lambda: objective(model(Xv), yv),
        params,
        hparams,
        solver="cg",
        terms=100,
        damping=MU,
    )
    assert info["solver_terms"] > 0
    eps = 1e-5
    for h, g in zip(hparams, hyper):
        fd = torch.zeros_like(h)
        for k in range(h.numel()):
            vals = []
            for sign in (1.0, -1.0):
                with torch.no_grad():
                    h.view(-1)[k] += sign * eps
                _solve_inner(model, loss, X, y, init=theta_star)
                with torch.no_grad():
                    vals.append(float(objective(model(Xv), yv)))
                with torch.no_grad():
                    h.view(-1)[k] -= sign * eps
            fd.view(-1)[k] = (vals[0] - vals[1]) / (2 * eps)
        torch.testing.assert_close(g, fd, rtol=1e-4, atol=1e-7)
    assert max(float(g.abs().max()) for g in hyper) > 1e-3  # a non-trivial hypergradient
    # the regulariser inside the training loss with damping=0 gives the same answer
    reg = lambda: loss(model(X), y) + 0.5 * MU * sum((p**2).sum() for p in model.parameters())  # noqa: E731
    with torch.no_grad():
        for p, q in zip(model.parameters(), theta_star):
            p.copy_(q)
    hyper2, _ = implicit_hypergradient(reg, lambda: objective(model(Xv), yv), params, hparams, solver="cg", terms=100)
    for a, b in zip(hyper, hyper2):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    # a damped Neumann series with a safe step and many terms converges to the same vector
    hyper3, info3 = implicit_hypergradient(
        lambda: loss(model(X), y),
        lambda: objective(model(Xv), yv),
        params,
        hparams,
        solver="neumann",
        terms=3000,
        step=0.5,
        damping=MU,
    )
    assert info3["solver_terms"] == 3000
    for a, b in zip(hyper, hyper3):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6)


def _quadratic(A):
    theta = torch.zeros(A.shape[0], dtype=torch.float64, requires_grad=True)
    loss = 0.5 * theta @ A @ theta
    (g,) = torch.autograd.grad(loss, [theta], create_graph=True)
    return theta, g


def test_inverse_hvp_neumann_cg_identity_on_a_quadratic():
    A = torch.diag(torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64))
    b = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    theta, g = _quadratic(A)
    exact = torch.linalg.solve(A + 0.1 * torch.eye(3, dtype=torch.float64), b)
    (v,), used = inverse_hvp([g], [theta], [b], "cg", terms=3, damping=0.1)
    torch.testing.assert_close(v, exact)
    assert used == 3
    (v,), _ = inverse_hvp([g], [theta], [b], "neumann", terms=400, step=0.3, damping=0.1)
    torch.testing.assert_close(v, exact, rtol=1e-6, atol=1e-8)
    # 5 terms: the truncated series alpha * sum_{j<=5} (I - alpha(A + lam I))^j b
    M = torch.eye(3, dtype=torch.float64) - 0.3 * (A + 0.1 * torch.eye(3, dtype=torch.float64))
    ref = 0.3 * sum(torch.linalg.matrix_power(M, j) @ b for j in range(6))
    (v,), used = inverse_hvp([g], [theta], [b], "neumann", terms=5, step=0.3, damping=0.1)
    torch.testing.assert_close(v, ref)
    # an undamped step 1.0 with curvature 3 (outside (0, 2)) diverges: the series stops early, finite
    (v,), used = inverse_hvp([g], [theta], [b], "neumann", terms=50, step=1.0)
    assert used < 50 and bool(torch.isfinite(v).all())
    # step='auto': alpha = 1 / lambda_max(A + lam I) = 1 / 3.1 from power iteration
    (v,), used = inverse_hvp([g], [theta], [b], "neumann", terms=5, step="auto", damping=0.1)
    M = torch.eye(3, dtype=torch.float64) - (A + 0.1 * torch.eye(3, dtype=torch.float64)) / 3.1
    ref = sum(torch.linalg.matrix_power(M, j) @ b for j in range(6)) / 3.1
    torch.testing.assert_close(v, ref, rtol=1e-3, atol=1e-4)
    assert used == 5
    (v,), used = inverse_hvp([g], [theta], [b], "identity", terms=5, step=0.7)
    torch.testing.assert_close(v, 0.7 * b)
    with pytest.raises(ValueError, match="solver must be one of"):
        inverse_hvp([g], [theta], [b], "lanczos")


# ----------------------------------------------------------------------------- tuner protocol
def _tuner(model, X, y, Xv, yv, **kw):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    kw.setdefault("hyper_every", 5)
    kw.setdefault("class_counts", torch.bincount(y))
    return AutoBalance(model, 3, val_data=(Xv, yv), optimizer=opt, **kw), opt


def test_trajectory_finite_and_hyper_steps_only_every_k_iterations():
    X, y = imbalanced_blobs((60, 20, 8), seed=0)
    Xv, yv = imbalanced_blobs((15, 5, 2), seed=3)
    model = small_mlp(bn=True)
    ab, _ = _tuner(
        model, X, y, Xv, yv, warm_start_epochs=1, learn=("delta", "iota", "weight"), augment="noise", hyper_every=2
    )
    snapshots = []
    for epoch, batches in enumerate(make_batches(X, y, 16, 0, 4)):
        for xb, yb in batches:
            before = [p.detach().clone() for p in ab.hparams]
            ab.step(xb, yb)
            changed = any(not torch.equal(a, b) for a, b in zip(before, ab.hparams))
            snapshots.append((ab.iteration, epoch, changed))
            assert all(p.grad is None for p in ab.hparams)  # lower steps leave no hyper-gradient behind
        ab.end_epoch()
    # parameters move only at hyper-steps: every 2nd iteration, from epoch 1 on (no spurious step)
    for it, epoch, changed in snapshots:
        if changed:
            assert it % 2 == 0 and epoch >= 1
    assert ab.hyper_steps == sum(1 for it, ep, _ in snapshots if it % 2 == 0 and ep >= 1)
    assert ab.hyper_steps >= 5 and ab.skipped_steps == 0
    moved = [it for it, _, ch in snapshots if ch]
    assert len(moved) >= 3
    for entry in ab.history:
        for k in ("delta", "iota", "weight", "augment", "val_loss"):
            assert bool(torch.isfinite(entry[k]).all())
    p = ab.effective_params()
    assert bool((p["delta"] > 0).all()) and bool((p["delta"] < 2).all())  # 2*sigmoid bound
    assert bool((p["weight"] >= 0.05).all()) and bool((p["augment"] >= 0).all())
    torch.testing.assert_close(p["iota"].mean(), torch.tensor(0.0), atol=1e-6, rtol=0)  # kept centred


def test_hyper_step_does_not_touch_batchnorm_statistics_and_restores_mode():
    X, y = imbalanced_blobs((30, 10, 6), seed=0)
    Xv, yv = imbalanced_blobs((6, 3, 2), seed=3)
    model = small_mlp(bn=True)
    ab, _ = _tuner(model, X, y, Xv, yv)
    for xb, yb in make_batches(X, y, 8, 0, 1)[0][:4]:
        ab.step(xb, yb)
    bn = model[1]
    state = {k: v.clone() for k, v in bn.state_dict().items()}
    model.train()
    assert ab.hyper_step()
    assert model.training
    for k, v in bn.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_resume_gives_identical_results():
    X, y = imbalanced_blobs((60, 20, 8), seed=0)
    Xv, yv = imbalanced_blobs((15, 5, 2), seed=3)
    epochs = make_batches(X, y, 16, 0, 3)

    def build():
        model = small_mlp(bn=True)
        ab, opt = _tuner(model, X, y, Xv, yv, augment="mixup", val_batch_size=8, val_batches=1, hyper_every=3)
        return model, ab, opt

    model, ab, opt = build()
    flat = [b for ep in epochs for b in ep]
    half = len(flat) // 2 + 1  # not a multiple of hyper_every: the batch buffer must be restored too
    for xb, yb in flat[:half]:
        ab.step(xb, yb)
    ckpt = copy.deepcopy({"model": model.state_dict(), "opt": opt.state_dict(), "ab": ab.state_dict()})
    for xb, yb in flat[half:]:
        ab.step(xb, yb)

    model2, ab2, opt2 = build()
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    ab2.load_state_dict(ckpt["ab"])
    for xb, yb in flat[half:]:
        ab2.step(xb, yb)
    assert ab.hyper_steps == ab2.hyper_steps > 3
    for a, b in zip(list(model.parameters()) + ab.hparams, list(model2.parameters()) + ab2.hparams):
        assert torch.equal(a, b)
    assert torch.equal(ab.history[-1]["iota"], ab2.history[-1]["iota"])


def test_plain_loop_with_record_equals_step():
    X, y = imbalanced_blobs((40, 12, 6), seed=0)
    Xv, yv = imbalanced_blobs((10, 4, 2), seed=3)
    batches = make_batches(X, y, 8, 0, 1)[0]
    m1 = small_mlp()
    ab1, _ = _tuner(m1, X, y, Xv, yv)
    for xb, yb in batches:
        ab1.step(xb, yb)
    m2 = small_mlp()
    ab2, opt = _tuner(m2, X, y, Xv, yv)
    for xb, yb in batches:
        opt.zero_grad()
        ab2.train_loss(xb, yb).backward()
        opt.step()
        ab2.record(xb, yb)
    for a, b in zip(list(m1.parameters()) + ab1.hparams, list(m2.parameters()) + ab2.hparams):
        torch.testing.assert_close(a, b)


def test_groups_parameters_objectives_and_checks():
    X, y = imbalanced_blobs((40, 16, 8), seed=0)
    g = torch.arange(len(y)) % 2
    Xv, yv = imbalanced_blobs((12, 6, 4), seed=3)
    gv = torch.arange(len(yv)) % 2
    for objective in ("deo", "worst_group", ("balanced", "deo", 0.5)):
        model = small_mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        ab = AutoBalance(
            model,
            3,
            val_data=(Xv, yv, gv),
            optimizer=opt,
            num_groups=2,
            objective=objective,
            hyper_every=2,
            hyper_lr=0.2,
        )
        assert ab.loss.iota.shape == (2, 3)
        for xb, yb, gb in [(X[i::4], y[i::4], g[i::4]) for i in range(4)]:
            ab.step(xb, yb, gb)
        assert ab.hyper_steps == 2
        assert not torch.equal(ab.loss.iota[0], ab.loss.iota[1])  # the two groups get different offsets
        assert bool(torch.isfinite(ab.loss.iota).all())
    with pytest.raises(ValueError, match="one group id per sample"):
        ab.step(X[:8], y[:8], g[:7])
    with pytest.raises(ValueError, match="group is required"):
        ab.step(X[:8], y[:8])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 2\)"):
        ab.step(X[:8], y[:8], torch.full((8,), 2))
    with pytest.raises(ValueError, match="val group must have one group id per sample"):
        AutoBalance(small_mlp(), 3, val_data=(Xv, yv, gv[:-1]), num_groups=2)
    with pytest.raises(ValueError, match="needs groups"):
        AutoBalance(small_mlp(), 3, val_data=(Xv, yv), objective="deo")


def test_bad_inputs():
    X, y = imbalanced_blobs((20, 10, 6), seed=0)
    Xv, yv = imbalanced_blobs((6, 3, 2), seed=3)
    missing = yv != 2
    with pytest.raises(ValueError, match=r"no sample of class\(es\) \[2\]"):
        AutoBalance(small_mlp(), 3, val_data=(Xv[missing], yv[missing]))
    with pytest.raises(ValueError, match="X_val has"):
        AutoBalance(small_mlp(), 3, val_data=(Xv[:-1], yv))
    with pytest.raises(ValueError, match="objective must be one of"):
        AutoBalance(small_mlp(), 3, val_data=(Xv, yv), objective="auc")
    with pytest.raises(ValueError, match="hyper_every must be an int >= 1"):
        AutoBalance(small_mlp(), 3, val_data=(Xv, yv), hyper_every=0)
    with pytest.raises(ValueError, match="needs class_counts"):
        AutoBalance(small_mlp(), 3, val_data=(Xv, yv), la_tau=1.0)
    with pytest.raises(ValueError, match="step\\(\\) needs"):
        AutoBalance(small_mlp(), 3, val_data=(Xv, yv)).step(X[:4], y[:4])
    with pytest.raises(ValueError, match="no sample of class"):
        fit(small_mlp(), X, y, X_val=Xv[missing], y_val=yv[missing], epochs=1)


def test_non_finite_hypergradient_is_skipped_with_one_warning():
    X, y = imbalanced_blobs((20, 10, 6), seed=0)
    Xv, yv = imbalanced_blobs((6, 3, 2), seed=3)
    model = small_mlp()
    ab, _ = _tuner(model, X, y, Xv, yv, hyper_every=1000)
    ab.step(X[:8], y[:8])
    before = [p.detach().clone() for p in ab.hparams]
    opt_state = copy.deepcopy(ab.hyper_optimizer.state_dict())
    bad = (torch.full_like(Xv, float("nan")), yv)
    with pytest.warns(RuntimeWarning, match="non-finite hypergradient"):
        assert ab.hyper_step(val_batch=bad) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ab.hyper_step(val_batch=bad) is False  # warned once only
    assert ab.skipped_steps == 2 and ab.hyper_steps == 0
    for a, b in zip(before, ab.hparams):
        assert torch.equal(a, b)
    assert ab.hyper_optimizer.state_dict()["state"] == opt_state["state"]
    assert ab.hyper_step() is True  # a finite one goes through afterwards


def test_share_slots_and_la_init():
    counts = torch.tensor([5, 50, 20, 2, 9])
    idx = frequency_rank_groups(counts, 2)
    assert idx.tolist() == [1, 0, 0, 1, 0]  # ranks: 1, 2, 0, 4, 3 -> ranks 0-2 slot 0, 3-4 slot 1
    assert frequency_rank_groups(counts, 5).unique().numel() == 5
    X, y = imbalanced_blobs((30, 10, 5), seed=0)
    Xv, yv = imbalanced_blobs((6, 3, 2), seed=3)
    ab, _ = _tuner(small_mlp(), X, y, Xv, yv, share_slots=2)
    assert ab.loss.iota.shape == (2,)
    assert ab.loss.effective()[1].shape == (3,)
    ab, _ = _tuner(small_mlp(), X, y, Xv, yv, la_tau=1.0)
    pi = torch.tensor([30.0, 10.0, 5.0]) / 45
    torch.testing.assert_close(ab.loss.iota.detach(), pi.log())
    with pytest.raises(ValueError, match="num_slots must lie in"):
        frequency_rank_groups(counts, 6)


# ----------------------------------------------------------------------------- objectives
def test_objectives_against_hand_computed_values():
    torch.manual_seed(0)
    z = torch.randn(7, 3, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    g = torch.tensor([0, 1, 0, 1, 0, 1, 0])
    ce = F.cross_entropy(z, y, reduction="none")
    per_class = torch.stack([ce[y == c].mean() for c in range(3)])
    torch.testing.assert_close(balanced_objective(z, y), per_class.mean())
    torch.testing.assert_close(balanced_objective(z, y, class_counts=torch.tensor([4, 2, 1])), per_class.mean())
    wc = worst_class_objective(z, y, temperature=0.05)
    assert per_class.mean() <= wc <= per_class.max() + 1e-12
    torch.testing.assert_close(worst_class_objective(z, y, temperature=1e-3), per_class.max(), atol=2e-3, rtol=0)
    # DEO: per class, the gap between the two groups' mean losses; class 2 has one group only -> 0
    gaps = [(ce[(y == c) & (g == 0)].mean() - ce[(y == c) & (g == 1)].mean()).abs() for c in (0, 1)]
    torch.testing.assert_close(deo_objective(z, y, g, 2), (gaps[0] + gaps[1]) / 3)
    torch.testing.assert_close(deo_objective(z, y, g, 2, positive_classes=[1]), gaps[1])
    per_group = torch.stack([ce[g == k].mean() for k in range(2)])
    torch.testing.assert_close(worst_group_objective(z, y, g, 2, temperature=1e-4), per_group.max(), atol=1e-4, rtol=0)
    b = blend(lambda *a: torch.tensor(2.0), lambda *a: torch.tensor(6.0), 0.25)
    assert float(b(z, y)) == 3.0
    with pytest.raises(ValueError, match="lam must lie in"):
        blend(balanced_objective, balanced_objective, 1.5)


# ----------------------------------------------------------------------------- augmentation and fit
def test_class_augment_is_neutral_at_zero_and_differentiable():
    X, y = imbalanced_blobs((8, 4, 2), seed=0)
    for kind in ("noise", "mixup"):
        aug = ClassAugment(3, kind)
        b = aug(X, y, torch.Generator().manual_seed(0))
        assert torch.equal(b.x, X)
        aug.magnitude.data.fill_(0.3)
        b = aug(X, y, torch.Generator().manual_seed(0))
        model = nn.Linear(4, 3)
        loss = aug.mixed_loss(lambda lab, model=model, b=b: F.cross_entropy(model(b.x), lab, reduction="none"), b)
        (grad,) = torch.autograd.grad(loss, [aug.magnitude])
        assert bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="mixup max_magnitude"):
        ClassAugment(3, "mixup", max_magnitude=0.8)


def test_fit_continue_retrain_and_singleton_classes():
    X, y = imbalanced_blobs((60, 20, 8), seed=0)
    res = fit(small_mlp(bn=True), X, y, epochs=3, batch_size=16, warm_start=0.0, lr=0.05, mode="continue")
    assert res.tuner.hyper_steps >= 3 and len(res.epoch_losses) == 3
    assert set(res.train_idx).isdisjoint(res.val_idx) and len(res.train_idx) + len(res.val_idx) == len(y)
    assert res.predict(X).shape == y.shape
    res2 = fit(small_mlp(), X, y, epochs=2, batch_size=16, mode="retrain", warm_start=0.0)
    assert res2.mode == "retrain" and len(res2.epoch_losses) == 4
    y1 = y.clone()
    y1[-8:] = 0
    y1[-1] = 2  # class 2 has a single sample: used in both splits, with a warning
    with pytest.warns(RuntimeWarning, match="one training sample"):
        res3 = fit(small_mlp(), X, y1, epochs=1, batch_size=16)
    assert len(y1) - 1 in set(res3.train_idx) & set(res3.val_idx)
    with pytest.raises(ValueError, match="mode must be"):
        fit(small_mlp(), X, y, mode="search")


def test_validation_dataloader():
    from torch.utils.data import DataLoader, TensorDataset

    X, y = imbalanced_blobs((20, 10, 6), seed=0)
    Xv, yv = imbalanced_blobs((6, 3, 2), seed=3)
    loader = DataLoader(TensorDataset(Xv, yv), batch_size=4, shuffle=False)
    model = small_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ab = AutoBalance(model, 3, val_data=loader, optimizer=opt, hyper_every=2, val_batches=3)
    assert ab.val_class_counts.tolist() == [6, 3, 2]
    for i in range(4):
        ab.step(X[i::4], y[i::4])
    assert ab.hyper_steps == 2
    keep = yv != 1
    with pytest.raises(ValueError, match=r"no sample of class\(es\) \[1\]"):
        AutoBalance(small_mlp(), 3, val_data=DataLoader(TensorDataset(Xv[keep], yv[keep]), batch_size=4))
