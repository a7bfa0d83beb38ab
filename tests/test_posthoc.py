import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from acwa.posthoc import cross_fitted_logits, fit_class_bias
from acwa.splits import stratified_folds


def _reference_bias(z: np.ndarray, y: np.ndarray, C: int, l2: float) -> np.ndarray:
    """Independent numpy/scipy minimiser of the documented objective."""
    counts = np.bincount(y, minlength=C).astype(float)
    present = (counts > 0).sum()
    w = 1.0 / (np.maximum(counts, 1) * present)

    def objective(b):
        s = z + b
        s = s - s.max(1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(1, keepdims=True))
        c = b - b.mean()
        return -(w[y] * logp[np.arange(len(y)), y]).sum() + l2 * (c**2).sum()

    b = minimize(objective, np.zeros(C), method="BFGS", options={"gtol": 1e-10}).x
    return b - b.mean()


def test_bias_matches_independent_minimiser():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(300, 4, generator=g) * 2
    y = torch.multinomial(torch.tensor([0.6, 0.25, 0.1, 0.05]), 300, replacement=True, generator=g)
    for l2 in (1e-3, 1e-2, 1.0):
        b = fit_class_bias(z, y, l2=l2)
        ref = _reference_bias(z.double().numpy(), y.numpy(), 4, l2)
        np.testing.assert_allclose(b.numpy(), ref, atol=1e-4)
        assert abs(float(b.mean())) < 1e-6


def test_bias_undoes_a_known_logit_shift():
    # labels drawn from softmax(true logits), balanced; the model's logits are shifted per class
    g = torch.Generator().manual_seed(1)
    C, N = 5, 40000
    true = torch.randn(N, C, generator=g) * 1.5
    y = torch.multinomial(torch.softmax(true, 1), 1, generator=g).flatten()
    shift = torch.tensor([2.0, 1.0, 0.0, -1.0, -2.0])
    b = fit_class_bias(true + shift, y, l2=1e-6)
    # the labels' class frequencies are not exactly uniform: the exact optimum undoes the shift and
    # also the empirical prior, which the balanced loss removes
    torch.testing.assert_close(b, -(shift - shift.mean()), atol=0.08, rtol=0)


def test_bias_raises_balanced_accuracy_of_a_head_biased_model():
    g = torch.Generator().manual_seed(2)
    C, N = 3, 3000
    y = torch.arange(N) % C
    z = torch.nn.functional.one_hot(y, C).float() * 1.0 + torch.randn(N, C, generator=g)
    z_biased = z + torch.tensor([2.5, 0.0, -2.5])  # predicts class 0 far too often

    def bacc(logits):
        p = logits.argmax(1)
        return float(torch.stack([(p[y == c] == c).float().mean() for c in range(C)]).mean())

    b = fit_class_bias(z_biased, y)
    assert bacc(z_biased) < 0.6 < bacc(z_biased + b)
    assert b[0] < 0 < b[2]


def test_class_without_heldout_samples_gets_a_neutral_bias():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(200, 3, generator=g) + torch.tensor([0.0, 0.0, 3.0])
    y = torch.arange(200) % 2  # class 2 never appears
    b = fit_class_bias(z, y, num_classes=3)
    assert b[2] == 0  # not pushed down for never being right
    # the present classes are fitted as if class 2 did not exist
    torch.testing.assert_close(b[:2], fit_class_bias(z[:, :2], y))
    assert abs(float(b[:2].sum())) < 1e-6


def test_bias_input_errors():
    z, y = torch.zeros(4, 3), torch.tensor([0, 1, 2, 1])
    with pytest.raises(ValueError, match=r"logits must have shape \[N, C\]"):
        fit_class_bias(torch.zeros(4), y)
    with pytest.raises(ValueError, match=r"one row per held-out sample, got \(4, 3, 2\)"):
        fit_class_bias(torch.zeros(4, 3, 2), torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        fit_class_bias(z, y[:3])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), found 3"):
        fit_class_bias(z, torch.tensor([0, 1, 3, 1]))
    with pytest.raises(ValueError, match="labels is empty"):
        fit_class_bias(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN or Inf"):
        fit_class_bias(torch.full((4, 3), float("nan")), y)
    with pytest.raises(ValueError, match="l2 must be a positive"):
        fit_class_bias(z, y, l2=0)
    with pytest.raises(ValueError, match="integer class indices"):
        fit_class_bias(z, y.float())
    with pytest.raises(ValueError, match="num_classes=4"):
        fit_class_bias(z, y, num_classes=4)


def test_stratified_folds_balance_and_determinism():
    y = np.repeat(np.arange(5), [50, 23, 7, 3, 1])
    f = stratified_folds(y, num_folds=5, seed=0)
    assert f.dtype == np.int64 and f.min() == 0 and f.max() == 4
    for c in range(5):
        sizes = np.bincount(f[y == c], minlength=5)
        assert sizes.max() - sizes.min() <= 1
    total = np.bincount(f, minlength=5)
    assert total.max() - total.min() <= 1
    np.testing.assert_array_equal(f, stratified_folds(torch.from_numpy(y), num_folds=5, seed=0))
    assert not np.array_equal(f, stratified_folds(y, num_folds=5, seed=1))
    with pytest.raises(ValueError, match="num_folds must be an int >= 2"):
        stratified_folds(y, num_folds=1)
    with pytest.raises(ValueError, match="exceeds the number of samples"):
        stratified_folds(y[:3], num_folds=4)


def test_cross_fitted_logits_are_out_of_fold():
    y = torch.from_numpy(np.repeat(np.arange(3), [30, 10, 4]))
    calls = []

    def train_and_predict(train_idx, heldout_idx):
        assert not set(train_idx.tolist()) & set(heldout_idx.tolist())
        assert len(train_idx) + len(heldout_idx) == len(y)
        calls.append(heldout_idx)
        # logits that record which fold predicted each row
        return torch.full((len(heldout_idx), 3), float(len(calls)))

    oof = cross_fitted_logits(train_and_predict, y, num_folds=4, seed=0)
    assert oof.shape == (44, 3) and len(calls) == 4
    covered = torch.cat(calls)
    assert sorted(covered.tolist()) == list(range(44))  # each row held out exactly once
    for k, idx in enumerate(calls, start=1):
        assert (oof[idx] == k).all()


def test_cross_fitted_logits_checks_the_callback():
    y = torch.arange(10) % 2
    with pytest.raises(ValueError, match=r"must return logits \[5, C\]"):
        cross_fitted_logits(lambda tr, ho: torch.zeros(3, 2), y, num_folds=2)
    with pytest.raises(ValueError, match="must be callable"):
        cross_fitted_logits(None, y)


def _fold_recorder(labels, width, folds_log):
    """A callback whose logits for a held-out row say which fold predicted it (``k``) and, as
    +100, whether that row was in the fold's training part (it must never be)."""

    def train_and_predict(train_idx, heldout_idx):
        k = len(folds_log)
        folds_log.append((train_idx.clone(), heldout_idx.clone()))
        seen = torch.isin(heldout_idx, train_idx).float() * 100
        value = (k + seen).unsqueeze(1)
        return value.squeeze(1) if width is None else value.expand(-1, width).clone()

    return train_and_predict


@pytest.mark.parametrize(
    "shape",
    [
        "multiclass",
        "binary-[n]",
        "binary-[n,1]",
        "binary-float",
        "multilabel-int",
        "multilabel-float",
        "multilabel-bool",
    ],
)
def test_cross_fitted_logits_every_task_shape_is_out_of_fold(shape):
    from acwa.splits import multilabel_folds

    g = torch.Generator().manual_seed(3)
    N = 60
    if shape == "multiclass":
        labels, width = torch.from_numpy(np.repeat(np.arange(3), [35, 15, 10])), 3
    elif shape.startswith("binary"):
        labels = (torch.rand(N, generator=g) < 0.2).long()
        width = {"binary-[n]": None, "binary-[n,1]": 1, "binary-float": None}[shape]
        if shape == "binary-float":
            labels = labels.float()
    else:
        labels = (torch.rand(N, 4, generator=g) < torch.tensor([0.5, 0.3, 0.1, 0.05])).long()
        labels[0, 3] = labels[1, 3] = labels[2, 3] = 1  # the rarest label has >= 3 positives
        width = 4
        labels = {"multilabel-int": labels, "multilabel-float": labels.float(), "multilabel-bool": labels.bool()}[shape]
    log = []
    oof = cross_fitted_logits(_fold_recorder(labels, width, log), labels, num_folds=3, seed=5)
    n = labels.shape[0]
    expect_shape = {None: (n,), 1: (n, 1), 3: (n, 3), 4: (n, 4)}[width]
    assert oof.shape == expect_shape and oof.dtype == torch.float32 and len(log) == 3
    assert bool((oof < 100).all())  # no row was predicted by a model that trained on it
    held = torch.cat([h for _, h in log])
    assert sorted(held.tolist()) == list(range(n))  # every row held out exactly once
    for k, (tr, ho) in enumerate(log):
        assert sorted(torch.cat([tr, ho]).tolist()) == list(range(n))
        assert bool((oof[ho] == k).all())
    # the folds are the splits module's stratified folds (an independent call)
    if shape.startswith("multilabel"):
        ref = multilabel_folds(labels.long().numpy(), num_folds=3, seed=5)
        for k in range(3):  # each label with >= 3 positives reaches every held-out fold
            assert bool((labels[torch.from_numpy(ref == k)].long().sum(0) > 0).all())
    else:
        ref = stratified_folds(labels.long().numpy(), num_folds=3, seed=5)
    for k, (_, ho) in enumerate(log):
        np.testing.assert_array_equal(np.sort(ho.numpy()), np.flatnonzero(ref == k))


def _logistic_fold_model(X, Y, scale):
    """Per-label logistic regressions (torch L-BFGS) trained on the fold's rows; their logits
    times ``scale`` (over-confident) for the held-out rows."""

    def train_and_predict(train_idx, heldout_idx):
        Xt, Yt = X[train_idx], Y[train_idx].double()
        W = torch.zeros(X.shape[1], Yt.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros(Yt.shape[1], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], max_iter=100, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(Xt @ W + b, Yt)
            loss.backward()
            return loss

        opt.step(closure)
        return ((X[heldout_idx] @ W + b) * scale).detach().float()

    return train_and_predict


def _per_label_temperature(z, y):
    """Independent reference: scipy's 1-D minimiser of the binary NLL of z / T."""
    from scipy.optimize import minimize_scalar

    zz, yy = z.double().numpy(), y.double().numpy()

    def nll(log_t):
        s = zz / np.exp(log_t)
        return float(np.mean(np.logaddexp(0, s) - yy * s))

    return float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded", options={"xatol": 1e-10}).x))


def test_calibrator_on_cross_fitted_multilabel_and_binary_logits_round_trip():
    from acwa.posthoc import Calibrator

    g = torch.Generator().manual_seed(7)
    N, d, L = 900, 4, 3
    X = torch.randn(N, d, generator=g, dtype=torch.float64)
    W = torch.randn(d, L, generator=g, dtype=torch.float64)
    Y = torch.bernoulli(torch.sigmoid(X @ W + torch.tensor([0.0, -1.0, -2.5], dtype=torch.float64)), generator=g)
    oof = cross_fitted_logits(_logistic_fold_model(X, Y, 3.0), Y, num_folds=3, seed=0)
    assert oof.shape == (N, L)
    cal = Calibrator("temperature").fit(oof, Y)
    assert cal.task == "multilabel" and cal.temperature.shape == (L,)
    for j in range(L):  # per label, the temperature of that label's column alone
        T_ref = _per_label_temperature(oof[:, j], Y[:, j])
        assert math.isclose(float(cal.temperature[j]), T_ref, rel_tol=1e-4)
        assert 2.0 < T_ref < 4.5  # the fold models were made 3x over-confident
    p = cal.predict_proba(oof)
    assert p.shape == (N, L)
    ref = torch.sigmoid(oof.double() / cal.temperature)
    np.testing.assert_allclose(p.numpy(), ref.numpy(), atol=1e-6)  # calibrated logits keep float32
    raw = torch.nn.functional.binary_cross_entropy(torch.sigmoid(oof.double()), Y)
    assert float(torch.nn.functional.binary_cross_entropy(p, Y)) < float(raw)
    # binary one-logit: labels 0/1 [N], a model returning [n] logits
    yb = Y[:, 0].long()
    model = _logistic_fold_model(X, Y[:, :1], 3.0)
    oof_b = cross_fitted_logits(lambda tr, ho: model(tr, ho).squeeze(1), yb, num_folds=3, seed=0)
    assert oof_b.shape == (N,)
    cal_b = Calibrator("bias").fit(oof_b, yb)
    assert cal_b.task == "binary" and cal_b.predict_proba(oof_b).shape == (N,)
    assert math.isclose(
        float(Calibrator("temperature").fit(oof_b, yb).temperature[0]), _per_label_temperature(oof_b, yb), rel_tol=1e-4
    )


def test_cross_fitted_logits_input_errors():
    ok3 = lambda tr, ho: torch.zeros(len(ho), 3)  # noqa: E731
    with pytest.raises(ValueError, match=r"labels must be a torch.Tensor of class ids \[N\]"):
        cross_fitted_logits(ok3, [0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match=r"labels must be a torch.Tensor .*got \(2, 3, 1\)"):
        cross_fitted_logits(ok3, torch.zeros(2, 3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels is empty"):
        cross_fitted_logits(ok3, torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"multi-hot matrix of 0/1 .*labels > 0.5"):
        cross_fitted_logits(ok3, torch.full((6, 3), 0.7))
    with pytest.raises(ValueError, match=r"values other than 0/1; pass labels.long\(\)"):
        cross_fitted_logits(ok3, torch.tensor([0.0, 1.5, 2.0, 0.0, 1.0, 2.0]))
    y_ids = torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match=r"one logit per sample \(binary\), but labels hold values \[2\]"):
        cross_fitted_logits(lambda tr, ho: torch.zeros(len(ho)), y_ids, num_folds=2)
    with pytest.raises(ValueError, match=r"class ids \[2\] outside \[0, 2\).*num_classes=C"):
        cross_fitted_logits(lambda tr, ho: torch.zeros(len(ho), 2), y_ids, num_folds=2)
    with pytest.raises(ValueError, match=r"integer class ids for \[n, 3\] .*labels.long\(\)"):
        cross_fitted_logits(ok3, y_ids.float().clamp(max=1), num_folds=2)
    multi = torch.tensor([[1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"logits \[3, 2\] \(one logit per label\)"):
        cross_fitted_logits(lambda tr, ho: torch.zeros(len(ho), 3), multi, num_folds=2)
    shapes = iter([(3,), (3, 1)])
    with pytest.raises(ValueError, match=r"rows of shape \(\) for an earlier fold"):
        cross_fitted_logits(lambda tr, ho: torch.zeros(next(shapes)), torch.tensor([0, 1, 0, 1, 0, 1]), num_folds=2)
    with pytest.raises(ValueError, match="NaN/Inf or non-float"):
        cross_fitted_logits(lambda tr, ho: torch.full((len(ho), 3), float("nan")), y_ids, num_folds=2)
