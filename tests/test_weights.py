"""acwa.weights against hand computations, its bad-input errors, and property tests over random counts."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from acwa.weights import (
    class_counts,
    class_weights,
    effective_number,
    inverse_frequency,
    median_frequency,
    normalize_weights,
    pos_weight,
)


def close(t, values):
    torch.testing.assert_close(t, torch.tensor(values, dtype=t.dtype), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- class_counts
def test_class_counts_matches_numpy_bincount_for_tensors_arrays_and_lists():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 7, (2_000_000,), generator=g)
    expected = np.bincount(y.numpy(), minlength=9)
    counts = class_counts(y, 9)
    assert counts.dtype == torch.long and counts.shape == (9,)
    assert counts.tolist() == expected.tolist()  # classes 7 and 8 absent -> 0
    assert class_counts(y.numpy().astype(np.int32), 9).tolist() == expected.tolist()
    assert class_counts([0, 2, 2, 1, 2], 3).tolist() == [1, 1, 3]
    assert class_counts(torch.tensor([[0, 1], [1, -100]]), 2, ignore_index=-100).tolist() == [1, 2]
    assert class_counts(torch.tensor([], dtype=torch.long), 3).tolist() == [0, 0, 0]


def test_class_counts_bad_labels():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), found 3"):
        class_counts([0, 1, 3], 3)
    with pytest.raises(ValueError, match="found -1"):
        class_counts([0, -1], 3)
    with pytest.raises(ValueError, match="integer class indices"):
        class_counts(torch.tensor([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        class_counts([0, 0], 1)


# ----------------------------------------------------------------------------- formulas
def test_inverse_frequency_hand_values():
    n = [1, 4, 16]
    # raw 1/n = [1, 1/4, 1/16] = [16, 4, 1]/16; sum_to_C: 3 * [16, 4, 1] / 21
    close(inverse_frequency(n), [16 / 7, 4 / 7, 1 / 7])
    close(inverse_frequency(n, normalize=None), [1.0, 0.25, 0.0625])
    # sqrt: [1, 1/2, 1/4] -> 3 * [4, 2, 1] / 7
    close(inverse_frequency(n, power=0.5), [12 / 7, 6 / 7, 3 / 7])
    close(class_weights(n, "sqrt_inverse"), [12 / 7, 6 / 7, 3 / 7])
    # mean_one: sum_c pi_c w_c = 1 with pi = n / 21: raw / (3/21) = [7, 7/4, 7/16]
    w = inverse_frequency(n, normalize="mean_one")
    close(w, [7.0, 1.75, 0.4375])
    pi = torch.tensor(n, dtype=torch.float32) / 21
    assert float((pi * w).sum()) == pytest.approx(1.0)
    close(inverse_frequency(n, power=0), [1.0, 1.0, 1.0])
    # cap after normalisation
    close(inverse_frequency(n, max_weight=2.0), [2.0, 4 / 7, 1 / 7])


def test_effective_number_hand_values():
    n = [1, 2, 3]
    # beta = 0.5: 1 - 0.5^n = [1/2, 3/4, 7/8]; raw = 0.5 / that = [1, 2/3, 4/7]
    close(effective_number(n, beta=0.5, normalize=None), [1.0, 2 / 3, 4 / 7])
    # sum = 47/21 -> 3 * 21/47 * [1, 2/3, 4/7] = [63, 42, 36] / 47
    close(effective_number(n, beta=0.5), [63 / 47, 42 / 47, 36 / 47])
    close(effective_number(n, beta=0.0), [1.0, 1.0, 1.0])
    # default beta 0.9999 on large counts: 1 - beta^n computed accurately
    big = [50_000, 500, 5]
    expected = np.array([(1 - 0.9999) / (1 - 0.9999**k) for k in big])
    expected = expected * 3 / expected.sum()
    torch.testing.assert_close(effective_number(big), torch.tensor(expected, dtype=torch.float32))
    # beta -> 1 approaches inverse frequency
    torch.testing.assert_close(effective_number(big, beta=1 - 1e-12), inverse_frequency(big), rtol=1e-4, atol=0)


def test_median_frequency_hand_values():
    # odd number of classes: f = [1, 4, 16]/21, median 4/21 -> w = 4/n
    close(median_frequency([1, 4, 16], normalize=None), [4.0, 1.0, 0.25])
    # even: median of [1, 2, 3, 6]/12 is 2.5/12 -> w = 2.5/n
    close(median_frequency([1, 2, 3, 6], normalize=None), [2.5, 1.25, 2.5 / 3, 2.5 / 6])
    w = median_frequency([1, 4, 16])
    assert float(w.sum()) == pytest.approx(3.0)
    close(w, [4 * 3 / 5.25, 3 / 5.25, 0.25 * 3 / 5.25])


def test_normalisations_and_outputs():
    n = torch.tensor([5.0, 50.0, 500.0, 5000.0], dtype=torch.float64)
    for fn in (inverse_frequency, effective_number, median_frequency):
        w = fn(n)
        assert w.dtype == torch.get_default_dtype() and w.shape == (4,)
        assert float(w.sum()) == pytest.approx(4.0, rel=1e-6)  # default 'sum_to_C'
        w1 = fn(n, normalize="mean_one")
        assert float((n / n.sum() * w1.double()).sum()) == pytest.approx(1.0, rel=1e-6)
        assert bool((w[:-1] > w[1:]).all())  # rarer class, larger weight
        assert float(fn(n, max_weight=1.5).max()) == pytest.approx(1.5)
    close(normalize_weights(torch.tensor([1.0, 3.0]), normalize="sum_to_C").float(), [0.5, 1.5])


def test_zero_count_rules():
    with pytest.raises(ValueError, match=r"needs n_c > 0, but classes \[0\] have 0 samples"):
        inverse_frequency([0, 1, 4])
    with pytest.raises(ValueError, match="zero_counts="):
        effective_number([3, 0, 4])
    with pytest.raises(ValueError, match="0 samples"):
        median_frequency([3, 0, 4])
    # 'zero': raw [0, 1, 1/4] -> sum_to_C: 3/1.25 * raw
    close(inverse_frequency([0, 1, 4], zero_counts="zero"), [0.0, 2.4, 0.6])
    # 'max': raw [1, 1, 1/4] -> 3/2.25 * raw
    close(inverse_frequency([0, 1, 4], zero_counts="max"), [4 / 3, 4 / 3, 1 / 3])
    w = effective_number([0, 5, 10], zero_counts="max")
    assert float(w[0]) == pytest.approx(float(w[1]))
    # median over the non-empty classes only: [1, 4, 16] -> 4/n
    close(median_frequency([1, 0, 4, 16], normalize=None, zero_counts="zero"), [4.0, 0.0, 1.0, 0.25])
    with pytest.raises(ValueError, match="zero_counts must be one of"):
        inverse_frequency([1, 2], zero_counts="skip")


@pytest.mark.parametrize("fn", [inverse_frequency, effective_number, median_frequency])
def test_bad_counts(fn):
    with pytest.raises(ValueError, match=r"class_counts must be >= 0 .* classes \[1\]"):
        fn([3, -1, 2])
    with pytest.raises(ValueError, match="class_counts has 3 entries but there are 4 classes"):
        fn([3, 1, 2], num_classes=4)
    with pytest.raises(ValueError, match="finite"):
        fn([3, float("inf"), 2])
    with pytest.raises(ValueError, match="1-D"):
        fn([[3, 1], [2, 2]])
    with pytest.raises(ValueError, match="at least 2 classes"):
        fn([3])
    with pytest.raises(ValueError, match="all 0"):
        fn([0, 0, 0], zero_counts="zero")
    with pytest.raises(ValueError, match="normalize must be one of"):
        fn([3, 1], normalize="sum_to_one")
    with pytest.raises(ValueError, match="max_weight must be a number > 0"):
        fn([3, 1], max_weight=0)


def test_bad_hyper_parameters():
    for beta in (-0.01, 1.0, 2.0, float("nan")):
        with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
            effective_number([3, 1], beta=beta)
    with pytest.raises(ValueError, match="power must be a finite number >= 0"):
        inverse_frequency([3, 1], power=-1)
    with pytest.raises(ValueError, match="method must be one of"):
        class_weights([3, 1], "balanced")
    with pytest.raises(ValueError, match="fixes power=0.5"):
        class_weights([3, 1], "sqrt_inverse", power=2.0)


def test_counts_keep_device_and_accept_numpy():
    w = inverse_frequency(np.array([10, 20, 40]))
    close(w, [12 / 7, 6 / 7, 3 / 7])
    assert w.device.type == "cpu"


# ----------------------------------------------------------------------------- reliability (issue 17)
def test_extreme_settings_stay_finite_and_zero_sums_are_clear_errors():
    w = inverse_frequency([1, 2, 3, 100], power=200)  # n_c ** -200 underflows float64: log space
    assert bool(torch.isfinite(w).all()) and float(w.sum()) == pytest.approx(4.0)
    close(w, [4.0, 0.0, 0.0, 0.0])
    w = inverse_frequency([5, 10**9], power=50, normalize="mean_one")
    assert bool(torch.isfinite(w).all())
    assert float((torch.tensor([5, 10**9]) / (10**9 + 5) * w.double()).sum()) == pytest.approx(1.0, rel=1e-6)
    assert bool(torch.isfinite(effective_number([1, 10**12], beta=0.999999999)).all())
    with pytest.raises(ValueError, match="weights sum to 0"):
        normalize_weights(torch.zeros(3))
    with pytest.raises(ValueError, match="weights must be a 1-D vector of finite numbers >= 0"):
        normalize_weights(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="finite numbers"):
        normalize_weights(torch.tensor([1.0, float("inf")]))
    close(normalize_weights(torch.zeros(2), normalize=None).float(), [0.0, 0.0])  # nothing to divide by
    # class_counts of no labels: zeros, whatever the empty container's dtype
    for empty in ([], np.array([]), torch.tensor([]), np.zeros(0, dtype=np.int32)):
        assert class_counts(empty, 3).tolist() == [0, 0, 0]


def test_pos_weight_hand_values_and_errors():
    close(pos_weight([900, 100]), [9.0])
    close(pos_weight([[90, 10], [10, 90]]), [9.0, 1 / 9])
    close(pos_weight([[90, 10], [10, 90]], max_weight=5.0), [5.0, 1 / 9])
    close(pos_weight([10, 0], max_weight=7.0), [7.0])
    close(pos_weight([0, 10]), [0.0])
    with pytest.raises(ValueError, match="no positives"):
        pos_weight([10, 0])
    with pytest.raises(ValueError, match=r"\[n_neg, n_pos\]"):
        pos_weight([1, 2, 3])
    with pytest.raises(ValueError, match="finite and >= 0"):
        pos_weight([-1, 2])
    with pytest.raises(ValueError, match="max_weight must be a number > 0"):
        pos_weight([1, 2], max_weight=float("nan"))


counts_strategy = st.lists(st.integers(min_value=0, max_value=10**9), min_size=2, max_size=12).filter(lambda c: any(c))


@settings(max_examples=60, deadline=None)
@given(
    counts=counts_strategy,
    power=st.floats(min_value=0.0, max_value=300.0),
    beta=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    normalize=st.sampled_from(["sum_to_C", "mean_one", None]),
    zero_counts=st.sampled_from(["zero", "max"]),
    cap=st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e3)),
)
def test_weights_are_finite_nonnegative_and_normalised_for_random_counts(
    counts, power, beta, normalize, zero_counts, cap
):
    n = torch.tensor(counts, dtype=torch.float64)
    pi = n / n.sum()
    for fn, kw in (
        (inverse_frequency, {"power": power}),
        (effective_number, {"beta": beta}),
        (median_frequency, {}),
    ):
        w = fn(counts, normalize=normalize, zero_counts=zero_counts, max_weight=cap, **kw).double()
        assert w.shape == (len(counts),)
        assert bool(torch.isfinite(w).all()) and bool((w >= 0).all())
        nonempty = n > 0
        if zero_counts == "zero":
            assert bool((w[~nonempty] == 0).all())
        if cap is not None:
            assert float(w.max()) <= cap * (1 + 1e-6)
            continue
        if normalize == "sum_to_C":
            assert float(w.sum()) == pytest.approx(len(counts), rel=1e-4)
        elif normalize == "mean_one":
            assert float((pi * w).sum()) == pytest.approx(1.0, rel=1e-4)
        # rarer classes never get a smaller weight (all three rules are non-increasing in n_c)
        order = torch.argsort(n[nonempty])
        ws = w[nonempty][order]
        assert bool((ws[:-1] >= ws[1:] * (1 - 1e-5) - 1e-30).all())
        # positive wherever n_c ** -power (raw, and its ratio to the largest) is representable in float32
        if fn is not inverse_frequency or power * math.log(max(counts)) < 80:
            assert bool((w[nonempty] > 0).all())


@settings(max_examples=40, deadline=None)
@given(
    neg=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=6),
    data=st.data(),
)
def test_pos_weight_property(neg, data):
    pos = data.draw(st.lists(st.integers(min_value=1, max_value=10**7), min_size=len(neg), max_size=len(neg)))
    w = pos_weight([neg, pos]).double()
    assert bool(torch.isfinite(w).all()) and bool((w >= 0).all())
    torch.testing.assert_close(w, torch.tensor(neg, dtype=torch.float64) / torch.tensor(pos), rtol=1e-6, atol=0)
