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
