"""Soft-target methods in the bench: the mixup batch transform and the mixup methods."""

import torch

from acwa.bench import run_bench
from acwa.bench.training import mixup


def test_mixup_mixes_inputs_and_one_hot_targets_with_one_lambda():
    x = torch.randn(16, 5)
    y = torch.randint(0, 4, (16,))
    xm, q = mixup(4, alpha=0.4, seed=3)(x, y)
    torch.testing.assert_close(q.sum(1), torch.ones(16))
    assert q.shape == (16, 4) and bool((q >= 0).all())
    # one lam per batch: q_i = lam onehot(y_i) + (1 - lam) onehot(y_perm(i)), the same for x
    lam = float(q[torch.arange(16), y].min())  # >= lam (equals 1 where y_i == y_perm(i))
    again_x, again_q = mixup(4, alpha=0.4, seed=3)(x, y)
    assert torch.equal(again_x, xm) and torch.equal(again_q, q)  # seeded: reproducible
    assert 0.0 <= lam <= 1.0
    other = (xm - lam * x) / (1 - lam) if lam < 1 else x
    # every mixed row's partner is a row of x
    assert all(bool(torch.isclose(other[i : i + 1], x, atol=1e-4).all(1).any()) for i in range(16) if lam < 0.999)


def test_the_mixup_methods_train_on_soft_targets():
    res = run_bench(
        "digits-lt",
        methods="weighted-ce-mixup,acwa-mixup",
        seeds=1,
        epochs=2,
        max_train=200,
        write_report=False,
        progress=False,
    )
    assert res["failures"] == [] and {r["method"] for r in res["runs"]} == {"weighted-ce-mixup", "acwa-mixup"}
    acwa = next(r for r in res["runs"] if r["method"] == "acwa-mixup")
    assert len(acwa["weight_history"][0]) == 10  # ACWA counted the soft targets at their argmax
    assert all(0.0 <= r["balanced_accuracy"] <= 1.0 for r in res["runs"])
