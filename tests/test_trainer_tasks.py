"""ACWATrainer on the three task shapes: binary one-logit, multi-label, soft targets (mixup)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from acwa import ACWATrainer, FocalLoss
from acwa.adaptive import acwa_update
from acwa.metrics import f1_from_counts


def _confusion(pred, target, k):
    return torch.stack(
        [
            torch.tensor([int(((pred == c) & (target == c)).sum()) for c in range(k)]),
            torch.tensor([int(((pred == c) & (target != c)).sum()) for c in range(k)]),
            torch.tensor([int(((pred != c) & (target == c)).sum()) for c in range(k)]),
        ]
    )


@pytest.mark.parametrize("shape", ["[N]", "[N, 1]"])
def test_binary_one_logit_adapts_neg_and_pos_weights_with_the_readme_rule(shape):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, generator=g)
    y = (torch.rand(64, generator=g) < 0.2).long()
    logits = z if shape == "[N]" else z.unsqueeze(1)
    task = None if shape == "[N]" else "binary"  # [N, 1] is never guessed: a one-column softmax is a bug
    t = ACWATrainer(task=task, threshold=0.5, alpha=1.0, beta=0.0, update_freq=2)
    t.update_metrics(logits, y)
    w = torch.tensor([0.8, 1.6])
    t.set_weights(w)
    # loss: sum_i w_{y_i} BCE_i / N (w = [w_neg, w_pos], i.e. pos_weight = w_pos / w_neg)
    bce = F.binary_cross_entropy_with_logits(z.double(), y.double(), reduction="none")
    expected = (w.double()[y] * bce).mean()
    torch.testing.assert_close(t.get_weighted_loss(logits, y).double(), expected, rtol=1e-6, atol=1e-7)
    t.update_metrics(logits, y)  # second call: one update from both batches
    counts = 2 * _confusion((z > 0.5).long(), y, 2)  # counted at the logit threshold 0.5
    f1 = f1_from_counts(*counts)
    torch.testing.assert_close(t.last_metric, f1)
    torch.testing.assert_close(t.weights, acwa_update(w, f1, 0.85, 1.0, 0.0))
    assert t.task.name == "binary" and t.weights.shape == (2,)


def test_one_logit_column_without_task_is_binary():
    trainer = ACWATrainer()
    trainer.get_weighted_loss(torch.randn(4, 1), torch.tensor([0, 1, 0, 1]))
    assert trainer.task.name == "binary"


def test_task_contradicting_the_shapes_is_a_value_error():
    with pytest.raises(ValueError, match="one logit"):
        ACWATrainer(task="binary").get_weighted_loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="num_classes"):
        ACWATrainer(task="binary", num_classes=3)
    with pytest.raises(ValueError, match="contradicts the shapes"):
        ACWATrainer(task="multilabel").get_weighted_loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))


def test_multilabel_adapts_per_label_positive_weights_from_each_labels_f1():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(80, 4, generator=g)
    y = (torch.rand(80, 4, generator=g) < torch.tensor([0.05, 0.2, 0.4, 0.6])).long()
    t = ACWATrainer(num_classes=4, alpha=1.0, beta=0.0, update_freq=1, weight_bounds=(0.5, 5.0))
    w = torch.tensor([4.0, 2.0, 1.0, 0.5])
    t.set_weights(w)
    # loss: sum_{i,l} (y_il w_l + (1 - y_il)) BCE_il / (N L)
    bce = F.binary_cross_entropy_with_logits(z.double(), y.double(), reduction="none")
    s = y.double() * w.double() + (1 - y.double())
    torch.testing.assert_close(t.get_weighted_loss(z, y).double(), (s * bce).mean(), rtol=1e-6, atol=1e-7)
    assert t.task.name == "multilabel"
    t.update_metrics(z, y)
    pred = (z > 0).long()
    tp = (pred * y).sum(0)
    f1 = f1_from_counts(tp, pred.sum(0) - tp, y.sum(0) - tp)
    torch.testing.assert_close(t.last_metric, f1)
    torch.testing.assert_close(t.weights, acwa_update(w, f1, 0.85, 1.0, 0.0, bounds=(0.5, 5.0)))


def test_multilabel_frequencies_start_from_the_static_pos_weight():
    t = ACWATrainer(task="multilabel", class_frequencies=[0.1, 0.25, 0.5], weight_bounds=(0.5, 5.0))
    torch.testing.assert_close(t.weights, torch.tensor([5.0, 3.0, 1.0]))  # (1 - p) / p, clipped


def _mixup(x, y, num_classes, lam, smoothing=0.1):
    """timm's Mixup (mode 'batch'): x and the one-hot (smoothed) targets mixed with the flipped batch."""
    off, on = smoothing / num_classes, 1.0 - smoothing + smoothing / num_classes
    onehot = torch.full((len(y), num_classes), off).scatter_(1, y.unsqueeze(1), on)
    return lam * x + (1 - lam) * x.flip(0), lam * onehot + (1 - lam) * onehot.flip(0)


class SoftTargetCrossEntropy(nn.Module):
    """timm's SoftTargetCrossEntropy: sum_c -q_c log_softmax(z)_c, averaged over the batch."""

    def forward(self, x, target):
        return torch.sum(-target * F.log_softmax(x, dim=-1), dim=-1).mean()


def test_soft_targets_from_mixup_weight_each_sample_by_its_expected_class_weight():
    g = torch.Generator().manual_seed(2)
    c = 5
    x, y = torch.randn(32, 6, generator=g), torch.randint(0, c, (32,), generator=g)
    model = nn.Linear(6, c)
    xm, q = _mixup(x, y, c, lam=0.7)
    t = ACWATrainer(num_classes=c, update_freq=1, alpha=1.0, beta=0.0)
    w = torch.tensor([0.5, 0.75, 1.0, 1.5, 2.0])
    t.set_weights(w)
    out = model(xm)
    per_sample = torch.sum(-q * F.log_softmax(out, dim=-1), dim=-1)  # SoftTargetCrossEntropy per sample
    expected = ((q @ w) * per_sample).mean()  # s_i = sum_c q_ic w_c
    loss = t.get_weighted_loss(out, q)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(SoftTargetCrossEntropy()(out, q), per_sample.mean())  # same loss, unweighted
    loss.backward()
    t.update_metrics(out, q)  # counted at the target's argmax
    counts = _confusion(out.argmax(1), q.argmax(1), c)
    torch.testing.assert_close(t.last_metric, f1_from_counts(*counts))
    # a soft-target loss module with reduction='none' (nn.CrossEntropyLoss) gives the same loss
    t2 = ACWATrainer(num_classes=c, loss_fn=nn.CrossEntropyLoss())
    t2.set_weights(w)
    torch.testing.assert_close(t2.get_weighted_loss(out, q), expected)


def test_a_loss_that_returns_a_scalar_names_the_acwa_alternative():
    t = ACWATrainer(num_classes=4, loss_fn=SoftTargetCrossEntropy())
    q = torch.softmax(torch.randn(8, 4), 1)
    with pytest.raises(ValueError, match="loss_fn=None") as err:
        t.get_weighted_loss(torch.randn(8, 4), q)
    assert "acwa.losses" in str(err.value) and "soft targets" in str(err.value)


def test_soft_rows_that_do_not_sum_to_one_are_refused():
    with pytest.raises(ValueError, match="probability rows"):
        ACWATrainer(num_classes=3).get_weighted_loss(torch.randn(4, 3), torch.full((4, 3), 0.5))


def test_binary_and_multilabel_state_round_trip():
    for task, z, y in [
        ("binary", torch.randn(20), (torch.rand(20) > 0.5).long()),
        ("multilabel", torch.randn(20, 3), (torch.rand(20, 3) > 0.5).long()),
    ]:
        t = ACWATrainer(task=task, num_classes=None if task == "binary" else 3, update_freq=3, alpha=1.0)
        for _ in range(4):
            t.update_metrics(z, y)
        fresh = ACWATrainer(task=task, update_freq=3, alpha=1.0)
        fresh.load_state_dict(t.state_dict())
        assert fresh.task == t.task and torch.equal(fresh.weights, t.weights)
        assert np.array_equal(fresh.window.stats.counts.numpy(), t.window.stats.counts.numpy())


def test_meta_device_tensors_and_numpy_scalars_are_accepted():
    t = ACWATrainer(num_classes=np.int64(3), update_freq=np.int64(1), ignore_index=np.int32(-1))  # type: ignore[arg-type]
    z, y = torch.randn(4, 3, device="meta"), torch.zeros(4, dtype=torch.long, device="meta")
    loss = t.get_weighted_loss(z, y)  # no value read back from the meta tensors
    assert loss.device.type == "meta" and t.weights.device.type == "meta"
    assert t.num_classes == 3 and t.update_freq == 1 and t.ignore_index == -1


def test_an_ignore_index_inside_the_classes_is_excluded_from_loss_and_counts():
    g = torch.Generator().manual_seed(3)
    z, y = torch.randn(8, 3, generator=g), torch.tensor([0, 1, 1, 2, 1, 0, 2, 1], dtype=torch.int32)
    t = ACWATrainer(num_classes=3, ignore_index=1, update_freq=1, alpha=1.0, beta=0.0)
    keep = y != 1
    expected = F.cross_entropy(z[keep], y[keep].long())  # divided by the 4 counted samples, not 8
    torch.testing.assert_close(t.get_weighted_loss(z, y), expected)
    t.update_metrics(z, y)
    assert t.last_metric is not None and torch.isnan(t.last_metric[1])  # class 1 is absent from the window
    assert t.weights[1] == 1.0  # so it never moves its weight


@pytest.mark.parametrize("task", ["binary", "multilabel", "multiclass"])
@pytest.mark.parametrize("loss_fn", [None, "foreign", "focal"])
def test_non_finite_logits_are_refused_whatever_the_loss_even_in_ignored_rows(task, loss_fn):
    inf, nan = float("inf"), float("nan")
    if task == "binary":
        y = torch.tensor([0, 1, 0, -100])
        z = torch.tensor([-3.0, 1.0, -2.0, 0.5])
        bad = [torch.tensor([inf, 1.0, -2.0, 0.5]), torch.tensor([0.0, 0.0, 0.0, nan])]  # the last row is ignored
        foreign = torch.nn.BCEWithLogitsLoss(reduction="none")
    elif task == "multilabel":
        y = torch.tensor([[0, 1], [1, -100]])
        z = torch.tensor([[-3.0, 1.0], [2.0, -1.0]])
        bad = [torch.tensor([[-inf, 1.0], [2.0, -1.0]]), torch.tensor([[0.0, 1.0], [2.0, nan]])]
        foreign = torch.nn.BCEWithLogitsLoss(reduction="none")
    else:
        y = torch.tensor([0, 2, -100])
        z = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
        bad = [
            torch.tensor([[1.0, -inf, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.0]]),
            z.clone().index_fill_(0, torch.tensor([2]), nan),
        ]
        foreign = torch.nn.CrossEntropyLoss(reduction="none")
    if loss_fn == "focal":
        if task != "multiclass":
            pytest.skip("softmax focal loss is multiclass")
        loss = FocalLoss()
    else:
        loss = foreign if loss_fn == "foreign" else None
    trainer = ACWATrainer(
        task=task, num_classes=None if task == "binary" else z.shape[1], update_freq=1, loss_fn=loss, ignore_index=-100
    )
    zg = z.clone().requires_grad_()
    value = trainer.step_loss(zg, y.float() if loss_fn == "foreign" and task != "multiclass" else y)
    value.backward()
    assert torch.isfinite(value) and bool(torch.isfinite(zg.grad).all())
    for outputs in bad:
        with pytest.raises(ValueError, match="NaN or Inf"):
            trainer.get_weighted_loss(outputs, y)
        with pytest.raises(ValueError, match="NaN or Inf"):
            trainer.update_metrics(outputs, y)
        with pytest.raises(ValueError, match="NaN or Inf"):
            trainer.step_loss(outputs, y)


def test_a_foreign_loss_still_has_its_logits_checked():
    y = torch.tensor([0, 1, 0, 1])
    z = torch.tensor([float("-inf"), 1.0, -2.0, 0.5])
    trainer = ACWATrainer(task="binary", loss_fn=torch.nn.BCEWithLogitsLoss(reduction="none"))
    with pytest.raises(ValueError, match="NaN or Inf"):
        trainer.get_weighted_loss(z, y.float())


@pytest.mark.parametrize("task", ["binary", "multilabel", "multiclass"])
def test_later_batches_of_the_same_shapes_still_have_their_values_checked(task):
    # the shapes of a batch like the last one are not checked again; its values always are
    if task == "binary":
        z, y, bad_y, other_y = torch.randn(6), torch.tensor([0, 1, 0, 1, 1, 0]), 2, torch.zeros(5, dtype=torch.long)
    elif task == "multilabel":
        z, y = torch.randn(6, 3), (torch.rand(6, 3) < 0.5).long()
        bad_y, other_y = 2, torch.zeros(6, 4, dtype=torch.long)
    else:
        z, y, bad_y, other_y = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]), 3, torch.zeros(5, dtype=torch.long)
    trainer = ACWATrainer(task=task, num_classes=None if task == "binary" else 3)
    trainer.get_weighted_loss(z, y)
    trainer.update_metrics(z, y)
    for _ in range(2):
        labels = y.clone()
        labels.view(-1)[0] = bad_y
        with pytest.raises(ValueError, match="labels must"):
            trainer.get_weighted_loss(z.clone(), labels)
        nan = z.clone()
        nan.view(-1)[1] = float("nan")
        with pytest.raises(ValueError, match="NaN or Inf"):
            trainer.update_metrics(nan, y.clone())
        with pytest.raises(ValueError, match=r"labels must have shape|and labels \("):
            trainer.get_weighted_loss(z.clone(), other_y)
