"""ACWATrainer against the ACWA README (acwa-trainer 1.0.0) as written."""

import copy

import pytest
import torch
from torch import nn

from acwa import ACWATrainer, EarlyStopping, FocalLoss
from acwa.adaptive import acwa_update
from acwa.metrics import per_class_metric


def make_problem(n=512, d=8, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, :c].argmax(1) + (torch.rand(n, generator=g) < 0.2).long()) % c
    return x, y


def batches(x, y, bs=64):
    return [(x[i : i + bs], y[i : i + bs]) for i in range(0, len(x), bs)]


def train(trainer, model, data, epochs=1, lr=0.1):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        for inputs, labels in data:
            outputs = model(inputs)
            loss = trainer.get_weighted_loss(outputs, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            trainer.update_metrics(outputs, labels)


def test_readme_basic_usage_runs_and_updates_every_update_freq_calls():
    x, y = make_problem()
    dataloader = batches(x, y)
    model = nn.Linear(8, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = ACWATrainer(num_classes=4, target_metric=0.85, alpha=0.02, beta=0.9, update_freq=3)
    for inputs, labels in dataloader:  # the README's loop, verbatim apart from zero_grad
        outputs = model(inputs)
        loss = trainer.get_weighted_loss(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        trainer.update_metrics(outputs, labels)
    assert trainer.num_calls == 8
    assert trainer.weight_history.shape == (1 + 8 // 3, 4)
    assert trainer.weight_history_steps.tolist() == [0, 3, 6]
    assert not torch.equal(trainer.weights, torch.ones(4))


def test_one_window_reproduces_the_formula_with_f1_of_the_window():
    x, y = make_problem(n=192)
    logits = torch.randn(192, 4)
    trainer = ACWATrainer(num_classes=4, alpha=0.5, beta=0.5, update_freq=3)
    for i in range(0, 192, 64):
        trainer.update_metrics(logits[i : i + 64], y[i : i + 64])
    f1 = per_class_metric(logits, y, 4, "f1")
    expected = acwa_update(torch.ones(4), f1, 0.85, 0.5, 0.5)
    torch.testing.assert_close(trainer.weights, expected)
    torch.testing.assert_close(trainer.last_metric, f1)


def test_weighted_loss_is_mean_of_weighted_per_sample_ce():
    logits, y = torch.randn(10, 3), torch.randint(0, 3, (10,))
    trainer = ACWATrainer(num_classes=3)
    trainer.controller.weights = torch.tensor([0.5, 1.0, 2.0])
    per = nn.functional.cross_entropy(logits, y, reduction="none")
    expected = (torch.tensor([0.5, 1.0, 2.0])[y] * per).mean()
    torch.testing.assert_close(trainer.get_weighted_loss(logits, y), expected)


def test_weighted_loss_follows_weight_changes_and_batch_size():
    """The cached w / N must follow a weight update, an in-place edit, a shorter batch and a
    batch with ignored labels."""
    g = torch.Generator().manual_seed(0)
    trainer = ACWATrainer(num_classes=3, update_freq=None, alpha=1.0, beta=0.0)

    def expected(logits, y):
        keep = y != -100
        per = nn.functional.cross_entropy(logits[keep], y[keep], reduction="none")
        return (trainer.weights[y[keep]] * per).sum() / keep.sum()

    for n, edit in [(8, None), (8, "step"), (5, None), (5, "in_place"), (8, "ignore")]:
        logits, y = torch.randn(n, 3, generator=g), torch.randint(0, 3, (n,), generator=g)
        if edit == "step":
            trainer.update_metrics(logits, y)
            before = trainer.weights.clone()
            trainer.step()
            assert not torch.equal(trainer.weights, before)
        elif edit == "in_place":
            trainer.weights.mul_(torch.tensor([2.0, 1.0, 0.5]))
        elif edit == "ignore":
            y[:3] = -100
        torch.testing.assert_close(trainer.get_weighted_loss(logits, y), expected(logits, y))


def test_ignore_index_excluded_from_loss_and_metrics():
    logits = torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, -100, -100, 1])
    trainer = ACWATrainer(num_classes=3, update_freq=1)
    per = nn.functional.cross_entropy(logits[y != -100], y[y != -100], reduction="none")
    torch.testing.assert_close(trainer.get_weighted_loss(logits, y), per.mean())
    trainer.update_metrics(logits, y)
    assert torch.isfinite(trainer.weights).all()


def test_num_classes_inferred_from_first_logits():
    trainer = ACWATrainer(update_freq=1)
    trainer.update_metrics(torch.randn(16, 5), torch.randint(0, 5, (16,)))
    assert trainer.num_classes == 5 and trainer.weights.shape == (5,)


def test_absent_classes_do_not_change():
    trainer = ACWATrainer(num_classes=4, alpha=1.0, beta=0.0, update_freq=1)
    logits = torch.randn(8, 4)
    trainer.update_metrics(logits, torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]))
    assert trainer.weights[2] == 1.0 and trainer.weights[3] == 1.0
    assert trainer.weights[:2].ne(1.0).any()


def test_readme_custom_metric_callable_and_min_mode():
    def per_class_error(outputs, labels):  # lower is better
        return 1.0 - per_class_metric(outputs, labels, 3, "recall")

    trainer = ACWATrainer(
        num_classes=3,
        metric_fn=per_class_error,
        metric_mode="min",
        alpha=1.0,
        beta=0.0,
        target_metric=0.0,
        update_freq=2,
        weight_bounds=(0.0, 10.0),
    )
    logits = torch.tensor([[5.0, 0, 0], [5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0]])
    labels = torch.tensor([0, 1, 1, 2])
    trainer.update_metrics(logits[:2], labels[:2])
    trainer.update_metrics(logits[2:], labels[2:])
    # errors: class0 0, class1 0.5, class2 1.0 -> w = 1 + (error - 0)
    assert trainer.weights.tolist() == pytest.approx([1.0, 1.5, 2.0])


def test_torchmetrics_object_as_metric_fn():
    torchmetrics = pytest.importorskip("torchmetrics")
    metric = torchmetrics.F1Score(task="multiclass", num_classes=3, average=None)
    trainer = ACWATrainer(num_classes=3, metric_fn=metric, update_freq=2, alpha=1.0, beta=0.0)
    logits, y = torch.randn(40, 3), torch.randint(0, 3, (40,))
    trainer.update_metrics(logits[:20], y[:20])
    trainer.update_metrics(logits[20:], y[20:])
    f1 = per_class_metric(logits, y, 3, "f1")
    torch.testing.assert_close(trainer.last_metric, f1)
    assert int(metric.tp.sum() if hasattr(metric, "tp") else 0) == 0  # reset after the step


def test_metric_name_recall():
    trainer = ACWATrainer(num_classes=3, metric_fn="recall", update_freq=1, alpha=1.0, beta=0.0)
    logits, y = torch.randn(30, 3), torch.randint(0, 3, (30,))
    trainer.update_metrics(logits, y)
    torch.testing.assert_close(trainer.last_metric, per_class_metric(logits, y, 3, "recall"))


def test_readme_combined_with_focal_loss():
    x, y = make_problem()
    model = nn.Linear(8, 4)
    focal = FocalLoss(gamma=2.0)
    trainer = ACWATrainer(num_classes=4, loss_fn=focal, update_freq=2)
    train(trainer, model, batches(x, y))
    assert focal.reduction == "mean"  # restored after per-sample evaluation
    logits = model(x)
    trainer.controller.weights = torch.full((4,), 2.0)
    expected = 2.0 * FocalLoss(gamma=2.0, reduction="mean")(logits, y)
    torch.testing.assert_close(trainer.get_weighted_loss(logits, y), expected)


def test_loss_fn_that_only_returns_a_scalar_is_refused():
    trainer = ACWATrainer(num_classes=3, loss_fn=lambda out, lab: nn.functional.cross_entropy(out, lab))
    with pytest.raises(ValueError, match="reduction='none'"):
        trainer.get_weighted_loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))


def test_nn_crossentropy_with_mean_reduction_is_used_per_sample():
    trainer = ACWATrainer(num_classes=3, loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1))
    logits, y = torch.randn(6, 3), torch.randint(0, 3, (6,))
    expected = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, y)
    torch.testing.assert_close(trainer.get_weighted_loss(logits, y), expected)


def test_readme_class_frequency_init():
    targets = [0] * 80 + [1] * 15 + [2] * 5
    model = nn.Linear(4, 3)
    class_counts = torch.bincount(torch.tensor(targets))
    class_frequencies = class_counts.float() / (class_counts.sum() + 1e-6)
    trainer = ACWATrainer(model=model, num_classes=3, class_frequencies=class_frequencies)
    w = trainer.weights
    assert w[0] < w[1] < w[2] or (w[2] == 2.0 and w[0] < w[1])
    assert w.min() >= 0.5 and w.max() <= 2.0
    wide = ACWATrainer(num_classes=3, class_frequencies=class_frequencies, weight_bounds=(0.0, 100.0))
    ratio = (wide.weights[2] / wide.weights[0]).item()
    assert ratio == pytest.approx(80 / 5, rel=1e-3)


def test_model_keyword_sets_the_device():
    model = nn.Linear(3, 2).to("meta")
    trainer = ACWATrainer(num_classes=2, model=model)
    assert trainer.weights.device.type == "meta"


def test_readme_early_stopping_example():
    val_f1s = [0.5, 0.6, 0.6, 0.59, 0.6, 0.58, 0.55, 0.7]
    stopper = EarlyStopping(patience=5, mode="max")
    stopped_at = None
    for epoch, val_f1 in enumerate(val_f1s):
        if stopper.step(val_f1):
            stopped_at = epoch
            break
    assert stopped_at == 6 and stopper.best == 0.6
    s = EarlyStopping(patience=2, mode="min", min_delta=0.1)
    assert [s.step(v) for v in [1.0, 0.95, 0.91]] == [False, False, True]
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_readme_weight_plot(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    trainer = ACWATrainer(num_classes=3, update_freq=1, alpha=1.0)
    for _ in range(4):
        trainer.update_metrics(torch.randn(12, 3), torch.randint(0, 3, (12,)))
    weight_history = trainer.weight_history
    plt.plot(weight_history)  # the README's own plotting line
    plt.close("all")
    fig = trainer.plot_weight_history(path=tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 1000
    assert len(fig.axes[0].lines) == 3


def test_state_dict_round_trip_resumes_identically():
    x, y = make_problem(seed=4)
    data = batches(x, y, bs=32)
    torch.manual_seed(0)
    model = nn.Linear(8, 4)
    ref_model = copy.deepcopy(model)
    ref = ACWATrainer(num_classes=4, alpha=0.5, update_freq=3)
    train(ref, ref_model, data, epochs=2)

    first = ACWATrainer(num_classes=4, alpha=0.5, update_freq=3)
    train(first, model, data, epochs=1)  # 16 calls: stops mid-window (16 % 3 = 1)
    state = first.state_dict()
    resumed = ACWATrainer(alpha=0.5, update_freq=3)
    resumed.load_state_dict(state)
    train(resumed, model, data, epochs=1)
    assert torch.equal(resumed.weights, ref.weights)
    assert torch.equal(resumed.weight_history, ref.weight_history)
    assert resumed.weight_history_steps.tolist() == ref.weight_history_steps.tolist()


def test_validation_driven_updates():
    x, y = make_problem()
    model = nn.Linear(8, 4)
    trainer = ACWATrainer(num_classes=4, update_freq=None, alpha=1.0)
    train(trainer, model, batches(x[:256], y[:256]))
    assert trainer.weight_history.shape[0] == 1  # training batches never moved the weights
    model.train()
    metric = trainer.update_from_validation(model, batches(x[256:], y[256:]))
    with torch.no_grad():
        expected = per_class_metric(model(x[256:]), y[256:], 4, "f1")
    torch.testing.assert_close(metric, expected)
    assert model.training and trainer.weight_history.shape[0] == 2


@pytest.mark.parametrize(
    "outputs, labels, match",
    [
        (torch.randn(4, 3), torch.tensor([0, 1, 3, 0]), "labels must lie in"),
        (torch.randn(4, 3), torch.tensor([0, -1, 2, 0]), "labels must lie in"),
        (torch.tensor([[0.0, float("nan"), 1.0]] * 4), torch.tensor([0, 1, 2, 0]), "NaN or Inf"),
        (torch.tensor([[0.0, float("inf"), 1.0]] * 4), torch.tensor([0, 1, 2, 0]), "NaN or Inf"),
        (torch.randn(4), torch.tensor([0, 1, 2, 0]), "shape"),
        (torch.randn(4, 3), torch.tensor([0, 1, 2]), "labels must have shape"),
        (torch.randn(4, 3), torch.tensor([0.0, 1.0, 2.0, 0.0]), "integer class indices"),
        (torch.randn(4, 4), torch.tensor([0, 1, 2, 0]), "num_classes=3"),
    ],
)
def test_bad_batches_raise_value_errors(outputs, labels, match):
    trainer = ACWATrainer(num_classes=3)
    with pytest.raises(ValueError, match=match):
        trainer.get_weighted_loss(outputs, labels)
    with pytest.raises(ValueError, match=match):
        trainer.update_metrics(outputs, labels)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_classes": 1}, "num_classes must be >= 2"),
        ({"metric_mode": "maximise"}, "metric_mode"),
        ({"metric_fn": "auc"}, "metric_fn"),
        ({"update_freq": -5}, "update_freq"),
        ({"loss_fn": "focal"}, "loss_fn"),
        ({"num_classes": 3, "class_frequencies": [0.5, 0.5]}, "class_frequencies"),
        ({"class_frequencies": [0.5, -0.5]}, "class_frequencies"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ACWATrainer(**kwargs)


def test_one_logit_column_is_binary_and_refused_as_multiclass():
    # one task rule (acwa.tasks.infer_task): [N, 1] logits are a one-logit binary model
    trainer = ACWATrainer()
    trainer.get_weighted_loss(torch.randn(4, 1), torch.zeros(4, dtype=torch.long))
    assert trainer.task.name == "binary"
    with pytest.raises(ValueError, match="task='binary'"):
        ACWATrainer(task="multiclass").get_weighted_loss(torch.randn(4, 1), torch.zeros(4, dtype=torch.long))


def test_weights_stay_finite_and_bounded_under_extreme_settings():
    trainer = ACWATrainer(num_classes=3, alpha=1e6, beta=0.0, update_freq=1)
    for _ in range(5):
        trainer.update_metrics(torch.randn(9, 3), torch.randint(0, 3, (9,)))
    assert torch.isfinite(trainer.weight_history).all()
    assert trainer.weight_history.min() >= 0.5 and trainer.weight_history.max() <= 2.0


def test_logit_adjust_mode_trains_on_shifted_logits():
    from acwa.losses import LogitAdjustedLoss

    counts = torch.tensor([80.0, 15.0, 5.0])
    trainer = ACWATrainer(
        num_classes=3,
        adjust="logits",
        class_frequencies=counts,
        update_freq=1,
        target_metric="mean",
        metric_fn="recall",
        alpha=1.0,
        beta=0.0,
    )
    logits, y = torch.randn(16, 3), torch.randint(0, 3, (16,))
    # initial offsets = log prior (centred): the loss is the logit-adjusted loss
    torch.testing.assert_close(trainer.get_weighted_loss(logits, y), LogitAdjustedLoss(counts)(logits, y))
    assert torch.equal(trainer.weights, torch.ones(3))
    before = trainer.logit_offsets.clone()
    trainer.update_metrics(logits, y)
    recall = per_class_metric(logits, y, 3, "recall")
    expected = before - 1.0 * (torch.nanmean(recall) - recall)
    torch.testing.assert_close(trainer.logit_offsets, torch.where(torch.isnan(recall), before, expected))
    assert trainer.offset_history.shape == (2, 3)
    state = trainer.state_dict()
    resumed = ACWATrainer(num_classes=3, adjust="logits")
    resumed.load_state_dict(state)
    assert torch.equal(resumed.logit_offsets, trainer.logit_offsets)


def test_unknown_adjust_is_refused():
    with pytest.raises(ValueError, match="adjust"):
        ACWATrainer(num_classes=3, adjust="margins")


def test_unpickled_trainer_owns_its_tensors():
    import pickle

    trainer = ACWATrainer(num_classes=3, update_freq=1, alpha=1.0)
    trainer.update_metrics(torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]))
    clone = pickle.loads(pickle.dumps(trainer))
    assert torch.equal(clone.weights, trainer.weights)
    clone.update_metrics(torch.randn(6, 3), torch.tensor([0, 0, 0, 1, 1, 1]))
    assert trainer.num_calls == 1 and clone.num_calls == 2
    assert clone.weights.data_ptr() != trainer.weights.data_ptr()


def test_auto_mode_preset():
    counts = torch.tensor([80, 15, 5])
    trainer = ACWATrainer(num_classes=3, mode="auto", class_frequencies=counts)
    assert (trainer.adjust, trainer.update_freq, trainer.metric_fn, trainer.target_metric) == (
        "logits",
        20,
        "recall",
        "mean",
    )
    assert ACWATrainer(num_classes=3, mode="auto", class_frequencies=counts, alpha=0.1).alpha == 0.1  # explicit wins
    torch.manual_seed(0)
    for _ in range(200):  # offsets never leave the +-0.5 band around the logit-adjustment start
        trainer.update_metrics(torch.randn(16, 3) * 5, torch.randint(0, 3, (16,)))
    start = trainer.offset_history[0]
    assert (trainer.offset_history - start).abs().max() <= 0.5 + 1e-6
    assert trainer.offset_history.shape[0] == 1 + 200 // 20
    with pytest.raises(ValueError, match="class_frequencies"):
        ACWATrainer(num_classes=3, mode="auto")
    with pytest.raises(ValueError, match="mode"):
        ACWATrainer(num_classes=3, mode="turbo")


def test_auto_mode_accepts_tensor_targets():
    target = torch.tensor([0.9, 0.8, 0.7])
    trainer = ACWATrainer(num_classes=3, mode="auto", class_frequencies=[5, 3, 1], target_metric=target)
    assert isinstance(trainer.controller.target, torch.Tensor) and torch.equal(trainer.controller.target, target)


def test_default_loss_under_bfloat16_autocast_matches_float32():
    model = nn.Linear(8, 3)
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    trainer = ACWATrainer(num_classes=3)
    trainer.controller.weights = torch.tensor([0.5, 1.0, 2.0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = trainer.get_weighted_loss(out, y)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    expected = trainer.get_weighted_loss(out.float(), y)
    torch.testing.assert_close(loss, expected, rtol=1e-2, atol=1e-2)
    loss.backward()
    assert model.weight.grad is not None and torch.isfinite(model.weight.grad).all()


def test_every_checked_call_checks_and_step_loss_checks_once(monkeypatch):
    from acwa.tasks import MulticlassTask  # the task notion validates the values of every batch

    calls = []
    real = MulticlassTask._check_values

    def counted_check(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(MulticlassTask, "_check_values", counted_check)
    trainer = ACWATrainer(num_classes=3, update_freq=2)
    z, y = torch.randn(8, 3, requires_grad=True), torch.randint(0, 3, (8,))
    trainer.get_weighted_loss(z, y)
    trainer.update_metrics(z.detach(), y)  # no identity cache: a second call is a second check
    assert len(calls) == 2
    loss = trainer.step_loss(z, y)  # one combined call: one check
    assert len(calls) == 3 and loss.requires_grad and trainer.num_calls == 2
    out = z.detach().clone()
    trainer.get_weighted_loss(out, y)
    out[0, 0] = float("nan")  # changed in place after a check: still refused
    with pytest.raises(ValueError, match="NaN or Inf"):
        trainer.update_metrics(out, y)


def test_get_weighted_loss_and_update_metrics_under_inference_mode():
    # Lightning runs test_step/predict_step under torch.inference_mode(): inference tensors have
    # no version counter, so the checked-pair cache must not read it (and values are still checked)
    trainer = ACWATrainer(num_classes=3)
    logits = torch.randn(6, 3)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.inference_mode():
        z, y = logits.clone(), labels.clone()
        loss = trainer.get_weighted_loss(z, y)
        trainer.update_metrics(z, y)
        with pytest.raises(ValueError, match="must lie in"):
            trainer.get_weighted_loss(z, torch.tensor([0, 1, 5, 0, 1, 2]))
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits, labels))


def test_truncated_state_without_controller_is_refused_and_leaves_the_trainer():
    trainer = ACWATrainer(num_classes=3, alpha=0.5, beta=0.0, update_freq=1)
    trainer.update_metrics(torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]))
    before = trainer.weights.clone()
    state = trainer.state_dict()
    del state["controller"]
    with pytest.raises(ValueError, match="no 'controller'"):
        ACWATrainer(num_classes=3).load_state_dict(state)
    with pytest.raises(ValueError, match="no 'controller'"):
        trainer.load_state_dict(state)
    assert torch.equal(trainer.weights, before)
