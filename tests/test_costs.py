"""Cost-aware decisions and the binary threshold, against brute force."""

import itertools

import numpy as np
import pytest
import torch

from acwa.posthoc import bayes_decision, check_costs, expected_cost, fit_cost_bias, tune_threshold
from acwa.posthoc._costs import GRID, _decide

K3 = torch.tensor([[0.0, 1.0, 4.0], [2.0, 0.0, 1.0], [10.0, 3.0, 0.0]])


def test_bayes_decision_is_the_brute_force_argmin():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(200, 3, generator=g), 1)
    d = bayes_decision(p, K3)
    for n in range(200):
        risks = [sum(float(p[n, i]) * float(K3[i, j]) for i in range(3)) for j in range(3)]
        assert int(d[n]) == int(np.argmin(risks))
    # binary: the threshold c_fp / (c_fp + c_fn)
    q = torch.rand(500, generator=g, dtype=torch.float64)
    torch.testing.assert_close(bayes_decision(q, (1.0, 4.0)), (q > 0.2).long())


def test_expected_cost_and_cost_matrix_errors():
    y, d = torch.tensor([0, 1, 2, 2]), torch.tensor([1, 1, 0, 2])
    assert expected_cost(d, y, K3) == pytest.approx((1 + 0 + 10 + 0) / 4)
    with pytest.raises(ValueError, match="square"):
        check_costs([[0, 1, 2], [1, 0, 1]])
    with pytest.raises(ValueError, match="non-negative"):
        check_costs([[0, -1], [1, 0]])
    with pytest.raises(ValueError, match="finite"):
        check_costs([[0, float("nan")], [1, 0]])
    with pytest.raises(ValueError, match="3 classes"):
        bayes_decision(torch.full((2, 3), 1 / 3), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="single class"):
        fit_cost_bias(torch.randn(10, 3), torch.zeros(10, dtype=torch.long), K3)


def test_threshold_costs_match_brute_force():
    g = torch.Generator().manual_seed(1)
    for trial in range(20):
        n = 40
        z = torch.round(torch.randn(n, generator=g) * 4) / 4  # ties
        y = torch.bernoulli(torch.sigmoid(z), generator=g).long()
        if y.sum() in (0, n):
            continue
        c_fp, c_fn = 1.0, float(trial % 5 + 1)
        r = tune_threshold(z, y, costs=(c_fp, c_fn), n_boot=0)
        cands = [float(z.max()) + 1] + sorted(set(z.tolist())) + [float(z.min()) - 1]
        best = min(
            (c_fp * int(((z > t) & (y == 0)).sum()) + c_fn * int(((z <= t) & (y == 1)).sum())) / n for t in cands
        )
        assert r.score == pytest.approx(best)
        pred = r.predict(z)
        assert (
            c_fp * int(((pred == 1) & (y == 0)).sum()) + c_fn * int(((pred == 0) & (y == 1)).sum())
        ) / n == pytest.approx(r.score)


def _objective(pred, y, objective):
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    P, Nn = int(y.sum()), int((y == 0).sum())
    if objective == "f1":
        return 2 * tp / (tp + fp + P)
    if objective == "balanced_accuracy":
        return (tp / P + (Nn - fp) / Nn) / 2
    return tp / (tp + fp) if tp + fp else 1.0


@pytest.mark.parametrize("objective", ["f1", "balanced_accuracy", "recall"])
def test_reported_threshold_reproduces_the_score(objective):
    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float32, torch.float64):
        z = (torch.randn(300, generator=g) * 3).to(dtype)
        y = torch.bernoulli(torch.sigmoid(z.double()), generator=g).long()
        kw = {"target_recall": 0.8} if objective == "recall" else {}
        r = tune_threshold(z, y, objective, n_boot=0, **kw)
        assert _objective(r.predict(z), y, objective) == pytest.approx(r.score, abs=1e-12)


def test_recall_objective_is_best_precision_reaching_the_target():
    g = torch.Generator().manual_seed(3)
    z = torch.round(torch.randn(60, generator=g) * 3)
    y = torch.bernoulli(torch.sigmoid(z), generator=g).long()
    r = tune_threshold(z, y, "recall", target_recall=0.7, n_boot=0)
    best = max(
        _objective((z > t).long(), y, "precision")
        for t in [float(z.max()) + 1] + sorted(set(z.tolist()))
        if int(((z > t) & (y == 1)).sum()) / int(y.sum()) >= 0.7
    )
    assert r.score == pytest.approx(best)


def test_threshold_between_adjacent_floats_and_at_the_float_limits():
    a = 1.0 + np.finfo(np.float64).eps
    b = float(np.nextafter(a, 2.0))  # (a + b) / 2 rounds onto b
    for z in ([a, b], [1.7e308, 1.79e308], [-1.79e308, -1.7e308]):
        zt, y = torch.tensor(z, dtype=torch.float64), torch.tensor([0, 1])
        r = tune_threshold(zt, y, "f1", n_boot=0)
        assert np.isfinite(r.threshold)
        assert r.score == 1.0 and r.predict(zt).tolist() == [0, 1]
    # everything positive at the lower end: threshold below the smallest finite float's neighbour
    zt = torch.tensor([-1.79e308, -1.79e308, 5.0], dtype=torch.float64)
    r = tune_threshold(zt, torch.tensor([1, 1, 1 - 1]), "recall", target_recall=1.0, n_boot=0)
    assert _objective(r.predict(zt), torch.tensor([1, 1, 0]), "recall") == pytest.approx(r.score)


def test_threshold_input_errors_name_the_problem():
    z = torch.randn(4)
    with pytest.raises(ValueError, match=r"values \[2\]"):
        tune_threshold(z, torch.tensor([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="shape"):
        tune_threshold(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="target_recall"):
        tune_threshold(z, torch.tensor([0, 1, 0, 1]), "recall", target_recall=0)
    with pytest.raises(ValueError, match="costs"):
        tune_threshold(z, torch.tensor([0, 1, 0, 1]), costs=(-1, 2))


def test_threshold_bootstrap_intervals_are_seeded():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(400, generator=g) * 2
    y = torch.bernoulli(torch.sigmoid(z), generator=g).long()
    r1 = tune_threshold(z, y, "balanced_accuracy", n_boot=100, seed=7)
    r2 = tune_threshold(z, y, "balanced_accuracy", n_boot=100, seed=7)
    assert r1.threshold_interval == r2.threshold_interval and r1.score_interval == r2.score_interval
    assert r1.threshold_interval.low <= r1.threshold <= r1.threshold_interval.high
    assert r1.score_interval.low < r1.score_interval.high
    # optimism-corrected: the interval sits below the (optimistic) in-sample score, not far from it
    assert r1.score_interval.low < r1.score and r1.score - r1.score_interval.high < 0.1
    assert tune_threshold(z, y, n_boot=0).score_interval is None


def test_cost_bias_fixes_a_shifted_model_and_matches_grid_search():
    g = torch.Generator().manual_seed(5)
    true = torch.randn(1500, 3, generator=g, dtype=torch.float64) * 2
    y = torch.multinomial(torch.softmax(true, 1), 1, generator=g).flatten()
    shifted = true + torch.tensor([3.0, 0.0, -3.0], dtype=torch.float64)  # a head-biased model
    res = fit_cost_bias(shifted, y, K3, n_boot=100)
    assert res.kept and res.crossfit_cost < res.raw_cost
    assert res.difference is not None and res.difference.high < 0
    fitted = float(K3.double()[y, res.predict(shifted)].mean())
    # never worse than the best single-coordinate bias on the grid (brute force)
    single = min(
        float(K3.double()[y, _decide(shifted, torch.tensor(b, dtype=torch.float64), K3.double())].mean())
        for c, v in itertools.product(range(3), GRID.tolist())
        for b in [[v if k == c else 0.0 for k in range(3)]]
    )
    assert fitted <= single + 1e-12
    # the true posterior needs no bias out of fold
    calibrated = fit_cost_bias(true, y, K3, n_boot=0)
    assert calibrated.crossfit_cost >= calibrated.raw_cost - 0.02


@pytest.mark.parametrize("objective", ["f1", "balanced_accuracy", "recall", "expected_cost"])
def test_bootstrap_scorer_agrees_with_the_tuner(objective):
    from acwa.posthoc._threshold import _score_at

    g = torch.Generator().manual_seed(8)
    z = torch.randn(200, generator=g, dtype=torch.float64)
    y = torch.bernoulli(torch.sigmoid(2 * z), generator=g).long()
    kw: dict = {"target_recall": 0.6} if objective == "recall" else {}
    costs = (1.0, 3.0) if objective == "expected_cost" else (1.0, 1.0)
    if objective == "expected_cost":
        kw["costs"] = costs
    r = tune_threshold(z, y, objective, n_boot=0, **kw)
    assert _score_at(z, y, r.threshold, objective, kw.get("target_recall", 1.0), costs) == pytest.approx(r.score)
