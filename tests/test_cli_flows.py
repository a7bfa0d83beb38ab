"""The user flows of ``acwa bench`` / ``acwa report`` / ``acwa weights``, each through the CLI:
progress lines and the takeaway, data handling (missing values, --impute, --drop,
--test-fraction), warnings, --rank-by, reference rows, re-rendering, class weights, --help."""

import json

import numpy as np
import pytest

from acwa.bench import list_methods
from acwa.cli import main
from acwa.data import list_datasets

QUICK = ["--seeds", "1", "--epochs", "1", "--no-progress"]


def _csv(path, n=120, missing_every=None, seed=0):
    """id, a numeric column (optionally with NA cells), a categorical one; labels 80/25/15."""
    rng = np.random.default_rng(seed)
    lines = ["id,age,colour,label"]
    for i in range(n):
        label = "x" if i < 0.66 * n else ("y" if i < 0.87 * n else "z")
        age = "NA" if missing_every and i % missing_every == 3 else f"{rng.normal() + (label != 'x'):.3f}"
        lines.append(f"{i},{age},{['red', 'blue'][i % 2]},{label}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _one_error(capsys, rc, needle, command="bench"):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"acwa {command}: error:") and needle in lines[0], lines[0]
    assert "Traceback" not in err


def test_flow_quick_start_prints_progress_lines_and_leads_with_the_winner(tmp_path, capsys):
    rc = main(["bench", "--methods", "ce,la", "--max-train", "200", "--out", str(tmp_path / "o")] + QUICK)
    captured = capsys.readouterr()
    assert rc == 0
    assert captured.out.splitlines()[0].startswith("Best: ")
    err = captured.err.splitlines()
    assert any(line.startswith("[1/2] ce seed 0: bal. acc ") and "ETA" in line for line in err)
    assert any(line.startswith("warning: one seed") for line in err)
    html = (tmp_path / "o" / "report.html").read_text()
    assert "id='takeaway'>Best: " in html and "one seed" in html
    # every finished run was also streamed to runs.jsonl
    lines = (tmp_path / "o" / "runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["method"] for line in lines] == ["ce", "la"]


def test_flow_progress_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    import io
    import sys

    from acwa.bench.execution import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    fake = Tty()
    monkeypatch.setattr(sys, "stderr", fake)
    lines: list[str] = []
    bar = Progress(4, True, lines.append)
    assert bar.bar is not None
    bar.start("ce", 0)
    bar.finished([{"method": "ce", "seed": 0, "balanced_accuracy": 0.5, "train_seconds": 1.0}])
    assert bar.bar.n == 1 and bar.bar.total == 4 and "ce seed 0" in fake.getvalue()  # runs done, current run
    bar.close()
    assert lines == []
    quiet = Progress(4, False, lines.append)  # --no-progress: one line per run instead
    quiet.finished([{"method": "la", "seed": 1, "error": "ValueError: boom"}])
    assert quiet.bar is None and lines == ["[1/4] la seed 1: FAILED ValueError: boom; ETA 0s"]


def test_flow_csv_missing_values_impute_and_drop(tmp_path, capsys):
    data = _csv(tmp_path / "t.csv", missing_every=10)
    base = ["bench", "--data", data, "--target", "label", "--methods", "ce", "--no-reference"] + QUICK
    _one_error(capsys, main(base + ["--out", str(tmp_path / "a")]), "column 'age' has 12 empty/NaN/Inf value(s)")
    assert not (tmp_path / "a").exists()
    _one_error(capsys, main(base + ["--drop", "nope"]), "--drop: t.csv has no column 'nope'; columns are: id, age")
    rc = main(base + ["--impute", "median", "--drop", "id", "--test-fraction", "0.5", "--out", str(tmp_path / "b")])
    assert rc == 0, capsys.readouterr().err
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert res["config"]["split"] == {
        "split": "stratified",
        "test_fraction": 0.5,
        "dropped": ["id"],
        "imputed": "median",
    }
    assert sum(res["config"]["test_counts"]) == 60  # --test-fraction 0.5 of 120 rows
    # without --drop, the id column is flagged as a likely identifier
    rc = main(base + ["--impute", "most_frequent", "--out", str(tmp_path / "c")])
    assert rc == 0 and "'id' holds a distinct integer in every row" in capsys.readouterr().err


def test_flow_impute_median_on_a_text_column_and_bad_fractions(tmp_path, capsys):
    p = tmp_path / "c.csv"
    p.write_text("a,colour,label\n" + "\n".join(f"{i},{'?' if i == 5 else 'red'},{i % 2}" for i in range(40)) + "\n")
    base = ["bench", "--data", str(p), "--target", "label", "--methods", "ce"] + QUICK
    _one_error(capsys, main(base + ["--impute", "median"]), "--impute median: column 'colour' is not numeric")
    for bad in ("1.5", "0", "nan"):
        rc = main(base + ["--test-fraction", bad])
        _one_error(capsys, rc, "--test-fraction must be a finite number in (0, 1)" if bad != "x" else "")
    _one_error(capsys, main(base + ["--impute", "mean"]), "argument --impute: invalid choice: 'mean'")


def test_flow_small_test_class_warning_in_log_and_report(tmp_path, capsys):
    data = _csv(tmp_path / "t.csv", n=40)  # test split: 30% of 6 'z' rows = 2
    rc = main(["bench", "--data", data, "--target", "label", "--methods", "ce", "--out", str(tmp_path / "o")] + QUICK)
    err = capsys.readouterr().err
    assert rc == 0
    assert "warning: the test split holds fewer than 5 samples of y (n=2), z (n=2)" in err
    assert "fewer than 5 samples of y (n=2), z (n=2)" in (tmp_path / "o" / "report.md").read_text()


def test_flow_rank_by(tmp_path, capsys):
    out = tmp_path / "o"
    args = ["bench", "--methods", "ce,la,balanced-sampler", "--max-train", "200", "--out", str(out)] + QUICK
    assert main(args + ["--rank-by", "macro_f1"]) == 0
    res = json.loads((out / "results.json").read_text())
    f1 = [r["macro_f1_mean"] for r in res["summary"]]
    assert res["config"]["rank_by"] == "macro_f1" and f1 == sorted(f1, reverse=True)
    assert "macro-F1" in capsys.readouterr().out.splitlines()[0]
    _one_error(capsys, main(args + ["--rank-by", "auc"]), "argument --rank-by: invalid choice: 'auc'")
    rc = main(args + ["--rank-by", "average_precision", "--out", str(tmp_path / "p")])
    _one_error(capsys, rc, "rank_by 'average_precision' is not computed for this data")
    assert not (tmp_path / "p").exists()  # rejected before any training


def test_flow_reference_rows_on_tabular_data(tmp_path, capsys):
    pytest.importorskip("sklearn")
    data = _csv(tmp_path / "t.csv")
    base = ["bench", "--data", data, "--target", "label", "--drop", "id"] + QUICK
    assert main(base + ["--methods", "ce,sk-logreg,sk-hist-gb", "--out", str(tmp_path / "a")]) == 0
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    ref = [r for r in res["summary"] if r["family"] == "reference"]
    assert {r["method"] for r in ref} == {"sk-logreg", "sk-hist-gb"} and all(r["rank"] is None for r in ref)
    assert [r["rank"] for r in res["summary"] if r["family"] != "reference"] == [1]
    assert "Reference sk-" in capsys.readouterr().out.splitlines()[0]
    # default methods include the reference rows; --no-reference leaves them out
    rc = main(base + ["--methods", "default", "--no-reference", "--out", str(tmp_path / "b"), "--epochs", "1"])
    assert rc == 0
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert all(r["family"] != "reference" for r in res["summary"])


def test_flow_report_rerenders_results_json(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["bench", "--methods", "ce", "--max-train", "150", "--out", str(out)] + QUICK) == 0
    capsys.readouterr()
    assert main(["report", str(out / "results.json"), "--out", str(tmp_path / "again")]) == 0
    assert "report:" in capsys.readouterr().out
    again = tmp_path / "again"
    assert (again / "report.html").is_file() and (again / "ranking.png").is_file()
    assert (
        json.loads((again / "results.json").read_text())["summary"]
        == json.loads((out / "results.json").read_text())["summary"]
    )
    _one_error(capsys, main(["report", str(tmp_path / "none.json")]), "not found", "report")
    (tmp_path / "bad.json").write_text("{not json")
    _one_error(capsys, main(["report", str(tmp_path / "bad.json")]), "is not a JSON file", "report")
    (tmp_path / "other.json").write_text('{"a": 1}')
    _one_error(capsys, main(["report", str(tmp_path / "other.json")]), "lacks dataset, config", "report")


def test_flow_weights(tmp_path, capsys):
    import torch

    from acwa.weights import class_weights

    data = _csv(tmp_path / "t.csv")
    assert main(["weights", "--data", data, "--target", "label", "--method", "effective_number", "--beta", "0.99"]) == 0
    out = capsys.readouterr().out
    payload = json.loads(next(line for line in out.splitlines() if line.startswith("json: "))[6:])
    expected = class_weights(torch.tensor([80, 25, 15]), "effective_number", beta=0.99)
    assert payload["classes"] == ["x", "y", "z"] and payload["counts"] == [80, 25, 15]
    assert payload["weights"] == pytest.approx(expected.tolist(), abs=1e-6)
    assert out.splitlines()[0].split() == ["class", "count", "weight"] and "python: weight = torch.tensor([" in out
    np.savez(tmp_path / "a.npz", X=np.zeros((6, 2)), y=np.array([0, 0, 0, 0, 1, 1]))
    assert main(["weights", "--data", str(tmp_path / "a.npz"), "--method", "inverse"]) == 0
    assert json.loads(capsys.readouterr().out.split("json: ")[1].splitlines()[0])["weights"] == pytest.approx(
        [2 / 3, 4 / 3]
    )
    _one_error(capsys, main(["weights", "--data", data]), "needs --target COLUMN", "weights")
    _one_error(
        capsys, main(["weights", "--data", data, "--target", "label", "--beta", "0.5"]), "--beta applies", "weights"
    )


def test_flow_bench_help_lists_datasets_and_methods(capsys):
    assert main(["bench", "--help"]) == 0
    text = capsys.readouterr().out
    for name in list_datasets():
        assert f"  {name} " in text
    for name in list_methods():
        assert f"  {name} " in text or f" *{name} " in text
    assert "--rank-by" in text and "--no-reference" in text and "--impute" in text


def test_out_folder_rules(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    args = ["bench", "--methods", "ce", "--max-train", "150"] + QUICK
    assert main(args + ["--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"--out {out} is not empty: writing to {out}-" in err and "--overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "stale.png"]  # untouched
    assert main(args + ["--out", str(out), "--overwrite"]) == 0
    capsys.readouterr()
    names = {p.name for p in out.iterdir()}
    assert "stale.png" not in names and {"notes.txt", "results.json", "report.html"} <= names
    (tmp_path / "file").write_text("x")
    _one_error(capsys, main(args + ["--out", str(tmp_path / "file")]), "is a file, not a folder")
    _one_error(capsys, main(args + ["--out", str(tmp_path / "file" / "sub")]), "cannot write there")


def test_without_matplotlib_results_and_reports_are_still_written(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    out = tmp_path / "o"
    assert main(["bench", "--methods", "ce", "--max-train", "150", "--out", str(out)] + QUICK) == 0
    err = capsys.readouterr().err
    assert sum("matplotlib is not installed" in line for line in err.splitlines()) == 1
    assert {"results.json", "report.md", "report.html"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob("*.png"))
