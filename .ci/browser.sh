#!/usr/bin/env bash
# Opt-in heavy suite: render report.html in headless Chromium (Debian's package) and check that
# every image loads and no text is clipped (tests/test_bench_browser.py skips without chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "chromium is not installed and cannot be installed here (needs root and apt-get); skipping"
        exit 0
    fi
fi
OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_bench_browser.py
