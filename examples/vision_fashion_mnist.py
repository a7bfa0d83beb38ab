"""Vision demo: Fashion-MNIST-LT (imbalance ratio 100) with a small CNN, plain cross-entropy
versus ACWA (README loop) versus ACWA driven by a validation split.

Data: the Debian package ``dataset-fashion-mnist`` (offline; ``sudo apt-get install -y
dataset-fashion-mnist``). By default the LT-100 training set is scaled to a head class of 1500
images (1500 ... 15, 3,720 images) so the demo runs in about a minute on a CPU::

    python examples/vision_fashion_mnist.py                 # 6 epochs, 2000 test images
    python examples/vision_fashion_mnist.py --n-max 6000 --epochs 15 --test-per-class 1000  # full LT-100

Writes the ACWA weight-evolution plot to ``reports/examples/fashion_acwa_weights.png``.
"""

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from acwa import ACWATrainer
from acwa.bench.models import SmallCNN
from acwa.data import load_dataset
from acwa.metrics import balanced_accuracy, f1_from_counts, stat_scores
from acwa.splits import stratified_split


def batches(X, y, batch_size, generator=None):
    order = torch.randperm(len(y), generator=generator) if generator is not None else torch.arange(len(y))
    for i in range(0, len(y), batch_size):
        idx = order[i : i + batch_size]
        yield X[idx], y[idx]


@torch.no_grad()
def evaluate(model, X, y, C):
    model.eval()
    preds = torch.cat([model(xb).argmax(1) for xb, _ in batches(X, y, 1000)])
    model.train()
    tp, fp, fn = stat_scores(preds, y, C)
    return float(balanced_accuracy(preds, y, C)), f1_from_counts(tp, fp, fn)


def train(X, y, C, epochs, mode, seed=0, val=None):
    torch.manual_seed(seed)
    model = SmallCNN(1, C, image_size=28)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    trainer = None
    if mode == "acwa":  # the README loop: weights follow F1 on training batches
        trainer = ACWATrainer(num_classes=C, target_metric=0.85, alpha=0.02, beta=0.9, update_freq=100)
    elif mode == "acwa-val":  # the README's "adjusts weights based on validation performance"
        trainer = ACWATrainer(num_classes=C, target_metric=0.85, alpha=0.5, beta=0.5, update_freq=None)
    gen = torch.Generator().manual_seed(seed)
    for _epoch in range(epochs):
        for xb, yb in batches(X, y, 128, gen):
            out = model(xb)
            loss = trainer.get_weighted_loss(out, yb) if trainer else F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if mode == "acwa":
                trainer.update_metrics(out.detach(), yb)
        if mode == "acwa-val":
            trainer.update_from_validation(model, list(batches(*val, 1000)))
    return model, trainer


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--rho", type=float, default=100)
    p.add_argument("--test-per-class", type=int, default=200)
    p.add_argument("--n-max", type=int, default=1500, help="head-class size of the LT training set (6000: full)")
    p.add_argument("--out", default="reports/examples")
    args = p.parse_args()
    torch.set_num_threads(1)

    ds = load_dataset("fashion-mnist-lt", rho=args.rho, test_per_class=args.test_per_class, n_max=args.n_max)
    print(ds.describe())
    X, y = torch.from_numpy(ds.X_train), torch.from_numpy(ds.y_train)
    Xt, yt = torch.from_numpy(ds.X_test), torch.from_numpy(ds.y_test)
    C = ds.num_classes
    tr, va = stratified_split(y, val_fraction=0.1, seed=0)  # validation from the training split only
    results = {}
    for mode in ("ce", "acwa", "acwa-val"):
        t0 = time.perf_counter()
        if mode == "acwa-val":
            model, trainer = train(X[tr], y[tr], C, args.epochs, mode, val=(X[va], y[va]))
        else:
            model, trainer = train(X, y, C, args.epochs, mode)
        bacc, f1 = evaluate(model, Xt, yt, C)
        results[mode] = (bacc, f1, time.perf_counter() - t0)
        if trainer is not None and mode == "acwa-val":
            Path(args.out).mkdir(parents=True, exist_ok=True)
            trainer.plot_weight_history(Path(args.out) / "fashion_acwa_weights.png", class_names=ds.class_names)
            print("ACWA (validation-driven) final weights:", [round(w, 2) for w in trainer.weights.tolist()])
    print(f"\n{'method':<10} {'bal.acc':>8} {'seconds':>8}   per-class F1 (head -> tail)")
    for mode, (bacc, f1, sec) in results.items():
        print(f"{mode:<10} {bacc:8.3f} {sec:8.1f}   " + " ".join(f"{v:.2f}" for v in f1.tolist()))


if __name__ == "__main__":
    main()
