"""Does generative oversampling help? An honest comparison on long-tailed digits features.

Data: scikit-learn's ``load_digits`` (1797 images, 64 pixel features / 16, 10 classes; ships in
the wheel, no download). Per seed: a stratified half/half split; the training half is cut to a
long tail n_c = floor(n_max * rho^(-r_c/9)) with a random class ranking r (so which digit is
rare changes with the seed); the test half stays balanced, so test accuracy = balanced
accuracy. Resamplers then balance the training set ('auto': every class up to n_max):

  none | RandomOverSampler | SMOTE | BorderlineSMOTE | ADASYN | GenerativeOverSampler (cVAE)

Classifiers: logistic regression (scikit-learn) and a small MLP (torch, 64-128-10, Adam,
full batch). k_neighbors = min(5, n_min - 1). Printed: balanced accuracy mean ± std over
seeds and the mean paired difference vs no resampling.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generative.py [--seeds 5] [--rho 10 20]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from acwa.sampling import ADASYN, SMOTE, BorderlineSMOTE, GenerativeOverSampler, RandomOverSampler
from acwa.splits import stratified_split


def long_tail(y_train_idx, y, rho, rng):
    classes = np.unique(y)
    rank = rng.permutation(len(classes))
    per_class = {c: y_train_idx[y[y_train_idx] == c] for c in classes}
    n_max = min(len(v) for v in per_class.values())
    keep = []
    for c in classes:
        n_c = max(1, int(np.floor(n_max * rho ** (-rank[c] / (len(classes) - 1)))))
        keep.append(rng.permutation(per_class[c])[:n_c])
    return np.sort(np.concatenate(keep))


def fit_mlp(X, y, seed, num_classes=10, steps=300):
    g = torch.Generator().manual_seed(seed)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Linear(X.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, num_classes)
        )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(Xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    del g
    return lambda Z: model(torch.as_tensor(Z, dtype=torch.float32)).argmax(1).detach().numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rho", type=float, nargs="+", default=[10.0, 20.0])
    ap.add_argument("--vae-steps", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="BorderlineSMOTE: class")  # reported via the counts instead
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    print(f"# generative oversampling benchmark: digits-LT, {args.seeds} seeds, torch {torch.__version__}")
    for rho in args.rho:
        results, times = {}, {}
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            tr, te = stratified_split(y, val_fraction=0.5, seed=seed)
            tr = long_tail(tr, y, rho, rng)
            Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
            n_min = int(np.bincount(ytr).min())
            k = max(1, min(5, n_min - 1))
            methods = {
                "none": None,
                "RandomOverSampler": RandomOverSampler(random_state=seed),
                "SMOTE": SMOTE(k_neighbors=k, random_state=seed),
                "BorderlineSMOTE": BorderlineSMOTE(k_neighbors=k, random_state=seed),
                "ADASYN": ADASYN(k_neighbors=k, random_state=seed),
                "GenerativeOverSampler (cVAE)": GenerativeOverSampler(random_state=seed, steps=args.vae_steps),
            }
            for name, sampler in methods.items():
                t = time.perf_counter()
                if sampler is None:
                    Xr, yr = Xtr, ytr
                else:
                    try:
                        Xr, yr = sampler.fit_resample(Xtr, ytr)
                    except ValueError as e:  # e.g. ADASYN with no hard sample
                        print(f"  seed {seed} {name}: skipped ({e})")
                        continue
                times.setdefault(name, []).append(time.perf_counter() - t)
                lr = LogisticRegression(max_iter=3000).fit(Xr, yr)
                mlp = fit_mlp(Xr, yr, seed)
                for clf, pred in (("logreg", lr.predict(Xte)), ("mlp", mlp(Xte))):
                    results.setdefault((name, clf), {})[seed] = balanced_accuracy_score(yte, pred)
        print(f"\n## rho = {rho:g} (train n_c from {n_max_str(y, rho)}), balanced accuracy on the balanced test half")
        print("| resampling | seeds | logreg mean ± std | Δ vs none | MLP mean ± std | Δ vs none | resample time (s) |")
        print("|---|---|---|---|---|---|---|")
        for name in times:
            cells = []
            for clf in ("logreg", "mlp"):
                r = results[(name, clf)]
                base = results[("none", clf)]
                seeds = sorted(r)
                v = np.array([r[s] for s in seeds])
                d = np.array([r[s] - base[s] for s in seeds])
                cells += [f"{v.mean():.4f} ± {v.std():.4f}", f"{d.mean():+.4f}"]
            runs = len(results[(name, "logreg")])
            print(f"| {name} | {runs} | {' | '.join(cells[:4])} | {np.mean(times[name]):.2f} |")


def n_max_str(y, rho):
    n_max = int(np.bincount(y).min()) // 2
    return f"~{n_max} down to ~{max(1, int(n_max / rho))}"


if __name__ == "__main__":
    main()
