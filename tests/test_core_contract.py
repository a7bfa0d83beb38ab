"""The simplified core's contract: exact counts whatever the caller does with its buffers, one
validation policy, options that are honest, one name per concept, and the regressions of the
defect classes fixed at their shared mechanism."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from acwa import ACWATrainer, FocalLoss
from acwa.losses import list_losses, make_loss, register_loss
from acwa.weights import class_counts, class_weights, label_neg_pos_counts, label_positive_counts


def _sklearn_f1(preds: list[np.ndarray], labels: list[np.ndarray], c: int) -> np.ndarray:
    y, p = np.concatenate(labels), np.concatenate(preds)
    f1 = f1_score(y, p, labels=list(range(c)), average=None, zero_division=0)
    support = np.bincount(y, minlength=c)
    return np.where(support > 0, f1, np.nan)


@settings(max_examples=25, deadline=None)
@given(
    c=st.integers(2, 5),
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=6),
    seed=st.integers(0, 10_000),
    reuse=st.sampled_from(["numpy", "copy_", "fresh"]),
)
def test_window_counts_equal_sklearn_over_reused_buffers(c, sizes, seed, reuse):
    """A loader that refills one buffer (NumPy writes bump no version counter, ``copy_`` does)
    must give the same per-class F1 as scikit-learn on the same predictions."""
    rng = np.random.default_rng(seed)
    trainer = ACWATrainer(num_classes=c, update_freq=None)
    buf_x, buf_y = np.zeros((max(sizes), c), np.float32), np.zeros(max(sizes), np.int64)
    tx, ty = torch.zeros(max(sizes), c), torch.zeros(max(sizes), dtype=torch.long)
    preds, labels = [], []
    for n in sizes:
        x, y = rng.normal(size=(n, c)).astype(np.float32), rng.integers(0, c, n)
        preds.append(x.argmax(1))
        labels.append(y)
        if reuse == "numpy":
            buf_x[:n], buf_y[:n] = x, y
            outputs, target = torch.from_numpy(buf_x)[:n], torch.from_numpy(buf_y)[:n]
        elif reuse == "copy_":
            tx[:n].copy_(torch.from_numpy(x))
            ty[:n].copy_(torch.from_numpy(y))
            outputs, target = tx[:n], ty[:n]
        else:
            outputs, target = torch.from_numpy(x), torch.from_numpy(y)
        trainer.update_metrics(outputs, target)
    buf_x[:] = 0  # the caller reuses its buffers once more after the last batch
    tx.zero_()
    np.testing.assert_allclose(trainer.compute_metric().numpy(), _sklearn_f1(preds, labels, c), rtol=1e-6)


def test_counts_survive_in_place_edits_pickling_state_dict_and_reset_mid_window():
    g = torch.Generator().manual_seed(0)
    trainer = ACWATrainer(num_classes=3, update_freq=None)
    z, y = torch.randn(8, 3, generator=g), torch.randint(0, 3, (8,), generator=g)
    trainer.update_metrics(z, y)
    expected = trainer.window.stats.counts.clone()
    z.fill_(float("nan"))  # an in-place edit after the call changes nothing, and raises nothing
    y.fill_(0)
    clone = pickle.loads(pickle.dumps(trainer))
    assert torch.equal(clone.window.stats.counts, expected)
    state = trainer.state_dict()
    fresh = ACWATrainer(num_classes=3, update_freq=None)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.window.stats.counts, expected)
    trainer.reset_window()
    assert int(trainer.window.stats.counts.sum()) == 0


def test_last_metric_survives_a_round_trip():
    trainer = ACWATrainer(num_classes=3, update_freq=1)
    trainer.update_metrics(torch.randn(9, 3), torch.tensor([0, 1, 2] * 3))
    fresh = ACWATrainer(num_classes=3, update_freq=1)
    fresh.load_state_dict(trainer.state_dict())
    assert fresh.last_metric is not None
    torch.testing.assert_close(fresh.last_metric, trainer.last_metric, equal_nan=True)


@pytest.mark.parametrize(
    "task, logits, labels",
    [
        ("multiclass", torch.randn(4, 3), torch.tensor([0, -100, 2, 1])),
        ("binary", torch.randn(4), torch.tensor([0, -100, 1, 1])),
        ("binary", torch.randn(4), torch.tensor([0.0, -100.0, 1.0, 1.0])),
        ("multilabel", torch.randn(2, 3), torch.tensor([[0, -100, 1], [1, 1, -100]])),
    ],
)
def test_ignored_positions_give_zero_loss_in_every_task(task, logits, labels):
    trainer = ACWATrainer(task=task, num_classes=None if task == "binary" else logits.shape[1])
    values = trainer.per_sample_loss(logits, labels)
    ignored = (labels == -100).reshape(values.shape)
    assert bool((values[ignored] == 0).all()) and bool((values[~ignored] > 0).all())
    loss = trainer.get_weighted_loss(logits, labels)
    torch.testing.assert_close(loss, values.sum() / (~ignored).sum())


def test_options_are_read_only_or_take_effect():
    trainer = ACWATrainer(num_classes=3, update_freq=100)
    with pytest.raises(AttributeError, match="fixed at construction.*ACWATrainer\\(\\.\\.\\., alpha="):
        trainer.alpha = 10
    with pytest.raises(AttributeError, match="loss_fn"):
        trainer.loss_fn = FocalLoss()
    assert trainer.alpha == 0.02
    trainer.update_freq = 1  # read on every call: takes effect at once
    trainer.update_metrics(torch.randn(6, 3), torch.tensor([0, 1, 2] * 2))
    assert trainer.weight_history.shape[0] == 2
    with pytest.raises(ValueError, match="update_freq"):
        trainer.update_freq = -1


def test_library_count_helpers_are_accepted_by_class_counts_everywhere():
    y = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 0, 1]])
    assert label_positive_counts(y).tolist() == [2, 1, 3]
    assert label_neg_pos_counts(y).tolist() == [[2, 3, 1], [2, 1, 3]]
    ml = ACWATrainer(class_counts=label_neg_pos_counts(y))
    assert ml.num_classes == 3 and ml.config.task == "multilabel"
    torch.testing.assert_close(ml.weights, torch.tensor([1.0, 2.0, 0.5]))  # (1 - p) / p, clipped
    make_loss("asl", class_counts=label_positive_counts(y))  # counts a loss does not use are not refused
    make_loss("binary_la", class_counts=label_neg_pos_counts(y[:, 0]))
    binary = ACWATrainer(class_counts=label_neg_pos_counts(y[:, 0]))
    assert binary.config.task == "binary"
    assert ACWATrainer(task="binary", class_counts=class_counts(y[:, 0], 2)).num_classes == 2
    assert ACWATrainer(task="multilabel", num_classes=1).num_classes == 1
    with pytest.warns(DeprecationWarning, match="label_positive_counts"):
        from acwa.weights import label_counts  # noqa: F401


def test_bad_options_and_non_numeric_labels_are_value_errors():
    with pytest.raises(ValueError, match="does not take \\['beta'\\]"):
        class_weights([5, 3, 1], "median_frequency", beta=0.9)
    with pytest.raises(ValueError, match="must be numbers"):
        class_counts(np.array(["a", "b"]), 2)
    with pytest.raises(ValueError, match="must be numbers"):
        class_counts([object(), object()], 2)


def test_the_loss_registry_lists_builds_and_refuses_duplicates():
    assert "focal" in list_losses("softmax") and "asl" in list_losses("sigmoid")
    with pytest.raises(ValueError, match="registered already"):
        register_loss("ce", FocalLoss)
    with pytest.warns(DeprecationWarning, match="weight="):
        loss = FocalLoss(alpha=[1.0, 2.0])
    torch.testing.assert_close(loss.weight, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="not both"):
        FocalLoss(alpha=[1.0, 2.0], weight=[1.0, 1.0])


def test_deprecated_names_warn_and_forward():
    from acwa import tasks

    with pytest.warns(DeprecationWarning, match="infer_task"):
        implied = tasks.implied_task
    assert implied(torch.randn(4), torch.tensor([0, 1, 0, 1])) == "binary"
    with pytest.warns(DeprecationWarning, match="la-adaptive"):
        trainer = ACWATrainer(num_classes=3, mode="auto", class_frequencies=[5, 3, 1])
    assert trainer.mode == "la-adaptive" and trainer.adjust == "logits"


def test_cli_reports_an_empty_label_file_without_a_traceback(tmp_path, capsys):
    from acwa.cli import main

    path = tmp_path / "empty.npz"
    np.savez(path, X=np.zeros((0, 3)), y=np.zeros((0,), dtype=np.int64))
    for argv in (["bench", "--data", str(path), "--methods", "ce"], ["weights", "--data", str(path)]):
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert "is empty" in err and "Traceback" not in err


def test_a_plotting_failure_keeps_the_results_and_reports(tmp_path, monkeypatch):
    import acwa.bench.report as report
    from acwa.bench import run_bench

    results = run_bench("digits-lt", methods="ce", seeds=1, epochs=1, write_report=False, progress=False)

    def broken(*args, **kwargs):
        raise RuntimeError("no backend")

    monkeypatch.setattr(report, "make_figures", broken)
    with pytest.warns(RuntimeWarning, match="figures were not drawn.*no backend"):
        report.write_report(results, tmp_path, plots=True)
    assert (tmp_path / "results.json").exists() and (tmp_path / "report.md").exists()
    assert (tmp_path / "report.html").exists()
