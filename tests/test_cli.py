"""The ``acwa`` command: listing, a tiny end-to-end bench, and one-line errors for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from acwa.bench import list_methods
from acwa.cli import main


def test_list_methods_and_help_name_every_method(capsys):
    assert main(["bench", "--list-methods"]) == 0
    listed = capsys.readouterr().out
    assert main(["bench", "--help"]) == 0
    helptext = capsys.readouterr().out
    for name in list_methods():
        assert f"\n{name} " in "\n" + listed, name
        assert f"  {name} " in helptext or f" *{name} " in helptext, name
    # opt-in methods (not in the default run) are marked in both listings
    assert " *crossfit-la " in helptext and "  crossfit-la " not in helptext
    assert "(opt-in)" in next(line for line in listed.splitlines() if line.startswith("crossfit-la "))


def test_list_datasets(capsys):
    assert main(["bench", "--list-datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("digits-lt", "fashion-mnist-lt", "ecg5000", "rotten-tomatoes"):
        assert name in out
    assert "digits-lt" in out and "[available]" in out.splitlines()[0]


def _acwa_command():
    exe = Path(sys.executable).with_name("acwa")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "acwa.cli"]


def test_console_script_lists_methods():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        _acwa_command() + ["bench", "--list-methods"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert {line.split()[0] for line in proc.stdout.splitlines()} == set(list_methods())


def test_bench_smoke_run(tmp_path, capsys):
    out = tmp_path / "r"
    rc = main(["bench", "--methods", "ce,acwa", "--seeds", "1", "--epochs", "1", "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "bal. acc" in text and "ce" in text and "report:" in text
    res = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in res["runs"]} == {"ce", "acwa"}
    assert res["config"]["command"].startswith("acwa bench --methods ce,acwa")
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


def test_bench_csv_with_string_labels(tmp_path, capsys):
    rng = np.random.default_rng(0)
    lines = ["f1,f2,colour,label"]
    for i in range(90):
        c = ["cat", "dog", "eel"][0 if i < 60 else (1 if i < 80 else 2)]
        lines.append(f"{rng.normal() + (i >= 60)},{rng.normal()},{['red', 'blue'][i % 2]},{c}")
    p = tmp_path / "pets.csv"
    p.write_text("\n".join(lines))
    rc = main(
        [
            "bench",
            "--data",
            str(p),
            "--target",
            "label",
            "--methods",
            "ce,weighted-ce",
            "--seeds",
            "1",
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["config"]["class_names"] == ["cat", "dog", "eel"] and res["config"]["modality"] == "tabular"


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize(
    "make_args, needle",
    [
        (lambda d: ["--data", str(d / "missing.npz")], "data file not found"),
        (lambda d: ["--data", _npz(d / "a.npz", A=np.zeros(3))], "expected arrays X_train, y_train, X_test, y_test"),
        (lambda d: ["--data", _write(d / "c.csv", "a,b\n1,0\n2,1\n"), "--target", "label"], "no target column 'label'"),
        (lambda d: ["--data", _write(d / "c.csv", "a,b\n1,0\n2,1\n")], "needs --target"),
        (lambda d: ["--data", _npz(d / "s.npz", X=np.zeros((10, 2)), y=np.ones(10))], "single class"),
        (lambda d: ["--data", _npz(d / "n.npz", X=np.array([[np.nan, 1.0]] * 10), y=np.arange(10) % 2)], "NaN/Inf"),
        (lambda d: ["--data", _npz(d / "m.npz", X=np.zeros((10, 2)), y=np.arange(9) % 2)], "lengths must match"),
        (lambda d: ["--methods", "ce,magic"], "unknown method(s) magic; valid names: default, all, ce"),
        (lambda d: ["--dataset", "cifar"], "unknown dataset 'cifar'; valid names: digits-lt"),
        (lambda d: ["--seeds", "0"], "seeds must be >= 1"),
        (lambda d: ["--jobs", "0"], "jobs must be >= 1"),
        (lambda d: ["--rho", "0.5"], "rho must be a finite number >= 1"),
    ],
)
def test_bad_input_one_line_error(tmp_path, capsys, make_args, needle):
    rc = main(
        ["bench", "--no-progress", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path / "o")] + make_args(tmp_path)
    )
    err = capsys.readouterr().err
    assert rc == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("acwa") and "error:" in lines[0] and needle in lines[0]
    assert not (tmp_path / "o").exists()


def _write(path, text):
    path.write_text(text)
    return str(path)
