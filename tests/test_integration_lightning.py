"""PyTorch Lightning integration: ACWACallback (CPU, tiny models; one ddp_spawn run with 2 processes)."""

from __future__ import annotations

import csv
import os
import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

L = pytest.importorskip("lightning.pytorch")

from acwa import ACWATrainer, FocalLoss  # noqa: E402
from acwa.integrations.lightning import ACWALightningCallback as ACWACallback  # noqa: E402
from acwa.sampling import DistributedClassBalancedSampler  # noqa: E402

C = 3

warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*GPU available but not used.*")


def make_data(n=(48, 12, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.full((k,), c) for c, k in enumerate(n)])
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.3], [0.3, 1.0]])
    x = centers[y] + 0.6 * torch.randn(len(y), 2, generator=g)
    perm = torch.randperm(len(y), generator=g)
    return x[perm], y[perm]


class TinyModule(L.LightningModule):  # type: ignore[name-defined]
    def __init__(self, lr: float = 0.5, sampler_q: float = 1.0):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(2, C)
        self.lr, self.sampler_q = lr, sampler_q

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        return {"loss": self.acwa.get_weighted_loss(logits, y), "logits": logits}  # labels from the batch

    def validation_step(self, batch, batch_idx):
        x, y = batch
        return {"logits": self(x), "labels": y}

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def train_dataloader(self):  # built in each process: the sampler sees the process group
        x, y = make_data()
        sampler = DistributedClassBalancedSampler(y, q=self.sampler_q, seed=0)
        return DataLoader(TensorDataset(x, y), batch_size=8, sampler=sampler)


def pl_trainer(tmp_path, **kw):
    base = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        logger=L.loggers.CSVLogger(str(tmp_path)),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    base.update(kw)
    return L.Trainer(**base)


def loader(x, y, batch_size=8):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


def test_training_updates_match_a_plain_loop_bitwise(tmp_path):
    x, y = make_data()
    cb = ACWACallback(num_classes=C, update_freq=2, alpha=0.5, beta=0.5, loss_fn=FocalLoss(gamma=1.0))
    module = TinyModule()
    pl_trainer(tmp_path, max_epochs=2, callbacks=[cb]).fit(module, train_dataloaders=loader(x, y))

    torch.manual_seed(0)
    net = nn.Linear(2, C)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    ref = ACWATrainer(num_classes=C, update_freq=2, alpha=0.5, beta=0.5, loss_fn=FocalLoss(gamma=1.0))
    for _ in range(2):
        for xb, yb in loader(x, y):
            logits = net(xb)
            loss = ref.get_weighted_loss(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            ref.update_metrics(logits, yb)
    assert cb.acwa.weight_history.shape == (1 + 16 // 2, C)
    assert torch.equal(cb.acwa.weight_history, ref.weight_history)
    assert not torch.equal(ref.weight_history[0], ref.weight_history[-1])
    assert module.acwa is cb.acwa


def test_weights_and_f1_reach_the_logger(tmp_path):
    x, y = make_data()
    cb = ACWACallback(num_classes=C, update_freq=4, alpha=0.5, beta=0.5)
    trainer = pl_trainer(tmp_path, max_epochs=1, callbacks=[cb])
    trainer.fit(TinyModule(), train_dataloaders=loader(x, y))
    w = cb.acwa.weights.tolist()
    assert [float(trainer.callback_metrics[f"acwa/weight_{c}"]) for c in range(C)] == pytest.approx(w)
    with open(os.path.join(trainer.logger.log_dir, "metrics.csv")) as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("acwa/weight_0")]
    assert len(rows) == 2  # 8 batches, an update every 4
    assert [float(rows[-1][f"acwa/weight_{c}"]) for c in range(C)] == pytest.approx(w)
    f1_last = cb.acwa.last_metric
    assert f1_last is not None
    assert [float(rows[-1][f"acwa/f1_{c}"]) for c in range(C)] == pytest.approx(f1_last.tolist(), nan_ok=True)


def test_validation_driven_updates_skip_sanity_check(tmp_path):
    from sklearn.metrics import f1_score

    x, y = make_data()
    xv, yv = make_data(n=(10, 6, 6), seed=1)
    cb = ACWACallback(num_classes=C, update_on="validation", alpha=0.5, beta=0.5)
    module = TinyModule()
    trainer = pl_trainer(tmp_path, max_epochs=3, num_sanity_val_steps=2, callbacks=[cb])
    trainer.fit(module, train_dataloaders=loader(x, y), val_dataloaders=loader(xv, yv, batch_size=5))
    assert cb.acwa.update_freq is None
    assert cb.acwa.weight_history.shape == (4, C)  # one step per validation epoch, none for the sanity check
    with torch.no_grad():
        preds = module(xv).argmax(1)
    f1 = f1_score(yv.numpy(), preds.numpy(), labels=list(range(C)), average=None, zero_division=0)
    torch.testing.assert_close(cb.acwa.last_metric, torch.tensor(f1, dtype=torch.float32))
    assert float(trainer.callback_metrics["acwa/weight_1"]) == pytest.approx(cb.acwa.weights[1].item())
    trainer.validate(module, dataloaders=loader(xv, yv), verbose=False)  # outside fit: no update
    assert cb.acwa.weight_history.shape == (4, C)


def test_callback_state_round_trips_through_a_checkpoint(tmp_path):
    x, y = make_data()
    cb = ACWACallback(num_classes=C, update_freq=2, alpha=0.5, beta=0.5)
    trainer = pl_trainer(tmp_path, max_epochs=1, callbacks=[cb])
    trainer.fit(TinyModule(), train_dataloaders=loader(x, y))
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=False)
    (state,) = [v for k, v in ckpt["callbacks"].items() if "ACWACallback" in k]
    fresh = ACWACallback(num_classes=C, update_freq=2, alpha=0.5, beta=0.5)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.acwa.weights, cb.acwa.weights)
    assert torch.equal(fresh.acwa.weight_history, cb.acwa.weight_history)


class NoDictModule(TinyModule):
    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.acwa.get_weighted_loss(self(x), y)


def test_contract_errors_name_the_fix(tmp_path):
    x, y = make_data()
    with pytest.raises(ValueError, match="return a dict"):
        pl_trainer(tmp_path, max_epochs=1, callbacks=[ACWACallback(num_classes=C)]).fit(
            NoDictModule(), train_dataloaders=loader(x, y)
        )
    with pytest.raises(ValueError, match="update_freq=None"):
        ACWACallback(ACWATrainer(num_classes=C, update_freq=5), update_on="validation")
    with pytest.raises(ValueError, match="update_on"):
        ACWACallback(num_classes=C, update_on="test")
    with pytest.raises(ValueError, match="not both"):
        ACWACallback(ACWATrainer(num_classes=C), alpha=0.1)


class RecordWeights(L.Callback):  # type: ignore[name-defined]
    def __init__(self, out_dir):
        self.out_dir = out_dir

    def on_train_end(self, trainer, pl_module):
        sampler = trainer.train_dataloader.sampler
        torch.save(
            {
                "weights": pl_module.acwa.weight_history,
                "replicas": sampler.num_replicas,
                "rank": sampler.rank,
                "type": type(sampler).__name__,
                "calls": pl_module.acwa.num_calls,
            },
            os.path.join(self.out_dir, f"rank{trainer.global_rank}.pt"),
        )


def test_ddp_spawn_two_cpu_processes_hold_identical_weights(tmp_path):
    cb = ACWACallback(num_classes=C, update_freq=2, alpha=0.5, beta=0.5)
    trainer = pl_trainer(
        tmp_path,
        max_epochs=2,
        strategy="ddp_spawn",
        devices=2,
        use_distributed_sampler=False,
        logger=False,
        callbacks=[cb, RecordWeights(str(tmp_path))],
    )
    trainer.fit(TinyModule(sampler_q=1.0))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert r0["type"] == r1["type"] == "DistributedClassBalancedSampler"
    assert (r0["replicas"], r1["replicas"], r0["rank"], r1["rank"]) == (2, 2, 0, 1)
    assert r0["calls"] == r1["calls"] == 2 * 4  # 64 samples / 2 ranks / batch 8, two epochs
    assert torch.equal(r0["weights"], r1["weights"])
    assert r0["weights"].shape == (5, C) and not torch.equal(r0["weights"][0], r0["weights"][-1])


def test_missing_lightning_gives_the_install_hint(monkeypatch):
    import importlib
    import sys

    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "acwa.integrations.lightning")
    with pytest.raises(ImportError, match=r"pip install 'acwa-torch\[lightning\]'"):
        importlib.import_module("acwa.integrations.lightning")


def test_old_names_still_work_with_a_deprecation_warning():
    import acwa.integrations.lightning as lightning_integration

    with pytest.warns(DeprecationWarning, match="ACWALightningCallback"):
        old = lightning_integration.ACWACallback
    assert old is ACWACallback
    with pytest.warns(DeprecationWarning, match="update_on='validation'"):
        cb = ACWACallback(num_classes=C, update_on="val")
    assert cb.update_on == "validation" and cb.acwa.update_freq is None
    assert cb.state_key == "ACWACallback"  # checkpoints saved before the rename keep loading


class EvalModule(TinyModule):
    """test/predict steps that return logits and labels, as a user would write them."""

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("test_loss", self.acwa.get_weighted_loss(logits, y))
        return {"logits": logits, "labels": y}

    def predict_step(self, batch, batch_idx):
        x, y = batch
        return {"logits": self(x), "labels": y}


def _acwa_state(cb):
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in cb.acwa.state_dict().items()}


def _same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        else:
            assert repr(a[k]) == repr(b[k]), k


@pytest.mark.parametrize("update_on", ["train", "validation"])
def test_test_predict_and_validate_never_reach_the_weights(tmp_path, update_on):
    """Issue 16: trainer.test / trainer.predict (and validate outside fit) leave weights,
    history and the window untouched; the next fit epoch learns from its own batches only."""
    x, y = make_data()
    xv, yv = make_data(n=(10, 6, 6), seed=1)
    xt, yt = make_data(n=(2, 2, 20), seed=2)  # a test split dominated by class 2
    kw: dict[str, Any] = {"update_freq": 3} if update_on == "train" else {}
    cb = ACWACallback(num_classes=C, update_on=update_on, alpha=0.5, beta=0.5, **kw)
    module = EvalModule()
    # Lightning's default inference_mode=True: test/predict steps see inference tensors
    trainer = pl_trainer(tmp_path, max_epochs=1, callbacks=[cb])
    trainer.fit(module, train_dataloaders=loader(x, y), val_dataloaders=loader(xv, yv))
    before = _acwa_state(cb)
    assert cb.acwa.weight_history.shape[0] > 1  # fit did update
    trainer.test(module, dataloaders=loader(xt, yt), verbose=False)
    trainer.predict(module, dataloaders=loader(xt, yt))
    trainer.validate(module, dataloaders=loader(xt, yt), verbose=False)
    _same_state(before, _acwa_state(cb))


class OneLogitModule(TinyModule):
    def __init__(self, outputs: int):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(2, outputs)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        return {"loss": self.acwa.get_weighted_loss(logits, y), "logits": logits, "labels": y}


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
def test_sigmoid_outputs_match_a_plain_loop(tmp_path, kind):
    """One-logit binary and multi-label modules (issue 15 item 5): the callback's weights equal
    a plain ACWATrainer loop over the same batches."""
    x, y = make_data()
    target = (y == 2).float()[:, None] if kind == "binary" else torch.stack([y == 0, y == 2, y >= 1], 1).float()
    outputs = 1 if kind == "binary" else C
    make: dict[str, Any] = dict(
        task=kind, num_classes=None if kind == "binary" else C, update_freq=2, alpha=0.5, beta=0.5
    )
    cb = ACWACallback(**make)
    pl_trainer(tmp_path, max_epochs=1, callbacks=[cb]).fit(OneLogitModule(outputs), train_dataloaders=loader(x, target))

    torch.manual_seed(0)
    net = nn.Linear(2, outputs)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    ref = ACWATrainer(**make)
    for xb, yb in loader(x, target):
        logits = net(xb)
        loss = ref.get_weighted_loss(logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref.update_metrics(logits, yb)
    assert cb.acwa.weight_history.shape == (1 + 8 // 2, 2 if kind == "binary" else C)
    assert torch.equal(cb.acwa.weight_history, ref.weight_history)
    assert not torch.equal(ref.weight_history[0], ref.weight_history[-1])
