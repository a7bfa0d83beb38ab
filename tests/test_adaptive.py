import math

import pytest
import torch

from acwa.adaptive import AdaptiveClassWeights, acwa_update
from acwa.adaptive import initial_weights as inverse_frequency_init


def test_update_formula_hand_computed_with_clipping():
    w = torch.tensor([1.0, 1.99, 0.505, 1.0])
    metric = torch.tensor([0.5, 0.0, 1.0, 0.85])
    new = acwa_update(w, metric, 0.85, alpha=0.5, beta=0.9, bounds=(0.5, 2.0), mode="max")
    # w + alpha*(1-beta)*(target - metric)
    expected = [1.0 + 0.05 * 0.35, min(2.0, 1.99 + 0.05 * 0.85), max(0.5, 0.505 + 0.05 * -0.15), 1.0]
    assert new.tolist() == pytest.approx(expected)
    assert new[1] == 2.0 and new[2] == 0.5


def test_min_mode_flips_the_error_sign():
    w = torch.ones(2)
    loss_per_class = torch.tensor([0.9, 0.1])
    new = acwa_update(w, loss_per_class, 0.3, alpha=1.0, beta=0.5, mode="min")
    assert new.tolist() == pytest.approx([1.0 + 0.5 * 0.6, 1.0 + 0.5 * -0.2])


def test_absent_classes_keep_their_weight():
    w = torch.tensor([1.2, 0.7, 1.5])
    new = acwa_update(w, torch.tensor([float("nan"), 0.2, float("nan")]), 0.85, 0.02, 0.9)
    assert new[0] == w[0] and new[2] == w[2] and new[1] > w[1]
    assert torch.isfinite(new).all()


def test_per_class_target():
    ctrl = AdaptiveClassWeights(3, target_metric=[0.9, 0.5, 0.1], alpha=1.0, beta=0.0, weight_bounds=(0.0, 10.0))
    ctrl.step(torch.tensor([0.5, 0.5, 0.5]), at_step=1)
    assert ctrl.weights.tolist() == pytest.approx([1.4, 1.0, 0.6])
    assert ctrl.history.shape == (2, 3) and ctrl.history_steps.tolist() == [0, 1]


def test_inverse_frequency_init_is_normalised_and_clipped():
    w = inverse_frequency_init([0.5, 0.25, 0.25], bounds=(0.0, 100.0))
    assert w.mean().item() == pytest.approx(1.0)
    assert w[1].item() == pytest.approx(2 * w[0].item(), rel=1e-4)
    clipped = inverse_frequency_init([0.98, 0.01, 0.01], bounds=(0.5, 2.0))
    assert clipped.min() >= 0.5 and clipped.max() <= 2.0
    # a zero frequency stays finite thanks to eps
    assert torch.isfinite(inverse_frequency_init([1.0, 0.0], bounds=(0.0, math.inf))).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"metric_mode": "maximize"}, "metric_mode"),
        ({"beta": 1.0}, "beta"),
        ({"alpha": -0.1}, "alpha"),
        ({"weight_bounds": (2.0, 0.5)}, "weight_bounds"),
        ({"target_metric": [0.5, 0.5]}, "target_metric"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_controller_arguments(kwargs, match):
    args = {"num_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        AdaptiveClassWeights(**args)


def test_relative_target_uses_the_mean_of_present_classes():
    metric = torch.tensor([0.9, 0.5, float("nan"), 0.7])
    new = acwa_update(torch.ones(4), metric, "mean", alpha=1.0, beta=0.0, bounds=(0.0, 10.0))
    # mean over present = 0.7 -> errors -0.2, 0.2, (skip), 0
    assert new.tolist() == pytest.approx([0.8, 1.2, 1.0, 1.0])


def test_offset_update_mirrors_the_weight_rule():
    from acwa.adaptive import offset_update

    o = torch.tensor([0.0, -1.0, 2.0])
    new = offset_update(o, torch.tensor([0.2, 0.9, float("nan")]), 0.8, alpha=2.0, beta=0.5)
    # o - alpha*(1-beta)*(target - metric)
    assert new.tolist() == pytest.approx([0.0 - 0.6, -1.0 + 0.1, 2.0])


def test_normalised_weights_keep_mean_one():
    ctrl = AdaptiveClassWeights(3, "mean", alpha=1.0, beta=0.0, weight_bounds=(0.1, 10.0), normalize=True)
    ctrl.step(torch.tensor([0.2, 0.5, 0.8]), at_step=1)
    assert ctrl.weights.mean().item() == pytest.approx(1.0)
    assert ctrl.weights[0] > ctrl.weights[1] > ctrl.weights[2]


def test_log_prior_offsets_are_centred_log_frequencies():
    from acwa.adaptive import log_prior_offsets

    o = log_prior_offsets([80, 15, 5], tau=1.0, eps=0.0)
    ref = torch.log(torch.tensor([0.8, 0.15, 0.05]))
    assert o.tolist() == pytest.approx((ref - ref.mean()).tolist(), abs=1e-6)
    with pytest.raises(ValueError, match="class_frequencies"):
        log_prior_offsets([1.0, -1.0])


def test_non_finite_metrics_are_skipped_like_absent_classes():
    for adjust in ("weights", "logits", "both"):
        for target in (0.85, "mean"):
            ctrl = AdaptiveClassWeights(4, target, alpha=1.0, beta=0.0, adjust=adjust, weight_bounds=(0.0, 3.0))
            ctrl.step(torch.tensor([float("inf"), float("nan"), 0.5, -float("inf")]), at_step=1)
            assert torch.isfinite(ctrl.weights).all() and torch.isfinite(ctrl.offsets).all()
            # only class 2 moved; with target 'mean' the mean is over the finite entries (0.5): no move
            moved = (ctrl.history[1] != ctrl.history[0]) | (ctrl.offset_history[1] != ctrl.offset_history[0])
            assert moved.tolist() == [False, False, target != "mean", False]


def test_bounds_apply_at_initialisation_and_zero_sums_stay_finite():
    ctrl = AdaptiveClassWeights(3, weight_bounds=(1.5, 2.0))
    assert ctrl.weights.tolist() == [1.5, 1.5, 1.5]
    ctrl = AdaptiveClassWeights(
        3, 5.0, alpha=100.0, beta=0.0, weight_bounds=(0.0, 2.0), normalize=True, metric_mode="min"
    )
    ctrl.step(torch.tensor([1.0, 1.0, 1.0]), at_step=1)  # every weight driven to the lower bound 0
    assert ctrl.weights.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="alpha"):
        AdaptiveClassWeights(3, alpha=float("inf"))
