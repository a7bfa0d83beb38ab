"""Hugging Face Trainer integration, with tiny randomly initialised BERT models (no downloads)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, SequentialSampler

transformers = pytest.importorskip("transformers")

from acwa import ACWATrainer  # noqa: E402
from acwa.integrations.huggingface import (  # noqa: E402
    ACWALossFunction,
    ACWATrainerCallback,
    ImbalancedTrainer,
    dataset_labels,
    model_task,
)
from acwa.losses import FocalLoss  # noqa: E402
from acwa.sampling import DistributedClassBalancedSampler  # noqa: E402

C = 3
L = 6


def tiny_config(**kw):
    return transformers.BertConfig(
        vocab_size=24,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=L,
        num_labels=C,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **kw,
    )


def seq_model(seed=0):
    torch.manual_seed(seed)
    return transformers.BertForSequenceClassification(tiny_config())


class SeqDataset(Dataset):
    """Imbalanced sequence classification: the class is written in the first token."""

    def __init__(self, counts=(40, 10, 6), seed=0):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        self.labels = self.labels[torch.randperm(len(self.labels), generator=g)]
        self.ids = torch.randint(5, 24, (len(self.labels), L), generator=g)
        self.ids[:, 0] = 1 + self.labels  # tokens 1..3 carry the class

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


class TokenDataset(Dataset):
    """Token classification with a different number of ignored (-100) positions per row."""

    def __init__(self, n=4, seed=1):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 24, (n, L), generator=g)
        self.labels = torch.randint(0, C, (n, L), generator=g)
        for i, keep in enumerate((6, 1, 2, 2)[:n]):
            self.labels[i, keep:] = -100  # micro-batches of 2 rows count 7 and 4 labels

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def args(tmp_path, **kw):
    base = dict(
        output_dir=str(tmp_path),
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=0.05,
        optim="sgd",
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        logging_steps=1,
        seed=0,
        dataloader_pin_memory=False,
    )
    base.update(kw)
    return transformers.TrainingArguments(**base)


# ----------------------------------------------------------------------------- loss function
def test_loss_function_divides_weighted_sum_by_num_items():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, C, generator=g), torch.tensor([0, 1, 2, 2, 1, 0])
    w = torch.tensor([0.5, 1.0, 2.0])
    fn = ACWALossFunction(class_weights=w)
    per = F.cross_entropy(logits, y, reduction="none") * w[y]
    torch.testing.assert_close(fn(logits, y), per.sum() / 6)
    torch.testing.assert_close(fn(logits, y, num_items_in_batch=torch.tensor(15)), per.sum() / 15)
    torch.testing.assert_close(fn(logits, y, num_items_in_batch=15), per.sum() / 15)
    # token classification [N, T, C] with ignored positions, any acwa loss
    lt, yt = torch.randn(2, 4, C, generator=g), torch.tensor([[0, 1, -100, 2], [2, -100, -100, 1]])
    focal = ACWALossFunction(class_weights=w, loss_fn=FocalLoss(gamma=2.0))
    flat, fy = lt.reshape(-1, C), yt.reshape(-1)
    keep = fy != -100
    p = torch.softmax(flat[keep], 1)[torch.arange(int(keep.sum())), fy[keep]]
    ref = (w[fy[keep]] * -((1 - p) ** 2) * torch.log(p)).sum() / 10
    torch.testing.assert_close(focal(lt, yt, num_items_in_batch=10), ref, rtol=1e-5, atol=1e-6)


def test_loss_function_feeds_acwa_only_in_the_chosen_phase():
    acwa = ACWATrainer(num_classes=C, update_freq=None)
    fn = ACWALossFunction(acwa, update_on="validation")
    logits, y = torch.randn(4, C), torch.tensor([0, 1, 2, 0])
    fn(logits.requires_grad_(), y)  # grad enabled = training batch: not counted
    assert acwa.num_calls == 0
    with torch.no_grad():
        fn(logits, y)
    assert acwa.num_calls == 1
    fn.training = False  # an explicit flag wins over the grad mode
    fn(logits, y)
    assert acwa.num_calls == 2


def test_loss_function_bad_arguments():
    with pytest.raises(ValueError, match="update_freq=None"):
        ACWALossFunction(ACWATrainer(num_classes=C, update_freq=10), update_on="validation")
    with pytest.raises(ValueError, match="loss_fn"):
        ACWALossFunction(ACWATrainer(num_classes=C), loss_fn=FocalLoss())
    with pytest.raises(ValueError, match="update_on"):
        ACWALossFunction(update_on="test")
    with pytest.warns(DeprecationWarning, match="update_on='validation'"):  # the old spelling still works
        assert ACWALossFunction(update_on="eval").update_on == "validation"
    with pytest.raises(ValueError, match="class_weights"):
        ACWALossFunction(class_weights=[1.0, float("nan")])
    with pytest.raises(ValueError, match="labels"):
        ACWALossFunction()(torch.randn(2, C), None)


# ----------------------------------------------------------------------------- trainer
def test_gradient_accumulation_uses_num_items_in_batch(tmp_path):
    """Two micro-batches with 7 and 4 counted tokens, accumulated, must give the gradient of the
    weighted sum over all 11 tokens / 11 (a per-micro-batch mean would weight them 1/2 each)."""
    torch.manual_seed(0)
    model = transformers.BertForTokenClassification(tiny_config())
    start = {k: v.clone() for k, v in model.state_dict().items()}
    data = TokenDataset()
    w = torch.tensor([0.5, 1.0, 3.0])
    trainer = ImbalancedTrainer(
        model=model,
        args=args(
            tmp_path, per_device_train_batch_size=2, gradient_accumulation_steps=2, max_steps=1, learning_rate=1.0
        ),
        train_dataset=data,
        class_weights=w,
        sampler=SequentialSampler(data),
    )
    trainer.train()
    trained = dict(model.named_parameters())

    ref = transformers.BertForTokenClassification(tiny_config())
    ref.load_state_dict(start)
    ref.train()
    ids, labels = data.ids, data.labels
    logits = ref(input_ids=ids).logits.reshape(-1, C)
    y = labels.reshape(-1)
    keep = y != -100
    per = F.cross_entropy(logits, y, reduction="none", ignore_index=-100) * w[y.clamp_min(0)] * keep
    (per.sum() / keep.sum()).backward()
    moved = False
    for name, p in ref.named_parameters():
        if p.grad is None:
            continue
        torch.testing.assert_close(trained[name].detach(), p.detach() - 1.0 * p.grad, rtol=1e-4, atol=1e-5)
        moved |= bool(p.grad.abs().max() > 1e-3)
    assert moved
    # the per-micro-batch mean would give a different update (the case this test guards)
    half = (per[: 2 * L].sum() / keep[: 2 * L].sum() + per[2 * L :].sum() / keep[2 * L :].sum()) / 2
    assert not torch.allclose(half, per.sum() / keep.sum(), rtol=1e-2)


def test_acwa_updates_from_training_batches_and_logs(tmp_path):
    acwa = ACWATrainer(num_classes=C, update_freq=2, alpha=0.5, beta=0.5)
    trainer = ImbalancedTrainer(
        model=seq_model(),
        args=args(tmp_path, max_steps=6),
        train_dataset=SeqDataset(),
        acwa=acwa,
    )
    trainer.train()
    assert acwa.num_calls == 6
    hist = acwa.weight_history
    assert hist.shape == (4, C)
    assert not torch.equal(hist[0], hist[-1])
    logged = [row for row in trainer.state.log_history if "acwa/weight_0" in row]
    assert logged, trainer.state.log_history
    last = logged[-1]
    assert [last[f"acwa/weight_{c}"] for c in range(C)] == pytest.approx(acwa.weights.tolist())
    assert "acwa/f1_0" in last
    assert trainer.acwa is acwa


def test_acwa_updates_after_each_evaluation_only(tmp_path):
    acwa = ACWATrainer(num_classes=C, update_freq=None, alpha=0.5, beta=0.5, metric_fn="recall")
    train, val = SeqDataset(), SeqDataset(counts=(8, 4, 4), seed=3)
    trainer = ImbalancedTrainer(
        model=seq_model(),
        args=args(tmp_path, num_train_epochs=2, eval_strategy="epoch"),
        train_dataset=train,
        eval_dataset=val,
        acwa=acwa,
        acwa_update_on="validation",
    )
    trainer.train()
    assert acwa.weight_history.shape == (3, C)  # one step per evaluation
    assert acwa.num_calls == 2  # one evaluation batch of 16 per epoch; training batches not counted
    # the last step used the recall of the last evaluation
    model = trainer.model
    assert model is not None
    model.eval()
    with torch.no_grad():
        preds = model(input_ids=val.ids).logits.argmax(1)
    recall = torch.stack([(preds[val.labels == c] == c).float().mean() for c in range(C)])
    torch.testing.assert_close(acwa.last_metric, recall)


def _f1(model, data):
    from sklearn.metrics import f1_score

    model.eval()
    with torch.no_grad():
        preds = model(input_ids=data.ids).logits.argmax(1)
    f1 = f1_score(data.labels.numpy(), preds.numpy(), labels=list(range(C)), average=None, zero_division=0)
    return torch.tensor(f1, dtype=torch.float32)


def test_predict_and_other_evaluations_never_reach_the_weights(tmp_path):
    """acwa_update_on='validation': predict(test) after evaluate() (issue 16: test labels leaked
    into the next evaluate's step) and evaluate(test) leave the weights and the window alone."""
    acwa = ACWATrainer(num_classes=C, update_freq=None, alpha=0.5, beta=0.5)
    val, test = SeqDataset(counts=(8, 4, 4), seed=3), SeqDataset(counts=(2, 2, 12), seed=4)
    trainer = ImbalancedTrainer(
        model=seq_model(),
        args=args(tmp_path, max_steps=2),
        train_dataset=SeqDataset(),
        eval_dataset=val,
        acwa=acwa,
        acwa_update_on="validation",
    )
    trainer.train()  # no evaluation during training: eval_strategy 'no'
    f1_val = _f1(trainer.model, val)
    trainer.evaluate()
    w1 = acwa.weights.clone()
    torch.testing.assert_close(acwa.last_metric, f1_val)
    trainer.predict(test)  # labelled test batches run through the loss
    assert acwa.num_calls == 1  # one evaluation batch of 16; predict counted nothing
    trainer.evaluate(test)  # another split: no counts, no step
    assert acwa.weight_history.shape == (2, C) and torch.equal(acwa.weights, w1)
    trainer.evaluate()  # the next step reads the validation set alone
    torch.testing.assert_close(acwa.last_metric, f1_val)
    expected = (w1 + 0.5 * 0.5 * (0.85 - f1_val)).clamp(0.5, 2.0)
    torch.testing.assert_close(acwa.weights, torch.where(torch.isnan(f1_val), w1, expected))


def test_plain_trainer_predict_leaves_the_window_empty(tmp_path):
    acwa = ACWATrainer(num_classes=C, update_freq=None, alpha=0.5, beta=0.5)
    loss_func = ACWALossFunction(acwa, update_on="validation")
    val, test = SeqDataset(counts=(8, 4, 4), seed=3), SeqDataset(counts=(2, 2, 12), seed=4)
    trainer = transformers.Trainer(
        model=seq_model(),
        args=args(tmp_path, max_steps=1),
        train_dataset=SeqDataset(),
        eval_dataset=val,
        compute_loss_func=loss_func,
        callbacks=[ACWATrainerCallback(loss_func)],
    )
    trainer.train()
    trainer.evaluate()
    assert acwa.last_metric is not None
    f1_val = acwa.last_metric.clone()
    trainer.predict(test)
    assert acwa.window is not None and not acwa.window.stats.counts.any()  # dropped after predict()
    trainer.evaluate()
    torch.testing.assert_close(acwa.last_metric, f1_val)


def test_class_balanced_sampler_balances_the_epoch(tmp_path):
    data = SeqDataset(counts=(60, 6, 6))
    trainer = ImbalancedTrainer(
        model=seq_model(),
        args=args(tmp_path),
        train_dataset=data,
        sampler="class_balanced",
        sampling_q=1.0,
    )
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, DistributedClassBalancedSampler) and sampler.shard is False
    drawn = torch.cat([b["labels"] for b in trainer.get_train_dataloader()])
    assert len(drawn) == len(data)
    frac = torch.bincount(drawn, minlength=C).float() / len(drawn)
    assert frac.min() > 0.18  # natural share of classes 1 and 2 is 6/72 = 0.083
    plain = ImbalancedTrainer(model=seq_model(), args=args(tmp_path), train_dataset=data)
    assert not isinstance(plain._get_train_sampler(), DistributedClassBalancedSampler)


def test_dataset_labels_sources():
    data = SeqDataset()
    assert torch.equal(dataset_labels(data), data.labels)  # dict items

    class WithTargets(torch.utils.data.Dataset):
        targets = [0, 2, 1]

        def __len__(self):
            return 3

    assert dataset_labels(WithTargets()).tolist() == [0, 2, 1]
    with pytest.raises(ValueError, match="sampler_labels"):
        dataset_labels([("x", 1)])


def test_plain_trainer_with_loss_function_and_callback(tmp_path):
    acwa = ACWATrainer(num_classes=C, update_freq=None, alpha=0.5, beta=0.5)
    fn = ACWALossFunction(acwa, update_on="validation")
    trainer = transformers.Trainer(
        model=seq_model(),
        args=args(tmp_path, max_steps=2, eval_strategy="steps", eval_steps=1),
        train_dataset=SeqDataset(),
        eval_dataset=SeqDataset(counts=(8, 4, 4), seed=3),
        compute_loss_func=fn,
        callbacks=[ACWATrainerCallback(fn)],
    )
    trainer.train()
    assert acwa.weight_history.shape == (3, C)
    assert acwa.num_calls == 2  # no_grad evaluation batches only


def test_trainer_rejects_conflicting_arguments(tmp_path):
    with pytest.raises(ValueError, match="compute_loss_func"):
        ImbalancedTrainer(model=seq_model(), args=args(tmp_path), compute_loss_func=lambda *a, **k: 0)
    with pytest.raises(ValueError, match="sampler"):
        ImbalancedTrainer(model=seq_model(), args=args(tmp_path), sampler="balanced")


def test_missing_transformers_gives_the_install_hint(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.delitem(sys.modules, "acwa.integrations.huggingface")
    with pytest.raises(ImportError, match=r"pip install 'acwa-torch\[huggingface\]'"):
        importlib.import_module("acwa.integrations.huggingface")


# ----------------------------------------------------------------------------- DDP (torchrun)
def _ddp_main(out_dir: str) -> None:
    """Run under torchrun: 2 CPU processes, ACWA + class-balanced sampling; each rank saves its state."""
    import tempfile

    torch.set_num_threads(1)
    acwa = ACWATrainer(num_classes=C, update_freq=2, alpha=0.5, beta=0.5)
    data = SeqDataset()
    trainer = ImbalancedTrainer(
        model=seq_model(),
        args=args(tempfile.mkdtemp(), max_steps=4, per_device_train_batch_size=4, ddp_backend="gloo"),
        train_dataset=data,
        acwa=acwa,
        sampler="class_balanced",
        sampling_q=1.0,
    )
    seen = []
    orig = acwa.update_metrics
    acwa.update_metrics = lambda logits, labels: (seen.append(labels.clone()), orig(logits, labels))[1]  # type: ignore
    trainer.train()
    assert trainer.model is not None
    params = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    torch.save(
        {
            "weights": acwa.weight_history,
            "calls": acwa.num_calls,
            "labels": torch.cat(seen),
            "params": params,
            "world": trainer.args.world_size,
        },
        os.path.join(out_dir, f"rank{trainer.args.process_index}.pt"),
    )
    if torch.distributed.is_initialized():  # a clean teardown: no rank aborts in the group's destructor
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def test_ddp_two_processes_identical_weights(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACWA_HF_DDP_OUT": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(Path(__file__).resolve()),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert r0["world"] == r1["world"] == 2
    assert r0["calls"] == r1["calls"] == 4
    assert torch.equal(r0["weights"], r1["weights"]) and r0["weights"].shape == (3, C)
    assert not torch.equal(r0["weights"][0], r0["weights"][-1])
    assert torch.equal(r0["params"], r1["params"])  # DDP kept the replicas in sync
    assert not torch.equal(r0["labels"], r1["labels"])  # Accelerate gave the ranks different batches


if __name__ == "__main__" and os.environ.get("ACWA_HF_DDP_OUT"):
    _ddp_main(os.environ["ACWA_HF_DDP_OUT"])


class MultiLabelDataset(SeqDataset):
    """Three overlapping labels from the class token: multi-hot float rows (HF's multi-label format)."""

    def targets(self):
        y = self.labels
        return torch.stack([y == 0, y == 2, y >= 1], 1).float()

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.targets()[i]}


class BinaryDataset(SeqDataset):
    def targets(self):
        return (self.labels == 2).float()

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.targets()[i]}


def _head(problem_type=None, num_labels=C, seed=0):
    torch.manual_seed(seed)
    cfg = tiny_config(problem_type=problem_type)
    cfg.num_labels = num_labels
    return transformers.BertForSequenceClassification(cfg)


@pytest.mark.parametrize("kind", ["multilabel", "binary"])
def test_sigmoid_heads_adaptive_and_static(tmp_path, kind):
    """problem_type='multi_label_classification' (per-label positive weights from each label's
    F1) and a one-logit head (num_labels=1, weights [w_neg, w_pos]); issue 15 item 5."""
    multi = kind == "multilabel"
    data = MultiLabelDataset() if multi else BinaryDataset()
    make = (lambda: _head("multi_label_classification")) if multi else (lambda: _head(num_labels=1))
    assert model_task(make()) == kind
    acwa = ACWATrainer(num_classes=C if multi else None, task=kind, update_freq=2, alpha=0.5, beta=0.5)
    trainer = ImbalancedTrainer(model=make(), args=args(tmp_path, max_steps=4), train_dataset=data, acwa=acwa)
    trainer.train()
    assert acwa.task is not None and acwa.task.name == kind
    assert acwa.weight_history.shape == (3, C if multi else 2)
    assert not torch.equal(acwa.weight_history[0], acwa.weight_history[-1])

    # static weights: the loss is BCE with w_{y_il} (multi-label: 1 + y (w_l - 1)), float64 reference
    weights = [1.0, 2.0, 0.5] if multi else [1.0, 3.0]
    static = ImbalancedTrainer(
        model=make(), args=args(tmp_path, max_steps=1), train_dataset=data, class_weights=weights
    )
    model = static.model
    assert model is not None
    batch = {"input_ids": data.ids[:8]}
    y = data.targets()[:8].double()
    model.eval()
    with torch.no_grad():
        z = model(**batch).logits.double()
        got = static.acwa_loss(model(**batch), data.targets()[:8])
    z = z if multi else z[:, 0]
    bce = torch.clamp(z, min=0) - z * y + torch.log1p(torch.exp(-z.abs()))
    w = torch.tensor(weights, dtype=torch.float64)
    elem_w = 1 + y * (w - 1) if multi else w[0] + (w[1] - w[0]) * y
    torch.testing.assert_close(got.double(), (bce * elem_w).mean(), rtol=1e-5, atol=1e-7)
