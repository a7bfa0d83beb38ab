"""Small CPU batches are counted together (acwa.metrics.ClassStatScores): the counts equal
one-batch-at-a-time counting at every read, and a batch changed before it was counted is refused."""

from __future__ import annotations

import pytest
import torch

from acwa import ACWATrainer, metrics
from acwa.metrics import ClassStatScores
from acwa.tasks import make_task


def _batches(task_name: str, g: torch.Generator, sizes, k: int = 5, ignored: float = 0.0):
    for n in sizes:
        if task_name == "multiclass":
            z, y = torch.randn(n, k, generator=g), torch.randint(0, k, (n,), generator=g)
        elif task_name == "binary":
            z, y = torch.randn(n, generator=g), (torch.rand(n, generator=g) < 0.3).long()
        else:
            z, y = torch.randn(n, k, generator=g), (torch.rand(n, k, generator=g) < 0.3).long()
        if ignored:
            y = torch.where(torch.rand(y.shape, generator=g) < ignored, torch.full_like(y, -100), y)
        yield z, y


def _one_at_a_time(task, batches) -> torch.Tensor:
    raw = torch.zeros(task.raw_size(), dtype=torch.long)
    for z, y in batches:
        task.accumulate(raw, z, y)
    return task.raw_to_stat_scores(raw)


@pytest.mark.parametrize("task_name", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("ignored", [0.0, 0.2])
@pytest.mark.parametrize("seed", range(3))
def test_counts_equal_one_batch_at_a_time_at_every_read(task_name, ignored, seed):
    g = torch.Generator().manual_seed(seed)
    task = make_task(task_name, None if task_name == "binary" else 5, ignore_index=-100)
    sizes = torch.randint(0, 40, (12,), generator=g).tolist()
    batches = list(_batches(task_name, g, sizes, ignored=ignored))
    stats = ClassStatScores(task=task)
    for i, (z, y) in enumerate(batches):
        stats.update(z, y, all_counted=not ignored)
        if i % 5 == 4:  # a read mid-window counts the pending batches
            assert torch.equal(stats.counts, _one_at_a_time(task, batches[: i + 1]))
    assert stats._pending  # the last batches are still pending: the next read counts them
    assert torch.equal(stats.sync(), _one_at_a_time(task, batches))
    assert not stats._pending


def test_state_dict_counts_the_pending_batches_and_reset_discards_them():
    g = torch.Generator().manual_seed(0)
    task = make_task("binary")
    batches = list(_batches("binary", g, [16, 16, 16]))
    stats = ClassStatScores(task=task)
    for z, y in batches:
        stats.update(z, y)
    state = stats.state_dict()
    restored = ClassStatScores(task=task)
    restored.load_state_dict(state)
    assert torch.equal(restored.counts, _one_at_a_time(task, batches))
    stats.update(*batches[0])
    stats.reset()
    assert not stats._pending and int(stats.support.sum()) == 0


def test_a_batch_changed_in_place_before_it_is_counted_is_refused():
    stats = ClassStatScores(task=make_task("binary"))
    z, y = torch.randn(8), torch.ones(8, dtype=torch.long)
    stats.update(z, y)
    y[0] = 0  # the window still holds y, not yet counted
    with pytest.raises(RuntimeError, match="modified in place.*clone"):
        stats.compute("f1")


def test_the_window_budget_and_a_change_of_shape_count_the_pending_batches(monkeypatch):
    monkeypatch.setattr(metrics, "DEFERRED_WINDOW_ELEMENTS", 100)
    task = make_task("binary")
    stats = ClassStatScores(task=task)
    g = torch.Generator().manual_seed(1)
    batches = list(_batches("binary", g, [20, 20, 20]))  # 40 elements each (logits + labels)
    for z, y in batches:
        stats.update(z, y)
    assert len(stats._pending) == 0  # the third batch reached the budget: all counted
    column = torch.randn(6, 1, generator=g), torch.ones(6, dtype=torch.long)  # [N, 1] logits
    stats.update(*batches[0])
    stats.update(*column)  # another shape: the pending [N] batch is counted first
    assert len(stats._pending) == 1
    assert torch.equal(stats.counts, _one_at_a_time(task, batches + [batches[0], column]))


def test_large_batches_and_inference_tensors_are_counted_at_once():
    stats = ClassStatScores(task=make_task("multiclass", 3))
    n = metrics.DEFERRED_BATCH_ELEMENTS // 3
    stats.update(torch.randn(n, 3), torch.randint(0, 3, (n,)))
    with torch.inference_mode():
        z, y = torch.randn(4, 3), torch.randint(0, 3, (4,))
    stats.update(z, y)
    assert not stats._pending and int(stats.support.sum()) == n + 4


def test_trainer_weights_follow_the_same_counts_as_immediate_counting(monkeypatch):
    g = torch.Generator().manual_seed(3)
    batches = list(_batches("multilabel", g, [32] * 12, k=4))
    runs = []
    for budget in (metrics.DEFERRED_WINDOW_ELEMENTS, 0):  # 0: every batch counted at once
        monkeypatch.setattr(metrics, "DEFERRED_WINDOW_ELEMENTS", budget)
        trainer = ACWATrainer(task="multilabel", num_classes=4, update_freq=5, alpha=0.5)
        for z, y in batches:
            trainer.get_weighted_loss(z, y)
            trainer.update_metrics(z, y)
        runs.append((trainer.weight_history, trainer.window.stats.counts))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
