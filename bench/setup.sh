#!/usr/bin/env bash
# Installs the PyTorch reference used by `npm run bench` (benchmark only, never a
# runtime dependency): Debian's PyTorch 1.13 CPU build plus multithreaded OpenBLAS
# (without it torch silently falls back to reference BLAS at ~2 GFLOP/s).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y python3-torch libopenblas0-pthread
/usr/bin/python3 -c 'import torch, numpy; print("torch", torch.__version__)'
