"""Conformance suite of the sigmoid family (binary one-logit and multi-label losses).

The same contract as tests/test_losses.py, for logits [N] / [N, 1] / [N, L]: every loss
against an independent float64 reference (explicit exp/log formulas), for every reduction,
with per-label weights, per-sample weights and ignored entries; gradients finite and equal to
the reference's; label dtypes int, bool and float; bad input raises ValueError.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from acwa.losses import (
    REDUCTIONS,
    SIGMOID_LOSS_NAMES,
    AsymmetricLoss,
    BinaryCrossEntropyLoss,
    BinaryLogitAdjustedLoss,
    DistributionBalancedLoss,
    LogitAdjustedLoss,
    SigmoidFocalLoss,
    asymmetric_loss,
    binary_cross_entropy,
    binary_logit_adjusted_loss,
    distribution_balanced_loss,
    make_loss,
    sigmoid_focal_loss,
)
from acwa.weights import label_neg_pos_counts, pos_weight

IGNORE = -100
L = 4
NEG_POS = [[90.0, 60.0, 140.0, 148.0], [60.0, 90.0, 10.0, 2.0]]  # [2, L], N = 150 samples
BIN_COUNTS = [95.0, 5.0]
LABEL_WEIGHT = [0.5, 1.0, 2.0, 3.0]


# ----------------------------------------------------------------------------- references
def sig(z):
    return 1.0 / (1.0 + torch.exp(-z))


def ref_bce(z, y, pw=None):
    pw = torch.ones(()) if pw is None else pw
    return -(pw * y * torch.log(sig(z)) + (1 - y) * torch.log(1 - sig(z)))


def ref_focal(z, y, alpha=0.25, gamma=2.0):
    p = sig(z)
    p_t = p * y + (1 - p) * (1 - y)
    a_t = alpha * y + (1 - alpha) * (1 - y)
    return -a_t * (1 - p_t) ** gamma * torch.log(p_t)


def counts_for(z):
    c = torch.tensor(NEG_POS, dtype=torch.float64)
    return c if z.dim() == 2 else torch.tensor(BIN_COUNTS, dtype=torch.float64).view(2, 1)


def ref_binary_la(z, y, tau=1.3):
    c = counts_for(z)
    prior = c[1] / c.sum(0)
    off = tau * torch.log(prior / (1 - prior))
    return ref_bce(z + (off if z.dim() == 2 else off[0]), y)


def ref_asl(z, y, gp=1.0, gn=4.0, m=0.05):
    p = sig(z)
    pm = torch.clamp(p - m, min=0.0)
    return -(y * (1 - p) ** gp * torch.log(p) + (1 - y) * pm**gn * torch.log(1 - pm))


def ref_db(z, y, lam=2.0, kappa=0.05, alpha=0.1, beta=10.0, mu=0.2, gamma=2.0, balance=2.0):
    """Wu et al. 2020 as in the paper's code (ResampleLoss: rebalance + logit_reg + focal)."""
    c = counts_for(z)
    n_pos, n_train = c[1], c.sum(0)
    yy, zz = (y, z) if z.dim() == 2 else (y.unsqueeze(1), z.unsqueeze(1))
    inv = 1.0 / n_pos
    repeat = (yy * inv).sum(1, keepdim=True)
    ratio = torch.where(repeat > 0, inv / torch.where(repeat > 0, repeat, 1.0), torch.full_like(zz, math.inf))
    w = alpha + torch.where(torch.isinf(ratio), 1.0, 1.0 / (1.0 + torch.exp(-beta * (ratio - mu))))
    bias = -torch.log(n_train / n_pos - 1.0) * kappa / lam
    z2 = torch.where(yy == 1, zz + bias, lam * (zz + bias))
    w2 = torch.where(yy == 1, w, w / lam)
    bce = -(yy * torch.log(sig(z2)) + (1 - yy) * torch.log(1 - sig(z2)))
    out = balance * w2 * (1 - torch.exp(-bce)) ** gamma * bce
    return out if z.dim() == 2 else out.squeeze(1)


PW = [2.0, 0.5, 3.0, 1.5]


@dataclass
class Case:
    name: str
    module: Callable  # (counts, weight, ignore_index, reduction) -> nn.Module
    functional: Callable  # (z, y, counts, weight, ignore_index, reduction, **k) -> Tensor
    ref: Callable  # (z, y) -> float64 per-element values before weights


def _pw(counts):
    return PW if counts.dim() == 2 and counts.shape[1] == L else [PW[0]]


CASES = [
    Case(
        "bce_pos_weight",
        lambda c, w, ii, r: BinaryCrossEntropyLoss(pos_weight=_pw(c), weight=w, ignore_index=ii, reduction=r),
        lambda z, y, c, w, ii, r, **k: binary_cross_entropy(z, y, _pw(c), w, ii, r, **k),
        lambda z, y: ref_bce(z, y, torch.tensor(PW if z.dim() == 2 else PW[0], dtype=torch.float64)),
    ),
    Case(
        "sigmoid_focal",
        lambda c, w, ii, r: SigmoidFocalLoss(weight=w, ignore_index=ii, reduction=r),
        lambda z, y, c, w, ii, r, **k: sigmoid_focal_loss(z, y, 0.25, 2.0, w, ii, r, **k),
        ref_focal,
    ),
    Case(
        "binary_logit_adjusted",
        lambda c, w, ii, r: BinaryLogitAdjustedLoss(c, tau=1.3, weight=w, ignore_index=ii, reduction=r),
        lambda z, y, c, w, ii, r, **k: binary_logit_adjusted_loss(z, y, c, 1.3, w, ii, r, **k),
        ref_binary_la,
    ),
    Case(
        "asl",
        lambda c, w, ii, r: AsymmetricLoss(gamma_pos=1.0, weight=w, ignore_index=ii, reduction=r),
        lambda z, y, c, w, ii, r, **k: asymmetric_loss(z, y, 1.0, 4.0, 0.05, w, ii, r, **k),
        ref_asl,
    ),
    Case(
        "distribution_balanced",
        lambda c, w, ii, r: DistributionBalancedLoss(c, weight=w, ignore_index=ii, reduction=r),
        lambda z, y, c, w, ii, r, **k: distribution_balanced_loss(z, y, c, weight=w, ignore_index=ii, reduction=r, **k),
        ref_db,
    ),
]
IDS = [c.name for c in CASES]
SHAPES = ["binary_N", "binary_N1", "multilabel"]


def make_batch(shape: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n = 12
    if shape == "multilabel":
        z = (torch.rand(n, L, generator=g, dtype=torch.float64) * 2 - 1) * 3
        y = (torch.rand(n, L, generator=g) < 0.4).long()
        y[0] = 0  # a sample without positives
        y[1, 1] = IGNORE
        y[5, 3] = IGNORE
        return z, y, torch.tensor(NEG_POS)
    z = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * 3
    y = (torch.rand(n, generator=g) < 0.4).long()
    y[2] = IGNORE
    if shape == "binary_N1":
        z = z.unsqueeze(1)
    return z, y, torch.tensor(BIN_COUNTS)


def label_weight(z):
    w = LABEL_WEIGHT if z.dim() == 2 and z.shape[1] == L else LABEL_WEIGHT[:1]
    return torch.tensor(w)


def ref_reduce(values, y, weight, reduction, sample_weight=None):
    mask = (y != IGNORE).double()
    w = mask * (weight.double() if values.dim() == 2 else weight.double()[0])
    if sample_weight is not None:
        w = w * (sample_weight.double().view(-1, 1) if values.dim() == 2 else sample_weight.double())
    v = values * w
    if reduction == "none":
        return v
    if reduction == "sum":
        return v.sum()
    if reduction == "mean":
        return v.sum() / mask.sum()
    return v.sum() / w.sum()


def flat(z):
    return z.squeeze(1) if z.dim() == 2 and z.shape[1] == 1 else z


def safe(y):
    return torch.where(y == IGNORE, 0, y).double()


# ----------------------------------------------------------------------------- conformance
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_with_weights_and_sample_weights(case, shape, reduction):
    z, y, counts = make_batch(shape)
    w = label_weight(z)
    ref = case.ref(flat(z), safe(y))
    loss = case.module(counts, w, IGNORE, reduction)
    got = loss(z, y)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, ref_reduce(ref, y, w, reduction), rtol=1e-6, atol=1e-8)
    sw = torch.rand(y.shape[0], generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.5
    expected = ref_reduce(ref, y, w, reduction, sw)
    torch.testing.assert_close(loss(z, y, sample_weight=sw), expected, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(case.functional(z, y, counts, w, IGNORE, reduction, sample_weight=sw), expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("shape", ["binary_N", "multilabel"])
def test_gradients_finite_and_match_reference(case, shape):
    z, y, counts = make_batch(shape, seed=2)
    w = label_weight(z)
    z = z.requires_grad_(True)
    case.module(counts, w, IGNORE, "mean")(z, y).backward()
    z_ref = z.detach().clone().requires_grad_(True)
    ref_reduce(case.ref(z_ref, safe(y)), y, w, "mean").backward()
    assert torch.isfinite(z.grad).all()
    torch.testing.assert_close(z.grad, z_ref.grad, rtol=1e-6, atol=1e-9)
    # saturated float32 logits: finite loss and gradients
    big = torch.tensor([[80.0, -80.0, 0.0, 30.0]] * 3, requires_grad=True)
    yb = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
    out = case.module(torch.tensor(NEG_POS), None, IGNORE, "sum")(big, yb)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(big.grad).all()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_binary_label_dtypes_and_ignored_entries(case):
    z, y, counts = make_batch("binary_N", seed=3)
    keep = y != IGNORE
    zk, yk = z[keep], y[keep]
    loss = case.module(counts, None, IGNORE, "none")
    base = loss(zk, yk)
    assert base.shape == yk.shape
    torch.testing.assert_close(loss(zk, yk.bool()), base)
    torch.testing.assert_close(loss(zk, yk.double()), base)
    torch.testing.assert_close(loss(zk.unsqueeze(1), yk), base)
    values = loss(z, y)
    assert bool((values[~keep] == 0).all()) and bool((values[keep] > 0).all())
    loss.reduction = "mean"
    torch.testing.assert_close(loss(z, y), values.sum() / keep.sum())
    for r in REDUCTIONS:  # everything ignored: finite, not NaN
        loss.reduction = r
        assert torch.isfinite(loss(z, torch.full_like(y, IGNORE))).all()


def test_every_sigmoid_factory_name_is_covered_and_defaults():
    built = {type(make_loss(n, class_counts=NEG_POS)) for n in SIGMOID_LOSS_NAMES}
    assert built == {type(c.module(torch.tensor(NEG_POS), None, IGNORE, "mean")) for c in CASES}
    f = make_loss("sigmoid_focal")
    assert (f.alpha, f.gamma) == (0.25, 2.0)  # torchvision.ops.sigmoid_focal_loss defaults
    a = make_loss("asl")
    assert (a.gamma_pos, a.gamma_neg, a.clip) == (0.0, 4.0, 0.05)  # Ridnik et al. 2021
    db = make_loss("db", class_counts=NEG_POS)
    assert (db.neg_scale, db.map_alpha, db.map_beta, db.map_gamma, db.gamma, db.balance) == (
        2.0,
        0.1,
        10.0,
        0.2,
        2.0,
        2.0,
    )
    for n in SIGMOID_LOSS_NAMES:
        assert make_loss(n, class_counts=NEG_POS).reduction == "mean"


# ----------------------------------------------------------------------------- relations
def test_bce_equals_torch_bce_with_logits_and_pos_weight_from_counts():
    z, y, _ = make_batch("multilabel", seed=4)
    y = safe(y)
    pw = torch.tensor(PW, dtype=torch.float64)
    torch.testing.assert_close(
        BinaryCrossEntropyLoss(pos_weight=pw)(z, y), nn.BCEWithLogitsLoss(pos_weight=pw)(z, y), rtol=1e-12, atol=0
    )
    torch.testing.assert_close(pos_weight([950, 50]), torch.tensor([19.0]))
    torch.testing.assert_close(pos_weight(NEG_POS), torch.tensor([1.5, 60 / 90, 14.0, 74.0]))
    torch.testing.assert_close(pos_weight(NEG_POS, max_weight=20.0), torch.tensor([1.5, 60 / 90, 14.0, 20.0]))
    labels = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 0]])
    torch.testing.assert_close(pos_weight(label_neg_pos_counts(labels)), torch.tensor([3.0, 3.0]))
    built = make_loss("bce", class_counts=NEG_POS, weighting="pos_weight")
    torch.testing.assert_close(built.pos_weight, pos_weight(NEG_POS))


def test_binary_logit_adjustment_equals_two_logit_softmax_adjustment():
    z, y, _ = make_batch("binary_N", seed=5)
    keep = y != IGNORE
    z, y = z[keep], y[keep]
    two = torch.stack([torch.zeros_like(z), z], dim=1)
    for tau in (0.0, 1.0, 2.5):
        torch.testing.assert_close(
            BinaryLogitAdjustedLoss(BIN_COUNTS, tau=tau)(z, y), LogitAdjustedLoss(BIN_COUNTS, tau=tau)(two, y)
        )
    # tau = 0 is BCE; gamma=0, alpha=None focal is BCE
    torch.testing.assert_close(BinaryLogitAdjustedLoss(BIN_COUNTS, tau=0.0)(z, y), BinaryCrossEntropyLoss()(z, y))
    torch.testing.assert_close(SigmoidFocalLoss(alpha=None, gamma=0.0)(z, y), BinaryCrossEntropyLoss()(z, y))


def test_asl_and_db_special_cases():
    z, y, _ = make_batch("multilabel", seed=6)
    y = safe(y)
    bce = BinaryCrossEntropyLoss()(z, y)
    torch.testing.assert_close(AsymmetricLoss(gamma_pos=0.0, gamma_neg=0.0, clip=0.0)(z, y), bce)
    # DB without re-weighting map (beta=0 -> sigmoid(0) = 0.5, alpha=0.5: weight 1), without
    # negative-tolerant scaling (lambda=1, kappa=0) and without focal (gamma=0, balance=1) is BCE
    plain = DistributionBalancedLoss(
        NEG_POS, neg_scale=1.0, init_bias=0.0, map_alpha=0.5, map_beta=0.0, gamma=0.0, balance=1.0
    )
    torch.testing.assert_close(plain(z, y), bce)


# ----------------------------------------------------------------------------- bad input
def test_bad_sigmoid_inputs_are_clear_value_errors():
    z = torch.randn(6)
    with pytest.raises(ValueError, match="labels must be binary labels with values 0 or 1, found 2"):
        make_loss("bce")(z, torch.tensor([0, 1, 2, 0, 1, 0]))
    with pytest.raises(ValueError, match="one logit per sample"):
        make_loss("sigmoid_focal")(z, torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="multi-hot matrix with values 0 or 1"):
        make_loss("asl")(torch.randn(3, 4), torch.tensor([[0, 1, 3, 0]] * 3))
    with pytest.raises(ValueError, match=r"\[N, L\]"):
        make_loss("asl")(torch.randn(3, 4), torch.tensor([0, 1, 3]))
    with pytest.raises(ValueError, match="pos_weight must be a 1-D per-class vector with 1 entries"):
        BinaryCrossEntropyLoss(pos_weight=PW)(z, torch.zeros(6))
    with pytest.raises(ValueError, match="pos_weight must be >= 0"):
        BinaryCrossEntropyLoss(pos_weight=-1.0)
    with pytest.raises(ValueError, match=r"n_neg > 0 and n_pos > 0"):
        BinaryLogitAdjustedLoss([10, 0])
    with pytest.raises(ValueError, match=r"\[n_neg, n_pos\]"):
        DistributionBalancedLoss([10, 5, 3])
    with pytest.raises(ValueError, match="needs class_counts"):
        make_loss("db")
    with pytest.raises(ValueError, match="alpha must be in"):
        SigmoidFocalLoss(alpha=1.5)
    with pytest.raises(ValueError, match="gamma_neg must be"):
        AsymmetricLoss(gamma_neg=float("inf"))
    with pytest.raises(ValueError, match="clip must be"):
        AsymmetricLoss(clip=1.0)
    with pytest.raises(ValueError, match="weighting must be one of \\['pos_weight'\\]"):
        make_loss("bce", class_counts=NEG_POS, weighting="inverse")
    with pytest.raises(ValueError, match="no positives"):
        pos_weight([10, 0])
    torch.testing.assert_close(pos_weight([10, 0], max_weight=50.0), torch.tensor([50.0]))


# ----------------------------------------------------------------------------- with ACWATrainer
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("shape", ["binary_N", "multilabel"])
def test_works_as_acwa_trainer_loss_fn_through_sample_weight(case, shape):
    from acwa import ACWATrainer

    z, y, counts = make_batch(shape, seed=7)
    keep = (y != IGNORE).all(dim=-1) if y.dim() == 2 else y != IGNORE
    z, y = z[keep].float(), y[keep]
    loss_fn = case.module(counts, None, IGNORE, "mean")
    task = "binary" if shape == "binary_N" else "multilabel"
    trainer = ACWATrainer(task=task, num_classes=None if task == "binary" else L, loss_fn=loss_fn)
    z.requires_grad_(True)
    out = trainer.get_weighted_loss(z, y)
    assert loss_fn.reduction == "mean"  # never mutated
    torch.testing.assert_close(out, loss_fn(z, y))  # initial ACWA weights are 1
    out.backward()
    assert torch.isfinite(z.grad).all()
    # non-uniform ACWA weights reach the loss as per-element sample weights: sum_i s_i l_i / N
    k = trainer.weights.numel()
    trainer.controller.weights.copy_(torch.linspace(0.5, 2.0, k))
    s = trainer.task.sample_weight(trainer.weights, y)
    loss_fn.reduction = "none"
    per = loss_fn(z.detach(), y)
    loss_fn.reduction = "mean"
    torch.testing.assert_close(trainer.get_weighted_loss(z.detach(), y), (s * per).sum() / per.numel())
