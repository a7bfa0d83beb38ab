"""Every ```python block in README.md and docs/*.md runs as-is in a fresh interpreter."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BLOCKS = [
    (f"{path.relative_to(ROOT)}#{i}", code)
    for path in DOCS
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))
]


def test_readme_has_an_example_per_feature():
    readme = [name for name, _ in BLOCKS if name.startswith("README.md")]
    assert len(readme) >= 8


@pytest.mark.parametrize("name, code", BLOCKS, ids=[name for name, _ in BLOCKS])
def test_doc_block_runs(name, code, tmp_path):
    env = dict(
        os.environ,
        KERAS_BACKEND="torch",
        HF_HUB_OFFLINE="1",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(ROOT / "src"),
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"


CLI_LINES = [
    line.split("  #")[0].strip()
    for path in DOCS
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S)
    for line in block.splitlines()
    if line.strip().startswith("acwa ") and "..." not in line
]


@pytest.mark.parametrize("line", CLI_LINES)
def test_doc_cli_line_parses(line):
    """Every documented ``acwa ...`` command line is accepted by the CLI's parser (not run)."""
    import shlex

    from acwa.cli import build_parser

    argv = shlex.split(line.split(" # ")[0])[1:]
    build_parser().parse_args(argv)  # argparse exits (SystemExit) on an unknown flag or a bad value
