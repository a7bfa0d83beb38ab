"""Where a bench run writes, checked before any training, and how it never loses a run.

* :func:`prepare_out_dir`: ``out`` must be a folder that can be created and written. An existing
  non-empty folder is reused only with ``overwrite`` (then the files of an earlier report are
  removed first, so no stale plot survives); otherwise a new timestamped sibling is used and
  the returned note says so.
* :class:`RunLog`: ``runs.jsonl`` gets one JSON line per finished run, flushed as it finishes
  (a crash or Ctrl-C keeps every finished run on disk).
* :func:`move_into_place`: files rendered in a temporary folder are renamed into the output
  folder one by one, ``results.json`` last: a folder with a ``results.json`` holds a complete
  report.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["default_out_dir", "prepare_out_dir", "RunLog", "move_into_place", "REPORT_FILES", "RUNS_FILE"]

RUNS_FILE = "runs.jsonl"
REPORT_FILES = ("results.json", "report.md", "report.html", RUNS_FILE)  # and the *.png figures


def _stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def default_out_dir(dataset_name: str) -> Path:
    """``reports/<dataset>-<timestamp>/``."""
    return Path("reports") / f"{dataset_name}-{_stamp()}"


def _fresh(path: Path) -> Path:
    candidate, i = path, 1
    while candidate.exists():
        i += 1
        candidate = path.with_name(f"{path.name}-{i}")
    return candidate


def _remove_old_report(path: Path) -> None:
    for name in REPORT_FILES:
        (path / name).unlink(missing_ok=True)
    for png in path.glob("*.png"):
        png.unlink()
    for tmp in path.glob(".rendering-*"):
        shutil.rmtree(tmp, ignore_errors=True)


def prepare_out_dir(
    out: str | os.PathLike | None, dataset_name: str, overwrite: bool = False
) -> tuple[Path, str | None]:
    """``(folder, note)``: the output folder, created and checked writable, and a one-line note
    when a different folder than asked is used (``note`` None otherwise).

    Raises:
        ValueError naming ``--out`` when the path is a file, lies under a file, or is not writable.
    """
    note = None
    if out is None:
        path = _fresh(default_out_dir(dataset_name))
    else:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise ValueError(f"--out {path} is a file, not a folder; give a folder path")
        if path.is_dir() and any(path.iterdir()):
            if overwrite:
                _remove_old_report(path)
            else:
                new = _fresh(path.with_name(f"{path.name}-{_stamp()}"))
                note = f"--out {path} is not empty: writing to {new} instead (pass --overwrite to reuse {path})"
                path = new
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".acwa-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ValueError(
            f"--out {path}: cannot write there ({exc.strerror or type(exc).__name__}); choose a writable folder"
        ) from None
    return path, note


class RunLog:
    """Append-only ``runs.jsonl``: one JSON line per finished run (or failure), flushed at once."""

    def __init__(self, folder: Path | None) -> None:
        self.path = None if folder is None else Path(folder) / RUNS_FILE
        self._file = None if self.path is None else open(self.path, "a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(row, allow_nan=False) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def move_into_place(tmp: Path, folder: Path) -> None:
    """Rename every file of ``tmp`` into ``folder`` (``results.json`` last), then remove ``tmp``."""
    names = sorted(p.name for p in tmp.iterdir())
    names.sort(key=lambda n: n == "results.json")
    for name in names:
        os.replace(tmp / name, folder / name)
    tmp.rmdir()
