#!/usr/bin/env bash
# Installs what `npm run bench` needs beyond `npm ci` (benchmark only, never a runtime
# dependency), on Debian/Ubuntu:
#   - the PyTorch reference: Debian's PyTorch 1.13 CPU build plus the multithreaded OpenBLAS
#     (without libopenblas0-pthread torch silently falls back to reference BLAS at ~2 GFLOP/s);
#   - the machine's measures (bench/native/*.c, compiled at bench time): a C compiler with
#     OpenMP, OpenBLAS's and oneDNN's headers and libraries.
# onnxruntime-node, the other peer, is an npm devDependency and comes with `npm ci`.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# Another apt-get on the same machine holds the lock for a while: wait for it, not fail.
APT=(apt-get -o DPkg::Lock::Timeout=600)
$SUDO "${APT[@]}" update
DEBIAN_FRONTEND=noninteractive $SUDO "${APT[@]}" install -y \
  python3-torch libopenblas0-pthread libopenblas-dev libdnnl-dev gcc libc6-dev
/usr/bin/python3 -c 'import torch, numpy; print("torch", torch.__version__)'
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
for program in fma sgemm lstm; do
  cc -O2 -march=native -fopenmp "native/$program.c" -o "$build/$program" -lopenblas -ldnnl
done
echo "bench/native/{fma,sgemm,lstm}.c compile with OpenBLAS and oneDNN"
