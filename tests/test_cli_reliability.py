"""``acwa bench`` survives faults and Ctrl-C: one line and exit 130, finished runs kept and marked
partial, a bounded seed queue, numeric options checked when parsing, malformed files as one-line
data errors."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from acwa.cli import main

QUICK = ["--seeds", "1", "--epochs", "1", "--no-progress"]


def _one_error(capsys, rc, needle):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("acwa bench: error:") and needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "option, value, needle",
    [
        ("--lr", "nan", "--lr must be a finite number > 0, got nan"),
        ("--lr", "inf", "--lr must be a finite number > 0"),
        ("--lr", "-1", "--lr must be a finite number > 0"),
        ("--rho", "inf", "--rho must be a finite number >= 1"),
        ("--rho", "nan", "--rho must be a finite number >= 1"),
        ("--test-fraction", "inf", "--test-fraction must be a finite number in (0, 1)"),
        ("--seeds", "1e3", "--seeds must be a positive integer"),
        ("--epochs", "-2", "--epochs must be >= 1"),
    ],
)
def test_numeric_options_are_checked_when_parsing(tmp_path, capsys, option, value, needle):
    _one_error(capsys, main(["bench", option, value, "--out", str(tmp_path / "o")]), needle)
    assert not (tmp_path / "o").exists()


def _npz_with_member(path, name, payload: bytes):
    """An .npz whose X is ``payload`` (raw bytes) and whose y is a valid array."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.arange(10) % 2)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, payload)
        z.writestr("y.npy", buf.getvalue())
    return str(path)


def _saved(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda d: _npz_with_member(d / "raw.npz", "X.npy", b"raw bytes, not an array"), "member 'X' is raw bytes"),
        (lambda d: _saved(d / "z.npz", X=np.float64(3), y=np.int64(1)), "0-d array"),
        (lambda d: _saved(d / "v.npz", X=np.zeros((4, 2)), y=np.zeros(4, dtype="V3")), "dtype"),
        (lambda d: (d / "t.npz").write_bytes(b"PK\x03\x04garbage") and str(d / "t.npz"), "not a readable .npz"),
        (lambda d: (d / "b.csv").write_bytes(b"\xff\xfe\x00a,b\n") and str(d / "b.csv"), "not a UTF-8 text csv"),
    ],
)
def test_malformed_files_give_one_line_data_errors(tmp_path, capsys, make, needle):
    path = make(tmp_path)
    target = ["--target", "b"] if path.endswith(".csv") else []
    _one_error(capsys, main(["bench", "--data", path, *target] + QUICK), needle)


def _acwa(args, **kw):
    exe = Path(sys.executable).with_name("acwa")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "acwa.cli"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    return subprocess.Popen(cmd + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def _wait_for_runs(path: Path, n: int, proc, timeout: float = 120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.is_file() and len(path.read_text().splitlines()) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"bench exited early: {proc.communicate()}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail("no finished run appeared")


@pytest.mark.slow
@pytest.mark.parametrize(
    "jobs, sig, code, word",
    [
        (1, signal.SIGINT, 130, "interrupted"),
        (2, signal.SIGINT, 130, "interrupted"),
        (1, signal.SIGTERM, 143, "terminated"),
    ],
)
def test_sigint_keeps_finished_runs_marks_them_partial_and_exits_130(tmp_path, jobs, sig, code, word):
    out = tmp_path / "o"
    args = ["bench", "--methods", "ce", "--max-train", "120", "--epochs", "1", "--no-progress", "--out", str(out)]
    seeds = "1000000000000" if jobs > 1 else "100000"  # a huge queue: streamed, never materialised
    proc = _acwa(args + ["--seeds", seeds, "--jobs", str(jobs)])
    _wait_for_runs(out / "runs.jsonl", 2, proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"acwa bench: {word}: kept ") and "marked partial" in last
    res = json.loads((out / "results.json").read_text())
    streamed = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert res["partial"] is True and len(res["runs"]) >= 2 and len(streamed) >= len(res["runs"])
    assert (out / "report.md").read_text().splitlines()[2].startswith("**PARTIAL (interrupted).")
    assert not list(out.glob(".rendering-*"))
