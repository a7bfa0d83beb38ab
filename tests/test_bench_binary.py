"""One-logit binary models in the bench: the [0, z] scoring, the sigmoid methods on binary
data (BCE, pos_weight, sigmoid focal, binary LA, a tuned threshold, ACWA on one logit)."""

import numpy as np
import pytest
import torch

from acwa.bench import RunContext, default_recipe, get_method, prepare_dataset, run_bench
from acwa.bench.execution import bench_tensors
from acwa.bench.training import predict_logits, two_class_logits
from acwa.metrics import binary_average_precision
from acwa.posthoc import tune_threshold

SIGMOID_BINARY = ["bce", "bce-pos-weight", "sigmoid-focal", "bce-la", "bce-threshold", "acwa-bce"]


def _rare_events(n=1600, rate=0.06, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.int64)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    X[:, :3] += 1.4 * y[:, None]
    return X, y


def test_two_class_logits_scores_exactly_like_the_sigmoid():
    z = torch.randn(50, 1, dtype=torch.float64) * 4
    two = two_class_logits(z)
    assert two.shape == (50, 2)
    torch.testing.assert_close(torch.softmax(two, 1)[:, 1], torch.sigmoid(z[:, 0]))
    assert torch.equal(two.argmax(1), (z[:, 0] > 0).long())
    assert torch.equal(two_class_logits(z[:, 0]), two)  # [N] as well
    wide = torch.randn(5, 3)
    assert two_class_logits(wide) is wide  # other shapes pass through


def test_binary_data_runs_the_one_logit_methods(tmp_path):
    X, y = _rare_events()
    np.savez(tmp_path / "fraud.npz", X=X, y=y)
    res = run_bench(
        data=str(tmp_path / "fraud.npz"),
        methods=["ce"] + SIGMOID_BINARY,
        seeds=1,
        epochs=4,
        write_report=False,
        progress=False,
    )
    assert res["config"]["task"] == "binary" and res["failures"] == [] and res["skipped"] == []
    runs = {r["method"]: r for r in res["runs"]}
    assert set(runs) == {"ce", *SIGMOID_BINARY}
    for name in SIGMOID_BINARY:
        assert 0.0 <= runs[name]["average_precision"] <= 1.0 and runs[name]["roc_auc"] > 0.8, name
    assert len(runs["acwa-bce"]["weight_history"][0]) == 2  # [w_neg, w_pos]
    assert isinstance(runs["bce-threshold"]["extra"]["threshold"], float)
    # pos_weight and the tuned threshold trade accuracy for minority recall on rare events
    assert runs["bce-pos-weight"]["minority_recall"] > runs["bce"]["minority_recall"]
    assert runs["bce-threshold"]["balanced_accuracy"] > runs["bce"]["balanced_accuracy"]


def test_one_logit_fit_and_its_threshold_round_trip(tmp_path):
    X, y = _rare_events(n=1000, seed=3)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    ds = prepare_dataset(data=str(tmp_path / "d.npz"))
    X_tr, y_tr, X_te, y_te = bench_tensors(ds)
    ctx = RunContext(ds, X_tr, y_tr, default_recipe(ds, epochs=15), seed=0)
    fit = get_method("bce-threshold").fn(ctx)
    z = predict_logits(fit.model, X_te)
    assert z.shape == (len(y_te), 1)  # one logit per sample
    t = fit.extra["threshold"]
    shifted = fit.posthoc(z)
    torch.testing.assert_close(shifted, z - t, atol=1e-4, rtol=0)  # the recorded value is rounded to 4 places
    # the threshold is the balanced-accuracy optimum on the validation part the model did not train on
    _, val_idx = ctx.validation_split(0.2)
    val = predict_logits(fit.model, X_tr[val_idx])
    assert t == pytest.approx(tune_threshold(val, y_tr[val_idx], "balanced_accuracy").threshold, abs=1e-4)
    assert 0.3 < float(binary_average_precision(z[:, 0], y_te)) <= 1.0  # prevalence 0.06
