"""Keras 3 integration (torch backend): weighted loss in a keras.Variable, ACWA callback."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported anywhere

import numpy as np
import pytest
import torch
import torch.nn.functional as F

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("these tests run with KERAS_BACKEND=torch", allow_module_level=True)

from sklearn.metrics import f1_score, recall_score  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from acwa.integrations.keras import ACWAKerasCallback as ACWACallback  # noqa: E402
from acwa.integrations.keras import AdaptiveWeightedLoss  # noqa: E402
from acwa.losses import FocalLoss  # noqa: E402

C = 3


def batch(seed=0, n=12):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, C, (n,), generator=g), torch.randn(n, C, generator=g)


def imbalanced_data(n=(120, 30, 10), seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(k, c) for c, k in enumerate(n)]).astype("int64")
    centers = np.array([[0.0, 0.0], [1.5, 0.5], [0.5, 1.5]])
    x = (centers[y] + rng.normal(scale=0.8, size=(len(y), 2))).astype("float32")
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def model_and_loss(**loss_kw):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(C)])
    loss = AdaptiveWeightedLoss(C, **loss_kw)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    return model, loss


def test_loss_is_weighted_mean_over_n():
    y, logits = batch()
    w = np.array([0.5, 1.0, 2.0], dtype="float32")
    loss = AdaptiveWeightedLoss(C, initial_weights=w)
    expected = (torch.from_numpy(w)[y] * F.cross_entropy(logits, y, reduction="none")).sum() / len(y)
    torch.testing.assert_close(torch.as_tensor(loss(y, logits)).cpu(), expected)
    # probabilities and [N, 1] / one-hot labels give the same value
    probs = torch.softmax(logits, 1)
    prob_loss = AdaptiveWeightedLoss(C, initial_weights=w, from_logits=False)
    torch.testing.assert_close(torch.as_tensor(prob_loss(y[:, None], probs)).cpu(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.as_tensor(loss(F.one_hot(y, C).float(), logits)).cpu(), expected)


def test_any_acwa_loss_on_torch_backend():
    y, logits = batch(1)
    w = torch.tensor([1.0, 1.5, 0.5])
    focal = FocalLoss(gamma=2.0)
    loss = AdaptiveWeightedLoss(C, initial_weights=w, loss_fn=focal)
    p_t = torch.softmax(logits, 1)[torch.arange(len(y)), y]
    expected = (w[y] * -((1 - p_t) ** 2) * torch.log(p_t)).mean()
    torch.testing.assert_close(torch.as_tensor(loss(y, logits)).cpu(), expected, rtol=1e-5, atol=1e-6)
    assert focal.reduction == "mean"  # restored


def test_counts_match_hand_computed_tp_fp_fn():
    y, logits = batch(2, n=40)
    loss = AdaptiveWeightedLoss(C, track_counts=True)
    loss(y, logits)
    loss(y[:10], logits[:10])
    yy, pp = torch.cat([y, y[:10]]).numpy(), torch.cat([logits, logits[:10]]).argmax(1).numpy()
    tp = [np.sum((pp == c) & (yy == c)) for c in range(C)]
    fp = [np.sum((pp == c) & (yy != c)) for c in range(C)]
    fn = [np.sum((pp != c) & (yy == c)) for c in range(C)]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loss.counts), np.array([tp, fp, fn]))
    loss.reset_counts()
    assert not keras.ops.convert_to_numpy(loss.counts).any()
    untracked = AdaptiveWeightedLoss(C)
    untracked(y, logits)
    assert not keras.ops.convert_to_numpy(untracked.counts).any()  # off unless a callback asks


def test_callback_update_is_the_acwa_formula_with_sklearn_f1():
    y, logits = batch(3, n=30)
    y[y == 2] = 0  # class 2 absent from the window -> its weight must stay
    loss = AdaptiveWeightedLoss(C, initial_weights=[1.0, 1.2, 0.8], track_counts=True)
    cb = ACWACallback(loss, target_metric=0.9, alpha=0.5, beta=0.8)
    loss(y, logits)
    metric = cb.update()
    f1 = f1_score(y.numpy(), logits.argmax(1).numpy(), labels=[0, 1, 2], average=None, zero_division=0)
    np.testing.assert_allclose(metric[:2].numpy(), f1[:2], rtol=1e-6)
    assert torch.isnan(metric[2])
    w0 = np.array([1.0, 1.2, 0.8])
    expected = np.clip(0.8 * w0 + 0.2 * (w0 + 0.5 * (0.9 - f1)), 0.5, 2.0)
    expected[2] = 0.8
    np.testing.assert_allclose(loss.weights, expected, rtol=1e-6)
    np.testing.assert_allclose(cb.weights.numpy(), expected, rtol=1e-6)
    assert not keras.ops.convert_to_numpy(loss.counts).any()  # new window


def test_fit_on_torch_dataloader_where_class_weight_is_refused():
    x, y = imbalanced_data()
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32, shuffle=False)
    model, loss = model_and_loss()
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(loader, epochs=1, class_weight={0: 1.0, 1: 4.0, 2: 12.0}, verbose=0)
    cb = ACWACallback(loss, alpha=0.5, beta=0.5, update_freq=2)
    hist = model.fit(loader, epochs=2, callbacks=[cb], verbose=0)
    assert cb.weight_history.shape == (1 + 10 // 2, C)  # 5 batches per epoch, update every 2
    w = loss.weights
    np.testing.assert_allclose(w, cb.weights.numpy())
    assert w[2] > w[0]  # minority class (lowest F1) gained weight relative to the majority
    assert hist.history["acwa_weight_2"][-1] == pytest.approx(float(w[2]))
    assert set(hist.history) >= {f"acwa_f1_{c}" for c in range(C)}
    assert loss.track_counts is False  # switched off after fit


def test_fit_on_python_generator_with_epoch_updates():
    x, y = imbalanced_data()

    def gen():
        while True:
            for i in range(0, len(y), 40):
                yield x[i : i + 40], y[i : i + 40]

    model, loss = model_and_loss()
    cb = ACWACallback(loss, alpha=0.5, beta=0.5)  # update_freq='epoch'
    model.fit(gen(), steps_per_epoch=4, epochs=3, callbacks=[cb], verbose=0)
    assert cb.weight_history.shape == (4, C)
    assert not np.allclose(loss.weights, 1.0)


def test_validation_driven_updates_ignore_training_batches():
    x, y = imbalanced_data()
    only0 = y == 0
    model, loss = model_and_loss()
    cb = ACWACallback(loss, alpha=0.5, beta=0.5, update_on="validation", metric="recall")
    model.fit(x, y, validation_data=(x[only0][:20], y[only0][:20]), batch_size=40, epochs=2, callbacks=[cb], verbose=0)
    hist = cb.weight_history
    assert hist.shape == (3, C)
    # the validation set holds class 0 only: classes 1 and 2 are NaN there and keep weight 1
    np.testing.assert_array_equal(hist[:, 1:].numpy(), 1.0)
    assert cb.last_metric is not None and torch.isnan(cb.last_metric[1:]).all()
    preds = keras.ops.convert_to_numpy(model(x[only0][:20])).argmax(1)
    recall0 = recall_score(y[only0][:20], preds, labels=[0], average=None)[0]
    assert cb.last_metric[0].item() == pytest.approx(recall0)


def test_validation_mode_without_validation_data_warns():
    x, y = imbalanced_data()
    model, loss = model_and_loss()
    cb = ACWACallback(loss, update_on="validation")
    with pytest.warns(UserWarning, match="validation_data"):
        model.fit(x, y, batch_size=80, epochs=1, callbacks=[cb], verbose=0)
    assert cb.weight_history.shape == (1, C)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="initial_weights"):
        AdaptiveWeightedLoss(C, initial_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="num_classes"):
        AdaptiveWeightedLoss(1)
    loss = AdaptiveWeightedLoss(C)
    with pytest.raises(ValueError, match="update_freq"):
        ACWACallback(loss, update_freq=0)
    with pytest.raises(ValueError, match="metric"):
        ACWACallback(loss, metric="auc")
    with pytest.raises(ValueError, match="update_on"):
        ACWACallback(loss, update_on="test")
    with pytest.raises(ValueError, match="AdaptiveWeightedLoss"):
        ACWACallback("categorical_crossentropy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="y_pred"):
        loss(torch.tensor([0, 1]), torch.zeros(2, C, 1))


def test_config_round_trip_keeps_weights():
    loss = AdaptiveWeightedLoss(C, initial_weights=[0.5, 1.0, 2.0])
    clone = AdaptiveWeightedLoss.from_config(loss.get_config())
    np.testing.assert_array_equal(clone.weights, loss.weights)
    assert clone.num_classes == C


def test_missing_keras_gives_the_install_hint(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.delitem(sys.modules, "acwa.integrations.keras")
    with pytest.raises(ImportError, match=r"pip install 'acwa-torch\[keras\]'.*KERAS_BACKEND=torch"):
        importlib.import_module("acwa.integrations.keras")


def test_old_callback_name_still_works_with_a_deprecation_warning():
    import acwa.integrations.keras as keras_integration

    with pytest.warns(DeprecationWarning, match="ACWAKerasCallback"):
        assert keras_integration.ACWACallback is ACWACallback


def test_sigmoid_acwa_loss_as_loss_fn_for_binary_and_multilabel():
    from acwa.losses import SigmoidFocalLoss

    g = torch.Generator().manual_seed(4)
    z, y = torch.randn(20, generator=g), (torch.rand(20, generator=g) < 0.3).float()
    focal = SigmoidFocalLoss(alpha=0.25, gamma=2.0)
    loss = AdaptiveWeightedLoss(task="binary", initial_weights=[1.0, 3.0], loss_fn=focal)
    p = torch.sigmoid(z.double())
    p_t = torch.where(y == 1, p, 1 - p)
    alpha_t = torch.where(y == 1, 0.25, 0.75)
    ref = -alpha_t * (1 - p_t) ** 2 * torch.log(p_t)
    expected = (ref * (1.0 + 2.0 * y)).mean()
    torch.testing.assert_close(
        torch.as_tensor(loss(y[:, None], z[:, None])).cpu().double(), expected, rtol=1e-5, atol=0
    )
    assert focal.reduction == "mean"  # restored

    zl, yl = torch.randn(20, 3, generator=g), (torch.rand(20, 3, generator=g) < 0.3).float()
    w = torch.tensor([1.0, 2.0, 0.5])
    multi = AdaptiveWeightedLoss(3, task="multilabel", initial_weights=w, loss_fn=SigmoidFocalLoss(alpha=None))
    p = torch.sigmoid(zl.double())
    p_t = torch.where(yl == 1, p, 1 - p)
    expected = (-((1 - p_t) ** 2) * torch.log(p_t) * (1 + yl * (w.double() - 1))).mean()
    torch.testing.assert_close(torch.as_tensor(multi(yl, zl)).cpu().double(), expected, rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="task='binary'"):
        AdaptiveWeightedLoss(task="binary")(y, torch.zeros(20, 2))
