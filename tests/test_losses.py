"""One conformance suite run against every loss in acwa.losses, plus per-loss checks.

References are written independently of the library: explicit exp/sum softmax in float64,
one-hot masks, and hand-computed class weights / margins / offsets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from acwa import ACWATrainer
from acwa.losses import (
    LOSS_NAMES,
    REDUCTIONS,
    BalancedSoftmaxLoss,
    ClassBalancedLoss,
    DeferredReweighting,
    FocalLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    NormedLinear,
    ParametricCrossEntropyLoss,
    VSLoss,
    WeightedCrossEntropyLoss,
    balanced_softmax_loss,
    class_balanced_loss,
    drw_weights,
    focal_loss,
    ldam_loss,
    logit_adjust,
    logit_adjusted_loss,
    make_loss,
    parametric_cross_entropy,
    vs_loss,
    weighted_cross_entropy,
)

IGNORE = -100
COUNTS = [400.0, 120.0, 30.0, 6.0, 2.0]
C = len(COUNTS)
USER_WEIGHT = [0.5, 1.0, 1.5, 2.0, 3.0]


# ----------------------------------------------------------------------------- references
def ref_log_softmax(z: torch.Tensor) -> torch.Tensor:
    """log softmax over dim 1 from exp/sum (float64)."""
    z = z.double()
    zmax = z.max(dim=1, keepdim=True).values
    e = torch.exp(z - zmax)
    return (z - zmax) - torch.log(e.sum(dim=1, keepdim=True))


def onehot(y: torch.Tensor, c: int) -> torch.Tensor:
    safe = torch.where(y == IGNORE, torch.zeros_like(y), y)
    return F.one_hot(safe, c).movedim(-1, 1).double()


def bc(v, z):
    """per-class list -> float64 tensor shaped [1, C, 1, ...] for z."""
    return torch.tensor(v, dtype=torch.float64).view((1, -1) + (1,) * (z.dim() - 2))


def ref_ce(z, y):
    return -(onehot(y, z.shape[1]) * ref_log_softmax(z)).sum(1)


def pick(v, y):
    """per-class list v indexed by target (ignored -> index 0)."""
    safe = torch.where(y == IGNORE, torch.zeros_like(y), y)
    return torch.tensor(v, dtype=torch.float64)[safe]


def ref_reduce(l, y, weight, reduction, sample_weight=None):
    mask = (y != IGNORE).double()
    w = (pick(weight, y) if weight is not None else torch.ones_like(l)) * mask
    if sample_weight is not None:
        w = w * sample_weight.double()
    v = l * w
    if reduction == "none":
        return v
    if reduction == "sum":
        return v.sum()
    if reduction == "mean":
        return v.sum() / mask.sum()
    return v.sum() / w.sum()


def hand_cb_weights(counts, beta):
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    s = sum(raw)
    return [r * len(raw) / s for r in raw]


def hand_log_prior(counts):
    t = sum(counts)
    return [math.log(n / t) for n in counts]


# reference per-element losses (before the per-class weight), for the non-neutral settings
def ref_focal(z, y, gamma=2.0, alpha=(1.0, 1.0, 1.0, 1.0, 1.0)):  # the per-class factor is the weight
    p = torch.exp(ref_log_softmax(z))
    p_y = (onehot(y, C) * p).sum(1)
    return -pick(list(alpha), y) * (1 - p_y) ** gamma * torch.log(p_y)


def ref_focal_per_class_gamma(z, y, gammas=(0.0, 0.5, 1.0, 2.0, 3.0)):
    p = torch.exp(ref_log_softmax(z))
    p_y = (onehot(y, C) * p).sum(1)
    return -((1 - p_y) ** pick(list(gammas), y)) * torch.log(p_y)


CB_BETA = 0.99


def ref_cb(base):
    def f(z, y):
        if base == "ce":
            l = ref_ce(z, y)
        elif base == "focal":
            p_y = (onehot(y, C) * torch.exp(ref_log_softmax(z))).sum(1)
            l = -((1 - p_y) ** 1.5) * torch.log(p_y)
        else:
            s = 1.0 / (1.0 + torch.exp(-z.double()))
            t = onehot(y, C)
            l = -(t * torch.log(s) + (1 - t) * torch.log(1 - s)).sum(1)
        return l

    return f


def ref_ldam(z, y, max_margin=0.5, scale=30.0):
    raw = [n**-0.25 for n in COUNTS]
    m = [max_margin * r / max(raw) for r in raw]
    zz = z.double() - onehot(y, C) * bc(m, z)
    return ref_ce(scale * zz, y)


def ref_la(z, y, tau=1.5):
    return ref_ce(z.double() + tau * bc(hand_log_prior(COUNTS), z), y)


def ref_bs(z, y):
    # -log( n_y e^{z_y} / sum_c n_c e^{z_c} ), written directly
    n = bc(COUNTS, z)
    num = (onehot(y, C) * n * torch.exp(z.double())).sum(1)
    den = (n * torch.exp(z.double())).sum(1)
    return -torch.log(num / den)


def ref_vs(z, y, gamma=0.3, tau=1.0):
    delta = [(n / max(COUNTS)) ** gamma for n in COUNTS]
    return ref_ce(bc(delta, z) * z.double() + tau * bc(hand_log_prior(COUNTS), z), y)


P_DELTA = [1.2, 0.9, 0.7, 1.1, 0.5]
P_IOTA = [0.3, -0.2, 0.1, 0.0, -0.4]


def ref_parametric(z, y):
    return ref_ce(bc(P_DELTA, z) * z.double() + bc(P_IOTA, z), y)


@dataclass
class Case:
    name: str
    module: Callable  # (weight, ignore_index, reduction) -> nn.Module
    functional: Callable  # (z, y, weight, ignore_index, reduction) -> Tensor
    ref: Callable  # (z, y) -> float64 per-element loss before weight
    neutral: Callable | None = None  # () -> module equal to plain CE
    logit_scale: float = 3.0
    class_factor: list | None = None  # per-class weights built into the loss (CB), x user weight

    def weight(self, user):
        if self.class_factor is None:
            return user
        return [a * b for a, b in zip(self.class_factor, user)]


CASES = [
    Case(
        "weighted_ce",
        lambda w, ii, r: WeightedCrossEntropyLoss(weight=w, ignore_index=ii, reduction=r),
        lambda z, y, w, ii, r, **k: weighted_cross_entropy(z, y, w, ii, r, **k),
        ref_ce,
        lambda: WeightedCrossEntropyLoss(),
    ),
    Case(
        "focal",
        lambda w, ii, r: FocalLoss(gamma=2.0, weight=w, ignore_index=ii, reduction=r),
        lambda z, y, w, ii, r, **k: focal_loss(z, y, 2.0, None, w, ii, r, **k),
        ref_focal,
        lambda: FocalLoss(gamma=0.0),
    ),
    Case(
        "focal_per_class_gamma",
        lambda w, ii, r: FocalLoss(gamma=[0.0, 0.5, 1.0, 2.0, 3.0], weight=w, ignore_index=ii, reduction=r),
        lambda z, y, w, ii, r, **k: focal_loss(z, y, torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0]), None, w, ii, r, **k),
        ref_focal_per_class_gamma,
        lambda: FocalLoss(gamma=[0.0] * C),
    ),
    *[
        Case(
            f"class_balanced_{base}",
            (
                lambda b: (
                    lambda w, ii, r: ClassBalancedLoss(
                        COUNTS, beta=CB_BETA, base=b, gamma=1.5, weight=w, ignore_index=ii, reduction=r
                    )
                )
            )(base),
            (lambda b: lambda z, y, w, ii, r, **k: class_balanced_loss(z, y, COUNTS, CB_BETA, b, 1.5, w, ii, r, **k))(
                base
            ),
            ref_cb(base),
            (lambda: ClassBalancedLoss(COUNTS, beta=0.0))
            if base == "ce"
            else (lambda: ClassBalancedLoss(COUNTS, beta=0.0, base="focal", gamma=0.0))
            if base == "focal"
            else None,
            class_factor=hand_cb_weights(COUNTS, CB_BETA),  # CB weights act as per-class weights
        )
        for base in ("ce", "focal", "sigmoid")
    ],
    Case(
        "ldam",
        lambda w, ii, r: LDAMLoss(COUNTS, max_margin=0.5, scale=30.0, weight=w, ignore_index=ii, reduction=r),
        lambda z, y, w, ii, r, **k: ldam_loss(z, y, COUNTS, 0.5, 30.0, w, ii, r, **k),
        ref_ldam,
        lambda: LDAMLoss(COUNTS, max_margin=0.0, scale=1.0),
        logit_scale=1.0,  # cosine logits
    ),
    Case(
        "logit_adjusted",
        lambda w, ii, r: LogitAdjustedLoss(COUNTS, tau=1.5, weight=w, ignore_index=ii, reduction=r),
        lambda z, y, w, ii, r, **k: logit_adjusted_loss(z, y, COUNTS, 1.5, w, ii, r, **k),
        ref_la,
        lambda: LogitAdjustedLoss(COUNTS, tau=0.0),
    ),
    Case(
        "balanced_softmax",
        lambda w, ii, r: BalancedSoftmaxLoss(COUNTS, weight=w, ignore_index=ii, reduction=r),
        lambda z, y, w, ii, r, **k: balanced_softmax_loss(z, y, COUNTS, w, ii, r, **k),
        ref_bs,
        lambda: BalancedSoftmaxLoss([7.0] * C),  # uniform counts: no shift
    ),
    Case(
        "vs",
        lambda w, ii, r: VSLoss(COUNTS, gamma=0.3, tau=1.0, weight=w, ignore_index=ii, reduction=r),
        lambda z, y, w, ii, r, **k: vs_loss(z, y, COUNTS, 0.3, 1.0, w, ii, r, **k),
        ref_vs,
        lambda: VSLoss(COUNTS, gamma=0.0, tau=0.0),
    ),
    Case(
        "parametric",
        lambda w, ii, r: ParametricCrossEntropyLoss(
            C, delta=P_DELTA, iota=P_IOTA, weight=w, ignore_index=ii, reduction=r
        ),
        lambda z, y, w, ii, r, **k: parametric_cross_entropy(
            z, y, torch.tensor(P_DELTA), torch.tensor(P_IOTA), w, None, ii, r, **k
        ),
        ref_parametric,
        lambda: ParametricCrossEntropyLoss(C),
    ),
]
IDS = [c.name for c in CASES]


def make_batch(dense: bool, seed: int = 0, scale: float = 3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shape = (6, C, 3, 2) if dense else (12, C)
    z = (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * scale
    y_shape = (shape[0],) + shape[2:]
    y = torch.randint(0, C, y_shape, generator=g)
    flat = y.view(-1)
    flat[::5] = IGNORE  # some ignored entries
    flat[1 : C + 1] = torch.arange(C)  # every class present
    return z.to(dtype), y


# ----------------------------------------------------------------------------- conformance
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dense", [False, True], ids=["NC", "NCd"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference(case, dense, reduction):
    z, y = make_batch(dense, scale=case.logit_scale)
    w = torch.tensor(USER_WEIGHT)
    expected = ref_reduce(case.ref(z, y), y, case.weight(USER_WEIGHT), reduction)
    got_module = case.module(w, IGNORE, reduction)(z, y)
    got_functional = case.functional(z, y, w, IGNORE, reduction)
    assert got_module.dtype == torch.float64
    torch.testing.assert_close(got_module, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_functional, got_module, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dense", [False, True], ids=["NC", "NCd"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sample_weight_multiplies_elements_before_the_reduction(case, dense, reduction):
    z, y = make_batch(dense, seed=11, scale=case.logit_scale)
    sw = torch.rand(y.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64) + 0.25
    expected = ref_reduce(case.ref(z, y), y, case.weight(USER_WEIGHT), reduction, sw)
    loss = case.module(torch.tensor(USER_WEIGHT), IGNORE, reduction)
    torch.testing.assert_close(loss(z, y, sample_weight=sw), expected, rtol=1e-5, atol=1e-6)
    got_functional = case.functional(z, y, torch.tensor(USER_WEIGHT), IGNORE, reduction, sample_weight=sw)
    torch.testing.assert_close(got_functional, expected, rtol=1e-5, atol=1e-6)
    # 'mean' divides by the number of counted elements, never by the weights' sum
    if reduction == "mean":
        loss.reduction = "none"
        per = loss(z, y)
        torch.testing.assert_close(expected, (per * sw).sum() / (y != IGNORE).sum(), rtol=1e-6, atol=1e-7)
    # a per-sample weight [N] broadcasts over the dense dims
    if dense:
        sw_n = sw[:, 0, 0]
        full = sw_n.view(-1, 1, 1).expand_as(sw)
        torch.testing.assert_close(loss(z, y, sample_weight=sw_n), loss(z, y, sample_weight=full))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.neutral is not None], ids=[c.name for c in CASES if c.neutral is not None]
)
@pytest.mark.parametrize("dense", [False, True], ids=["NC", "NCd"])
def test_neutral_setting_is_plain_cross_entropy(case, dense):
    z, y = make_batch(dense, seed=1)
    loss = case.neutral()
    for reduction in ("none", "mean", "sum"):
        loss.reduction = reduction
        expected = F.cross_entropy(z, y, ignore_index=IGNORE, reduction=reduction)
        torch.testing.assert_close(loss(z, y), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dense", [False, True], ids=["NC", "NCd"])
def test_none_shape_and_ignored_entries_excluded(case, dense):
    z, y = make_batch(dense, seed=2, scale=case.logit_scale, dtype=torch.float32)
    loss = case.module(torch.tensor(USER_WEIGHT), IGNORE, "none")
    values = loss(z, y)
    assert values.shape == y.shape
    ignored = y == IGNORE
    assert ignored.any()
    assert bool((values[ignored] == 0).all())
    assert bool((values[~ignored] > 0).all())
    # changing the logits of ignored entries changes nothing
    z2 = z.clone()
    z2.movedim(1, -1)[ignored] = 100.0
    torch.testing.assert_close(loss(z2, y), values)
    # 'mean' divides by the number of counted entries
    loss.reduction = "mean"
    torch.testing.assert_close(loss(z, y), values.sum() / (~ignored).sum())
    # a batch where everything is ignored gives 0, not NaN
    all_ignored = torch.full_like(y, IGNORE)
    for r in REDUCTIONS:
        loss.reduction = r
        assert torch.isfinite(loss(z, all_ignored)).all()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_are_finite_and_match_reference(case):
    z, y = make_batch(False, seed=3, scale=case.logit_scale)
    z.requires_grad_(True)
    case.module(torch.tensor(USER_WEIGHT), IGNORE, "mean")(z, y).backward()
    z_ref = z.detach().clone().requires_grad_(True)
    ref_reduce(case.ref(z_ref, y), y, case.weight(USER_WEIGHT), "mean").backward()
    assert torch.isfinite(z.grad).all()
    torch.testing.assert_close(z.grad, z_ref.grad, rtol=1e-5, atol=1e-7)
    # extreme (saturated) logits: gradients stay finite
    big = torch.zeros(4, C, dtype=torch.float32)
    big[:, 0] = 60.0
    big[1, 1] = -60.0
    big.requires_grad_(True)
    out = case.module(torch.tensor(USER_WEIGHT), IGNORE, "sum")(big, torch.tensor([0, 1, 2, 0]))
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(big.grad).all()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_float64_and_bfloat16_autocast(case):
    z64, y = make_batch(True, seed=4, scale=case.logit_scale)
    w = torch.tensor(USER_WEIGHT)
    l64 = case.module(w, IGNORE, "mean")(z64, y)
    l32 = case.module(w, IGNORE, "mean")(z64.float(), y)
    assert l32.dtype == torch.float32
    torch.testing.assert_close(l32.double(), l64, rtol=1e-5, atol=1e-6)
    # bfloat16 autocast on CPU: a linear layer produces bf16 logits; the loss is computed in fp32
    torch.manual_seed(0)
    lin = nn.Linear(8, C)
    x = torch.randn(16, 8)
    yy = torch.arange(16) % C
    yy[3] = IGNORE
    loss_fn = case.module(w, IGNORE, "mean")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = lin(x)
        assert logits.dtype == torch.bfloat16
        lb = loss_fn(logits, yy)
    assert lb.dtype == torch.float32 and torch.isfinite(lb)
    lb.backward()
    assert all(torch.isfinite(p.grad).all() for p in lin.parameters())
    with torch.no_grad():
        lf = loss_fn(lin(x), yy)
    torch.testing.assert_close(lb.detach(), lf, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_works_as_acwa_trainer_loss_fn(case):
    z, y = make_batch(False, seed=5, scale=case.logit_scale, dtype=torch.float32)
    loss_fn = case.module(torch.tensor(USER_WEIGHT), IGNORE, "mean")
    trainer = ACWATrainer(num_classes=C, loss_fn=loss_fn)
    z.requires_grad_(True)
    out = trainer.get_weighted_loss(z, y)
    assert loss_fn.reduction == "mean"  # restored after the temporary 'none'
    # initial ACWA weights are 1, so the trainer's loss is the module's 'mean'
    torch.testing.assert_close(out, loss_fn(z, y))
    out.backward()
    assert torch.isfinite(z.grad).all()
    trainer.update_metrics(z.detach(), y)
    # with non-uniform ACWA weights: sum_i a_{y_i} l_i / N_counted
    trainer.controller.weights.copy_(torch.linspace(0.5, 2.0, C))
    loss_fn.reduction = "none"
    per = loss_fn(z, y)
    loss_fn.reduction = "mean"
    a = torch.linspace(0.5, 2.0, C)[torch.where(y == IGNORE, 0, y)]
    expected = (a * per).sum() / (y != IGNORE).sum()
    torch.testing.assert_close(trainer.get_weighted_loss(z, y), expected)


def test_every_factory_name_is_covered_by_the_suite():
    built = {type(make_loss(n, class_counts=COUNTS)) for n in LOSS_NAMES}
    covered = {type(c.module(None, IGNORE, "mean")) for c in CASES}
    assert built == covered


# ----------------------------------------------------------------------------- reductions
def test_weighted_mean_equals_torch_weighted_cross_entropy_and_mean_divides_by_n():
    for dense in (False, True):
        z, y = make_batch(dense, seed=6, dtype=torch.float32)
        w = torch.tensor(USER_WEIGHT)
        torch_loss = nn.CrossEntropyLoss(weight=w, ignore_index=IGNORE)(z, y)
        ours = WeightedCrossEntropyLoss(weight=w, reduction="weighted_mean")(z, y)
        torch.testing.assert_close(ours, torch_loss)
        per = F.cross_entropy(z, y, weight=w, ignore_index=IGNORE, reduction="none")
        mean = WeightedCrossEntropyLoss(weight=w)(z, y)  # default reduction is 'mean'
        torch.testing.assert_close(mean, per.sum() / (y != IGNORE).sum())
        assert not torch.allclose(mean, torch_loss)
        torch.testing.assert_close(WeightedCrossEntropyLoss(weight=w, reduction="sum")(z, y), per.sum())


def test_class_balanced_weighted_mean_equals_torch_ce_with_cb_weights():
    z, y = make_batch(False, seed=7, dtype=torch.float32)
    cbw = torch.tensor(hand_cb_weights(COUNTS, 0.9999), dtype=torch.float32)
    loss = ClassBalancedLoss(COUNTS, reduction="weighted_mean")
    torch.testing.assert_close(loss.cb_weights, cbw)
    torch.testing.assert_close(loss(z, y), F.cross_entropy(z, y, weight=cbw, ignore_index=IGNORE))


def test_default_reduction_is_mean_everywhere():
    for n in LOSS_NAMES:
        assert make_loss(n, class_counts=COUNTS).reduction == "mean"


# ----------------------------------------------------------------------------- relations
def test_vs_special_cases_and_balanced_softmax_equals_la_tau_one():
    z, y = make_batch(False, seed=8)
    torch.testing.assert_close(VSLoss(COUNTS, gamma=0.0, tau=0.7)(z, y), LogitAdjustedLoss(COUNTS, tau=0.7)(z, y))
    torch.testing.assert_close(BalancedSoftmaxLoss(COUNTS)(z, y), LogitAdjustedLoss(COUNTS, tau=1.0)(z, y))
    # parametric with LA init equals the logit-adjusted loss
    p = make_loss("parametric", class_counts=COUNTS, la_tau=1.0)
    torch.testing.assert_close(p(z, y), LogitAdjustedLoss(COUNTS)(z, y).to(p(z, y).dtype))


def test_logit_adjust_post_hoc():
    z = torch.zeros(2, C)
    adj = logit_adjust(z, COUNTS, tau=1.0)
    expected = -torch.tensor(hand_log_prior(COUNTS), dtype=torch.float32)
    torch.testing.assert_close(adj[0], expected)
    assert int(adj.argmax(1)[0]) == C - 1  # with no evidence, the rarest class wins
    dense = torch.randn(2, C, 3, 3, dtype=torch.float64)
    out = logit_adjust(dense, COUNTS, tau=0.5)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, dense - 0.5 * bc(hand_log_prior(COUNTS), dense))
    torch.testing.assert_close(logit_adjust(dense, COUNTS, tau=0.0), dense)
    with pytest.raises(ValueError, match="class_counts"):
        logit_adjust(torch.zeros(2, 3), COUNTS)
    with pytest.raises(ValueError, match="tau"):
        logit_adjust(z, COUNTS, tau=float("nan"))


def test_ldam_margins_and_normed_linear():
    loss = LDAMLoss(COUNTS, max_margin=0.5)
    raw = torch.tensor([n**-0.25 for n in COUNTS])
    torch.testing.assert_close(loss.margins, 0.5 * raw / raw.max())
    assert float(loss.margins.max()) == pytest.approx(0.5)
    assert int(loss.margins.argmax()) == C - 1
    torch.manual_seed(0)
    head = NormedLinear(8, C)
    x = torch.randn(10, 8) * 5
    out = head(x).detach()
    assert out.shape == (10, C)
    expected = F.cosine_similarity(x.unsqueeze(1), head.weight.detach().unsqueeze(0), dim=-1)
    torch.testing.assert_close(out, expected)
    assert float(out.abs().max()) <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="num_classes"):
        NormedLinear(8, 0)


def test_deferred_reweighting_schedule():
    drw = DeferredReweighting(COUNTS, start_epoch=3, beta=0.9999)
    for e in range(3):
        torch.testing.assert_close(drw.weights(e), torch.ones(C))
    late = torch.tensor(hand_cb_weights(COUNTS, 0.9999), dtype=torch.float32)
    for e in (3, 10):
        torch.testing.assert_close(drw(e), late)
    torch.testing.assert_close(drw_weights(COUNTS, 5, start_epoch=3), late)
    loss = LDAMLoss(COUNTS)
    drw.apply(loss, 0)
    torch.testing.assert_close(loss.weight, torch.ones(C))
    drw.apply(loss, 4)
    torch.testing.assert_close(loss.weight, late)
    z, y = make_batch(False, seed=9, scale=1.0, dtype=torch.float32)
    expected = ref_reduce(ref_ldam(z, y), y, late.tolist(), "mean").float()
    torch.testing.assert_close(loss(z, y), expected, rtol=1e-4, atol=1e-5)
    assert "weight" in dict(loss.named_buffers())  # saved in the state_dict
    param = ParametricCrossEntropyLoss(C)
    drw.apply(param, 7)
    torch.testing.assert_close(param.weight.detach(), late)
    with pytest.raises(ValueError, match="epoch"):
        drw.weights(-1)
    with pytest.raises(ValueError, match="start_epoch"):
        DeferredReweighting(COUNTS, start_epoch=1.5)
    with pytest.raises(ValueError, match="beta"):
        DeferredReweighting(COUNTS, start_epoch=2, beta=1.0)


# ----------------------------------------------------------------------------- bad input
COUNT_LOSSES = [
    ("class_balanced", lambda c, **k: ClassBalancedLoss(c, **k)),
    ("ldam", lambda c, **k: LDAMLoss(c, **k)),
    ("logit_adjusted", lambda c, **k: LogitAdjustedLoss(c, **k)),
    ("balanced_softmax", lambda c, **k: BalancedSoftmaxLoss(c, **k)),
    ("vs", lambda c, **k: VSLoss(c, **k)),
]


@pytest.mark.parametrize("name,build", COUNT_LOSSES, ids=[n for n, _ in COUNT_LOSSES])
def test_count_based_losses_reject_bad_counts(name, build):
    with pytest.raises(ValueError, match="class_counts must be >= 0"):
        build([10.0, -1.0, 3.0])
    with pytest.raises(ValueError, match=r"classes \[1\]"):
        build([10.0, 0.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        build([10.0, float("nan"), 3.0])
    with pytest.raises(ValueError, match="1-D"):
        build([[10.0, 3.0]])
    # wrong length against the logits: found at the first forward, by shape only
    loss = build([10.0, 5.0, 3.0])
    with pytest.raises(ValueError, match="class_counts"):
        loss(torch.zeros(4, 5), torch.zeros(4, dtype=torch.long))


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        FocalLoss(gamma=-0.5)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        FocalLoss(gamma=[1.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        ClassBalancedLoss(COUNTS, base="focal", gamma=-1.0)
    with pytest.raises(ValueError, match="gamma must be"):
        VSLoss(COUNTS, gamma=-0.1)
    for beta in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
            ClassBalancedLoss(COUNTS, beta=beta)
    with pytest.raises(ValueError, match="base must be one of"):
        ClassBalancedLoss(COUNTS, base="hinge")
    with pytest.raises(ValueError, match="scale"):
        LDAMLoss(COUNTS, scale=0.0)
    with pytest.raises(ValueError, match="max_margin"):
        LDAMLoss(COUNTS, max_margin=-0.1)
    with pytest.raises(ValueError, match="tau"):
        LogitAdjustedLoss(COUNTS, tau=float("inf"))
    with pytest.raises(ValueError, match="reduction must be one of"):
        VSLoss(COUNTS, reduction="avg")
    z, y = make_batch(False)
    with pytest.raises(ValueError, match="weight must be a 1-D per-class vector with 5"):
        WeightedCrossEntropyLoss(weight=[1.0, 2.0])(z, y)
    with pytest.raises(ValueError, match="weight"), pytest.warns(DeprecationWarning):
        FocalLoss(alpha=[1.0, 2.0])(z, y)
    with pytest.raises(ValueError, match="target must have shape"):
        VSLoss(COUNTS)(z, y[:3])
    with pytest.raises(ValueError, match="integer class indices"):
        LogitAdjustedLoss(COUNTS)(z, y.double())


# ----------------------------------------------------------------------------- factory
def test_make_loss_builds_each_loss_with_its_options():
    assert isinstance(make_loss("ce"), WeightedCrossEntropyLoss)
    f = make_loss("focal", gamma=1.0, reduction="sum")
    assert isinstance(f, FocalLoss) and f.gamma == 1.0 and f.reduction == "sum"
    cb = make_loss("CB", class_counts=COUNTS, base="focal", gamma=0.5, beta=0.99)
    assert isinstance(cb, ClassBalancedLoss) and cb.base == "focal" and cb.gamma == 0.5
    assert isinstance(make_loss("la", class_counts=COUNTS, tau=2.0), LogitAdjustedLoss)
    assert isinstance(make_loss("logit-adjustment", class_counts=COUNTS), LogitAdjustedLoss)
    assert isinstance(make_loss("bs", class_counts=COUNTS), BalancedSoftmaxLoss)
    assert make_loss("vs", class_counts=COUNTS, gamma=0.2).gamma == 0.2
    assert make_loss("ldam", class_counts=COUNTS, scale=10.0).scale == 10.0
    p = make_loss("parametric", num_classes=C)
    assert isinstance(p, ParametricCrossEntropyLoss) and p.num_classes == C
    assert make_loss("parametric", class_counts=COUNTS).num_classes == C
    # weighting computes static weights from the counts
    w = make_loss("ce", class_counts=COUNTS, weighting="inverse").weight
    raw = torch.tensor([1.0 / n for n in COUNTS])
    torch.testing.assert_close(w, raw * C / raw.sum())


def test_make_loss_errors_list_the_valid_choices():
    with pytest.raises(ValueError, match=r"unknown loss name 'hinge'; valid names: \['ce', 'focal'"):
        make_loss("hinge")
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['beta'\]; valid options: .*'tau'"):
        make_loss("la", class_counts=COUNTS, beta=0.9)
    with pytest.raises(ValueError, match="needs class_counts"):
        make_loss("vs")
    with pytest.raises(ValueError, match="gamma applies .* only with base='focal'"):
        make_loss("class_balanced", class_counts=COUNTS, gamma=2.0)
    with pytest.raises(ValueError, match="weighting must be one of"):
        make_loss("ce", class_counts=COUNTS, weighting="log")
    with pytest.raises(ValueError, match="pass class_counts"):
        make_loss("focal", weighting="inverse")
    with pytest.raises(ValueError, match="not both"):
        make_loss("ce", class_counts=COUNTS, weighting="inverse", weight=[1.0] * C)
    with pytest.raises(ValueError, match="reduction must be one of"):
        make_loss("ce", reduction="avg")
    with pytest.raises(ValueError, match="needs num_classes"):
        make_loss("parametric")
    with pytest.raises(ValueError, match="num_classes=3 but class_counts has 5"):
        make_loss("parametric", class_counts=COUNTS, num_classes=3)
    with pytest.raises(ValueError, match="class_counts must be >= 0"):
        make_loss("ldam", class_counts=[3, -1])
    with pytest.raises(ValueError, match="class_counts has 5 entries but there are 2"):
        make_loss("vs", class_counts=COUNTS, weight=[1.0, 2.0])


# ----------------------------------------------------------------------------- soft targets
SOFT_CASES = [c for c in CASES if not c.name.startswith(("focal", "class_balanced_focal"))]
LINEAR_IN_Q = [c for c in SOFT_CASES if c.name != "ldam"]  # the transform does not depend on the target


def mixup_rows(y, lam=0.7, c=C):
    """timm-style Mixup targets: lam * onehot(y) + (1 - lam) * onehot(y.flip(0))."""
    return lam * F.one_hot(y, c).double() + (1 - lam) * F.one_hot(y.flip(0), c).double()


@pytest.mark.parametrize("case", SOFT_CASES, ids=[c.name for c in SOFT_CASES])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_one_hot_soft_rows_equal_class_indices(case, reduction):
    z, y = make_batch(False, seed=12, scale=case.logit_scale)
    y = torch.where(y == IGNORE, 0, y)
    loss = case.module(torch.tensor(USER_WEIGHT), IGNORE, reduction)
    torch.testing.assert_close(loss(z, F.one_hot(y, C).double()), loss(z, y), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", LINEAR_IN_Q, ids=[c.name for c in LINEAR_IN_Q])
def test_mixup_rows_are_the_mixture_of_the_two_hard_losses(case):
    z, y = make_batch(False, seed=13, scale=case.logit_scale)
    y = torch.where(y == IGNORE, 0, y)
    lam = 0.7
    per = case.ref(z, y)
    per_flip = case.ref(z, y.flip(0))
    w = torch.tensor(case.weight(USER_WEIGHT), dtype=torch.float64)
    weight = lam * w[y] + (1 - lam) * w[y.flip(0)]  # sum_c q_ic w_c
    expected = weight * (lam * per + (1 - lam) * per_flip)
    got = case.module(torch.tensor(USER_WEIGHT), IGNORE, "none")(z, mixup_rows(y, lam))
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-8)


def test_ldam_soft_rows_lower_each_logit_by_its_share_of_the_margin():
    z, y = make_batch(False, seed=14, scale=1.0)
    y = torch.where(y == IGNORE, 0, y)
    q = mixup_rows(y)
    raw = [n**-0.25 for n in COUNTS]
    m = torch.tensor([0.5 * r / max(raw) for r in raw], dtype=torch.float64)
    expected = -(q * ref_log_softmax(30.0 * (z - m * q))).sum(1)
    torch.testing.assert_close(LDAMLoss(COUNTS, reduction="none")(z, q), expected, rtol=1e-6, atol=1e-8)


def test_soft_targets_and_label_smoothing_match_torch_and_timm_style_mixup():
    z, y = make_batch(False, seed=15)
    yy = torch.where(y == IGNORE, 0, y)
    q = mixup_rows(yy, 0.6)
    torch.testing.assert_close(WeightedCrossEntropyLoss()(z, q), F.cross_entropy(z, q))
    # timm: Mixup(label_smoothing=0.1) targets with SoftTargetCrossEntropy = sum(-q log_softmax).mean()
    off, on = 0.1 / C, 1 - 0.1 + 0.1 / C
    smooth = F.one_hot(yy, C).double() * (on - off) + off
    mixed = 0.6 * smooth + 0.4 * smooth.flip(0)
    soft_target_ce = torch.sum(-mixed * torch.log_softmax(z, dim=-1), dim=-1).mean()
    torch.testing.assert_close(make_loss("ce")(z, mixed), soft_target_ce)
    for eps in (0.1, 0.3):
        ls = WeightedCrossEntropyLoss(label_smoothing=eps)
        torch.testing.assert_close(ls(z, y), F.cross_entropy(z, y, ignore_index=IGNORE, label_smoothing=eps))
        torch.testing.assert_close(ls(z, q), F.cross_entropy(z, q, label_smoothing=eps))
        la = LogitAdjustedLoss(COUNTS, tau=1.0, label_smoothing=eps)
        shifted = z + torch.tensor(hand_log_prior(COUNTS), dtype=torch.float64)
        torch.testing.assert_close(la(z, y), F.cross_entropy(shifted, y, ignore_index=IGNORE, label_smoothing=eps))
    assert make_loss("vs", class_counts=COUNTS, label_smoothing=0.1).label_smoothing == 0.1
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        WeightedCrossEntropyLoss(label_smoothing=1.0)


def test_bad_soft_targets_are_clear_value_errors():
    z, y = make_batch(False, seed=16)
    q = mixup_rows(torch.where(y == IGNORE, 0, y))
    with pytest.raises(ValueError, match=r"probability rows: entries >= 0 summing to 1 .*\(within 0.001\)"):
        make_loss("ce")(z, q * 1.1)
    bad = q.clone()
    bad[0, 0], bad[0, 1] = -0.5, bad[0, 1] + 0.5 + bad[0, 0]
    with pytest.raises(ValueError, match="probability rows"):
        make_loss("la", class_counts=COUNTS)(z, bad)
    with pytest.raises(ValueError, match="class indices only"):
        make_loss("focal")(z, q)
    with pytest.raises(ValueError, match="class indices only"):
        make_loss("cb", class_counts=COUNTS, base="focal")(z, q)
    torch.testing.assert_close(make_loss("ce")(z, q * (1 + 5e-4)), make_loss("ce")(z, q * (1 + 5e-4)))  # tolerated


# ----------------------------------------------------------------------------- one logit, bad labels
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_single_logit_column_is_a_clear_error_naming_the_binary_losses(name):
    loss = make_loss(name, class_counts=COUNTS)
    for y in (torch.zeros(4, dtype=torch.long), torch.tensor([0, 1, 0, 1])):
        with pytest.raises(ValueError, match=r"single logit column is a binary problem: use make_loss\('bce'"):
            loss(torch.randn(4, 1), y)
    with pytest.raises(ValueError, match="make_loss\\('bce'"):
        loss(torch.randn(4), torch.tensor([0, 1, 0, 1]))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_out_of_range_labels_are_value_errors_for_every_name(name):
    loss = make_loss(name, class_counts=COUNTS)
    z = torch.randn(4, C)
    for bad, shown in ((C, C), (-1, -1), (10**6, 10**6)):
        with pytest.raises(ValueError, match=rf"target must lie in \[0, {C}\).* found {shown}"):
            loss(z, torch.tensor([0, bad, 1, IGNORE]))
    with pytest.raises(ValueError, match="integer class indices"):
        loss(z, torch.tensor([0.0, 1.0, 2.0, 0.0]))
    int8 = torch.tensor([0, 1, 2, 3], dtype=torch.int8)  # any integer width works
    torch.testing.assert_close(loss(z, int8), loss(z, int8.long()))


def test_overflowing_or_negative_hyper_parameters_are_rejected():
    with pytest.raises(ValueError, match="gamma must be a finite number"):
        FocalLoss(gamma=float("inf"))
    with pytest.raises(ValueError, match="gamma must be finite"):
        FocalLoss(gamma=[1.0, float("inf"), 0.0])
    for tau in (1e38, 1e30, 1e6):  # offsets tau * log pi beyond 1e5: rejected, never an inf loss
        with pytest.raises(ValueError, match=r"overflows: \|value\| must be <= 100000"):
            VSLoss(COUNTS, tau=tau)
        with pytest.raises(ValueError, match="overflows"):
            LogitAdjustedLoss(COUNTS, tau=tau)
        with pytest.raises(ValueError, match="overflows"):
            make_loss("binary_logit_adjusted", class_counts=[990, 10], tau=tau)
    with pytest.raises(ValueError, match="scale must be"):
        LDAMLoss(COUNTS, scale=1e38)
    for build in (
        lambda w: WeightedCrossEntropyLoss(weight=w),
        lambda w: FocalLoss(weight=w),
        lambda w: FocalLoss(alpha=w),
        lambda w: ClassBalancedLoss(COUNTS, weight=w),
        lambda w: LDAMLoss(COUNTS, weight=w),
        lambda w: VSLoss(COUNTS, weight=w),
        lambda w: make_loss("la", class_counts=COUNTS, weight=w),
        lambda w: ParametricCrossEntropyLoss(C, weight=w),
        lambda w: ParametricCrossEntropyLoss(C).set_params(weight=w),
    ):
        with pytest.raises(ValueError, match=r"must be >= 0 for every class"):
            build([1.0, -0.5, 1.0, 1.0, 1.0])
    # large but representable settings stay finite
    z, y = make_batch(False, seed=17, dtype=torch.float32)
    assert torch.isfinite(VSLoss(COUNTS, tau=1e4)(z, y))
    assert torch.isfinite(VSLoss([50, 20, 5], tau=1e4)(z[:, :3], torch.where(y >= 3, 0, y)))


@pytest.mark.parametrize("case", SOFT_CASES, ids=[c.name for c in SOFT_CASES])
def test_soft_targets_work_with_acwa_trainer(case):
    z, y = make_batch(False, seed=18, scale=case.logit_scale, dtype=torch.float32)
    q = mixup_rows(torch.where(y == IGNORE, 0, y)).float()
    loss_fn = case.module(torch.tensor(USER_WEIGHT), IGNORE, "mean")
    trainer = ACWATrainer(num_classes=C, loss_fn=loss_fn)
    trainer.controller.weights.copy_(torch.linspace(0.5, 2.0, C))
    a = q @ torch.linspace(0.5, 2.0, C)  # sum_c q_ic a_c
    loss_fn.reduction = "none"
    per = loss_fn(z, q)
    loss_fn.reduction = "mean"
    torch.testing.assert_close(trainer.get_weighted_loss(z, q), (a * per).sum() / q.shape[0])
