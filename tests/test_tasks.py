"""The task notion: checks, counts and per-element weights against hand-written references."""

import numpy as np
import pytest
import torch

from acwa.tasks import BinaryTask, MulticlassTask, MultilabelTask, infer_task, make_task


def _confusion_reference(pred, target, k):
    tp = np.array([np.sum((pred == c) & (target == c)) for c in range(k)])
    fp = np.array([np.sum((pred == c) & (target != c)) for c in range(k)])
    fn = np.array([np.sum((pred != c) & (target == c)) for c in range(k)])
    return np.stack([tp, fp, fn])


@pytest.mark.parametrize("num_classes", [3, 200])
def test_multiclass_counts_match_reference_with_ignored(num_classes):
    g = torch.Generator().manual_seed(num_classes)
    z = torch.randn(400, num_classes, generator=g)
    y = torch.randint(0, num_classes, (400,), generator=g)
    y[::7] = -100
    task = MulticlassTask(num_classes=num_classes)
    task.check(z, y)
    keep = (y != -100).numpy()
    ref = _confusion_reference(z.argmax(1).numpy()[keep], y.numpy()[keep], num_classes)
    np.testing.assert_array_equal(task.stat_scores(z, y).numpy(), ref)


def test_soft_targets_weight_is_expected_class_weight_and_count_at_argmax():
    g = torch.Generator().manual_seed(1)
    q = torch.softmax(torch.randn(20, 4, generator=g), 1)
    w = torch.tensor([0.5, 1.0, 1.5, 2.0])
    task = MulticlassTask(num_classes=4)
    task.check(torch.randn(20, 4), q)
    expected = [sum(float(q[i, c]) * float(w[c]) for c in range(4)) for i in range(20)]
    np.testing.assert_allclose(task.sample_weight(w, q).numpy(), expected, rtol=1e-6)
    onehot = torch.nn.functional.one_hot(q.argmax(1), 4).float()
    np.testing.assert_allclose(task.sample_weight(w, onehot).numpy(), w[q.argmax(1)].numpy())
    z = torch.randn(20, 4, generator=g)
    ref = _confusion_reference(z.argmax(1).numpy(), q.argmax(1).numpy(), 4)
    np.testing.assert_array_equal(task.stat_scores(z, q).numpy(), ref)
    with pytest.raises(ValueError, match="probability rows"):
        task.check(torch.randn(20, 4), q * 2)


def test_binary_counts_both_classes_at_threshold_and_weights():
    z = torch.tensor([-2.0, -0.5, 0.3, 1.0, 2.0, -1.0])
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    task = BinaryTask(threshold=0.5)
    pred = (z > 0.5).long().numpy()
    np.testing.assert_array_equal(task.stat_scores(z, y).numpy(), _confusion_reference(pred, y.numpy(), 2))
    for labels in (y, y.bool(), y.float()):
        task.check(z.unsqueeze(1), labels)
    w = task.sample_weight(torch.tensor([1.0, 4.0]), y.float())
    assert w.tolist() == [1.0, 4.0, 1.0, 4.0, 4.0, 1.0]
    with pytest.raises(ValueError, match="values 0 or 1"):
        task.check(z, torch.tensor([0, 1, 2, 0, 1, 0]))
    with pytest.raises(ValueError, match="one logit per sample"):
        task.check(torch.randn(6, 2), y)


def test_multilabel_counts_per_label_and_positive_weights():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(50, 3, generator=g)
    y = (torch.rand(50, 3, generator=g) > 0.6).long()
    task = MultilabelTask(num_labels=3)
    task.check(z, y)
    p = (z > 0).long().numpy()
    t = y.numpy()
    ref = np.stack([(p * t).sum(0), (p * (1 - t)).sum(0), ((1 - p) * t).sum(0)])
    np.testing.assert_array_equal(task.stat_scores(z, y).numpy(), ref)
    w = torch.tensor([2.0, 3.0, 4.0])
    np.testing.assert_allclose(task.sample_weight(w, y).numpy(), np.where(t == 1, w.numpy(), 1.0))
    with pytest.raises(ValueError, match="multi-hot"):
        task.check(z, y * 2)
    with pytest.raises(ValueError, match="num_labels=4"):
        MultilabelTask(num_labels=4).check(z, y)


def test_one_logit_is_never_a_one_class_softmax():
    with pytest.raises(ValueError, match="task='binary'"):
        MulticlassTask(num_classes=2).check(torch.randn(4, 1), torch.tensor([0, 1, 0, 1]))


def test_infer_and_make_task():
    assert infer_task(torch.randn(4), torch.tensor([0, 1, 0, 1])) == "binary"
    assert infer_task(torch.randn(4, 1), torch.tensor([0, 1, 0, 1])) == "binary"
    assert infer_task(torch.randn(4, 3), torch.tensor([0, 1, 2, 1])) == "multiclass"
    assert infer_task(torch.randn(4, 3), torch.tensor([[1, 1, 0]] * 4)) == "multilabel"
    assert infer_task(torch.randn(4, 3), torch.full((4, 3), 1 / 3)) == "multiclass"
    with pytest.raises(ValueError, match="contradicts the shapes"):
        infer_task(torch.randn(4), torch.tensor([0, 1, 0, 1]), task="multiclass")
    assert isinstance(make_task("binary"), BinaryTask)
    assert make_task("multilabel", 5).size == 5
    with pytest.raises(ValueError, match="needs num_classes"):
        make_task("multiclass")
    with pytest.raises(ValueError, match="task must be one of"):
        make_task("regression", 3)


@pytest.mark.parametrize("num_classes", [256, 300, 1000, 1024, 2000])
def test_blocked_argmax_equals_argmax_with_ties_and_strides(num_classes):
    from acwa.tasks._counting import argmax_classes

    g = torch.Generator().manual_seed(num_classes)
    z = torch.randn(64, num_classes, generator=g)
    z[0, [3, num_classes - 1]] = 50.0  # tie across the first block and the tail: first index wins
    z[1, [40, 70]] = 50.0  # tie across two blocks
    z[2, num_classes - 1] = 60.0  # maximum in the tail
    z[3, :] = 1.0  # all equal
    z = z.round(decimals=1)  # many ties everywhere
    assert torch.equal(argmax_classes(z), z.argmax(1))
    wide = torch.randn(num_classes, 64, generator=g).t()  # non-contiguous rows
    assert torch.equal(argmax_classes(wide), wide.argmax(1))
