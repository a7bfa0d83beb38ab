"""acwa.bench.scoring / report: binary metrics against sklearn, ranking by any metric, reference
rows unranked, the one-line takeaway, unique sections, methods equal by construction."""

import numpy as np
import pytest
import torch

from acwa.bench.report import SECTIONS, markdown_report, summary_table, takeaway
from acwa.bench.scoring import BENCH_METRICS, average_precision, check_rank_by, evaluate, roc_auc, summarise


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_and_roc_auc_match_sklearn(seed):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    y = rng.random(200) < 0.1
    y[:2] = [True, False]
    scores = np.round(rng.random(200) + 0.4 * y, 1)  # rounded: many ties
    assert average_precision(scores, y) == pytest.approx(average_precision_score(y, scores))
    assert roc_auc(scores, y) == pytest.approx(roc_auc_score(y, scores))
    assert average_precision(scores, np.zeros(200, bool)) is None and roc_auc(scores, np.ones(200, bool)) is None


def test_evaluate_binary_scores_the_training_minority_class():
    from sklearn.metrics import average_precision_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(np.int64)
    logits = torch.from_numpy(rng.normal(size=(300, 2))).float()
    logits[:, 1] += torch.from_numpy(1.5 * y).float()
    m = evaluate(logits, torch.from_numpy(y), 2, train_counts=[800, 200])
    pred = logits.argmax(1).numpy()
    p1 = torch.softmax(logits.double(), 1)[:, 1].numpy()
    assert m["minority_class"] == 1
    assert m["average_precision"] == pytest.approx(average_precision_score(y, p1))
    assert m["minority_recall"] == pytest.approx(recall_score(y, pred))
    assert m["minority_precision"] == pytest.approx(precision_score(y, pred))
    assert "few_shot_accuracy" not in m  # thirds of two classes mean nothing
    flipped = evaluate(logits.flip(1), torch.from_numpy(1 - y), 2, train_counts=[200, 800])
    assert flipped["minority_class"] == 0 and flipped["average_precision"] == pytest.approx(m["average_precision"])


def _runs(values, family="static"):
    runs = []
    for method, vals in values.items():
        fam = "reference" if method.startswith("sk-") else ("baseline" if method == "ce" else family)
        for seed, (bacc, f1) in enumerate(vals):
            runs.append(
                {
                    "method": method,
                    "family": fam,
                    "seed": seed,
                    "balanced_accuracy": bacc,
                    "macro_f1": f1,
                    "accuracy": bacc,
                    "per_class_f1": [f1, f1],
                    "per_class_recall": [bacc, bacc],
                    "train_seconds": 1.0 + seed,
                }
            )
    return runs


def test_rank_by_any_metric_and_reference_rows_are_not_ranked():
    runs = _runs({"ce": [(0.6, 0.7)] * 2, "la": [(0.8, 0.5), (0.7, 0.5)], "sk-logreg": [(0.9, 0.9)] * 2})
    by_bacc = summarise(runs, ["ce", "la", "sk-logreg"])
    assert [(r["method"], r["rank"]) for r in by_bacc] == [("sk-logreg", None), ("la", 1), ("ce", 2)]
    assert by_bacc[1]["balanced_accuracy_std"] == pytest.approx(np.std([0.8, 0.7], ddof=1))
    by_f1 = summarise(runs, ["ce", "la", "sk-logreg"], rank_by="macro_f1")
    assert [(r["method"], r["rank"]) for r in by_f1] == [("sk-logreg", None), ("ce", 1), ("la", 2)]
    one_seed = summarise([r for r in runs if r["seed"] == 0], ["ce", "la"])
    assert all(r["balanced_accuracy_std"] is None for r in one_seed)  # no ± with one seed
    with pytest.raises(ValueError, match="rank_by must be one of balanced_accuracy, macro_f1"):
        summarise(runs, ["ce"], rank_by="auc")
    with pytest.raises(ValueError, match="not computed for this data.*two classes"):
        check_rank_by("average_precision", ["balanced_accuracy", "macro_f1", "accuracy"])
    assert set(BENCH_METRICS) >= {"balanced_accuracy", "macro_f1", "accuracy", "average_precision", "roc_auc"}


def _results(runs, methods, rank_by="balanced_accuracy", trainings=None):
    summary = summarise(runs, methods, rank_by)
    return {
        "dataset": "toy",
        "partial": False,
        "warnings": ["one seed: no ± spread"],
        "runs": runs,
        "summary": summary,
        "skipped": [],
        "failures": [],
        "config": {
            "rank_by": rank_by,
            "class_names": ["a", "b"],
            "train_counts": [10, 2],
            "method_info": [
                {"method": m, "family": "static", "description": m, "trainings": (trainings or {}).get(m, 1)}
                for m in methods
            ],
        },
    }


def test_takeaway_names_the_best_and_the_best_single_training_method():
    runs = _runs({"ce": [(0.6, 0.6)] * 2, "crossfit-la": [(0.9, 0.9)] * 2, "la": [(0.8, 0.8)] * 2})
    res = _results(runs, ["ce", "crossfit-la", "la"], trainings={"crossfit-la": 6})
    line = takeaway(res)
    assert line.startswith("Best: crossfit-la (bal. acc 0.900 ± 0.000, +0.300 vs ce; 1.5 s per run, 1.0x ce).")
    assert "Best single-training method: la (bal. acc 0.800 ± 0.000, +0.200 vs ce" in line
    res = _results(runs + _runs({"sk-hist-gb": [(0.95, 0.9)] * 2}), ["ce", "la", "sk-hist-gb"])
    line = takeaway(res)
    assert "la" in line and "also the best single-training method" in line
    assert "Reference sk-hist-gb (bal. acc 0.950) beats it (+0.150)" in line
    table = summary_table(res)
    assert table.splitlines()[2].split()[0] == "ref"  # reference row first by value, unranked


def test_markdown_sections_are_unique_and_lead_with_the_takeaway():
    from acwa.bench import run_bench
    from acwa.data import BenchDataset

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [60, 20, 6])
    X = rng.normal(size=(len(y), 4)) + y[:, None]
    ds = BenchDataset("toy", "tabular", X, y, X, y, ["a", "b", "c"])
    res = run_bench(
        dataset_obj=ds, methods="ce,la,balanced-softmax", seeds=1, epochs=1, write_report=False, progress=False
    )
    assert next(r for r in res["summary"] if r["method"] == "balanced-softmax")["same_as"] == "la"
    md = markdown_report(res, {k: f"{k}.png" for k in SECTIONS})
    lines = md.splitlines()
    assert lines[2] == f"**{takeaway(res)}**" and lines[2].startswith("**Best: ")
    headings = [line for line in lines if line.startswith("## ")]
    assert len(headings) == len(set(headings)) and "## Warnings" in headings
    assert "balanced-softmax (= la)" in md and "one seed" in md
