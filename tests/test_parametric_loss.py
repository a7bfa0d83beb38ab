"""ParametricCrossEntropyLoss: neutral default, LA init, groups, sharing, gradients, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from acwa.losses import LogitAdjustedLoss, ParametricCrossEntropyLoss, parametric_cross_entropy


def batch(n=12, C=4, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, generator=g, dtype=dtype) * 2, torch.randint(0, C, (n,), generator=g)


def test_default_is_cross_entropy_in_both_parameterisations():
    z, y = batch()
    for transform in ("identity", "sigmoid"):
        loss = ParametricCrossEntropyLoss(4, delta_transform=transform)
        torch.testing.assert_close(loss(z, y), F.cross_entropy(z, y), rtol=0, atol=1e-6)
        torch.testing.assert_close(loss.scale(), torch.ones(4))
    z4, y4 = torch.randn(2, 4, 3, 3), torch.randint(0, 4, (2, 3, 3))
    torch.testing.assert_close(ParametricCrossEntropyLoss(4)(z4, y4), F.cross_entropy(z4, y4), rtol=0, atol=1e-6)


def test_formula_sigmoid_scale_and_la_init():
    z, y = batch(dtype=torch.float64)
    d = torch.tensor([0.5, 1.5, 1.0, 0.2], dtype=torch.float64)
    i = torch.tensor([0.1, -0.3, 0.0, 0.4], dtype=torch.float64)
    w = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    ref = (F.cross_entropy(d * z + i, y, reduction="none") * w[y]).mean()
    for transform in ("identity", "sigmoid"):
        loss = ParametricCrossEntropyLoss(4, delta=d, iota=i, weight=w, delta_transform=transform).double()
        torch.testing.assert_close(loss(z, y), ref)
    loss = ParametricCrossEntropyLoss(4, delta_transform="sigmoid").double()
    loss.set_params(delta=d)
    torch.testing.assert_close(loss.delta.detach(), torch.logit(d / 2))  # raw parameter
    torch.testing.assert_close(loss.scale().detach(), d)
    counts = [40, 20, 5, 1]
    la = ParametricCrossEntropyLoss(4, class_counts=counts, la_tau=1.0)
    torch.testing.assert_close(la(z.float(), y), LogitAdjustedLoss(counts)(z.float(), y))


def test_parameters_are_learnable_settable_and_differentiable():
    z, y = batch(dtype=torch.float64)
    loss = ParametricCrossEntropyLoss(4, learn=("delta", "iota", "weight"), delta=[1.1, 0.9, 1.0, 1.2]).double()
    assert [n for n, _ in loss.named_parameters()] == ["delta", "iota", "weight"]
    assert all(p.requires_grad for p in loss.parameters())
    assert not ParametricCrossEntropyLoss(4).weight.requires_grad  # default learn = delta, iota

    def f(dl, io, wt):
        return parametric_cross_entropy(z, y, dl, io, wt)

    args = tuple(p.detach().clone().requires_grad_(True) for p in loss.parameters())
    assert torch.autograd.gradcheck(f, args)
    loss.set_params(iota=[0.0, 1.0, 0.0, 0.0])
    assert loss.iota[1].item() == 1.0
    assert set(loss.state_dict()) == {"delta", "iota", "weight", "param_index"}


def test_groups_and_sharing():
    z, y = batch(n=10, C=3)
    g = torch.tensor([0, 1] * 5)
    io = torch.tensor([[0.0, 0.5, -0.5], [1.0, 0.0, -1.0]])
    w = torch.tensor([[1.0, 2.0, 3.0], [0.5, 1.0, 4.0]])
    dl = torch.tensor([[1.0, 0.5, 2.0], [1.5, 1.0, 0.7]])
    loss = ParametricCrossEntropyLoss(3, num_groups=2, delta=dl, iota=io, weight=w, reduction="weighted_mean")
    per = F.cross_entropy(dl[g] * z + io[g], y, reduction="none")
    torch.testing.assert_close(loss(z, y, g), (per * w[g, y]).sum() / w[g, y].sum())
    shared = ParametricCrossEntropyLoss(3, param_index=[0, 1, 1], iota=[0.3, -0.3])
    torch.testing.assert_close(shared(z, y), F.cross_entropy(z + torch.tensor([0.3, -0.3, -0.3]), y))
    with pytest.raises(ValueError, match="pass group="):
        loss(z, y)
    with pytest.raises(ValueError, match="shape \\[N\\] = \\[10\\]"):
        loss(z, y, g[:9])
    with pytest.raises(ValueError, match=r"group ids must lie in \[0, 2\)"):
        loss(z, y, g + 1)
    with pytest.raises(ValueError, match="num_groups=None"):
        ParametricCrossEntropyLoss(3)(z, y, g)


def test_bad_input():
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        ParametricCrossEntropyLoss(1)
    with pytest.raises(ValueError, match="delta_transform must be one of"):
        ParametricCrossEntropyLoss(3, delta_transform="exp")
    with pytest.raises(ValueError, match=r"must lie in \(0, 2\)"):
        ParametricCrossEntropyLoss(3, delta=[1.0, 2.5, 1.0], delta_transform="sigmoid")
    with pytest.raises(ValueError, match="iota must have shape \\[3\\]"):
        ParametricCrossEntropyLoss(3, iota=[0.0, 1.0])
    with pytest.raises(ValueError, match="needs both class_counts and la_tau"):
        ParametricCrossEntropyLoss(3, la_tau=1.0)
    with pytest.raises(ValueError, match="param_index must use every slot"):
        ParametricCrossEntropyLoss(3, param_index=[0, 2, 2])
    with pytest.raises(ValueError, match="learn must name"):
        ParametricCrossEntropyLoss(3, learn=("tau",))
    with pytest.raises(ValueError, match="weight must be finite"):
        ParametricCrossEntropyLoss(3, weight=[1.0, float("nan"), 1.0])
    z, y = batch(C=3)
    with pytest.raises(ValueError, match="built for 4"):
        ParametricCrossEntropyLoss(4)(z, y)


def test_loaded_param_index_decides_slot_sharing_and_sample_weight():
    plain = ParametricCrossEntropyLoss(3, iota=[0.1, 0.2, 0.3])
    shared = ParametricCrossEntropyLoss(3, param_index=[0, 2, 1], iota=[0.1, 0.2, 0.3])
    plain.load_state_dict(shared.state_dict())
    torch.testing.assert_close(plain.effective()[1].detach(), torch.tensor([0.1, 0.3, 0.2]))
    z, y = batch(C=3)
    torch.testing.assert_close(plain(z, y), shared(z, y))
    # per-sample weights enter before the 'mean' reduction; group stays a keyword (or the former 3rd argument)
    w = torch.linspace(0.5, 2.0, 12)
    per = F.cross_entropy(z + torch.tensor([0.1, 0.3, 0.2]), y, reduction="none")
    torch.testing.assert_close(plain(z, y, sample_weight=w), (w * per).mean())
    grouped = ParametricCrossEntropyLoss(3, num_groups=2, iota=[[0.0, 1.0, 0.0], [0.5, 0.0, 0.0]])
    g = torch.tensor([0, 1] * 6)
    torch.testing.assert_close(grouped(z, y, group=g), grouped(z, y, g))
    grouped.reduction = "none"
    per_g = grouped(z, y, group=g)
    grouped.reduction = "mean"
    torch.testing.assert_close(grouped(z, y, sample_weight=w, group=g), (w * per_g).mean())
