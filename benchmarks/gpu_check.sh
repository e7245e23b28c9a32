#!/usr/bin/env bash
# The deep path on a GPU, against the CPU (issue 28, part 8), in under 8 minutes:
#   bash benchmarks/gpu_check.sh
# Installs JAX's CUDA build into .venv-gpu beside the project (from PyPI, or from the
# wheels in $WHEELS where the machine has no internet), checks that device = "gpu" finds
# the GPU, runs the default MLP and CNN searches on digits and MNIST-1D with populations
# trained together, and writes benchmarks/results/<date>-gpu-check.md. Without a GPU it
# stops with a clear message and exit status 3.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi finds none); run it on a machine with one" >&2
    exit 3
fi
nvidia-smi -L
venv=.venv-gpu
python3 -m venv "$venv"
find_links=()
if [ -n "${WHEELS:-}" ]; then find_links=(--no-index --find-links "$WHEELS"); fi
if ! "$venv/bin/pip" install -q "${find_links[@]}" -e . "jax[cuda12]"; then
    echo "gpu_check: could not install JAX's CUDA build (no internet? put the wheels in a folder and set WHEELS=that/folder)" >&2
    exit 4
fi
timeout 480 "$venv/bin/python" -m benchmarks.gpu_check "$@"
