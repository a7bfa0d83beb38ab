"""acwa.posthoc calibration and prior shift, against float64 references written here."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from acwa.posthoc import Calibrator, correct_prior, estimate_prior, fit_temperature, shift_prior


def _overconfident(n=2000, C=4, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    true = torch.randn(n, C, generator=g, dtype=torch.float64) * 1.5
    y = torch.multinomial(torch.softmax(true, 1), 1, generator=g).flatten()
    return true * scale, y  # logits 3x too sharp: the best temperature is near 3


def _nll(z, y, T):
    return float(torch.nn.functional.cross_entropy(z / T, y))


def test_temperature_is_the_grid_search_optimum():
    z, y = _overconfident()
    T = fit_temperature(z, y)
    grid = np.exp(np.linspace(np.log(0.5), np.log(10), 4001))
    losses = [_nll(z, y, t) for t in grid]
    t_grid = grid[int(np.argmin(losses))]
    assert abs(T - t_grid) <= t_grid * 1e-3
    assert _nll(z, y, T) <= min(losses) + 1e-10
    assert 2.5 < T < 3.5


def test_binary_and_multilabel_temperatures_match_per_label_fits():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(1500, 3, generator=g, dtype=torch.float64)
    y = torch.bernoulli(torch.sigmoid(z), generator=g)
    z = z * torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64)  # under-, over-, much over-confident
    cal = Calibrator("temperature").fit(z, y)
    assert cal.task == "multilabel" and cal.temperature.shape == (3,)
    for j, expect in enumerate([0.5, 2.0, 4.0]):
        Tj = fit_temperature(z[:, j], y[:, j])
        assert math.isclose(float(cal.temperature[j]), Tj, rel_tol=1e-5)
        grid = np.exp(np.linspace(np.log(0.1), np.log(20), 4001))
        bce = [float(torch.nn.functional.binary_cross_entropy_with_logits(z[:, j] / t, y[:, j])) for t in grid]
        assert abs(Tj - grid[int(np.argmin(bce))]) <= Tj * 2e-3
        assert 0.6 * expect < Tj < 1.5 * expect


@pytest.mark.parametrize("method", ["vector", "bias"])
def test_vector_and_bias_scaling_reach_scipy_minimum(method):
    z, y = _overconfident(n=1200, C=3, seed=2)
    z = z + torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)
    C = z.shape[1]

    def f(theta):
        t = torch.as_tensor(theta)
        log_t = t[:C] if method == "vector" else t[:1]
        b = t[C:] if method == "vector" else t[1:]
        return float(torch.nn.functional.cross_entropy(z * torch.exp(-log_t) + b, y))

    x0 = np.zeros(2 * C if method == "vector" else C + 1)
    ref = minimize(
        f, x0, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 40000, "maxfev": 40000}
    )
    cal = Calibrator(method).fit(z, y)
    p = cal.predict_proba(z)
    ours = float(torch.nn.functional.nll_loss(p.log(), y))
    assert ours <= ref.fun + 1e-7
    assert ours <= _nll(z, y, fit_temperature(z, y)) + 1e-9  # a superset of temperature scaling


def test_prior_correction_is_bayes_rule_by_hand():
    # class-conditional densities p(x|y) (1-D Gaussians), posterior under pi computed by hand
    mu, pi, pi2 = [-1.0, 0.0, 2.0], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5]
    xs = torch.linspace(-3, 3, 13, dtype=torch.float64)
    lik = torch.stack([torch.exp(-0.5 * (xs - m) ** 2) for m in mu], 1)
    post = lik * torch.tensor(pi, dtype=torch.float64)
    post = post / post.sum(1, keepdim=True)
    expect = torch.empty_like(post)
    for i in range(xs.numel()):
        num = [float(lik[i, c]) * pi2[c] for c in range(3)]
        for c in range(3):
            expect[i, c] = num[c] / sum(num)
    torch.testing.assert_close(correct_prior(post, pi2, pi), expect)
    shifted = shift_prior(post.log(), pi2, source_prior=pi)
    torch.testing.assert_close(torch.softmax(shifted, 1), expect)
    # binary: prior = positive rate; one logit
    p1 = post[:, 1] / (post[:, 0] + post[:, 1])
    q = correct_prior(p1, 0.6, 0.2)
    ref = p1 * 0.6 / 0.2 / (p1 * 0.6 / 0.2 + (1 - p1) * 0.4 / 0.8)
    torch.testing.assert_close(q, ref)
    torch.testing.assert_close(torch.sigmoid(shift_prior(torch.logit(p1), [0.4, 0.6], [0.8, 0.2])), ref)


def test_logit_adjusted_model_restores_a_prior_with_tau_log_pi():
    f = torch.randn(50, 4, dtype=torch.float64)
    pi2 = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    out = shift_prior(f, pi2, source_prior=None, tau=1.5)
    torch.testing.assert_close(torch.softmax(out, 1), torch.softmax(f + 1.5 * pi2.log(), 1))


def test_em_recovers_a_known_deployment_prior():
    g = torch.Generator().manual_seed(3)
    mu = torch.tensor([-2.0, 0.0, 2.0], dtype=torch.float64)
    src = torch.tensor([1 / 3, 1 / 3, 1 / 3], dtype=torch.float64)
    true = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    y = torch.multinomial(true, 20000, replacement=True, generator=g)
    x = mu[y] + torch.randn(20000, generator=g, dtype=torch.float64)
    logits = -0.5 * (x[:, None] - mu) ** 2 + src.log()  # exact posterior under the source prior
    est = estimate_prior(torch.softmax(logits, 1), src)
    assert float((est - true).abs().max()) < 0.02
    assert abs(float(est.sum()) - 1) < 1e-9
    # through a calibrator fitted on source-prior data
    ys = torch.multinomial(src, 5000, replacement=True, generator=g)
    xs = mu[ys] + torch.randn(5000, generator=g, dtype=torch.float64)
    cal = Calibrator("bias").fit(-0.5 * (xs[:, None] - mu) ** 2, ys)
    assert float((cal.estimate_prior(-0.5 * (x[:, None] - mu) ** 2) - true).abs().max()) < 0.03


def test_fit_prior_moves_outputs_from_a_balanced_calibration_set():
    z, y = _overconfident(n=3000, C=3, seed=4)
    pi = [0.8, 0.15, 0.05]
    cal = Calibrator("bias").fit(z, y, prior=pi)
    plain = Calibrator("bias").fit(z, y)
    torch.testing.assert_close(cal.prior, torch.tensor(pi, dtype=torch.float64))
    torch.testing.assert_close(cal.predict_proba(z), correct_prior(plain.predict_proba(z), pi, plain.prior))
    # asking for the calibration frequencies again undoes it
    torch.testing.assert_close(cal.predict_proba(z, prior=plain.prior), plain.predict_proba(z))


@pytest.mark.parametrize("method", ["temperature", "vector", "bias"])
@pytest.mark.parametrize("shape", ["multiclass", "binary", "multilabel"])
def test_state_dict_round_trip(method, shape):
    g = torch.Generator().manual_seed(5)
    if shape == "multiclass":
        z, y = torch.randn(300, 3, generator=g), torch.randint(0, 3, (300,), generator=g)
    elif shape == "binary":
        z, y = torch.randn(300, generator=g), torch.randint(0, 2, (300,), generator=g)
    else:
        z, y = torch.randn(300, 2, generator=g), torch.randint(0, 2, (300, 2), generator=g)
    cal = Calibrator(method).fit(z, y)
    other = Calibrator()
    other.load_state_dict(cal.state_dict())
    torch.testing.assert_close(other.predict_proba(z), cal.predict_proba(z))
    prior = [0.3, 0.3, 0.4] if shape == "multiclass" else (0.3 if shape == "binary" else [0.3, 0.6])
    torch.testing.assert_close(other.predict_proba(z, prior=prior), cal.predict_proba(z, prior=prior))
    with pytest.raises(ValueError, match="state"):
        other.load_state_dict({"method": method})


def test_calibration_input_errors():
    z = torch.randn(20, 3)
    with pytest.raises(ValueError, match="single class"):
        Calibrator().fit(z, torch.zeros(20, dtype=torch.long))
    with pytest.raises(ValueError, match="single class"):
        Calibrator().fit(z[:, 0], torch.ones(20))
    y = torch.arange(20) % 3
    with pytest.raises(ValueError, match="sum to 1"):
        Calibrator().fit(z, y, prior=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="classes \\[2\\]"):
        Calibrator().fit(z, y, prior=[0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="shape"):
        Calibrator().fit(z, y).predict_proba(z, prior=[0.5, 0.5])
    with pytest.raises(ValueError, match="not fitted"):
        Calibrator().predict_proba(z)
    with pytest.raises(ValueError, match="method"):
        Calibrator("platt")
    with pytest.raises(ValueError, match="0/1"):
        Calibrator().fit(z[:, 0], torch.full((20,), 2.0))
    with pytest.raises(ValueError, match="outside"):
        Calibrator().fit(z, torch.full((20,), 5))


def test_binary_and_multilabel_prior_shift_and_em():
    g = torch.Generator().manual_seed(6)
    # binary: class-conditionals N(+-1, 1), posterior under a 50% source prior is sigmoid(2x)
    y = (torch.rand(20000, generator=g) < 0.2).long()
    x = torch.where(y == 1, 1.0, -1.0).double() + torch.randn(20000, generator=g, dtype=torch.float64)
    est = estimate_prior(torch.sigmoid(2 * x), 0.5)
    assert est.shape == (2,) and abs(float(est[1]) - 0.2) < 0.02
    # multi-label: per label, logit(pi') - logit(pi)
    z = torch.randn(5, 2, dtype=torch.float64)
    out = shift_prior(z, [0.1, 0.7], source_prior=[0.5, 0.4], task="multilabel")
    expect = (
        z
        + torch.logit(torch.tensor([0.1, 0.7], dtype=torch.float64))
        - torch.logit(torch.tensor([0.5, 0.4], dtype=torch.float64))
    )
    torch.testing.assert_close(out, expect)
    with pytest.raises(ValueError, match="positive rates"):
        shift_prior(z, [0.1, 1.7], task="multilabel")


def test_prior_shift_needs_every_class_in_the_calibration_data():
    z = torch.randn(30, 3)
    cal = Calibrator().fit(z, torch.arange(30) % 2)  # class 2 never seen
    with pytest.raises(ValueError, match=r"classes \[2\] are absent"):
        cal.predict_proba(z, prior=[0.3, 0.3, 0.4])
