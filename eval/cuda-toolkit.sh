#!/usr/bin/env bash
# The CUDA 13.0 compiler and headers from PyPI (NVIDIA's own wheels), so that `--features cuda` builds on a
# machine without a GPU, a driver or a system CUDA toolkit (CI here). Prints the environment to build with:
#
#   eval "$(bash eval/cuda-toolkit.sh)"       # then: cargo build --release --features cuda $RAG_CUDA_CARGO
#
# What it sets up, once, under ${RAG_CUDA_CACHE:-~/.cache/rag-cuda} (about 300 MB unpacked):
# - the toolkit (nvcc, ptxas, cicc, headers, libcudart) of CUDA 13.0, the version of the driver seen on the lent
#   H200 machines (580.x; a PTX file from a newer nvcc does not load on an older driver);
# - a copy of cudarc 0.19.10 whose build script loads the CUDA libraries at run time (dlopen) instead of linking
#   them: candle-core asks for cudarc's `dynamic-linking`, which would make the binary refuse to start where
#   libcuda.so.1 (the driver) is missing. It is passed to cargo as a `[patch]` on the command line
#   ($RAG_CUDA_CARGO), so the repository's manifests stay as they are.
# The binary then needs only libcudart.so.13 at start (candle's statically built kernels call the runtime API);
# libcuda, libcublas, libcurand and libnvrtc are opened at the first use of the GPU.
#
# CUDA_COMPUTE_CAP defaults to 90 (Hopper: H100/H200; candle's build turns it into sm_90a). The PTX kernels
# built for one capability load on that capability and newer; the statically built ones (sm_90a) only on Hopper.
# Set CUDA_COMPUTE_CAP=80 (Ampere) or 89 (Ada) to build for those instead.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${RAG_CUDA_CACHE:-$HOME/.cache/rag-cuda}"
root="$cache/cuda-13.0"
cudarc_version=0.19.10
# Pinned by version and sha256 (pip refuses a wheel whose hash differs).
requirements='nvidia-cuda-nvcc==13.0.88 --hash=sha256:56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03
nvidia-cuda-crt==13.0.88 --hash=sha256:2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4
nvidia-nvvm==13.0.88 --hash=sha256:c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0
nvidia-cuda-runtime==13.0.96 --hash=sha256:7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548
nvidia-cuda-cccl==13.0.85 --hash=sha256:e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649'

if [ ! -x "$root/bin/nvcc" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  printf '%s\n' "$requirements" > "$tmp/requirements.txt"
  python3 -m pip download -q --no-deps --require-hashes --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 -d "$tmp/wheels" -r "$tmp/requirements.txt" >&2
  for whl in "$tmp"/wheels/*.whl; do
    python3 -m zipfile -e "$whl" "$tmp/unpacked" >&2
  done
  rm -rf "$root"
  mv "$tmp/unpacked/nvidia/cu13" "$root"
  cp "$tmp/requirements.txt" "$root/WHEELS.txt"
  chmod +x "$root"/bin/* "$root"/nvvm/bin/* 2>/dev/null || true
  # The linker looks for libcudart.so; the wheel ships only the versioned name.
  ln -sf libcudart.so.13 "$root/lib/libcudart.so"
  "$root/bin/nvcc" --version >&2
fi

patched="$cache/cudarc-$cudarc_version"
if [ ! -f "$patched/.rag-patched" ]; then
  (cd "$here" && cargo fetch -q >&2)
  src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-$cudarc_version | head -1)"
  rm -rf "$patched"
  cp -r "$src" "$patched"
  # `dynamic-linking` becomes dynamic loading: the build script emits the cfg the sources switch on and links
  # nothing. (The sources only ever test `feature = "dynamic-loading"`.)
  python3 - "$patched/build.rs" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
old = '#[cfg(feature = "dynamic-linking")]\n    dynamic_linking(major, minor);'
new = '#[cfg(feature = "dynamic-linking")]\n    println!("cargo:rustc-cfg=feature=\\"dynamic-loading\\"");'
if old not in text:
    sys.exit(f"{path}: the dynamic-linking call to patch is not there (cudarc changed?)")
open(path, "w").write(text.replace(old, new))
PY
  touch "$patched/.rag-patched"
fi

cat <<EOF
export CUDA_HOME="$root"
export CUDA_PATH="$root"
export CUDA_ROOT="$root"
export PATH="$root/bin:\$PATH"
export LIBRARY_PATH="$root/lib\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-90}"
export RAG_CUDA_CARGO="--config patch.crates-io.cudarc.path=\"$patched\""
EOF
