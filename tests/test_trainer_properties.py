"""Property tests (hypothesis) for ACWATrainer: random shapes, label dtypes, ignore fractions
(including an ``ignore_index`` inside [0, C)), bounds and hyper-parameters; random corruptions
of state dicts. Kept to a few seconds."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from acwa import ACWATrainer  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LABEL_DTYPES = [torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8]


@st.composite
def problems(draw):
    c = draw(st.integers(2, 7))
    n = draw(st.integers(1, 40))
    lo = draw(st.floats(0.0, 1.5))
    hi = draw(st.floats(lo, 4.0))
    ignore_index = draw(st.sampled_from([-100, None] + list(range(c))))
    dtype = draw(st.sampled_from(LABEL_DTYPES if ignore_index != -100 else LABEL_DTYPES[:4]))
    seed = draw(st.integers(0, 2**16))
    return dict(
        c=c,
        n=n,
        bounds=(lo, hi),
        ignore_index=ignore_index,
        dtype=dtype,
        seed=seed,
        ignore_fraction=draw(st.sampled_from([0.0, 0.3, 1.0])),
        alpha=draw(st.floats(0.0, 1e3)),
        beta=draw(st.floats(0.0, 0.99)),
        target=draw(st.one_of(st.floats(0.0, 1.0), st.just("mean"))),
        adjust=draw(st.sampled_from(["weights", "logits", "both"])),
        normalize=draw(st.booleans()),
        scale=draw(st.sampled_from([1.0, 30.0])),
    )


def _batch(p, g):
    z = torch.randn(p["n"], p["c"], generator=g, dtype=torch.float64) * p["scale"]
    y = torch.randint(0, p["c"], (p["n"],), generator=g)
    if p["ignore_index"] is not None:
        drop = torch.rand(p["n"], generator=g) < p["ignore_fraction"]
        y = torch.where(drop, torch.full_like(y, p["ignore_index"]), y)
    return z.float(), y.to(p["dtype"])


@SETTINGS
@given(problems())
@example(  # found by hypothesis: float32 offsets of a large alpha against a float64 reference
    p={
        "c": 2,
        "n": 2,
        "bounds": (0.0, 1.0),
        "ignore_index": None,
        "dtype": torch.int64,
        "seed": 40,
        "ignore_fraction": 0.0,
        "alpha": 385.0,
        "beta": 0.0,
        "target": 1.0,
        "adjust": "logits",
        "normalize": False,
        "scale": 1.0,
    }
)
def test_weights_stay_finite_in_bounds_and_the_loss_is_the_weighted_mean(p):
    g = torch.Generator().manual_seed(p["seed"])
    kwargs = dict(
        num_classes=np.int64(p["c"]),
        weight_bounds=p["bounds"],
        alpha=p["alpha"],
        beta=p["beta"],
        target_metric=p["target"],
        adjust=p["adjust"],
        normalize_weights=p["normalize"],
        update_freq=1,
    )
    if p["ignore_index"] is not None:
        kwargs["ignore_index"] = p["ignore_index"]
    else:
        kwargs["ignore_index"] = None
    trainer = ACWATrainer(**kwargs)
    lo, hi = p["bounds"]
    assert bool(((trainer.weights >= lo) & (trainer.weights <= hi)).all())  # bounds applied at init
    for _ in range(3):
        z, y = _batch(p, g)
        loss = trainer.get_weighted_loss(z, y)
        # reference: sum_i w_{y_i} l_i / N_counted in float64 over the counted samples
        yl = y.long()
        keep = torch.ones_like(yl, dtype=torch.bool) if p["ignore_index"] is None else yl != p["ignore_index"]
        # the offsets are added in float32, as the trainer does: with large offsets (alpha=385) that
        # rounding alone moves the loss by ~3e-5 relative to a float64 sum
        shifted = (z + trainer.logit_offsets if p["adjust"] != "weights" else z).double()
        per = F.cross_entropy(shifted[keep], yl[keep], reduction="none")
        expected = (trainer.weights.double()[yl[keep]] * per).sum() / max(1, int(keep.sum()))
        torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)
        before = trainer.weights.clone()
        trainer.update_metrics(z, y)
        w, o = trainer.weights, trainer.logit_offsets
        assert bool(torch.isfinite(w).all() & torch.isfinite(o).all())
        assert bool(((w >= lo) & (w <= hi)).all())
        if p["ignore_index"] is not None and 0 <= p["ignore_index"] < p["c"] and p["adjust"] == "weights":
            if not p["normalize"]:  # the ignored class never moves its own weight
                assert w[p["ignore_index"]] == before[p["ignore_index"]]
        counts = trainer.window.stats.counts  # the window was reset by the step: all zero
        assert int(counts.sum()) == 0


def _corrupt(state, draw):
    s = copy.deepcopy(state)
    ctrl = s["controller"]
    kind = draw(st.sampled_from(["nan", "shape", "dtype", "missing", "bounds", "steps", "counts", "extra", "calls"]))
    if kind == "nan":
        ctrl["weights"][draw(st.integers(0, 2))] = float("nan")
    elif kind == "shape":
        key = draw(st.sampled_from(["weights", "offsets"]))
        ctrl[key] = torch.ones(draw(st.sampled_from([2, 4])))
    elif kind == "dtype":
        ctrl["offsets"] = ctrl["offsets"].long()
    elif kind == "missing":
        del ctrl[draw(st.sampled_from(sorted(ctrl)))]
    elif kind == "bounds":
        ctrl["weights"] = torch.full((3,), draw(st.sampled_from([-1.0, 0.1, 7.0])))
    elif kind == "steps":
        ctrl["steps"] = ctrl["steps"].flip(0) + 1 if ctrl["steps"].numel() > 1 else -ctrl["steps"] - 1
    elif kind == "counts":
        s["stats"]["counts"] = s["stats"]["counts"] - 1000
    elif kind == "extra":
        s[draw(st.sampled_from(["weights", "junk"]))] = 1
    else:
        s["num_calls"] = draw(st.sampled_from([-1.5, "x", None]))
    return kind, s


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_corrupted_state_is_refused_and_the_trainer_is_unchanged(data):
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 1000)))
    source = ACWATrainer(num_classes=3, alpha=1.0, update_freq=2, weight_bounds=(0.5, 2.0), adjust="both")
    for _ in range(data.draw(st.integers(0, 5))):
        source.update_metrics(torch.randn(8, 3, generator=g), torch.randint(0, 3, (8,), generator=g))
    target = ACWATrainer(num_classes=3, alpha=1.0, update_freq=2, weight_bounds=(0.5, 2.0), adjust="both")
    target.update_metrics(torch.randn(8, 3, generator=g), torch.randint(0, 3, (8,), generator=g))
    before = copy.deepcopy(target.state_dict())
    kind, bad = _corrupt(source.state_dict(), data.draw)
    try:
        target.load_state_dict(bad)
    except ValueError:
        after = target.state_dict()
        assert after.keys() == before.keys()
        for key in ("num_calls", "num_classes"):
            assert after[key] == before[key]
        for key, value in before["controller"].items():
            got = after["controller"][key]
            assert (
                all(torch.equal(a, b) for a, b in zip(got, value))
                if isinstance(value, list)
                else torch.equal(got, value)
            ), (kind, key)
        assert torch.equal(after["stats"]["counts"], before["stats"]["counts"])
    else:
        pytest.fail(f"corruption {kind!r} was accepted")
