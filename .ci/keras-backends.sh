#!/usr/bin/env bash
# CI step: the Keras integration on all three Keras 3 backends (torch, TensorFlow, JAX), CPU only.
#
# Creates its own venv (KERAS_VENV, default .venv-keras), installs torch's CPU wheel first and
# keeps it pinned on every install line (so nothing pulls a CUDA build), then tensorflow-cpu,
# jax[cpu], keras, pytest and the package; runs tests/test_integration_keras_backends.py once
# per backend (Keras picks the backend at import) and prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${KERAS_VENV:-.venv-keras}
TORCH=${TORCH:-torch==2.13.0}
PIP="$VENV/bin/python -m pip install --quiet --disable-pip-version-check"
TESTS=tests/test_integration_keras_backends.py

step() {  # step NAME CMD...: run CMD, print its wall time
    local name=$1 start end
    shift
    start=$(date +%s)
    "$@"
    end=$(date +%s)
    printf 'keras-backends: %-22s %4ds\n' "$name" $((end - start)) | tee -a "$VENV/timings.txt"
}

install() {
    test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
    $PIP "$TORCH"
    $PIP "$TORCH" tensorflow-cpu "jax[cpu]" "keras>=3.0" pytest
    $PIP -e . "$TORCH"
}

run_backend() {
    # torch: also the jit_compile=True (torch.compile) cases, slow to compile, so only here
    KERAS_BACKEND=$1 ACWA_TEST_TORCH_COMPILE=1 OMP_NUM_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2 \
        "$VENV/bin/python" -m pytest -q -p no:cacheprovider -W ignore "$TESTS"
}

mkdir -p "$VENV"
: >"$VENV/timings.txt"
total_start=$(date +%s)
step install install
for backend in torch tensorflow jax; do
    step "pytest $backend" run_backend "$backend"
done
printf 'keras-backends: %-22s %4ds\n' total $(($(date +%s) - total_start)) | tee -a "$VENV/timings.txt"
