"""Calibration metrics against scikit-learn and float64 loop references; bootstrap intervals."""

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss

from acwa.metrics import (
    bootstrap_interval,
    brier_score,
    classwise_ece,
    log_loss,
    paired_bootstrap,
    reliability_bins,
    top_label_ece,
)


def _loop_ece(conf, outcome, n_bins=15):
    conf, outcome = [float(c) for c in conf], [float(o) for o in outcome]
    N = len(conf)
    order = sorted(range(N), key=lambda i: conf[i])  # stable
    bins = [[] for _ in range(n_bins)]
    for r, i in enumerate(order):
        bins[(r * n_bins) // N].append(i)
    return sum(
        len(b) / N * abs(sum(outcome[i] for i in b) / len(b) - sum(conf[i] for i in b) / len(b)) for b in bins if b
    )


def _multiclass(n=700, C=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(torch.randn(n, C, generator=g, dtype=torch.float64) * 2, 1)
    y = torch.randint(0, C, (n,), generator=g)
    return p, y


def test_brier_and_log_loss_match_sklearn():
    p, y = _multiclass()
    assert np.isclose(log_loss(p, y), sk_log_loss(y.numpy(), p.numpy(), labels=range(5)))
    assert np.isclose(brier_score(p, y), brier_score_loss(y.numpy(), p.numpy(), labels=range(5), scale_by_half=False))
    pb, yb = p[:, 0], (y == 0).long()
    assert np.isclose(log_loss(pb, yb), sk_log_loss(yb.numpy(), pb.numpy()))
    assert np.isclose(brier_score(pb, yb), brier_score_loss(yb.numpy(), pb.numpy()))
    pm, ym = p[:, :3], torch.randint(0, 2, (p.shape[0], 3))
    assert np.isclose(log_loss(pm, ym), np.mean([sk_log_loss(ym[:, j].numpy(), pm[:, j].numpy()) for j in range(3)]))
    assert np.isclose(
        brier_score(pm, ym), np.mean([brier_score_loss(ym[:, j].numpy(), pm[:, j].numpy()) for j in range(3)])
    )


@pytest.mark.parametrize("n", [7, 100, 701])
def test_ece_matches_a_float64_loop(n):
    p, y = _multiclass(n=n, seed=n)
    conf, pred = p.max(1)
    assert np.isclose(top_label_ece(p, y), _loop_ece(conf, pred == y))
    ref = np.mean([_loop_ece(p[:, c], y == c) for c in range(p.shape[1])])
    assert np.isclose(classwise_ece(p, y), ref)
    pb, yb = p[:, 1], (y == 1).long()
    assert np.isclose(classwise_ece(pb, yb), (_loop_ece(pb, yb) + _loop_ece(1 - pb, 1 - yb)) / 2)
    assert np.isclose(classwise_ece(p, y, n_bins=4), np.mean([_loop_ece(p[:, c], y == c, 4) for c in range(5)]))


def test_ece_is_small_when_calibrated_and_large_when_not():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(20000, generator=g, dtype=torch.float64)
    y = torch.bernoulli(p, generator=g).long()
    assert classwise_ece(p, y) < 0.02
    sharp = torch.where(p > 0.5, torch.ones_like(p) * 0.99, torch.ones_like(p) * 0.01)
    assert classwise_ece(sharp, y) > 0.2


def test_reliability_bins_and_errors():
    p, y = _multiclass(n=300)
    bins = reliability_bins(p.max(1).values, (p.argmax(1) == y).double())
    assert sum(bins["count"]) == 300 and len(bins["count"]) == 15
    assert bins["confidence"] == sorted(bins["confidence"])
    with pytest.raises(ValueError, match="sum to 1"):
        log_loss(p * 2 / 3, y)
    with pytest.raises(ValueError, match="outside"):
        brier_score(p, y + 5)
    with pytest.raises(ValueError, match="n_bins"):
        classwise_ece(p, y, n_bins=0)
    with pytest.raises(ValueError, match="multi-label"):
        top_label_ece(p[:, :2], torch.zeros(300, 2))


def test_bootstrap_interval_of_a_mean_is_seeded_and_covers():
    x = np.random.default_rng(0).normal(1.0, 1.0, 400)
    a = bootstrap_interval(np.mean, x, n_boot=500, seed=3)
    b = bootstrap_interval(np.mean, x, n_boot=500, seed=3)
    assert a == b and a.low < a.estimate < a.high and a.contains(1.0)
    se = x.std() / np.sqrt(x.size)
    assert abs((a.high - a.low) - 2 * 1.96 * se) < 0.3 * 2 * 1.96 * se


def test_paired_bootstrap_pairs_the_draws():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    noise = rng.normal(size=500)
    a = (noise + 0.3 * (2 * y - 1) > 0).astype(int)
    b = (noise + 0.2 * (2 * y - 1) > 0).astype(int)

    def acc(p, t):
        return float(np.mean(p == t))

    same = paired_bootstrap(acc, a, a.copy(), y, n_boot=200)
    assert same.low == same.high == same.estimate == 0.0
    diff = paired_bootstrap(acc, a, b, y, n_boot=400, seed=0)
    assert np.isclose(diff.estimate, acc(a, y) - acc(b, y))
    ia, ib = (bootstrap_interval(acc, p, y, n_boot=400) for p in (a, b))
    assert diff.high - diff.low < 0.5 * ((ia.high - ia.low) + (ib.high - ib.low))  # pairing cancels shared noise
    # over seeds: the estimate is the mean of the within-seed differences
    two = paired_bootstrap(acc, [a, a[:250]], [b, b[:250]], [y, y[:250]], n_boot=100)
    assert np.isclose(two.estimate, np.mean([acc(a, y) - acc(b, y), acc(a[:250], y[:250]) - acc(b[:250], y[:250])]))
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap(acc, a, b, y, n_boot=1)
    with pytest.raises(ValueError, match="same number of seeds"):
        paired_bootstrap(acc, [a], [b, b], [y])
