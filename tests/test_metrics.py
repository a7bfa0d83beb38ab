import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score

from acwa.metrics import ClassStatScores, balanced_accuracy, macro_f1, per_class_metric, stat_scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_metrics_match_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    c = 7
    target = torch.randint(0, c, (500,), generator=g)
    logits = torch.randn(500, c, generator=g)
    preds = logits.argmax(1)
    for name, ref in [("f1", f1_score), ("recall", recall_score), ("precision", precision_score)]:
        ours = per_class_metric(logits, target, c, name).numpy()
        expected = ref(target.numpy(), preds.numpy(), average=None, labels=list(range(c)), zero_division=0)
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-7)
    assert balanced_accuracy(preds, target, c).item() == pytest.approx(balanced_accuracy_score(target, preds))
    assert macro_f1(preds, target, c).item() == pytest.approx(f1_score(target, preds, average="macro"))


def test_stat_scores_hand_case_and_ignore_index():
    preds = torch.tensor([0, 1, 1, 2, 2, 0])
    target = torch.tensor([0, 1, 2, 2, -100, 1])
    tp, fp, fn = stat_scores(preds, target, 3, ignore_index=-100)
    assert tp.tolist() == [1, 1, 1]
    assert fp.tolist() == [1, 1, 0]  # the ignored sample's prediction (2) is not counted
    assert fn.tolist() == [0, 1, 1]


def test_absent_class_is_nan_and_never_predicted_class_has_zero_precision():
    target = torch.tensor([0, 0, 1, 1])
    preds = torch.tensor([0, 0, 0, 0])
    f1 = per_class_metric(preds, target, 3, "f1")
    assert torch.isnan(f1[2]) and f1[1] == 0
    prec = per_class_metric(preds, target, 3, "precision")
    assert prec[1] == 0 and torch.isnan(prec[2])


def test_streaming_counts_equal_one_shot_counts_and_state_round_trip():
    g = torch.Generator().manual_seed(3)
    target = torch.randint(0, 5, (300,), generator=g)
    logits = torch.randn(300, 5, generator=g)
    s = ClassStatScores(5)
    for chunk in range(0, 300, 64):
        s.update(logits[chunk : chunk + 64], target[chunk : chunk + 64])
    assert torch.equal(s.counts, stat_scores(logits, target, 5))
    s2 = ClassStatScores(5)
    s2.load_state_dict(s.state_dict())
    assert torch.equal(s2.compute("f1"), s.compute("f1"))
    s.reset()
    assert int(s.counts.sum()) == 0


def test_dense_prediction_shapes():
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    counts = stat_scores(logits, target, 3)
    assert int(counts[0].sum() + counts[2].sum()) == 32  # tp + fn = every pixel once


@pytest.mark.parametrize("ignore_index", [None, -100, 2])
def test_streamed_counts_match_sklearn(ignore_index):
    g = torch.Generator().manual_seed(5)
    c = 6
    target = torch.randint(0, c, (400,), generator=g)
    if ignore_index is not None:
        target[::7] = ignore_index
    logits = torch.randn(400, c, generator=g)
    s = ClassStatScores(c, ignore_index=ignore_index)
    assert s.state_dict()["counts"].shape == (3, c)  # tp, fp, fn: O(C) at any C
    for chunk in range(0, 400, 96):
        s.update(logits[chunk : chunk + 96], target[chunk : chunk + 96])
    keep = (target != ignore_index).numpy() if ignore_index is not None else np.ones(400, bool)
    y, p = target.numpy()[keep], logits.argmax(1).numpy()[keep]
    expected = recall_score(y, p, average=None, labels=list(range(c)), zero_division=0)
    support = np.bincount(y, minlength=c)
    expected[support == 0] = np.nan  # an ignored class in [0, C) has no support: NaN, not 0
    np.testing.assert_allclose(s.compute("recall").numpy(), expected, rtol=1e-6)
    assert s.support.tolist() == support.tolist()
    assert torch.equal(s.counts, stat_scores(logits, target, c, ignore_index=ignore_index))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_metrics_match_sklearn_with_ties(seed):
    from sklearn.metrics import average_precision_score, roc_auc_score

    from acwa.metrics import binary_average_precision, binary_roc_auc, mean_average_precision, roc_auc

    g = torch.Generator().manual_seed(seed)
    scores = (torch.randn(300, generator=g) * 2).round()  # many tied scores
    labels = (torch.rand(300, generator=g) < 0.15).long()
    assert binary_average_precision(scores, labels).item() == pytest.approx(
        average_precision_score(labels.numpy(), scores.numpy()), abs=1e-6
    )
    assert binary_roc_auc(scores.unsqueeze(1), labels).item() == pytest.approx(
        roc_auc_score(labels.numpy(), scores.numpy()), abs=1e-6
    )
    z = torch.randn(200, 5, generator=g).round(decimals=1)
    y = (torch.rand(200, 5, generator=g) < torch.tensor([0.02, 0.1, 0.3, 0.5, 0.0])).long()
    y[0, 0] = 1  # label 0 has at least one positive; label 4 has none (NaN, skipped by the mean)
    per = [average_precision_score(y[:, k].numpy(), z[:, k].numpy()) for k in range(4)]
    assert mean_average_precision(z, y).item() == pytest.approx(np.mean(per), abs=1e-6)
    aucs = roc_auc(z, y)
    assert torch.isnan(aucs[4])
    np.testing.assert_allclose(aucs[:4].numpy(), [roc_auc_score(y[:, k], z[:, k]) for k in range(4)], atol=1e-6)


def test_multilabel_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    from acwa.metrics import multilabel_f1

    g = torch.Generator().manual_seed(4)
    z = torch.randn(120, 4, generator=g)
    y = (torch.rand(120, 4, generator=g) < 0.3).long()
    pred = (z > 0.25).long().numpy()
    for average in (None, "macro", "micro"):
        ours = multilabel_f1(z, y, threshold=0.25, average=average)
        ref = f1_score(y.numpy(), pred, average=average, zero_division=0)
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="0/1"):
        multilabel_f1(z, y * 2)
