"""Keras 3 integration on whichever backend ``KERAS_BACKEND`` selects (torch, tensorflow, jax).

The CI step ``.ci/keras-backends.sh`` runs this module once per backend; the default suite runs
it on the torch backend (tf.data cases skip without TensorFlow). References are float64 numpy:
softmax / sigmoid cross-entropy, per-class F1 and recall from hand-counted tp/fp/fn, and the
README's ACWA rule. Training uses a learning rate of 0 where a test needs exact numbers, so the
predictions are fixed and every window's metric is known in advance.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported anywhere

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from acwa.integrations.keras import ACWAKerasCallback, AdaptiveWeightedLoss  # noqa: E402

BACKEND = keras.backend.backend()
C, N, BATCH = 3, 160, 32
# how the train step runs: jit_compile False/True, or run_eagerly. On torch, jit_compile=True is
# torch.compile (about 30 s per model on CPU): one case, in the CI step (ACWA_TEST_TORCH_COMPILE=1)
ALL_MODES = {
    "torch": ["default", "eager"],
    "tensorflow": ["default", "jit", "eager"],
    "jax": ["default", "jit", "eager"],
}
MODES = ALL_MODES[BACKEND]
INPUTS = ["array", "tf.data", "torch"]
FIT_CASES = [(kind, mode) for kind in INPUTS for mode in MODES]
if BACKEND == "torch" and os.environ.get("ACWA_TEST_TORCH_COMPILE"):
    FIT_CASES.append(("array", "jit"))


# ---------------------------------------------------------------------------- references
def data(seed=0, n=(100, 40, 20)):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(k, c) for c, k in enumerate(n)]).astype("int64")
    centers = np.array([[0.0, 0.0], [1.5, 0.5], [0.5, 1.5]])
    x = (centers[y] + rng.normal(scale=0.8, size=(len(y), 2))).astype("float32")
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def softmax_ce(z, y):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(1, keepdims=True)))[:, 0]
    return lse - z[np.arange(len(y)), y]


def sigmoid_bce(z, y):
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def tp_fp_fn(pred, target):
    """0/1 matrices [N, K] -> [3, K]."""
    tp = (pred * target).sum(0)
    return np.stack([tp, pred.sum(0) - tp, target.sum(0) - tp])


def metric_ref(counts, metric="f1"):
    tp, fp, fn = np.asarray(counts, dtype=np.float64)
    num, den = {"f1": (2 * tp, 2 * tp + fp + fn), "recall": (tp, tp + fn)}[metric]
    out = np.where(den > 0, num / np.maximum(den, 1), 0.0)
    return np.where(tp + fn > 0, out, np.nan)


def acwa_ref(w, metric, target=0.85, alpha=0.02, beta=0.9, bounds=(0.5, 2.0)):
    proposed = np.clip(beta * w + (1 - beta) * (w + alpha * (target - metric)), *bounds)
    return np.where(np.isnan(metric), w, proposed)


def onehot(idx, k):
    return np.eye(k, dtype=np.int64)[idx]


# ---------------------------------------------------------------------------- Keras helpers
def compile_model(loss, lr=0.0, mode="default", units=C, activation=None, track=True):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(units, activation=activation)])
    kwargs = {"jit_compile": mode == "jit", "run_eagerly": mode == "eager"}
    metrics = [loss.state] if track else []
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss, metrics=metrics, **kwargs)
    return model


def inputs(kind, x, y, batch_size=BATCH):
    """(x, y) as the fit arguments for an input kind."""
    if kind == "array":
        return dict(x=x, y=y, batch_size=batch_size)
    if kind == "tf.data":
        tf = pytest.importorskip("tensorflow")
        return dict(x=tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size))
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    ds = TensorDataset(torch.from_numpy(x), torch.from_numpy(np.asarray(y)))
    return dict(x=DataLoader(ds, batch_size=batch_size, shuffle=False))


def numpy(v):
    return np.asarray(keras.ops.convert_to_numpy(v))


def outputs(model, x):
    return numpy(model.predict(x, verbose=0)).astype(np.float64)


# ---------------------------------------------------------------------------- loss values
@pytest.mark.parametrize("form", ["indices", "column", "onehot", "soft"])
def test_multiclass_loss_and_counts_match_float64_reference(form):
    rng = np.random.default_rng(1)
    y = rng.integers(0, C, 24)
    z = rng.normal(size=(24, C)).astype("float32")
    w = np.array([0.5, 1.0, 2.0])
    labels = {"indices": y, "column": y[:, None], "onehot": onehot(y, C).astype("float32")}.get(form)
    if form == "soft":
        q = rng.dirichlet(np.ones(C), 24)
        labels = q.astype("float32")
        ce = -(q * (z - np.log(np.exp(z).sum(1, keepdims=True)))).sum(1)
        expected, counted = (ce * (q @ w)).mean(), q.argmax(1)
    else:
        expected, counted = (softmax_ce(z, y) * w[y]).mean(), y
    loss = AdaptiveWeightedLoss(C, initial_weights=w, track_counts=True)
    np.testing.assert_allclose(float(numpy(loss(labels, z))), expected, rtol=2e-5)
    np.testing.assert_array_equal(numpy(loss.counts), tp_fp_fn(onehot(z.argmax(1), C), onehot(counted, C)))


def test_binary_and_multilabel_loss_and_counts_match_float64_reference():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(30,)).astype("float32")
    y = (rng.random(30) < 0.3).astype("float32")
    binary = AdaptiveWeightedLoss(task="binary", initial_weights=[0.8, 3.0], track_counts=True, threshold=0.2)
    expected = (sigmoid_bce(z, y) * (0.8 + (3.0 - 0.8) * y)).mean()
    np.testing.assert_allclose(float(numpy(binary(y[:, None], z[:, None]))), expected, rtol=2e-5)
    pos = (z > 0.2).astype(np.int64)
    yy = y.astype(np.int64)
    ref = tp_fp_fn(np.stack([1 - pos, pos], 1), np.stack([1 - yy, yy], 1))
    np.testing.assert_array_equal(numpy(binary.counts), ref)
    # probabilities: the same threshold, read as sigmoid(0.2)
    probs = AdaptiveWeightedLoss(task="binary", initial_weights=[0.8, 3.0], track_counts=True, from_logits=False)
    p = (1 / (1 + np.exp(-z.astype(np.float64)))).astype("float32")
    np.testing.assert_allclose(float(numpy(probs(y, p))), expected, rtol=1e-4)

    L = 4
    zl = rng.normal(size=(30, L)).astype("float32")
    yl = (rng.random((30, L)) < 0.25).astype("float32")
    wl = np.array([1.0, 2.0, 0.5, 1.5])
    multi = AdaptiveWeightedLoss(L, task="multilabel", initial_weights=wl, track_counts=True)
    expected = (sigmoid_bce(zl, yl) * (1 + yl * (wl - 1))).mean()
    np.testing.assert_allclose(float(numpy(multi(yl, zl))), expected, rtol=2e-5)
    np.testing.assert_array_equal(numpy(multi.counts), tp_fp_fn((zl > 0).astype(np.int64), yl.astype(np.int64)))


# ---------------------------------------------------------------------------- fit
@pytest.mark.parametrize("kind, mode", FIT_CASES)
def test_static_weights_then_adaptive_fit(kind, mode):
    """fit with static weights, set_weights, fit again, then fit with the callback: each later
    step reads the current variables (no weights or switch frozen into a traced step)."""
    x, y = data()
    w0, w1 = np.array([1.0, 1.0, 1.0]), np.array([0.5, 1.0, 2.0])
    loss = AdaptiveWeightedLoss(C, initial_weights=w0)
    model = compile_model(loss, mode=mode)
    z = outputs(model, x)  # learning rate 0: fixed predictions
    ce = softmax_ce(z, y)
    hist = model.fit(**inputs(kind, x, y), epochs=1, verbose=0)
    assert hist.history["loss"][0] == pytest.approx((ce * w0[y]).mean(), rel=1e-5)
    assert not numpy(loss.counts).any() and loss.track_counts is False  # nobody asked for counts

    loss.set_weights(w1)
    hist = model.fit(**inputs(kind, x, y), epochs=1, verbose=0)
    assert hist.history["loss"][0] == pytest.approx((ce * w1[y]).mean(), rel=1e-5)

    cb = ACWAKerasCallback(loss, alpha=0.5, beta=0.5)
    hist = model.fit(**inputs(kind, x, y), epochs=2, callbacks=[cb], verbose=0)
    f1 = metric_ref(tp_fp_fn(onehot(z.argmax(1), C), onehot(y, C)))
    after1 = acwa_ref(w1, f1, alpha=0.5, beta=0.5)
    after2 = acwa_ref(after1, f1, alpha=0.5, beta=0.5)
    np.testing.assert_allclose(cb.weight_history.numpy(), np.stack([w1, after1, after2]), rtol=1e-5)
    np.testing.assert_allclose(loss.weights, after2, rtol=1e-5)
    # epoch 2 trained with the weights of the first update
    assert hist.history["loss"][1] == pytest.approx((ce * after1[y]).mean(), rel=1e-5)
    assert hist.history["acwa_weight_2"][-1] == pytest.approx(after2[2], rel=1e-5)
    assert loss.track_counts is False  # switched off after fit


@pytest.mark.parametrize("mode", MODES)
def test_learning_run_raises_the_minority_weight(mode):
    x, y = data()
    loss = AdaptiveWeightedLoss(C)
    model = compile_model(loss, lr=0.1, mode=mode)
    cb = ACWAKerasCallback(loss, alpha=0.5, beta=0.5, update_freq=2)
    model.fit(x, y, batch_size=BATCH, epochs=2, callbacks=[cb], verbose=0)
    assert cb.weight_history.shape == (1 + 2 * (N // BATCH) // 2, C)  # 5 batches per epoch
    w = loss.weights
    np.testing.assert_allclose(w, cb.weights.numpy(), rtol=1e-6)
    assert w[2] > w[0]  # the rarest class has the lowest F1


@pytest.mark.parametrize("mode", MODES)
def test_validation_driven_updates_read_only_the_validation_set(mode):
    x, y = data()
    xv, yv = data(seed=5, n=(30, 10, 0))  # no class 2: its recall is undefined, its weight stays
    loss = AdaptiveWeightedLoss(C)
    model = compile_model(loss, mode=mode)
    zv = outputs(model, xv)
    cb = ACWAKerasCallback(loss, alpha=0.5, beta=0.5, update_on="validation", metric="recall")
    model.fit(x, y, batch_size=BATCH, validation_data=(xv, yv), epochs=2, callbacks=[cb], verbose=0)
    recall = metric_ref(tp_fp_fn(onehot(zv.argmax(1), C), onehot(yv, C)), "recall")
    after1 = acwa_ref(np.ones(C), recall, alpha=0.5, beta=0.5)
    expected = np.stack([np.ones(C), after1, acwa_ref(after1, recall, alpha=0.5, beta=0.5)])
    np.testing.assert_allclose(cb.weight_history.numpy(), expected, rtol=1e-5)
    assert cb.last_metric is not None and np.isnan(cb.last_metric[2].item())
    np.testing.assert_allclose(cb.last_metric.numpy(), recall, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_no_labels_from_validation_predict_or_evaluate(mode):
    """update_on='train': the validation pass of fit, predict() and evaluate() outside fit never
    reach the window, so the weights follow the training batches alone."""
    x, y = data()
    x_test, y_test = data(seed=7, n=(0, 0, 80))  # all class 2: any leak changes class 2's F1
    loss = AdaptiveWeightedLoss(C)
    model = compile_model(loss, mode=mode)
    f1 = metric_ref(tp_fp_fn(onehot(outputs(model, x).argmax(1), C), onehot(y, C)))
    cb = ACWAKerasCallback(loss, alpha=0.5, beta=0.5)
    model.fit(x, y, batch_size=BATCH, validation_data=(x_test, y_test), epochs=1, callbacks=[cb], verbose=0)
    expected = acwa_ref(np.ones(C), f1, alpha=0.5, beta=0.5)
    np.testing.assert_allclose(loss.weights, expected, rtol=1e-5)

    model.predict(x_test, verbose=0)
    model.evaluate(x_test, y_test, verbose=0)
    model.evaluate(x_test, y_test, callbacks=[cb], verbose=0)
    assert not numpy(loss.counts).any()
    np.testing.assert_allclose(loss.weights, expected, rtol=1e-5)
    assert cb.weight_history.shape == (2, C)  # no update outside fit

    model.fit(x, y, batch_size=BATCH, epochs=1, callbacks=[cb], verbose=0)
    np.testing.assert_allclose(loss.weights, acwa_ref(expected, f1, alpha=0.5, beta=0.5), rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_sigmoid_outputs_binary_one_logit_and_multilabel(mode):
    x, y = data()
    yb = (y == 2).astype("float32")  # rare positive class
    loss = AdaptiveWeightedLoss(task="binary", initial_weights=[1.0, 1.0])
    model = compile_model(loss, mode=mode, units=1)
    z = outputs(model, x)[:, 0]
    cb = ACWAKerasCallback(loss, alpha=0.5, beta=0.5)
    hist = model.fit(x, yb, batch_size=BATCH, epochs=2, callbacks=[cb], verbose=0)
    pos, yi = (z > 0).astype(np.int64), yb.astype(np.int64)
    f1 = metric_ref(tp_fp_fn(np.stack([1 - pos, pos], 1), np.stack([1 - yi, yi], 1)))
    after1 = acwa_ref(np.ones(2), f1, alpha=0.5, beta=0.5)
    np.testing.assert_allclose(cb.weight_history.numpy()[1], after1, rtol=1e-5)
    bce = sigmoid_bce(z, yb)
    assert hist.history["loss"][1] == pytest.approx((bce * (after1[0] + (after1[1] - after1[0]) * yb)).mean(), rel=1e-5)

    L = 3
    ym = np.stack([y == 0, y == 2, (y == 1) | (y == 2)], 1).astype("float32")
    loss = AdaptiveWeightedLoss(L, task="multilabel", from_logits=False)
    model = compile_model(loss, mode=mode, units=L, activation="sigmoid")
    p = outputs(model, x)
    cb = ACWAKerasCallback(loss, alpha=0.5, beta=0.5)
    model.fit(x, ym, batch_size=BATCH, epochs=1, callbacks=[cb], verbose=0)
    f1 = metric_ref(tp_fp_fn((p > 0.5).astype(np.int64), ym.astype(np.int64)))
    np.testing.assert_allclose(loss.weights, acwa_ref(np.ones(L), f1, alpha=0.5, beta=0.5), rtol=1e-5)


def test_untracked_state_is_refused_on_jax_and_works_elsewhere():
    x, y = data()
    loss = AdaptiveWeightedLoss(C)
    model = compile_model(loss, lr=0.1, track=False)
    cb = ACWAKerasCallback(loss, alpha=0.5, beta=0.5)
    if BACKEND == "jax":
        with pytest.raises(ValueError, match=r"metrics=\[loss.state\]"):
            model.fit(x, y, batch_size=BATCH, epochs=1, callbacks=[cb], verbose=0)
    else:  # variables captured by the traced step (tf.function) or read eagerly (torch)
        model.fit(x, y, batch_size=BATCH, epochs=1, callbacks=[cb], verbose=0)
        assert cb.weight_history.shape == (2, C) and not np.allclose(loss.weights, 1.0)


def test_save_and_load_keep_weights_and_tracking(tmp_path):
    x, y = data()
    loss = AdaptiveWeightedLoss(C, initial_weights=[0.5, 1.0, 2.0])
    model = compile_model(loss, lr=0.1)
    model.fit(x, y, batch_size=BATCH, epochs=1, callbacks=[ACWAKerasCallback(loss, alpha=0.5)], verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = loaded.loss
    assert isinstance(restored, AdaptiveWeightedLoss)
    np.testing.assert_allclose(restored.weights, loss.weights, rtol=1e-6)
    z = outputs(loaded, x)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx((softmax_ce(z, y) * loss.weights[y]).mean(), rel=1e-5)
    assert id(restored.state.counts) in {id(v) for v in loaded.metrics_variables}  # the loss's own state
    cb = ACWAKerasCallback(restored, alpha=0.5, beta=0.5)
    loaded.fit(x, y, batch_size=BATCH, epochs=1, callbacks=[cb], verbose=0)
    assert cb.weight_history.shape == (2, C) and not np.allclose(restored.weights, loss.weights)


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_batch_windows_follow_update_freq(steps_per_execution):
    """update_freq=2: one update per two training batches, each from exactly those batches (also
    when Keras runs two steps per call and reports only the last)."""
    if BACKEND == "torch" and steps_per_execution > 1:
        pytest.skip("keras' torch backend runs one step per call")
    x, y = data()
    loss = AdaptiveWeightedLoss(C)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(C)])
    model.compile(
        optimizer=keras.optimizers.SGD(0.0), loss=loss, metrics=[loss.state], steps_per_execution=steps_per_execution
    )
    pred = outputs(model, x).argmax(1)
    cb = ACWAKerasCallback(loss, alpha=0.5, beta=0.5, update_freq=2)
    model.fit(x, y, batch_size=BATCH, shuffle=False, epochs=2, callbacks=[cb], verbose=0)
    # 5 batches per epoch, run in calls of steps_per_execution batches; an update follows the call
    # that completes a multiple of 2 batches and reads every batch since the last update
    w, rows, steps, window, done = np.ones(C), [np.ones(C)], [0], [], 0
    for _epoch in range(2):
        for first in range(0, N // BATCH, steps_per_execution):
            calls = range(first, min(first + steps_per_execution, N // BATCH))
            window += [i for b in calls for i in range(b * BATCH, (b + 1) * BATCH)]
            before, done = done, done + len(calls)
            if done // 2 > before // 2:
                counts = tp_fp_fn(onehot(pred[window], C), onehot(y[window], C))
                w = acwa_ref(w, metric_ref(counts), alpha=0.5, beta=0.5)
                rows, steps, window = rows + [w], steps + [done], []
    np.testing.assert_allclose(cb.weight_history.numpy(), np.stack(rows), rtol=1e-5)
    np.testing.assert_array_equal(cb.controller.history_steps.numpy(), steps)
    if steps_per_execution == 1:
        assert steps == [0, 2, 4, 6, 8, 10]
