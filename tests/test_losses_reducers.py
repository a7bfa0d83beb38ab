"""The one reducer (acwa.losses.reducers) and the loss template's shared checks, against hand values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from acwa.losses import LOSS_NAMES, REDUCTIONS, SIGMOID_LOSS_NAMES, BaseLoss, check_reduction, make_loss, reduce_values
from acwa.losses.base import LossBatch
from acwa.weights import label_neg_pos_counts

V = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
W = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
M = torch.tensor([True, True, False, True])


def test_reduce_values_hand_values():
    # v = l * w * counted = [0.5, 2, 0, 16]
    torch.testing.assert_close(reduce_values(V, "none", W, M), torch.tensor([0.5, 2.0, 0.0, 16.0], dtype=torch.float64))
    assert float(reduce_values(V, "sum", W, M)) == pytest.approx(18.5)
    assert float(reduce_values(V, "mean", W, M)) == pytest.approx(18.5 / 3)  # N_counted, not the weight sum
    assert float(reduce_values(V, "weighted_mean", W, M)) == pytest.approx(18.5 / 5.5)
    # defaults: every element counted, weight 1
    assert float(reduce_values(V)) == pytest.approx(2.5)
    assert float(reduce_values(V, "weighted_mean")) == pytest.approx(2.5)
    assert float(reduce_values(V, "mean", W)) == pytest.approx((0.5 + 2 + 6 + 16) / 4)


def test_reduce_values_leading_dim_weights_and_empty_batches():
    values = torch.arange(6, dtype=torch.float64).view(3, 2)
    w = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)  # one weight per sample, values [N, L]
    torch.testing.assert_close(reduce_values(values, "none", w), values * w.view(3, 1))
    counted = torch.tensor([True, False, True])
    assert float(reduce_values(values, "mean", None, counted)) == pytest.approx((0 + 1 + 4 + 5) / 4)
    with pytest.raises(ValueError, match=r"sample_weight must broadcast .* got shape \(4,\)"):
        reduce_values(values, "mean", torch.ones(4))
    empty = torch.zeros(0)
    for r in ("mean", "sum", "weighted_mean"):
        assert float(reduce_values(empty, r)) == 0.0
        assert float(reduce_values(V, r, torch.zeros(4, dtype=torch.float64))) == 0.0  # 0/0 -> 0, not NaN


def test_reduction_is_validated_in_one_place_with_the_choices():
    with pytest.raises(ValueError, match=r"reduction must be one of \['none', 'mean', 'sum', 'weighted_mean'\]"):
        check_reduction("avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        reduce_values(V, "avg")
    for name in LOSS_NAMES:
        with pytest.raises(ValueError, match="reduction must be one of"):
            make_loss(name, class_counts=[5, 3, 2], reduction="avg")
    # reduction stays a plain attribute: foreign code may set it, and a bad value is caught at forward
    loss = make_loss("ce")
    loss.reduction = "avg"
    with pytest.raises(ValueError, match="reduction must be one of"):
        loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    assert REDUCTIONS == ("none", "mean", "sum", "weighted_mean")


def test_the_template_only_needs_per_element():
    class Hinge(BaseLoss):
        """A new loss written against the template: only per_element."""

        def per_element(self, batch: LossBatch) -> torch.Tensor:
            z_y = batch.logits.gather(1, batch.target.unsqueeze(1)).squeeze(1)
            return (1.0 - z_y).clamp_min(0.0)

    z = torch.tensor([[0.2, 0.9], [2.0, -1.0], [0.0, 0.0]])
    y = torch.tensor([1, 0, -100])
    loss = Hinge(weight=[1.0, 3.0], reduction="mean")
    assert float(loss(z, y)) == pytest.approx((0.1 * 3.0 + 0.0) / 2)
    assert float(loss(z, y, sample_weight=torch.tensor([2.0, 1.0, 5.0]))) == pytest.approx(0.6 / 2)
    with pytest.raises(ValueError, match=r"target must lie in \[0, 2\)"):
        loss(z, torch.tensor([1, 2, 0]))
    assert isinstance(loss, nn.Module)


@pytest.mark.parametrize("name", LOSS_NAMES + SIGMOID_LOSS_NAMES)
def test_every_loss_traces_as_one_graph_with_value_checks_off(name):
    """The per-step path is host-sync free: torch.compile(fullgraph=True) traces it (validate=False)."""
    torch._dynamo.reset()
    w = torch.rand(16)
    if name in SIGMOID_LOSS_NAMES:
        z, y = torch.randn(16, 3), (torch.rand(16, 3) > 0.5).long()
        y[0, 0] = -100
        loss = make_loss(name, class_counts=label_neg_pos_counts(y.clamp_min(0)) + 1, validate=False)
        inputs = [(z, y)]
    else:
        z, y = torch.randn(16, 5), torch.randint(0, 5, (16,))
        y[3] = -100
        loss = make_loss(name, class_counts=[5, 4, 3, 2, 1], validate=False)
        inputs = [(z, y)] if name == "focal" else [(z, y), (z, torch.softmax(torch.randn(16, 5), 1))]
    compiled = torch.compile(loss, backend="eager", fullgraph=True)
    for x, t in inputs:
        torch.testing.assert_close(compiled(x, t, sample_weight=w), loss(x, t, sample_weight=w))


@pytest.mark.parametrize("name", LOSS_NAMES + SIGMOID_LOSS_NAMES)
def test_state_dict_round_trip_carries_every_count_derived_buffer(name, tmp_path):
    """A loss rebuilt from other counts and loaded from a state_dict computes the same loss;
    the whole module also survives torch.save / torch.load."""
    if name in SIGMOID_LOSS_NAMES:
        z, y = torch.randn(16, 3), (torch.rand(16, 3) > 0.5).long()
        first, other = [[40, 30, 50], [20, 30, 10]], [[5, 5, 5], [1, 2, 3]]
    else:
        z, y = torch.randn(16, 5), torch.randint(0, 5, (16,))
        first, other = [50, 20, 10, 5, 2], [1, 1, 1, 1, 1]
    source = make_loss(name, class_counts=first)
    if name == "parametric":
        source.set_params(iota=torch.linspace(-1, 1, 5), delta=torch.linspace(0.5, 1.5, 5))
    target = make_loss(name, class_counts=other)
    target.load_state_dict(source.state_dict())
    torch.testing.assert_close(target(z, y), source(z, y))
    torch.save(source, tmp_path / "loss.pt")
    loaded = torch.load(tmp_path / "loss.pt", weights_only=False)
    torch.testing.assert_close(loaded(z, y), source(z, y))
