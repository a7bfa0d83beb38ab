"""Reliability of sampling, AutoBalance and posthoc inputs (issue 17, parts 6 and 7): one
regression test per defect class, and hypothesis property tests for the samplers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acwa.posthoc import cross_fitted_logits, fit_class_bias
from acwa.sampling import ClassBalancedSampler, RandomOverSampler
from acwa.sampling.samplers import _alias_table, class_sampling_probabilities
from acwa.splits import stratified_folds, stratified_split


# ----------------------------------------------------------------------------- regressions
def test_extreme_q_gives_finite_probabilities_not_uniform_draws():
    counts = torch.tensor([1000, 100, 10, 1])
    for q in (-1000.0, -50.0, 0.0, 1.0, 60.0, 1000.0):
        pi = class_sampling_probabilities(counts, q)
        assert bool(torch.isfinite(pi).all()) and float(pi.sum()) == pytest.approx(1.0)
        # float64 reference in log space: pi_c ∝ n_c^(1-q)
        logp = (1 - q) * torch.log(counts.double())
        torch.testing.assert_close(pi, torch.softmax(logp, 0))
    # q = -1000: all mass on the largest class (the exact limit), never uniform
    s = ClassBalancedSampler([0] * 1000 + [1] * 100 + [2] * 10 + [3], q=-1000, num_samples=500)
    assert set(s.sample_indices().tolist()) <= set(range(1000))


def test_nan_shrinkage_is_rejected_at_construction():
    for bad in (float("nan"), float("inf"), -1.0, True, {0: float("nan")}):
        with pytest.raises(ValueError, match="shrinkage"):
            RandomOverSampler(shrinkage=bad)
    X = torch.randn(30, 3)
    y = torch.tensor([0] * 25 + [1] * 5)
    Xr, yr = RandomOverSampler(shrinkage=np.float64(1.0), random_state=0).fit_resample(X, y)
    assert bool(torch.isfinite(Xr).all()) and int((yr == 1).sum()) == 25


def test_many_classes_draw_and_the_alias_table_is_built_once(monkeypatch):
    import acwa.sampling.samplers as samplers_module

    builds: list[int] = []
    build = samplers_module._alias_table
    monkeypatch.setattr(samplers_module, "_alias_table", lambda pi: builds.append(len(pi)) or build(pi))
    C = 1_000_000
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, C, (C,), generator=g)
    s = ClassBalancedSampler(labels, q=0.5, num_classes=C, num_samples=1000)
    first = s.sample_indices()
    for e in range(3):
        assert not torch.equal(s.sample_indices(epoch=e + 1), first)
    assert builds == [C]  # the table is built once for a fixed q
    assert first.min() >= 0 and first.max() < C
    sparse = ClassBalancedSampler([0, 3_000_000])  # two samples, 3M classes
    assert set(sparse.sample_indices().tolist()) <= {0, 1}


def test_posthoc_and_splits_reject_what_they_would_mishandle():
    z = torch.randn(20, 3)
    y = torch.arange(20) % 3
    with pytest.raises(ValueError, match="max_iter"):
        fit_class_bias(z, y, max_iter=0)
    with pytest.raises(ValueError, match="integer class ids"):
        cross_fitted_logits(lambda tr, ho: torch.zeros(len(ho), 3), y.float(), num_folds=2)
    with pytest.raises(ValueError, match="non-integer floats"):
        stratified_split(torch.tensor([0.5, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(y, val_fraction=float("nan"))

    def ragged(tr, ho):  # a fold model that lost a class column
        return torch.zeros(len(ho), 3 if 0 in ho.tolist() else 2)

    with pytest.raises(ValueError, match="every fold model must output all C classes"):
        cross_fitted_logits(ragged, y, num_folds=2)
    with pytest.raises(ValueError, match="NaN"):
        cross_fitted_logits(lambda tr, ho: torch.full((len(ho), 3), float("nan")), y, num_folds=2)


# ----------------------------------------------------------------------------- properties
labels_strategy = st.lists(st.integers(0, 7), min_size=2, max_size=300)
q_strategy = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=labels_strategy, q=q_strategy)
def test_probabilities_are_finite_and_follow_the_formula(labels, q):
    counts = torch.bincount(torch.tensor(labels), minlength=8)
    pi = class_sampling_probabilities(counts, q)
    assert bool(torch.isfinite(pi).all()) and float(pi.sum()) == pytest.approx(1.0, abs=1e-9)
    assert bool((pi[counts == 0] == 0).all())
    present = counts > 0
    logw = (1 - q) * torch.log(counts[present].double())
    torch.testing.assert_close(pi[present], torch.softmax(logw, 0), rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(pi=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=64))
def test_alias_table_encodes_random_distributions(pi):
    t = torch.tensor(pi, dtype=torch.float64)
    if float(t.sum()) <= 0:
        t[0] = 1.0
    t = t / t.sum()
    prob, alias = _alias_table(t)
    implied = prob.clone().index_add_(0, alias, 1.0 - prob)
    assert torch.allclose(implied / t.numel(), t, atol=1e-12)
    assert bool((prob >= 0).all() and (prob <= 1).all()) and bool((implied[t == 0] == 0).all())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    labels=st.lists(st.integers(0, 5), min_size=2, max_size=200),
    q=st.floats(-2.0, 2.0, allow_nan=False),
    replacement=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_class_histogram_within_tolerance(labels, q, replacement, seed):
    y = torch.tensor(labels)
    m = 4000
    s = ClassBalancedSampler(y, q=q, num_samples=m, replacement=replacement, seed=seed, num_classes=6)
    pi = s.class_probabilities()
    drawn = torch.bincount(y[s.sample_indices()], minlength=6).double()
    if replacement:  # multinomial: 5 standard deviations per class
        sd = torch.sqrt(m * pi * (1 - pi))
        assert bool(((drawn - m * pi).abs() <= 5 * sd + 1).all()), (drawn.tolist(), (m * pi).tolist())
    else:  # exact quotas by largest remainder
        assert bool(((drawn - m * pi).abs() < 1.0 + 1e-9).all())
    assert bool((drawn[torch.bincount(y, minlength=6) == 0] == 0).all())


@settings(max_examples=30, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=6, max_size=120), k=st.integers(2, 5), seed=st.integers(0, 99))
def test_stratified_folds_are_balanced(labels, k, seed):
    y = np.array(labels)
    if k > y.size:
        return
    folds = stratified_folds(y, num_folds=k, seed=seed)
    sizes = np.bincount(folds, minlength=k)
    assert sizes.max() - sizes.min() <= 1
    for c in np.unique(y):
        per = np.bincount(folds[y == c], minlength=k)
        assert per.max() - per.min() <= 1
        if (y == c).sum() >= 2:  # every fold keeps a training sample of c
            assert all(((y == c) & (folds != f)).any() for f in range(k))
    assert not math.isnan(float(sizes.mean()))
