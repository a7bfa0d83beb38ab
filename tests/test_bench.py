"""acwa.bench: registry, metrics against sklearn, results.json schema, reproducibility, reports."""

import json
from typing import Any, cast

import numpy as np
import pytest
import torch

from acwa.bench import (
    FAMILIES,
    METHODS,
    RunContext,
    evaluate,
    list_methods,
    register_method,
    resolve_methods,
    run_bench,
    shot_groups,
    unregister_method,
)
from acwa.bench.training import default_recipe
from acwa.data import load_dataset

FAST: dict[str, Any] = dict(seeds=1, epochs=1, progress=False)


def test_registry_names_and_families():
    names = list_methods()
    assert names[0] == "ce" and METHODS["ce"].family == "baseline"
    assert "acwa" in names and METHODS["acwa"].family == "adaptive"
    assert all(METHODS[n].family in FAMILIES for n in names)
    # families come in order baseline, static, adaptive
    fam = [FAMILIES.index(METHODS[n].family) for n in names]
    assert fam == sorted(fam)
    assert all(METHODS[n].description for n in names)


def test_resolve_methods():
    assert resolve_methods("all") == list_methods()
    # the default set leaves out the opt-in methods (crossfit-la: 6 trainings per seed; the mixup methods)
    opt_in = {"crossfit-la", "weighted-ce-mixup", "acwa-mixup"}
    opt_in |= {"crt", "tau-norm", "lws", "ncm", "weight-balancing", "drs", "acwa-auto-fast"}  # issue 25
    assert resolve_methods("default") == resolve_methods(None) == [n for n in list_methods() if n not in opt_in]
    assert resolve_methods("la, ce,la") == ["la", "ce"]
    with pytest.raises(ValueError, match=r"unknown method\(s\) nope; valid names: default, all, ce"):
        resolve_methods("ce,nope")
    with pytest.raises(ValueError, match="no method given"):
        resolve_methods(" , ")


def test_register_method_validation():
    with pytest.raises(ValueError, match="family must be one of"):
        register_method("x-test", family="magic")
    with pytest.raises(ValueError, match="already registered"):
        register_method("ce", family="baseline")(lambda ctx: None)
    with pytest.raises(ValueError, match="lower-case"):
        register_method("Bad Name", family="static")
    with pytest.raises(ValueError, match="not 'all' or 'default'"):
        register_method("default", family="static")


def test_custom_method_runs_through_the_shared_recipe(tmp_path):
    seen = {}

    @register_method("test-double-lr", family="static", description="test only")
    def _m(ctx):
        seen["recipe"] = ctx.recipe
        seen["n"] = len(ctx.y)
        return ctx.fit(torch.nn.CrossEntropyLoss())

    try:
        res = run_bench("digits-lt", methods="ce,test-double-lr", write_report=False, **FAST)
    finally:
        unregister_method("test-double-lr")
    assert "test-double-lr" not in METHODS
    assert seen["recipe"].epochs == 1
    assert seen["n"] == sum(res["config"]["train_counts"])
    # plain CE through the registry == the 'ce' method: same seed, same recipe, same numbers
    by = {r["method"]: r for r in res["runs"]}
    assert by["ce"]["per_class_f1"] == by["test-double-lr"]["per_class_f1"]


def test_evaluate_matches_sklearn():
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, recall_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    logits = torch.from_numpy(rng.normal(size=(300, 4))).float()
    logits[np.arange(300), y] += 0.8  # better than chance
    pred = logits.argmax(1).numpy()
    m = evaluate(logits, torch.from_numpy(y), 4, train_counts=[100, 40, 10, 2])
    assert m["accuracy"] == pytest.approx((pred == y).mean())
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["per_class_f1"] == pytest.approx(f1_score(y, pred, average=None).tolist())
    rec = recall_score(y, pred, average=None)
    assert m["per_class_recall"] == pytest.approx(rec.tolist())
    assert m["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    # groups by training count: 4 classes -> [0, 1], [2], [3]
    assert m["many_shot_accuracy"] == pytest.approx(rec[[0, 1]].mean())
    assert m["few_shot_accuracy"] == pytest.approx(rec[3])


def test_shot_groups_rank_by_count():
    groups = shot_groups([5, 100, 50, 1, 20, 70, 9, 30, 2, 60])
    assert [g.tolist() for g in groups] == [[1, 5, 9, 2], [7, 4, 6], [0, 8, 3]]


def _check_schema(res):
    assert isinstance(res["dataset"], str) and isinstance(res["config"], dict)
    run_types = {
        "method": str,
        "family": str,
        "seed": int,
        "accuracy": float,
        "balanced_accuracy": float,
        "macro_f1": float,
        "per_class_f1": list,
        "train_seconds": float,
    }
    for r in res["runs"]:
        for k, t in run_types.items():
            assert isinstance(r[k], t), (k, r[k])
        assert all(isinstance(v, float) for v in r["per_class_f1"])
        assert 0 <= r["balanced_accuracy"] <= 1 and r["train_seconds"] > 0
    sum_types = {
        "method": str,
        "family": str,
        "balanced_accuracy_mean": float,
        "balanced_accuracy_std": float,
        "macro_f1_mean": float,
        "macro_f1_std": float,
        "accuracy_mean": float,
        "train_seconds_mean": float,
    }
    for s in res["summary"]:
        for k, t in sum_types.items():
            assert isinstance(s[k], t), (k, s[k])


def test_results_json_schema_report_and_summary(tmp_path):
    out = tmp_path / "rep"
    res = run_bench("digits-lt", methods="ce,la,acwa", seeds=2, epochs=2, out=str(out), progress=False)
    on_disk = json.loads((out / "results.json").read_text())
    _check_schema(on_disk)
    assert on_disk["summary"] == json.loads(json.dumps(res["summary"]))
    assert len(on_disk["runs"]) == 6 and on_disk["config"]["seeds"] == [0, 1]
    # summary = mean / sample std over the seeds, ranked by balanced accuracy
    for s in on_disk["summary"]:
        vals = [r["balanced_accuracy"] for r in on_disk["runs"] if r["method"] == s["method"]]
        assert s["balanced_accuracy_mean"] == pytest.approx(np.mean(vals))
        assert s["balanced_accuracy_std"] == pytest.approx(np.std(vals, ddof=1))
    means = [s["balanced_accuracy_mean"] for s in on_disk["summary"]]
    assert means == sorted(means, reverse=True) and [s["rank"] for s in on_disk["summary"]] == [1, 2, 3]
    # long-tailed data: many/medium/few reported
    assert all(r["few_shot_accuracy"] is not None for r in on_disk["runs"])
    # ACWA weight history recorded (row 0 = initial uniform weights)
    acwa_run = next(r for r in on_disk["runs"] if r["method"] == "acwa")
    assert acwa_run["weight_history"][0] == [1.0] * 10
    for f in (
        "report.md",
        "report.html",
        "ranking.png",
        "per_class_f1.png",
        "confusion.png",
        "adaptation.png",
        "training_curves.png",
    ):
        assert (out / f).is_file(), f
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5 and ".png'" not in page  # self-contained
    md = (out / "report.md").read_text()
    assert "| 1 |" in md and "acwa" in md


def test_same_seed_same_numbers():
    a = run_bench("digits-lt", methods="ce,balanced-sampler", seeds=1, epochs=2, write_report=False, progress=False)
    b = run_bench("digits-lt", methods="ce,balanced-sampler", seeds=1, epochs=2, write_report=False, progress=False)
    for ra, rb in zip(a["runs"], b["runs"]):
        assert ra["per_class_f1"] == rb["per_class_f1"] and ra["confusion_matrix"] == rb["confusion_matrix"]
        assert ra["history"]["train_loss"] == rb["history"]["train_loss"]


def test_worker_processes_give_the_same_results():
    kw: dict[str, Any] = dict(
        methods="ce,la-posthoc,balanced-sampler", seeds=3, epochs=2, max_train=300, write_report=False, progress=False
    )
    one, two = run_bench("digits-lt", **kw), run_bench("digits-lt", jobs=2, **kw)
    assert two["config"]["jobs"] == 2 and one["config"]["jobs"] == 1
    assert [(r["method"], r["seed"]) for r in two["runs"]] == [(r["method"], r["seed"]) for r in one["runs"]]
    for a, b in zip(one["runs"], two["runs"]):
        assert a["confusion_matrix"] == b["confusion_matrix"] and a["history"] == b["history"]
    by = {(r["method"], r["seed"]): r for r in two["runs"]}  # a worker's methods still share models
    assert all(by[("la-posthoc", s)]["train_seconds"] == by[("ce", s)]["train_seconds"] for s in range(3))


def test_worker_processes_need_importable_methods():
    @register_method("local-ce", family="baseline")
    def local_ce(ctx):
        return ctx.fit()

    try:
        with pytest.raises(ValueError, match="method 'local-ce' cannot be sent to a worker process.*jobs=1"):
            run_bench("digits-lt", methods="local-ce", jobs=2, **{**FAST, "seeds": 2}, write_report=False)
        assert len(run_bench("digits-lt", methods="local-ce", jobs=2, **FAST, write_report=False)["runs"]) == 1
    finally:
        unregister_method("local-ce")


def test_every_method_runs_without_failure():
    res = run_bench("digits-lt", methods="all", write_report=False, **FAST)
    assert res["failures"] == []
    ran = {r["method"] for r in res["runs"]} | {s["method"] for s in res["skipped"]}
    assert ran == set(list_methods())
    by = {r["method"]: r for r in res["runs"]}
    if "la-posthoc" in by:  # post-hoc LA reuses the CE model of the same seed
        assert by["la-posthoc"]["train_seconds"] == by["ce"]["train_seconds"]
    # crossfit-bias adds a bias to weighted-ce's model and pays for its 5 fold models
    bias = by["crossfit-bias"]["extra"]["class_bias"]
    assert len(bias) == 10 and abs(sum(bias)) < 1e-3 and any(b != 0 for b in bias)
    # crossfit-la trains a new LA model on offsets shifted by its 5 fold models' bias
    bias = by["crossfit-la"]["extra"]["class_bias"]
    assert len(bias) == 10 and abs(sum(bias)) < 1e-3 and any(b != 0 for b in bias)
    assert METHODS["crossfit-la"].trainings == by["crossfit-la"]["trainings"] == 6


@pytest.mark.parametrize("method", ["crossfit-bias", "crossfit-la"])
def test_cross_fitted_methods_train_the_models_they_declare(method, monkeypatch):
    fits: list[int | None] = []
    fit = RunContext.fit

    def counting_fit(self, *args, **kwargs):
        idx = kwargs.get("indices")
        fits.append(None if idx is None else len(idx))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(RunContext, "fit", counting_fit)
    res = run_bench("digits-lt", methods=method, write_report=False, **FAST)
    assert res["failures"] == [] and len(fits) == METHODS[method].trainings == 6
    n = sum(res["config"]["train_counts"])
    folds = [k for k in fits if k is not None]
    assert len(folds) == 5 and fits.count(None) == 1  # 5 fold models on ~4/5 of the data, then the full model
    assert all(0.7 * n < k < 0.9 * n for k in folds)


def test_validation_split_comes_from_training_split_only():
    ds = load_dataset("digits-lt", rho=100)
    X, y = torch.from_numpy(ds.X_train), torch.from_numpy(ds.y_train)
    ctx = RunContext(ds, X, y, default_recipe(ds, epochs=1), seed=0)
    tr, va = ctx.validation_split(0.2)
    counts = ds.train_counts
    assert tr.max() < len(y) and va.max() < len(y)
    assert set(np.unique(y[va].numpy())) == set(range(10))  # every class validated
    shared = set(tr) & set(va)
    # only the samples of single-sample classes are in both parts
    assert shared == set(np.flatnonzero(np.isin(ds.y_train, np.flatnonzero(counts == 1))))


def test_tabular_data_and_smote(tmp_path):
    rng = np.random.default_rng(0)
    n = [120, 30, 8]
    X = np.concatenate([rng.normal(loc=i, size=(k, 5)) for i, k in enumerate(n)]).astype(np.float32) * 100
    y = np.repeat(["a", "b", "c"], n)
    p = tmp_path / "t.npz"
    np.savez(p, X=X, y=y)
    methods = "ce,smote" if "smote" in METHODS else "ce"
    res = run_bench(data=str(p), methods=methods, seeds=1, epochs=30, write_report=False, progress=False)
    assert res["failures"] == [] and res["config"]["standardised_features"] and res["config"]["modality"] == "tabular"
    assert res["config"]["class_names"] == ["a", "b", "c"]
    assert all(r["balanced_accuracy"] > 0.5 for r in res["runs"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="seeds must be an int >= 1"):
        run_bench("digits-lt", methods="ce", seeds=0, write_report=False)
    with pytest.raises(ValueError, match="unknown dataset"):
        run_bench("imagenet", methods="ce", write_report=False)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        run_bench("digits-lt", methods="ce", epochs=0, write_report=False)
    for jobs in (0, 1.5, True):
        with pytest.raises(ValueError, match="jobs must be an int >= 1"):
            run_bench("digits-lt", methods="ce", jobs=cast(Any, jobs), write_report=False)


def test_with_crossfit_bias_applies_the_bias_post_hoc_or_as_training_offsets():
    from torch import nn

    from acwa.bench.methods import with_crossfit_bias
    from acwa.bench.training import Fit
    from acwa.splits import stratified_folds

    ds = load_dataset("digits-lt", rho=100)
    X, y = torch.from_numpy(ds.X_train), torch.from_numpy(ds.y_train)
    ctx = RunContext(ds, X, y, default_recipe(ds, epochs=1), seed=0)
    skew = torch.linspace(2.0, -2.0, 10)  # every "model" favours the head classes by this much
    calls = []

    def train(idx, offsets=None):
        calls.append((None if idx is None else len(idx), offsets))
        linear = nn.Linear(X[0].numel(), 10)
        model = nn.Sequential(nn.Flatten(), linear)
        with torch.no_grad():
            linear.weight.zero_()
            linear.bias.copy_(skew)
        return Fit(model, 1.0, {})

    post = with_crossfit_bias(ctx, train)
    bias = torch.tensor(post.extra["class_bias"])
    fold_sizes = np.bincount(stratified_folds(y, num_folds=5, seed=0), minlength=5)
    assert [c[0] for c in calls[:5]] == [len(y) - n for n in fold_sizes]
    assert calls[5] == (None, None) and post.train_seconds == 6.0
    # every out-of-fold logit is the skew: the bias is fit_class_bias on it, and it opposes the skew
    from acwa.posthoc import fit_class_bias

    torch.testing.assert_close(bias, fit_class_bias(skew.expand(len(y), 10), y), atol=1e-4, rtol=0)
    assert (bias.diff() > 0).all()
    assert post.posthoc is not None
    torch.testing.assert_close(post.posthoc(torch.zeros(1, 10)), bias.view(1, 10), atol=1e-4, rtol=0)

    calls.clear()
    trained = with_crossfit_bias(ctx, train, at="train")
    assert trained.posthoc is None and calls[5][0] is None
    torch.testing.assert_close(calls[5][1], -torch.tensor(trained.extra["class_bias"]), atol=1e-4, rtol=0)


def test_default_and_all_expand_inside_a_method_list():
    from acwa.bench.registry import METHODS, resolve_methods

    default = resolve_methods("default")
    assert resolve_methods(None) == default
    with_extra = resolve_methods("default,crossfit-la")
    assert with_extra == default + ["crossfit-la"] and not METHODS["crossfit-la"].in_default
    assert resolve_methods("ce,all") == ["ce"] + [n for n in resolve_methods("all") if n != "ce"]
    with pytest.raises(ValueError, match="unknown method"):
        resolve_methods("default,nope")
